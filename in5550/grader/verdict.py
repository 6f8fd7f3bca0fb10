"""The verdict: compare what a submission's nodes returned with the expected values, score each node and say
what is wrong in words a student can act on.

Everything here runs in the grader's own process, on data the student's process returned (loaded with
``weights_only=True``) and on expected values computed here, after the student's process has ended, with
:mod:`torch.nn.functional` and PyTorch autograd in float64. Two kinds of failure are kept apart:

- the returned data are the student's: they are checked field by field (:func:`malformed`) before any use, and
  anything malformed costs the node its points, with what was wrong;
- an exception in the grader's own code afterwards is the grader's bug: the node's tests say so (no mistake of
  the student's is claimed) and a hidden test gives the staff the traceback (:data:`GRADER_ERROR`).

Each node gets three tests: ``forward`` and ``backward`` on the visible cases (a few samples of the node's
inputs, drawn from a public seed), and ``hidden inputs`` (forward and backward on every input class of the
node, in float64 and float32, drawn from the assignment's secret seed). The cases come from the one registry of
node inputs, :mod:`in5550.cases` (see :func:`draw_cases`). A wrong answer is compared with the known mistaken
answers (:class:`Mistake`: minus the gradient, its transpose, one row per example, ...), and a mistake is named
only when exactly one of them matches.
"""

from __future__ import annotations

import functools
import hashlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Tolerance:
    """``|student - expected| <= atol + rtol * |expected|`` elementwise, as :func:`torch.allclose`."""

    rtol: float
    atol: float


TOLERANCES = {
    # Inputs in float32: the student's arithmetic is float32 throughout (about 7 significant digits), compared
    # with float64 values computed from the same inputs. Measured over 40 seeds of every registry sample of lab 2
    # (the large logits included): PyTorch's own float32 nodes and the lab's solution stay within 0.3 of this
    # tolerance. A near miss off by 1e-3 (a one-sided finite difference, a rounded constant) is a hundred times
    # outside, and rtol alone would fail correct entries near zero after cancellation (1 - y*y, softmax's
    # backward), hence atol.
    torch.float32: Tolerance(rtol=1e-5, atol=1e-6),
    # Inputs in float64: the same tolerance, not a tighter one. The lab asks for no more than float32's precision,
    # and PyTorch accepts a backward that builds its gradient in a buffer of the default dtype (torch.zeros(...)
    # without dtype= is float32; autograd casts the gradient back), so valid code may carry float32's rounding
    # here too: measured, such buffers stay within 0.11 of this tolerance, and within 0.52 of atol=1e-7.
    torch.float64: Tolerance(rtol=1e-5, atol=1e-6),
}
"""The tolerance of a comparison, by the dtype of the case's floating-point inputs."""
POINTS = {"forward": 2.0, "backward": 4.0, "hidden inputs": 4.0}
"""Points of each of a node's tests."""
VISIBLE_CASES = 3
"""Visible cases per node: the first samples of the node's registry entry (at the public seed) it supports."""
HIDDEN_DTYPES = (torch.float64, torch.float32)
"""Every input class is graded in each of these dtypes on hidden inputs (the lab promises both)."""
OUTPUT_LIMIT = 1500  # characters of a traceback shown in feedback
ALSO_LIMIT = 6  # other failing cases named after the first one
GRADER_ERROR = "grader error"
"""Name (after the node's) of the hidden test that carries the traceback of an error in the grader's own code."""


# --------------------------------------------------------------------------------------------------------------
# Nodes and cases


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer. ``where`` names what it concerns: ``"output"`` (the forward result), ``"grad"`` (any
    gradient), ``"*"`` (anything) or the names of the inputs whose gradient it is. ``matches(student, wanted,
    case)`` says whether the student's value is this mistake, exactly (within the case's tolerance); the
    description is a sentence about ``{what}`` (e.g. "the gradient for bias")."""

    where: tuple[str, ...]
    description: str
    matches: Callable[[torch.Tensor, torch.Tensor, Case], bool]

    def concerns(self, where: str) -> bool:
        return "*" in self.where or where in self.where or ("grad" in self.where and where != "output")


@dataclass(frozen=True)
class NodeSpec:
    """A node of a lab: its class name, ``forward``'s arguments in order and the reference computation taking the
    same arguments. Its inputs are the samples of :data:`in5550.cases.REGISTRY` entry ``registry_name``;
    ``convert(sample)`` turns one into ``forward``'s arguments, or ``None`` when the lab's node does not take the
    sample's options (e.g. ``reduction="sum"`` for a node that only averages). ``mistakes`` are the node's own,
    tried with :data:`GENERAL_MISTAKES`."""

    name: str
    arg_names: tuple[str, ...]
    reference: Callable[..., torch.Tensor]
    registry_name: str
    convert: Callable[[object], tuple | None]
    mistakes: tuple[Mistake, ...] = ()


def _differentiable(value) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _shape(value: torch.Tensor) -> str:
    return str(tuple(value.shape))


@dataclass
class Case:
    """One set of inputs a node is graded on: ``args`` for ``forward``, ``grad_output`` for ``backward``, what
    input class they cover (``note``) and whether they are hidden from the student."""

    args: tuple
    grad_output: torch.Tensor
    note: str = ""
    hidden: bool = False
    arg_names: tuple[str, ...] = ()
    reference: Callable[..., torch.Tensor] | None = None

    def task(self) -> dict:
        """What the student's process receives: the inputs only."""
        return {"args": list(self.args), "grad_output": self.grad_output,
                "needs_input_grad": [_differentiable(arg) for arg in self.args]}

    @property
    def tolerance(self) -> Tolerance:
        dtypes = [arg.dtype for arg in self.args if _differentiable(arg)]
        return TOLERANCES[max(dtypes, key=lambda dtype: torch.finfo(dtype).eps, default=torch.float64)]

    def close(self, actual: torch.Tensor, wanted: torch.Tensor) -> bool:
        """Whether two tensors have the same shape and agree within the case's tolerance (NaN agrees with
        nothing)."""
        tolerance = self.tolerance
        return actual.shape == wanted.shape and \
            torch.allclose(actual.double(), wanted.double(), tolerance.rtol, tolerance.atol)

    @functools.cached_property
    def wanted(self) -> tuple[torch.Tensor, list]:
        """The expected output and gradients (see :func:`expected`)."""
        return expected(self.reference, self.args, self.grad_output)

    def describe(self) -> str:
        """The case as feedback names it: a visible case by its class and shapes, a hidden one by its class."""
        if self.hidden:
            return f"hidden inputs ({self.note})"
        shapes = ", ".join(f"{name} {_shape(arg)}" for name, arg in zip(self.arg_names, self.args)
                           if isinstance(arg, torch.Tensor))
        others = ", ".join(f"{name}={arg!r}" for name, arg in zip(self.arg_names, self.args)
                           if not isinstance(arg, torch.Tensor))
        return f"inputs {self.note}: {shapes}" + (f", {others}" if others else "")


def expected(reference: Callable, args: Sequence, grad_output: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The reference output and the gradient of each argument (``None`` where there is none), by autograd in
    float64 on the case's inputs (float32 inputs are exact in float64)."""
    leaves = [arg.detach().double().requires_grad_() if _differentiable(arg) else arg for arg in args]
    with torch.enable_grad():
        output = reference(*leaves)
        wanted = [leaf for leaf in leaves if _differentiable(leaf)]
        # the gradient of sum(output * grad_output) is the same vector-Jacobian product, exactly; passing
        # grad_output to autograd.grad instead makes PyTorch import sympy for a shape check (4 s, once per process)
        grads = iter(torch.autograd.grad((output * grad_output.double()).sum(), wanted))
    return output.detach(), [next(grads) if _differentiable(leaf) else None for leaf in leaves]


def case_seed(seed: int | str, name: str) -> int:
    """A 63-bit seed for the node ``name`` from ``seed`` (an int or any text): the same inputs for the same pair
    on every machine and every run."""
    digest = hashlib.sha256(f"{seed}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def draw_cases(node: NodeSpec, seed: int, hidden: bool) -> list[Case]:
    """The node's cases from the registry at ``seed``: visible, the first :data:`VISIBLE_CASES` samples in float64
    that the node supports; hidden, every supported sample in each of :data:`HIDDEN_DTYPES`. The upstream
    gradients come from ``seed`` too (a scalar one far from 1, so that a backward that ignores it is caught)."""
    from in5550 import cases as registry

    drawn = []
    for dtype in HIDDEN_DTYPES if hidden else (torch.float64,):
        for sample in registry.samples(node.registry_name, seed=seed, dtype=dtype):
            args = node.convert(sample)
            if args is not None:
                note = sample.note if not hidden else f"{sample.note}, {str(dtype).removeprefix('torch.')}"
                drawn.append((tuple(args), note, dtype))
    if not hidden:
        drawn = drawn[:VISIBLE_CASES]
    generator = torch.Generator().manual_seed(case_seed(seed, f"{node.name} grad_output"))
    made = []
    for args, note, dtype in drawn:
        with torch.no_grad():
            shape = node.reference(*args).shape
        grad_output = torch.randn(shape, generator=generator, dtype=torch.float64) if shape else \
            1.5 + torch.rand((), generator=generator, dtype=torch.float64)
        made.append(Case(args, grad_output.to(dtype), note, hidden, node.arg_names, node.reference))
    return made


# --------------------------------------------------------------------------------------------------------------
# Mistakes that any node can make


def _wrong_sign(student, wanted, case) -> bool:
    return bool(wanted.numel()) and bool(wanted.abs().max() > 0) and case.close(student, -wanted)


def _not_summed(student, wanted, case) -> bool:
    """One row per example (as many as the first input has), which add up to the gradient. With a batch of one
    this cannot be told from :func:`_keepdim`, and neither is named."""
    return student.dim() == wanted.dim() + 1 and student.shape[1:] == wanted.shape and \
        student.shape[0] == case.args[0].shape[0] and case.close(student.sum(0), wanted)


def _keepdim(student, wanted, case) -> bool:
    return student.dim() == wanted.dim() + 1 and student.shape[0] == 1 and case.close(student[0], wanted)


GENERAL_MISTAKES = (
    Mistake(("*",), "{what} has the wrong sign (it is minus the expected value)",
            _wrong_sign),
    Mistake(("*",), "{what} is the transpose of the expected one: check the order of the factors in the matrix "
            "product (the gradient of a weight of shape (out, in) is grad_output.T @ input, of shape (out, in))",
            lambda student, wanted, case: wanted.dim() == 2 and case.close(student, wanted.T)),
    Mistake(("grad",), "{what} is not summed over the batch: it has one row per example, but the parameter is "
            "shared by all examples, so add the rows up (.sum(0))", _not_summed),
    Mistake(("grad",), "{what} keeps the summed dimension: its shape is {student_shape} where the parameter's is "
            "{wanted_shape}; sum with .sum(0), without keepdim=True", _keepdim),
    Mistake(("output",), "forward returns shape (1,), a loss must be a 0-d tensor (use .sum()/.mean() without "
            "keepdim)",
            lambda student, wanted, case: wanted.dim() == 0 and student.shape == (1,)
            and case.close(student.reshape(()), wanted)),
    Mistake(("grad",), "{what} does not use grad_output: by the chain rule, multiply the local derivative by the "
            "upstream gradient grad_output",
            lambda student, wanted, case: _ignores_grad_output(student, wanted, case)),
)


def _ignores_grad_output(student, wanted, case) -> bool:
    """Whether ``student`` is the gradient for an upstream gradient of ones, for one of the case's inputs."""
    if torch.equal(case.grad_output, torch.ones_like(case.grad_output)):
        return False
    index = next((index for index, grad in enumerate(case.wanted[1]) if grad is wanted), None)
    if index is None:
        return False
    return case.close(student, expected(case.reference, case.args, torch.ones_like(case.grad_output))[1][index])


def recognise(mistakes: Sequence[Mistake], where: str, student: torch.Tensor, wanted: torch.Tensor,
              case: Case) -> str | None:
    """The description of the one known mistake that ``student`` matches; ``None`` when none or several do (a
    recogniser that is not sure names nothing)."""
    found = [mistake for mistake in mistakes if mistake.concerns(where) and mistake.matches(student, wanted, case)]
    return found[0].description if len(found) == 1 else None


# --------------------------------------------------------------------------------------------------------------
# Checking one run of a node


class Named(str):
    """Feedback that names a recognised mistake (preferred when a test shows one case of several)."""


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {_shape(value)} and dtype {str(value.dtype).removeprefix('torch.')}"
    return f"{value!r}"[:80]


def _is_tensor(value) -> bool:
    """A plain real floating-point tensor, which is what a node returns."""
    return type(value) is torch.Tensor and value.layout == torch.strided and value.is_floating_point()


def _error_text(error: dict, node: NodeSpec) -> str:
    return f"{node.name}.{error['stage']} raised {error['type']}: {error['message']}\n" \
           f"{error['traceback'][-OUTPUT_LIMIT:]}"


def _count(mask: torch.Tensor) -> str:
    return f"{int(mask.sum())} of its {mask.numel()} entries"


def _compare(node: NodeSpec, what: str, where: str, student, wanted: torch.Tensor, case: Case) -> list[str]:
    """Problems with one returned tensor (``what`` names it in the feedback), none when it is right."""
    if not _is_tensor(student):
        return [f"{what}: got {_describe(student)}, expected a tensor of shape {_shape(wanted)}"]
    if case.close(student, wanted):
        return []
    mistake = recognise(GENERAL_MISTAKES + node.mistakes, where, student, wanted, case)
    if mistake:
        return [Named(mistake.format(what=what, wanted_shape=_shape(wanted), student_shape=_shape(student)))]
    if student.shape != wanted.shape:
        return [f"{what} has the wrong shape {_shape(student)}; expected {_shape(wanted)}"]
    student = student.double()
    nan, inf = student.isnan() & ~wanted.isnan(), student.isinf() & ~wanted.isinf()
    if nan.any():
        return [f"{what} is NaN (not a number) in {_count(nan)}: look for 0/0, inf/inf or inf - inf (exp of a large "
                "number overflows: subtract the maximum first)"]
    if inf.any():
        return [f"{what} is inf in {_count(inf)}: look for overflow (exp of a large number: subtract the maximum "
                "first) or a division by zero"]
    difference = (student - wanted).abs()
    tolerance = case.tolerance
    allowed = tolerance.atol + tolerance.rtol * wanted.abs()
    return [f"{what} differs from the expected values (largest difference {difference.max().item():.3g}, where "
            f"the tolerance allows {allowed.flatten()[(difference - allowed).flatten().argmax()].item():.3g})"]


def check_forward(node: NodeSpec, case: Case, run: dict) -> list[str]:
    """Problems with the output of ``forward``."""
    if run["error"] is not None and run["error"]["stage"] != "backward":
        return [_error_text(run["error"], node)]
    return _compare(node, "the output of forward", "output", run["output"], case.wanted[0], case)


def _gradients(grads, count: int):
    """The returned gradients without trailing extra ``None`` s (PyTorch accepts those), or ``None`` when they
    are not one per input."""
    if not isinstance(grads, list):
        return None
    while len(grads) > count and grads[-1] is None:
        grads = grads[:-1]
    return grads if len(grads) == count else None


def check_backward(node: NodeSpec, case: Case, runs: list) -> list[str]:
    """Problems with the gradients ``backward`` returned, with ``grad_output`` afterwards and with a second call
    on the same inputs."""
    first = runs[0]
    if first["error"] is not None:
        if first["error"]["stage"] == "backward":
            return [_error_text(first["error"], node)]
        return [f"backward was not run, because {node.name}.{first['error']['stage']} raised "
                f"{first['error']['type']}"]
    grads = _gradients(first["grads"], len(case.args))
    if grads is None:
        count = len(first["grads"]) if isinstance(first["grads"], list) else 0
        return [f"backward returned {count} value(s); it must return one per input of forward, in order "
                f"({', '.join(node.arg_names)}), with None for those that have no gradient"]
    problems = []
    wanted_grads = case.wanted[1]
    for name, grad, wanted in zip(node.arg_names, grads, wanted_grads):
        if wanted is None and grad is not None:
            problems.append(f"the gradient for {name} must be None ({name} has no gradient)")
        elif wanted is not None:
            problems += _compare(node, f"the gradient for {name}", name, grad, wanted, case)
    returned = first["grad_output"]
    if not (_is_tensor(returned) and returned.shape == case.grad_output.shape
            and torch.equal(returned, case.grad_output)):
        problems.append("backward changed grad_output in place (e.g. grad_output[mask] = 0 or grad_output *= ...); "
                        "compute a new tensor instead, since other nodes may use the same grad_output")
    return problems or _check_second_call(node, case, runs, wanted_grads)


def _check_second_call(node: NodeSpec, case: Case, runs: list, wanted_grads: list) -> list[str]:
    """A second forward and backward on the same inputs must give the same output and gradients."""
    run = runs[1]
    grads = _gradients(run["grads"], len(wanted_grads))
    if run["error"] is not None or grads is None:
        return ["a second forward and backward on the same inputs failed: " +
                (_error_text(run["error"], node) if run["error"] is not None else "backward returned other values")]
    first = runs[0]["output"]  # judged by the forward test: here it only has to come again
    if _is_tensor(first) and not (_is_tensor(run["output"]) and case.close(run["output"], first)):
        return ["a second forward and backward on the same inputs returned a different output: do not keep state "
                "between calls"]
    for name, grad, wanted in zip(node.arg_names, grads, wanted_grads):
        if wanted is None or (_is_tensor(grad) and case.close(grad, wanted)):
            continue
        if _is_tensor(grad) and case.close(grad, 2 * wanted):
            return [Named(f"the gradient for {name} grows from one call to the next: the second backward on the same "
                    "inputs returned twice the gradient. It is accumulated (+=) into storage kept between calls, "
                    "where it should be assigned anew on each call")]
        return [f"a second forward and backward on the same inputs returned a different gradient for {name}: "
                "do not keep state between calls"]
    return []


# --------------------------------------------------------------------------------------------------------------
# What the student's process returned: validated before use


RUN_FIELDS = ("output", "grads", "grad_output", "error", "autograd")
ERROR_FIELDS = ("stage", "type", "message", "traceback")
STAGES = ("forward", "setup_context", "backward")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _malformed_run(run) -> str | None:
    if not isinstance(run, dict) or set(run) != set(RUN_FIELDS):
        return f"a run is {type(run).__name__} with fields {sorted(run) if isinstance(run, dict) else '-'}"
    error = run["error"]
    if error is not None and not (isinstance(error, dict) and set(error) == set(ERROR_FIELDS)
                                  and all(isinstance(error[name], str) for name in ERROR_FIELDS)
                                  and error["stage"] in STAGES):
        return "a run's error is not a stage, type, message and traceback"
    if not _strings(run["autograd"]):
        return "a run's record of autograd use is not a list of text"
    return None


def malformed(result, cases: int) -> str | None:
    """What is wrong with a node's ``result`` as :func:`in5550.grader.sandbox.run` returns it, or ``None`` when
    its form is right: ``{"error": text}`` for a node that could not be run at all, else ``{"error": None,
    "cases", "case_problems", "blocked_imports", "runtime"}`` with, per case, its two runs (the second on the
    same inputs) or ``None`` and the text of why it has none (a crash or a hang in that case alone). Each run is
    a dict of :data:`RUN_FIELDS` whose ``error`` is ``None`` or a dict of :data:`ERROR_FIELDS`; the values of
    ``output``, ``grads`` and ``grad_output`` are judged later, as answers."""
    if not isinstance(result, dict) or "error" not in result:
        return "the result of the node is not a dict with an error field"
    if result["error"] is not None:
        return None if isinstance(result["error"], str) else "the node's error is not text"
    if set(result) != {"error", "cases", "case_problems", "blocked_imports", "runtime"}:
        return f"the result of the node has the fields {sorted(map(str, result))}"
    if not (_strings(result["blocked_imports"]) and _strings(result["runtime"])):
        return "the refused imports or the uses of autograd are not lists of text"
    runs_of, problems = result["cases"], result["case_problems"]
    if not (isinstance(runs_of, list) and isinstance(problems, list) and len(runs_of) == len(problems) == cases):
        return f"there are not {cases} cases"
    for runs, problem in zip(runs_of, problems):
        if runs is None:
            if not isinstance(problem, str):
                return "a case has neither runs nor a reason why not"
            continue
        if not isinstance(runs, list) or len(runs) != 2:
            return "a case is not two runs"
        for run in runs:
            wrong = _malformed_run(run)
            if wrong:
                return wrong
    return None


# --------------------------------------------------------------------------------------------------------------
# Scoring a node


@dataclass
class TestResult:
    """One graded test, as Gradescope's ``results.json`` lists it."""

    name: str
    score: float
    max_score: float
    output: str
    visibility: str = "visible"


@dataclass
class NodeEvidence:
    """What the grader knows about one node besides its runs: why it has no runs (``problem``), and uses of
    autograd or of the course package found in its source or seen while it ran."""

    problem: str | None = None
    result: object = None
    cheating: list[str] = field(default_factory=list)


def grade_node(node: NodeSpec, cases: Sequence[Case], evidence: NodeEvidence) -> list[TestResult]:
    """The node's three tests, with points and feedback; ``cases`` are the visible cases, then the hidden ones
    (in the order the runner ran them). An error in the grader's own code gives the three tests no points, a
    message that says it is the grader's fault, and a fourth, hidden test with the traceback for the staff."""
    names = [f"{node.name}: {test}" for test in POINTS]
    problems, staff = None, []
    if evidence.problem is not None:
        problems = [[evidence.problem]] * len(POINTS)
    elif (wrong := malformed(evidence.result, len(cases))) is not None:
        problems = [[f"the results returned by the grading process are malformed ({wrong}; was the grading code "
                     "changed by the submission?)"]] * len(POINTS)
    else:
        try:
            problems = _problems(node, cases, evidence)
        except Exception:  # noqa: BLE001 -- a bug in the grader: reported to the staff, never blamed on the student
            problems = [[f"{node.name} could not be graded because of an error in the grader, not in your "
                         "submission; the course staff will regrade it"]] * len(POINTS)
            staff = [TestResult(f"{node.name}: {GRADER_ERROR}", 0.0, 0.0, traceback.format_exc()[-OUTPUT_LIMIT * 2:],
                                visibility="hidden")]
    return [TestResult(name, 0.0 if found else POINTS[test], POINTS[test], "\n".join(found) or "passed")
            for name, test, found in zip(names, POINTS, problems)] + staff


def _per_case(cases: Sequence[Case], found: Sequence[list[str]]) -> list[str]:
    """One test's feedback over several cases: the problems of the first failing case that names a mistake (else
    of the first failing case), then the other failing cases named."""
    failing = [(case, problems) for case, problems in zip(cases, found) if problems]
    if not failing:
        return []
    shown = next((pair for pair in failing if any(isinstance(problem, Named) for problem in pair[1])), failing[0])
    case, problems = shown
    others = [pair for pair in failing if pair is not shown]
    lines = [f"On {case.describe()}:", *problems]
    if others:
        named = [other.describe() for other, _ in others[:ALSO_LIMIT]]
        more = f" and {len(others) - ALSO_LIMIT} more" if len(others) > ALSO_LIMIT else ""
        lines.append("Also wrong on " + "; ".join(named) + more + ".")
    return lines


def _problems(node: NodeSpec, cases: Sequence[Case], evidence: NodeEvidence) -> list[list[str]]:
    result = evidence.result
    if result["error"] is not None:
        return [[result["error"][:OUTPUT_LIMIT]]] * len(POINTS)
    runs_of = result["cases"]
    runtime = [use for runs in runs_of if runs is not None for run in runs for use in run["autograd"]]
    runtime += result["runtime"] + [f"imported {name}" for name in result["blocked_imports"]]
    cheating = evidence.cheating + sorted(set(f"{node.name} {use} while it ran" for use in runtime))
    verdict = [] if not cheating else [
        "backward must compute the gradient by hand, without PyTorch autograd or the course package; found:\n  "
        + "\n  ".join(cheating)]
    forward, backward = [], []
    for case, runs, problem in zip(cases, runs_of, result["case_problems"]):
        if runs is None:  # this case has no result (a crash, a hang): it costs this case only
            forward.append([problem[:OUTPUT_LIMIT]])
            backward.append([problem[:OUTPUT_LIMIT]])
            continue
        forward.append(check_forward(node, case, runs[0]))
        backward.append(check_backward(node, case, runs))
    visible = [index for index, case in enumerate(cases) if not case.hidden]
    hidden = [index for index, case in enumerate(cases) if case.hidden]

    def pick(found, indices):
        return [found[index] for index in indices]

    visible_cases, hidden_cases = pick(cases, visible), pick(cases, hidden)
    return [
        _per_case(visible_cases, pick(forward, visible)),
        _per_case(visible_cases, pick(backward, visible)) + verdict,
        _per_case(hidden_cases, [f + [problem for problem in b if problem not in f]
                                 for f, b in zip(pick(forward, hidden), pick(backward, hidden))]) + verdict,
    ]
