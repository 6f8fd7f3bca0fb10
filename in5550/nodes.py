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

import warnings

import torch
from torch._functorch import utils as _functorch_utils
from torch.autograd import Function


class Node(Function):
    """Base of every node here: enables ``torch.func`` transforms through the generated vmap rule, and applies
    a node without ``Function.apply``'s per-call overhead where that overhead buys nothing."""

    generate_vmap_rule = True

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the node and record it in the graph, as ``Function.apply`` does.

        ``Function.apply`` first binds the arguments to ``forward``'s signature with ``inspect`` so that
        ``setup_context`` sees defaults filled in; that costs more than a small node's arithmetic (about 13 µs a
        call). When every parameter of ``forward`` is given positionally there is nothing to fill in, so this
        goes straight to autograd's own ``apply``; keywords, missing arguments and ``torch.func`` transforms take
        the general path.
        """
        code = getattr(cls.forward, "__code__", None)  # None for a forward that is not a plain Python function
        if kwargs or code is None or len(args) != code.co_argcount or torch._C._are_functorch_transforms_active():
            return super().apply(*args, **kwargs)
        return super(Function, cls).apply(*_functorch_utils.unwrap_dead_wrappers(args))


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
    :math:`\bar{x} = \bar{y} \odot [y > 0]`.

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
        return grad_output * (y > 0)


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
        grad_rows = grad_output.reshape(-1, grad_output.shape[-1])  # (N, out)
        grad_x = grad_output.matmul(weight) if need_x else None
        grad_w = grad_rows.t().matmul(x.reshape(-1, x.shape[-1])) if need_w else None
        grad_b = grad_rows.sum(0) if need_b else None
        return grad_x, grad_w, grad_b


# --------------------------------------------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------------------------------------------


def _log_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    r""":math:`\log \mathrm{softmax}(x)_i = (x_i - m) - \log \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`.

    Subtracting the maximum keeps every exponent :math:`\le 0`: no overflow even for logits of :math:`10^4`."""
    shifted = x - x.amax(dim, keepdim=True)
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


class Softmax(Node):
    r"""Softmax along ``dim``, :math:`y_i = e^{x_i} / \sum_j e^{x_j}` (computed with the maximum subtracted).

    Local gradient (Jacobian): :math:`\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)`, so
    :math:`\bar{x} = y \odot (\bar{y} - \sum_j \bar{y}_j y_j)`: no Jacobian matrix is ever built.

    Shapes: any; ``y`` like ``x``. Saves: the output ``y``.
    """

    @staticmethod
    def forward(x, dim):
        shifted = (x - x.amax(dim, keepdim=True)).exp()
        return shifted / shifted.sum(dim, keepdim=True)

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
    """Zero the entries of ignored samples (``keep`` from :func:`_class_targets`)."""
    return per_sample if keep is None else per_sample * keep


def _grad_per_target(grad_output, reduction: str, count, keep, target: torch.Tensor) -> torch.Tensor:
    r""":math:`\bar{\ell}_n` for every target, shaped like it: the backward of :func:`_reduce`, zero where ignored."""
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
    one. ``index_add_`` works on a fresh tensor, so autograd can still differentiate
    it with respect to ``rows`` (double backward).
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
        grad_rows = grad_output.reshape(ids.numel(), -1)
        if ctx.padding_idx is not None:
            grad_rows = grad_rows * (ids != ctx.padding_idx).unsqueeze(1)
        return None, add_rows(grad_rows, ids, ctx.num_embeddings), None


class EmbeddingBag(Node):
    r"""Embeddings of bags of tokens reduced per bag: :math:`y_b = \operatorname{reduce}_{i \in b} W_{\mathrm{ids}_i}`
    with ``mode`` ``"sum"``, ``"mean"`` (divided by the bag's size :math:`s_b`) or ``"max"`` (per component);
    an empty bag gives zeros.

    For ``"sum"`` and ``"mean"`` the forward is a product :math:`y = A W` with the sparse bag-of-words matrix
    :math:`A_{b,v} = (\text{count of token } v \text{ in bag } b) / s_b` (:math:`s_b = 1` for the sum), which never
    builds the ``(T, D)`` rows of the tokens: the counts times :math:`W`, then each row divided by :math:`s_b`.

    Local gradients: for ``"sum"`` and ``"mean"``, :math:`\bar{W} = A^\top \bar{y}`: token :math:`i` receives the
    gradient of its bag :math:`b(i)`, divided by :math:`s_{b(i)}`, and each row of the table adds up what its
    tokens receive, :math:`\bar{W}_v = \sum_{i: \mathrm{ids}_i = v} \bar{y}_{b(i)} / s_{b(i)}`, so repeated ids
    accumulate. For ``"max"`` each component of :math:`\bar{y}_b` goes to the token that attained the maximum
    (shared equally on ties, like ``torch.amax``).

    Shapes: ``ids`` ``(T,)`` integers; ``bounds`` ``(B + 1,)`` non-decreasing, from 0 to :math:`T`: bag :math:`b`
    is ``ids[bounds[b]:bounds[b + 1]]`` (PyTorch's ``offsets`` with ``include_last_offset=True``, and the row
    pointers of :math:`A` in compressed sparse rows); ``W`` ``(V, D)``; ``y`` ``(B, D)``.
    :func:`in5550.functional.embedding_bag` turns ``offsets`` (or 2-D input) into ``bounds`` and drops
    ``padding_idx`` tokens. Saves: ``ids`` and ``bounds``; for ``"max"`` also ``W`` and the output.
    """

    @staticmethod
    def forward(ids, bounds, weight, mode):
        sizes = bounds.diff()
        if mode == "max":
            rows = weight.index_select(0, ids)  # (T, D)
            out = weight.new_zeros(sizes.numel(), weight.shape[1])
            bags = EmbeddingBag._bag_of_each_token(sizes, ids.numel())
            return out.scatter_reduce_(0, bags.unsqueeze(1).expand_as(rows), rows, "amax", include_self=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # PyTorch flags sparse CSR tensors as beta
            counts = torch.sparse_csr_tensor(bounds.to(ids.dtype), ids, torch.ones_like(ids, dtype=weight.dtype),
                                             size=(sizes.numel(), weight.shape[0]))
        sums = counts @ weight
        return sums / EmbeddingBag._divisors(sizes) if mode == "mean" else sums

    @staticmethod
    def _divisors(sizes):
        """``(B, 1)`` integers: the divisor of each bag's mean, its size, at least 1 so that an empty bag divides 0
        by 1. Dividing a float tensor by it gives that float type."""
        return sizes.clamp_min(1).unsqueeze(1)

    @staticmethod
    def _spread(per_bag, sizes, num_tokens):
        """``(T, ...)``: row ``b`` of ``per_bag`` repeated for each of bag ``b``'s tokens (the output size is given,
        so a GPU need not be asked for it)."""
        return per_bag.repeat_interleave(sizes, dim=0, output_size=num_tokens)

    @staticmethod
    def _bag_of_each_token(sizes, num_tokens):
        """``(T,)``: the bag that each token belongs to."""
        return EmbeddingBag._spread(torch.arange(sizes.numel(), device=sizes.device), sizes, num_tokens)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ids, bounds, weight, ctx.mode = inputs
        ctx.num_embeddings = weight.shape[0]
        ctx.save_for_backward(ids, bounds, *((weight, output) if ctx.mode == "max" else ()))

    @staticmethod
    def backward(ctx, grad_output):
        ids, bounds, *max_saved = ctx.saved_tensors
        sizes = bounds.diff()
        if ctx.mode == "mean":
            grad_output = grad_output / EmbeddingBag._divisors(sizes)
        grad_rows = EmbeddingBag._spread(grad_output, sizes, ids.numel())  # each token receives its bag's gradient
        if ctx.mode == "max":
            weight, output = max_saved
            is_max = weight.index_select(0, ids) == EmbeddingBag._spread(output, sizes, ids.numel())
            is_max = is_max.to(grad_rows.dtype)
            bags = EmbeddingBag._bag_of_each_token(sizes, ids.numel())
            grad_rows = grad_rows * is_max / add_rows(is_max, bags, sizes.numel()).index_select(0, bags)
        return None, None, add_rows(grad_rows, ids, ctx.num_embeddings), None


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
