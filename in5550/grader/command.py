"""``in5550 grade``: grade one submission, a whole class, or write a Gradescope autograder.

::

    in5550 grade lab2 nodes.py [--results results.json]              one file: a summary, and results.json
    in5550 grade lab2 SUBMISSIONS/ --output graded/ [--jobs 2]       a class: one results.json per student,
                                                                     grades.csv, report.md and report.png
    in5550 grade bundle lab2 --output autograder.zip                 a Gradescope autograder for the lab

``--secret-file`` names the assignment's secret, which the hidden inputs are drawn from (see
:mod:`in5550.grader`); lab 1 is graded from the student's notebook, ``lab1.ipynb``.

Every argument is checked before any grading starts; a bad one is a one-line error with exit status 2. The exit
status is 0 whenever results were written, whatever the scores. A ``results.json`` is written even when the
grader itself fails on a submission (score 0 and a message for the staff); the command then says so and exits
with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from in5550.errors import UsageError


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be a whole number of worker processes from 1 to 256, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lab", help="the lab, e.g. lab2 (or 'bundle': write a Gradescope autograder)")
    parser.add_argument("submission", metavar="SUBMISSION",
                        help="the student's file (nodes.py), a folder with one file or folder per student, "
                             "or after 'bundle' the lab")
    parser.add_argument("--results", metavar="PATH", help="one file: write Gradescope's results.json here")
    parser.add_argument("--output", metavar="PATH",
                        help="a class: the folder for the results (required); bundle: the .zip to write")
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                        help="a class: submissions graded at the same time (default 1)")
    parser.add_argument("--secret-file", metavar="PATH",
                        help="the assignment's secret (hidden inputs are drawn from it); default: the environment "
                             "variable IN5550_GRADER_SECRET, else a public default; bundle: else a new one")
    parser.add_argument("--node-timeout", type=_positive, default=None, metavar="S",
                        help="CPU seconds for each case of a node (default: the grader's; the clock stops only "
                             "a process that sleeps far beyond this)")
    parser.add_argument("--timeout", type=_positive, default=None, metavar="S",
                        help="CPU seconds for the whole submission (default: the grader's)")


def _writable_file(option: str, path: str, suffix: str | None = None) -> Path:
    """``path`` as a file that can be written: its folder exists, it is not a folder itself."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option}: {path} is a folder; give a file name, e.g. {Path(path) / ('x' + (suffix or ''))}")
    if suffix and target.suffix != suffix:
        raise UsageError(f"{option}: {path} must end in {suffix}")
    if not target.resolve().parent.is_dir():
        raise UsageError(f"{option}: no folder {target.parent} to write {target.name} in")
    return target


def _output_folder(path: str | None, submissions: Path) -> Path:
    if path is None:
        raise UsageError(f"grading the folder {submissions} needs --output DIR, the folder for the results")
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--output: {path} is a file; give a folder for the results")
    for parent in target.resolve().parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--output: {parent} is a file, so {path} cannot be a folder")
    if target.resolve() == submissions.resolve() or submissions.resolve() in target.resolve().parents:
        raise UsageError(f"--output: {path} is inside the submissions folder {submissions}; its results would "
                         "be taken for submissions")
    return target


def _secret(args: argparse.Namespace) -> str | None:
    from in5550.grader import read_secret

    if args.secret_file is None:
        return None
    path = Path(args.secret_file)
    if not path.is_file():
        raise UsageError(f"--secret-file: {args.secret_file} is " + ("a folder" if path.is_dir() else "not there")
                         + "; give the file that holds the assignment's secret")
    try:
        return read_secret(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"--secret-file: {error}") from None


def _limits(args: argparse.Namespace):
    from in5550.grader import Limits

    chosen = {"node_s": args.node_timeout, "total_s": args.timeout}
    return Limits(**{name: value for name, value in chosen.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    from in5550.grader import LABS  # torch is imported only when grading

    if args.lab == "bundle":
        return _bundle(args, LABS)
    if args.lab not in LABS:
        raise UsageError(f"no autograder for lab {args.lab!r}; labs with one: {', '.join(LABS)}")
    submission = Path(args.submission)
    if submission.is_dir():
        return _grade_class(args, submission)
    if not submission.is_file():
        raise UsageError(f"no such file: {args.submission}")
    if args.output is not None:
        raise UsageError("--output is for grading a folder of submissions; for one file use --results PATH")
    results = _writable_file("--results", args.results) if args.results else None
    return _grade_one(args.lab, submission, results, _limits(args), _secret(args))


def _grade_one(lab: str, submission: Path, results: Path | None, limits, secret: str | None) -> int:
    from in5550.grader import SandboxError, batch, grade
    from in5550.grader.report import write_json

    try:
        report = grade(lab, submission, limits, secret=secret)
    except SandboxError as error:
        if results:
            write_json(results, batch.failure_results(lab, f"cannot grade safely here: {error}", submission.name))
        raise UsageError(f"cannot grade safely here: {error}") from None
    except Exception as error:  # noqa: BLE001 -- the grader failed, not the submission: still write a result
        message = f"{type(error).__name__}: {error}"
        if results:
            write_json(results, batch.failure_results(lab, message, submission=submission.name))
        print(f"in5550 grade: the grader failed on {submission}: {message}"
              + (f"; wrote {results} with score 0" if results else ""), file=sys.stderr)
        return 1
    if results:
        write_json(results, report.results_json())
    print(report.summary())
    return 0


def _grade_class(args: argparse.Namespace, submissions: Path) -> int:
    from in5550.grader import batch

    if args.results is not None:
        raise UsageError("--results is for one file; for a folder of submissions use --output DIR")
    output = _output_folder(args.output, submissions)
    try:
        batch.find_submissions(submissions, batch.submission_name(args.lab))
    except ValueError as error:
        raise UsageError(str(error)) from None
    limits, secret = _limits(args), _secret(args)
    output.mkdir(parents=True, exist_ok=True)
    table = batch.grade_class(args.lab, submissions, output, jobs=args.jobs, limits=limits, secret=secret)
    print(batch.summary(args.lab, table))
    print(f"wrote {output / 'grades.csv'}, {output / 'report.md'}, {output / 'report.png'} and "
          f"{output}{os.sep}<student>{os.sep}results.json")
    return 0


def _bundle(args: argparse.Namespace, labs) -> int:
    from in5550.grader import bundle

    lab = args.submission
    if lab not in labs:
        raise UsageError(f"no autograder for lab {lab!r}; labs with one: {', '.join(labs)}")
    if args.output is None:
        raise UsageError("grade bundle needs --output FILE.zip, the autograder to write")
    target = _writable_file("--output", args.output, ".zip")
    secret = _secret(args)
    try:
        bundle.check_can_build()
    except bundle.BundleError as error:
        raise UsageError(str(error)) from None
    made = bundle.build(lab, target, secret=secret)
    print(f"wrote {target}: upload it as the autograder of the Gradescope assignment for {lab}")
    if made.generated_secret:
        print(f"  a new secret was made for it (in {bundle.SECRET_FILE} inside the zip); grade locally with the same "
              f"hidden inputs by setting IN5550_GRADER_SECRET to it")
    return 0
