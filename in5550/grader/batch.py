"""Grading a whole class: every submission in a folder, in parallel, with a grade sheet and a class report.

``in5550 grade lab2 SUBMISSIONS --jobs 2 --output graded/`` reads the folder as a learning platform exports it:

- one file per student, ``SUBMISSIONS/<student>.py``; or
- one folder per student, ``SUBMISSIONS/<student>/`` holding exactly one ``.py`` file (at any depth). A folder
  with none, or with two, is not guessed at: the student gets score 0 and a message that says what was found.

and writes::

    graded/<student>/results.json   Gradescope's format, as ``in5550 grade lab2 FILE --results`` writes it
    graded/<student>/grading.json   the key of that grading (see below)
    graded/grades.csv               student, score, max, then the points of every test
    graded/report.md, report.png    the class report: score distribution, pass rate per node, named mistakes

Each submission is graded on its own by :func:`in5550.grader.grade` in a pool of worker processes, exactly as
one file is graded alone, so a class's results are those of grading each file by hand. A grading's key is a
SHA-256 of the submission's bytes, the grader's version (the package version and the text of the grader's
modules) and the lab's secret; a re-run reuses a result whose key is unchanged and grades the rest.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

SKIPPED = {"__pycache__", ".ipynb_checkpoints", "__MACOSX"}
RESULTS, KEY = "results.json", "grading.json"


@dataclass(frozen=True)
class Submission:
    """One student's submission: the file to grade, or ``None`` with the reason there is none."""

    student: str
    path: Path | None
    problem: str | None = None


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in SKIPPED


def submitted_files(folder: Path, suffix: str) -> list[Path]:
    """The files ending in ``suffix`` in ``folder`` and below it, skipping hidden and cache folders."""
    found = []
    for path in sorted(folder.rglob(f"*{suffix}")):
        if path.is_file() and all(_visible(Path(part)) for part in path.relative_to(folder).parts):
            found.append(path)
    return found


def kind(suffix: str, count: int = 1) -> str:
    """What a file of ``suffix`` is called in messages: "Python file", "notebooks", ..."""
    name = {".py": "Python file", ".ipynb": "notebook"}.get(suffix, f"{suffix} file")
    return name if count == 1 else name + "s"


def find_submissions(folder: str | os.PathLike, expected_name: str) -> list[Submission]:
    """The submissions in ``folder``, one per student, sorted by student (see the module's docstring); files
    count when they end like ``expected_name`` (``nodes.py``: ``.py`` files), which messages name.

    Raises ``ValueError`` when the folder holds no submission at all, or two for one student (``alice.py`` and
    ``alice/``)."""
    folder, suffix = Path(folder), Path(expected_name).suffix
    submissions = {}
    for entry in sorted(folder.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_file() and entry.suffix == suffix:
            submission = Submission(entry.stem, entry)
        elif entry.is_dir():
            files = submitted_files(entry, suffix)
            if len(files) == 1:
                submission = Submission(entry.name, files[0])
            elif files:
                names = ", ".join(str(path.relative_to(entry)) for path in files)
                submission = Submission(entry.name, None, f"the submission holds {len(files)} "
                                        f"{kind(suffix, len(files))} ({names}); submit one file, {expected_name}")
            else:
                others = sorted(str(path.relative_to(entry)) for path in entry.rglob("*") if path.is_file())
                submission = Submission(entry.name, None, f"the submission holds no {kind(suffix)}"
                                        + (f" (found {', '.join(others[:5])})" if others else "")
                                        + f"; submit {expected_name}")
        else:
            continue
        if submission.student in submissions:
            raise ValueError(f"two submissions for student {submission.student!r} in {folder}: "
                             f"{submission.student}{suffix} and the folder {submission.student}/")
        submissions[submission.student] = submission
    if not submissions:
        raise ValueError(f"no submissions in {folder}: expected one {suffix} file or one folder per student")
    return list(submissions.values())


# --------------------------------------------------------------------------------------------------------------
# Keys: when a result can be reused


def grader_version() -> str:
    """The package version and a digest of the grader's own code and of the node inputs it draws from."""
    import in5550

    package = Path(in5550.__file__).parent
    digest = hashlib.sha256(in5550.__version__.encode())
    for path in sorted((package / "grader").glob("*.py")) + sorted(package.glob("cases.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{in5550.__version__}+{digest.hexdigest()[:16]}"


def grading_key(submission: Submission, version: str, seed: bytes) -> str:
    """SHA-256 of what decides a grade: the submission's bytes (or its problem), the grader and the seed of the
    hidden inputs (a digest of the secret)."""
    digest = hashlib.sha256(version.encode() + b"\0" + seed + b"\0")
    digest.update(submission.path.read_bytes() if submission.path is not None else submission.problem.encode())
    return digest.hexdigest()


def _reusable(folder: Path, key: str) -> dict | None:
    """The stored results in ``folder`` when they were made under ``key``, else ``None``."""
    try:
        if json.loads((folder / KEY).read_text(encoding="utf-8"))["key"] != key:
            return None
        results = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
        return results if isinstance(results, dict) and isinstance(results.get("tests"), list) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------------------------------------------
# Grading


def submission_name(lab: str) -> str:
    """The file name a lab's submission has (``nodes.py`` for lab 2), as the students' README tells them."""
    from in5550.labs import SUBMIT

    return SUBMIT.get(lab, f"{lab}.py")


def grade_results(lab: str, path: Path, limits=None, secret: str | bytes | None = None) -> dict:
    """The ``results.json`` of one submission, as ``in5550 grade LAB FILE --results`` writes it."""
    from in5550.grader import Limits, grade

    return grade(lab, path, limits or Limits(), secret=secret).results_json()


def failure_results(lab: str, message: str, staff: bool = True, submission: str = "") -> dict:
    """The results of a submission that was not graded: score 0 and ``message``, for the staff when the grader
    itself failed (``staff``), else for the student (no file, two files, a wrong name)."""
    from in5550.grader.report import Report

    report = Report.failure(lab, submission, message) if staff else Report(lab, submission, [], [message])
    return report.results_json()


def grade_class(lab: str, folder: str | os.PathLike, output: str | os.PathLike, jobs: int = 1, limits=None,
                secret: str | bytes | None = None, progress: bool | None = None,
                grade_file: Callable | None = None) -> list[dict]:
    """Grade every submission in ``folder`` for ``lab`` with ``jobs`` worker processes and write the results,
    the grade sheet and the class report to ``output`` (see the module's docstring). Returns one row per
    student, sorted by student: ``{"student", "results", "reused"}``.

    ``limits`` and ``secret`` are :func:`in5550.grader.grade`'s. ``progress`` shows a progress bar (default:
    when standard error is a terminal). ``grade_file(lab, path, limits, secret) -> results`` grades one file
    (default :func:`grade_results`); with ``jobs > 1`` it must be importable by name."""
    from tqdm.auto import tqdm

    from in5550.grader import hidden_seed, resolve_secret
    from in5550.grader.classreport import write_class_report

    grade_file = grade_file or grade_results
    submissions = find_submissions(folder, submission_name(lab))
    output = Path(output)
    version = grader_version()
    seed = hidden_seed(resolve_secret(secret)[0], lab).encode()  # a digest: the key never holds the secret
    rows, pending = {}, []
    for submission in submissions:
        key = grading_key(submission, version, seed)
        if submission.path is None:
            rows[submission.student] = _store(output, submission, key, failure_results(
                lab, submission.problem, staff=False, submission=submission.student))
        elif (results := _reusable(output / submission.student, key)) is not None:
            rows[submission.student] = {"student": submission.student, "results": results, "reused": True}
        else:
            pending.append((submission, key))
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(pending), desc=f"grading {lab}", unit="submission", disable=not show) as bar:
        if jobs > 1 and len(pending) > 1:
            # spawn: each worker is a fresh interpreter that inherits nothing from this process's threads
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_grade_safely, grade_file, lab, submission.path, limits, secret):
                           (submission, key) for submission, key in pending}
                for future in as_completed(futures):
                    submission, key = futures[future]
                    try:
                        results, failed = future.result()
                    except Exception as error:  # noqa: BLE001 -- a worker died (killed, out of memory): still a result
                        results, failed = failure_results(lab, f"the grading process failed: {type(error).__name__}: "
                                                          f"{error}", submission=submission.path.name), True
                    rows[submission.student] = _store(output, submission, None if failed else key, results)
                    bar.update()
        else:
            for submission, key in pending:
                results, failed = _grade_safely(grade_file, lab, submission.path, limits, secret)
                rows[submission.student] = _store(output, submission, None if failed else key, results)
                bar.update()
    table = [rows[student] for student in sorted(rows)]
    write_grade_sheet(lab, table, output / "grades.csv")
    write_class_report(lab, table, output)
    return table


def _grade_safely(grade_file: Callable, lab: str, path: Path, limits, secret) -> tuple[dict, bool]:
    """``grade_file``'s results, or a failure result (score 0, a message for the staff) when the grader fails;
    and whether it failed."""
    try:
        return grade_file(lab, path, limits, secret), False
    except Exception as error:  # noqa: BLE001 -- one student's grading must never stop the class's
        return failure_results(lab, f"{type(error).__name__}: {error}", submission=path.name), True


def _store(output: Path, submission: Submission, key: str | None, results: dict) -> dict:
    """Write a student's results and their key (atomically, never through a link); the row of the class's
    table. Without a key (the grader failed) the next run grades the submission again."""
    from in5550.grader.report import write_json

    folder = output / submission.student
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KEY).unlink(missing_ok=True)  # first: results without their key are never reused
    write_json(folder / RESULTS, results)
    if key is not None:
        write_json(folder / KEY, {"key": key})
    return {"student": submission.student, "results": results, "reused": False}


def lab_max(lab: str) -> float:
    """The most points a submission of ``lab`` can get: every node's tests (:data:`~in5550.grader.verdict.POINTS`)."""
    import importlib

    from in5550.grader import LABS, verdict

    return len(importlib.import_module(LABS[lab]).NODES) * sum(verdict.POINTS.values())


def write_grade_sheet(lab: str, table: Sequence[dict], path: Path) -> None:
    """``student, score, max`` and the points of every test that carries points, one row per student."""
    names = []
    for row in table:
        for test in row["results"]["tests"]:
            if test.get("max_score") and test["name"] not in names:
                names.append(test["name"])
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "score", "max", *names])
        full = lab_max(lab)
        for row in table:
            points = {test["name"]: test["score"] for test in row["results"]["tests"]}
            writer.writerow([row["student"], _number(row["results"]["score"]), _number(full),
                             *(_number(points.get(name, 0)) for name in names)])


def _number(value: float) -> str:
    return f"{value:g}"


def summary(lab: str, table: Sequence[dict]) -> str:
    """One line for the terminal: how many were graded, reused, and the mean score."""
    scores = [row["results"]["score"] for row in table]
    full = lab_max(lab)
    reused = sum(row["reused"] for row in table)
    return (f"{len(table)} submissions ({len(table) - reused} graded, {reused} unchanged since the last run); "
            f"mean score {statistics.fmean(scores):.1f}/{full:g}, median {statistics.median(scores):g}")


