r"""The graph nodes: one ``torch.autograd.Function`` per operation, forward and backward written out by hand.

Every node has the same shape, so that reading one teaches all of them:

- ``forward(*inputs)`` computes the output from the inputs (no ``ctx``: the modern API);
- ``setup_context(ctx, inputs, output)`` saves what ``backward`` needs, tensors only through
  ``ctx.save_for_backward`` and only those that a requested gradient needs (``ctx.needs_input_grad``);
- ``backward(ctx, grad_output)`` applies the chain rule: it multiplies the upstream gradient
  :math:`\bar{y} = \partial L / \partial y` by the node's local derivative and returns
  :math:`\bar{x} = \partial L / \partial x` for each input (``None`` for inputs that need no gradient).

``backward`` is written with differentiable torch operations on saved inputs or outputs, never on intermediate
values, so that double backward (``gradgradcheck``) works. ``generate_vmap_rule = True`` lets ``torch.func.vmap``
and ``torch.func.grad`` run the nodes.

These classes do not check their arguments: call them through :mod:`in5550.functional`, which does, and which
mirrors :mod:`torch.nn.functional`. Notation: :math:`\bar{v}` is the gradient of the loss with respect to ``v``.
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function


class Node(Function):
    """Base of every node here. ``generate_vmap_rule = True`` lets ``torch.func`` (``vmap``, ``grad``, ``jacrev``)
    run a node: PyTorch batches the node by running its forward, setup_context and backward on batched tensors.

    The nodes are written for reverse mode (the lecture's backward pass) and have no forward-mode rule (``jvp``):
    ``torch.func.jacfwd``, ``torch.func.hessian`` and ``torch.autograd.forward_ad`` stop with PyTorch's
    ``NotImplementedError`` ("You must implement the jvp function ..."). Not even one that raises a message of
    our own: ``torch.compile`` refuses to trace any ``Function`` that defines ``jvp``, so it would cost every node
    its static graph. Reverse over reverse mode works, since every backward is made of differentiable
    operations: a Hessian is ``torch.func.jacrev(torch.func.jacrev(f))``.
    """

    generate_vmap_rule = True


def _reduce(loss: torch.Tensor, reduction: str, count: torch.Tensor | int | None = None) -> torch.Tensor:
    """Apply a loss reduction: ``"none"`` keeps per-element losses, ``"sum"`` adds them, ``"mean"`` divides the
    sum by ``count`` (default: the number of elements)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (loss.numel() if count is None else count)


def _unreduce(grad_output: torch.Tensor, reduction: str, count: torch.Tensor | int) -> torch.Tensor:
    r"""Backward of :func:`_reduce`: the upstream gradient of each per-element loss.

    For ``"mean"`` it is :math:`\bar{L} / N`, for ``"sum"`` it is :math:`\bar{L}`, for ``"none"`` the upstream
    gradient itself (already per element)."""
    if reduction == "mean":
        return grad_output / count
    return grad_output


# --------------------------------------------------------------------------------------------------------------
# Elementwise and arithmetic nodes
# --------------------------------------------------------------------------------------------------------------


class Add(Node):
    r"""Addition with broadcasting, :math:`y = a + b`.

    Local gradients: :math:`\partial y / \partial a = \partial y / \partial b = 1`, so
    :math:`\bar{a} = \bar{y}` and :math:`\bar{b} = \bar{y}`, each summed over the dimensions that broadcasting
    expanded (an input used several times collects the gradient of every use).

    Shapes: ``a`` and ``b`` broadcastable; ``y`` their broadcast shape. Saves: nothing (only the input shapes).
    """

    @staticmethod
    def forward(a, b):
        return a + b

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b = inputs
        ctx.a_shape, ctx.b_shape = a.shape, b.shape

    @staticmethod
    def backward(ctx, grad_output):
        grad_a = grad_output.sum_to_size(ctx.a_shape) if ctx.needs_input_grad[0] else None
        grad_b = grad_output.sum_to_size(ctx.b_shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Mul(Node):
    r"""Elementwise product with broadcasting, :math:`y = a \odot b`.

    Local gradients: :math:`\partial y / \partial a = b` and :math:`\partial y / \partial b = a`, so
    :math:`\bar{a} = \bar{y} \odot b` and :math:`\bar{b} = \bar{y} \odot a`, each summed over broadcast dimensions.

    Shapes: ``a`` and ``b`` broadcastable; ``y`` their broadcast shape. Saves: ``b`` if ``a`` needs a gradient,
    ``a`` if ``b`` does.
    """

    @staticmethod
    def forward(a, b):
        return a * b

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b = inputs
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.a_shape, ctx.b_shape = a.shape, b.shape

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_a = (grad_output * b).sum_to_size(ctx.a_shape) if ctx.needs_input_grad[0] else None
        grad_b = (grad_output * a).sum_to_size(ctx.b_shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Exp(Node):
    r"""Exponential, :math:`y = e^x`.

    Local gradient: :math:`\partial y / \partial x = e^x = y`, so :math:`\bar{x} = \bar{y} \odot y`.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x):
        return torch.exp(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y


class Log(Node):
    r"""Natural logarithm, :math:`y = \log x`.

    Local gradient: :math:`\partial y / \partial x = 1 / x`, so :math:`\bar{x} = \bar{y} / x`.

    Shapes: any; ``y`` like ``x``. Saves: the input ``x``.
    """

    @staticmethod
    def forward(x):
        return torch.log(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / x


class ReLU(Node):
    r"""Rectified linear unit, :math:`y = \max(x, 0)`.

    Local gradient: :math:`\partial y / \partial x = [x > 0]` (0 at :math:`x = 0`, as in PyTorch), so
    :math:`\bar{x} = \bar{y}` where :math:`y > 0` and :math:`0` where :math:`y \le 0`. Written as "zero where
    :math:`y \le 0`", as PyTorch does, so that a NaN input passes its gradient on (NaN is not :math:`\le 0`) and a
    NaN upstream gradient stops at a unit that is off.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y`` (its sign is the input's, and it is needed anyway by
    the next node, so saving it costs no memory).
    """

    @staticmethod
    def forward(x):
        return torch.clamp_min(x, 0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return torch.where(y <= 0, 0, grad_output)


class Sigmoid(Node):
    r"""Logistic sigmoid, :math:`y = \sigma(x) = 1 / (1 + e^{-x})`.

    Computed as :math:`1 / (1 + e^{-|x|})` for :math:`x \ge 0` and :math:`e^{-|x|} / (1 + e^{-|x|})` otherwise, so
    that the exponential never overflows (finite and exact for :math:`x = \pm 1000`).

    Local gradient: :math:`\partial y / \partial x = \sigma(x)(1 - \sigma(x)) = y(1 - y)`, so
    :math:`\bar{x} = \bar{y} \odot y \odot (1 - y)`.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x):
        z = torch.exp(-x.abs())
        return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y * (1 - y)


class Tanh(Node):
    r"""Hyperbolic tangent, :math:`y = \tanh x`.

    Local gradient: :math:`\partial y / \partial x = 1 - \tanh^2 x = 1 - y^2`, so
    :math:`\bar{x} = \bar{y} \odot (1 - y^2)`.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


# --------------------------------------------------------------------------------------------------------------
# Linear layer
# --------------------------------------------------------------------------------------------------------------


class Linear(Node):
    r"""Affine map, :math:`y = x W^\top + b`.

    Local gradients, with the leading dimensions of :math:`x` flattened into a batch of :math:`N` rows:
    :math:`\bar{x} = \bar{y} W`, :math:`\bar{W} = \bar{y}^\top x` (a sum of outer products over the batch) and
    :math:`\bar{b} = \sum_n \bar{y}_n` (the bias is used once per row, so its gradient sums over the batch).

    Shapes: ``x`` ``(*, in)``, ``W`` ``(out, in)``, ``b`` ``(out,)`` or ``None``; ``y`` ``(*, out)``.
    Saves: ``x`` if ``W`` needs a gradient, ``W`` if ``x`` does.
    """

    @staticmethod
    def forward(x, weight, bias):
        y = x.matmul(weight.t())
        return y if bias is None else y.add_(bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        rows = math.prod(grad_output.shape[:-1])  # N; counted, not inferred with -1, so that 0 features work too
        grad_rows = grad_output.reshape(rows, grad_output.shape[-1])  # (N, out)
        grad_x = grad_output.matmul(weight) if need_x else None
        grad_w = grad_rows.t().matmul(x.reshape(rows, x.shape[-1])) if need_w else None
        grad_b = grad_rows.sum(0) if need_b else None
        return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------------------------------------------


def _minus_max(x: torch.Tensor, dim: int) -> torch.Tensor:
    r""":math:`x_i - m` with :math:`m = \max_j x_j` along ``dim``: every exponent of the result is :math:`\le 0`,
    so :math:`e^{x_i - m}` cannot overflow even for logits of :math:`10^4`. An empty tensor has no maximum and
    nothing to normalise: it is returned as it is (an empty softmax, as in PyTorch)."""
    return x if x.numel() == 0 else x - x.amax(dim, keepdim=True)


def _log_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    r""":math:`\log \mathrm{softmax}(x)_i = (x_i - m) - \log \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`."""
    shifted = _minus_max(x, dim)
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


class Softmax(Node):
    r"""Softmax along ``dim``, :math:`y_i = e^{x_i} / \sum_j e^{x_j}` (computed with the maximum subtracted).

    Local gradient (Jacobian): :math:`\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)`, so
    :math:`\bar{x} = y \odot (\bar{y} - \sum_j \bar{y}_j y_j)`: no Jacobian matrix is ever built.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x, dim):
        e = _minus_max(x, dim).exp()
        return e / e.sum(dim, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Node):
    r"""Log-softmax along ``dim``, :math:`y_i = x_i - \log \sum_j e^{x_j}` (computed with the maximum subtracted).

    Local gradient: :math:`\partial y_i / \partial x_j = \delta_{ij} - \mathrm{softmax}(x)_j`, so
    :math:`\bar{x} = \bar{y} - e^{y} \sum_i \bar{y}_i`.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x, dim):
        return _log_softmax(x, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output - y.exp() * grad_output.sum(ctx.dim, keepdim=True), None


# --------------------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------------------


def _class_targets(target: torch.Tensor, ignore_index: int | None):
    """Targets as a ``(N, 1, d1, ...)`` index tensor that is safe to gather with, the mask of targets that count,
    and their number (the divisor of the mean). ``ignore_index=None`` promises that every target counts (the
    functional API passes it when no target equals ``ignore_index``): the mask is then None and nothing is masked."""
    if ignore_index is None:
        return target.unsqueeze(1), None, target.numel()
    keep = target != ignore_index
    return torch.where(keep, target, 0).unsqueeze(1), keep, keep.sum()


def _kept(per_sample: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """Zero the entries of ignored samples (``keep`` from :func:`_class_targets`); a selection, not a product, so
    that whatever an ignored sample holds (even inf or NaN) never reaches the loss."""
    return per_sample if keep is None else torch.where(keep, per_sample, 0)


def _grad_per_target(grad_output, reduction: str, count, keep, target: torch.Tensor) -> torch.Tensor:
    r""":math:`\bar{\ell}_n` for every target, shaped like it: the backward of :func:`_reduce`, zero where ignored.

    When no target counts (all equal ``ignore_index``, or an empty batch) the mean is :math:`0/0`, NaN, as in
    PyTorch; but no sample contributes to it, so every gradient is zero: the divisor is taken as at least 1 here
    (one optimiser step on a NaN gradient would turn every weight NaN)."""
    count = count.clamp_min(1) if isinstance(count, torch.Tensor) else max(count, 1)
    return _kept(_unreduce(grad_output, reduction, count).expand(target.shape), keep)


class CrossEntropy(Node):
    r"""Softmax and cross-entropy fused into one node, for class-index targets.

    Forward, for logits :math:`x_n` of sample :math:`n` and its class :math:`t_n`, with label smoothing
    :math:`\varepsilon` over :math:`C` classes:

    .. math:: \ell_n = -(1 - \varepsilon) \log \mathrm{softmax}(x_n)_{t_n}
              - \frac{\varepsilon}{C} \sum_c \log \mathrm{softmax}(x_n)_c

    Samples whose target equals ``ignore_index`` have :math:`\ell_n = 0`; ``"mean"`` divides by the number of
    samples that count.

    Local gradient: the derivative of the fused node is "softmax minus the (smoothed) one-hot target",
    :math:`\partial \ell_n / \partial x_n = \mathrm{softmax}(x_n) - q_n` with
    :math:`q_n = (1 - \varepsilon)\,\mathrm{onehot}(t_n) + \varepsilon / C`. Fusing avoids dividing by a softmax
    probability that may have underflowed to 0, so the gradient stays finite for any logits.

    Shapes: ``x`` ``(N, C)`` or ``(N, C, d1, ...)``; ``target`` ``(N,)`` or ``(N, d1, ...)``, integers;
    output scalar, or like ``target`` for ``reduction="none"``. The unbatched case ``(C,)`` is handled by
    :func:`in5550.functional.cross_entropy`. Saves: ``x`` and ``target`` (softmax is recomputed in backward, which
    keeps double backward exact).
    """

    @staticmethod
    def forward(x, target, ignore_index, reduction, label_smoothing):
        log_p = _log_softmax(x, 1)
        index, keep, count = _class_targets(target, ignore_index)
        loss = -log_p.gather(1, index).squeeze(1)
        if label_smoothing:
            loss = (1 - label_smoothing) * loss - label_smoothing * log_p.mean(1)
        return _reduce(_kept(loss, keep), reduction, count)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, target, ctx.ignore_index, ctx.reduction, ctx.label_smoothing = inputs
        ctx.save_for_backward(x, target)

    @staticmethod
    def backward(ctx, grad_output):
        x, target = ctx.saved_tensors
        index, keep, count = _class_targets(target, ctx.ignore_index)
        eps, num_classes = ctx.label_smoothing, x.shape[1]
        one_hot = torch.zeros_like(x).scatter(1, index, 1.0)  # out of place: torch.func batches it
        smoothed_one_hot = one_hot * (1 - eps) + eps / num_classes if eps else one_hot
        grad_loss = _grad_per_target(grad_output, ctx.reduction, count, keep, target)
        grad_x = grad_loss.unsqueeze(1) * (_log_softmax(x, 1).exp() - smoothed_one_hot)
        return grad_x, None, None, None, None


class NLLLoss(Node):
    r"""Negative log-likelihood of class-index targets, given log-probabilities: :math:`\ell_n = -x_{n, t_n}`.

    Samples whose target equals ``ignore_index`` have :math:`\ell_n = 0`; ``"mean"`` divides by the number of
    samples that count.

    Local gradient: :math:`\partial \ell_n / \partial x_{n,c} = -[c = t_n]`, so :math:`\bar{x}` is zero except
    :math:`-\bar{\ell}_n` at each sample's target class.

    Shapes: ``x`` ``(N, C)`` or ``(N, C, d1, ...)``; ``target`` ``(N,)`` or ``(N, d1, ...)``. Saves: ``target``.
    """

    @staticmethod
    def forward(x, target, ignore_index, reduction):
        index, keep, count = _class_targets(target, ignore_index)
        return _reduce(_kept(-x.gather(1, index).squeeze(1), keep), reduction, count)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, target, ctx.ignore_index, ctx.reduction = inputs
        ctx.x_shape = x.shape
        ctx.save_for_backward(target)

    @staticmethod
    def backward(ctx, grad_output):
        (target,) = ctx.saved_tensors
        index, keep, count = _class_targets(target, ctx.ignore_index)
        grad_loss = _grad_per_target(grad_output, ctx.reduction, count, keep, target)
        grad_x = grad_output.new_zeros(ctx.x_shape).scatter(1, index, -grad_loss.unsqueeze(1))
        return grad_x, None, None, None


# PyTorch clamps the logarithms of binary_cross_entropy at -100 so that p = 0 or 1 gives a finite loss, and the
# denominator of its gradient at 1e-12 (as a float32 constant, whatever the dtype); we do the same so that both
# agree on outputs of exactly 0 and 1.
BCE_LOG_MIN = -100.0
BCE_GRAD_EPS = torch.tensor(1e-12, dtype=torch.float32).item()


class BinaryCrossEntropy(Node):
    r"""Binary cross-entropy of probabilities (outputs of a sigmoid), :math:`\ell = -[t \log p + (1 - t)\log(1 - p)]`.

    The logarithms are clamped at :math:`-100`, as in PyTorch, so that :math:`p \in \{0, 1\}` stays finite.

    Local gradients: :math:`\partial \ell / \partial p = (p - t) / (p(1 - p))` (denominator clamped at
    :math:`10^{-12}`) and :math:`\partial \ell / \partial t = \log(1 - p) - \log p` with both logarithms clamped
    as in the forward (PyTorch leaves them unclamped there, giving :math:`\pm\infty` at :math:`p \in \{0, 1\}`).

    Shapes: ``p`` any, values in :math:`[0, 1]`; ``t`` like ``p``; output scalar or like ``p``.
    Saves: ``p`` and ``t``.
    """

    @staticmethod
    def forward(p, t, reduction):
        log_p, log_1mp = BinaryCrossEntropy._logs(p)
        return _reduce(-(t * log_p + (1 - t) * log_1mp), reduction)

    @staticmethod
    def _logs(p):
        return p.log().clamp_min(BCE_LOG_MIN), (1 - p).log().clamp_min(BCE_LOG_MIN)

    @staticmethod
    def setup_context(ctx, inputs, output):
        p, t, ctx.reduction = inputs
        ctx.save_for_backward(p, t)

    @staticmethod
    def backward(ctx, grad_output):
        p, t = ctx.saved_tensors
        grad_loss = _unreduce(grad_output, ctx.reduction, p.numel())
        grad_p = grad_loss * (p - t) / (p * (1 - p)).clamp_min(BCE_GRAD_EPS) if ctx.needs_input_grad[0] else None
        if ctx.needs_input_grad[1]:
            log_p, log_1mp = BinaryCrossEntropy._logs(p)
            grad_t = grad_loss * (log_1mp - log_p)
        else:
            grad_t = None
        return grad_p, grad_t, None


class BinaryCrossEntropyWithLogits(Node):
    r"""Sigmoid and binary cross-entropy fused, on logits :math:`x`:
    :math:`\ell = -[t \log \sigma(x) + (1 - t) \log(1 - \sigma(x))] = \max(x, 0) - x t + \log(1 + e^{-|x|})`.

    The right-hand form never exponentiates a positive number, so it is finite for any logit.

    Local gradients: :math:`\partial \ell / \partial x = \sigma(x) - t` and :math:`\partial \ell / \partial t = -x`.

    Shapes: ``x`` any; ``t`` like ``x``; output scalar or like ``x``. Saves: ``x`` and ``t``.
    """

    @staticmethod
    def forward(x, t, reduction):
        return _reduce(x.clamp_min(0) - x * t + torch.log1p(torch.exp(-x.abs())), reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, t, ctx.reduction = inputs
        ctx.save_for_backward(x, t)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        grad_loss = _unreduce(grad_output, ctx.reduction, x.numel())
        grad_x = grad_loss * (Sigmoid.forward(x) - t) if ctx.needs_input_grad[0] else None
        grad_t = grad_loss * -x if ctx.needs_input_grad[1] else None
        return grad_x, grad_t, None


class MSELoss(Node):
    r"""Squared error, :math:`\ell = (x - t)^2`.

    Local gradients: :math:`\partial \ell / \partial x = 2(x - t)` and :math:`\partial \ell / \partial t = -2(x - t)`.

    Shapes: ``x`` any; ``t`` like ``x``; output scalar or like ``x``. Saves: ``x`` and ``t``.
    """

    @staticmethod
    def forward(x, t, reduction):
        return _reduce((x - t) ** 2, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, t, ctx.reduction = inputs
        ctx.save_for_backward(x, t)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        grad_x = 2 * (x - t) * _unreduce(grad_output, ctx.reduction, x.numel())
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            -grad_x if ctx.needs_input_grad[1] else None,
            None,
        )


# --------------------------------------------------------------------------------------------------------------
# NLP nodes
# --------------------------------------------------------------------------------------------------------------


def add_rows(rows: torch.Tensor, index: torch.Tensor, num_rows: int) -> torch.Tensor:
    """``out[index[i]] += rows[i]`` into ``num_rows`` zero rows: the sum of the rows that share an index.

    This is the backward of every lookup: a row read several times collects every gradient, never just the last
    one. ``index_add_`` works on a fresh tensor, so autograd can still differentiate it with respect to ``rows``
    (double backward), and ``rows.new_zeros`` keeps it batched under ``torch.func.vmap``.
    """
    return rows.new_zeros(num_rows, rows.shape[1]).index_add_(0, index, rows)


class Embedding(Node):
    r"""Embedding lookup, :math:`y_{i} = W_{\mathrm{ids}_i}`: row :math:`\mathrm{ids}_i` of the table.

    Local gradient: :math:`\bar{W}_v = \sum_{i: \mathrm{ids}_i = v} \bar{y}_i`: each row collects the gradient of
    every position that used it, so repeated token ids accumulate. The row ``padding_idx`` gets no gradient.

    Shapes: ``ids`` any shape of integers; ``W`` ``(V, D)``; ``y`` ``(*ids.shape, D)``. Saves: ``ids``.
    """

    @staticmethod
    def forward(ids, weight, padding_idx):
        return weight.index_select(0, ids.reshape(-1)).reshape(*ids.shape, weight.shape[1])

    @staticmethod
    def setup_context(ctx, inputs, output):
        ids, weight, ctx.padding_idx = inputs
        ctx.num_embeddings = weight.shape[0]
        ctx.save_for_backward(ids)

    @staticmethod
    def backward(ctx, grad_output):
        (ids,) = ctx.saved_tensors
        ids = ids.reshape(-1)
        grad_rows = grad_output.reshape(ids.numel(), grad_output.shape[-1])  # (T, D), also for T = 0
        if ctx.padding_idx is not None:
            grad_rows = torch.where((ids == ctx.padding_idx).unsqueeze(1), 0, grad_rows)
        return None, add_rows(grad_rows, ids, ctx.num_embeddings), None


class EmbeddingBag(Node):
    r"""Embeddings of bags of tokens reduced per bag: :math:`y_b = \operatorname{reduce}_{i \in b} W_{\mathrm{ids}_i}`
    with ``mode`` ``"sum"``, ``"mean"`` (divided by the bag's size :math:`s_b`) or ``"max"`` (per component);
    an empty bag gives zeros.

    Token :math:`i` belongs to bag :math:`b(i)` = ``bags[i]`` (PyTorch's ``offset2bag``). For ``"sum"`` and
    ``"mean"`` the forward borrows PyTorch's fused ``torch.nn.functional.embedding_bag`` (inside ``forward``
    autograd records nothing, so the backward below is still the one that runs): reading each token's row and
    adding it into its bag would build a ``(T, D)`` tensor that the fused kernel never builds, and the lesson of
    this node is its backward. For ``"max"`` the forward reads the rows (``index_select``) and keeps the largest
    per bag (``scatter_reduce``), because PyTorch's CPU kernel treats a NaN differently. Under ``torch.func.vmap``
    the fused kernel runs once per batch element, with PyTorch's "performance drop" warning, as PyTorch's own
    ``embedding_bag`` does. A token of bag :math:`B`, one past the last, is left out: that is how
    :func:`in5550.functional.embedding_bag` drops ``padding_idx`` tokens without changing any shape (so
    ``torch.compile`` sees a static graph).

    Local gradients: for ``"sum"`` and ``"mean"``, :math:`y_b = \frac{1}{s_b} \sum_{i: b(i) = b} W_{\mathrm{ids}_i}`
    (:math:`s_b = 1` for the sum), so token :math:`i` receives its bag's gradient divided by the bag's size,
    :math:`\bar{y}_{b(i)} / s_{b(i)}`, and each row of the table adds up what its tokens receive,
    :math:`\bar{W}_v = \sum_{i: \mathrm{ids}_i = v} \bar{y}_{b(i)} / s_{b(i)}`: repeated ids accumulate. For
    ``"max"`` each component of :math:`\bar{y}_b` goes to the token that attained the maximum (the first one on
    ties, as in PyTorch; a NaN is the maximum of its bag, and its token gets the gradient).

    Shapes: ``ids`` ``(T,)`` integers; ``bags`` ``(T,)`` integers in :math:`[0, B]`; ``W`` ``(V, D)``;
    ``num_bags`` :math:`B`; ``y`` ``(B, D)``. Saves: ``ids`` and ``bags``; for ``"max"`` also ``W`` and ``y``.
    """

    @staticmethod
    def forward(ids, bags, weight, mode, num_bags):
        if mode != "max":
            # the fused kernel (see above) wants each bag's tokens side by side: the tokens are put in bag order
            # (a stable sort keeps their order within a bag) and the left-out ones form a last bag, B
            sizes = EmbeddingBag._sizes(bags, num_bags, at_least=0).squeeze(1)  # (B + 1,)
            order = bags.argsort(stable=True)
            offsets = (sizes.cumsum(0) - sizes).to(ids.dtype)  # (B + 1,): where each bag starts
            out = torch.nn.functional.embedding_bag(ids.index_select(0, order), weight, offsets, mode=mode)
            return out[:num_bags]
        rows = weight.index_select(0, ids)  # (T, D): the row of each token
        out = rows.new_zeros(num_bags + 1, rows.shape[1])  # one row per bag, and one for left-out tokens
        out = out.scatter_reduce(0, bags.unsqueeze(1).expand_as(rows), rows, "amax", include_self=False)
        return out[:num_bags]

    @staticmethod
    def _sizes(bags, num_bags, at_least=1):
        """``(B + 1, 1)`` integers: the number of tokens in each bag, at least ``at_least`` (an empty bag's mean is
        0 / 1)."""
        sizes = bags.new_zeros(num_bags + 1).index_add_(0, bags, torch.ones_like(bags))
        return sizes.clamp_min(at_least).unsqueeze(1)

    @staticmethod
    def _attains_max(rows, bags, output):
        """``(T, D)`` booleans: True where token :math:`i` is the first of its bag to hold the bag's maximum."""
        num_tokens = rows.shape[0]
        best = torch.cat([output, output.new_zeros(1, output.shape[1])]).index_select(0, bags)  # (T, D)
        attains = (rows == best) | (rows.isnan() & best.isnan())
        position = torch.arange(num_tokens, device=rows.device).unsqueeze(1).expand_as(rows)
        candidate = torch.where(attains, position, num_tokens)
        first = position.new_full((output.shape[0] + 1, output.shape[1]), num_tokens)  # (B + 1, D)
        first = first.scatter_reduce(0, bags.unsqueeze(1).expand_as(rows), candidate, "amin")
        return position == first.index_select(0, bags)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ids, bags, weight, ctx.mode, ctx.num_bags = inputs
        ctx.num_embeddings = weight.shape[0]
        ctx.save_for_backward(ids, bags, *((weight, output) if ctx.mode == "max" else ()))

    @staticmethod
    def backward(ctx, grad_output):
        ids, bags, *max_saved = ctx.saved_tensors
        # the bag of left-out tokens (row B) receives no gradient
        grad_bags = torch.cat([grad_output, grad_output.new_zeros(1, grad_output.shape[1])])  # (B + 1, D)
        if ctx.mode == "mean":
            grad_bags = grad_bags / EmbeddingBag._sizes(bags, ctx.num_bags)
        grad_rows = grad_bags.index_select(0, bags)  # (T, D): each token receives its bag's gradient
        if ctx.mode == "max":
            weight, output = max_saved
            grad_rows = torch.where(EmbeddingBag._attains_max(weight.index_select(0, ids), bags, output), grad_rows, 0)
        return None, None, add_rows(grad_rows, ids, ctx.num_embeddings), None, None


class Dropout(Node):
    r"""Inverted dropout: :math:`y = x \odot m / (1 - p)` with :math:`m_i \sim \mathrm{Bernoulli}(1 - p)`.

    Local gradient: :math:`\partial y / \partial x = m / (1 - p)`, so :math:`\bar{x} = \bar{y} \odot m / (1 - p)`:
    gradient flows only through the units that were kept.

    The mask is drawn with ``bernoulli_`` like ``torch.nn.functional.dropout`` on the CPU, so the same seed drops
    the same units in both. Shapes: any; ``y`` like ``x``. Saves: the mask, as booleans (1 byte per element).
    """

    @staticmethod
    def forward(x, p):
        noise = torch.empty_like(x).bernoulli_(1 - p).div_(1 - p)  # the same operations as PyTorch, bit for bit
        return x * noise, noise.bool()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.p = inputs[1]
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])

    @staticmethod
    def backward(ctx, grad_output, _grad_mask):
        (mask,) = ctx.saved_tensors
        return grad_output * mask * (1 / (1 - ctx.p)), None
