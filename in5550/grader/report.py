"""A grading report: Gradescope's ``results.json`` and a summary for the terminal.

Writing ``results.json`` is the grader's job alone, after every process of the submission has ended
(:mod:`in5550.grader.sandbox`): :func:`write_json` writes a new file next to the target, created exclusively
(``O_EXCL | O_NOFOLLOW``, so neither a planted file nor a link is written through), and renames it over the
target. A results path that a submission pre-created, kept open or replaced by a link to another file is thus
replaced, never written into; and no student process is alive afterwards to write it again.

When the grader itself fails, :meth:`Report.failure` makes a valid report of score 0 with a message for the
staff, as Gradescope advises (a missing ``results.json`` shows the student nothing useful).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from in5550.grader.verdict import TestResult


def printable(text: str) -> str:
    """``text`` with anything that cannot be written as UTF-8 (a lone surrogate) as a ``\\udcxx`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _printable(value):
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(item) for item in value]
    return value


def write_json(path: str | os.PathLike, value: dict) -> None:
    """Write ``value`` as JSON (UTF-8, every string printable) to ``path``, atomically and without following a
    link or writing into a file that is already there: a temporary file created exclusively in the same folder,
    then renamed over ``path``. Raises ``OSError`` when the folder cannot be written."""
    path = Path(path)
    text = json.dumps(_printable(value), indent=2) + "\n"
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the caller's folder
    try:
        while True:
            name = f".{path.name}.{secrets.token_hex(8)}.tmp"
            try:
                descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o644, dir_fd=folder)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.rename(name, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            os.unlink(name, dir_fd=folder)
            raise
    finally:
        os.close(folder)


@dataclass
class Report:
    """The graded tests of one submission, with notes about the submission as a whole."""

    lab: str
    submission: str
    tests: list[TestResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def failure(cls, lab: str, submission: str, message: str, seconds: float = 0.0) -> Report:
        """The report when the grader itself failed: score 0, no tests, and ``message`` for the staff (the
        submission is not to blame; grade it again once the grader works)."""
        return cls(lab, submission, [], [f"The autograder failed; this is not the submission's fault, and the "
                                         f"course staff will look at it. For the staff: {message}"], seconds)

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)

    def results_json(self) -> dict:
        """Gradescope's format: ``score``, ``output`` and ``tests`` (each with ``name``, ``score``,
        ``max_score``, ``output`` and ``visibility``)."""
        return {"score": self.score, "output": "\n".join(self.notes), "execution_time": round(self.seconds, 1),
                "visibility": "visible", "tests": [asdict(test) for test in self.tests]}

    def write(self, path: str | os.PathLike) -> None:
        """Write :meth:`results_json` to ``path`` with :func:`write_json` (atomic, never through a link)."""
        write_json(path, self.results_json())

    def summary(self) -> str:
        """A table of points per test, then the feedback of every test that lost points."""
        width = max((len(test.name) for test in self.tests), default=len("score"))
        lines = [f"{self.lab}: {self.submission}", ""]
        lines += [f"  {test.name:<{width}}  {test.score:g}/{test.max_score:g}" for test in self.tests
                  if test.max_score]
        lines += ["", f"  {'score':<{width}}  {self.score:g}/{self.max_score:g}   ({self.seconds:.1f} s)"]
        lines += [f"\n{note}" for note in self.notes]
        for test in self.tests:
            if test.score < test.max_score or not test.max_score:
                lines += ["", f"{test.name}:", *("    " + line for line in test.output.splitlines())]
        return printable("\n".join(lines))
