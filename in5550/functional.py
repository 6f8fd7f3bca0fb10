"""The functional API: our graph nodes behind the names and signatures of :mod:`torch.nn.functional`.

``import in5550.functional as F`` can stand in for ``import torch.nn.functional as F``: same names, same argument
order and defaults, same output shapes and reductions. Each function checks its arguments (a bad one raises an
error that names the function, the argument and the offending shape or value), then applies one node of
:mod:`in5550.nodes`, whose forward and backward are written out by hand.

Where we differ from PyTorch, the function's docstring says so. In short: options that change what a node
computes but that the course does not use (class ``weight``, ``pos_weight``, ``max_norm``,
``scale_grad_by_freq``, ``sparse``, ``per_sample_weights``, ``inplace=True``, and the deprecated ``size_average``
and ``reduce``) raise a ``ValueError`` rather than being silently ignored. As deliberate extensions, class
indices and token ids may be of any integer type (PyTorch takes int64 or uint8 targets, int64 or int32 ids).

Checks that read a tensor's values (ids and targets in range, offsets in order) cannot run where there are no
values to read: on the ``meta`` device, inside ``torch.func.vmap``, and while ``torch.compile`` traces a function
(reading a value there would break the graph in two). They are skipped there; an index out of range is then
reported by the indexing operation itself. The checks of shapes, dtypes and options always run.

Under ``torch.autocast`` each function casts its floating-point inputs as PyTorch's autocast casts those of the
same ``torch.nn.functional`` op (:data:`AUTOCAST`), outside the node and differentiably, so that a node's forward
and backward each see a single dtype: ``linear`` runs in the lower precision, the losses in float32.

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

# What torch.autocast does to the torch.nn.functional ops that we mirror, per device type (PyTorch's lists in
# aten/src/ATen/autocast_mode.h): "lower" runs in the autocast dtype (float16 or bfloat16), "float32" in float32;
# an op not listed runs in the dtype of its inputs. float64 inputs are never cast, as in PyTorch.
# (PyTorch refuses binary_cross_entropy under CUDA autocast; we run it in float32, like the other losses.)
_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss")
AUTOCAST = {
    "cpu": {"linear": "lower", **dict.fromkeys(_LOSSES, "float32")},
    "cuda": {"linear": "lower", **dict.fromkeys(("exp", "log", "softmax", "log_softmax", *_LOSSES), "float32")},
}


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


def _autocast(fn: str, *tensors):
    """``tensors`` as ``torch.autocast`` casts the inputs of ``torch.nn.functional.<fn>`` (see :data:`AUTOCAST`);
    unchanged outside autocast. The casts are recorded by autograd, which casts the gradients back."""
    device = tensors[0].device.type
    policy = AUTOCAST.get(device, {}).get(fn)
    if policy is None or not torch.is_autocast_enabled(device):
        return tensors
    dtype = torch.get_autocast_dtype(device) if policy == "lower" else torch.float32
    return tuple(t.to(dtype) if t is not None and t.is_floating_point() and t.dtype != torch.float64 else t
                 for t in tensors)


def _read(t: torch.Tensor) -> list | None:
    """The values of ``t`` as a Python list, or None where they cannot be read: on the ``meta`` device (no data),
    while ``torch.compile`` traces (a read would break the graph), inside ``torch.func.vmap`` (PyTorch refuses)."""
    if torch.compiler.is_compiling():
        return None
    try:
        return t.tolist()
    except RuntimeError:  # meta: NotImplementedError (a RuntimeError); vmap: "It looks like you're calling .item()"
        return None


def _in_range(fn: str, name: str, ids: torch.Tensor, size: int, what: str,
              allowed: int | None = None) -> tuple[int, int] | None:
    """Check that every index is in ``[0, size)`` (or equals ``allowed``), naming the first offending value.
    Returns the smallest and largest index, or None where they are unknown (no index, or values not readable:
    see :func:`_read`)."""
    if ids.numel() == 0:
        return None
    span = _read(torch.stack(torch.aminmax(ids)))  # one reduction, one read (one GPU synchronisation)
    if span is None:
        return None
    low, high = span
    if low >= 0 and high < size:
        return low, high
    bad = (ids < 0) | (ids >= size)
    if allowed is not None:
        bad &= ids != allowed
    if bool(bad.any()):
        value = ids[bad][0].item()
        raise IndexError(f"{fn}: argument '{name}' holds {what} {value}, outside [0, {size})")
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


def _operands(fn: str, input, other) -> tuple[torch.Tensor, torch.Tensor]:
    """Both operands as tensors, with PyTorch's type promotion for a Python number: ``int tensor * 0.5`` is a float
    tensor, and the number keeps its precision (it becomes a 0-dimensional float64 or int64 tensor on the CPU, which
    a float16 tensor does not promote: ``1e-3 * 7e4`` is 70 in float16, not ``1e-3 * inf``)."""
    if isinstance(input, numbers.Number) and isinstance(other, torch.Tensor):
        other, input = _operands(fn, other, input)
        return input, other
    input = _tensor(fn, "input", input)
    if isinstance(other, numbers.Number):
        dtype = _promoted(input, other)
        precise = torch.float64 if dtype.is_floating_point else torch.complex128 if dtype.is_complex else None
        return input.to(dtype), torch.tensor(other, dtype=precise)
    return input, _tensor(fn, "other", other)


def _promoted(tensor: torch.Tensor, number) -> torch.dtype:
    """The dtype of ``tensor <op> number`` by PyTorch's rule for Python numbers (``torch.result_type``, written out
    because ``torch.compile`` cannot trace a call that returns a dtype): the number only lifts the category
    (bool < integer < floating point < complex), to the default dtype of its own category."""
    if isinstance(number, bool) or (isinstance(number, numbers.Integral) and tensor.dtype != torch.bool):
        return tensor.dtype
    if isinstance(number, numbers.Integral):
        return torch.int64
    if isinstance(number, numbers.Real):
        return tensor.dtype if tensor.is_floating_point() or tensor.is_complex() else torch.get_default_dtype()
    if tensor.is_complex():
        return tensor.dtype
    return {torch.float64: torch.complex128, torch.float16: torch.complex32}.get(tensor.dtype, torch.complex64)


def _broadcast(fn: str, a: torch.Tensor, b: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"{fn}: shapes of 'input' {tuple(a.shape)} and 'other' {tuple(b.shape)} cannot be broadcast together"
        ) from None


def add(input: torch.Tensor, other) -> torch.Tensor:
    """``input + other`` with broadcasting (mirrors ``torch.add`` without ``alpha``); ``other`` may be a number."""
    input, other = _operands("add", input, other)
    _broadcast("add", input, other)
    return nodes.Add.apply(input, other)


def mul(input: torch.Tensor, other) -> torch.Tensor:
    """``input * other`` elementwise with broadcasting (mirrors ``torch.mul``); ``other`` may be a number."""
    input, other = _operands("mul", input, other)
    _broadcast("mul", input, other)
    return nodes.Mul.apply(input, other)


def exp(input: torch.Tensor) -> torch.Tensor:
    """Elementwise :math:`e^x` (mirrors ``torch.exp``)."""
    return nodes.Exp.apply(*_autocast("exp", _floating("exp", "input", input)))


def log(input: torch.Tensor) -> torch.Tensor:
    """Elementwise natural logarithm (mirrors ``torch.log``)."""
    return nodes.Log.apply(*_autocast("log", _floating("log", "input", input)))


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
    input, weight, bias = _autocast("linear", input, weight, bias)
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


def _softmax_input(fn: str, input, dim, dtype) -> tuple[torch.Tensor, int]:
    input = _floating(fn, "input", input)
    dim = _dim(fn, input, dim)
    (input,) = _autocast(fn, input) if dtype is None else (input.to(dtype),)
    return input, dim


def softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    """Softmax along ``dim``, stable for large logits. Differs from PyTorch: ``dim`` is required."""
    return nodes.Softmax.apply(*_softmax_input("softmax", input, dim, dtype))


def log_softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> torch.Tensor:
    """Log-softmax along ``dim``, stable for large logits. Differs from PyTorch: ``dim`` is required."""
    return nodes.LogSoftmax.apply(*_softmax_input("log_softmax", input, dim, dtype))


# --------------------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------------------


def _class_index_loss(fn: str, node, input, target, ignore_index: int, reduction: str, unsupported: dict, *options):
    """Check a loss's ``(N, C, d1, ...)`` scores against ``(N, d1, ...)`` class indices (an unbatched ``(C,)``
    input is batched and its loss unbatched again), then apply ``node``."""
    _unsupported(fn, **unsupported)
    _reduction(fn, reduction)
    input = _floating(fn, "input", input)
    target = _indices(fn, "target", target, hint=" (class indices; probability targets are not supported)").long()
    (input,) = _autocast(fn, input)
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
    input, target = _autocast(fn, input, target)
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
    outside = (input < 0) | (input > 1) | input.isnan()
    if input.numel() and _read(outside.any()):
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


def _ids(fn: str, name: str, value) -> torch.Tensor:
    """Token ids of any integer type (a deliberate extension: PyTorch takes int64 and int32), as a type that the
    indexing operations take (int32 and int64 are kept, smaller types become int64)."""
    value = _indices(fn, name, value)
    return value if value.dtype in (torch.int64, torch.int32) else value.long()


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
    input, weight = _ids(fn, "input", input), _table(fn, weight)
    _in_range(fn, "input", input, weight.shape[0], "token id")
    return nodes.Embedding.apply(input, weight, _padding_idx(fn, padding_idx, weight.shape[0]))


def _check_bounds(fn: str, bounds: torch.Tensor, offsets: torch.Tensor, n: int) -> None:
    """Check the ``(B + 1,)`` bounds of the bags over ``n`` tokens: from 0 to ``n``, non-decreasing. One read of
    three numbers (a single device synchronisation on a GPU); skipped where values cannot be read (:func:`_read`)."""
    steps = bounds.diff() if bounds.numel() > 1 else bounds.new_zeros(1)
    summary = _read(torch.cat([bounds[:1], bounds[-1:], steps.amin(0, keepdim=True)])) if bounds.numel() else [None] * 3
    if summary is None:
        return
    first, last, smallest_step = summary
    if last != n:
        raise ValueError(f"{fn}: with include_last_offset=True the last offset must be {n}, the input length")
    if bounds.numel() > 1 and first != 0:
        raise ValueError(f"{fn}: argument 'offsets' must start at 0, got {first}")
    if smallest_step < 0:
        raise ValueError(f"{fn}: argument 'offsets' must be non-decreasing and at most {n}, got {offsets.tolist()}")


def _bags(fn: str, input: torch.Tensor, offsets, include_last_offset: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Flat ids ``(T,)``, the bag of each token ``(T,)`` and the number of bags :math:`B`, from a 2-D ``input``
    ``(B, L)`` (a bag per row) or a 1-D ``input`` with ``offsets`` (bag ``b`` is ``input[offsets[b]:offsets[b+1]]``).
    Every shape here follows from the shapes of the arguments, never from their values: a static graph."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(f"{fn}: argument 'offsets' must be None when 'input' is 2-D, got {tuple(input.shape)} input")
        num_bags, length = input.shape
        bags = torch.arange(num_bags, device=input.device).unsqueeze(1).expand(num_bags, length)
        return input.reshape(-1), bags.reshape(-1), num_bags
    if input.dim() != 1:
        raise ValueError(f"{fn}: argument 'input' must be 1-D (with offsets) or 2-D (bags of equal length), got {tuple(input.shape)}")
    if offsets is None:
        raise ValueError(f"{fn}: argument 'offsets' is required when 'input' is 1-D")
    offsets = _indices(fn, "offsets", offsets)
    if offsets.dim() != 1:
        raise ValueError(f"{fn}: argument 'offsets' must be 1-D, got shape {tuple(offsets.shape)}")
    n = input.numel()
    bounds = offsets if include_last_offset else torch.cat([offsets, offsets.new_full((1,), n)])
    _check_bounds(fn, bounds, offsets, n)
    num_bags = bounds.numel() - 1
    if num_bags < 1:  # no bags: like PyTorch, an empty output whatever the input holds
        return input[:0], offsets.new_zeros(0, dtype=torch.long), 0
    sizes = bounds.diff()
    bags = torch.arange(num_bags, device=input.device).repeat_interleave(sizes, output_size=n)
    return input, bags, num_bags


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
    zeros. Differs from PyTorch: ``max_norm``, ``scale_grad_by_freq``, ``sparse`` and ``per_sample_weights`` are
    not supported; in ``"max"`` mode a NaN is the maximum of its bag (PyTorch's CPU kernel keeps a NaN only when
    it comes first in the bag), and ids of any integer type are taken.
    """
    fn = "embedding_bag"
    _unsupported(
        fn, max_norm=(max_norm, None), scale_grad_by_freq=(scale_grad_by_freq, False), sparse=(sparse, False),
        per_sample_weights=(per_sample_weights, None),
    )
    if mode not in BAG_MODES:
        raise ValueError(f"{fn}: argument 'mode' must be one of {BAG_MODES}, got {mode!r}")
    input, weight = _ids(fn, "input", input), _table(fn, weight)
    span = _in_range(fn, "input", input, weight.shape[0], "token id")
    ids, bags, num_bags = _bags(fn, input, offsets, include_last_offset)
    padding_idx = _padding_idx(fn, padding_idx, weight.shape[0])
    if padding_idx is not None and (span is None or span[0] <= padding_idx <= span[1]):  # else no token is padding
        bags = torch.where(ids == padding_idx, num_bags, bags)  # bag B: left out
    return nodes.EmbeddingBag.apply(ids, bags, weight, mode, num_bags)


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
