"""``in5550 grade LAB SUBMISSION [--results results.json]``: grade a student's file and write the report.

Prints a summary (points per test, then the feedback of every test that lost points) and, with ``--results``,
writes Gradescope's ``results.json``. The exit status is 0 whenever a report was made, whatever the score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from in5550.errors import UsageError


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lab", help="the lab, e.g. lab2")
    parser.add_argument("submission", help="the student's file, e.g. nodes.py")
    parser.add_argument("--results", metavar="PATH", help="write Gradescope's results.json here")
    parser.add_argument("--node-timeout", type=_positive, default=15.0, metavar="S",
                        help="wall-clock seconds for each node (default 15)")
    parser.add_argument("--timeout", type=_positive, default=240.0, metavar="S",
                        help="wall-clock seconds for the whole submission (default 240)")


def run(args: argparse.Namespace) -> int:
    from in5550.grader import LABS, Limits, SandboxError, grade  # torch is imported only when grading

    if args.lab not in LABS:
        raise UsageError(f"no autograder for lab {args.lab!r}; labs with one: {', '.join(LABS)}")
    if not Path(args.submission).is_file():
        raise UsageError(f"no such file: {args.submission}")
    if args.results and not Path(args.results).resolve().parent.is_dir():
        raise UsageError(f"--results: no folder {Path(args.results).parent} to write {Path(args.results).name} in")
    try:
        report = grade(args.lab, args.submission, Limits(node_s=args.node_timeout, total_s=args.timeout))
    except SandboxError as error:
        raise UsageError(f"cannot grade safely here: {error}") from None
    if args.results:
        report.write(args.results)
    print(report.summary())
    return 0
