"""Benchmark: grade a generated class of lab-2 submissions and print submissions per minute.

    python benchmarks/grade_class.py [--students 150] [--jobs 2] [--keep DIR]

Each generated submission is the corpus's correct ``nodes.py`` with none, one or two of the corpus's ordinary
mistakes appended (a wrong sign, a transposed weight, a missing mean, ...; the hostile entries, which spend their
time limits on purpose, are left out), chosen by a fixed seed, plus a line naming the student so that no two
files are alike. The class is graded as ``in5550 grade lab2 SUBMISSIONS --jobs N --output OUT`` grades it
(:func:`in5550.grader.batch.grade_class`), from scratch. The target on the reference machine (2 CPU cores): 150
submissions in under 10 minutes with ``--jobs 2``.

This is a benchmark, not a test: its figure depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "submissions" / "lab2"
MISTAKES = ("wrong_sign", "transposed_weight", "bias_not_summed", "missing_mean", "accumulated_across_calls",
            "assigned_in_loop", "repeated_ids", "inplace_grad_output", "wrong_shape")


def generate(folder: Path, students: int, seed: int = 0) -> dict[str, tuple[str, ...]]:
    """Write ``students`` submissions into ``folder``; return each student's mistakes."""
    chooser = random.Random(seed)
    correct = (CORPUS / "correct.py").read_text()
    made = {}
    for index in range(students):
        count = chooser.choice((0, 0, 1, 1, 2))
        mistakes = tuple(sorted(chooser.sample(MISTAKES, count)))
        text = correct + "".join("\n\n" + (CORPUS / f"{name}.py").read_text() for name in mistakes)
        student = f"student{index:03d}"
        (folder / f"{student}.py").write_text(text + f"\n# {student}\n")
        made[student] = mistakes
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR",
                        help="grade into DIR and keep the results (default: a temporary folder)")
    args = parser.parse_args()

    from in5550.grader import batch

    with tempfile.TemporaryDirectory(prefix="in5550-bench-") as scratch:
        submissions = Path(scratch) / "submissions"
        submissions.mkdir()
        made = generate(submissions, args.students)
        output = Path(args.keep) if args.keep else Path(scratch) / "graded"
        started = time.monotonic()
        table = batch.grade_class("lab2", submissions, output, jobs=args.jobs, progress=True)
        seconds = time.monotonic() - started
    full = [row["student"] for row in table if row["results"]["score"] == 70]
    wrong = [student for student in full if made[student]]
    times = [row["results"]["execution_time"] for row in table]
    print(f"{len(table)} submissions graded with --jobs {args.jobs} in {seconds:.0f} s: "
          f"{60 * len(table) / seconds:.1f} submissions per minute")
    print(f"  grading time of one submission: median {statistics.median(times):.1f} s, max {max(times):.1f} s")
    print(f"  full marks: {len(full)} (of {sum(not mistakes for mistakes in made.values())} without a mistake); "
          f"with a mistake yet full marks: {len(wrong)}")


if __name__ == "__main__":
    main()
