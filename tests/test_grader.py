"""The autograder: the corpus of submissions in tests/submissions/lab2 gets the right scores and feedback, a grade
is a function of the submission and the secret alone, hostile submissions cost only their own points, and the
grader's pieces reject what they must.

The corpus is graded once per test run, two submissions at a time (each grading is mostly a student process
waiting on torch's import), by the ``graded`` fixture. The attacks on the sandbox (``attack_*.py``) are graded
in tests/test_grader_sandbox.py.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from in5550.cli import main
from in5550.grader import (DEFAULT_SECRET, NOT_SECRET, SECRET_VARIABLE, Limits, grade, grader_errors, lab_cases,
                           read_secret, sandbox, source)
from in5550.grader.lab2 import NODES
from in5550.grader.verdict import POINTS
from in5550.labs import LABS_DIR, release

from corpus import ALL, CORPUS, EXPECTED, FULL, LIMITS, NAN, SECRET, submission

PROBE = '''
import os, resource, sys
import torch

class Sigmoid(torch.autograd.Function):
    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def forward(input):
        try:
            import in5550
            borrowed = "imported in5550"
        except ImportError:
            borrowed = "in5550 refused"
        raise RuntimeError(f"uid={os.getuid()} cwd={os.getcwd()} home={os.environ['HOME']} "
                           f"as={resource.getrlimit(resource.RLIMIT_AS)[0]} "
                           f"core={resource.getrlimit(resource.RLIMIT_CORE)[0]} {borrowed} "
                           f"files={sorted(os.listdir())}")
'''


def _grade_with_cli(path: Path, results: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "in5550", "grade", "lab2", str(path), "--results", str(results)],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)


# what each test reads from the ``graded`` fixture besides its own corpus entry; only what the selected tests read
# is graded, so that a run of a few tests (a mutant's) takes a few gradings
READS = {
    "test_report_has_three_tests_per_node_in_gradescope_format": ("correct",),
    "test_student_code_runs_limited_unprivileged_in_a_fresh_folder": ("probe",),
    "test_lab_solution_scores_full_marks": ("solution",),
    "test_released_starter_file_scores_zero": ("starter",),
    "test_command_line_writes_the_graders_results_not_the_submissions": ("command line",),
    "test_borrowing_and_autograd_are_named_with_where_they_were_found": ("borrows_package", "autograd_in_backward"),
}


def _read_by_selected_tests(session) -> set:
    needed = set()
    for item in session.items:
        name = getattr(item, "originalname", None)  # doctest items have none
        if name == "test_corpus_scores_and_feedback":
            needed.add(item.callspec.params["name"])
        needed.update(READS.get(name, ()))
    return needed


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    """Reports of the corpus, the probe, the lab's solution and the released starter file (those the selected
    tests read), plus the command-line run on writes_results.py (its results.json path and the finished
    process)."""
    needed = _read_by_selected_tests(request.session)
    folder = tmp_path_factory.mktemp("corpus")
    paths = {name: submission(name, folder) for name in EXPECTED if name in needed}
    paths["probe"] = folder / "probe.py"
    paths["probe"].write_text(PROBE)
    release(destination=folder / "released", labs=["lab2"])
    paths["starter"] = folder / "released" / "lab2" / "nodes.py"
    paths["solution"] = LABS_DIR / "lab2" / "nodes.py"
    paths = {name: path for name, path in paths.items() if name in needed}
    results = folder / "cli" / "results.json"
    results.parent.mkdir()
    alone = {"reads_files"}  # it reads other gradings' folders: grade it when no other grading runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        cli = pool.submit(_grade_with_cli, submission("writes_results", folder), results) \
            if "command line" in needed else None
        futures = {name: pool.submit(grade, "lab2", path, LIMITS, SECRET) for name, path in paths.items()
                   if name not in alone}
        reports = {name: future.result() for name, future in futures.items()}
        cli = cli.result() if cli else None
    reports.update({name: grade("lab2", paths[name], LIMITS, SECRET) for name in alone if name in paths})
    return reports, cli, results


@pytest.mark.parametrize("name", EXPECTED)
def test_corpus_scores_and_feedback(graded, name):
    reports, _, _ = graded
    report = reports[name]
    lost, feedback = EXPECTED[name]
    assert report.max_score == FULL
    assert report.score == FULL - lost, report.summary()
    losing = {test.name.split(":")[0] for test in report.tests if test.score < test.max_score}
    assert losing == set(feedback), report.summary()
    for node, text in feedback.items():
        first_lost = next(test for test in report.tests if test.name.startswith(f"{node}:")
                          and test.score < test.max_score)
        assert text in first_lost.output, first_lost.output
    assert not grader_errors(report)


def test_report_has_three_tests_per_node_in_gradescope_format(graded):
    reports, _, _ = graded
    results = reports["correct"].results_json()
    assert results["score"] == FULL
    names = [test["name"] for test in results["tests"]]
    assert names == [f"{node}: {test}" for node in ALL for test in POINTS]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["output"] == "passed"


def test_student_code_runs_limited_unprivileged_in_a_fresh_folder(graded):
    reports, _, _ = graded
    output = reports["probe"].tests[0].output
    assert "in5550 refused" in output
    assert f"as={LIMITS.memory_bytes} core=0" in output
    assert "files=['import.pt', 'runner.py', 'submission.py', 'task.pt']" in output
    cwd = output.split("cwd=")[1].split()[0]
    in_namespace = sandbox.capabilities().namespaces
    assert (cwd == "/tmp/grading" if in_namespace else Path(cwd).name.startswith("in5550-grade-"))
    assert output.split("home=")[1].split()[0] == cwd
    assert in_namespace or not Path(cwd).exists()  # removed after grading (a namespace's folder is never seen)
    uid = int(output.split("uid=")[1].split()[0])
    assert uid in sandbox.UIDS if os.geteuid() == 0 else uid == os.geteuid()


def test_lab_solution_scores_full_marks(graded):
    reports, _, _ = graded
    assert reports["solution"].score == FULL, reports["solution"].summary()


def test_released_starter_file_scores_zero(graded):
    reports, _, _ = graded
    report = reports["starter"]
    assert report.score == 0
    for node in ALL:
        forward = next(test for test in report.tests if test.name == f"{node}: forward")
        assert f"{node}.forward raised NotImplementedError" in forward.output


def test_command_line_writes_the_graders_results_not_the_submissions(graded):
    reports, cli, results = graded
    assert cli.returncode == 0, cli.stderr
    assert "score" in cli.stdout and f"{FULL:g}/{FULL:g}" in cli.stdout
    written = json.loads(results.read_text())
    assert written["score"] == FULL and len(written["tests"]) == 3 * len(NODES) + 1  # + the review by a person
    assert written["tests"][-1]["visibility"] == "hidden" and "calls open()" in written["tests"][-1]["output"]


def test_borrowing_and_autograd_are_named_with_where_they_were_found(graded):
    reports, _, _ = graded
    borrowed = reports["borrows_package"]
    assert any("imports in5550.nodes" in note for note in borrowed.notes)
    autograd = {test.name: test.output for test in reports["autograd_in_backward"].tests}
    assert "Tanh source, line" in autograd["Tanh: backward"]  # found by reading the source
    assert "torch.autograd.grad" in autograd["Tanh: backward"]
    assert "ReLU called torch.autograd.grad while it ran" in autograd["ReLU: backward"]  # its name is built at run time
    assert "Sigmoid called Tensor.backward while it ran" in autograd["Sigmoid: backward"]


def test_syntax_error_is_reported_without_running_anything(tmp_path, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("the sandbox was started for a submission that is not valid Python")

    monkeypatch.setattr(sandbox, "run", no_run)
    path = tmp_path / "broken.py"
    path.write_text("import torch\nclass Sigmoid(torch.autograd.Function:\n    pass\n")
    report = grade("lab2", path, LIMITS, SECRET)
    assert report.score == 0
    assert report.notes == ["Not run: the submission is not valid Python: invalid syntax (line 2)."]


def test_grade_rejects_unknown_lab_and_bad_limits(tmp_path):
    with pytest.raises(ValueError, match="grade: no autograder for lab 'lab7'; labs with one: .*lab2"):
        grade("lab7", tmp_path / "nodes.py")
    with pytest.raises(ValueError, match="Limits: node_s must be positive, got 0"):
        Limits(node_s=0)
    with pytest.raises(FileNotFoundError, match="missing.py"):
        grade("lab2", tmp_path / "missing.py")


@pytest.mark.parametrize("argv, message", [
    (["grade", "lab7", "x.py"], "no autograder for lab 'lab7'; labs with one: "),
    (["grade", "lab2", "missing.py"], "no such file: missing.py"),
    (["grade", "lab2", "nodes.py", "--node-timeout", "-1"], "--node-timeout: must be a positive number of seconds"),
    (["grade", "lab2", "nodes.py", "--results", "no/such/folder/results.json"], "--results: no folder no/such/folder"),
])
def test_command_line_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nodes.py").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


class FakeSandbox:
    """Stands in for sandbox.run: records the tasks and says that nothing ran."""

    def __init__(self):
        self.tasks = None

    def __call__(self, text, tasks, limits):
        self.tasks = tasks
        return sandbox.Outcome(results=[None] * len(tasks), problems=["not run in this test"] * len(tasks))


def _inputs_sent(tmp_path, monkeypatch, secret=None, environment=None):
    fake = FakeSandbox()
    monkeypatch.setattr(sandbox, "run", fake)
    if environment is None:
        monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SECRET_VARIABLE, environment)
    path = tmp_path / "nodes.py"
    path.write_text("import torch\n")
    report = grade("lab2", path, LIMITS, secret)
    return [case for task in fake.tasks for case in task["cases"]], report


def _same_inputs(a, b):
    return len(a) == len(b) and all(len(x["args"]) == len(y["args"]) and all(
        torch.equal(p, q) if torch.is_tensor(p) else p == q for p, q in zip(x["args"], y["args"]))
        and torch.equal(x["grad_output"], y["grad_output"]) for x, y in zip(a, b))


def test_secret_comes_from_the_argument_then_the_environment_then_the_public_default(tmp_path, monkeypatch):
    given, report = _inputs_sent(tmp_path, monkeypatch, secret="s3cret")
    assert NOT_SECRET not in report.notes and "s3cret" not in json.dumps(report.results_json())
    from_environment, report = _inputs_sent(tmp_path, monkeypatch, environment="s3cret")
    assert _same_inputs(given, from_environment) and NOT_SECRET not in report.notes
    as_bytes, _ = _inputs_sent(tmp_path, monkeypatch, secret=b"s3cret", environment="other")
    assert _same_inputs(given, as_bytes)
    other, _ = _inputs_sent(tmp_path, monkeypatch, secret="other")
    assert not _same_inputs(given, other)
    default, report = _inputs_sent(tmp_path, monkeypatch)
    assert _same_inputs(default, _inputs_sent(tmp_path, monkeypatch, secret=DEFAULT_SECRET)[0])
    assert NOT_SECRET in report.notes and "hidden inputs are not secret" in report.results_json()["output"]


def test_read_secret(tmp_path):
    (tmp_path / "secret").write_text("  s3cret \n")
    assert read_secret(tmp_path / "secret") == "s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="read_secret: .*empty must hold the secret as one line of text"):
        read_secret(tmp_path / "empty")
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_secret(tmp_path / "binary")
    with pytest.raises(FileNotFoundError):
        read_secret(tmp_path / "missing")


# --------------------------------------------------------------------------------------------------------------
# The same grade every time


def _mixed(folder: Path) -> Path:
    """A submission with several kinds of mistake, so that the feedback it gets is long."""
    text = "\n\n".join((CORPUS / f"{name}.py").read_text()
                       for name in ("correct", "no_max_shift", "keepdim_bias", "nan_gradient", "wrong_sign"))
    path = folder / "nodes.py"
    path.write_text(text)
    return path


def _results(report) -> str:
    results = report.results_json()
    del results["execution_time"]
    return json.dumps(results, indent=1, sort_keys=True)


def test_the_same_file_gets_the_same_results_three_times_and_with_every_core_busy(tmp_path):
    path = _mixed(tmp_path)
    first = _results(grade("lab2", path, secret=SECRET))
    assert "keeps the summed dimension" in first and NAN in first  # it did fail in several ways
    for _ in range(2):
        assert _results(grade("lab2", path, secret=SECRET)) == first
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        loaded = _results(grade("lab2", path, secret=SECRET))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert loaded == first


# --------------------------------------------------------------------------------------------------------------
# Reading the source, and reading the student's files


def test_source_scan_finds_autograd_per_node_and_borrowing():
    text = '''
import torch
import importlib
from torch.autograd import grad as g
from torch.autograd.function import once_differentiable

class Tanh(torch.autograd.Function):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return g(ctx.y, ctx.x, grad_output)

class ReLU(torch.autograd.Function):
    @staticmethod
    def backward(ctx, grad_output):
        return torch.ops.aten.threshold_backward(grad_output, ctx.x, 0)

class Sigmoid(torch.autograd.Function):
    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        return Tanh.backward(ctx, grad_output) * torch.zeros(3, requires_grad=False)

nodes = importlib.import_module("in5550.nodes")
'''
    findings = source.scan(text, ["Tanh", "ReLU", "Sigmoid"])
    assert findings.error is None
    assert findings.autograd == {"Tanh": ["line 11: torch.autograd.grad"],
                                 "ReLU": ["line 16: torch.ops.aten.threshold_backward"]}
    assert findings.borrowing == ["line 24: names in5550 in a call"]
    assert findings.review == ["line 3: imports importlib"]


def test_read_file_refuses_links_pipes_and_large_files(tmp_path):
    good = tmp_path / "result.pt"
    torch.save({"x": torch.ones(2)}, good)
    assert torch.equal(sandbox._read_file(good, 1 << 20)["x"], torch.ones(2))
    (tmp_path / "link.pt").symlink_to(good)
    os.mkfifo(tmp_path / "pipe.pt")
    assert sandbox._read_file(tmp_path / "link.pt", 1 << 20) is None
    assert sandbox._read_file(tmp_path / "pipe.pt", 1 << 20) is None  # returns at once instead of blocking
    assert sandbox._read_file(good, 10) is None
    assert sandbox._read_file(tmp_path / "missing.pt", 1 << 20) is None
