"""The nodes through in5550.functional against torch.nn.functional: forward, backward, gradcheck, bad input."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck, gradgradcheck
from torch.utils._python_dispatch import TorchDispatchMode

import in5550.functional as F
from in5550 import cases, nodes

# float64 forward and backward of the same formula differ only by rounding.
RTOL64, ATOL64 = 1e-10, 1e-12
# float32 results may be summed in another order than PyTorch's.
RTOL32, ATOL32 = 1e-5, 1e-6

D = torch.float64


def randn(*shape, dtype=D):
    return torch.randn(*shape, dtype=dtype)


# Every node's samples come from the registry (in5550.cases); two seeds, so that shapes vary too.
SEEDS = (0, 1)
SAMPLES = [(name, seed, i) for seed in SEEDS for name in cases.FUNCTIONAL
           for i in range(len(cases.samples(name, seed)))]


def _id(params) -> str:
    name, seed, i = params
    return f"{name}-{cases.samples(name, seed)[i].note}-seed{seed}"


def _sample(params, dtype=D) -> tuple[str, cases.Sample]:
    name, seed, i = params
    return name, cases.samples(name, seed, dtype)[i]


def _floats(sample: cases.Sample) -> list[str]:
    """The names of the inputs that get gradients: the floating-point tensors."""
    return [k for k, v in sample.inputs.items() if torch.is_tensor(v) and v.is_floating_point()]


def _function(module, name: str, sample: cases.Sample):
    """``f(*float_inputs)``: the node of ``module`` (ours, or torch.nn.functional) on the sample, its other inputs
    fixed; a random node (dropout) draws the same numbers at every call."""
    fn = getattr(module, name) if module is F else cases.REGISTRY[name].torch_function()
    floats = _floats(sample)

    def call(*xs):
        if cases.REGISTRY[name].random:
            torch.manual_seed(3)
        inputs = dict(sample.inputs, **dict(zip(floats, xs)))
        return fn(*inputs.values(), **sample.options)

    return call, [sample.inputs[k] for k in floats]


def _outputs_and_grads(module, name, sample):
    fn, inputs = _function(module, name, sample)
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*leaves)
    torch.manual_seed(1)
    grad_output = torch.randn(out.shape, dtype=out.dtype, device=out.device)  # randn_like would follow strides
    return out, torch.autograd.grad(out, leaves, grad_output)


def _assert_same(ours, theirs, rtol, atol):
    (out, grads), (expected, expected_grads) = ours, theirs
    assert out.shape == expected.shape and out.dtype == expected.dtype
    torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)
    for mine, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(mine, expected_grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("params", SAMPLES, ids=_id)
def test_forward_and_backward_equal_pytorch(params):
    name, sample = _sample(params)
    _assert_same(_outputs_and_grads(F, name, sample), _outputs_and_grads(TF, name, sample), RTOL64, ATOL64)


def _non_contiguous(t: torch.Tensor) -> torch.Tensor:
    """The same values in memory laid out backwards (``is_contiguous()`` False for 2 or more dimensions)."""
    order = tuple(reversed(range(t.dim())))  # a 0-D tensor has nothing to lay out: permute(()) is itself
    return t.permute(order).contiguous().permute(order)


@pytest.mark.parametrize("params", [p for p in SAMPLES if p[1] == 0], ids=_id)
def test_non_contiguous_inputs_equal_pytorch(params):
    name, sample = _sample(params)
    inputs = {k: _non_contiguous(v) if k in _floats(sample) else v for k, v in sample.inputs.items()}
    sample = cases.Sample(inputs, sample.options, sample.note)
    _assert_same(_outputs_and_grads(F, name, sample), _outputs_and_grads(TF, name, sample), RTOL64, ATOL64)


@pytest.mark.parametrize("params", [p for p in SAMPLES if p[1] == 0], ids=_id)
def test_float32_matches_pytorch(params):
    name, sample = _sample(params, torch.float32)
    ours = _outputs_and_grads(F, name, sample)
    assert ours[0].dtype == torch.float32 and all(g.dtype == torch.float32 for g in ours[1])
    _assert_same(ours, _outputs_and_grads(TF, name, sample), RTOL32, ATOL32)


def _held(name: str, sample: cases.Sample) -> bool:
    """Whether some entry's gradient is zero by convention although the output depends on it (the padding row of
    an embedding): finite differences disagree with PyTorch's (and our) definition there, so such samples are
    checked against PyTorch above instead."""
    held = cases.REGISTRY[name].held
    return held is not None and bool(held(sample))


@pytest.mark.parametrize("params", [p for p in SAMPLES if not _held(*_sample(p))], ids=_id)
def test_gradcheck_and_gradgradcheck(params):
    name, sample = _sample(params)
    fn, inputs = _function(F, name, sample)
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    assert gradcheck(fn, leaves)
    assert gradgradcheck(fn, leaves)


@pytest.mark.parametrize("params", [p for p in SAMPLES if p[1] == 0], ids=_id)
def test_backward_leaves_grad_output_unchanged(params):
    name, sample = _sample(params)
    fn, inputs = _function(F, name, sample)
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*leaves)
    grad_output = torch.randn_like(out)
    before = grad_output.clone()
    torch.autograd.grad(out, leaves, grad_output)
    assert torch.equal(grad_output, before)


def test_dropout_drops_the_same_units_as_pytorch():
    x = randn(50, 40).requires_grad_()
    torch.manual_seed(7)
    ours = F.dropout(x, p=0.3)
    (our_grad,) = torch.autograd.grad(ours, x, torch.ones_like(ours))
    torch.manual_seed(7)
    theirs = TF.dropout(x, p=0.3)
    (their_grad,) = torch.autograd.grad(theirs, x, torch.ones_like(theirs))
    assert torch.equal(ours, theirs) and torch.equal(our_grad, their_grad)
    assert 0.2 < (ours == 0).double().mean() < 0.4
    assert F.dropout(x, p=0.3, training=False) is x


def test_dropout_gradcheck_with_fixed_mask():
    x = randn(4, 5).requires_grad_()

    def fn(t):
        torch.manual_seed(3)
        return F.dropout(t, 0.4)

    assert gradcheck(fn, [x]) and gradgradcheck(fn, [x])


class _LogOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_backward_computes_only_the_gradients_that_are_needed():
    x, w, b = randn(5, 4), randn(3, 4).requires_grad_(), randn(3)
    out = F.linear(x, w, b)
    # what is saved follows the same rule: dL/dW needs x, not W
    assert [t is None for t in out.grad_fn.saved_tensors] == [False, True]
    with _LogOps() as log:
        out.backward(torch.ones_like(out))
    assert log.ops.count("mm") == 1 and "sum" not in log.ops  # only dL/dW: no dL/dx product, no bias sum


@pytest.mark.parametrize("params", [p for p in SAMPLES if p[1] == 0 and not cases.REGISTRY[p[0]].random], ids=_id)
def test_backward_returns_a_gradient_only_for_the_input_that_needs_one(params):
    """With one floating-point input requiring grad at a time, the node's backward (called as autograd calls it)
    returns one tensor, and None for every other input, as ctx.needs_input_grad says."""
    name, sample = _sample(params)
    for needed in _floats(sample):
        inputs = {k: v.detach().clone().requires_grad_(k == needed) if k in _floats(sample) else v
                  for k, v in sample.inputs.items()}
        out = getattr(F, name)(*inputs.values(), **sample.options)
        returned = out.grad_fn.apply(torch.ones_like(out))
        returned = returned if isinstance(returned, tuple) else (returned,)
        assert all(g is None or torch.is_tensor(g) for g in returned), (needed, returned)
        assert sum(torch.is_tensor(g) for g in returned) == 1, (needed, [type(g).__name__ for g in returned])


def test_node_apply_takes_keywords_and_names_a_missing_argument():
    x, w = randn(2, 3).requires_grad_(), randn(4, 3)
    positional = nodes.Linear.apply(x, w, None)
    assert torch.equal(positional, nodes.Linear.apply(x, weight=w, bias=None))
    assert type(positional.grad_fn).__name__ == "LinearBackward"
    with pytest.raises(TypeError, match="bias"):
        nodes.Linear.apply(x, w)


@pytest.mark.parametrize("call, bags", [
    (lambda w: F.embedding_bag(torch.tensor([1, 2, 3]), w, torch.tensor([], dtype=torch.long)), 0),  # PyTorch crashes
    (lambda w: F.embedding_bag(torch.tensor([1, 2, 3]), w, torch.tensor([3]), include_last_offset=True), 0),
    (lambda w: F.embedding_bag(torch.zeros(2, 0, dtype=torch.long), w), 2),  # PyTorch raises "step must be nonzero"
])
def test_embedding_bag_without_bags_or_without_tokens(call, bags):
    weight = randn(5, 3).requires_grad_()
    out = call(weight)
    assert out.shape == (bags, 3) and not out.any()
    (grad,) = torch.autograd.grad(out, weight, torch.ones_like(out))
    assert not grad.any()


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_takes_offsets_of_another_integer_type_than_the_ids(mode):
    ids, weight = torch.tensor([1, 2, 3, 9, 2]), randn(10, 3).requires_grad_()
    results = []
    for dtype in (torch.int32, torch.int64):
        out = F.embedding_bag(ids, weight, torch.tensor([0, 1, 1], dtype=dtype), mode=mode, padding_idx=2)
        results.append((out, *torch.autograd.grad(out.sum(), weight)))
    for narrow, wide in zip(*results):
        torch.testing.assert_close(narrow, wide, rtol=0, atol=0)


@pytest.mark.parametrize("needs", ["first", "second", "both"])
@pytest.mark.parametrize("name", ["mul", "linear"])
def test_mul_and_linear_save_only_what_the_needed_gradients_use(name, needs):
    """d(ab)/da needs b and d(ab)/db needs a; dL/dx of a linear layer needs W and dL/dW needs x."""
    a, b = randn(3, 3).requires_grad_(needs != "second"), randn(3, 3).requires_grad_(needs != "first")
    saved = getattr(F, name)(a, b).grad_fn.saved_tensors
    assert [t is not None for t in saved] == [needs != "first", needs != "second"]
    assert all(t is None or torch.equal(t, x) for t, x in zip(saved, (a, b)))


@pytest.mark.parametrize("mode, count", [("sum", 2), ("mean", 2), ("max", 4)])
def test_embedding_bag_saves_the_table_and_output_only_for_max(mode, count):
    weight = randn(5, 2).requires_grad_()
    out = F.embedding_bag(torch.tensor([0, 4, 2]), weight, torch.tensor([0, 1]), mode=mode)
    assert len(out.grad_fn.saved_tensors) == count  # ids and bags, and for max the table and the output


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda x: F.cross_entropy(x, torch.tensor([1, 0, 2])), lambda x: TF.cross_entropy(x, torch.tensor([1, 0, 2]))),
        (lambda x: F.log_softmax(F.tanh(x), 1).sum(), lambda x: TF.log_softmax(torch.tanh(x), 1).sum()),
        (lambda x: F.softmax(F.mul(x, 2.0), 0)[0, 0], lambda x: TF.softmax(x * 2.0, 0)[0, 0]),
        (lambda x: F.mse_loss(F.sigmoid(x), F.exp(x)), lambda x: TF.mse_loss(torch.sigmoid(x), torch.exp(x))),
        (lambda x: F.binary_cross_entropy_with_logits(x, torch.ones(3, 3, dtype=D)),
         lambda x: TF.binary_cross_entropy_with_logits(x, torch.ones(3, 3, dtype=D))),
    ],
)
def test_nodes_work_under_torch_func_vmap_and_grad(ours, theirs):
    w, b = randn(3, 4), randn(3)
    batch = randn(6, 3, 4)
    per_sample = lambda f: torch.func.vmap(torch.func.grad(lambda x: f(F.relu(F.linear(x, w, b)))))  # noqa: E731
    expected = torch.func.vmap(torch.func.grad(lambda x: theirs(TF.relu(TF.linear(x, w, b)))))(batch)
    torch.testing.assert_close(per_sample(ours)(batch), expected, rtol=RTOL64, atol=ATOL64)


# --------------------------------------------------------------------------------------------------------------
# Numerical stability
# --------------------------------------------------------------------------------------------------------------


def _no_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    assert not caught, [str(w.message) for w in caught]
    return result


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_and_log_softmax_on_huge_logits(dtype):
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    target = torch.tensor([1, 2, 0])
    for ours, theirs in [
        (lambda x: F.cross_entropy(x, target), lambda x: TF.cross_entropy(x, target)),
        (lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1)),
        (lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1)),
    ]:
        x = logits.clone().requires_grad_()
        out = _no_warnings(lambda: ours(x))
        (grad,) = _no_warnings(lambda: torch.autograd.grad(out, x, torch.ones_like(out)))
        y = logits.clone().requires_grad_()
        expected = theirs(y)
        (expected_grad,) = torch.autograd.grad(expected, y, torch.ones_like(expected))
        assert torch.isfinite(out).all() and torch.isfinite(grad).all()
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_on_huge_inputs(dtype):
    x = torch.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype, requires_grad=True)
    out = _no_warnings(lambda: F.sigmoid(x))
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(out, torch.sigmoid(x))
    torch.testing.assert_close(grad, torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    logits = F.binary_cross_entropy_with_logits(x, torch.tensor([1.0, 0, 1, 1, 0], dtype=dtype), reduction="none")
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_binary_cross_entropy_on_exact_zero_and_one(reduction):
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5], dtype=D)
    t = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=D)
    ours_p, ours_t = p.clone().requires_grad_(), t.clone().requires_grad_()
    theirs_p, theirs_t = p.clone().requires_grad_(), t.clone().requires_grad_()
    ours = _no_warnings(lambda: F.binary_cross_entropy(ours_p, ours_t, reduction=reduction))
    theirs = TF.binary_cross_entropy(theirs_p, theirs_t, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    g = torch.ones_like(ours)
    grad_p, grad_t = torch.autograd.grad(ours, [ours_p, ours_t], g)
    expected_p, expected_t = torch.autograd.grad(theirs, [theirs_p, theirs_t], g)
    torch.testing.assert_close(grad_p, expected_p)
    # d/dt of the clamped loss is clamped too (PyTorch returns +-inf where p is 0 or 1, unclamped)
    torch.testing.assert_close(grad_t[-1], expected_t[-1])
    scale = 1 / 5 if reduction == "mean" else 1
    torch.testing.assert_close(grad_t[:4], scale * torch.tensor([100.0, -100.0, 100.0, -100.0], dtype=D))


# --------------------------------------------------------------------------------------------------------------
# Bad input: each error names the function, the argument and the offending shape or value
# --------------------------------------------------------------------------------------------------------------

x34 = torch.randn(3, 4)
BAD_INPUTS = {
    "linear-shape": (lambda: F.linear(x34, torch.randn(5, 3)), ValueError, ["linear", "'input'", "(3, 4)", "(5, 3)"]),
    "linear-int-weight": (lambda: F.linear(x34, torch.ones(5, 4, dtype=torch.long)), TypeError,
                          ["linear", "'weight'", "torch.int64"]),
    "linear-bias-shape": (lambda: F.linear(x34, torch.randn(5, 4), torch.randn(4)), ValueError,
                          ["linear", "'bias'", "(5,)", "(4,)"]),
    "linear-mixed-dtypes": (lambda: F.linear(x34, torch.randn(5, 4, dtype=D)), TypeError,
                            ["linear", "'input' torch.float32, 'weight' torch.float64"]),
    "linear-bias-dtype": (lambda: F.linear(x34, torch.randn(5, 4), torch.randn(5, dtype=D)), TypeError,
                          ["linear", "'input' torch.float32, 'weight' torch.float32, 'bias' torch.float64"]),
    "linear-3-d-weight": (lambda: F.linear(x34, torch.randn(2, 5, 4)), ValueError,
                          ["linear", "argument 'weight' must be 2-D (out_features, in_features), got (2, 5, 4)"]),
    "add-shapes": (lambda: F.add(x34, torch.randn(5)), ValueError, ["add", "(3, 4)", "(5,)"]),
    "mul-not-tensor": (lambda: F.mul(x34, "2"), TypeError, ["mul", "'other'", "str"]),
    "mul-shapes": (lambda: F.mul(x34, torch.randn(5)), ValueError, ["mul", "(3, 4)", "(5,)"]),
    "exp-int": (lambda: F.exp(torch.arange(3)), TypeError, ["exp", "'input'", "torch.int64"]),
    "softmax-no-dim": (lambda: F.softmax(x34), ValueError, ["softmax", "'dim'"]),
    "softmax-bad-dim": (lambda: F.softmax(x34, 2), IndexError, ["softmax", "'dim'", "2", "(3, 4)"]),
    "cross_entropy-float-target": (lambda: F.cross_entropy(x34, torch.rand(3, 4)), TypeError,
                                   ["cross_entropy", "'target'", "torch.float32", "(3, 4)",
                                    "(class indices; probability targets are not supported)"]),
    "cross_entropy-0-d-input": (lambda: F.cross_entropy(torch.tensor(0.5), torch.tensor(0)), ValueError,
                                ["cross_entropy", "'target' of shape () does not match 'input' of shape ()"]),
    "cross_entropy-class-out-of-range": (lambda: F.cross_entropy(x34, torch.tensor([0, 4, 1])), IndexError,
                                         ["cross_entropy", "argument 'target' holds class index 4, outside [0, 4)"]),
    "cross_entropy-bool-target": (lambda: F.cross_entropy(x34, torch.tensor([True, False, True])), TypeError,
                                  ["cross_entropy", "'target'", "torch.bool"]),
    "cross_entropy-target-shape-3-d": (lambda: F.cross_entropy(torch.randn(3, 4, 5), torch.zeros(3, 4, dtype=torch.long)),
                                       ValueError, ["cross_entropy", "argument 'target' of shape (3, 4) does not match "
                                                                     "'input' of shape (3, 4, 5) (expected target "
                                                                     "shape (3, 5))"]),
    "cross_entropy-negative-class": (lambda: F.cross_entropy(x34, torch.tensor([0, -1, 1])), IndexError,
                                     ["cross_entropy", "'target'", "-1"]),
    "cross_entropy-target-shape": (lambda: F.cross_entropy(x34, torch.tensor([0, 1])), ValueError,
                                   ["cross_entropy", "'target'", "(2,)", "(3, 4)"]),
    "cross_entropy-reduction": (lambda: F.cross_entropy(x34, torch.tensor([0, 1, 2]), reduction="avg"), ValueError,
                                ["cross_entropy", "'reduction'", "'avg'"]),
    "cross_entropy-smoothing": (lambda: F.cross_entropy(x34, torch.tensor([0, 1, 2]), label_smoothing=1.5),
                                ValueError, ["cross_entropy", "'label_smoothing'", "1.5"]),
    "cross_entropy-class-weight": (lambda: F.cross_entropy(x34, torch.tensor([0, 1, 2]), torch.ones(4)), ValueError,
                                   ["cross_entropy", "'weight'", "not supported"]),
    "nll_loss-out-of-range": (lambda: F.nll_loss(x34, torch.tensor([0, 1, 9])), IndexError, ["nll_loss", "9"]),
    "bce-outside-0-1": (lambda: F.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.ones(2)), ValueError,
                        ["binary_cross_entropy", "'input'", "1.5"]),
    "bce-target-shape": (lambda: F.binary_cross_entropy(torch.rand(3), torch.ones(2)), ValueError,
                         ["binary_cross_entropy", "'target'", "(3,)", "(2,)"]),
    "bce-int-target": (lambda: F.binary_cross_entropy_with_logits(torch.rand(3), torch.ones(3, dtype=torch.long)),
                       TypeError, ["binary_cross_entropy_with_logits", "'target'", "torch.int64"]),
    "mse-shape": (lambda: F.mse_loss(x34, torch.randn(4)), ValueError, ["mse_loss", "'target'", "(3, 4)", "(4,)"]),
    "mse-mixed-dtypes": (lambda: F.mse_loss(x34, x34.double()), TypeError,
                         ["mse_loss", "'input' torch.float32", "'target' torch.float64"]),
    "embedding-float-ids": (lambda: F.embedding(torch.tensor([0.0, 1.0]), torch.randn(5, 2)), TypeError,
                            ["embedding", "'input'", "torch.float32"]),
    "embedding-id-out-of-range": (lambda: F.embedding(torch.tensor([0, 5]), torch.randn(5, 2)), IndexError,
                                  ["embedding", "argument 'input' holds token id 5, outside [0, 5)"]),
    "embedding-1-d-weight": (lambda: F.embedding(torch.tensor([0]), torch.randn(5)), ValueError,
                             ["embedding", "argument 'weight' must be 2-D (num_embeddings, embedding_dim), got (5,)"]),
    "embedding-int-weight": (lambda: F.embedding(torch.tensor([0]), torch.ones(5, 2, dtype=torch.long)), TypeError,
                             ["embedding", "'weight'", "torch.int64"]),
    "embedding-padding-idx": (lambda: F.embedding(torch.tensor([0]), torch.randn(5, 2), padding_idx=5), ValueError,
                              ["embedding", "argument 'padding_idx' is 5, outside [-5, 5)"]),
    "embedding-padding-idx-negative": (lambda: F.embedding(torch.tensor([0]), torch.randn(5, 2), padding_idx=-6),
                                       ValueError, ["embedding", "argument 'padding_idx' is -6, outside [-5, 5)"]),
    "mse-reduction": (lambda: F.mse_loss(x34, x34, reduction="avg"), ValueError, ["mse_loss", "'reduction'", "'avg'"]),
    "add-not-tensor": (lambda: F.add(x34, "2"), TypeError, ["add", "argument 'other' must be a torch.Tensor, got str"]),
    "embedding_bag-id-out-of-range": (lambda: F.embedding_bag(torch.tensor([0, 7]), torch.randn(5, 2), torch.tensor([0])),
                                      IndexError, ["embedding_bag", "argument 'input' holds token id 7, outside [0, 5)"]),
    "embedding_bag-padding-idx": (lambda: F.embedding_bag(torch.tensor([[0]]), torch.randn(5, 2), padding_idx=5),
                                  ValueError, ["embedding_bag", "argument 'padding_idx' is 5, outside [-5, 5)"]),
    "embedding_bag-2d-offsets": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2),
                                                         torch.tensor([[0], [1]])), ValueError,
                                 ["embedding_bag", "'offsets'", "1-D", "(2, 1)"]),
    "embedding_bag-no-offsets": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2)), ValueError,
                                 ["embedding_bag", "'offsets'", "required"]),
    "embedding_bag-offsets-start": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2),
                                                            torch.tensor([1])), ValueError,
                                    ["embedding_bag", "'offsets'", "start at 0", "1"]),
    "embedding_bag-offsets-order": (lambda: F.embedding_bag(torch.tensor([0, 1, 2]), torch.randn(5, 2),
                                                            torch.tensor([0, 2, 1])), ValueError,
                                    ["embedding_bag", "'offsets'", "non-decreasing", "[0, 2, 1]"]),
    "embedding_bag-float-offsets": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2),
                                                            torch.tensor([0.0])), TypeError,
                                    ["embedding_bag", "'offsets'", "torch.float32"]),
    "embedding_bag-3-d-input": (lambda: F.embedding_bag(torch.zeros(2, 2, 2, dtype=torch.long), torch.randn(5, 2)),
                                ValueError, ["embedding_bag", "'input' must be 1-D (with offsets) or 2-D (bags of "
                                             "equal length), got (2, 2, 2)"]),
    "embedding_bag-2-d-with-offsets": (lambda: F.embedding_bag(torch.tensor([[0, 1]]), torch.randn(5, 2),
                                                               torch.tensor([0])), ValueError,
                                       ["embedding_bag", "'offsets' must be None when 'input' is 2-D, got (1, 2) input"]),
    "embedding_bag-last-offset": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2), torch.tensor([0, 1]),
                                                          include_last_offset=True), ValueError,
                                  ["embedding_bag", "with include_last_offset=True the last offset must be 2, the input "
                                                    "length"]),
    "embedding_bag-no-last-offset": (lambda: F.embedding_bag(torch.tensor([0, 1]), torch.randn(5, 2),
                                                             torch.tensor([], dtype=torch.long),
                                                             include_last_offset=True), ValueError,
                                     ["embedding_bag", "the last offset must be 2"]),
    "embedding_bag-mode": (lambda: F.embedding_bag(torch.tensor([[0, 1]]), torch.randn(5, 2), mode="min"),
                           ValueError, ["embedding_bag", "'mode'", "'min'"]),
    "dropout-p-above-1": (lambda: F.dropout(x34, p=1.5), ValueError, ["dropout", "'p'", "1.5"]),
    "dropout-p-negative": (lambda: F.dropout(x34, p=-0.1), ValueError, ["dropout", "'p'", "-0.1"]),
    "relu-inplace": (lambda: F.relu(x34, inplace=True), ValueError, ["relu", "'inplace'"]),
}


@pytest.mark.parametrize("case_id", BAD_INPUTS)
def test_bad_input_gets_a_clear_error(case_id):
    call, error, fragments = BAD_INPUTS[case_id]
    with pytest.raises(error) as info:
        call()
    assert str(info.value).startswith(f"{fragments[0]}: "), str(info.value)  # the function's name comes first
    for fragment in fragments[1:]:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


# PyTorch's options that these nodes do not implement: any value but the default is refused, by name
NOT_IMPLEMENTED = {"weight", "size_average", "reduce", "pos_weight", "max_norm", "scale_grad_by_freq", "sparse",
                   "per_sample_weights", "inplace"}


def _call(name, sample, **changes):
    inputs = {key: changes.pop(key, value) for key, value in sample.inputs.items()}
    return getattr(F, name)(*inputs.values(), **sample.options, **changes)


@pytest.mark.parametrize("name", sorted(cases.FUNCTIONAL))
def test_every_option_a_node_lacks_is_refused_by_name(name):
    sample = cases.samples(name, 0)[0]
    options = [parameter for parameter in inspect.signature(getattr(F, name)).parameters.values()
               if parameter.name in NOT_IMPLEMENTED and parameter.default is not parameter.empty]
    for option in options:
        value = not option.default if isinstance(option.default, bool) else torch.ones(1)
        with pytest.raises(ValueError) as info:
            _call(name, sample, **{option.name: value})
        assert str(info.value) == f"{name}: argument '{option.name}' is not supported by this node (got {value!r}, " \
                                  f"use {option.default!r})"


@pytest.mark.parametrize("name", sorted(set(cases.FUNCTIONAL) - {"add", "mul"}))  # these two promote, as PyTorch's do
def test_every_floating_point_input_refuses_an_integer_tensor_by_name(name):
    sample = cases.samples(name, 0)[0]
    for argument in _floats(sample):
        value = sample.inputs[argument].long()
        with pytest.raises(TypeError) as info:
            _call(name, sample, **{argument: value})
        assert str(info.value) == f"{name}: argument '{argument}' must be a floating-point tensor, got dtype " \
                                  f"torch.int64 of shape {tuple(value.shape)}"


def test_each_function_follows_its_own_autocast_policy(monkeypatch):
    """CUDA's autocast casts more functions than the CPU's (exp, log, softmax, log_softmax run in float32): with
    CUDA's policy in place of the CPU's, each function gives the dtype its own entry says, here on the CPU."""
    monkeypatch.setitem(F.AUTOCAST, "cpu", F.AUTOCAST["cuda"])
    for name in sorted(cases.FUNCTIONAL):
        sample = cases.samples(name, 0, torch.float16)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = _call(name, sample)
        policy = F.AUTOCAST["cuda"].get(name)
        assert out.dtype == {None: torch.float16, "float32": torch.float32, "lower": torch.bfloat16}[policy], name


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_in_another_dtype_like_pytorch(name):
    x = torch.randn(3, 4)
    ours, theirs = getattr(F, name)(x, 1, dtype=D), getattr(TF, name)(x, 1, dtype=D)
    assert ours.dtype == D
    torch.testing.assert_close(ours, theirs, rtol=RTOL64, atol=ATOL64)


def test_full_label_smoothing_is_accepted_like_pytorch():
    x, target = torch.randn(3, 4, dtype=D), torch.tensor([0, 3, 1])
    torch.testing.assert_close(F.cross_entropy(x, target, label_smoothing=1.0),
                               TF.cross_entropy(x, target, label_smoothing=1.0), rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("name", sorted(cases.FUNCTIONAL))
def test_every_index_argument_refuses_a_floating_point_tensor_by_name(name):
    sample = cases.samples(name, 0)[0]
    for argument, value in sample.inputs.items():
        if torch.is_tensor(value) and not value.is_floating_point():
            value = value.float()
            hint = " (class indices; probability targets are not supported)" if argument == "target" else ""
            with pytest.raises(TypeError) as info:
                _call(name, sample, **{argument: value})
            assert str(info.value) == f"{name}: argument '{argument}' must be an integer tensor of indices, got " \
                                      f"dtype torch.float32 of shape {tuple(value.shape)}{hint}"


def _signature(name: str) -> inspect.Signature | None:
    try:
        return inspect.signature(cases.REGISTRY[name].torch_function())
    except ValueError:  # a builtin such as torch.add shows none
        return None


@pytest.mark.parametrize("name", sorted(name for name in cases.FUNCTIONAL if _signature(name) is not None))
def test_every_function_takes_pytorchs_arguments_in_its_order_with_its_defaults(name):
    """Code written for torch.nn.functional runs unchanged, options left out included."""
    ours = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(F, name)).parameters.values()]
    assert ours == [(p.name, p.kind, p.default) for p in _signature(name).parameters.values()]


@pytest.mark.parametrize("name", sorted(cases.FUNCTIONAL))
def test_every_tensor_argument_refuses_a_list_by_name(name):
    sample = cases.samples(name, 0)[0]
    for argument, value in sample.inputs.items():
        if torch.is_tensor(value):
            with pytest.raises(TypeError) as info:
                _call(name, sample, **{argument: value.tolist()})
            assert str(info.value) == f"{name}: argument '{argument}' must be a torch.Tensor, got list"


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_dim_takes_every_index_pytorch_takes_and_no_other(name):
    """A 0-d tensor included: its softmax is 1."""
    for x in (torch.randn(3, 4, dtype=D), torch.tensor(2.0, dtype=D)):
        size = max(x.dim(), 1)  # a 0-d tensor takes dim 0 and -1, as PyTorch's does
        for dim in range(-size, size):
            torch.testing.assert_close(getattr(F, name)(x, dim), getattr(TF, name)(x, dim), rtol=RTOL64, atol=ATOL64)
        for dim in (-size - 1, size):
            with pytest.raises(IndexError, match=f"{name}: argument 'dim' is {dim}, out of range for input of shape"):
                getattr(F, name)(x, dim)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_an_unbatched_input_of_one_example_like_pytorch(name, reduction):
    x, target = torch.randn(5, dtype=D), torch.tensor(3)
    ours, theirs = getattr(F, name)(x, target, reduction=reduction), getattr(TF, name)(x, target, reduction=reduction)
    assert ours.shape == theirs.shape == ()
    torch.testing.assert_close(ours, theirs, rtol=RTOL64, atol=ATOL64)


def test_padding_idx_counts_from_the_end_when_negative_like_pytorch():
    ids, weight = torch.tensor([0, 4, 2]), randn(5, 2)
    torch.testing.assert_close(F.embedding(ids, weight, padding_idx=-5), TF.embedding(ids, weight, padding_idx=-5))
    out = F.embedding(ids, weight.requires_grad_(), padding_idx=-1)
    (grad,) = torch.autograd.grad(out.sum(), weight)
    assert grad[4].abs().max() == 0 and grad[0].abs().min() == 1  # row 4 (= -1) is padding and gets no gradient


def test_an_option_equal_to_its_default_is_accepted():
    x = randn(3)
    assert torch.equal(F.relu(x, inplace=0), TF.relu(x)) and F.dropout(x, 0.0, inplace=0) is x


def test_dropout_of_nothing_and_of_everything_like_pytorch():
    x = randn(4, 3).requires_grad_()
    state = torch.get_rng_state()
    assert F.dropout(x, 0.0) is x and torch.equal(torch.get_rng_state(), state)  # no random numbers drawn
    out = F.dropout(x, 1.0)
    torch.testing.assert_close(out, TF.dropout(x, 1.0), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert not grad.any()


def test_dropout_by_default_like_pytorch():
    x = randn(100)
    torch.manual_seed(0)
    ours = F.dropout(x)
    torch.manual_seed(0)
    torch.testing.assert_close(ours, TF.dropout(x), rtol=0, atol=0)


def test_max_bags_outnumbering_the_dimensions_like_pytorch():
    ids, offsets = torch.tensor([3, 1, 4, 1, 5, 0, 2, 6, 5]), torch.tensor([0, 2, 3, 5, 6, 8])
    weight = randn(7, 2)
    ours, theirs = weight.clone().requires_grad_(), weight.clone().requires_grad_()
    out, expected = F.embedding_bag(ids, ours, offsets, mode="max"), TF.embedding_bag(ids, theirs, offsets, mode="max")
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    grad_output = randn(6, 2)
    torch.testing.assert_close(torch.autograd.grad(out, ours, grad_output)[0],
                               torch.autograd.grad(expected, theirs, grad_output)[0], rtol=0, atol=0)


def test_ignored_targets_with_a_single_class_like_pytorch():
    x, target = randn(3, 1), torch.tensor([0, -100, 0])
    for name in ("cross_entropy", "nll_loss"):
        ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        out, expected = getattr(F, name)(ours, target), getattr(TF, name)(theirs, target)
        torch.testing.assert_close(out, expected, rtol=RTOL64, atol=ATOL64)
        torch.testing.assert_close(torch.autograd.grad(out, ours)[0], torch.autograd.grad(expected, theirs)[0],
                                   rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_padding_at_the_largest_and_smallest_id_present(mode):
    weight = randn(4, 2)
    ids, offsets = torch.tensor([0, 3, 3, 1, 2]), torch.tensor([0, 2, 4])
    for padding_idx in (0, 3):
        torch.testing.assert_close(F.embedding_bag(ids, weight, offsets, mode=mode, padding_idx=padding_idx),
                                   TF.embedding_bag(ids, weight, offsets, mode=mode, padding_idx=padding_idx),
                                   rtol=RTOL64, atol=ATOL64)


def test_bad_input_leaves_arguments_untouched():
    weight = torch.randn(5, 2)
    before = weight.clone()
    with pytest.raises(IndexError):
        F.embedding_bag(torch.tensor([0, 9]), weight, torch.tensor([0]))
    assert torch.equal(weight, before)


# --------------------------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("params", [p for p in SAMPLES if p[1] == 0], ids=_id)
def test_cuda_matches_pytorch(params):
    name, sample = _sample(params)
    to_cuda = lambda v: v.cuda() if torch.is_tensor(v) else v  # noqa: E731
    sample = cases.Sample({k: to_cuda(v) for k, v in sample.inputs.items()},
                          {k: to_cuda(v) for k, v in sample.options.items()}, sample.note)
    for dtype, rtol, atol in [(torch.float64, RTOL64, ATOL64), (torch.float32, RTOL32, ATOL32)]:
        cast = cases.Sample({k: v.to(dtype) if k in _floats(sample) else v for k, v in sample.inputs.items()},
                            sample.options, sample.note)
        ours = _outputs_and_grads(F, name, cast)
        assert ours[0].is_cuda
        _assert_same(ours, _outputs_and_grads(TF, name, cast), rtol, atol)


@pytest.mark.cuda
def test_cuda_dropout_and_gradcheck():
    x = torch.randn(4, 5, dtype=D, device="cuda", requires_grad=True)
    assert gradcheck(lambda t: F.cross_entropy(F.linear(t, t.T.contiguous()), torch.tensor([0, 1, 2, 3], device="cuda")), [x])
    out = F.dropout(x, 0.5)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    assert torch.equal(grad == 0, out == 0)
