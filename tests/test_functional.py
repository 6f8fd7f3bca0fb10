"""The nodes through in5550.functional against torch.nn.functional: forward, backward, gradcheck, bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck, gradgradcheck
from torch.utils._python_dispatch import TorchDispatchMode

import in5550.functional as F
from in5550 import nodes

# float64 forward and backward of the same formula differ only by rounding.
RTOL64, ATOL64 = 1e-10, 1e-12
# float32 results may be summed in another order than PyTorch's.
RTOL32, ATOL32 = 1e-5, 1e-6

D = torch.float64


def randn(*shape, dtype=D):
    return torch.randn(*shape, dtype=dtype)


def non_contiguous(*shape, dtype=D):
    """A tensor of ``shape`` whose memory is a transposed view, so that ``is_contiguous()`` is False."""
    t = torch.randn(*reversed(shape), dtype=dtype).permute(*reversed(range(len(shape))))
    assert not t.is_contiguous() or t.dim() < 2
    return t


def probs(*shape, dtype=D):
    return torch.rand(*shape, dtype=dtype).clamp(0.05, 0.95)


# Each case: id -> (name in both modules, positional float inputs to differentiate, other args, kwargs).
# A lambda builds the inputs so that every test gets fresh, seeded tensors.
CASES = {
    "add-broadcast": lambda: ("add", [randn(2, 3, 4), randn(3, 1)], [], {}),
    "add-batch-of-one": lambda: ("add", [randn(1, 4), randn(1, 4)], [], {}),
    "mul-broadcast": lambda: ("mul", [randn(3, 1), randn(2, 1, 4)], [], {}),
    "mul-non-contiguous": lambda: ("mul", [non_contiguous(3, 4), non_contiguous(3, 4)], [], {}),
    "exp": lambda: ("exp", [randn(3, 4)], [], {}),
    "log": lambda: ("log", [probs(3, 4) * 3], [], {}),
    "relu": lambda: ("relu", [non_contiguous(4, 5)], [], {}),
    "sigmoid": lambda: ("sigmoid", [3 * randn(3, 4)], [], {}),
    "tanh": lambda: ("tanh", [randn(1, 7)], [], {}),
    "linear": lambda: ("linear", [randn(5, 4), randn(3, 4), randn(3)], [], {}),
    "linear-leading-dims": lambda: ("linear", [randn(2, 3, 4), randn(5, 4), randn(5)], [], {}),
    "linear-1d-no-bias": lambda: ("linear", [randn(4), randn(3, 4)], [], {}),
    "linear-non-contiguous": lambda: ("linear", [non_contiguous(6, 4), non_contiguous(3, 4), randn(3)], [], {}),
    "softmax-dim1": lambda: ("softmax", [randn(2, 3, 4)], [], {"dim": 1}),
    "softmax-batch-of-one": lambda: ("softmax", [randn(1, 5)], [], {"dim": -1}),
    "log_softmax-dim0": lambda: ("log_softmax", [non_contiguous(3, 4)], [], {"dim": 0}),
    "cross_entropy": lambda: ("cross_entropy", [randn(5, 3)], [torch.tensor([0, 2, 1, 2, 2])], {}),
    "cross_entropy-ignore-sum": lambda: (
        "cross_entropy", [randn(4, 3)], [torch.tensor([0, -100, 1, 2])], {"reduction": "sum"}),
    "cross_entropy-smoothing-ignore": lambda: (
        "cross_entropy", [randn(4, 3)], [torch.tensor([1, 7, 0, 7])], {"ignore_index": 7, "label_smoothing": 0.1}),
    "cross_entropy-none-kdim": lambda: (
        "cross_entropy", [randn(2, 3, 5)], [torch.randint(0, 3, (2, 5))], {"reduction": "none"}),
    # ignore_index outside the targets' range, and inside it but absent: the two ways no target is ignored
    "cross_entropy-ignore-above-targets": lambda: (
        "cross_entropy", [randn(4, 3)], [torch.tensor([0, 1, 1, 0])], {"ignore_index": 2}),
    "cross_entropy-ignore-absent": lambda: (
        "cross_entropy", [randn(4, 3)], [torch.tensor([0, 2, 2, 0])], {"ignore_index": 1}),
    "cross_entropy-unbatched": lambda: ("cross_entropy", [randn(4)], [torch.tensor(2)], {}),
    "cross_entropy-batch-of-one": lambda: ("cross_entropy", [randn(1, 4)], [torch.tensor([3])], {}),
    "nll_loss": lambda: ("nll_loss", [randn(5, 3)], [torch.tensor([0, 2, -100, 2, 1])], {}),
    "nll_loss-ignore-absent": lambda: ("nll_loss", [randn(4, 3)], [torch.tensor([0, 2, 2, 0])], {"ignore_index": 1}),
    "nll_loss-none": lambda: ("nll_loss", [randn(3, 4)], [torch.tensor([3, 0, 0])], {"reduction": "none"}),
    "binary_cross_entropy": lambda: ("binary_cross_entropy", [probs(3, 4), torch.rand(3, 4, dtype=D)], [], {}),
    "binary_cross_entropy-sum": lambda: (
        "binary_cross_entropy", [probs(5), torch.rand(5, dtype=D)], [], {"reduction": "sum"}),
    "bce_with_logits": lambda: ("binary_cross_entropy_with_logits", [randn(3, 4), torch.rand(3, 4, dtype=D)], [], {}),
    "bce_with_logits-none": lambda: (
        "binary_cross_entropy_with_logits", [non_contiguous(2, 3), torch.rand(2, 3, dtype=D)], [], {"reduction": "none"}),
    "mse_loss": lambda: ("mse_loss", [randn(3, 4), randn(3, 4)], [], {}),
    "mse_loss-sum": lambda: ("mse_loss", [randn(1, 3), randn(1, 3)], [], {"reduction": "sum"}),
    "embedding-repeated": lambda: ("embedding", [randn(10, 3)], [torch.tensor([[1, 2, 1], [9, 1, 1]])], {}),
    "embedding-padding": lambda: (
        "embedding", [randn(10, 3)], [torch.tensor([[1, 0, 1], [0, 4, 4]])], {"padding_idx": 0}),
    "embedding_bag-mean": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 4, 4, 0, 7, 1])], {"offsets": torch.tensor([0, 3, 3, 6])}),
    "embedding_bag-sum-padding": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 4, 4, 0, 7, 1])],
        {"offsets": torch.tensor([0, 3, 6]), "mode": "sum", "padding_idx": 1}),
    "embedding_bag-mean-padding": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 1, 1, 0, 7, 1])],
        {"offsets": torch.tensor([0, 3, 5]), "padding_idx": 1}),
    "embedding_bag-max": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 4, 4, 0, 7, 1])],
        {"offsets": torch.tensor([0, 3, 3, 6]), "mode": "max"}),
    "embedding_bag-2d": lambda: ("embedding_bag", [randn(10, 3)], [torch.tensor([[1, 2, 1], [5, 5, 5]])], {}),
    "embedding_bag-last-offset": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([3, 3, 8, 9])],
        {"offsets": torch.tensor([0, 1, 4]), "include_last_offset": True, "mode": "sum"}),
    "embedding_bag-empty-last-bag": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 3, 4, 5])], {"offsets": torch.tensor([0, 2, 5, 5])}),
    "embedding_bag-int32-ids": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 3, 9], dtype=torch.int32)],
        {"offsets": torch.tensor([0, 1])}),
    # padding_idx outside the ids' range, and inside it but absent: the two ways no token is left out
    "embedding_bag-padding-above-ids": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 4, 4, 0, 7, 1])],
        {"offsets": torch.tensor([0, 3, 6]), "padding_idx": 9}),
    "embedding_bag-padding-absent": lambda: (
        "embedding_bag", [randn(10, 3)], [torch.tensor([1, 2, 1, 4, 4, 0, 7, 1])],
        {"offsets": torch.tensor([0, 3, 6]), "padding_idx": 3}),
}


def _call(module, name, inputs, others, kwargs):
    fn = getattr(torch, name) if module is TF and name in ("add", "mul", "exp", "log") else getattr(module, name)
    if name in ("embedding", "embedding_bag"):  # torch's order: (input ids, weight)
        return fn(others[0], inputs[0], *others[1:], **kwargs)
    return fn(*inputs, *others, **kwargs)


def _outputs_and_grads(module, case, dtype=D):
    name, inputs, others, kwargs = case
    leaves = [x.detach().to(dtype).requires_grad_() for x in inputs]
    out = _call(module, name, leaves, others, kwargs)
    torch.manual_seed(1)
    grad_output = torch.randn(out.shape, dtype=out.dtype, device=out.device)  # randn_like would follow strides
    return out, torch.autograd.grad(out, leaves, grad_output)


@pytest.mark.parametrize("case_id", CASES)
def test_forward_and_backward_equal_pytorch(case_id):
    case = CASES[case_id]()
    ours, our_grads = _outputs_and_grads(F, case)
    theirs, their_grads = _outputs_and_grads(TF, case)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=RTOL64, atol=ATOL64)
    for mine, expected in zip(our_grads, their_grads):
        torch.testing.assert_close(mine, expected, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("case_id", ["linear-leading-dims", "softmax-dim1", "cross_entropy-smoothing-ignore",
                                     "bce_with_logits", "embedding_bag-mean", "mul-broadcast"])
def test_float32_matches_pytorch(case_id):
    case = CASES[case_id]()
    ours, our_grads = _outputs_and_grads(F, case, torch.float32)
    theirs, their_grads = _outputs_and_grads(TF, case, torch.float32)
    assert ours.dtype == torch.float32 and all(g.dtype == torch.float32 for g in our_grads)
    torch.testing.assert_close(ours, theirs, rtol=RTOL32, atol=ATOL32)
    for mine, expected in zip(our_grads, their_grads):
        torch.testing.assert_close(mine, expected, rtol=RTOL32, atol=ATOL32)


# padding_idx deliberately gets no gradient although the forward reads its row, so finite differences disagree
# with PyTorch's (and our) definition there: those cases are checked against PyTorch above instead.
GRADCHECK_CASES = [c for c in CASES if "padding" not in c]


@pytest.mark.parametrize("case_id", GRADCHECK_CASES)
def test_gradcheck_and_gradgradcheck(case_id):
    name, inputs, others, kwargs = CASES[case_id]()
    leaves = [x.requires_grad_() for x in inputs]
    fn = lambda *xs: _call(F, name, xs, others, kwargs)  # noqa: E731
    assert gradcheck(fn, leaves)
    assert gradgradcheck(fn, leaves)


@pytest.mark.parametrize("case_id", CASES)
def test_backward_leaves_grad_output_unchanged(case_id):
    name, inputs, others, kwargs = CASES[case_id]()
    leaves = [x.requires_grad_() for x in inputs]
    out = _call(F, name, leaves, others, kwargs)
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


def test_mul_saves_only_what_the_needed_gradient_uses():
    a, b = randn(3).requires_grad_(), randn(3)
    out = F.mul(a, b)
    saved = out.grad_fn.saved_tensors
    assert saved[0] is None and torch.equal(saved[1], b)


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
                            ["linear", "'input' torch.float32", "'weight' torch.float64"]),
    "add-shapes": (lambda: F.add(x34, torch.randn(5)), ValueError, ["add", "(3, 4)", "(5,)"]),
    "mul-not-tensor": (lambda: F.mul(x34, "2"), TypeError, ["mul", "'other'", "str"]),
    "exp-int": (lambda: F.exp(torch.arange(3)), TypeError, ["exp", "'input'", "torch.int64"]),
    "softmax-no-dim": (lambda: F.softmax(x34), ValueError, ["softmax", "'dim'"]),
    "softmax-bad-dim": (lambda: F.softmax(x34, 2), IndexError, ["softmax", "'dim'", "2", "(3, 4)"]),
    "cross_entropy-float-target": (lambda: F.cross_entropy(x34, torch.rand(3, 4)), TypeError,
                                   ["cross_entropy", "'target'", "torch.float32", "(3, 4)"]),
    "cross_entropy-class-out-of-range": (lambda: F.cross_entropy(x34, torch.tensor([0, 4, 1])), IndexError,
                                         ["cross_entropy", "'target'", "4", "[0, 4)"]),
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
    "embedding-float-ids": (lambda: F.embedding(torch.tensor([0.0, 1.0]), torch.randn(5, 2)), TypeError,
                            ["embedding", "'input'", "torch.float32"]),
    "embedding-id-out-of-range": (lambda: F.embedding(torch.tensor([0, 5]), torch.randn(5, 2)), IndexError,
                                  ["embedding", "'input'", "5", "[0, 5)"]),
    "embedding-int-weight": (lambda: F.embedding(torch.tensor([0]), torch.ones(5, 2, dtype=torch.long)), TypeError,
                             ["embedding", "'weight'", "torch.int64"]),
    "embedding-padding-idx": (lambda: F.embedding(torch.tensor([0]), torch.randn(5, 2), padding_idx=7), ValueError,
                              ["embedding", "'padding_idx'", "7"]),
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
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


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
@pytest.mark.parametrize("case_id", ["linear-leading-dims", "cross_entropy-smoothing-ignore", "embedding_bag-mean",
                                     "embedding_bag-max", "embedding-padding", "softmax-dim1", "bce_with_logits"])
def test_cuda_matches_pytorch(case_id):
    name, inputs, others, kwargs = CASES[case_id]()
    to_cuda = lambda t: t.cuda() if isinstance(t, torch.Tensor) else t  # noqa: E731
    case = (name, [to_cuda(x) for x in inputs], [to_cuda(o) for o in others],
            {k: to_cuda(v) for k, v in kwargs.items()})
    for dtype, rtol, atol in [(torch.float64, RTOL64, ATOL64), (torch.float32, RTOL32, ATOL32)]:
        ours, our_grads = _outputs_and_grads(F, case, dtype)
        theirs, their_grads = _outputs_and_grads(TF, case, dtype)
        assert ours.is_cuda
        torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol)
        for mine, expected in zip(our_grads, their_grads):
            torch.testing.assert_close(mine, expected, rtol=rtol, atol=atol)


@pytest.mark.cuda
def test_cuda_dropout_and_gradcheck():
    x = torch.randn(4, 5, dtype=D, device="cuda", requires_grad=True)
    assert gradcheck(lambda t: F.cross_entropy(F.linear(t, t.T.contiguous()), torch.tensor([0, 1, 2, 3], device="cuda")), [x])
    out = F.dropout(x, 0.5)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    assert torch.equal(grad == 0, out == 0)
