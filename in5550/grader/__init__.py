"""The autograder: grade a student's nodes for a lab, safely, with feedback a student can act on.

Example (a student's ``nodes.py`` with every node right)::

    from in5550.grader import grade

    report = grade("lab2", "nodes.py", secret="the lab's secret")
    report.score, report.max_score        # (70.0, 70.0)
    report.write("results.json")          # Gradescope's format
    print(report.summary())               # points per test, then feedback, for people

From the command line: ``in5550 grade lab2 nodes.py --results results.json``.

The API
-------
``grade(lab, submission, limits=Limits(), secret=None) -> Report`` is all a command, a batch of a class or a
Gradescope bundle needs; ``lab_cases(lab, secret=None)`` gives the cases it grades on (the visible ones are what
a student may run before submitting). The grade is a function of the submission's bytes and ``secret`` alone: the same file
and secret give the same ``results.json`` on any machine, at any load, apart from ``execution_time``.

``secret`` (text or bytes) is the assignment's secret: the hidden inputs are drawn from it. Keep it with the
grading set-up (a file next to the grading scripts, the Gradescope bundle, the environment of the grading
machine), never in the student release. Where it comes from:

1. the ``secret`` argument, when given and not empty (:func:`read_secret` reads it from a file);
2. else the environment variable ``IN5550_GRADER_SECRET`` (:data:`SECRET_VARIABLE`), when set and not empty;
3. else :data:`DEFAULT_SECRET`, which is public: the report then says that the hidden inputs are not secret.

Errors: ``ValueError`` for an unknown lab, ``FileNotFoundError`` for a missing file, :class:`SandboxError` when
student code cannot be run safely on this machine; never for anything the submission's code does. An error in
the grader's own verdict on a node does not raise either: that node's tests say so (no points, no mistake
claimed) and a hidden test named ``"<Node>: grader error"`` carries the traceback for the staff
(:data:`~in5550.grader.verdict.GRADER_ERROR`); :func:`grader_errors` lists them.

How a submission is graded
--------------------------
1. Its text is read and parsed, never run, in the grader (:mod:`~in5550.grader.source`): syntax errors, use of
   autograd inside a node, imports of this package, calls a person should look at.
2. Inputs are drawn for each node from the one registry of node inputs, :mod:`in5550.cases`
   (:func:`~in5550.grader.verdict.draw_cases`): visible cases, a few samples from the fixed public seed
   :data:`VISIBLE_SEED`; hidden cases, every input class the node supports (each ``dim``, a batch of one, 3-D
   inputs, large logits, empty bags, repeated ids, ...) in float64 and float32, from a seed derived from the
   secret, the lab and the node. Only the inputs go to the student's process; every case is a call with other
   inputs or options than the one before, so a node that keeps its first inputs, weights or output fails.
3. The nodes run in a separate, limited process (:mod:`~in5550.grader.sandbox`, :mod:`~in5550.grader.runner`)
   that returns their outputs and gradients as tensors in files.
4. Only then are the expected values computed, here, with ``torch.nn.functional`` and autograd in float64, and
   compared with what came back, within a tolerance per dtype (:mod:`~in5550.grader.verdict`). Each node has its
   own tests, so one broken node costs only its own points.

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

import hashlib
import importlib
import os
import time
from pathlib import Path

from in5550.grader import sandbox, source
from in5550.grader.report import Report
from in5550.grader.sandbox import Limits, SandboxError
from in5550.grader.verdict import GRADER_ERROR, Case, NodeEvidence, TestResult, case_seed, draw_cases, grade_node

__all__ = ["DEFAULT_SECRET", "LABS", "Limits", "Report", "SECRET_VARIABLE", "SandboxError", "grade", "grader_errors",
           "lab_cases", "read_secret", "resolve_secret"]

LABS = {"lab2": "in5550.grader.lab2", "lab1": "in5550.grader.lab1"}
"""Labs with an autograder: name -> module whose ``NODES`` lists the node specifications."""
VISIBLE_SEED = 5550
"""The public seed of the visible cases: students see these inputs in their feedback."""
SECRET_VARIABLE = "IN5550_GRADER_SECRET"
"""The environment variable that holds the assignment's secret when :func:`grade` is given none."""
DEFAULT_SECRET = "in5550-public-default-secret"
"""The secret used when none is configured. It is public (it is written here), so hidden inputs drawn from it
can be reproduced by anyone: fine for trying the grader, not for grading a class."""
NOT_SECRET = (f"The hidden inputs are not secret: no grading secret was configured (set {SECRET_VARIABLE} or "
              "give the assignment's secret), so they were drawn from the public default.")
SECRET_BYTES = 4096
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


def read_secret(path: str | os.PathLike) -> str:
    """The secret in the file ``path``: its text without surrounding white space. Raises ``ValueError`` when the
    file is empty, not UTF-8 text or larger than 4 KiB, and ``FileNotFoundError`` when it is missing."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"read_secret: {path} is not UTF-8 text") from None
    if not text or len(data) > SECRET_BYTES:
        raise ValueError(f"read_secret: {path} must hold the secret as one line of text of at most "
                         f"{SECRET_BYTES} bytes; it has {len(data)} bytes")
    return text


def resolve_secret(secret: str | bytes | None) -> tuple[str | bytes, bool]:
    """The secret to use and whether it is one (see the module's docstring: argument, environment, default)."""
    if secret:
        return secret, True
    from_environment = os.environ.get(SECRET_VARIABLE, "").strip()
    return (from_environment, True) if from_environment else (DEFAULT_SECRET, False)


def hidden_seed(secret: str | bytes, lab: str) -> str:
    """The seed of a lab's hidden cases (per node, :func:`~in5550.grader.verdict.case_seed` mixes in the node's
    name): a digest of the secret, so the secret itself never reaches a seed that could be printed."""
    data = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    return hashlib.sha256(data + b"\0" + lab.encode()).hexdigest()


def lab_cases(lab: str, secret: str | bytes | None = None) -> list[list[Case]]:
    """The cases of each node of ``lab`` (in the order of its ``NODES``): the visible ones, then the hidden ones
    drawn from ``secret`` (resolved as :func:`grade` resolves it), in the order the student's process runs them.
    The same lab and secret give the same cases on every machine."""
    if lab not in LABS:
        raise ValueError(f"grade: no autograder for lab {lab!r}; labs with one: {', '.join(LABS)}")
    seed = hidden_seed(resolve_secret(secret)[0], lab)
    return [draw_cases(node, VISIBLE_SEED, hidden=False) + draw_cases(node, case_seed(seed, node.name), hidden=True)
            for node in importlib.import_module(LABS[lab]).NODES]


def grade(lab: str, submission: str | os.PathLike, limits: Limits = Limits(),
          secret: str | bytes | None = None) -> Report:
    """Grade the file ``submission`` for ``lab`` (a key of :data:`LABS`) with the assignment's ``secret`` (see
    the module's docstring for where it comes from when not given) and return the :class:`Report`.

    Raises ``ValueError`` for an unknown lab, ``FileNotFoundError`` for a missing file and
    :class:`SandboxError` when student code cannot be run safely on this machine; never for anything the
    submission's code does."""
    if lab not in LABS:
        raise ValueError(f"grade: no autograder for lab {lab!r}; labs with one: {', '.join(LABS)}")
    started = time.monotonic()
    nodes = importlib.import_module(LABS[lab]).NODES
    path = Path(submission)
    text, problem = _read_submission(path)
    prepare = getattr(importlib.import_module(LABS[lab]), "prepare", None)  # lab 1: the notebook's definitions
    if text is not None and prepare is not None:
        text, problem = prepare(text)
    findings = source.scan(text, [node.name for node in nodes]) if text is not None else source.Findings(problem)
    secret, is_secret = resolve_secret(secret)
    cases = lab_cases(lab, secret)
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
    if not is_secret:
        notes.append(NOT_SECRET)
    if findings.review:
        tests.append(TestResult("Review by a person", 0.0, 0.0, "Imports and calls a lab never needs:\n"
                                + "\n".join(findings.review), visibility="hidden"))
    return Report(lab, path.name, tests, notes, time.monotonic() - started)


def grader_errors(report: Report) -> list[TestResult]:
    """The tests of ``report`` that carry an error in the grader's own code (for the staff; the submission is not
    to blame and should be graded again once the grader is fixed)."""
    return [test for test in report.tests if test.name.endswith(f": {GRADER_ERROR}")]
