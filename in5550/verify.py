r"""Verifying a node four ways, the report of what agreed, and the ``in5550 check`` command.

:func:`verify` runs one node of :mod:`in5550.functional` or :mod:`in5550.vmf` (or your own implementation of it)
on every sample of :mod:`in5550.cases` for it, in float64, and compares

1. its output and gradients with the hand-derived NumPy reference (:mod:`in5550.reference`, no autograd at all),
2. with PyTorch autograd on :mod:`torch.nn.functional` (for a node PyTorch lacks, on the same function written
   with torch ops, :mod:`in5550.torch_reference`),
3. its gradients with central differences (:func:`in5550.numerical.numerical_gradient`),
4. and runs ``torch.autograd.gradcheck`` and ``gradgradcheck`` (skipped, and shown as skipped, for a node whose
   backward is ``once_differentiable``).

It also checks the shape of each gradient exactly as the node's ``backward`` returned it: autograd quietly sums a
gradient with extra broadcast dimensions (a bias gradient not summed over the batch comes out right), so only
there does that mistake show. :func:`verify_all` does this for every node; ``in5550 check`` prints the table and
exits with status 1 when anything disagrees.

Example, checking a node of your own on the package's samples (in a notebook the report renders as a table)::

    >>> import torch
    >>> from in5550.verify import verify
    >>> class MyReLU(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(x):
    ...         return x.clamp(min=0)
    ...
    ...     @staticmethod
    ...     def setup_context(ctx, inputs, output):
    ...         ctx.save_for_backward(inputs[0])
    ...
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         (x,) = ctx.saved_tensors
    ...         return grad_output * (x > 0)
    >>> report = verify("relu", ours=MyReLU.apply)
    >>> report.passed, report.summary()
    (True, 'all 28 checks passed (4 cases)')
"""

from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from in5550 import cases, engine, reference
from in5550.compare import as_numpy, compare
from in5550.errors import UsageError
from in5550.numerical import NUMERICAL_ATOL, NUMERICAL_EPS, NUMERICAL_RTOL, numerical_gradient

# torch.autograd.gradcheck / gradgradcheck settings (PyTorch's defaults, named here so that they show).
GRADCHECK_EPS = 1e-6
GRADCHECK_ATOL = 1e-5
GRADCHECK_RTOL = 1e-3


# --------------------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------------------

VIEWS = ("reference", "torch", "numerical")  # the table's comparison columns


@dataclass(frozen=True)
class Check:
    """One verdict of :func:`verify`: ``view`` is a column (``reference``, ``torch``, ``numerical``) or another
    check (``shape``, ``gradcheck``, ``gradgradcheck``, ``error``) of one ``tensor`` (``output``,
    ``grad weight``, ...) of one case ``node``. A ``skipped`` check was not run (``detail`` says why): it neither
    passed nor failed."""

    node: str
    tensor: str
    view: str
    passed: bool
    detail: str
    skipped: bool = False

    def __str__(self) -> str:
        return f"{self.node}: {self.tensor} {self.view}: {self.detail}"


@dataclass
class Report:
    """The checks of one or more nodes. ``passed`` is True when every check that ran passed; ``failures`` lists
    the others, ``skipped`` the checks that did not apply. ``str(report)`` is a plain-text table, and Jupyter
    renders it as an HTML table."""

    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list:
        return [check for check in self.checks if not check.passed and not check.skipped]

    @property
    def skipped(self) -> list:
        return [check for check in self.checks if check.skipped]

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
        failed = [check.detail for check in others if not check.passed and not check.skipped]
        if failed:
            return "FAIL: " + "; ".join(failed)
        if not all(check.passed for check in views.values()):
            return "FAIL"
        skipped = [check.detail for check in others if check.skipped]
        return "skipped: " + "; ".join(skipped) if skipped and not views else "ok"

    @staticmethod
    def _cell(check: Check | None) -> str:
        if check is None:
            return ""
        return check.detail if check.passed else f"FAIL {check.detail}"

    def summary(self) -> str:
        nodes = len(dict.fromkeys(check.node for check in self.checks))
        skipped = len(self.skipped)
        if self.passed:
            ran = len(self.checks) - skipped
            return f"all {ran} checks passed" + (f", {skipped} skipped" if skipped else "") + f" ({nodes} cases)"
        bad: dict = {}
        for check in self.failures:
            bad.setdefault(check.node, {})[check.tensor] = None
        names = "; ".join(f"{node}: {', '.join(tensors)}" for node, tensors in bad.items())
        return f"{len(self.failures)} of {len(self.checks) - skipped} checks FAILED: {names}"

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
# Running a node
# --------------------------------------------------------------------------------------------------------------


@contextmanager
def seeded(seed: int | None):
    """Run with torch's CPU generator seeded (and restored afterwards), so that a random node (dropout) draws the
    same mask every time it runs; ``None`` leaves the generator alone."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def differentiable(value) -> bool:
    """Whether an input gets a gradient: floating-point tensors do; integer ids and targets, numbers do not."""
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def call(fn: Callable, inputs: dict, options: dict, seed: int | None):
    """``fn(*inputs.values(), **options)`` with torch's generator at ``seed`` (see :func:`seeded`)."""
    with seeded(seed):
        return fn(*inputs.values(), **options)


def call_with(fn: Callable, sample: cases.Sample, held: dict, seed: int | None, *values: torch.Tensor):
    """``fn`` on ``sample`` with its floating-point inputs replaced, in order, by ``values``; the entries that
    ``held`` marks keep the sample's values, so that finite differences and ``gradcheck`` see them held fixed.
    With ``functools.partial`` this is ``fn`` as a function of the floating-point inputs alone."""
    inputs = dict(sample.inputs)
    for name, value in zip([name for name, v in sample.inputs.items() if differentiable(v)], values):
        inputs[name] = torch.where(held[name], sample.inputs[name], value) if name in held else value
    return call(fn, inputs, sample.options, seed)


def leaves(sample: cases.Sample) -> dict:
    """Fresh copies of the sample's inputs; the floating-point ones require gradients."""
    return {name: value.detach().clone().requires_grad_(differentiable(value)) if isinstance(value, torch.Tensor)
            else value for name, value in sample.inputs.items()}


def returned_gradients(ours: Callable, sample: cases.Sample, grad_output: torch.Tensor, seed: int | None) -> dict:
    """The gradients exactly as the node's own ``backward`` returns them, by input name, before autograd checks
    and sums them; empty when ``ours`` is not the ``apply`` of a ``torch.autograd.Function`` (a wrapper hides the
    node) or running the node by hand fails (autograd's run reports that).

    Taken the way the glass-box engine (:mod:`in5550.engine`) takes them: ``forward``, then ``setup_context``
    with an :class:`in5550.engine.Context`, then ``backward`` with the upstream gradient (and None for any
    further output), called directly on the node's class. A node in the older style, ``forward(ctx, ...)`` with
    no ``setup_context``, gets the context in its ``forward``.
    """
    node = getattr(ours, "__self__", None)  # ``Node.apply`` is a classmethod: bound to the node's class
    if not (isinstance(node, type) and issubclass(node, torch.autograd.Function)):
        return {}
    modern = node.setup_context is not torch.autograd.Function.setup_context
    try:
        parameters = list(inspect.signature(node.forward).parameters.values())
        bound = inspect.Signature(parameters if modern else parameters[1:]).bind(*sample.args(), **sample.options)
        bound.apply_defaults()
        args = tuple(value.detach() if isinstance(value, torch.Tensor) else value for value in bound.args)
        ctx = engine.Context(tuple(name in sample.inputs and differentiable(value)
                                   for name, value in bound.arguments.items()))
        with torch.no_grad(), seeded(seed):
            output = node.forward(*args) if modern else node.forward(ctx, *args)
            if modern:
                node.setup_context(ctx, args, output)
            extra = len(output) - 1 if isinstance(output, tuple) else 0
            grads = node.backward(ctx, grad_output, *(None,) * extra)
    except Exception:  # noqa: BLE001 - a node that fails here fails again, reported, through autograd
        return {}
    grads = grads if isinstance(grads, tuple) else (grads,)
    return {name: grad for name, grad in zip(sample.inputs, grads) if isinstance(grad, torch.Tensor)}


def error_line(exception: BaseException) -> str:
    """``Type: first line of the message``: what a failed check shows in its table cell."""
    message = str(exception).strip()
    return f"{type(exception).__name__}: {message.splitlines()[0] if message else ''}"


def numpy_values(values):
    """Tensors as NumPy arrays for the reference (a dict's values, or a sequence); other values unchanged."""
    if isinstance(values, dict):
        return {key: as_numpy(v) if isinstance(v, torch.Tensor) else v for key, v in values.items()}
    return [as_numpy(v) if isinstance(v, torch.Tensor) else v for v in values]


# --------------------------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------------------------


def verify_sample(name: str, sample: cases.Sample, ours: Callable, seed: int = 0) -> list:
    """The checks of one sample of node ``name`` (see :func:`verify`), as a list of :class:`Check`."""
    info = cases.REGISTRY[name]
    label = f"{name} ({sample.note})" if sample.note else name
    node_seed = seed if info.random else None
    floats = [key for key, value in sample.inputs.items() if differentiable(value)]
    held = info.held(sample) if info.held else {}

    # Our forward and backward, through autograd, and backward's gradients as it returned them.
    ours_in = leaves(sample)
    try:
        output = call(ours, ours_in, sample.options, node_seed)
    except Exception as exception:  # noqa: BLE001 - a student's node may raise anything: report it
        return [Check(label, "forward", "error", False, "raised " + error_line(exception))]
    if not isinstance(output, torch.Tensor):
        return [Check(label, "forward", "error", False, f"returned a {type(output).__name__}, not a tensor")]
    generator = torch.Generator().manual_seed(seed)
    grad_output = torch.randn(output.shape, generator=generator, dtype=torch.float64).to(output.dtype)
    returned = returned_gradients(ours, sample, grad_output, node_seed)
    backward_error = None
    try:
        ours_grads = torch.autograd.grad(output, [ours_in[k] for k in floats], grad_output, allow_unused=True)
    except Exception as exception:  # noqa: BLE001
        backward_error = Check(label, "backward", "error", False, "raised " + error_line(exception))
        ours_grads = [returned.get(key) for key in floats]  # compare what backward returned, as far as known

    # The three views: the NumPy reference, PyTorch autograd, central differences.
    ref_args = numpy_values(info.reference_args(sample.inputs, output.detach()) if info.reference_args
                            else sample.args())
    ref_options = numpy_values(sample.options)
    ref_output = getattr(reference, name)(*ref_args, **ref_options)
    ref_grads = getattr(reference, name + "_backward")(as_numpy(grad_output), *ref_args, **ref_options)
    torch_in = leaves(sample)
    torch_output = call(info.torch_function(), torch_in, sample.options, node_seed)
    torch_grads = torch.autograd.grad(torch_output, [torch_in[k] for k in floats], grad_output, allow_unused=True)
    of_floats = functools.partial(call_with, ours, sample, held, node_seed)
    numerical = numerical_gradient(of_floats, [sample.inputs[k] for k in floats], grad_output=grad_output,
                                   eps=info.numerical_eps or NUMERICAL_EPS)

    checks = []
    for view, expected in (("reference", ref_output), ("torch", torch_output)):
        comparison = compare(output, expected)
        checks.append(Check(label, "output", view, comparison.passed, comparison.summary()))
    if backward_error:
        checks.append(backward_error)
    for key, ours_grad, ref_grad, torch_grad, num_grad in zip(floats, ours_grads, ref_grads, torch_grads, numerical):
        tensor = f"grad {key}"
        for view, expected, tolerances in (("reference", ref_grad, {}), ("torch", torch_grad, {}),
                                           ("numerical", num_grad, {"rtol": NUMERICAL_RTOL, "atol": NUMERICAL_ATOL})):
            comparison = compare(ours_grad, expected, **tolerances)
            checks.append(Check(label, tensor, view, comparison.passed, comparison.summary()))
        shape, expected_shape = getattr(returned.get(key), "shape", None), sample.inputs[key].shape
        if shape is not None and shape != expected_shape:
            detail = f"backward returned shape {tuple(shape)} for '{key}' of shape {tuple(expected_shape)}"
            checks.append(Check(label, tensor, "shape", False, detail))

    # PyTorch's own gradient checks, on fresh float64 leaves. A backward that is not itself differentiable
    # (once_differentiable) has no second derivative to check: that check is skipped, and says so.
    for check in (torch.autograd.gradcheck, torch.autograd.gradgradcheck):
        if check is torch.autograd.gradgradcheck and not info.twice_differentiable:
            checks.append(Check(label, check.__name__, check.__name__, False, "once differentiable", skipped=True))
            continue
        inputs = tuple(sample.inputs[k].detach().clone().requires_grad_() for k in floats)
        try:
            check(of_floats, inputs, eps=GRADCHECK_EPS, atol=GRADCHECK_ATOL, rtol=GRADCHECK_RTOL)
            checks.append(Check(label, check.__name__, check.__name__, True, "passed"))
        except Exception as exception:  # noqa: BLE001 - GradcheckError, or whatever the node raised
            checks.append(Check(label, check.__name__, check.__name__, False, error_line(exception)))
    return checks


def verify(node: str, ours: Callable | None = None, *, seed: int = 0,
           samples: Sequence[cases.Sample] | None = None) -> Report:
    """Verify one node four ways on each of its samples in :mod:`in5550.cases` (or on ``samples``).

    ``ours`` replaces the node (``in5550.functional.<node>``, or where its registry entry says it lives): pass
    your own node's ``apply`` (for example
    ``MyLinear.apply``) to check it on the same inputs; it is called with the positional arguments of each
    sample and its options as keywords. For each sample the report holds: the output against the NumPy reference
    and PyTorch; each gradient against the reference, PyTorch autograd and central differences, and its shape as
    backward returned it (only when ``ours`` is a node's ``apply`` itself, not a wrapper around it);
    ``gradcheck`` and ``gradgradcheck`` (skipped, and reported as skipped, for a node that is differentiable only
    once). Inputs are float64, drawn from ``seed``; so is the upstream gradient.
    """
    if node not in cases.REGISTRY:
        raise ValueError(f"verify: unknown node {node!r}; known nodes: {', '.join(cases.REGISTRY)}")
    if ours is None:
        ours = cases.REGISTRY[node].function()  # looked up at each call: a monkeypatched node is the one checked
    if samples is None:
        samples = cases.samples(node, seed=seed, dtype=torch.float64)
    return Report([check for sample in samples for check in verify_sample(node, sample, ours, seed)])


def verify_all(nodes: Sequence[str] | None = None, *, seed: int = 0) -> Report:
    """:func:`verify` for every node of :mod:`in5550.cases` (or only ``nodes``), in one report."""
    return Report([check for node in nodes or cases.REGISTRY for check in verify(node, seed=seed).checks])


# --------------------------------------------------------------------------------------------------------------
# in5550 check
# --------------------------------------------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument("--node", action="append", metavar="NAME",
                        help=f"check only this node (repeatable): {', '.join(cases.REGISTRY)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")


def run(args) -> int:
    unknown = [node for node in args.node or () if node not in cases.REGISTRY]
    if unknown:
        raise UsageError(f"unknown node {unknown[0]!r} for --node; known nodes: {', '.join(cases.REGISTRY)}")
    if not 0 <= args.seed < 2**63:  # what torch's generators accept
        raise UsageError(f"--seed must be in [0, 2**63), got {args.seed}")
    report = verify_all(args.node, seed=args.seed)
    print(report)
    return 0 if report.passed else 1
