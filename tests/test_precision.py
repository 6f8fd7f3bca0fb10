"""Half precision and autocast: every node in float16 and bfloat16, and under ``torch.autocast``, against
torch.nn.functional on the same inputs (drawn from the node registry)."""

from __future__ import annotations

import pytest
import torch

import in5550.functional as F
from in5550 import cases
from in5550.nn import MLPClassifier

# One rounding of a 16-bit float is about 2**-11 (float16) or 2**-8 (bfloat16) relative; our formulas and
# PyTorch's kernels round at different steps (a few roundings apart), and gradients compound them once more.
TOLERANCES = {torch.float16: {"rtol": 1e-2, "atol": 1e-2}, torch.bfloat16: {"rtol": 5e-2, "atol": 5e-2}}
# Under autocast the losses run in float32 in both; linear runs in the autocast dtype.
AUTOCAST_TOLERANCES = {"rtol": 2e-2, "atol": 2e-2}
HALF_DTYPES = list(TOLERANCES)

SAMPLES = [(name, i) for name in cases.FUNCTIONAL for i in range(len(cases.samples(name)))]


def _ids(params):
    name, i = params
    return f"{name}-{cases.samples(name)[i].note}"


def _run(module_fn, sample: cases.Sample, random: bool, cast=None):
    """Output and gradients of every floating-point input of ``module_fn(*sample.args(), **sample.options)``;
    ``cast`` wraps the forward (an autocast region)."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in sample.inputs.items()
              if isinstance(v, torch.Tensor) and v.is_floating_point()}
    args = [leaves.get(k, v) for k, v in sample.inputs.items()]
    if random:
        torch.manual_seed(3)
    with cast if cast is not None else torch.autocast("cpu", enabled=False):
        out = module_fn(*args, **sample.options)
    grad_output = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    grads = torch.autograd.grad(out, list(leaves.values()), grad_output, allow_unused=True)
    return out, dict(zip(leaves, grads))


def _ours_and_theirs(name, sample, cast=None):
    info = cases.REGISTRY[name]
    return (_run(getattr(F, name), sample, info.random, cast), _run(info.torch_function(), sample, info.random, cast))


def _assert_same(ours, theirs, tolerances):
    (out, grads), (expected, expected_grads) = ours, theirs
    assert out.dtype == expected.dtype and out.shape == expected.shape
    torch.testing.assert_close(out, expected, **tolerances)
    for key, grad in grads.items():
        expected_grad = expected_grads[key]
        assert (grad is None) == (expected_grad is None), key
        if grad is not None:
            assert grad.dtype == expected_grad.dtype, key
            torch.testing.assert_close(grad, expected_grad, **tolerances, msg=key)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
@pytest.mark.parametrize("params", SAMPLES, ids=_ids)
def test_every_node_in_half_precision_matches_pytorch(params, dtype):
    name, i = params
    sample = cases.samples(name, dtype=dtype)[i]
    _assert_same(*_ours_and_theirs(name, sample), TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
@pytest.mark.parametrize("params", SAMPLES, ids=_ids)
def test_every_node_under_cpu_autocast_gives_pytorchs_dtypes(params, dtype):
    name, i = params
    sample = cases.samples(name, dtype=torch.float32)[i]
    ours, theirs = _ours_and_theirs(name, sample, torch.autocast("cpu", dtype=dtype))
    _assert_same(ours, theirs, AUTOCAST_TOLERANCES)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_linear_under_autocast_with_mixed_input_dtypes(dtype):
    x = torch.randn(4, 3, dtype=dtype, requires_grad=True)
    w, b = torch.randn(5, 3, requires_grad=True), torch.randn(5, requires_grad=True)
    results = []
    for linear in (F.linear, torch.nn.functional.linear):
        with torch.autocast("cpu", dtype=dtype):
            out = linear(x, w, b)
        results.append((out, *torch.autograd.grad(out.float().square().sum(), [x, w, b])))
    for mine, expected in zip(*results):
        assert mine.dtype == expected.dtype
        torch.testing.assert_close(mine, expected, **TOLERANCES[dtype])
    assert [g.dtype for g in results[0][1:]] == [dtype, torch.float32, torch.float32]  # each input's own dtype


def test_cross_entropy_under_autocast_returns_float32_like_pytorch():
    logits = torch.randn(6, 4, dtype=torch.bfloat16)
    target = torch.tensor([0, 3, 1, 2, 2, 1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = F.cross_entropy(logits, target), torch.nn.functional.cross_entropy(logits, target)
    assert ours.dtype == theirs.dtype == torch.float32
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=str)
def test_mlp_classifier_in_half_precision_trains_like_pytorchs(dtype):
    ids, offsets, labels = torch.tensor([4, 0, 8, 15, 16, 23, 42, 8]), torch.tensor([0, 2, 5]), torch.tensor([1, 0, 1])
    results = []
    for backend in ("custom", "torch"):
        torch.manual_seed(0)
        model = MLPClassifier(50, 8, [16], 2, backend=backend).to(dtype)
        loss = model.loss(model(ids, offsets), labels)
        loss.backward()
        results.append((loss, *(p.grad for p in model.parameters())))
    for mine, expected in zip(*results):
        assert mine.dtype == expected.dtype == dtype
        torch.testing.assert_close(mine, expected, **TOLERANCES[dtype])


def test_mlp_classifier_under_autocast_trains_like_pytorchs():
    ids, offsets, labels = torch.tensor([4, 0, 8, 15, 16, 23, 42, 8]), torch.tensor([0, 2, 5]), torch.tensor([1, 0, 1])
    results = []
    for backend in ("custom", "torch"):
        torch.manual_seed(0)
        model = MLPClassifier(50, 8, [16], 2, backend=backend)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(ids, offsets)
            loss = model.loss(logits, labels)
        loss.backward()
        results.append((logits, loss, *(p.grad for p in model.parameters())))
    for mine, expected in zip(*results):
        assert mine.dtype == expected.dtype
        torch.testing.assert_close(mine, expected, **AUTOCAST_TOLERANCES)
