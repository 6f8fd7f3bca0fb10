"""The autograder: grade a student's nodes for a lab, safely, with feedback a student can act on.

Example (a student's ``nodes.py`` with every node right)::

    from in5550.grader import grade

    report = grade("lab2", "nodes.py")
    report.score, report.max_score        # (70.0, 70.0)
    report.write("results.json")          # Gradescope's format
    print(report.summary())               # points per test, then feedback, for people

From the command line: ``in5550 grade lab2 nodes.py --results results.json``.

How a submission is graded
--------------------------
1. Its text is read and parsed, never run, in the grader (:mod:`~in5550.grader.source`): syntax errors, use of
   autograd inside a node, imports of this package, calls a person should look at.
2. Inputs are drawn for each node: a visible case from a fixed seed and a hidden case of random sizes from a
   seed taken from ``os.urandom`` now. Only the inputs go to the student's process.
3. The nodes run in a separate, limited process (:mod:`~in5550.grader.sandbox`, :mod:`~in5550.grader.runner`)
   that returns their outputs and gradients as tensors in files.
4. Only then are the expected values computed, here, with ``torch.nn.functional`` and autograd in float64, and
   compared with what came back (:mod:`~in5550.grader.verdict`). Each node has its own tests, so one broken
   node costs only its own points.

Why a submission cannot fool it
-------------------------------
Everything the student's process sends back is treated as data from an adversary, and the design makes sure
that forging it can only lose points:

- The grader never imports or runs the submission itself; the student's code runs only in the other process,
  which never sees an expected value (they do not exist until it has ended) and cannot read the grader's files
  when the grader is root (it runs as ``nobody``). Patching ``torch.allclose``, pytest or the runner there
  changes nothing here, and a ``results.json`` it writes is not the one the grader writes.
- Points come only from comparisons made here. A result that is missing, unreadable or malformed scores zero,
  and progress messages only say where to look for a result file, so a forged message loses the node.
- The checks for autograd inside ``backward`` have two layers. The runner watches each node (wrapped autograd
  entry points, a saved-tensor hook that sees any graph being recorded, returned tensors with a ``grad_fn``);
  a submission that also controls that process could hide from these, so the grader reads the source too.
  The two together stop every ordinary use; only code that both hides its names from a reading and tampers
  with the runner escapes, and that is deliberate cheating for a person to judge (the report lists the
  imports and calls a lab never needs, in a test hidden from the student).
- The course package cannot be imported by the student's process (it is not on its path, and an import hook
  refuses it); importing it in the source costs every node its backward points.

Keep the lab sources (with their solutions) off the machine that grades, or unreadable to ``nobody``: the
unprivileged user can read what any user may read. A grader that is not root runs student code as its own user,
which can then reach that user's files: grade untrusted submissions as root (as Gradescope does) or in a
container of their own.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

from in5550.grader import sandbox, source
from in5550.grader.report import Report
from in5550.grader.sandbox import Limits, SandboxError
from in5550.grader.verdict import NodeEvidence, TestResult, grade_node, make_case

__all__ = ["LABS", "Limits", "Report", "SandboxError", "grade"]

LABS = {"lab2": "in5550.grader.lab2"}
"""Labs with an autograder: name -> module whose ``NODES`` lists the node specifications."""
VISIBLE_SEED = 5550
SUBMISSION_BYTES = 1 << 20


def _read_submission(path: Path) -> tuple[str | None, str | None]:
    """The submission's text, or why there is none."""
    data = path.read_bytes()
    if len(data) > SUBMISSION_BYTES:
        return None, f"the submission is larger than {SUBMISSION_BYTES >> 10} KiB"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return None, f"the submission is not UTF-8 text (byte {error.start})"


def grade(lab: str, submission: str | os.PathLike, limits: Limits = Limits()) -> Report:
    """Grade the file ``submission`` for ``lab`` (a key of :data:`LABS`) and return the :class:`Report`.

    Raises ``ValueError`` for an unknown lab, ``FileNotFoundError`` for a missing file and
    :class:`SandboxError` when student code cannot be run safely on this machine; never for anything the
    submission's code does."""
    if lab not in LABS:
        raise ValueError(f"grade: no autograder for lab {lab!r}; labs with one: {', '.join(LABS)}")
    started = time.monotonic()
    nodes = importlib.import_module(LABS[lab]).NODES
    path = Path(submission)
    text, problem = _read_submission(path)
    findings = source.scan(text, [node.name for node in nodes]) if text is not None else source.Findings(problem)
    hidden_seed = int.from_bytes(os.urandom(8), "little")
    cases = [(make_case(node, VISIBLE_SEED + index, hidden=False), make_case(node, hidden_seed + index, hidden=True))
             for index, node in enumerate(nodes)]
    notes = [f"Not run: {findings.error}."] if findings.error else []
    if findings.error:
        outcome = sandbox.Outcome(results=[None] * len(nodes), problems=[findings.error] * len(nodes))
    else:
        tasks = [{"name": node.name, "cases": [case.task() for case in node_cases]}
                 for node, node_cases in zip(nodes, cases)]
        outcome = sandbox.run(text, tasks, limits)
    borrowing = findings.borrowing + [f"tried to import {name} at import time" for name in outcome.blocked_imports]
    if outcome.import_problem:
        notes.append(outcome.import_problem)
    if borrowing:
        notes.append("The submission uses the in5550 package, which a lab submission may not: " + "; ".join(borrowing))
    tests = []
    for index, (node, node_cases) in enumerate(zip(nodes, cases)):
        cheating = [f"{node.name} source, {use}" for use in findings.autograd.get(node.name, [])] + borrowing
        problem = outcome.problems[index]
        if problem is not None and problem == outcome.import_problem:  # told once, in the notes
            problem = problem.splitlines()[0]
        evidence = NodeEvidence(problem, outcome.results[index], cheating)
        tests += grade_node(node, node_cases, evidence)
    if findings.review:
        tests.append(TestResult("Review by a person", 0.0, 0.0, "Imports and calls a lab never needs:\n"
                                + "\n".join(findings.review), visibility="hidden"))
    return Report(lab, path.name, tests, notes, time.monotonic() - started)

