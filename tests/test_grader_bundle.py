"""The Gradescope autograder: the bundle is built once per test session, unpacked into a folder that stands in for
``/autograder``, and its ``run_autograder`` run with this environment (not ``setup.sh``); every results.json it
writes must follow Gradescope's specification (gradescope/autograder_samples, docs/specs.md)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from in5550.cli import main
from in5550.grader import bundle

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="session")
def autograder_zip(tmp_path_factory):
    """The bundle for lab 2, built with the command line (building the wheel is the slow part: once)."""
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert main(["grade", "bundle", "lab2", "--output", str(path)]) == 0
    return path


def _gradescope(autograder_zip: Path, root: Path, files: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
    """Unpack the bundle as Gradescope does, put ``files`` in the submission, run run_autograder."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    (root / "submission").mkdir(exist_ok=True)
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=environment, capture_output=True, text=True,
                          timeout=600)
    return json.loads((root / "results" / "results.json").read_text()), done


def validate(results: dict) -> None:
    """Gradescope's results.json: the top-level fields and every test's, with their types and allowed values."""
    assert isinstance(results["score"], (int, float))
    assert isinstance(results["execution_time"], (int, float)) and results["execution_time"] >= 0
    assert isinstance(results["output"], str)
    assert results["visibility"] in VISIBILITIES and results["stdout_visibility"] in VISIBILITIES
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test), test
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0 == test["score"]
        assert test["status"] == ("passed" if test["score"] >= test["max_score"] else "failed")
        assert test["visibility"] in VISIBILITIES
    if results["tests"]:
        assert results["score"] == sum(test["score"] for test in results["tests"])


def test_bundle_holds_setup_run_autograder_wheel_and_secret(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        setup = archive.read("setup.sh").decode()
        secret = archive.read("secret.txt").decode().strip()
        wheel = next(name for name in names if name.endswith(".whl"))
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "secret.txt"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert f'"torch=={torch.__version__.split("+")[0]}"' in setup and "download.pytorch.org/whl/cpu" in setup
    assert f"/autograder/source/{wheel}" in setup
    assert secret and modes["secret.txt"] == 0o600 and "chmod -R go-rwx /autograder/source" in setup
    with zipfile.ZipFile(autograder_zip) as archive, archive.open(wheel) as stream:
        packaged = zipfile.ZipFile(stream).namelist()
    assert "in5550/grader/runner.py" in packaged and "in5550/sample/train.tsv" in packaged
    assert not any(name.startswith("labs/") for name in packaged)  # no solutions in the bundle


def test_correct_submission_gets_full_marks_in_gradescopes_format(autograder_zip, tmp_path):
    results, done = _gradescope(autograder_zip, tmp_path, {"nodes.py": (CORPUS / "correct.py").read_text()})
    validate(results)
    assert results["score"] == 70, (results, done.stdout, done.stderr)
    hidden = [test for test in results["tests"] if test["name"].endswith("hidden inputs")]
    assert hidden and all(test["visibility"] == "after_published" for test in hidden)
    assert all(test["status"] == "passed" for test in results["tests"] if test["max_score"])


def test_wrong_node_fails_only_its_tests(autograder_zip, tmp_path):
    text = (CORPUS / "correct.py").read_text() + "\n\n" + (CORPUS / "wrong_sign.py").read_text()
    results, _ = _gradescope(autograder_zip, tmp_path, {"nodes.py": text})
    validate(results)
    assert results["score"] == 62
    assert [test["name"] for test in results["tests"] if test["status"] == "failed"] == \
        ["Tanh: backward", "Tanh: hidden inputs"]


@pytest.mark.parametrize("files, message", [
    ({"my_nodes.py": "x = 1\n"}, "The file must be named nodes.py; you submitted my_nodes.py."),
    ({"nodes.py": "x = 1\n", "helper.py": "y = 2\n"}, "Submit one file, nodes.py; you submitted 2 Python files"),
    ({"nodes.ipynb": "{}"}, "No Python file was submitted: submit your nodes.py."),
])
def test_wrong_file_name_or_two_files_score_zero_with_a_message(autograder_zip, tmp_path, files, message):
    results, _ = _gradescope(autograder_zip, tmp_path, files)
    validate(results)
    assert results["score"] == 0 and message in results["output"]


def test_a_grader_that_cannot_start_still_leaves_a_valid_results_json(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path / "source")
    (tmp_path / "submission").mkdir()
    environment = {**os.environ, "AUTOGRADER_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin",
                   "PYTHONPATH": str(tmp_path / "nowhere"), "PYTHONNOUSERSITE": "1"}
    environment.pop("VIRTUAL_ENV", None)
    # python3 on /usr/bin has no in5550 (or is absent): the shell script writes the result itself
    subprocess.run(["bash", str(tmp_path / "source" / "run_autograder")], env=environment, capture_output=True,
                   timeout=120)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(results)
    assert results["score"] == 0 and "could not start" in results["output"]


def test_gradescope_results_mark_status_and_hidden_details():
    results = bundle.gradescope_results({"score": 4, "output": "", "tests": [
        {"name": "Tanh: forward", "score": 2, "max_score": 2, "output": "passed", "visibility": "visible"},
        {"name": "Tanh: hidden inputs", "score": 2, "max_score": 4, "output": "x", "visibility": "visible"},
        {"name": "Review by a person", "score": 0, "max_score": 0, "output": "", "visibility": "hidden"}]}, 1.23)
    validate(results)
    assert [test["visibility"] for test in results["tests"]] == ["visible", "after_published", "hidden"]
    assert [test["status"] for test in results["tests"]] == ["passed", "failed", "passed"]
    assert results["execution_time"] == 1.2 and results["stdout_visibility"] == "hidden"


@pytest.mark.parametrize("argv, message", [
    (["grade", "bundle", "lab7", "--output", "a.zip"], "no autograder for lab 'lab7'"),
    (["grade", "bundle", "lab2"], "grade bundle needs --output FILE.zip"),
    (["grade", "bundle", "lab2", "--output", "a.tar"], "--output: a.tar must end in .zip"),
    (["grade", "bundle", "lab2", "--output", "no/such/a.zip"], "--output: no folder no/such to write a.zip in"),
])
def test_bundle_command_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
