r"""Hand-derived reference gradients in NumPy (float64): the independent derivation the nodes are checked against.

Nothing here uses PyTorch, its autograd or :mod:`in5550.nodes`. Every node of :mod:`in5550.functional` (and the
von Mises-Fisher loss of :mod:`in5550.vmf`, whose Bessel functions come from SciPy) appears as a pair of functions
with one uniform shape:

- ``name(*inputs, **options) -> y``: the forward pass, on NumPy arrays;
- ``name_backward(grad_output, *inputs, **options) -> tuple``: the backward pass. It takes the upstream gradient
  $\bar y = \partial L / \partial y$ followed by exactly the forward's arguments, and returns the local gradients
  $\bar x = \partial L / \partial x$: **one per floating-point tensor argument, in argument order** (``None`` for
  an optional one that is absent). Integer arguments (targets, token ids, offsets) and boolean masks get no entry.

So ``linear_backward -> (grad_input, grad_weight, grad_bias)``, ``add_backward -> (grad_input, grad_other)``,
``mse_loss_backward -> (grad_input, grad_target)``, ``cross_entropy_backward -> (grad_input,)`` and
``embedding_backward -> (grad_weight,)``. Class weights and ``pos_weight`` are constants: no gradient.

Options carry the names and defaults of :mod:`torch.nn.functional` (``reduction``, ``ignore_index``,
``label_smoothing``, ``dim``, ``padding_idx``, ``mode``, ``offsets``, ...). The last part of this module
back-propagates a whole MLP sentence classifier by hand with these pieces: :func:`mlp_forward` and
:func:`mlp_backward`.

Notation in the docstrings: $\bar v$ is the gradient of the final loss $L$ with respect to $v$; $\odot$ is the
elementwise product. The docstrings are Markdown with LaTeX: ``IPython.display.Markdown(reference.linear.__doc__)``
renders them in Jupyter.

Example:

>>> import numpy as np
>>> from in5550 import reference as ref
>>> x, w, b = np.ones((2, 3)), np.full((4, 3), 0.5), np.zeros(4)
>>> ref.linear(x, w, b).shape
(2, 4)
>>> grad_x, grad_w, grad_b = ref.linear_backward(np.ones((2, 4)), x, w, b)
>>> grad_b          # the bias is used by both rows: its gradient sums over the batch
array([2., 2., 2., 2.])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

REDUCTIONS = ("none", "mean", "sum")
BAG_MODES = ("sum", "mean", "max")

# PyTorch clamps the logarithms of binary_cross_entropy at -100 (so that p = 0 or 1 gives a finite loss) and the
# denominator of its input gradient at 1e-12, a single-precision constant even for float64 inputs; the reference
# does the same so that both agree to the last digit at p = 0 and 1.
BCE_LOG_MIN = -100.0
BCE_GRAD_EPS = float(np.float32(1e-12))


# --------------------------------------------------------------------------------------------------------------
# Argument checks: a bad argument raises an error naming the function, the argument and the offending value.
# --------------------------------------------------------------------------------------------------------------


def _floats(fn: str, name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":  # numbers, not strings or objects
        raise TypeError(f"{fn}: argument '{name}' must be numeric, got dtype {array.dtype}")
    return array.astype(np.float64)


def _ints(fn: str, name: str, value) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: argument '{name}' must hold integer indices, got dtype {array.dtype} of shape {array.shape}"
        )
    return array.astype(np.int64)


def _in_range(fn: str, name: str, ids: np.ndarray, size: int, allowed: int | None = None) -> None:
    bad = (ids < 0) | (ids >= size)
    if allowed is not None:
        bad &= ids != allowed
    if bad.any():
        raise IndexError(f"{fn}: argument '{name}' holds index {ids[bad][0]}, outside [0, {size})")


def _same_shape(fn: str, input: np.ndarray, target: np.ndarray) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{fn}: argument 'target' must have the shape of 'input' {input.shape}, got {target.shape}")


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: argument 'reduction' must be one of {REDUCTIONS}, got {reduction!r}")


def _check_dim(fn: str, x: np.ndarray, dim: int) -> None:
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise ValueError(f"{fn}: argument 'dim' is {dim}, out of range for input of shape {x.shape}")


def _upstream(fn: str, grad_output, shape: tuple) -> np.ndarray:
    """The upstream gradient as float64, checked to have the shape of the forward's output."""
    g = np.asarray(grad_output, dtype=np.float64)
    if g.shape != tuple(shape):
        raise ValueError(f"{fn}: argument 'grad_output' must have the output's shape {tuple(shape)}, got {g.shape}")
    return g


def _broadcast_shape(fn: str, a: np.ndarray, b: np.ndarray) -> tuple:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{fn}: shapes of 'input' {a.shape} and 'other' {b.shape} cannot be broadcast") from None


# --------------------------------------------------------------------------------------------------------------
# Reductions, shared by every loss
# --------------------------------------------------------------------------------------------------------------


def _reduce(loss: np.ndarray, reduction: str, count) -> np.ndarray:
    r"""$\sum_n \ell_n / \mathrm{count}$ (``"mean"``), $\sum_n \ell_n$ (``"sum"``) or the $\ell_n$ (``"none"``)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(loss.sum())
    with np.errstate(invalid="ignore", divide="ignore"):  # everything ignored: 0 / 0 = nan, as in PyTorch
        return np.asarray(loss.sum() / count)


def _unreduce(fn: str, grad_output, reduction: str, count, shape: tuple) -> np.ndarray:
    r"""Backward of :func:`_reduce`: the upstream gradient of each $\ell_n$, $\bar L / \mathrm{count}$ (mean),
    $\bar L$ (sum) or $\bar\ell_n$ itself (none)."""
    grad_output = _upstream(fn, grad_output, shape if reduction == "none" else ())
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            grad_output = grad_output / count
    return np.broadcast_to(grad_output, shape)


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched, back to ``shape``."""
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)


# --------------------------------------------------------------------------------------------------------------
# Elementwise and arithmetic
# --------------------------------------------------------------------------------------------------------------


def add(input, other) -> np.ndarray:
    r"""$y = a + b$ with broadcasting."""
    a, b = _floats("add", "input", input), _floats("add", "other", other)
    _broadcast_shape("add", a, b)
    return a + b


def add_backward(grad_output, input, other) -> tuple:
    r"""$\partial y / \partial a = \partial y / \partial b = 1$, so $\bar a = \bar y$ and $\bar b = \bar y$.

    An input that broadcasting stretched was used once per copy, so its gradient sums over the copies:
    $\bar a = \sum_{\text{broadcast dims}} \bar y$. Returns ``(grad_input, grad_other)``, shaped like the inputs.
    """
    a, b = _floats("add_backward", "input", input), _floats("add_backward", "other", other)
    g = _upstream("add_backward", grad_output, _broadcast_shape("add_backward", a, b))
    return _unbroadcast(g, a.shape), _unbroadcast(g, b.shape)


def mul(input, other) -> np.ndarray:
    r"""$y = a \odot b$ with broadcasting."""
    a, b = _floats("mul", "input", input), _floats("mul", "other", other)
    _broadcast_shape("mul", a, b)
    return a * b


def mul_backward(grad_output, input, other) -> tuple:
    r"""$\partial y / \partial a = b$ and $\partial y / \partial b = a$, so $\bar a = \bar y \odot b$ and
    $\bar b = \bar y \odot a$, each summed over the dimensions broadcasting stretched.

    Returns ``(grad_input, grad_other)``.
    """
    a, b = _floats("mul_backward", "input", input), _floats("mul_backward", "other", other)
    g = _upstream("mul_backward", grad_output, _broadcast_shape("mul_backward", a, b))
    return _unbroadcast(g * b, a.shape), _unbroadcast(g * a, b.shape)


def exp(input) -> np.ndarray:
    r"""$y = e^x$."""
    return np.exp(_floats("exp", "input", input))


def exp_backward(grad_output, input) -> tuple:
    r"""$\partial y / \partial x = e^x$, so $\bar x = \bar y \odot e^x$. Returns ``(grad_input,)``."""
    x = _floats("exp_backward", "input", input)
    return (_upstream("exp_backward", grad_output, x.shape) * np.exp(x),)


def log(input) -> np.ndarray:
    r"""$y = \log x$ (natural logarithm); $-\infty$ at 0, like PyTorch."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_floats("log", "input", input))


def log_backward(grad_output, input) -> tuple:
    r"""$\partial y / \partial x = 1 / x$, so $\bar x = \bar y / x$. Returns ``(grad_input,)``."""
    x = _floats("log_backward", "input", input)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_upstream("log_backward", grad_output, x.shape) / x,)


def relu(input) -> np.ndarray:
    r"""$y = \max(x, 0)$."""
    return np.maximum(_floats("relu", "input", input), 0.0)


def relu_backward(grad_output, input) -> tuple:
    r"""$\partial y / \partial x = [x > 0]$ (0 at the kink $x = 0$, PyTorch's choice), so
    $\bar x = \bar y \odot [x > 0]$. Returns ``(grad_input,)``."""
    x = _floats("relu_backward", "input", input)
    return (_upstream("relu_backward", grad_output, x.shape) * (x > 0),)


def sigmoid(input) -> np.ndarray:
    r"""$y = \sigma(x) = 1 / (1 + e^{-x})$, computed as $e^{-\log(1 + e^{-x})}$ with ``logaddexp`` so that no
    exponential overflows (finite for $x = \pm 1000$)."""
    return np.exp(-np.logaddexp(0.0, -_floats("sigmoid", "input", input)))


def sigmoid_backward(grad_output, input) -> tuple:
    r"""$\partial y / \partial x = \dfrac{e^{-x}}{(1 + e^{-x})^2} = \sigma(x)\,(1 - \sigma(x))$, so
    $\bar x = \bar y \odot \sigma(x) \odot (1 - \sigma(x))$. Returns ``(grad_input,)``."""
    s = sigmoid(input)
    return (_upstream("sigmoid_backward", grad_output, s.shape) * s * (1 - s),)


def tanh(input) -> np.ndarray:
    r"""$y = \tanh x = (e^x - e^{-x}) / (e^x + e^{-x})$."""
    return np.tanh(_floats("tanh", "input", input))


def tanh_backward(grad_output, input) -> tuple:
    r"""$\partial y / \partial x = 1 - \tanh^2 x$ (quotient rule), so $\bar x = \bar y \odot (1 - \tanh^2 x)$.
    Returns ``(grad_input,)``."""
    y = tanh(input)
    return (_upstream("tanh_backward", grad_output, y.shape) * (1 - y**2),)


# --------------------------------------------------------------------------------------------------------------
# Linear layer
# --------------------------------------------------------------------------------------------------------------


def _linear_args(fn: str, input, weight, bias):
    x, w = _floats(fn, "input", input), _floats(fn, "weight", weight)
    b = None if bias is None else _floats(fn, "bias", bias)
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{fn}: 'input' {x.shape} and 'weight' {w.shape} do not fit: need (*, in) and (out, in)")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{fn}: argument 'bias' must have shape ({w.shape[0]},), got {b.shape}")
    return x, w, b


def linear(input, weight, bias=None) -> np.ndarray:
    r"""$y = x W^\top + b$, i.e. $y_{\dots o} = \sum_i x_{\dots i} W_{oi} + b_o$.

    Shapes: ``input`` $(*, \mathit{in})$ with any number of leading dimensions,
    ``weight`` $(\mathit{out}, \mathit{in})$, ``bias`` $(\mathit{out},)$ or None; ``y`` $(*, \mathit{out})$.
    """
    x, w, b = _linear_args("linear", input, weight, bias)
    y = x @ w.T
    return y if b is None else y + b


def linear_backward(grad_output, input, weight, bias=None) -> tuple:
    r"""Flatten the leading dimensions into $N$ rows $x_n$. From $y_{no} = \sum_i x_{ni} W_{oi} + b_o$:

    - $\partial y_{no} / \partial x_{ni} = W_{oi}$, so $\bar x = \bar y\, W$;
    - $\partial y_{no} / \partial W_{oi} = x_{ni}$ for every row $n$, so $\bar W = \sum_n \bar y_n x_n^\top
      = \bar y^\top x$ (note the transpose: $\bar W$ has the shape of $W$, $(\mathit{out}, \mathit{in})$);
    - $\partial y_{no} / \partial b_o = 1$ for every row $n$, so $\bar b = \sum_n \bar y_n$, summed over the batch.

    Returns ``(grad_input, grad_weight, grad_bias)``; ``grad_bias`` is None when ``bias`` is None.
    """
    x, w, b = _linear_args("linear_backward", input, weight, bias)
    g = _upstream("linear_backward", grad_output, x.shape[:-1] + w.shape[:1])
    rows_g, rows_x = g.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])
    return g @ w, rows_g.T @ rows_x, None if b is None else rows_g.sum(axis=0)


# --------------------------------------------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------------------------------------------


def log_softmax(input, dim: int) -> np.ndarray:
    r"""$y_i = x_i - \log \sum_j e^{x_j} = (x_i - m) - \log \sum_j e^{x_j - m}$ along ``dim``, $m = \max_j x_j$.

    Subtracting the maximum leaves every exponent $\le 0$, so logits of $\pm 10^4$ do not overflow.
    """
    x = _floats("log_softmax", "input", input)
    _check_dim("log_softmax", x, dim)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(grad_output, input, dim: int) -> tuple:
    r"""$\partial y_i / \partial x_j = \delta_{ij} - \mathrm{softmax}(x)_j$, so
    $\bar x_j = \sum_i \bar y_i (\delta_{ij} - s_j) = \bar y_j - s_j \sum_i \bar y_i$ with $s = \mathrm{softmax}(x)$.
    Returns ``(grad_input,)``."""
    s = np.exp(log_softmax(input, dim))
    g = _upstream("log_softmax_backward", grad_output, s.shape)
    return (g - s * np.sum(g, axis=dim, keepdims=True),)


def softmax(input, dim: int) -> np.ndarray:
    r"""$y_i = e^{x_i} / \sum_j e^{x_j}$ along ``dim`` (as $e^{\log\mathrm{softmax}(x)_i}$, which is stable)."""
    return np.exp(log_softmax(input, dim))


def softmax_backward(grad_output, input, dim: int) -> tuple:
    r"""$\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)$, so
    $\bar x_j = \sum_i \bar y_i\, y_i (\delta_{ij} - y_j) = y_j \big(\bar y_j - \sum_i \bar y_i y_i\big)$:
    the Jacobian is never built. Returns ``(grad_input,)``."""
    y = softmax(input, dim)
    g = _upstream("softmax_backward", grad_output, y.shape)
    return (y * (g - np.sum(g * y, axis=dim, keepdims=True)),)


# --------------------------------------------------------------------------------------------------------------
# Class-index losses: cross_entropy and nll_loss
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _ClassTargets:
    """Scores with the class axis moved last, ``(M..., C)``, and what the targets select from them."""

    scores: np.ndarray  # (..., C)
    index: np.ndarray  # (...): target classes, ignored ones replaced by 0 so that they can be gathered
    keep: np.ndarray  # (...): True for targets that count, False for ignored ones
    sample_weight: np.ndarray  # (...): w[t_n] for targets that count, 0 for ignored ones
    class_weight: np.ndarray  # (C,)
    class_axis: int


def _class_targets(fn: str, input, target, weight, ignore_index: int, reduction: str) -> _ClassTargets:
    """Check scores ``(N, C, d1, ...)`` or ``(C,)`` against targets ``(N, d1, ...)`` or ``()``."""
    _check_reduction(fn, reduction)
    x, t = _floats(fn, "input", input), _ints(fn, "target", target)
    class_axis = 0 if x.ndim == 1 else 1
    expected = x.shape[:class_axis] + x.shape[class_axis + 1:]
    if x.ndim == 0 or t.shape != expected:
        raise ValueError(f"{fn}: argument 'target' of shape {t.shape} does not fit 'input' {x.shape} (need {expected})")
    num_classes = x.shape[class_axis]
    _in_range(fn, "target", t, num_classes, allowed=ignore_index)
    w = np.ones(num_classes) if weight is None else _floats(fn, "weight", weight)
    if w.shape != (num_classes,):
        raise ValueError(f"{fn}: argument 'weight' must have shape ({num_classes},), got {w.shape}")
    keep = t != ignore_index
    index = np.where(keep, t, 0)
    return _ClassTargets(np.moveaxis(x, class_axis, -1), index, keep, w[index] * keep, w, class_axis)


def _pick(scores: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``scores[..., index]`` element by element: the score of each sample's target class."""
    return np.take_along_axis(scores, index[..., None], axis=-1)[..., 0]


def _one_hot(index: np.ndarray, num_classes: int) -> np.ndarray:
    return (index[..., None] == np.arange(num_classes)).astype(np.float64)


def _sample_grads(fn: str, grad_output, reduction: str, ct: _ClassTargets) -> np.ndarray:
    """The upstream gradient of each sample's loss (:func:`_unreduce`), 0 for ignored samples: PyTorch's gradient
    there, even when every sample is ignored and the mean's share of each is 1 / 0."""
    return np.where(ct.keep, _unreduce(fn, grad_output, reduction, ct.sample_weight.sum(), ct.index.shape), 0.0)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> np.ndarray:
    r"""Negative log-likelihood of class indices given log-probabilities $x$:
    $\ell_n = -w_{t_n} x_{n, t_n}$, and $\ell_n = 0$ where $t_n$ equals ``ignore_index``.

    ``"mean"`` divides by $\sum_n w_{t_n}$ over the targets that count (their number without ``weight``).
    Shapes: ``input`` $(N, C)$, $(N, C, d_1, \dots)$ or $(C,)$; ``target`` $(N,)$, $(N, d_1, \dots)$ or $()$.
    """
    ct = _class_targets("nll_loss", input, target, weight, ignore_index, reduction)
    return _reduce(-ct.sample_weight * _pick(ct.scores, ct.index), reduction, ct.sample_weight.sum())


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    r"""$\partial \ell_n / \partial x_{n,c} = -w_{t_n} [c = t_n]$, so $\bar x_n = -\bar\ell_n\, w_{t_n}
    \mathrm{onehot}(t_n)$ with $\bar\ell_n$ the upstream gradient of sample $n$ ($\bar L / \sum_n w_{t_n}$ for
    ``"mean"``). Returns ``(grad_input,)``."""
    ct = _class_targets("nll_loss_backward", input, target, weight, ignore_index, reduction)
    grad_loss = _sample_grads("nll_loss_backward", grad_output, reduction, ct)
    grad = -(grad_loss * ct.sample_weight)[..., None] * _one_hot(ct.index, ct.scores.shape[-1])
    return (np.moveaxis(grad, -1, ct.class_axis),)


def cross_entropy(
    input, target, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0
) -> np.ndarray:
    r"""Cross-entropy of logits $x_n$ against class indices $t_n$, with label smoothing $\varepsilon$ over $C$
    classes. With $\log p_n = \log\mathrm{softmax}(x_n)$:

    $$\ell_n = (1 - \varepsilon)\,\big(-w_{t_n} \log p_{n, t_n}\big)
              + \frac{\varepsilon}{C} \Big(-\sum_c w_c \log p_{n,c}\Big),$$

    $\ell_n = 0$ where $t_n$ equals ``ignore_index``, and ``"mean"`` divides $\sum_n \ell_n$ by $\sum_n w_{t_n}$
    over the targets that count (their number without ``weight``), exactly as PyTorch does.
    Shapes: ``input`` $(N, C)$, $(N, C, d_1, \dots)$ or $(C,)$; ``target`` integers $(N,)$, $(N, d_1, \dots)$ or $()$.
    """
    ct = _class_targets("cross_entropy", input, target, weight, ignore_index, reduction)
    log_p = log_softmax(ct.scores, -1)
    eps, num_classes = label_smoothing, ct.scores.shape[-1]
    loss = -(1 - eps) * ct.sample_weight * _pick(log_p, ct.index)
    loss -= eps / num_classes * ct.keep * (log_p * ct.class_weight).sum(axis=-1)
    return _reduce(loss, reduction, ct.sample_weight.sum())


def cross_entropy_backward(
    grad_output, input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> tuple:
    r"""Since $\partial(-\log p_{n,k}) / \partial x_n = p_n - \mathrm{onehot}(k)$ for every class $k$,

    $$\frac{\partial \ell_n}{\partial x_n} = (1 - \varepsilon)\, w_{t_n} \big(p_n - \mathrm{onehot}(t_n)\big)
       + \frac{\varepsilon}{C} \Big(\big(\textstyle\sum_c w_c\big)\, p_n - w\Big),$$

    which without class weights is "softmax minus the smoothed one-hot target", $p_n - q_n$ with
    $q_n = (1 - \varepsilon)\,\mathrm{onehot}(t_n) + \varepsilon / C$. Then $\bar x_n = \bar\ell_n\,
    \partial\ell_n/\partial x_n$, with $\bar\ell_n = \bar L / \sum_n w_{t_n}$ for ``"mean"``; ignored samples get 0.
    Returns ``(grad_input,)``.
    """
    ct = _class_targets("cross_entropy_backward", input, target, weight, ignore_index, reduction)
    p = np.exp(log_softmax(ct.scores, -1))
    eps, num_classes = label_smoothing, ct.scores.shape[-1]
    local = (1 - eps) * ct.sample_weight[..., None] * (p - _one_hot(ct.index, num_classes))
    local += eps / num_classes * ct.keep[..., None] * (ct.class_weight.sum() * p - ct.class_weight)
    grad_loss = _sample_grads("cross_entropy_backward", grad_output, reduction, ct)
    return (np.moveaxis(grad_loss[..., None] * local, -1, ct.class_axis),)


# --------------------------------------------------------------------------------------------------------------
# Pointwise losses: binary cross-entropy (on probabilities and on logits) and squared error
# --------------------------------------------------------------------------------------------------------------


def _pointwise_args(fn: str, input, target, reduction: str, weight=None):
    _check_reduction(fn, reduction)
    x, t = _floats(fn, "input", input), _floats(fn, "target", target)
    _same_shape(fn, x, t)
    w = np.ones_like(x) if weight is None else np.broadcast_to(_floats(fn, "weight", weight), x.shape)
    return x, t, w


def _bce_logs(p: np.ndarray) -> tuple:
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
        return np.maximum(np.log(p), BCE_LOG_MIN), np.maximum(np.log1p(-p), BCE_LOG_MIN)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> np.ndarray:
    r"""$\ell = -w\,\big[t \log p + (1 - t) \log(1 - p)\big]$ for probabilities $p$ (sigmoid outputs), with both
    logarithms clamped at $-100$ as in PyTorch so that $p \in \{0, 1\}$ gives a finite loss. ``"mean"`` divides by
    the number of elements."""
    fn = "binary_cross_entropy"
    p, t, w = _pointwise_args(fn, input, target, reduction, weight)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"{fn}: argument 'input' must hold probabilities in [0, 1], got {p[(p < 0) | (p > 1)][0]}")
    log_p, log_1mp = _bce_logs(p)
    return _reduce(-w * (t * log_p + (1 - t) * log_1mp), reduction, p.size)


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction: str = "mean") -> tuple:
    r"""$\dfrac{\partial \ell}{\partial p} = -w\Big(\dfrac{t}{p} - \dfrac{1 - t}{1 - p}\Big)
    = w\,\dfrac{p - t}{p(1 - p)}$, with the denominator clamped at $10^{-12}$ (PyTorch's choice), and
    $\dfrac{\partial \ell}{\partial t} = -w\,\big(\log p - \log(1 - p)\big)$ with the clamped logarithms.
    Returns ``(grad_input, grad_target)``."""
    p, t, w = _pointwise_args("binary_cross_entropy_backward", input, target, reduction, weight)
    grad_loss = _unreduce("binary_cross_entropy_backward", grad_output, reduction, p.size, p.shape) * w
    log_p, log_1mp = _bce_logs(p)
    return grad_loss * (p - t) / np.maximum(p * (1 - p), BCE_GRAD_EPS), grad_loss * (log_1mp - log_p)


def _softplus(x: np.ndarray) -> np.ndarray:
    """$\\log(1 + e^x)$ without overflow."""
    return np.logaddexp(0.0, x)


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction: str = "mean", pos_weight=None
) -> np.ndarray:
    r"""Sigmoid and binary cross-entropy in one, on logits $x$, with $\rho$ = ``pos_weight`` (default 1):

    $$\ell = -w\,\big[\rho\, t \log\sigma(x) + (1 - t)\log(1 - \sigma(x))\big]
           = w\,\big[\rho\, t\, \mathrm{softplus}(-x) + (1 - t)\, \mathrm{softplus}(x)\big],$$

    using $\log\sigma(x) = -\mathrm{softplus}(-x)$ and $\log(1 - \sigma(x)) = -\mathrm{softplus}(x)$, which are
    finite for any logit. ``"mean"`` divides by the number of elements."""
    x, t, w = _pointwise_args("binary_cross_entropy_with_logits", input, target, reduction, weight)
    rho = 1.0 if pos_weight is None else _floats("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    return _reduce(w * (rho * t * _softplus(-x) + (1 - t) * _softplus(x)), reduction, x.size)


def binary_cross_entropy_with_logits_backward(
    grad_output, input, target, weight=None, reduction: str = "mean", pos_weight=None
) -> tuple:
    r"""With $\mathrm{softplus}'(x) = \sigma(x)$:
    $\dfrac{\partial \ell}{\partial x} = w\,\big[(1 - t)\,\sigma(x) - \rho\, t\,(1 - \sigma(x))\big]$, which is
    $w\,(\sigma(x) - t)$ for $\rho = 1$; and
    $\dfrac{\partial \ell}{\partial t} = w\,\big[\rho\,\mathrm{softplus}(-x) - \mathrm{softplus}(x)\big]$, which is
    $-w x$ for $\rho = 1$. Returns ``(grad_input, grad_target)``."""
    fn = "binary_cross_entropy_with_logits_backward"
    x, t, w = _pointwise_args(fn, input, target, reduction, weight)
    rho = 1.0 if pos_weight is None else _floats(fn, "pos_weight", pos_weight)
    grad_loss = _unreduce(fn, grad_output, reduction, x.size, x.shape) * w
    s = sigmoid(x)
    return grad_loss * ((1 - t) * s - rho * t * (1 - s)), grad_loss * (rho * _softplus(-x) - _softplus(x))


def mse_loss(input, target, reduction: str = "mean") -> np.ndarray:
    r"""$\ell = (x - t)^2$ elementwise; ``"mean"`` divides by the number of elements."""
    x, t, _ = _pointwise_args("mse_loss", input, target, reduction)
    return _reduce((x - t) ** 2, reduction, x.size)


def mse_loss_backward(grad_output, input, target, reduction: str = "mean") -> tuple:
    r"""$\partial \ell / \partial x = 2(x - t)$ and $\partial \ell / \partial t = -2(x - t)$; for ``"mean"`` each
    is divided by the number of elements $N$. Returns ``(grad_input, grad_target)``."""
    x, t, _ = _pointwise_args("mse_loss_backward", input, target, reduction)
    grad_x = 2 * (x - t) * _unreduce("mse_loss_backward", grad_output, reduction, x.size, x.shape)
    return grad_x, -grad_x


# --------------------------------------------------------------------------------------------------------------
# NLP nodes: embedding and embedding_bag
# --------------------------------------------------------------------------------------------------------------


def _table_args(fn: str, input, weight, padding_idx):
    ids, w = _ints(fn, "input", input), _floats(fn, "weight", weight)
    if w.ndim != 2:
        raise ValueError(f"{fn}: argument 'weight' must be 2-D (num_embeddings, embedding_dim), got {w.shape}")
    _in_range(fn, "input", ids, w.shape[0])
    if padding_idx is not None:
        if not -w.shape[0] <= padding_idx < w.shape[0]:
            raise ValueError(f"{fn}: argument 'padding_idx' is {padding_idx}, outside [-{w.shape[0]}, {w.shape[0]})")
        padding_idx %= w.shape[0]  # a negative padding_idx counts from the end, as in PyTorch
    return ids, w, padding_idx


def embedding(input, weight, padding_idx=None) -> np.ndarray:
    r"""$y_i = W_{\mathrm{ids}_i}$: the row of the table for each token id. Shapes: ``input`` any shape of
    integers, ``weight`` $(V, D)$; ``y`` $(*\mathrm{input.shape}, D)$."""
    ids, w, _ = _table_args("embedding", input, weight, padding_idx)
    return w[ids]


def embedding_backward(grad_output, input, weight, padding_idx=None) -> tuple:
    r"""The lookup is $y = \mathrm{onehot}(\mathrm{ids})\, W$, so $\bar W = \mathrm{onehot}(\mathrm{ids})^\top \bar y$:
    $\bar W_v = \sum_{i:\, \mathrm{ids}_i = v} \bar y_i$. A token id used several times collects the gradient of
    every use (``np.add.at``; plain fancy-index assignment would keep only one). The row ``padding_idx`` gets
    $\bar W_{\mathrm{pad}} = 0$. Returns ``(grad_weight,)``."""
    ids, w, padding_idx = _table_args("embedding_backward", input, weight, padding_idx)
    grad_w = np.zeros_like(w)
    g = _upstream("embedding_backward", grad_output, ids.shape + w.shape[1:])
    np.add.at(grad_w, ids.reshape(-1), g.reshape(-1, w.shape[1]))
    if padding_idx is not None:
        grad_w[padding_idx] = 0.0
    return (grad_w,)


def _bag_members(fn: str, ids: np.ndarray, offsets, include_last_offset: bool, padding_idx) -> list:
    """Token ids of each bag, without ``padding_idx``: rows of a 2-D ``ids``, or slices of a 1-D ``ids`` at
    ``offsets``."""
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{fn}: argument 'offsets' must be None when 'input' is 2-D, got input {ids.shape}")
        bags = list(ids)
    elif ids.ndim == 1:
        if offsets is None:
            raise ValueError(f"{fn}: argument 'offsets' is required when 'input' is 1-D")
        starts = _ints(fn, "offsets", offsets)
        if starts.ndim != 1:
            raise ValueError(f"{fn}: argument 'offsets' must be 1-D, got shape {starts.shape}")
        ends = starts[1:] if include_last_offset else np.append(starts[1:], ids.size)
        starts = starts[:-1] if include_last_offset else starts
        if starts.size and (starts[0] != 0 or (np.diff(np.append(starts, ends[-1])) < 0).any() or ends[-1] > ids.size):
            raise ValueError(
                f"{fn}: argument 'offsets' must start at 0, never decrease and stay within the {ids.size} "
                f"ids, got {starts.tolist()}"
            )
        bags = [ids[start:end] for start, end in zip(starts, ends)]
    else:
        raise ValueError(f"{fn}: argument 'input' must be 1-D (with offsets) or 2-D, got shape {ids.shape}")
    return [bag[bag != padding_idx] if padding_idx is not None else bag for bag in bags]


def embedding_bag(
    input, weight, offsets=None, mode: str = "mean", include_last_offset: bool = False, padding_idx=None
) -> np.ndarray:
    r"""One vector per bag of token ids: $y_b = \sum_{i \in b} W_{\mathrm{ids}_i}$ (``"sum"``),
    $\frac{1}{|b|}\sum_{i \in b} W_{\mathrm{ids}_i}$ (``"mean"``) or the elementwise
    $\max_{i \in b} W_{\mathrm{ids}_i}$ (``"max"``).

    Bags are the rows of a 2-D ``input`` $(B, L)$, or the slices ``input[offsets[b]:offsets[b+1]]`` of a 1-D
    ``input``. Tokens equal to ``padding_idx`` are left out of the bag, so they do not count in $|b|$ either (as
    in PyTorch); an empty bag gives zeros. Shapes: ``weight`` $(V, D)$; ``y`` $(B, D)$.
    """
    fn = "embedding_bag"
    if mode not in BAG_MODES:
        raise ValueError(f"{fn}: argument 'mode' must be one of {BAG_MODES}, got {mode!r}")
    ids, w, padding_idx = _table_args(fn, input, weight, padding_idx)
    rows = [w[bag] for bag in _bag_members(fn, ids, offsets, include_last_offset, padding_idx)]
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    out = [reduce(r, axis=0) if len(r) else np.zeros(w.shape[1]) for r in rows]
    return np.array(out).reshape(len(out), w.shape[1])


def embedding_bag_backward(
    grad_output, input, weight, offsets=None, mode: str = "mean", include_last_offset: bool = False,
    padding_idx=None,
) -> tuple:
    r"""Each token $i$ of bag $b$ receives a share of $\bar y_b$, and its row collects the shares of every token
    with its id (repeated ids accumulate):

    - ``"sum"``: $\partial y_b / \partial W_{\mathrm{ids}_i} = I$, so
      $\bar W_v = \sum_{i:\, \mathrm{ids}_i = v} \bar y_{b(i)}$;
    - ``"mean"``: $\partial y_b / \partial W_{\mathrm{ids}_i} = I / |b|$, so each share is $\bar y_{b(i)} / |b(i)|$,
      with $|b|$ counting only non-padding tokens;
    - ``"max"``: component $d$ of $y_b$ depends only on the token that attains the maximum, so
      $\bar y_{b,d}$ goes to that token's row alone.

    The row ``padding_idx`` gets no gradient (its tokens are not in any bag). Returns ``(grad_weight,)``.
    """
    fn = "embedding_bag_backward"
    if mode not in BAG_MODES:
        raise ValueError(f"{fn}: argument 'mode' must be one of {BAG_MODES}, got {mode!r}")
    ids, w, padding_idx = _table_args(fn, input, weight, padding_idx)
    bags = _bag_members(fn, ids, offsets, include_last_offset, padding_idx)
    g = _upstream(fn, grad_output, (len(bags), w.shape[1]))
    grad_w = np.zeros_like(w)
    for bag, g_b in zip(bags, g):
        if not len(bag):
            continue
        if mode == "max":
            winners = bag[np.argmax(w[bag], axis=0)]  # (D,): the token id that attains the max, per component
            np.add.at(grad_w, (winners, np.arange(w.shape[1])), g_b)
        else:
            np.add.at(grad_w, bag, g_b / len(bag) if mode == "mean" else g_b)
    return (grad_w,)


# --------------------------------------------------------------------------------------------------------------
# Dropout, given its mask
# --------------------------------------------------------------------------------------------------------------


def _dropout_args(fn: str, input, mask, p: float):
    x, m = _floats(fn, "input", input), np.asarray(mask)
    if m.shape != x.shape:
        raise ValueError(f"{fn}: argument 'mask' must have the shape of 'input' {x.shape}, got {m.shape}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: argument 'p' must be a probability in [0, 1], got {p}")
    # p = 1 drops everything; the scale is then irrelevant and 1 / (1 - p) would divide by zero.
    return x, (m != 0) * (0.0 if p == 1 else 1.0 / (1.0 - p))


def dropout(input, mask, p: float = 0.5, training: bool = True) -> np.ndarray:
    r"""Inverted dropout with a given keep-mask $m \in \{0, 1\}$: $y = x \odot m / (1 - p)$ when training, $y = x$
    otherwise. Scaling the kept units by $1/(1 - p)$ keeps $\mathbb{E}[y] = x$, so nothing changes at test time."""
    x, scale = _dropout_args("dropout", input, mask, p)
    return x * scale if training else x


def dropout_backward(grad_output, input, mask, p: float = 0.5, training: bool = True) -> tuple:
    r"""$\partial y / \partial x = m / (1 - p)$, so $\bar x = \bar y \odot m / (1 - p)$: gradient flows only through
    the kept units ($\bar x = \bar y$ when not training). Returns ``(grad_input,)``."""
    x, scale = _dropout_args("dropout_backward", input, mask, p)
    return (_upstream("dropout_backward", grad_output, x.shape) * (scale if training else 1.0),)


# --------------------------------------------------------------------------------------------------------------
# The von Mises-Fisher loss (Kumar & Tsvetkov, 2018)
# --------------------------------------------------------------------------------------------------------------

# Below this, ive's value has lost digits to underflow (its smallest normal number is about 2e-308); the power
# series takes over there, where it converges within a few terms.
BESSEL_IVE_MIN = 1e-250


def log_bessel_i(v: float, x) -> np.ndarray:
    r"""$\log I_v(x)$ for an order $v \ge 0$ and $x > 0$, in float64, without overflow or underflow.

    Where SciPy's exponentially scaled $\mathrm{ive}(v, x) = I_v(x)\,e^{-x}$ is representable,
    $\log I_v(x) = \log \mathrm{ive}(v, x) + x$. Elsewhere (a large order and a small $x$, where $I_v$ underflows)
    from the power series $I_v(x) = \sum_{k \ge 0} \frac{(x/2)^{2k+v}}{k!\,\Gamma(k+v+1)}$, summed in log space.

    >>> round(float(log_bessel_i(0.5, 1.0)), 12) == round(float(np.log(np.sqrt(2 / np.pi) * np.sinh(1.0))), 12)
    True
    """
    x = np.asarray(x, dtype=np.float64)
    scaled = special.ive(v, x)
    result = np.log(np.where(scaled > BESSEL_IVE_MIN, scaled, 1.0)) + x
    small = scaled <= BESSEL_IVE_MIN
    if small.any():
        z = x[small][..., None]
        # the terms peak before k = x/2 and fall off within a few sqrt(x) after it: x + 64 terms are plenty
        k = np.arange(int(z.max()) + 64)
        log_terms = (2 * k + v) * np.log(z / 2) - special.gammaln(k + 1) - special.gammaln(k + v + 1)
        top = log_terms.max(axis=-1, keepdims=True)
        with np.errstate(under="ignore"):  # the far terms' exp underflows to 0, which is what they add
            result[small] = (top + np.log(np.exp(log_terms - top).sum(axis=-1, keepdims=True)))[..., 0]
    return result


def _vmf_args(fn: str, input, target, lambda_1: float, lambda_2: float, reduction: str):
    e, t = _floats(fn, "input", input), _floats(fn, "target", target)
    if e.ndim == 0 or e.shape[-1] < 2:
        raise ValueError(f"{fn}: argument 'input' must have shape (*, m) with m >= 2, got {e.shape}")
    _same_shape(fn, e, t)
    for name, value in (("lambda_1", lambda_1), ("lambda_2", lambda_2)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{fn}: argument '{name}' must be a finite number >= 0, got {value!r}")
    _check_reduction(fn, reduction)
    return e, t, np.linalg.norm(e, axis=-1)


def vmf_loss(input, target, lambda_1: float = 0.0, lambda_2: float = 1.0, reduction: str = "mean") -> np.ndarray:
    r"""von Mises-Fisher negative log-likelihood of unit targets $t$ given predictions $\hat e$ of shape $(*, m)$,
    with $\kappa = \lVert\hat e\rVert$ (per row) and $v = m/2 - 1$:
    $\ell = -\log C_m(\kappa) + \lambda_1 \kappa - \lambda_2\, \hat e^\top t$, where
    $C_m(\kappa) = \dfrac{\kappa^{v}}{(2\pi)^{m/2} I_{v}(\kappa)}$, so
    $-\log C_m(\kappa) = \tfrac{m}{2}\log 2\pi + \log I_v(\kappa) - v \log \kappa$. ``"mean"`` divides by the
    number of rows. At $\kappa = 0$ the limit $\tfrac{m}{2}\log 2\pi - v \log 2 - \log\Gamma(v + 1)$ (from
    $I_v(\kappa) \approx (\kappa/2)^v / \Gamma(v+1)$). The loss is the negative log of a *density*: it can be far
    below zero."""
    e, t, kappa = _vmf_args("vmf_loss", input, target, lambda_1, lambda_2, reduction)
    m = e.shape[-1]
    v = m / 2 - 1
    positive = kappa > 0
    safe = np.where(positive, kappa, 1.0)
    at_zero = -v * np.log(2) - special.gammaln(v + 1)
    log_c = (m / 2) * np.log(2 * np.pi) + np.where(positive, log_bessel_i(v, safe) - v * np.log(safe), at_zero)
    return _reduce(log_c + lambda_1 * kappa - lambda_2 * (e * t).sum(-1), reduction, kappa.size)


def vmf_loss_backward(grad_output, input, target, lambda_1: float = 0.0, lambda_2: float = 1.0,
                      reduction: str = "mean") -> tuple:
    r"""From $I_v'(\kappa) = I_{v+1}(\kappa) + \tfrac{v}{\kappa} I_v(\kappa)$:
    $\dfrac{d}{d\kappa}\big(-\log C_m(\kappa)\big) = \dfrac{I_v'(\kappa)}{I_v(\kappa)} - \dfrac{v}{\kappa}
    = \dfrac{I_{m/2}(\kappa)}{I_{m/2-1}(\kappa)} =: \rho(\kappa)$, and $\partial\kappa / \partial\hat e =
    \hat e / \kappa$, so
    $\dfrac{\partial \ell}{\partial \hat e} = (\rho(\kappa) + \lambda_1)\,\dfrac{\hat e}{\kappa} - \lambda_2 t$ and
    $\dfrac{\partial \ell}{\partial t} = -\lambda_2 \hat e$. At $\hat e = 0$ the first term is taken as 0 (its
    limit for $\lambda_1 = 0$, since $\rho(\kappa)/\kappa \to 1/m$). Returns ``(grad_input, grad_target)``."""
    fn = "vmf_loss_backward"
    e, t, kappa = _vmf_args(fn, input, target, lambda_1, lambda_2, reduction)
    v = e.shape[-1] / 2 - 1
    grad_loss = _unreduce(fn, grad_output, reduction, kappa.size, kappa.shape)[..., None]
    positive = kappa > 0
    safe = np.where(positive, kappa, 1.0)
    rho = np.exp(log_bessel_i(v + 1, safe) - log_bessel_i(v, safe))
    direction = np.where(positive[..., None], e / safe[..., None], 0.0)
    grad_e = grad_loss * ((rho + lambda_1)[..., None] * direction - lambda_2 * t)
    return grad_e, grad_loss * (-lambda_2 * e)


# --------------------------------------------------------------------------------------------------------------
# A whole model by hand: the MLP sentence classifier
# --------------------------------------------------------------------------------------------------------------

MLP_PARAMETERS = ("embedding.weight", "hidden.weight", "hidden.bias", "output.weight", "output.bias")


@dataclass
class MLPForward:
    """What the forward pass of :func:`mlp_forward` keeps for the reverse sweep: inputs, parameters and every
    intermediate value, named as in the formulas."""

    params: dict
    input: np.ndarray
    target: np.ndarray
    offsets: np.ndarray | None
    padding_idx: int | None
    e: np.ndarray  # (B, D) mean embedding of each sentence
    h: np.ndarray  # (B, H) hidden pre-activation
    a: np.ndarray  # (B, H) ReLU(h)
    z: np.ndarray  # (B, C) logits
    loss: float


def mlp_forward(params: dict, input, target, offsets=None, padding_idx=None) -> MLPForward:
    r"""Forward pass of the MLP sentence classifier, keeping every intermediate value:

    $$e = \mathrm{EmbeddingBag_{mean}}(\mathrm{ids};\, E), \quad h = e W_1^\top + b_1, \quad a = \mathrm{ReLU}(h),
      \quad z = a W_2^\top + b_2, \quad L = \mathrm{CrossEntropy_{mean}}(z, t).$$

    ``params`` maps the names in :data:`MLP_PARAMETERS` to arrays: ``embedding.weight`` $E$ $(V, D)$,
    ``hidden.weight`` $W_1$ $(H, D)$, ``hidden.bias`` $b_1$ $(H,)$, ``output.weight`` $W_2$ $(C, H)$,
    ``output.bias`` $b_2$ $(C,)$ (the names of an ``nn.Module`` with submodules ``embedding``, ``hidden`` and
    ``output``). ``input``/``offsets``/``padding_idx`` are as for :func:`embedding_bag`; ``target`` $(B,)$ holds the
    class of each sentence.
    """
    missing = [name for name in MLP_PARAMETERS if name not in params]
    if missing:
        raise KeyError(f"mlp_forward: argument 'params' lacks {missing}; it needs {list(MLP_PARAMETERS)}")
    params = {name: _floats("mlp_forward", name, params[name]) for name in MLP_PARAMETERS}
    e = embedding_bag(input, params["embedding.weight"], offsets=offsets, mode="mean", padding_idx=padding_idx)
    h = linear(e, params["hidden.weight"], params["hidden.bias"])
    a = relu(h)
    z = linear(a, params["output.weight"], params["output.bias"])
    loss = float(cross_entropy(z, target))
    return MLPForward(params, np.asarray(input), np.asarray(target), offsets, padding_idx, e, h, a, z, loss)


def mlp_backward(forward: MLPForward) -> tuple:
    r"""Reverse sweep through the graph of :func:`mlp_forward`: each node's backward turns the gradient of its
    output into the gradients of its inputs, starting from $\bar L = 1$:

    $$\bar z = \frac{\mathrm{softmax}(z) - \mathrm{onehot}(t)}{B}, \quad
      \bar W_2 = \bar z^\top a, \quad \bar b_2 = \textstyle\sum_n \bar z_n, \quad \bar a = \bar z W_2,$$
    $$\bar h = \bar a \odot [h > 0], \quad \bar W_1 = \bar h^\top e, \quad \bar b_1 = \textstyle\sum_n \bar h_n,
      \quad \bar e = \bar h W_1, \quad \bar E_v = \sum_{b} \sum_{i \in b:\, \mathrm{ids}_i = v} \frac{\bar e_b}{|b|}.$$

    Returns ``(loss, grads)``: the loss of the forward pass and a dict with the gradient of every parameter,
    under the names of :data:`MLP_PARAMETERS`.
    """
    f, p = forward, forward.params
    (grad_z,) = cross_entropy_backward(1.0, f.z, f.target)
    grad_a, grad_w2, grad_b2 = linear_backward(grad_z, f.a, p["output.weight"], p["output.bias"])
    (grad_h,) = relu_backward(grad_a, f.h)
    grad_e, grad_w1, grad_b1 = linear_backward(grad_h, f.e, p["hidden.weight"], p["hidden.bias"])
    (grad_emb,) = embedding_bag_backward(
        grad_e, f.input, p["embedding.weight"], offsets=f.offsets, mode="mean", padding_idx=f.padding_idx
    )
    grads = dict(zip(MLP_PARAMETERS, (grad_emb, grad_w1, grad_b1, grad_w2, grad_b2)))
    return f.loss, grads
