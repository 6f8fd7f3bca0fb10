"""Grading a class: a folder of submissions as a learning platform exports it is graded in parallel, with the same
results as grading each file alone, a grade sheet and a class report; re-runs reuse unchanged results; a result
is written even when the grader fails; bad arguments are one-line errors before any grading."""

import csv
import json
from pathlib import Path

import pytest

from in5550.cli import main
from in5550.grader import batch, grade
from in5550.grader.classreport import analyse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"


def _with(name: str) -> str:
    """correct.py with the corpus entry ``name`` appended (its classes replace the correct ones)."""
    text = (CORPUS / "correct.py").read_text()
    return text if name == "correct" else text + "\n\n" + (CORPUS / f"{name}.py").read_text()


def _class_folder(folder: Path) -> Path:
    """A class as an LMS exports it: files and folders, one with two files, one with none."""
    submissions = folder / "submissions"
    submissions.mkdir()
    (submissions / "ada.py").write_text(_with("correct"))
    (submissions / "bo.py").write_text(_with("wrong_sign"))
    (submissions / "cy Smith_123_assignsubmission_file_").mkdir()
    (submissions / "cy Smith_123_assignsubmission_file_" / "nodes.py").write_text(_with("missing_mean"))
    (submissions / "dee").mkdir()
    (submissions / "dee" / "nodes.py").write_text(_with("correct"))
    (submissions / "dee" / "old_nodes.py").write_text(_with("correct"))
    (submissions / "eli").mkdir()
    (submissions / "eli" / "nodes.ipynb").write_text("{}")
    (submissions / ".DS_Store").write_text("")
    return submissions


def _without_time(results: dict) -> dict:
    return {key: value for key, value in results.items() if key != "execution_time"}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    submissions = _class_folder(folder)
    output = folder / "graded"
    assert main(["grade", "lab2", str(submissions), "--jobs", "2", "--output", str(output)]) == 0
    return submissions, output


def test_every_student_gets_a_results_json_and_a_row_in_the_grade_sheet(graded_class):
    _, output = graded_class
    students = ["ada", "bo", "cy Smith_123_assignsubmission_file_", "dee", "eli"]
    for student in students:
        results = json.loads((output / student / "results.json").read_text())
        assert {"score", "output", "tests"} <= set(results)
    with open(output / "grades.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["student"] for row in rows] == students
    scores = {row["student"]: float(row["score"]) for row in rows}
    assert scores == {"ada": 70, "bo": 62, "cy Smith_123_assignsubmission_file_": 62, "dee": 0, "eli": 0}
    assert all(row["max"] == "70" for row in rows)
    assert rows[1]["Tanh: backward"] == "0" and rows[1]["Tanh: forward"] == "2"
    assert sum(float(value) for name, value in rows[0].items() if ":" in name) == 70


def test_a_folder_with_two_files_or_none_scores_zero_with_a_clear_message(graded_class):
    _, output = graded_class
    dee = json.loads((output / "dee" / "results.json").read_text())
    assert dee["score"] == 0
    assert "2 Python files (nodes.py, old_nodes.py); submit one file, nodes.py" in dee["output"]
    eli = json.loads((output / "eli" / "results.json").read_text())
    assert eli["score"] == 0 and "no Python file (found nodes.ipynb); submit nodes.py" in eli["output"]


def test_class_results_equal_grading_each_file_alone(graded_class):
    submissions, output = graded_class
    for student, path in [("ada", submissions / "ada.py"), ("bo", submissions / "bo.py"),
                          ("cy Smith_123_assignsubmission_file_",
                           submissions / "cy Smith_123_assignsubmission_file_" / "nodes.py")]:
        alone = grade("lab2", path).results_json()
        in_class = json.loads((output / student / "results.json").read_text())
        assert _without_time(in_class) == json.loads(json.dumps(_without_time(alone))), student


def test_class_report_names_pass_rates_and_mistakes(graded_class):
    _, output = graded_class
    report = (output / "report.md").read_text()
    assert "5 submissions; score mean 38.8 / 70, median 62" in report
    assert "| Tanh | 40% |" in report and "| Sigmoid | 60% |" in report
    assert "| Tanh | has the wrong sign | 1 |" in report
    assert "| CrossEntropy | is N times too large | 1 |" in report
    assert "- **dee**: the submission holds 2 Python files" in report
    from PIL import Image

    with Image.open(output / "report.png") as image:
        assert image.size[0] >= 1200


def _row(student: str, tests: list) -> dict:
    return {"student": student, "results": {"score": sum(test["score"] for test in tests), "output": "",
                                            "tests": tests}}


def test_mistakes_are_counted_once_per_student_and_node():
    wrong_sign = "On inputs batch: input (4, 5):\nthe gradient for input has the wrong sign (it is minus the " \
                 "expected value)"
    tests = [{"name": "Tanh: forward", "score": 2, "max_score": 2, "output": "passed"},
             {"name": "Tanh: backward", "score": 0, "max_score": 4, "output": wrong_sign},
             {"name": "Tanh: hidden inputs", "score": 0, "max_score": 4, "output": wrong_sign}]
    facts = analyse("lab2", [_row("a", tests), _row("b", tests[:1])])
    assert facts["mistakes"] == [(("Tanh", "has the wrong sign"), 1)]
    assert facts["pass_rate"]["Tanh"] == 0.5 and facts["pass_rate"]["Sigmoid"] == 0  # b has no Sigmoid tests
    assert facts["full"] == 70


def _counting(calls: list):
    def grade_file(lab, path, limits, secret):
        calls.append(Path(path).name)
        return batch.grade_results(lab, path, limits, secret)

    return grade_file


def test_rerun_grades_only_what_changed(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "ada.py").write_text(_with("correct"))
    (submissions / "bo.py").write_text(_with("wrong_sign"))
    output = tmp_path / "graded"
    calls = []
    first = batch.grade_class("lab2", submissions, output, grade_file=_counting(calls))
    assert sorted(calls) == ["ada.py", "bo.py"] and not any(row["reused"] for row in first)
    calls.clear()
    again = batch.grade_class("lab2", submissions, output, grade_file=_counting(calls))
    assert calls == [] and all(row["reused"] for row in again)
    assert [row["results"] for row in again] == [row["results"] for row in first]
    (submissions / "bo.py").write_text(_with("correct"))
    third = batch.grade_class("lab2", submissions, output, grade_file=_counting(calls))
    assert calls == ["bo.py"]
    assert [row["results"]["score"] for row in third] == [70, 70]
    calls.clear()
    batch.grade_class("lab2", submissions, output, secret="another secret", grade_file=_counting(calls))
    assert sorted(calls) == ["ada.py", "bo.py"]  # other hidden inputs: everything is graded again


def test_a_grader_failure_still_writes_a_result_for_the_staff(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "ada.py").write_text(_with("correct"))

    def broken(lab, path, limits, secret):
        raise RuntimeError("out of disk")

    table = batch.grade_class("lab2", submissions, tmp_path / "graded", grade_file=broken)
    results = json.loads((tmp_path / "graded" / "ada" / "results.json").read_text())
    assert table[0]["results"] == results
    assert results["score"] == 0
    assert "The autograder failed" in results["output"] and "RuntimeError: out of disk" in results["output"]
    calls = []
    again = batch.grade_class("lab2", submissions, tmp_path / "graded", grade_file=_counting(calls))
    assert calls == ["ada.py"] and again[0]["results"]["score"] == 70  # a failure is graded again


def test_command_writes_a_result_when_the_grader_fails(tmp_path, monkeypatch, capsys):
    import in5550.grader

    def broken(*args, **kwargs):
        raise RuntimeError("the grader broke")

    monkeypatch.setattr(in5550.grader, "grade", broken)
    submission = tmp_path / "nodes.py"
    submission.write_text(_with("correct"))
    results = tmp_path / "results.json"
    assert main(["grade", "lab2", str(submission), "--results", str(results)]) == 1
    written = json.loads(results.read_text())
    assert written["score"] == 0 and "RuntimeError: the grader broke" in written["output"]
    assert "wrote" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["{subs}", "--output", "{out}", "--jobs", "0"], "--jobs: must be a whole number of worker processes"),
    (["{subs}"], "needs --output DIR"),
    (["{subs}", "--output", "{file}"], "is a file; give a folder for the results"),
    (["{subs}", "--output", "{file}/graded"], "is a file, so"),
    (["{subs}", "--output", "{subs}/graded"], "is inside the submissions folder"),
    (["{subs}", "--output", "{out}", "--results", "{out}/r.json"], "--results is for one file"),
    (["{empty}", "--output", "{out}"], "no submissions in"),
    (["{twice}", "--output", "{out}"], "two submissions for student 'ada'"),
    (["{file}", "--output", "{out}"], "--output is for grading a folder"),
    (["{file}", "--results", "{out}"], "is a folder; give a file name"),
    (["{subs}", "--output", "{out}", "--secret-file", "{out}/missing.txt"], "--secret-file: {out}/missing.txt is not there"),
    (["{subs}", "--output", "{out}", "--secret-file", "{empty}"], "is a folder; give the file that holds the assignment's secret"),
])
def test_bad_class_arguments_are_one_line_errors_before_grading(tmp_path, capsys, arguments, message):
    subs, empty, twice = tmp_path / "subs", tmp_path / "empty", tmp_path / "twice"
    for folder in (subs, empty, twice, twice / "ada"):
        folder.mkdir()
    (subs / "ada.py").write_text("")
    (twice / "ada.py").write_text("")
    (twice / "ada" / "nodes.py").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "file.py").write_text("")
    names = {"subs": subs, "out": tmp_path / "out", "file": tmp_path / "file.py", "empty": empty, "twice": twice}
    argv = ["grade", "lab2", *(argument.format(**names) for argument in arguments)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message.format(**names) in error and error.count("\n") == 1, error
    assert not any((tmp_path / "out").iterdir())  # nothing graded, nothing written
