"""A grading report: Gradescope's ``results.json`` and a summary for the terminal."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from in5550.grader.verdict import TestResult


@dataclass
class Report:
    """The graded tests of one submission, with notes about the submission as a whole."""

    lab: str
    submission: str
    tests: list[TestResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
        Path(path).write_text(json.dumps(self.results_json(), indent=2) + "\n", encoding="utf-8")

    def summary(self) -> str:
        """A table of points per test, then the feedback of every test that lost points."""
        width = max(len(test.name) for test in self.tests)
        lines = [f"{self.lab}: {self.submission}", ""]
        lines += [f"  {test.name:<{width}}  {test.score:g}/{test.max_score:g}" for test in self.tests
                  if test.max_score]
        lines += ["", f"  {'score':<{width}}  {self.score:g}/{self.max_score:g}   ({self.seconds:.1f} s)"]
        lines += [f"\n{note}" for note in self.notes]
        for test in self.tests:
            if test.score < test.max_score or not test.max_score:
                lines += ["", f"{test.name}:", *("    " + line for line in test.output.splitlines())]
        return "\n".join(lines)
