"""Unusual inputs at the nodes, each compared with what torch.nn.functional does on the same input: the mean over
no counted target, Python numbers and type promotion, empty tensors, the meta device, integer types, torch.func
transforms, and gradients at NaN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF

import in5550.functional as F
from in5550 import cases

D = torch.float64
RTOL64, ATOL64 = 1e-10, 1e-12  # the same formula in float64: rounding only
IGNORE = -100


def _torch(name: str):
    return cases.REGISTRY[name].torch_function() if name in cases.REGISTRY else getattr(TF, name)


def _value_and_grads(fn, inputs: list[torch.Tensor], *args, **kwargs):
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*leaves, *args, **kwargs)
    grad_output = torch.ones_like(out)
    return out, torch.autograd.grad(out, leaves, grad_output, allow_unused=True)


def _assert_same(ours, theirs):
    (out, grads), (expected, expected_grads) = ours, theirs
    assert out.dtype == expected.dtype and out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=RTOL64, atol=ATOL64, equal_nan=True)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL64, atol=ATOL64, equal_nan=True)


# --------------------------------------------------------------------------------------------------------------
# A mean over no counted target: NaN loss as in PyTorch, but zero gradients (never NaN ones)
# --------------------------------------------------------------------------------------------------------------

NO_COUNTED_TARGET = {
    "cross_entropy, all ignored": ("cross_entropy", torch.randn(3, 4, dtype=D), torch.full((3,), IGNORE), {}),
    "cross_entropy, label smoothing": ("cross_entropy", torch.randn(3, 4, dtype=D), torch.full((3,), IGNORE),
                                       {"label_smoothing": 0.2}),
    "cross_entropy, unbatched": ("cross_entropy", torch.randn(4, dtype=D), torch.tensor(IGNORE), {}),
    "cross_entropy, own ignore_index": ("cross_entropy", torch.randn(2, 3, 5, dtype=D), torch.full((2, 5), 1),
                                        {"ignore_index": 1}),
    "cross_entropy, empty batch": ("cross_entropy", torch.randn(0, 4, dtype=D), torch.zeros(0, dtype=torch.long), {}),
    "cross_entropy, all ignored, sum": ("cross_entropy", torch.randn(3, 4, dtype=D), torch.full((3,), IGNORE),
                                        {"reduction": "sum"}),
    "nll_loss, all ignored": ("nll_loss", torch.randn(3, 4, dtype=D), torch.full((3,), IGNORE), {}),
    "nll_loss, unbatched": ("nll_loss", torch.randn(4, dtype=D), torch.tensor(IGNORE), {}),
    "nll_loss, empty batch": ("nll_loss", torch.randn(0, 4, dtype=D), torch.zeros(0, dtype=torch.long), {}),
}


@pytest.mark.parametrize("case", NO_COUNTED_TARGET)
def test_loss_over_no_counted_target_has_zero_gradients_like_pytorch(case):
    name, logits, target, options = NO_COUNTED_TARGET[case]
    ours = _value_and_grads(getattr(F, name), [logits], target, **options)
    theirs = _value_and_grads(_torch(name), [logits], target, **options)
    _assert_same(ours, theirs)
    assert torch.isfinite(ours[1][0]).all()  # one optimiser step on it changes no weight into NaN


def test_ignored_sample_with_infinite_logits_stays_out_of_the_loss():
    logits = torch.tensor([[0.0, 1.0], [float("inf"), 0.0]], dtype=D)
    target = torch.tensor([1, IGNORE])
    _assert_same(_value_and_grads(F.cross_entropy, [logits], target),
                 _value_and_grads(TF.cross_entropy, [logits], target))


# --------------------------------------------------------------------------------------------------------------
# Python numbers follow PyTorch's type promotion, and keep their precision
# --------------------------------------------------------------------------------------------------------------

NUMBER_OPERANDS = [
    (torch.tensor([1, 2, 3]), 0.5),  # int tensor, float number: a float result
    (torch.tensor([1e-3, 2.0], dtype=torch.float16), 7e4),  # 7e4 is inf in float16, the product is not
    (torch.tensor([1.0, 2.0], dtype=torch.bfloat16), 1 / 3),
    (torch.tensor([True, False]), 2),  # bool tensor, int number: int64
    (torch.tensor([True, False]), True),
    (torch.tensor([3, 4], dtype=torch.uint8), 2),  # stays uint8, as in PyTorch
    (torch.tensor([1.5, 2.5], dtype=D), 3),
    (torch.tensor([1.5, 2.5], dtype=D), 1 / 3),  # the number in double precision, not rounded to float32 first
    (1 / 3, torch.tensor([1.5, 2.5], dtype=D)),
    (torch.tensor([1.5 + 1j], dtype=torch.complex128), 1 / 3 + 1j / 7),
    (2.5, torch.tensor([1, 2])),  # the number first
    (torch.tensor([1.0, 2.0]), 2j),  # complex numbers: complex64 for float32 and integers, complex128 for float64
    (torch.tensor([1.0, 2.0], dtype=D), 2j),
    (torch.tensor([1, 2]), 2j),
]


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("input, other", NUMBER_OPERANDS, ids=lambda v: repr(v) if not torch.is_tensor(v) else str(v.dtype))
def test_python_numbers_follow_pytorchs_type_promotion(op, input, other):
    ours, theirs = getattr(F, op)(input, other), getattr(torch, op)(input, other)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_gradient_through_a_large_number_in_float16_stays_finite():
    x = torch.tensor([1e-3, 2e-4], dtype=torch.float16)
    _assert_same(_value_and_grads(lambda t: F.mul(t, 7e4), [x]), _value_and_grads(lambda t: t * 7e4, [x]))


# --------------------------------------------------------------------------------------------------------------
# Empty tensors: a result where PyTorch gives one
# --------------------------------------------------------------------------------------------------------------

EMPTY = {
    "embedding, no ids": ("embedding", [torch.randn(4, 3, dtype=D)], [torch.zeros(0, dtype=torch.long)], {}),
    "embedding, (2, 0) ids, padding": ("embedding", [torch.randn(4, 3, dtype=D)], [torch.zeros(2, 0, dtype=torch.long)],
                                       {"padding_idx": 0}),
    "linear, in_features 0": ("linear", [torch.randn(3, 0, dtype=D), torch.randn(2, 0, dtype=D), torch.randn(2, dtype=D)],
                              [], {}),
    "linear, out_features 0": ("linear", [torch.randn(3, 2, dtype=D), torch.randn(0, 2, dtype=D)], [], {}),
    "linear, empty batch": ("linear", [torch.randn(0, 2, dtype=D), torch.randn(3, 2, dtype=D)], [], {}),
    "softmax, empty dim": ("softmax", [torch.randn(3, 0, dtype=D)], [], {"dim": 1}),
    "softmax, empty other dim": ("softmax", [torch.randn(0, 3, dtype=D)], [], {"dim": 1}),
    "log_softmax, empty dim": ("log_softmax", [torch.randn(2, 0, 3, dtype=D)], [], {"dim": 1}),
    "embedding_bag, no tokens": ("embedding_bag", [torch.randn(4, 3, dtype=D)], [torch.zeros(0, dtype=torch.long)],
                                 {"offsets": torch.tensor([0, 0])}),
    "mse_loss, empty, sum": ("mse_loss", [torch.randn(0, 3, dtype=D), torch.randn(0, 3, dtype=D)], [],
                             {"reduction": "sum"}),
}


def _call(module, name, floats, others, options):
    fn = getattr(torch, name) if module is TF and name in ("add", "mul", "exp", "log") else getattr(module, name)
    if name in ("embedding", "embedding_bag"):  # (ids, weight): ids first, as in both modules
        return fn(others[0], floats[0], **options)
    return fn(*floats, *others, **options)


@pytest.mark.parametrize("case", EMPTY)
def test_empty_tensors_give_pytorchs_result(case):
    name, floats, others, options = EMPTY[case]
    ours = _value_and_grads(lambda *xs: _call(F, name, xs, others, options), floats)
    theirs = _value_and_grads(lambda *xs: _call(TF, name, xs, others, options), floats)
    _assert_same(ours, theirs)


# --------------------------------------------------------------------------------------------------------------
# The meta device: shapes and dtypes with no data (every check that reads values is skipped there)
# --------------------------------------------------------------------------------------------------------------

META = torch.device("meta")
META_CALLS = {
    "cross_entropy": lambda M: M.cross_entropy(torch.randn(3, 4, device=META), torch.zeros(3, dtype=torch.long, device=META)),
    "cross_entropy, none": lambda M: M.cross_entropy(torch.randn(3, 4, 2, device=META),
                                                     torch.zeros(3, 2, dtype=torch.long, device=META), reduction="none"),
    "nll_loss": lambda M: M.nll_loss(torch.randn(3, 4, device=META), torch.zeros(3, dtype=torch.long, device=META)),
    "embedding": lambda M: M.embedding(torch.zeros(2, 3, dtype=torch.long, device=META), torch.randn(5, 2, device=META)),
    "embedding_bag, offsets, padding": lambda M: M.embedding_bag(
        torch.zeros(5, dtype=torch.long, device=META), torch.randn(6, 2, device=META),
        torch.zeros(3, dtype=torch.long, device=META), padding_idx=0),
    "embedding_bag, 2-D, max": lambda M: M.embedding_bag(torch.zeros(3, 4, dtype=torch.long, device=META),
                                                        torch.randn(6, 2, device=META), mode="max"),
    "binary_cross_entropy": lambda M: M.binary_cross_entropy(torch.rand(3, device=META), torch.rand(3, device=META)),
    "linear": lambda M: M.linear(torch.randn(3, 2, device=META), torch.randn(4, 2, device=META)),
    "softmax": lambda M: M.softmax(torch.randn(3, 2, device=META), 0),
}


@pytest.mark.parametrize("case", META_CALLS)
def test_meta_device_gives_pytorchs_shape_and_dtype(case):
    ours, theirs = META_CALLS[case](F), META_CALLS[case](TF)
    assert ours.device == theirs.device == META
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype


def test_meta_device_backward_gives_gradients_of_the_right_shape():
    x = torch.randn(3, 4, device=META, requires_grad=True)
    w = torch.randn(5, 4, device=META, requires_grad=True)
    loss = F.cross_entropy(F.linear(x, w), torch.zeros(3, dtype=torch.long, device=META))
    grad_x, grad_w = torch.autograd.grad(loss, [x, w])
    assert grad_x.shape == x.shape and grad_w.shape == w.shape and grad_w.device == META


# --------------------------------------------------------------------------------------------------------------
# Integer types of targets and ids: PyTorch's own, and (a documented extension) every other integer type
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_uint8_targets_like_pytorch(name):
    logits, target = torch.randn(4, 3, dtype=D), torch.tensor([0, 2, 1, 2], dtype=torch.uint8)
    _assert_same(_value_and_grads(getattr(F, name), [logits], target),
                 _value_and_grads(getattr(TF, name), [logits], target))


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32], ids=str)
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_other_integer_targets_are_an_extension_that_equals_int64(name, dtype):
    logits, target = torch.randn(4, 3, dtype=D), torch.tensor([0, 2, 1, 2])
    with pytest.raises(RuntimeError, match="Long or Byte"):  # PyTorch refuses them
        getattr(TF, name)(logits, target.to(dtype))
    _assert_same(_value_and_grads(getattr(F, name), [logits], target.to(dtype)),
                 _value_and_grads(getattr(TF, name), [logits], target))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16], ids=str)
def test_small_integer_ids_are_an_extension_that_equals_int64(dtype):
    weight, ids = torch.randn(6, 2, dtype=D), torch.tensor([[1, 5, 5], [0, 2, 3]])
    with pytest.raises(RuntimeError, match="indices"):  # PyTorch refuses them
        TF.embedding(ids.to(dtype), weight)
    for ours, theirs in [(lambda w: F.embedding(ids.to(dtype), w), lambda w: TF.embedding(ids, w)),
                         (lambda w: F.embedding_bag(ids.to(dtype), w), lambda w: TF.embedding_bag(ids, w))]:
        _assert_same(_value_and_grads(ours, [weight]), _value_and_grads(theirs, [weight]))


# --------------------------------------------------------------------------------------------------------------
# torch.func: vmap over the embedding nodes; forward mode is refused with a clear error
# --------------------------------------------------------------------------------------------------------------

VMAPPED = {
    "embedding_bag over tables": (lambda M, w: M.embedding_bag(torch.tensor([[1, 2, 2], [4, 0, 6]]), w, mode="sum"),
                                  torch.randn(3, 8, 4, dtype=D)),
    "embedding_bag, offsets, padding, over tables": (
        lambda M, w: M.embedding_bag(torch.tensor([1, 2, 2, 4, 0, 6]), w, torch.tensor([0, 2, 2]), padding_idx=2),
        torch.randn(3, 8, 4, dtype=D)),
    "embedding_bag, max, over tables": (
        lambda M, w: M.embedding_bag(torch.tensor([1, 2, 2, 4, 0, 6]), w, torch.tensor([0, 3]), mode="max"),
        torch.randn(2, 8, 4, dtype=D)),
    "embedding over tables": (lambda M, w: M.embedding(torch.tensor([3, 3, 1]), w, padding_idx=1),
                              torch.randn(3, 8, 4, dtype=D)),
}


@pytest.mark.parametrize("case", VMAPPED)
def test_vmap_and_grad_over_the_embedding_nodes_like_pytorch(case):
    fn, tables = VMAPPED[case]
    for transform in (torch.func.vmap, lambda f: torch.func.vmap(torch.func.grad(lambda w: f(w).square().sum()))):
        ours = transform(lambda w: fn(F, w))(tables)
        theirs = transform(lambda w: fn(TF, w))(tables)
        torch.testing.assert_close(ours, theirs, rtol=RTOL64, atol=ATOL64)


def test_vmap_over_ids_of_an_embedding_bag_like_pytorch():
    weight, ids = torch.randn(10, 3, dtype=D), torch.randint(0, 10, (4, 2, 5))
    ours = torch.func.vmap(lambda i: F.embedding_bag(i, weight, padding_idx=0))(ids)
    torch.testing.assert_close(ours, torch.func.vmap(lambda i: TF.embedding_bag(i, weight, padding_idx=0))(ids),
                               rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("transform", [torch.func.jacfwd, torch.func.hessian])
def test_forward_mode_is_refused_with_a_clear_error(transform):
    # the nodes define no jvp (torch.compile cannot trace a Function that does): PyTorch's own error says so
    with pytest.raises(NotImplementedError, match="implement the jvp function"):
        transform(lambda x: F.tanh(x).sum())(torch.randn(3, dtype=D))


def test_hessian_by_reverse_over_reverse_mode_equals_pytorchs():
    x, weight, target = torch.randn(3, 4, dtype=D), torch.randn(2, 4, dtype=D), torch.tensor([0, 1, 1])
    ours = torch.func.jacrev(torch.func.jacrev(lambda x: F.cross_entropy(F.linear(F.tanh(x), weight), target)))(x)
    theirs = torch.func.hessian(lambda x: TF.cross_entropy(TF.linear(torch.tanh(x), weight), target))(x)
    torch.testing.assert_close(ours, theirs, rtol=RTOL64, atol=ATOL64)


# --------------------------------------------------------------------------------------------------------------
# Gradients at NaN: where NaN goes, and where it does not, as in PyTorch
# --------------------------------------------------------------------------------------------------------------

# binary_cross_entropy refuses a NaN probability (PyTorch too); the max bag's forward is a documented difference
# (a NaN is the maximum of its bag; PyTorch keeps it only when it comes first) and is tested on its own below.
NAN_SAMPLES = [(name, i) for name in cases.FUNCTIONAL for i, s in enumerate(cases.samples(name))
               if name != "binary_cross_entropy" and s.options.get("mode") != "max"]


@pytest.mark.parametrize("params", NAN_SAMPLES, ids=lambda p: f"{p[0]}-{cases.samples(p[0])[p[1]].note}")
def test_a_nan_input_gives_pytorchs_outputs_and_gradients(params):
    name, i = params
    sample = cases.samples(name)[i]
    floats = [k for k, v in sample.inputs.items() if torch.is_tensor(v) and v.is_floating_point()]
    inputs = dict(sample.inputs)
    first = inputs[floats[0]].clone()
    first.view(-1)[0] = float("nan")
    inputs[floats[0]] = first
    results = []
    for fn in (getattr(F, name), cases.REGISTRY[name].torch_function()):
        def call(*xs):
            values = dict(inputs, **dict(zip(floats, xs)))
            if cases.REGISTRY[name].random:
                torch.manual_seed(3)
            return fn(*values.values(), **sample.options)
        results.append(_value_and_grads(call, [inputs[k] for k in floats]))
    _assert_same(*results)


def test_relu_passes_the_gradient_at_nan_and_stops_a_nan_gradient_where_off():
    x = torch.tensor([float("nan"), 1.0, -1.0, 0.0], dtype=D)
    grad_output = torch.tensor([1.0, 1.0, float("nan"), float("nan")], dtype=D)
    grads = []
    for relu in (F.relu, TF.relu):
        leaf = x.clone().requires_grad_()
        grads.append(torch.autograd.grad(relu(leaf), leaf, grad_output)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0, equal_nan=True)
    assert grads[0].tolist() == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("rows, bags", [
    ([[float("nan"), 1.0], [2.0, 3.0], [0.5, 0.5]], [[0, 1, 2]]),  # NaN first in its bag: the same as PyTorch
    ([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]], [[0, 1, 2], [1, 0, 2]]),  # ties: the first token gets the gradient
])
def test_max_bag_gives_the_gradient_to_the_first_maximum_like_pytorch(rows, bags):
    weight, ids = torch.tensor(rows, dtype=D), torch.tensor(bags)
    _assert_same(_value_and_grads(lambda w: F.embedding_bag(ids, w, mode="max"), [weight]),
                 _value_and_grads(lambda w: TF.embedding_bag(ids, w, mode="max"), [weight]))


def test_max_bag_with_a_nan_after_the_first_token_is_nan_with_a_finite_gradient():
    weight = torch.tensor([[2.0, 3.0], [float("nan"), 1.0]], dtype=D, requires_grad=True)
    out = F.embedding_bag(torch.tensor([[0, 1]]), weight, mode="max")
    assert torch.isnan(out[0, 0]) and out[0, 1] == 3.0  # documented: a NaN is the maximum of its bag
    (grad,) = torch.autograd.grad(out.sum(), weight)
    assert grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]  # each component's gradient to the token that gave it
