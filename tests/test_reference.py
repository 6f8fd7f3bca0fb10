"""The NumPy reference (forward and hand-derived backward) against PyTorch's own forward and autograd.

Node inputs come from the registry (:mod:`in5550.cases`), drawn from each test's own seed; the few values a test
writes itself are boundary values that the registry cannot hold (every registry sample is also differentiated
numerically), or bad input. Each test makes its own generator, so its inputs do not depend on which tests ran
before it.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from in5550 import cases
from in5550 import reference as ref
from in5550 import torch_reference
from in5550.vmf import vmf_loss

# Both sides compute in float64 with the same formulas up to rounding order.
RTOL, ATOL = 1e-10, 1e-12
# The registry's samples are drawn from each of these seeds: other seeds, other shapes.
SEEDS = (0, 1, 2)


def numpy(value):
    """A registry value for the reference: tensors as NumPy arrays, anything else as it is."""
    return value.numpy() if isinstance(value, torch.Tensor) else value


def positive(rng, *shape):
    return rng.uniform(0.2, 2.0, size=shape)


def torch_forward_backward(fn, args, kwargs, grad_output):
    """PyTorch's output and autograd gradients of the floating-point tensor arguments, for upstream
    ``grad_output``; NumPy arrays among ``args`` and ``kwargs`` are passed as tensors."""
    tensors = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in args]
    out = fn(*tensors, **{k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    leaves = [t for t in tensors if isinstance(t, torch.Tensor) and t.requires_grad]
    grads = torch.autograd.grad(out, leaves, torch.as_tensor(grad_output))
    return out.detach().numpy(), [g.numpy() for g in grads]


def check_against_torch(name, torch_fn, args, kwargs, rng, note=""):
    """The reference's output and gradients of ``name`` against PyTorch's on ``args`` (NumPy arrays and numbers)."""
    forward, backward = getattr(ref, name), getattr(ref, name + "_backward")
    out = forward(*args, **kwargs)
    grad_output = rng.standard_normal(np.shape(out))
    torch_out, torch_grads = torch_forward_backward(torch_fn, args, kwargs, grad_output)
    np.testing.assert_allclose(out, torch_out, rtol=RTOL, atol=ATOL, err_msg=note)
    grads = backward(grad_output, *args, **kwargs)
    # One gradient per floating-point argument, in order (a Python number gets one of shape ()); None only for
    # an absent optional argument (linear's bias).
    floats = [a for a in args if np.asarray(a).dtype.kind == "f"]
    assert len(grads) == len(floats) + (name == "linear" and len(args) == 2), note
    tensor_grads = iter(torch_grads)
    for grad, arg in zip(grads, floats):
        assert np.shape(grad) == np.shape(arg), note
        if isinstance(arg, np.ndarray):
            np.testing.assert_allclose(grad, next(tensor_grads), rtol=RTOL, atol=ATOL, err_msg=note)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(cases.REGISTRY))
def test_reference_matches_pytorch_autograd(name, seed):
    info = cases.REGISTRY[name]
    rng = np.random.default_rng(seed)
    for sample in cases.samples(name, seed=seed, dtype=torch.float64):
        args, options = [numpy(v) for v in sample.args()], {k: numpy(v) for k, v in sample.options.items()}
        if info.reference_args:  # dropout: the reference takes the mask that PyTorch drew
            torch.manual_seed(seed)
            output = info.torch_function()(*sample.args(), **sample.options)
            args = [numpy(v) for v in info.reference_args(sample.inputs, output)]

            def torch_fn(x, mask, **options):  # PyTorch's own dropout, drawing the same mask again
                torch.manual_seed(seed)
                return info.torch_function()(x, **options)
        else:
            torch_fn = info.torch_function()
        check_against_torch(name, torch_fn, args, options, rng, note=f"{name} ({sample.note})")


# Options of the reference that the functional API does not take, and so the registry does not hold: class
# weights, and pos_weight. Each draws a registry sample and adds the option.
def _class_weights(sample, rng):
    scores = sample.inputs["input"]
    return {"weight": positive(rng, scores.shape[1] if scores.dim() > 1 else scores.shape[0])}


def _elementwise_weights(sample, rng):
    shape = tuple(sample.inputs["input"].shape)
    return {"weight": positive(rng, *shape), "pos_weight": positive(rng, *shape[-1:])}


@pytest.mark.parametrize("name, extra", [
    ("cross_entropy", _class_weights),
    ("nll_loss", _class_weights),
    ("binary_cross_entropy", lambda sample, rng: {"weight": positive(rng, *sample.inputs["input"].shape[-1:])}),
    ("binary_cross_entropy_with_logits", _elementwise_weights),
])
def test_reference_options_beyond_the_functional_api_match_pytorch(name, extra):
    rng = np.random.default_rng(7)
    for sample in cases.samples(name, seed=7):
        options = {**{k: numpy(v) for k, v in sample.options.items()}, **extra(sample, rng)}
        check_against_torch(name, cases.REGISTRY[name].torch_function(), [numpy(v) for v in sample.args()], options,
                            rng, note=f"{name} ({sample.note}) with {sorted(options)}")


def test_linear_without_bias_returns_none_for_the_bias():
    _, _, grad_b = ref.linear_backward(np.ones((2, 3)), np.ones((2, 4)), np.ones((3, 4)))
    assert grad_b is None


def test_embedding_gradients_accumulate_repeated_ids_and_skip_padding():
    ids = np.array([[2, 2, 0], [2, 1, 0]])
    (grad_w,) = ref.embedding_backward(np.ones((2, 3, 2)), ids, np.zeros((4, 2)), padding_idx=0)
    np.testing.assert_array_equal(grad_w, [[0, 0], [1, 1], [3, 3], [0, 0]])


def test_embedding_bag_mean_leaves_padding_out_of_the_bag_size():
    weight = np.arange(8.0).reshape(4, 2)
    out = ref.embedding_bag(np.array([[1, 3, 0, 0]]), weight, mode="mean", padding_idx=0)
    np.testing.assert_array_equal(out, [(weight[1] + weight[3]) / 2])
    (grad_w,) = ref.embedding_bag_backward(np.ones((1, 2)), np.array([[1, 3, 0, 0]]), weight, padding_idx=0)
    np.testing.assert_array_equal(grad_w, [[0, 0], [0.5, 0.5], [0, 0], [0.5, 0.5]])


def test_embedding_bag_empty_bag_gives_zeros_and_no_gradient():
    ids, offsets, weight = np.array([1, 2]), np.array([0, 2, 2]), np.random.default_rng(0).standard_normal((3, 2))
    out = ref.embedding_bag(ids, weight, offsets=offsets, mode="max")
    np.testing.assert_array_equal(out[1:], 0.0)
    grad_output = np.array([[0.0, 0.0], [5.0, 5.0], [5.0, 5.0]])  # only the empty bags have a gradient
    (grad_w,) = ref.embedding_bag_backward(grad_output, ids, weight, offsets=offsets, mode="max")
    np.testing.assert_array_equal(grad_w, 0.0)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_matches_pytorch_given_its_mask(p):
    x = cases.samples("dropout", seed=3)[0].inputs["input"].requires_grad_()  # no zeros: +/-[0.2, 1.2]
    torch.manual_seed(3)
    y = TF.dropout(x, p=p)
    mask = (y != 0).numpy()  # x has no zeros: a zero output is a dropped unit
    grad_output = np.random.default_rng(3).standard_normal(tuple(x.shape))
    (torch_grad,) = torch.autograd.grad(y, x, torch.tensor(grad_output))
    np.testing.assert_allclose(ref.dropout(x.detach().numpy(), mask, p=p), y.detach().numpy(), rtol=RTOL, atol=ATOL)
    (grad,) = ref.dropout_backward(grad_output, x.detach().numpy(), mask, p=p)
    np.testing.assert_allclose(grad, torch_grad.numpy(), rtol=RTOL, atol=ATOL)


def test_dropout_is_the_identity_when_not_training():
    x, mask = np.random.default_rng(0).standard_normal(3), np.array([0, 1, 0])
    np.testing.assert_array_equal(ref.dropout(x, mask, p=0.5, training=False), x)
    np.testing.assert_array_equal(ref.dropout_backward(np.ones(3), x, mask, p=0.5, training=False)[0], np.ones(3))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_every_target_ignored_gives_nan_and_zero_gradients_like_pytorch(name):
    """The mean over no targets is 0 / 0; the gradient of each ignored sample is still 0."""
    x, t = np.random.default_rng(0).standard_normal((2, 3)), np.array([-100, -100])
    out, grads = torch_forward_backward(getattr(TF, name), (x, t), {}, np.array(2.0))
    assert np.isnan(ref_out := getattr(ref, name)(x, t)) and np.isnan(out), ref_out
    np.testing.assert_array_equal(getattr(ref, name + "_backward")(2.0, x, t)[0], grads[0])


def test_ignored_targets_with_a_single_class_like_pytorch():
    x, t = np.random.default_rng(0).standard_normal((3, 1)), np.array([0, -100, 0])
    for name in ("cross_entropy", "nll_loss"):
        out, grads = torch_forward_backward(getattr(TF, name), (x, t), {}, np.array(1.0))
        np.testing.assert_allclose(getattr(ref, name)(x, t), out, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(getattr(ref, name + "_backward")(1.0, x, t)[0], grads[0], rtol=RTOL, atol=ATOL)


def test_edge_values_give_pytorchs_inf_and_nan_without_numpy_warnings_or_errors():
    """log(0), log(-1), 1 / 0 and 0 / 0 are results here, as in PyTorch: even under ``np.errstate(all="raise")``
    the reference returns them rather than raising or warning."""
    x, ignored = np.random.default_rng(0).standard_normal((2, 3)), np.array([-100, -100])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(ref.log(np.array([0.0, -1.0])), [-np.inf, np.nan])
        np.testing.assert_array_equal(ref.log_backward(np.array([1.0, 0.0]), np.array([0.0, 0.0]))[0], [np.inf, np.nan])
        for name in ("cross_entropy", "nll_loss"):
            assert np.isnan(getattr(ref, name)(x, ignored))
            for grad_output in (1.0, 0.0):  # 1 / 0 and 0 / 0 as each sample's share of the mean
                assert not getattr(ref, name + "_backward")(grad_output, x, ignored)[0].any()
        assert np.isfinite(ref.log_bessel_i(50.0, np.array([1e-5, 1e-300]))).all()  # the series' terms underflow


def test_log_bessel_i_computes_in_float64_whatever_the_input_type():
    x = np.linspace(0.1, 30.0, 50)
    result = ref.log_bessel_i(0.5, x.astype(np.float32))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, ref.log_bessel_i(0.5, x.astype(np.float32).astype(np.float64)), rtol=1e-15)


def test_dropout_takes_pytorchs_default_p_and_drops_everything_at_p_1_whatever_the_mask():
    x, mask = np.random.default_rng(0).standard_normal(4), np.array([1, 0, 1, 1])
    np.testing.assert_array_equal(ref.dropout(x, mask), x * mask * 2.0)
    np.testing.assert_array_equal(ref.dropout_backward(np.ones(4), x, mask)[0], mask * 2.0)
    assert not ref.dropout(x, np.ones(4), p=1.0).any()
    assert not ref.dropout_backward(np.ones(4), x, np.ones(4), p=1.0)[0].any()


def test_relu_gradient_at_zero_is_zero_like_pytorch():
    np.testing.assert_array_equal(ref.relu_backward(np.ones(3), np.array([0.0, -0.0, 1e-300]))[0], [0.0, 0.0, 1.0])


def test_padding_idx_counts_from_the_end_down_to_minus_the_vocabulary():
    ids, weight = np.array([0, 4, 2]), np.random.default_rng(0).standard_normal((5, 3))
    for padding_idx, row in ((-5, 0), (-1, 4)):
        (grad,) = ref.embedding_backward(np.ones((3, 3)), ids, weight, padding_idx=padding_idx)
        assert not grad[row].any() and grad.sum() == 6.0, padding_idx


def test_vmf_loss_of_one_row_and_of_two_dimensions_like_the_node():
    rng = np.random.default_rng(0)
    for shape in ((3,), (4, 2)):
        e_hat, target = rng.standard_normal(shape), rng.standard_normal(shape)
        target /= np.linalg.norm(target, axis=-1, keepdims=True)
        node = vmf_loss(torch.tensor(e_hat), torch.tensor(target), reduction="none")
        np.testing.assert_allclose(ref.vmf_loss(e_hat, target, reduction="none"), node.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("m", [3, 5])  # odd m: Gamma(v + 1) != 1, unlike m = 4
def test_vmf_loss_at_a_zero_prediction_is_the_limit_of_small_ones(m):
    target = np.eye(m)[0]
    np.testing.assert_allclose(ref.vmf_loss(np.zeros(m), target), ref.vmf_loss(1e-9 * target, target), rtol=1e-9)


# --------------------------------------------------------------------------------------------------------------
# Stability: large logits and probabilities of exactly 0 and 1
# --------------------------------------------------------------------------------------------------------------
# Boundary values written out, not drawn: saturated logits (softmax exactly 0 and 1) and probabilities of exactly 0
# and 1 are where finite differences, which every registry sample goes through, cannot go.


@pytest.mark.parametrize(
    "name, torch_fn, args, kwargs",
    [
        ("log_softmax", TF.log_softmax, (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]),), {"dim": 1}),
        ("log_softmax", TF.log_softmax, (np.array([[0.0, 1.0], [1000.0, 1001.0]]),), {"dim": 1}),  # each row's max
        ("softmax", TF.softmax, (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]),), {"dim": 1}),
        ("cross_entropy", TF.cross_entropy, (np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]]), np.array([1, 2])), {}),
        ("sigmoid", torch.sigmoid, (np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]),), {}),
        (
            "binary_cross_entropy_with_logits",
            TF.binary_cross_entropy_with_logits,
            (np.array([-1000.0, 1000.0, 0.0]), np.array([1.0, 0.0, 1.0])),
            {},
        ),
        (
            "binary_cross_entropy",
            TF.binary_cross_entropy,
            (np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 0.3])),
            {"reduction": "none"},
        ),
    ],
)
def test_reference_is_finite_and_equal_to_pytorch_at_extremes(name, torch_fn, args, kwargs):
    out = getattr(ref, name)(*args, **kwargs)
    torch_out, torch_grads = torch_forward_backward(torch_fn, args, kwargs, np.ones(np.shape(out)))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, torch_out, rtol=RTOL, atol=ATOL)
    grad_input = getattr(ref, name + "_backward")(np.ones(np.shape(out)), *args, **kwargs)[0]
    np.testing.assert_allclose(grad_input, torch_grads[0], rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------------------------------------------
# The von Mises-Fisher loss: PyTorch has no such function, so the registry test above compares the reference with
# the same loss written with torch ops (in5550.torch_reference). Both are checked here against values they share
# with neither: high-precision Bessel functions, and the closed form for m = 3.
# --------------------------------------------------------------------------------------------------------------

# log I_v relative to max(1, |log I_v|), against 40-digit values.
LOG_BESSEL_RTOL = 1e-12


@pytest.mark.parametrize("v", [0.0, 0.5, 1.5, 149.0, 150.0, 999.0])
def test_log_bessel_functions_match_high_precision_values(v):
    x = np.array([1e-3, 0.3, 2.0, 20.0, 150.0, 400.0, 900.0])  # ive underflows for v >= 149 and small x
    mpmath.mp.dps = 40
    expected = np.array([float(mpmath.log(mpmath.besseli(v, xi))) for xi in x])
    scale = np.maximum(1.0, np.abs(expected))
    assert (np.abs(ref.log_bessel_i(v, x) - expected) / scale).max() < LOG_BESSEL_RTOL
    series = torch_reference.log_bessel_i(v, torch.tensor(x, dtype=torch.float64)).numpy()
    assert (np.abs(series - expected) / scale).max() < LOG_BESSEL_RTOL


def closed_form_vmf_3(e_hat, target, lambda_1, lambda_2):
    """Per-row loss and its gradient for m = 3, where I_{1/2}(k) = sqrt(2 / (pi k)) sinh k: -log C_3(k) =
    log(4 pi sinh k / k), and rho(k) = I_{3/2}(k) / I_{1/2}(k) = coth k - 1/k (the Langevin function)."""
    kappa = np.linalg.norm(e_hat, axis=-1)
    log_sinh = kappa + np.log1p(-np.exp(-2 * kappa)) - np.log(2)  # sinh overflows float64 beyond 710
    loss = np.log(4 * np.pi) + log_sinh - np.log(kappa) + lambda_1 * kappa - lambda_2 * (e_hat * target).sum(-1)
    rho = 1 / np.tanh(kappa) - 1 / kappa
    return loss, (rho + lambda_1)[..., None] * e_hat / kappa[..., None] - lambda_2 * target


@pytest.mark.parametrize("norm", [0.05, 2.0, 800.0])
def test_vmf_reference_and_torch_view_equal_the_closed_form_for_three_dimensions(norm):
    rng = np.random.default_rng(int(norm * 100))
    e_hat = rng.standard_normal((4, 3))
    e_hat *= norm / np.linalg.norm(e_hat, axis=-1, keepdims=True)
    target = rng.standard_normal((4, 3))
    target /= np.linalg.norm(target, axis=-1, keepdims=True)
    loss, grad = closed_form_vmf_3(e_hat, target, 0.02, 0.1)
    options = {"lambda_1": 0.02, "lambda_2": 0.1, "reduction": "none"}
    # at norm 0.05, coth k - 1/k loses about 1e-13 to cancellation in the closed form itself
    np.testing.assert_allclose(ref.vmf_loss(e_hat, target, **options), loss, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ref.vmf_loss_backward(np.ones(4), e_hat, target, **options)[0], grad, rtol=1e-9,
                               atol=1e-12)
    x = torch.tensor(e_hat, requires_grad=True)
    torch_loss = torch_reference.vmf_loss(x, torch.tensor(target), **options)
    torch_loss.sum().backward()
    np.testing.assert_allclose(torch_loss.detach().numpy(), loss, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-9, atol=1e-12)


def test_vmf_reference_takes_the_limit_at_a_zero_prediction_as_the_node_does():
    target = np.array([[0.6, 0.8, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    e_hat = np.array([[0.0, 0.0, 0.0, 0.0], [0.3, -0.1, 0.2, 0.5]])
    # -log C_4(0) = 2 log(2 pi) + lim log(I_1(k) / k) = 2 log(2 pi) - log 2
    assert ref.vmf_loss(e_hat, target, reduction="none")[0] == pytest.approx(2 * math.log(2 * math.pi) - math.log(2))
    for reduction in ("mean", "none"):
        options = {"lambda_2": 0.5, "reduction": reduction}
        x = torch.tensor(e_hat, requires_grad=True)
        node = vmf_loss(x, torch.tensor(target), **options)
        grad_output = np.ones(tuple(node.shape))
        (grad,) = torch.autograd.grad(node, x, torch.tensor(grad_output))
        np.testing.assert_allclose(ref.vmf_loss(e_hat, target, **options), node.detach().numpy(), rtol=RTOL, atol=ATOL)
        grad_e, grad_t = ref.vmf_loss_backward(grad_output, e_hat, target, **options)
        np.testing.assert_allclose(grad_e, grad.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grad_e[0], -0.5 * target[0] / (2 if reduction == "mean" else 1))
        np.testing.assert_allclose(grad_t, -0.5 * e_hat / (2 if reduction == "mean" else 1))


# --------------------------------------------------------------------------------------------------------------
# The MLP sentence classifier, back-propagated by hand
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("two_d", [False, True])
def test_manual_mlp_backpropagation_equals_autograd(two_d):
    vocab, dim, hidden, classes = 7, 4, 5, 3
    normal = np.random.default_rng(int(two_d)).standard_normal
    params = {
        "embedding.weight": normal((vocab, dim)),
        "hidden.weight": normal((hidden, dim)),
        "hidden.bias": normal(hidden),
        "output.weight": normal((classes, hidden)),
        "output.bias": normal(classes),
    }
    if two_d:  # padded sentences of equal length, repeated ids
        ids, offsets = np.array([[3, 3, 1, 0], [2, 0, 0, 0], [6, 5, 6, 6]]), None
    else:  # concatenated sentences with offsets, repeated ids, a padding token inside a bag
        ids, offsets = np.array([3, 3, 1, 2, 0, 6, 5, 6, 6]), np.array([0, 3, 5])
    target = np.array([2, 0, 1])

    forward = ref.mlp_forward(params, ids, target, offsets=offsets, padding_idx=0)
    loss, grads = ref.mlp_backward(forward)

    t = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    e = TF.embedding_bag(
        torch.tensor(ids), t["embedding.weight"], None if offsets is None else torch.tensor(offsets), mode="mean",
        padding_idx=0,
    )
    z = TF.linear(TF.relu(TF.linear(e, t["hidden.weight"], t["hidden.bias"])), t["output.weight"], t["output.bias"])
    torch_loss = TF.cross_entropy(z, torch.tensor(target))
    torch_loss.backward()

    assert loss == pytest.approx(torch_loss.item(), rel=RTOL)
    assert set(grads) == set(ref.MLP_PARAMETERS)
    for name in ref.MLP_PARAMETERS:
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    assert np.abs(grads["embedding.weight"][0]).max() == 0.0  # padding row


MLP_PARAMS = {"embedding.weight": np.ones((3, 2)), "hidden.weight": np.ones((2, 2)), "hidden.bias": np.ones(2),
              "output.weight": np.ones((2, 2)), "output.bias": np.ones(2)}


def test_mlp_forward_names_missing_parameters():
    with pytest.raises(KeyError, match=r"mlp_forward: argument 'params' lacks \['output.bias'\]"):
        ref.mlp_forward({k: v for k, v in MLP_PARAMS.items() if k != "output.bias"}, np.array([[1, 2]]), np.array([0]))


# --------------------------------------------------------------------------------------------------------------
# Bad input: every kind raises an error naming the function, the argument and the offending value
# --------------------------------------------------------------------------------------------------------------

BAD_INPUT = [
    # wrong shapes
    (ValueError, r"add: shapes of 'input' \(3,\) and 'other' \(4,\)",
     lambda: ref.add(np.ones(3), np.ones(4))),
    (ValueError, r"linear: 'input' \(2, 3\) and 'weight' \(4, 5\)",
     lambda: ref.linear(np.ones((2, 3)), np.ones((4, 5)))),
    (ValueError, r"linear: argument 'bias' .* \(4,\), got \(3,\)",
     lambda: ref.linear(np.ones((2, 3)), np.ones((4, 3)), np.ones(3))),
    (ValueError, r"cross_entropy: argument 'target' of shape \(3,\)",
     lambda: ref.cross_entropy(np.ones((2, 3)), np.array([0, 1, 2]))),
    (ValueError, r"mse_loss: argument 'target' .* got \(4,\)",
     lambda: ref.mse_loss(np.ones(3), np.ones(4))),
    (ValueError, r"dropout: argument 'mask' .* got \(2,\)",
     lambda: ref.dropout(np.ones(3), np.ones(2))),
    (ValueError, r"embedding: argument 'weight' must be 2-D .* got \(3,\)",
     lambda: ref.embedding(np.array([0]), np.ones(3))),
    (ValueError, r"cross_entropy: argument 'weight' .* got \(2,\)",
     lambda: ref.cross_entropy(np.ones((2, 3)), np.array([0, 1]), weight=np.ones(2))),
    # wrong dtypes
    (TypeError, r"cross_entropy: argument 'target' .* float64",
     lambda: ref.cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0]))),
    (TypeError, r"embedding: argument 'input' .* float64",
     lambda: ref.embedding(np.array([0.5]), np.ones((2, 2)))),
    (TypeError, r"relu: argument 'input' must be numeric",
     lambda: ref.relu(np.array(["a"]))),
    # values out of range
    (IndexError, r"cross_entropy: argument 'target' holds index 3, outside \[0, 3\)",
     lambda: ref.cross_entropy(np.ones((2, 3)), np.array([0, 3]))),
    (IndexError, r"nll_loss: argument 'target' holds index -1",
     lambda: ref.nll_loss(np.ones((2, 3)), np.array([-1, 0]))),
    (IndexError, r"embedding_bag: argument 'input' holds index 5",
     lambda: ref.embedding_bag(np.array([[0, 5]]), np.ones((4, 2)))),
    (ValueError, r"embedding: argument 'padding_idx' is 2",
     lambda: ref.embedding(np.array([0]), np.ones((2, 2)), padding_idx=2)),
    (ValueError, r"dropout: argument 'p' .* got 1.5",
     lambda: ref.dropout(np.ones(2), np.ones(2), p=1.5)),
    (ValueError, r"binary_cross_entropy: argument 'input' .* got 1.5",
     lambda: ref.binary_cross_entropy(np.array([1.5]), np.array([1.0]))),
    (ValueError, r"softmax: argument 'dim' is 2",
     lambda: ref.softmax(np.ones((2, 3)), dim=2)),
    # bad options and offsets
    (ValueError, r"mse_loss: argument 'reduction' .* 'avg'",
     lambda: ref.mse_loss(np.ones(2), np.ones(2), reduction="avg")),
    (ValueError, r"embedding_bag: argument 'mode' .* 'min'",
     lambda: ref.embedding_bag(np.array([[0]]), np.ones((2, 2)), mode="min")),
    (ValueError, r"embedding_bag: argument 'offsets' must be 1-D, got shape \(1, 1\)",
     lambda: ref.embedding_bag(np.array([0, 1]), np.ones((2, 2)), offsets=np.array([[0]]))),
    (ValueError, r"embedding_bag: argument 'offsets' must start at 0",
     lambda: ref.embedding_bag(np.array([0, 1]), np.ones((2, 2)), offsets=np.array([1]))),
    (ValueError, r"embedding_bag: argument 'offsets' is required",
     lambda: ref.embedding_bag(np.array([0, 1]), np.ones((2, 2)))),
    (ValueError, r"embedding_bag: argument 'offsets' must be None",
     lambda: ref.embedding_bag(np.array([[0, 1]]), np.ones((2, 2)), offsets=np.array([0]))),
    (ValueError, r"vmf_loss: argument 'input' must have shape \(\*, m\) with m >= 2, got \(2, 1\)",
     lambda: ref.vmf_loss(np.ones((2, 1)), np.ones((2, 1)))),
    (ValueError, r"vmf_loss: argument 'target' must have the shape of 'input' \(2, 3\), got \(3, 3\)",
     lambda: ref.vmf_loss(np.ones((2, 3)), np.ones((3, 3)))),
    (ValueError, r"vmf_loss: argument 'lambda_1' must be a finite number >= 0, got -0.1",
     lambda: ref.vmf_loss(np.ones((2, 3)), np.ones((2, 3)), lambda_1=-0.1)),
    (ValueError, r"^vmf_loss: argument 'lambda_2' must be a finite number >= 0, got -0.5$",
     lambda: ref.vmf_loss(np.ones((2, 3)), np.ones((2, 3)), lambda_2=-0.5)),
    (ValueError, r"^mul: shapes of 'input' \(3,\) and 'other' \(4,\) cannot be broadcast$",
     lambda: ref.mul(np.ones(3), np.ones(4))),
    (ValueError, r"^mul_backward: shapes of 'input' \(3,\) and 'other' \(4,\) cannot be broadcast$",
     lambda: ref.mul_backward(np.ones(3), np.ones(3), np.ones(4))),
    (ValueError, r"^add_backward: shapes of 'input' \(3,\) and 'other' \(4,\) cannot be broadcast$",
     lambda: ref.add_backward(np.ones(3), np.ones(3), np.ones(4))),
    (ValueError, r"^linear: 'input' \(4, 3\) and 'weight' \(2, 3, 5\)",
     lambda: ref.linear(np.ones((4, 3)), np.ones((2, 3, 5)))),
    (ValueError, r"^linear: 'input' \(\) and 'weight' \(2, 3\)",
     lambda: ref.linear(np.array(1.0), np.ones((2, 3)))),
    (ValueError, r"^log_softmax: argument 'dim' is 1, out of range for input of shape \(3,\)$",
     lambda: ref.log_softmax(np.ones(3), dim=1)),
    (ValueError, r"^log_softmax: argument 'dim' is -2, out of range for input of shape \(3,\)$",
     lambda: ref.log_softmax(np.ones(3), dim=-2)),
    (ValueError, r"^embedding: argument 'padding_idx' is -6, outside \[-5, 5\)$",
     lambda: ref.embedding(np.array([0]), np.ones((5, 3)), padding_idx=-6)),
    (ValueError, r"^binary_cross_entropy: argument 'input' must hold probabilities in \[0, 1\], got 1.5$",
     lambda: ref.binary_cross_entropy(np.array([0.0, 1.0, 1.5]), np.ones(3))),
    (ValueError, r"^embedding_bag: argument 'input' must be 1-D \(with offsets\) or 2-D, got shape \(1, 1, 1\)$",
     lambda: ref.embedding_bag(np.zeros((1, 1, 1), dtype=int), np.ones((2, 2)))),
    (ValueError, r"^embedding_bag: argument 'offsets' must start at 0, never decrease and stay within the 2 ids",
     lambda: ref.embedding_bag(np.array([0, 1]), np.ones((2, 2)), offsets=np.array([0, 1, 5]),
                               include_last_offset=True)),
    (ValueError, r"^embedding_bag_backward: argument 'mode' .* 'min'",
     lambda: ref.embedding_bag_backward(np.ones((1, 2)), np.array([[0]]), np.ones((2, 2)), mode="min")),
    (TypeError, r"^mlp_forward: argument 'hidden.bias' must be numeric",
     lambda: ref.mlp_forward(dict(MLP_PARAMS, **{"hidden.bias": np.array(["a", "b"])}), np.array([[1, 2]]),
                             np.array([0]))),
    (ValueError, r"vmf_loss: argument 'reduction' .* 'avg'",
     lambda: ref.vmf_loss(np.ones((2, 3)), np.ones((2, 3)), reduction="avg")),
]


@pytest.mark.parametrize("error, message, call", BAD_INPUT, ids=[b[1].lstrip("^").split(":")[0] for b in BAD_INPUT])
def test_bad_input_raises_a_clear_error(error, message, call):
    with pytest.raises(error, match=message):
        call()


def test_backward_functions_check_their_arguments_too():
    with pytest.raises(ValueError, match=r"tanh_backward: argument 'grad_output' .* shape \(3,\), got \(2,\)"):
        ref.tanh_backward(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"mse_loss_backward: argument 'grad_output' .* shape \(\), got \(3,\)"):
        ref.mse_loss_backward(np.ones(3), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"embedding_bag_backward: argument 'grad_output' .* \(1, 2\), got \(2, 2\)"):
        ref.embedding_bag_backward(np.ones((2, 2)), np.array([[0, 1]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"linear_backward: 'input' \(2, 3\) and 'weight' \(4, 5\)"):
        ref.linear_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(IndexError, match=r"cross_entropy_backward: argument 'target' holds index 7"):
        ref.cross_entropy_backward(1.0, np.ones((2, 3)), np.array([0, 7]))
