"""The verdict: compare what a submission's nodes returned with the expected values, score each node and say
what is wrong in words a student can act on.

Everything here runs in the grader's own process, on tensors the student's process returned (loaded with
``weights_only=True``) and on expected values computed here, after the student's process has ended, with
:mod:`torch.nn.functional` and PyTorch autograd in float64. Those returned values are untrusted data: anything
malformed costs the node its points (see :func:`grade_node`), never the grader its report.

Each node gets three tests: ``forward`` and ``backward`` on fixed inputs, and ``hidden inputs`` (forward and
backward on inputs of random sizes drawn at grading time). A wrong answer is compared with the known mistaken
answers (:class:`Mistake`: minus the gradient, its transpose, one row per example, ...) and the first that
matches is named in the feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

RTOL = 1e-5  # relative tolerance: float32 arithmetic inside a submission still passes
ATOL = 1e-8
POINTS = {"forward": 2.0, "backward": 4.0, "hidden inputs": 4.0}
"""Points of each of a node's tests."""
OUTPUT_LIMIT = 1500  # characters of a traceback shown in feedback


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer. ``where`` names what it concerns: ``"output"`` (the forward result) or inputs whose
    gradient it is; ``matches(student, wanted, args, grad_output)`` says whether the student's value is it."""

    where: tuple[str, ...]
    description: str
    matches: Callable[[torch.Tensor, torch.Tensor, tuple, torch.Tensor], bool]


@dataclass(frozen=True)
class NodeSpec:
    """A node of a lab: its class name, ``forward``'s arguments in order, the reference computation (taking the
    same arguments) and ``make_inputs(generator, hidden) -> args``; ``mistakes`` are the node's own, tried
    after :data:`GENERAL_MISTAKES`."""

    name: str
    arg_names: tuple[str, ...]
    reference: Callable[..., torch.Tensor]
    make_inputs: Callable[[torch.Generator, bool], tuple]
    mistakes: tuple[Mistake, ...] = ()


@dataclass
class Case:
    """One set of inputs a node is graded on: ``args`` for ``forward``, ``grad_output`` for ``backward``."""

    args: tuple
    grad_output: torch.Tensor

    def task(self) -> dict:
        """What the student's process receives: the inputs only."""
        return {"args": list(self.args), "grad_output": self.grad_output,
                "needs_input_grad": [_differentiable(arg) for arg in self.args]}


@dataclass
class TestResult:
    """One graded test, as Gradescope's ``results.json`` lists it."""

    name: str
    score: float
    max_score: float
    output: str
    visibility: str = "visible"


def close(actual: torch.Tensor, wanted: torch.Tensor) -> bool:
    """Whether two tensors have the same shape and agree within :data:`RTOL` and :data:`ATOL`."""
    return actual.shape == wanted.shape and torch.allclose(actual.double(), wanted.double(), RTOL, ATOL)


def _differentiable(value) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def expected(reference: Callable, args: Sequence, grad_output: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The reference output and the gradient of each argument (``None`` where there is none), by autograd."""
    leaves = [arg.detach().clone().requires_grad_() if _differentiable(arg) else arg for arg in args]
    with torch.enable_grad():
        output = reference(*leaves)
        wanted = [leaf for leaf in leaves if _differentiable(leaf)]
        grads = iter(torch.autograd.grad(output, wanted, grad_output))
    return output.detach(), [next(grads) if _differentiable(leaf) else None for leaf in leaves]


def make_case(node: NodeSpec, seed: int, hidden: bool) -> Case:
    generator = torch.Generator().manual_seed(seed)
    args = node.make_inputs(generator, hidden)
    with torch.no_grad():
        shape = node.reference(*args).shape
    # a scalar upstream gradient far from 1, so that a backward that ignores it is caught
    grad_output = torch.randn(shape, generator=generator, dtype=torch.float64) if shape else \
        1.5 + torch.rand((), generator=generator, dtype=torch.float64)
    return Case(args, grad_output)


# --------------------------------------------------------------------------------------------------------------
# Mistakes that any node can make


GENERAL_MISTAKES = (
    Mistake(("*",), "has the wrong sign (it is minus the expected value)",
            lambda student, wanted, args, grad_output: close(student, -wanted)),
    Mistake(("*",), "is the transpose of the expected one: check the order of the factors in the matrix product "
            "(the gradient of a weight of shape (out, in) is grad_output.T @ input, of shape (out, in))",
            lambda student, wanted, args, grad_output: wanted.dim() == 2 and close(student, wanted.T)),
    Mistake(("*",), "is not summed over the batch: it has one row per example, but the parameter is shared by "
            "all examples, so add the rows up (.sum(0))",
            lambda student, wanted, args, grad_output: student.dim() == wanted.dim() + 1
            and close(student.sum(0), wanted)),
)
IGNORES_GRAD_OUTPUT = ("does not use grad_output: by the chain rule, multiply the local derivative by the "
                       "upstream gradient grad_output")


def _recognise(node: NodeSpec, where: str, student: torch.Tensor, wanted: torch.Tensor, case: Case) -> str | None:
    """The description of the first known mistake that ``student`` matches, if any."""
    for mistake in GENERAL_MISTAKES + node.mistakes:
        if "*" in mistake.where or where in mistake.where:
            if mistake.matches(student, wanted, case.args, case.grad_output):
                return mistake.description
    if where != "output":
        index = node.arg_names.index(where)
        if close(student, expected(node.reference, case.args, torch.ones_like(case.grad_output))[1][index]):
            return IGNORES_GRAD_OUTPUT
    return None


# --------------------------------------------------------------------------------------------------------------
# Checking one run of a node


def _shape(value: torch.Tensor) -> str:
    return str(tuple(value.shape))


def _describe(value) -> str:
    return f"a tensor of shape {_shape(value)}" if isinstance(value, torch.Tensor) else f"{value!r}"[:80]


def _is_tensor(value) -> bool:
    return type(value) is torch.Tensor and value.layout == torch.strided and not value.is_complex()


def _error_text(error: dict, node: NodeSpec) -> str:
    return f"{node.name}.{error['stage']} raised {error['type']}: {error['message']}\n" \
           f"{error['traceback'][-OUTPUT_LIMIT:]}"


def _compare(node: NodeSpec, what: str, where: str, student, wanted: torch.Tensor, case: Case) -> list[str]:
    """Problems with one returned tensor (``what`` names it in the feedback), none when it is right."""
    if not _is_tensor(student):
        return [f"{what}: got {_describe(student)}, expected a tensor of shape {_shape(wanted)}"]
    if close(student, wanted):
        return []
    mistake = _recognise(node, where, student, wanted, case)
    if mistake:
        return [f"{what} {mistake}"]
    if student.shape != wanted.shape:
        return [f"{what} has the wrong shape {_shape(student)}; expected {_shape(wanted)} for inputs of shapes "
                + ", ".join(f"{name} {_shape(arg)}" for name, arg in zip(node.arg_names, case.args)
                            if isinstance(arg, torch.Tensor))]
    difference = (student.double() - wanted).abs().nan_to_num(float("inf")).max().item()
    return [f"{what} differs from the expected values (largest difference {difference:.3g})"]


def check_forward(node: NodeSpec, case: Case, run: dict) -> list[str]:
    """Problems with the output of ``forward``."""
    if run["error"] is not None and run["error"]["stage"] != "backward":
        return [_error_text(run["error"], node)]
    wanted_output, _ = expected(node.reference, case.args, case.grad_output)
    return _compare(node, "the output of forward", "output", run["output"], wanted_output, case)


def check_backward(node: NodeSpec, case: Case, runs: list) -> list[str]:
    """Problems with the gradients ``backward`` returned, with ``grad_output`` afterwards and with a second call
    on the same inputs."""
    first, second = runs
    if first["error"] is not None:
        if first["error"]["stage"] == "backward":
            return [_error_text(first["error"], node)]
        return [f"backward was not run, because {node.name}.{first['error']['stage']} raised "
                f"{first['error']['type']}"]
    grads = first["grads"]
    if not isinstance(grads, list) or len(grads) != len(case.args):
        count = len(grads) if isinstance(grads, list) else 0
        return [f"backward returned {count} value(s); it must return one per input of forward, in order "
                f"({', '.join(node.arg_names)}), with None for those that have no gradient"]
    problems = []
    _, wanted_grads = expected(node.reference, case.args, case.grad_output)
    for name, grad, wanted in zip(node.arg_names, grads, wanted_grads):
        if wanted is None and grad is not None:
            problems.append(f"the gradient for {name} must be None ({name} has no gradient)")
        elif wanted is not None:
            problems += _compare(node, f"the gradient for {name}", name, grad, wanted, case)
    if not (_is_tensor(first["grad_output"]) and torch.equal(first["grad_output"], case.grad_output)):
        problems.append("backward changed grad_output in place (e.g. grad_output[mask] = 0 or grad_output *= ...); "
                        "compute a new tensor instead, since other nodes may use the same grad_output")
    if not problems:
        problems += _check_second_call(node, case, second, wanted_grads)
    return problems


def _check_second_call(node: NodeSpec, case: Case, run: dict, wanted_grads: list) -> list[str]:
    """A second forward and backward on the same inputs must give the same gradients."""
    if run["error"] is not None or not isinstance(run["grads"], list) or len(run["grads"]) != len(wanted_grads):
        return ["a second forward and backward on the same inputs failed: " +
                (_error_text(run["error"], node) if run["error"] is not None else "backward returned other values")]
    for name, grad, wanted in zip(node.arg_names, run["grads"], wanted_grads):
        if wanted is None or (_is_tensor(grad) and close(grad, wanted)):
            continue
        if _is_tensor(grad) and close(grad, 2 * wanted):
            return [f"the gradient for {name} grows from one call to the next: the second backward on the same "
                    "inputs returned twice the gradient. It is accumulated (+=) into storage kept between calls, "
                    "where it should be assigned anew on each call"]
        return [f"a second forward and backward on the same inputs returned a different gradient for {name}: "
                "do not keep state between calls"]
    return []


# --------------------------------------------------------------------------------------------------------------
# Scoring a node


@dataclass
class NodeEvidence:
    """What the grader knows about one node besides its runs: why it has no runs (``problem``), and uses of
    autograd or of the course package found in its source or seen while it ran."""

    problem: str | None = None
    result: object = None
    cheating: list[str] = field(default_factory=list)


def grade_node(node: NodeSpec, cases: Sequence[Case], evidence: NodeEvidence) -> list[TestResult]:
    """The node's three tests, with points and feedback. ``cases`` are the visible and the hidden case."""
    names = [f"{node.name}: {test}" for test in POINTS]
    if evidence.problem is None:
        try:
            problems = _problems(node, cases, evidence)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, RuntimeError):
            problems = [["the results returned by the grading process are malformed (was the grading code "
                         "changed by the submission?)"]] * 3
    else:
        problems = [[evidence.problem]] * 3
    return [TestResult(name, 0.0 if found else POINTS[test], POINTS[test], "\n".join(found) or "passed")
            for name, test, found in zip(names, POINTS, problems)]


def _problems(node: NodeSpec, cases: Sequence[Case], evidence: NodeEvidence) -> list[list[str]]:
    result = evidence.result
    if result["error"] is not None:
        return [[str(result["error"])[:OUTPUT_LIMIT]]] * 3
    (visible, visible_runs), (hidden, hidden_runs) = zip(cases, result["cases"], strict=True)
    runtime = [use for runs in (visible_runs, hidden_runs) for run in runs for use in run["autograd"]]
    runtime += [f"imported {name}" for name in result["blocked_imports"]]
    cheating = evidence.cheating + sorted(set(f"{node.name} {use} while it ran" for use in runtime))
    verdict = [] if not cheating else [
        "backward must compute the gradient by hand, without PyTorch autograd or the course package; found:\n  "
        + "\n  ".join(cheating)]
    return [
        check_forward(node, visible, visible_runs[0]),
        check_backward(node, visible, visible_runs) + verdict,
        check_forward(node, hidden, hidden_runs[0]) + check_backward(node, hidden, hidden_runs) + verdict,
    ]
