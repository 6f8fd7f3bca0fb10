"""The functional API: our graph nodes behind the names and signatures of :mod:`torch.nn.functional`.

``import in5550.functional as F`` can stand in for ``import torch.nn.functional as F``: same names, same argument
order and defaults, same output shapes and reductions. Each function checks its arguments (a bad one raises an
error that names the function, the argument and the offending shape or value), then applies one node of
:mod:`in5550.nodes`, whose forward and backward are written out by hand.

Where we differ from PyTorch, the function's docstring says so. In short: options that change what a node
computes but that the course does not use (class ``weight``, ``pos_weight``, ``max_norm``,
``scale_grad_by_freq``, ``sparse``, ``per_sample_weights``, ``inplace=True``, and the deprecated ``size_average``
and ``reduce``) raise a ``ValueError`` rather than being silently ignored.

Example::

    >>> import torch, in5550.functional as F
    >>> x = torch.randn(4, 3, requires_grad=True)
    >>> loss = F.cross_entropy(x, torch.tensor([0, 2, 1, 2]))
    >>> loss.backward()      # runs CrossEntropy.backward: softmax(x) - onehot(target), divided by 4
"""

from __future__ import annotations

import numbers

import torch

from in5550 import nodes

REDUCTIONS = ("none", "mean", "sum")
BAG_MODES = ("sum", "mean", "max")


# --------------------------------------------------------------------------------------------------------------
# Argument checks: each raises with the function's name, the argument's name and what was wrong.
# --------------------------------------------------------------------------------------------------------------


def _tensor(fn: str, name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{fn}: argument '{name}' must be a torch.Tensor, got {type(value).__name__}")
    return value


def _floating(fn: str, name: str, value) -> torch.Tensor:
    value = _tensor(fn, name, value)
    if not value.is_floating_point():
        raise TypeError(
            f"{fn}: argument '{name}' must be a floating-point tensor, got dtype {value.dtype} "
            f"of shape {tuple(value.shape)}"
        )
    return value


def _indices(fn: str, name: str, value, hint: str = "") -> torch.Tensor:
    value = _tensor(fn, name, value)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(
            f"{fn}: argument '{name}' must be an integer tensor of indices, got dtype {value.dtype} "
            f"of shape {tuple(value.shape)}{hint}"
        )
    return value


def _same_dtype(fn: str, **tensors: torch.Tensor) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"'{name}' {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"{fn}: arguments must have the same dtype, got {listed}")


def _same_shape(fn: str, input: torch.Tensor, target: torch.Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(
            f"{fn}: argument 'target' must have the shape of 'input' {tuple(input.shape)}, got {tuple(target.shape)}"
        )


def _values_visible(t: torch.Tensor) -> bool:
    """False inside ``torch.func`` transforms (vmap, grad), where a tensor's values cannot be read in Python."""
    return not torch._C._functorch.is_functorch_wrapped_tensor(t)


def _in_range(fn: str, name: str, ids: torch.Tensor, size: int, what: str,
              allowed: int | None = None) -> tuple[int, int] | None:
    """Check that every index is in ``[0, size)`` (or equals ``allowed``), naming the first offending value.
    Returns the smallest and largest index, or None where they are unknown (no index, or inside ``torch.func``)."""
    if ids.numel() == 0 or not _values_visible(ids):
        return None
    low, high = torch.stack(torch.aminmax(ids)).tolist()  # one reduction, one read (one GPU synchronisation)
    if low >= 0 and high < size:
        return low, high
    bad = (ids < 0) | (ids >= size)
    if allowed is not None:
        bad &= ids != allowed
    if bool(bad.any()):
        value = ids[bad][0].item()
        raise IndexError(f"{fn}: argument '{name}' holds {what} {value}, outside [0, {size}) ({what}s: {size})")
    return low, high


def _reduction(fn: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: argument 'reduction' must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _unsupported(fn: str, **options) -> None:
    """Reject options whose value would change the result but which our node does not implement."""
    for name, (value, default) in options.items():
        if value is not default and value != default:
            raise ValueError(f"{fn}: argument '{name}' is not supported by this node (got {value!r}, use {default!r})")


def _dim(fn: str, input: torch.Tensor, dim) -> int:
    if dim is None:
        raise ValueError(f"{fn}: argument 'dim' is required (PyTorch's implicit choice of dim is deprecated)")
    if not -max(input.dim(), 1) <= dim < max(input.dim(), 1):
        raise IndexError(f"{fn}: argument 'dim' is {dim}, out of range for input of shape {tuple(input.shape)}")
    return dim


# --------------------------------------------------------------------------------------------------------------
# Elementwise and arithmetic
# --------------------------------------------------------------------------------------------------------------


def _operand(fn: str, name: str, value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, numbers.Number):
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return _tensor(fn, name, value)


def _broadcast(fn: str, a: torch.Tensor, b: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"{fn}: shapes of 'input' {tuple(a.shape)} and 'other' {tuple(b.shape)} cannot be broadcast together"
        ) from None


def add(input: torch.Tensor, other) -> torch.Tensor:
    """``input + other`` with broadcasting (mirrors ``torch.add`` without ``alpha``); ``other`` may be a number."""
    input = _tensor("add", "input", input)
    other = _operand("add", "other", other, input)
    _broadcast("add", input, other)
    return nodes.Add.apply(input, other)


def mul(input: torch.Tensor, other) -> torch.Tensor:
    """``input * other`` elementwise with broadcasting (mirrors ``torch.mul``); ``other`` may be a number."""
    input = _tensor("mul", "input", input)
    other = _operand("mul", "other", other, input)
    _broadcast("mul", input, other)
    return nodes.Mul.apply(input, other)


def exp(input: torch.Tensor) -> torch.Tensor:
    """Elementwise :math:`e^x` (mirrors ``torch.exp``)."""
    return nodes.Exp.apply(_floating("exp", "input", input))


def log(input: torch.Tensor) -> torch.Tensor:
    """Elementwise natural logarithm (mirrors ``torch.log``)."""
    return nodes.Log.apply(_floating("log", "input", input))


def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """:math:`\\max(x, 0)` elementwise. Differs from PyTorch: ``inplace=True`` is not supported."""
    _unsupported("relu", inplace=(inplace, False))
    return nodes.ReLU.apply(_floating("relu", "input", input))


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    """:math:`1 / (1 + e^{-x})` elementwise, finite for any input."""
    return nodes.Sigmoid.apply(_floating("sigmoid", "input", input))


def tanh(input: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent elementwise."""
    return nodes.Tanh.apply(_floating("tanh", "input", input))


# --------------------------------------------------------------------------------------------------------------
# Linear layer
# --------------------------------------------------------------------------------------------------------------


def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """:math:`y = x W^T + b` for ``input`` ``(*, in)``, ``weight`` ``(out, in)``, ``bias`` ``(out,)``; ``y`` ``(*, out)``."""
    input, weight = _floating("linear", "input", input), _floating("linear", "weight", weight)
    if bias is not None:
        bias = _floating("linear", "bias", bias)
    _same_dtype("linear", input=input, weight=weight, bias=bias)
    if weight.dim() != 2:
        raise ValueError(f"linear: argument 'weight' must be 2-D (out_features, in_features), got {tuple(weight.shape)}")
    if input.dim() == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: last dimension of 'input' {tuple(input.shape)} must equal in_features of 'weight' "
            f"{tuple(weight.shape)}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: argument 'bias' must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    return nodes.Linear.apply(input, weight, bias)


# --------------------------------------------------------------------------------------------------------------
# Softmax and log-softmax
# --------------------------------------------------------------------------------------------------------------


def softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    """Softmax along ``dim``, stable for large logits. Differs from PyTorch: ``dim`` is required."""
    input = _floating("softmax", "input", input)
    return nodes.Softmax.apply(input if dtype is None else input.to(dtype), _dim("softmax", input, dim))


def log_softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    """Log-softmax along ``dim``, stable for large logits. Differs from PyTorch: ``dim`` is required."""
    input = _floating("log_softmax", "input", input)
    return nodes.LogSoftmax.apply(input if dtype is None else input.to(dtype), _dim("log_softmax", input, dim))


# --------------------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------------------


def _class_index_loss(fn: str, node, input, target, ignore_index: int, reduction: str, unsupported: dict, *options):
    """Check a loss's ``(N, C, d1, ...)`` scores against ``(N, d1, ...)`` class indices (an unbatched ``(C,)``
    input is batched and its loss unbatched again), then apply ``node``."""
    _unsupported(fn, **unsupported)
    _reduction(fn, reduction)
    input = _floating(fn, "input", input)
    target = _indices(fn, "target", target, hint=" (class indices; probability targets are not supported)")
    unbatched = input.dim() == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if input.dim() == 0 or target.shape != input.shape[:1] + input.shape[2:]:
        raise ValueError(
            f"{fn}: argument 'target' of shape {tuple(target.shape)} does not match 'input' of shape "
            f"{tuple(input.shape)} (expected target shape {tuple(input.shape[:1] + input.shape[2:])})"
        )
    span = _in_range(fn, "target", target, input.shape[1], "class index", allowed=ignore_index)
    if span is not None and not span[0] <= ignore_index <= span[1]:
        ignore_index = None  # no target is ignored: the node need not mask
    loss = node.apply(input, target, ignore_index, reduction, *options)
    return loss.squeeze(0) if unbatched and reduction == "none" else loss


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy of logits ``input`` ``(N, C)`` / ``(N, C, d1, ...)`` / ``(C,)`` against class indices.

    One fused node (:class:`in5550.nodes.CrossEntropy`) whose backward is softmax minus one-hot. Differs from
    PyTorch: targets must be class indices (not probabilities), and ``weight`` is not supported.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: argument 'label_smoothing' must be in [0, 1], got {label_smoothing}")
    unsupported = {"weight": (weight, None), "size_average": (size_average, None), "reduce": (reduce, None)}
    return _class_index_loss("cross_entropy", nodes.CrossEntropy, input, target, ignore_index, reduction,
                             unsupported, float(label_smoothing))


def nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of class indices given log-probabilities ``input``. Differs: no class ``weight``."""
    unsupported = {"weight": (weight, None), "size_average": (size_average, None), "reduce": (reduce, None)}
    return _class_index_loss("nll_loss", nodes.NLLLoss, input, target, ignore_index, reduction, unsupported)


def _pointwise_loss_args(fn: str, input, target, reduction, **unsupported):
    _unsupported(fn, **unsupported)
    _reduction(fn, reduction)
    input, target = _floating(fn, "input", input), _floating(fn, "target", target)
    _same_shape(fn, input, target)
    _same_dtype(fn, input=input, target=target)
    return input, target


def binary_cross_entropy(
    input: torch.Tensor, target: torch.Tensor, weight=None, size_average=None, reduce=None, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] (sigmoid outputs); logs clamped at -100 as in PyTorch.

    Differs from PyTorch: ``weight`` is not supported, and the gradient with respect to ``target`` uses the same
    clamped logs as the loss (finite where PyTorch gives inf at ``input`` 0 or 1).
    """
    fn = "binary_cross_entropy"
    input, target = _pointwise_loss_args(
        fn, input, target, reduction, weight=(weight, None), size_average=(size_average, None), reduce=(reduce, None)
    )
    if input.numel() and _values_visible(input):
        outside = (input < 0) | (input > 1) | input.isnan()
        if bool(outside.any()):
            raise ValueError(f"{fn}: argument 'input' must hold probabilities in [0, 1], got {input[outside][0].item()}")
    return nodes.BinaryCrossEntropy.apply(input, target, reduction)


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
) -> torch.Tensor:
    """Sigmoid and binary cross-entropy fused, on logits; finite for any logit.

    Differs from PyTorch: ``weight`` and ``pos_weight`` are not supported.
    """
    input, target = _pointwise_loss_args(
        "binary_cross_entropy_with_logits", input, target, reduction,
        weight=(weight, None), size_average=(size_average, None), reduce=(reduce, None), pos_weight=(pos_weight, None),
    )
    return nodes.BinaryCrossEntropyWithLogits.apply(input, target, reduction)


def mse_loss(
    input: torch.Tensor, target: torch.Tensor, size_average=None, reduce=None, reduction: str = "mean", weight=None
) -> torch.Tensor:
    """Mean squared error. Differs from PyTorch: ``target`` must have the shape of ``input`` (PyTorch broadcasts
    with a warning, a frequent silent bug), and ``weight`` is not supported."""
    input, target = _pointwise_loss_args(
        "mse_loss", input, target, reduction, weight=(weight, None), size_average=(size_average, None),
        reduce=(reduce, None),
    )
    return nodes.MSELoss.apply(input, target, reduction)


# --------------------------------------------------------------------------------------------------------------
# NLP nodes
# --------------------------------------------------------------------------------------------------------------


def _table(fn: str, weight) -> torch.Tensor:
    weight = _floating(fn, "weight", weight)
    if weight.dim() != 2:
        raise ValueError(f"{fn}: argument 'weight' must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    return weight


def _padding_idx(fn: str, padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: argument 'padding_idx' is {padding_idx}, outside [-{num_embeddings}, {num_embeddings})")
    return padding_idx % num_embeddings


def embedding(
    input: torch.Tensor,
    weight: torch.Tensor,
    padding_idx: int | None = None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> torch.Tensor:
    """Rows of ``weight`` ``(V, D)`` for token ids ``input`` of any shape; output ``(*input.shape, D)``.

    The row ``padding_idx`` receives no gradient. Differs: ``max_norm``, ``scale_grad_by_freq``, ``sparse`` unsupported.
    """
    fn = "embedding"
    _unsupported(fn, max_norm=(max_norm, None), scale_grad_by_freq=(scale_grad_by_freq, False), sparse=(sparse, False))
    input, weight = _indices(fn, "input", input), _table(fn, weight)
    _in_range(fn, "input", input, weight.shape[0], "token id")
    return nodes.Embedding.apply(input, weight, _padding_idx(fn, padding_idx, weight.shape[0]))


def _bounds(fn: str, input: torch.Tensor, offsets, include_last_offset: bool):
    """Turn 2-D ``input`` ``(B, L)``, or 1-D ``input`` with ``offsets``, into flat ids and the ``(B + 1,)`` bounds
    of the bags: bag ``b`` is ``ids[bounds[b]:bounds[b + 1]]``."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(f"{fn}: argument 'offsets' must be None when 'input' is 2-D, got {tuple(input.shape)} input")
        num_bags, length = input.shape
        return input.reshape(-1), torch.arange(num_bags + 1, device=input.device) * length
    if input.dim() != 1:
        raise ValueError(f"{fn}: argument 'input' must be 1-D (with offsets) or 2-D (bags of equal length), got {tuple(input.shape)}")
    if offsets is None:
        raise ValueError(f"{fn}: argument 'offsets' is required when 'input' is 1-D")
    offsets = _indices(fn, "offsets", offsets)
    if offsets.dim() != 1:
        raise ValueError(f"{fn}: argument 'offsets' must be 1-D, got shape {tuple(offsets.shape)}")
    n = input.numel()
    bounds = offsets if include_last_offset else torch.cat([offsets, offsets.new_full((1,), n)])
    steps = bounds.diff() if bounds.numel() > 1 else bounds.new_zeros(1)
    # one read of three numbers (a single device synchronisation on a GPU) in the common case
    first, last, smallest_step = torch.cat([bounds[:1], bounds[-1:], steps.amin(0, keepdim=True)]).tolist() \
        if bounds.numel() else (None, None, None)
    if last != n:
        raise ValueError(f"{fn}: with include_last_offset=True the last offset must be {n}, the input length")
    if bounds.numel() == 1:  # no bags: like PyTorch, an empty output whatever the input holds
        return input[:0], bounds.new_zeros(1)
    if first != 0:
        raise ValueError(f"{fn}: argument 'offsets' must start at 0, got {first}")
    if smallest_step < 0:
        raise ValueError(f"{fn}: argument 'offsets' must be non-decreasing and at most {n}, got {offsets.tolist()}")
    return input, bounds


def embedding_bag(
    input: torch.Tensor,
    weight: torch.Tensor,
    offsets: torch.Tensor | None = None,
    max_norm=None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights=None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> torch.Tensor:
    """Sum, mean or max of the embeddings of each bag of token ids; output ``(B, D)``.

    Bags are the rows of a 2-D ``input`` ``(B, L)``, or the slices ``input[offsets[b]:offsets[b+1]]`` of a 1-D
    ``input``. Tokens equal to ``padding_idx`` are left out (also of the bag size for the mean); empty bags give
    zeros. Differs from PyTorch: on ties, ``"max"`` shares the gradient among the tied tokens; ``max_norm``,
    ``scale_grad_by_freq``, ``sparse`` and ``per_sample_weights`` are not supported.
    """
    fn = "embedding_bag"
    _unsupported(
        fn, max_norm=(max_norm, None), scale_grad_by_freq=(scale_grad_by_freq, False), sparse=(sparse, False),
        per_sample_weights=(per_sample_weights, None),
    )
    if mode not in BAG_MODES:
        raise ValueError(f"{fn}: argument 'mode' must be one of {BAG_MODES}, got {mode!r}")
    input, weight = _indices(fn, "input", input), _table(fn, weight)
    span = _in_range(fn, "input", input, weight.shape[0], "token id")
    ids, bounds = _bounds(fn, input, offsets, include_last_offset)
    padding_idx = _padding_idx(fn, padding_idx, weight.shape[0])
    if padding_idx is not None and (span is None or span[0] <= padding_idx <= span[1]):  # else no token is padding
        keep = ids != padding_idx
        kept_before = torch.cat([keep.new_zeros(1, dtype=bounds.dtype), keep.cumsum(0)])  # kept tokens before i
        ids, bounds = ids[keep], kept_before[bounds]
    return nodes.EmbeddingBag.apply(ids, bounds, weight, mode)


def dropout(input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``; identity when not training.

    Same random mask as ``torch.nn.functional.dropout`` on the CPU for the same seed. Differs: ``inplace=True``
    is not supported.
    """
    _unsupported("dropout", inplace=(inplace, False))
    input = _floating("dropout", "input", input)
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: argument 'p' must be a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return mul(input, 0.0)
    return nodes.Dropout.apply(input, float(p))[0]
