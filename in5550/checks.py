r"""Checking tools: compare tensors, differentiate numerically, and verify a node four ways.

Three small tools, usable on their own:

- :func:`compare` reports, per tensor, whether two results are exactly equal, whether they are close
  (``allclose`` with :data:`RTOL`, :data:`ATOL`), their largest absolute difference and their relative error
  $\max_i |a_i - b_i| \,/\, \max\big(\max_i (|a_i| + |b_i|),\ \mathrm{tiny}\big)$, which is scale-free: $10^{-16}$
  means "equal up to rounding", $1$ means "unrelated";
- :func:`numerical_gradient` estimates a gradient by central differences in float64,
  $\partial f / \partial x_i \approx \big(f(x + \epsilon e_i) - f(x - \epsilon e_i)\big) / 2\epsilon$;
- :func:`verify` checks one node of :mod:`in5550.functional` (or your own implementation of it): its output
  against :mod:`in5550.reference` and PyTorch, and its gradients (our backward, through autograd) against the
  hand-derived NumPy reference, PyTorch autograd on :mod:`torch.nn.functional`, and central differences; then
  ``torch.autograd.gradcheck`` and ``gradgradcheck``. It also catches a backward that returns a gradient of the
  wrong shape, which autograd would otherwise sum away silently. :func:`verify_all` does this for every case of
  :data:`CASES`, and ``in5550 check`` prints the result.

Example, in a notebook::

    >>> from in5550.checks import verify
    >>> verify("linear")                 # renders as a table; .passed says whether everything agreed
    >>> verify("relu", ours=MyReLU.apply)   # check your own node on the same inputs
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as torch_functional

from in5550 import reference
from in5550.errors import UsageError

# Two analytic gradients in float64 differ only by rounding: a relative error near 1e-16. These tolerances leave
# room for long sums while any real mistake (a sign, a transpose, a missing 1/N) is off by orders of magnitude.
RTOL = 1e-7
ATOL = 1e-9
# Central differences are exact up to O(eps^2) truncation plus O(1e-16 / eps) rounding: about 1e-10 here.
NUMERICAL_EPS = 1e-6
NUMERICAL_RTOL = 1e-5
NUMERICAL_ATOL = 1e-7
# torch.autograd.gradcheck / gradgradcheck settings (PyTorch's defaults, named here so that they show).
GRADCHECK_EPS = 1e-6
GRADCHECK_ATOL = 1e-5
GRADCHECK_RTOL = 1e-3
# Denominator floor of the relative error: only two all-zero tensors get near it.
TINY = np.finfo(np.float64).tiny


# --------------------------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------------------------


def _numpy(value) -> np.ndarray | None:
    """A NumPy copy of a tensor, array or number (floating point as float64); None stays None."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.double() if value.is_floating_point() else value).numpy()
    array = np.asarray(value)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


@dataclass(frozen=True)
class Comparison:
    """How ``actual`` compares with ``expected``, for one tensor.

    ``passed`` is ``allclose``: same shape and $|a - b| \\le \\mathrm{atol} + \\mathrm{rtol}\\,|b|$ everywhere (NaN
    equal to NaN). ``note`` explains a failure that has no numbers (a shape mismatch, a missing tensor).
    """

    name: str
    exact: bool
    allclose: bool
    max_abs_diff: float
    rel_error: float
    note: str = ""
    short: str = ""  # the note in a word or two, for a table cell

    @property
    def passed(self) -> bool:
        return self.allclose

    def summary(self) -> str:
        """Short form for a table cell: ``exact``, the relative error, or the note."""
        if self.note:
            return self.short or self.note
        return "exact" if self.exact else f"{self.rel_error:.1e}"

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        if self.note:
            return f"{self.name}: {verdict}, {self.note}"
        if self.exact:
            return f"{self.name}: ok, exact"
        return f"{self.name}: {verdict}, max abs diff {self.max_abs_diff:.3e}, rel error {self.rel_error:.3e}"


def _compare_one(actual, expected, name: str, rtol: float, atol: float) -> Comparison:
    a, b = _numpy(actual), _numpy(expected)
    if a is None or b is None:
        both = a is None and b is None
        note = "" if both else f"{'actual' if a is None else 'expected'} is missing (None)"
        return Comparison(name, both, both, 0.0 if both else np.inf, 0.0 if both else np.inf, note, "missing")
    if a.shape != b.shape:
        return Comparison(name, False, False, np.inf, np.inf, f"shape {a.shape} != expected {b.shape}", "wrong shape")
    a, b = a.astype(np.float64), b.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # also equal infinities, which have no finite difference
    with np.errstate(invalid="ignore"):  # inf - inf where `same` already holds the answer
        diff = np.where(same, 0.0, np.abs(a - b))
    max_abs = float(diff.max(initial=0.0))
    magnitude = np.abs(a) + np.abs(b)
    scale = float(np.where(np.isfinite(magnitude), magnitude, 0.0).max(initial=0.0))
    rel = max_abs / max(scale, TINY) if np.isfinite(max_abs) else np.inf
    close = bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return Comparison(name, bool(same.all()), close, max_abs, rel)


def compare(actual, expected, *, name: str = "tensor", rtol: float = RTOL, atol: float = ATOL):
    r"""Compare ``actual`` with ``expected``: exact equality, ``allclose``, max absolute difference, relative error.

    Takes tensors, arrays or numbers (None counts as a missing tensor), and returns a :class:`Comparison`. Given
    two dicts (compared key by key) or two sequences (element by element), returns a list of them, one per tensor.

    The relative error is $\max_i |a_i - b_i| / \max(\max_i (|a_i| + |b_i|), \mathrm{tiny})$; positions where both
    are NaN, or the same infinity, count as equal.

    >>> compare(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), name="grad x").passed
    True
    """
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        names = list(expected) + [key for key in actual if key not in expected]
        return [_compare_one(actual.get(key), expected.get(key), str(key), rtol, atol) for key in names]
    sequences = (list, tuple)
    if isinstance(actual, sequences) and isinstance(expected, sequences):
        if len(actual) != len(expected):
            raise ValueError(f"compare: 'actual' has {len(actual)} tensors but 'expected' has {len(expected)}")
        return [_compare_one(a, b, f"{name}[{i}]", rtol, atol) for i, (a, b) in enumerate(zip(actual, expected))]
    return _compare_one(actual, expected, name, rtol, atol)


# --------------------------------------------------------------------------------------------------------------
# numerical_gradient
# --------------------------------------------------------------------------------------------------------------


def numerical_gradient(f: Callable, inputs, eps: float = NUMERICAL_EPS, grad_output=None):
    r"""Gradient of ``f(*inputs)`` with respect to each input, by central differences in float64.

    For a scalar ``f``, element $i$ of the gradient of input $x$ is $\big(f(x + \epsilon e_i) - f(x - \epsilon e_i)\big)
    / 2\epsilon$. For a non-scalar ``f``, pass ``grad_output`` $\bar y$: this differentiates $\sum y \odot \bar y$,
    i.e. returns what backward returns for that upstream gradient.

    ``inputs`` is a tensor/array or a sequence of them, all floating point (pass integer arguments through a
    closure). Each is copied to float64 and handed to ``f`` as the same kind it came as (tensor or array).
    Returns one gradient per input, as a tuple of the same kinds. Costs two calls of ``f`` per input element.

    >>> numerical_gradient(lambda x: (x ** 3).sum(), torch.tensor([2.0]))   # 3 x^2 = 12
    tensor([12.0000], dtype=torch.float64)
    """
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    arrays = []
    for i, value in enumerate(inputs):
        array = _numpy(value)
        if array is None or array.dtype.kind != "f":
            kind = "None" if array is None else f"dtype {array.dtype}"
            raise TypeError(f"numerical_gradient: input {i} must be floating point, got {kind} (pass it through f)")
        arrays.append(array.copy())
    weights = None if grad_output is None else _numpy(grad_output)

    pairs = list(zip(arrays, inputs))

    def scalar() -> float:
        args = [torch.tensor(a, device=x.device) if isinstance(x, torch.Tensor) else a.copy() for a, x in pairs]
        with torch.no_grad():
            y = _numpy(f(*args))
        if weights is None:
            if y.size != 1:
                raise ValueError(f"numerical_gradient: f returned shape {y.shape}; pass grad_output for non-scalar f")
            return float(y.sum())
        if y.shape != weights.shape:
            raise ValueError(f"numerical_gradient: 'grad_output' has shape {weights.shape}, f returned {y.shape}")
        return float((y * weights).sum())

    grads = []
    for array, value in zip(arrays, inputs):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            plus = scalar()
            array[index] = original - eps
            minus = scalar()
            array[index] = original
            grad[index] = (plus - minus) / (2 * eps)
        grads.append(torch.tensor(grad, device=value.device) if isinstance(value, torch.Tensor) else grad)
    return grads[0] if single else tuple(grads)


# --------------------------------------------------------------------------------------------------------------
# The registry of node cases
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeCase:
    """Inputs on which to verify one node.

    ``inputs(rng)`` draws the positional arguments, by name and in order, as NumPy arrays (floating point ones get
    gradients; integer ones are targets or token ids). ``options`` are the keyword arguments, the same for
    :mod:`in5550.functional`, :mod:`torch.nn.functional` and :mod:`in5550.reference`. A ``random`` node is run
    with the same torch seed every time, so that it draws the same mask; ``reference_args(args, output)`` gives
    the reference its positional arguments when they differ (dropout's reference takes the mask, read off the
    output). ``held(args)`` gives boolean masks, by input name, of entries whose gradient is zero by convention
    although the output depends on them (the ``padding_idx`` row of ``embedding``): central differences and
    ``gradcheck`` see them held fixed.
    """

    node: str
    inputs: Callable[[np.random.Generator], dict]
    options: dict = field(default_factory=dict)
    note: str = ""
    random: bool = False
    reference_args: Callable[[dict, np.ndarray], tuple] | None = None
    held: Callable[[dict], dict] | None = None

    @property
    def name(self) -> str:
        return f"{self.node} ({self.note})" if self.note else self.node

    def torch_function(self) -> Callable:
        """The PyTorch counterpart: ``torch.nn.functional.<node>``, or ``torch.<node>`` for add/mul/exp/log."""
        return getattr(torch_functional, self.node, None) or getattr(torch, self.node)


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _away_from_zero(rng, *shape):
    """Values in +/-[0.2, 1.2]: a kink at 0 (relu) or a zero input (dropout's mask read-off) stays out of reach."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.2, size=shape)


def _uniform(rng, low, high, *shape):
    return rng.uniform(low, high, size=shape)


IGNORE = -100

CASES: list[NodeCase] = [
    NodeCase("add", lambda r: {"input": _normal(r, 2, 3, 4), "other": _normal(r, 3, 1)}, note="broadcasting"),
    NodeCase("mul", lambda r: {"input": _normal(r, 3, 1), "other": _normal(r, 2, 1, 4)}, note="broadcasting"),
    NodeCase("exp", lambda r: {"input": _normal(r, 3, 4)}),
    NodeCase("log", lambda r: {"input": _uniform(r, 0.5, 2.0, 3, 4)}),
    NodeCase("relu", lambda r: {"input": _away_from_zero(r, 3, 4)}),
    NodeCase("sigmoid", lambda r: {"input": 3 * _normal(r, 3, 4)}),
    NodeCase("tanh", lambda r: {"input": _normal(r, 3, 4)}),
    NodeCase(
        "linear",
        lambda r: {"input": _normal(r, 2, 3, 4), "weight": _normal(r, 5, 4), "bias": _normal(r, 5)},
        note="leading dims",
    ),
    NodeCase("softmax", lambda r: {"input": _normal(r, 2, 3, 4)}, {"dim": 1}),
    NodeCase("log_softmax", lambda r: {"input": _normal(r, 2, 3, 4)}, {"dim": -1}),
    NodeCase(
        "cross_entropy",
        lambda r: {"input": _normal(r, 6, 4), "target": np.array([0, 3, IGNORE, 3, 1, 2])},
        {"label_smoothing": 0.1},
        note="ignore_index, label_smoothing",
    ),
    NodeCase(
        "cross_entropy",
        lambda r: {"input": _normal(r, 2, 4, 3), "target": np.array([[0, 3, 3], [1, IGNORE, 2]])},
        {"reduction": "none"},
        note="(N, C, d), none",
    ),
    NodeCase(
        "nll_loss",
        lambda r: {"input": _normal(r, 5, 4), "target": np.array([2, IGNORE, 0, 2, 3])},
        {"reduction": "sum"},
        note="ignore_index, sum",
    ),
    NodeCase(
        "binary_cross_entropy",
        lambda r: {"input": _uniform(r, 0.1, 0.9, 2, 3), "target": _uniform(r, 0.0, 1.0, 2, 3)},
    ),
    NodeCase(
        "binary_cross_entropy_with_logits",
        lambda r: {"input": 3 * _normal(r, 2, 3), "target": _uniform(r, 0.0, 1.0, 2, 3)},
        {"reduction": "sum"},
    ),
    NodeCase("mse_loss", lambda r: {"input": _normal(r, 2, 3), "target": _normal(r, 2, 3)}),
    NodeCase(
        "embedding",
        lambda r: {"input": np.array([[1, 3, 1], [0, 3, 4]]), "weight": _normal(r, 5, 3)},
        {"padding_idx": 0},
        note="repeated ids, padding_idx",
        held=lambda args: {"weight": np.arange(len(args["weight"]))[:, None] == 0},  # the padding row
    ),
    NodeCase(
        "embedding_bag",
        lambda r: {"input": np.array([1, 3, 1, 0, 4, 2, 2]), "weight": _normal(r, 5, 3)},
        {"offsets": np.array([0, 3, 3, 5]), "mode": "mean", "padding_idx": 0},
        note="mean, empty bag, padding_idx",
    ),
    NodeCase(
        "embedding_bag",
        lambda r: {"input": np.array([[1, 3, 1], [4, 4, 2]]), "weight": _normal(r, 5, 3)},
        {"mode": "sum"},
        note="sum, repeated ids",
    ),
    NodeCase(
        "embedding_bag",
        lambda r: {"input": np.array([1, 3, 1, 0, 4, 2]), "weight": _normal(r, 5, 3)},
        {"offsets": np.array([0, 4]), "mode": "max", "padding_idx": 3},
        note="max, padding_idx",
    ),
    NodeCase(
        "dropout",
        lambda r: {"input": _away_from_zero(r, 4, 5)},
        {"p": 0.3},
        random=True,
        reference_args=lambda args, output: (args["input"], output != 0),
    ),
]

NODES = tuple(dict.fromkeys(case.node for case in CASES))  # node names, in registry order


# --------------------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------------------

VIEWS = ("reference", "torch", "numerical")  # the table's comparison columns


@dataclass(frozen=True)
class Check:
    """One verdict of :func:`verify`: ``view`` is a column (``reference``, ``torch``, ``numerical``) or another
    check (``shape``, ``gradcheck``, ``gradgradcheck``, ``error``) of one ``tensor`` (``output``,
    ``grad weight``, ...) of one case ``node``."""

    node: str
    tensor: str
    view: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.node}: {self.tensor} {self.view}: {self.detail}"


@dataclass
class Report:
    """The checks of one or more nodes. ``passed`` is True when every check passed; ``failures`` lists the
    others. ``str(report)`` is a plain-text table, and Jupyter renders it as an HTML table."""

    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list:
        return [check for check in self.checks if not check.passed]

    def __bool__(self) -> bool:
        return self.passed

    def rows(self) -> list:
        """``(node, tensor, {view: check}, [other checks])`` per table row, in order."""
        rows: dict = {}
        for check in self.checks:
            views, others = rows.setdefault((check.node, check.tensor), ({}, []))
            if check.view in VIEWS:
                views[check.view] = check
            else:
                others.append(check)
        return [(node, tensor, views, others) for (node, tensor), (views, others) in rows.items()]

    @staticmethod
    def _result(views: dict, others: list) -> str:
        failed = [check.detail for check in others if not check.passed]
        if failed:
            return "FAIL: " + "; ".join(failed)
        return "ok" if all(check.passed for check in views.values()) else "FAIL"

    @staticmethod
    def _cell(check: Check | None) -> str:
        if check is None:
            return ""
        return check.detail if check.passed else f"FAIL {check.detail}"

    def summary(self) -> str:
        nodes = len(dict.fromkeys(check.node for check in self.checks))
        if self.passed:
            return f"all {len(self.checks)} checks passed ({nodes} cases)"
        bad: dict = {}
        for check in self.failures:
            bad.setdefault(check.node, {})[check.tensor] = None
        names = "; ".join(f"{node}: {', '.join(tensors)}" for node, tensors in bad.items())
        return f"{len(self.failures)} of {len(self.checks)} checks FAILED: {names}"

    def __str__(self) -> str:
        header = ("node", "tensor", *(f"vs {view}" for view in VIEWS), "result")
        lines = [header] + [
            (node, tensor, *(self._cell(views.get(view)) for view in VIEWS), self._result(views, others))
            for node, tensor, views, others in self.rows()
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] for line in lines]
        text.insert(1, "-" * len(text[0]))
        return "\n".join(text + ["", self.summary()])

    def _repr_html_(self) -> str:
        def td(text: str) -> str:
            style = ' style="background:#fdd"' if text.startswith("FAIL") else ""
            return f"<td{style}>{html.escape(text)}</td>"

        head = "".join(f"<th>{html.escape(h)}</th>" for h in ("node", "tensor", *(f"vs {v}" for v in VIEWS), "result"))
        body = "".join(
            "<tr>" + td(node) + td(tensor) + "".join(td(self._cell(views.get(v))) for v in VIEWS)
            + td(self._result(views, others)) + "</tr>"
            for node, tensor, views, others in self.rows()
        )
        return f"<table><tr>{head}</tr>{body}</table><p>{html.escape(self.summary())}</p>"


# --------------------------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------------------------


@contextmanager
def _seeded(seed: int | None):
    """Run with torch's CPU generator seeded (and restored afterwards), so that a random node draws the same."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _error(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {str(exception).strip().splitlines()[0] if str(exception).strip() else ''}"


def _raw_gradients(output: torch.Tensor, grad_output: torch.Tensor, leaves: dict) -> dict:
    """The gradients exactly as the node's own ``backward`` returned them, by input name.

    Autograd checks and fixes them before anyone sees them: it quietly sums a gradient with extra broadcast
    dimensions (so a bias gradient not summed over the batch comes out right) and refuses one of another wrong
    shape. Only here does the mistake show. Works when ``output`` comes straight from a custom
    ``autograd.Function`` applied to the leaves; otherwise returns nothing.
    """
    node = output.grad_fn
    if node is None or not hasattr(node, "_forward_cls"):
        return {}
    try:
        # one upstream gradient per forward output; outputs other than the first are not used here
        extra = [None] * (len(node._input_metadata) - 1)
        with torch.no_grad():
            raw = node.apply(grad_output, *extra)
    except Exception:  # noqa: BLE001 - a backward that fails here fails again, reported, through autograd
        return {}
    raw = raw if isinstance(raw, tuple) else (raw,)
    returned = [grad for grad, needed in zip(raw, node.needs_input_grad) if needed]
    inputs = [fn for fn, _ in node.next_functions if fn is not None]
    names = {id(tensor): name for name, tensor in leaves.items()}
    found = {}
    for grad, fn in zip(returned, inputs):
        variable = getattr(fn, "variable", None)  # set on AccumulateGrad, the node of a leaf
        if variable is not None and id(variable) in names and isinstance(grad, torch.Tensor):
            found[names[id(variable)]] = grad
    return found


def _verify_case(case: NodeCase, ours: Callable | None, seed: int) -> list:
    name, checks = case.name, []

    def add(tensor: str, view: str, passed: bool, detail: str) -> None:
        checks.append(Check(name, tensor, view, passed, detail))

    def add_comparison(tensor: str, view: str, comparison: Comparison) -> None:
        add(tensor, view, comparison.passed, comparison.summary())

    if ours is None:
        import in5550.functional as functional  # imported late: monkeypatching and a missing node stay visible

        ours = getattr(functional, case.node)
    rng = np.random.default_rng(seed)
    args = case.inputs(rng)
    floats = [key for key, value in args.items() if value.dtype.kind == "f"]
    options = {key: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for key, v in case.options.items()}
    node_seed = seed if case.random else None

    def leaves() -> dict:
        return {key: torch.tensor(value, requires_grad=key in floats) for key, value in args.items()}

    def call(fn: Callable, tensors: dict):
        with _seeded(node_seed):
            return fn(*tensors.values(), **options)

    masks = case.held(args) if case.held else {}
    held = {key: (torch.as_tensor(mask), torch.tensor(args[key])) for key, mask in masks.items()}

    def of_floats(fn: Callable) -> Callable:
        """``fn`` as a function of the floating-point inputs alone: the others, and ``held`` entries, fixed."""
        fixed = leaves()

        def f(*xs):
            xs = {key: torch.where(*held[key], x) if key in held else x for key, x in zip(floats, xs)}
            return call(fn, {**fixed, **xs})

        return f

    # Our forward and backward.
    ours_in = leaves()
    try:
        out = call(ours, ours_in)
    except Exception as exception:  # noqa: BLE001 - a student's node may raise anything: report it
        add("forward", "error", False, "raised " + _error(exception))
        return checks
    grad_output = torch.tensor(rng.standard_normal(tuple(out.shape)))
    raw_grads = _raw_gradients(out, grad_output, ours_in)
    backward_error = None
    try:
        ours_grads = torch.autograd.grad(out, [ours_in[k] for k in floats], grad_output, allow_unused=True)
    except Exception as exception:  # noqa: BLE001
        backward_error = "raised " + _error(exception)
        ours_grads = [raw_grads.get(key) for key in floats]  # compare what backward returned, as far as known

    # The NumPy reference, PyTorch autograd, central differences.
    out_np, grad_output_np = _numpy(out), grad_output.numpy()
    ref_args = case.reference_args(args, out_np) if case.reference_args else tuple(args.values())
    ref_out = getattr(reference, case.node)(*ref_args, **case.options)
    ref_grads = getattr(reference, case.node + "_backward")(grad_output_np, *ref_args, **case.options)
    torch_in = leaves()
    torch_out = call(case.torch_function(), torch_in)
    torch_grads = torch.autograd.grad(torch_out, [torch_in[k] for k in floats], grad_output, allow_unused=True)
    numerical = numerical_gradient(of_floats(ours), [torch.tensor(args[k]) for k in floats], grad_output=grad_output)

    add_comparison("output", "reference", compare(out, ref_out))
    add_comparison("output", "torch", compare(out, torch_out))
    if backward_error:
        add("backward", "error", False, backward_error)
    for key, ours_grad, ref_grad, torch_grad, num_grad in zip(floats, ours_grads, ref_grads, torch_grads, numerical):
        tensor = f"grad {key}"
        add_comparison(tensor, "reference", compare(ours_grad, ref_grad))
        add_comparison(tensor, "torch", compare(ours_grad, torch_grad))
        add_comparison(tensor, "numerical", compare(ours_grad, num_grad, rtol=NUMERICAL_RTOL, atol=NUMERICAL_ATOL))
        returned, expected = getattr(raw_grads.get(key), "shape", None), ours_in[key].shape
        if returned is not None and returned != expected:
            detail = f"backward returned shape {tuple(returned)} for '{key}' of shape {tuple(expected)}"
            add(tensor, "shape", False, detail)

    # PyTorch's own gradient checks, on fresh float64 leaves.
    for check in (torch.autograd.gradcheck, torch.autograd.gradgradcheck):
        inputs = tuple(torch.tensor(args[k], requires_grad=True) for k in floats)
        try:
            check(of_floats(ours), inputs, eps=GRADCHECK_EPS, atol=GRADCHECK_ATOL, rtol=GRADCHECK_RTOL)
            add(check.__name__, check.__name__, True, "passed")
        except Exception as exception:  # noqa: BLE001 - GradcheckError, or whatever the node raised
            add(check.__name__, check.__name__, False, _error(exception))
    return checks


def _cases(node) -> list:
    if isinstance(node, NodeCase):
        return [node]
    cases = [case for case in CASES if case.node == node]
    if not cases:
        raise ValueError(f"verify: unknown node {node!r}; known nodes: {', '.join(NODES)}")
    return cases


def verify(node: str | NodeCase, ours: Callable | None = None, *, seed: int = 0) -> Report:
    """Verify one node four ways on every case of :data:`CASES` for it (or on the given :class:`NodeCase`).

    ``ours`` replaces ``in5550.functional.<node>``: pass your own implementation (for example
    ``MyLinear.apply``) to check it on the same inputs; it is called with the positional arguments of the case
    and its options as keywords. For each case the report holds: the output against the NumPy reference and
    PyTorch; each gradient against the reference, PyTorch autograd and central differences (and its shape as
    backward returned it); ``gradcheck`` and ``gradgradcheck``. Inputs are float64, drawn from ``seed``.
    """
    return Report([check for case in _cases(node) for check in _verify_case(case, ours, seed)])


def verify_all(nodes: Sequence[str] | None = None, *, seed: int = 0) -> Report:
    """:func:`verify` for every node of :data:`CASES` (or only ``nodes``), in one report."""
    return Report([check for node in nodes or NODES for check in verify(node, seed=seed).checks])


# --------------------------------------------------------------------------------------------------------------
# in5550 check
# --------------------------------------------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument(
        "--node", action="append", metavar="NAME", help=f"check only this node (repeatable): {', '.join(NODES)}"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")


def run(args) -> int:
    unknown = [node for node in args.node or () if node not in NODES]
    if unknown:
        raise UsageError(f"unknown node {unknown[0]!r} for --node; known nodes: {', '.join(NODES)}")
    report = verify_all(args.node, seed=args.seed)
    print(report)
    return 0 if report.passed else 1
