r"""A glass-box engine: back-propagation over a computation graph, done by hand on the package's own nodes.

Building an expression from named :class:`Variable` s records a graph and computes nothing. :func:`forward` then
visits the nodes in topological order (every node after its inputs) and calls each node's ``forward`` and
``setup_context``; :func:`backward` visits them in reverse and calls each node's ``backward`` with the upstream
gradient, adding up the gradients of a variable that is used more than once (the multivariate chain rule,
:math:`\bar{x} = \sum_{y \text{ uses } x} \bar{y}\, \partial y / \partial x`). The nodes are the same
``torch.autograd.Function`` classes of :mod:`in5550.nodes` that PyTorch's autograd runs; the engine hands them a
small :class:`Context` of its own, so the whole algorithm is the two loops below. Every variable keeps its
``value`` and ``grad``, so :func:`table` can show the state of the graph after each pass.

Example, the lecture's graph (what does it produce for a = 2, b = 1?)::

    >>> from in5550 import engine
    >>> a, b = engine.Variable(2.0, name="a"), engine.Variable(1.0, name="b")
    >>> c = (a + b).named("c")
    >>> d = (b + 1).named("d")
    >>> e = (c * d).named("e")
    >>> engine.forward(e)
    tensor(6.)
    >>> engine.backward(e)
    >>> a.grad, b.grad
    (tensor(2.), tensor(5.))
"""

from __future__ import annotations

import itertools
import numbers

import torch

from in5550 import nodes
from in5550.functional import REDUCTIONS


_unnamed = itertools.count(1)


class Variable:
    """A node of the engine's graph: a leaf (an input, a parameter, a constant) or the result of a node.

    ``Variable(value, name=..., requires_grad=...)`` makes a leaf; its ``value`` is ``torch.as_tensor(value)``.
    ``requires_grad`` defaults to True for floating-point values and False for integers (token ids, targets).
    Results of nodes are made by ``+``, ``*`` and the functions of this module; their ``value`` is ``None`` until
    :func:`forward` has run. ``grad`` is :math:`\\partial L / \\partial v` after :func:`backward`.
    A variable made without a name is called ``v1``, ``v2``, ... in the order of creation.
    """

    def __init__(self, value=None, name: str | None = None, requires_grad: bool | None = None,
                 op: type | None = None, inputs: tuple = ()):
        self.value = None if value is None else torch.as_tensor(value).detach()
        if op is None and self.value is None:
            raise ValueError(f"Variable: a leaf needs a value (name={name!r})")
        if requires_grad is None:
            requires_grad = self.value.is_floating_point() if op is None else any(
                isinstance(x, Variable) and x.requires_grad for x in inputs)
        self.name = f"v{next(_unnamed)}" if name is None else name
        self.requires_grad = requires_grad
        self.op, self.inputs = op, inputs  # the node that computes this variable, and its arguments
        self.ctx: Context | None = None
        self.extra_outputs = 0  # outputs after the first (Dropout's mask): the engine passes them no gradient
        self.grad: torch.Tensor | None = None

    def named(self, name: str) -> Variable:
        """Give this variable a name (shown by :func:`table` and in drawings) and return it."""
        self.name = name
        return self

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __repr__(self):
        return f"Variable({describe(self)}, value={self.value}, grad={self.grad})"


class Context:
    """The ``ctx`` the engine gives a node: the part of autograd's context object that nodes use."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        pass  # the engine only ever differentiates a node's first output


# --------------------------------------------------------------------------------------------------------------
# The algorithm: topological order, forward sweep, backward sweep.
# --------------------------------------------------------------------------------------------------------------


def topological_order(output: Variable) -> list[Variable]:
    """Every variable that ``output`` depends on, each after all of its inputs (a depth-first post-order)."""
    order, visited, stack = [], set(), [(output, False)]
    while stack:  # an explicit stack rather than recursion, so that deep graphs work too
        v, inputs_done = stack.pop()
        if inputs_done:
            order.append(v)
        elif id(v) not in visited:
            visited.add(id(v))
            stack.append((v, True))
            stack.extend((x, False) for x in reversed(v.inputs) if isinstance(x, Variable))
    return order


def forward(output: Variable, trace: bool = False) -> torch.Tensor:
    """The forward pass: compute every node's value from its inputs, in topological order; return ``output.value``.

    Leaves keep the values they hold, so changing ``a.value`` and calling ``forward`` again reruns the same graph.
    With ``trace=True`` each step is printed as it happens.
    """
    for v in topological_order(output):
        v.grad = None
        if v.op is not None:
            args = tuple(x.value if isinstance(x, Variable) else x for x in v.inputs)
            v.ctx = Context(tuple(isinstance(x, Variable) and x.requires_grad for x in v.inputs))
            out = _call(v, v.op.forward, *args)
            v.op.setup_context(v.ctx, args, out)
            v.value, v.extra_outputs = (out[0], len(out) - 1) if isinstance(out, tuple) else (out, 0)
        if trace:
            print(f"forward   {describe(v):<28} value = {format_value(v.value)}")
    return output.value


def backward(output: Variable, grad_output: torch.Tensor | None = None, trace: bool = False,
             on_step=None) -> None:
    """The backward pass: from ``output`` back to the leaves, in reverse topological order, each node turns the
    gradient of its output into gradients of its inputs (``node.backward``); a variable used several times sums
    the gradients of all its uses. Afterwards every variable's ``grad`` is :math:`\\partial output / \\partial v`.

    ``grad_output`` is the gradient to start from; it defaults to 1, which needs a scalar ``output``.
    ``on_step(v, grads)``, if given, is called after each variable is processed with the gradients it sent to
    its inputs (a tuple, one per input, None where none was sent; empty for a leaf): the drawings animate this.
    """
    order = topological_order(output)
    for v in order:
        v.grad = None
    output.grad = _seed(output, grad_output)
    for v in reversed(order):
        if trace:
            print(f"backward  {describe(v):<28} grad  = {format_value(v.grad)}")
        if v.op is None or v.grad is None or not v.requires_grad:
            if on_step is not None and v.requires_grad:
                on_step(v, ())
            continue
        grads = _call(v, v.op.backward, v.ctx, v.grad, *(None,) * v.extra_outputs)
        sent = []
        for x, g in zip(v.inputs, grads if isinstance(grads, tuple) else (grads,)):
            if isinstance(x, Variable) and x.requires_grad and g is not None:
                g = _fit(v, x, g)
                x.grad = g if x.grad is None else x.grad + g
            else:
                g = None
            sent.append(g)
        if on_step is not None:
            on_step(v, tuple(sent))


# --------------------------------------------------------------------------------------------------------------
# Building graphs: the nodes of in5550.nodes as functions of Variables.
# --------------------------------------------------------------------------------------------------------------


def apply(op: type, *args, name: str | None = None) -> Variable:
    """Record one node ``op`` (a ``torch.autograd.Function`` with the modern API) applied to ``args``.

    Arguments that are Variables become edges of the graph; numbers become unnamed constant leaves; anything
    else (a ``dim``, a ``reduction``, ``None``) is passed to the node as it is.
    """
    if not (isinstance(op, type) and issubclass(op, torch.autograd.Function)):
        raise TypeError(f"engine.apply: argument 'op' must be a torch.autograd.Function subclass, got {op!r}")
    inputs = tuple(Variable(x, name=_number(x), requires_grad=False)
                   if isinstance(x, numbers.Number) and not isinstance(x, bool) else x for x in args)
    return Variable(op=op, inputs=inputs, name=name)


def add(input, other, name: str | None = None) -> Variable:
    """``input + other`` (the :class:`~in5550.nodes.Add` node); either may be a number."""
    return apply(nodes.Add, _variable("add", "input", input), _variable("add", "other", other), name=name)


def mul(input, other, name: str | None = None) -> Variable:
    """``input * other`` elementwise (the :class:`~in5550.nodes.Mul` node); either may be a number."""
    return apply(nodes.Mul, _variable("mul", "input", input), _variable("mul", "other", other), name=name)


def exp(input: Variable, name: str | None = None) -> Variable:
    """:math:`e^x` elementwise."""
    return apply(nodes.Exp, _variable("exp", "input", input), name=name)


def log(input: Variable, name: str | None = None) -> Variable:
    """:math:`\\log x` elementwise."""
    return apply(nodes.Log, _variable("log", "input", input), name=name)


def relu(input: Variable, name: str | None = None) -> Variable:
    """:math:`\\max(x, 0)` elementwise."""
    return apply(nodes.ReLU, _variable("relu", "input", input), name=name)


def sigmoid(input: Variable, name: str | None = None) -> Variable:
    """:math:`1 / (1 + e^{-x})` elementwise."""
    return apply(nodes.Sigmoid, _variable("sigmoid", "input", input), name=name)


def tanh(input: Variable, name: str | None = None) -> Variable:
    """:math:`\\tanh x` elementwise."""
    return apply(nodes.Tanh, _variable("tanh", "input", input), name=name)


def linear(input: Variable, weight: Variable, bias: Variable | None = None, name: str | None = None) -> Variable:
    """:math:`x W^T + b` for ``input`` ``(*, in)``, ``weight`` ``(out, in)``, ``bias`` ``(out,)`` or None."""
    bias = None if bias is None else _variable("linear", "bias", bias)
    return apply(nodes.Linear, _variable("linear", "input", input), _variable("linear", "weight", weight), bias,
                 name=name)


def softmax(input: Variable, dim: int, name: str | None = None) -> Variable:
    """Softmax along ``dim``."""
    return apply(nodes.Softmax, _variable("softmax", "input", input), _int("softmax", "dim", dim), name=name)


def log_softmax(input: Variable, dim: int, name: str | None = None) -> Variable:
    """Log-softmax along ``dim``."""
    return apply(nodes.LogSoftmax, _variable("log_softmax", "input", input), _int("log_softmax", "dim", dim),
                 name=name)


def cross_entropy(input: Variable, target: Variable, reduction: str = "mean", name: str | None = None) -> Variable:
    """Softmax and cross-entropy fused, for logits ``(N, C)`` and class indices ``(N,)``."""
    return apply(nodes.CrossEntropy, _variable("cross_entropy", "input", input),
                 _variable("cross_entropy", "target", target), -100, _reduction("cross_entropy", reduction), 0.0,
                 name=name)


def mse_loss(input: Variable, target: Variable, reduction: str = "mean", name: str | None = None) -> Variable:
    """Squared error :math:`(x - t)^2`, reduced."""
    return apply(nodes.MSELoss, _variable("mse_loss", "input", input), _variable("mse_loss", "target", target),
                 _reduction("mse_loss", reduction), name=name)


def embedding(input: Variable, weight: Variable, name: str | None = None) -> Variable:
    """Rows of ``weight`` ``(V, D)`` for the token ids ``input``."""
    return apply(nodes.Embedding, _variable("embedding", "input", input), _variable("embedding", "weight", weight),
                 None, name=name)


# --------------------------------------------------------------------------------------------------------------
# Showing the graph.
# --------------------------------------------------------------------------------------------------------------

# How a node is written in a formula: infix for + and *, the node's class name called on its inputs otherwise.
SYMBOLS = {"Add": "+", "Mul": "*"}


def describe(v: Variable) -> str:
    """``"c = a + b"`` for a node, ``"a"`` for a leaf: the variable as a line of a program."""
    if v.op is None:
        return v.name
    args = [x.name for x in v.inputs if isinstance(x, Variable)]  # options like dim or reduction are left out
    op = v.op.__name__
    return f"{v.name} = " + (f" {SYMBOLS[op]} ".join(args) if op in SYMBOLS else f"{op}({', '.join(args)})")


def table(output: Variable) -> str:
    """The graph as a table, one row per variable in topological order: its formula, value and gradient."""
    rows = [("node", "value", "grad")] + [
        (describe(v), format_value(v.value), format_value(v.grad)) for v in topological_order(output)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def format_value(t: torch.Tensor | None) -> str:
    """A value for a table cell: numbers for up to 4 elements, otherwise the shape."""
    if t is None:
        return "-"
    if t.numel() <= 4:
        numbers_ = [f"{x:.4g}" for x in t.detach().double().reshape(-1).tolist()]
        return numbers_[0] if t.dim() == 0 else "[" + ", ".join(numbers_) + "]"
    return f"{tuple(t.shape)} tensor"


# --------------------------------------------------------------------------------------------------------------
# Checks and plumbing.
# --------------------------------------------------------------------------------------------------------------


def _variable(fn: str, name: str, x):
    if isinstance(x, Variable) or (isinstance(x, numbers.Number) and not isinstance(x, bool)):
        return x
    raise TypeError(f"engine.{fn}: argument '{name}' must be an engine.Variable or a number, got {type(x).__name__}")


def _int(fn: str, name: str, x) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"engine.{fn}: argument '{name}' must be an int, got {x!r}")
    return x


def _reduction(fn: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"engine.{fn}: argument 'reduction' must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _seed(output: Variable, grad_output: torch.Tensor | None) -> torch.Tensor:
    if output.value is None:
        raise RuntimeError(f"engine.backward: run engine.forward first (no value for {describe(output)!r})")
    if grad_output is None:
        if output.value.numel() != 1:
            raise RuntimeError(f"engine.backward: 'output' {describe(output)!r} has shape {tuple(output.value.shape)}; "
                               "pass grad_output for a non-scalar output")
        return torch.ones_like(output.value)
    grad_output = torch.as_tensor(grad_output, dtype=output.value.dtype)
    if grad_output.shape != output.value.shape:
        raise ValueError(f"engine.backward: argument 'grad_output' has shape {tuple(grad_output.shape)}, expected "
                         f"{tuple(output.value.shape)} like the output {describe(output)!r}")
    return grad_output


def _call(v: Variable, method, *args):
    """Run a node's forward or backward; on failure, say which node and which input shapes were involved."""
    try:
        return method(*args)
    except Exception as error:
        shapes = ", ".join(str(tuple(x.value.shape)) if isinstance(x, Variable) else repr(x) for x in v.inputs)
        raise RuntimeError(f"engine: {v.op.__name__}.{method.__name__} failed at {describe(v)!r} "
                           f"with inputs {shapes}: {error}") from error


def _fit(v: Variable, x: Variable, g: torch.Tensor) -> torch.Tensor:
    """Check a gradient's shape against its input's, summing over broadcast dimensions as autograd does."""
    shape = x.value.shape
    if g.shape != shape:
        try:
            g = g.sum_to_size(shape)
        except RuntimeError:
            raise RuntimeError(f"engine: {v.op.__name__}.backward at {describe(v)!r} returned a gradient of shape "
                               f"{tuple(g.shape)} for input {x.name!r} of shape {tuple(shape)}") from None
    return g
