"""The checking tools: compare, numerical_gradient, verify on correct and deliberately broken nodes, in5550 check."""

import numpy as np
import pytest
import torch

import in5550.functional
from in5550 import checks
from in5550.checks import NodeCase, compare, numerical_gradient, verify
from in5550.cli import main

# --------------------------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------------------------


def test_compare_equal_tensors_is_exact():
    x = torch.randn(3, 4, dtype=torch.float64)
    result = compare(x, x.clone().numpy(), name="grad x")
    assert (result.exact, result.allclose, result.max_abs_diff, result.rel_error) == (True, True, 0.0, 0.0)
    assert str(result) == "grad x: ok, exact"


def test_relative_error_is_relative_to_the_whole_tensor():
    # max|a - b| / max(|a| + |b|): a tiny difference on a tiny element is tiny relative to the tensor.
    result = compare(np.array([1.0, 0.0]), np.array([1.0, 1e-10]))
    assert result.max_abs_diff == pytest.approx(1e-10)
    assert result.rel_error == pytest.approx(1e-10 / 2)
    assert not result.exact and result.allclose
    # scale-free: the same relative mistake on numbers a million times larger gives the same figure
    assert compare(np.array([2e6, 3e6]), np.array([2e6, 3.3e6])).rel_error == pytest.approx(0.3e6 / 6.3e6)
    assert compare(np.array([2.0, 3.0]), np.array([2.0, 3.3])).rel_error == pytest.approx(0.3 / 6.3)
    # a sign error is as far off as it gets
    assert compare(np.array([1.0, -2.0]), np.array([-1.0, 2.0])).rel_error == pytest.approx(1.0)
    assert compare(np.zeros(3), np.zeros(3)).rel_error == 0.0


def test_compare_fails_beyond_tolerance_and_says_so():
    result = compare(np.array([1.0, 2.0]), np.array([1.0, 2.001]), name="grad w")
    assert not result.passed
    assert str(result).startswith("grad w: MISMATCH, max abs diff 1.000e-03")
    assert compare(np.array([1.0]), np.array([1.001]), rtol=1e-2).passed  # tolerances can be widened


def test_compare_reports_shape_mismatch_and_missing_tensors():
    result = compare(torch.zeros(4, 3), torch.zeros(3), name="grad bias")
    assert not result.passed and "shape (4, 3) != expected (3,)" in str(result)
    assert not compare(None, np.zeros(2)).passed
    assert "actual is missing" in compare(None, np.zeros(2)).note
    assert compare(None, None).passed  # e.g. no bias on either side


def test_compare_treats_matching_nan_and_infinity_as_equal():
    assert compare(np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0])).exact
    assert not compare(np.array([np.nan, 1.0]), np.array([0.0, 1.0])).passed
    assert not compare(np.array([np.inf]), np.array([1.0])).passed


def test_compare_dicts_and_sequences_per_tensor():
    results = compare({"weight": np.ones(2), "bias": np.ones(1)}, {"weight": np.ones(2), "bias": np.zeros(1)})
    assert [(r.name, r.passed) for r in results] == [("weight", True), ("bias", False)]
    results = compare((np.ones(2), None), (np.ones(2), None), name="grad")
    assert [(r.name, r.passed) for r in results] == [("grad[0]", True), ("grad[1]", True)]
    with pytest.raises(ValueError, match="compare: 'actual' has 1 tensors but 'expected' has 2"):
        compare([np.ones(1)], [np.ones(1), np.ones(1)])


# --------------------------------------------------------------------------------------------------------------
# numerical_gradient
# --------------------------------------------------------------------------------------------------------------


def test_numerical_gradient_of_known_functions():
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float32)
    (grad,) = numerical_gradient(lambda x: (x**3).sum(), [x])
    assert grad.dtype == torch.float64  # float64 even for a float32 input
    np.testing.assert_allclose(grad.numpy(), 3 * x.double().numpy() ** 2, rtol=1e-8)

    a = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(numerical_gradient(lambda a: np.sin(a).sum(), a), np.cos(a), rtol=1e-8)
    assert a[0] == -2  # the input is left as it was


def test_numerical_gradient_with_an_upstream_gradient():
    a, b, g = np.array([[1.0, 2.0]]), np.array([3.0, -1.0]), np.array([[0.5, 2.0]])
    grad_a, grad_b = numerical_gradient(lambda a, b: a * b, (a, b), grad_output=g)
    np.testing.assert_allclose(grad_a, g * b, rtol=1e-8)
    np.testing.assert_allclose(grad_b, (g * a)[0], rtol=1e-8)


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match=r"numerical_gradient: f returned shape \(2,\); pass grad_output"):
        numerical_gradient(lambda x: x * 2, np.ones(2))
    with pytest.raises(TypeError, match="numerical_gradient: input 1 must be floating point, got dtype int64"):
        numerical_gradient(lambda x, t: x.sum(), (np.ones(2), np.array([1, 2])))
    with pytest.raises(ValueError, match=r"numerical_gradient: 'grad_output' has shape \(3,\), f returned \(2,\)"):
        numerical_gradient(lambda x: x * 2, np.ones(2), grad_output=np.ones(3))


# --------------------------------------------------------------------------------------------------------------
# verify: correct nodes pass, broken nodes fail and the report names the bad tensor
# --------------------------------------------------------------------------------------------------------------


def failed(report):
    return {(check.tensor, check.view) for check in report.failures}


def test_verify_passes_a_correct_node_and_shows_every_tensor():
    report = verify("linear")
    assert report.passed, str(report)
    text = str(report)
    for row in ("output", "grad input", "grad weight", "grad bias", "gradcheck", "gradgradcheck"):
        assert f"linear (leading dims)  {row}" in text
    assert text.endswith("all 13 checks passed (1 cases)")
    assert "<table>" in report._repr_html_() and "#fdd" not in report._repr_html_()


class WrongSignTanh(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return -grad_output * (1 - y * y)  # the sign is wrong


class BrokenLinear(torch.autograd.Function):
    """Linear whose backward has one mistake, chosen by ``bug``."""

    @staticmethod
    def forward(x, weight, bias, bug):
        return x @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, ctx.bug = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        rows_g, rows_x = grad_output.reshape(-1, weight.shape[0]), x.reshape(-1, weight.shape[1])
        grad_w = rows_x.T @ rows_g if ctx.bug == "transpose" else rows_g.T @ rows_x
        grad_b = grad_output if ctx.bug == "bias not summed" else rows_g.sum(0)
        return grad_output @ weight, grad_w, grad_b, None


class MSEWithoutMean(torch.autograd.Function):
    @staticmethod
    def forward(x, t):
        return ((x - t) ** 2).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        grad = 2 * (x - t) * grad_output  # the 1/N of the mean is missing
        return grad, -grad


def test_wrong_sign_is_flagged_in_every_view():
    report = verify("tanh", ours=WrongSignTanh.apply)
    assert not report.passed
    assert failed(report) == {
        ("grad input", "reference"), ("grad input", "torch"), ("grad input", "numerical"),
        ("gradcheck", "gradcheck"), ("gradgradcheck", "gradgradcheck"),
    }
    assert "tanh  grad input     FAIL 1.0e+00" in str(report)  # opposite signs: relative error 1
    assert "GradcheckError: Jacobian mismatch" in str(report)


def test_missing_transpose_is_flagged_on_the_weight_gradient():
    # Non-square weight: the transposed gradient has the wrong shape, and autograd refuses it.
    report = verify("linear", ours=lambda x, w, b: BrokenLinear.apply(x, w, b, "transpose"))
    # What backward returned is still compared: only the weight gradient is wrong.
    assert {tensor for tensor, _ in failed(report)} == {"backward", "grad weight", "gradcheck", "gradgradcheck"}
    assert {("grad weight", "shape"), ("grad weight", "reference"), ("backward", "error")} <= failed(report)
    assert "FAIL: backward returned shape (4, 5) for 'weight' of shape (5, 4)" in str(report)
    assert "invalid gradient at index 1 - got [4, 5] but expected shape compatible with [5, 4]" in str(report)

    # Square weight: the shape fits, the numbers do not.
    square = NodeCase("linear", lambda r: {"input": r.standard_normal((3, 4)), "weight": r.standard_normal((4, 4)),
                                           "bias": r.standard_normal(4)})
    report = verify(square, ours=lambda x, w, b: BrokenLinear.apply(x, w, b, "transpose"))
    assert {view for tensor, view in failed(report) if tensor == "grad weight"} == {"reference", "torch", "numerical"}
    assert not {tensor for tensor, _ in failed(report)} & {"output", "grad input", "grad bias"}


def test_bias_gradient_not_summed_over_the_batch_is_flagged():
    # Autograd sums the (2, 3, 5) gradient down to the bias's (5,) by itself, so the values come out right:
    # only the shape that backward returned shows the mistake.
    report = verify("linear", ours=lambda x, w, b: BrokenLinear.apply(x, w, b, "bias not summed"))
    assert failed(report) == {("grad bias", "shape")}
    assert "FAIL: backward returned shape (2, 3, 5) for 'bias' of shape (5,)" in str(report)
    assert report.summary() == "1 of 14 checks FAILED: linear (leading dims): grad bias"


def test_missing_one_over_n_in_a_mean_is_flagged():
    report = verify("mse_loss", ours=lambda x, t: MSEWithoutMean.apply(x, t))
    assert ("output", "reference") not in failed(report)
    assert {("grad input", "reference"), ("grad target", "reference"), ("grad input", "numerical")} <= failed(report)
    assert 'style="background:#fdd"' in report._repr_html_()


def test_a_node_that_raises_is_reported_not_propagated():
    def unfinished(input):
        raise NotImplementedError("write the forward pass")

    report = verify("relu", ours=unfinished)
    assert not report.passed
    assert failed(report) == {("forward", "error")}
    assert "FAIL: raised NotImplementedError: write the forward pass" in str(report)


def test_verify_unknown_node():
    with pytest.raises(ValueError, match="verify: unknown node 'softplus'; known nodes: add, mul"):
        verify("softplus")


def test_registry_covers_every_node():
    assert set(checks.NODES) == {
        "add", "mul", "exp", "log", "relu", "sigmoid", "tanh", "linear", "softmax", "log_softmax", "cross_entropy",
        "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "embedding",
        "embedding_bag", "dropout",
    }


# --------------------------------------------------------------------------------------------------------------
# in5550 check
# --------------------------------------------------------------------------------------------------------------


def test_check_command_passes_and_prints_the_table(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    header = ["node", "tensor", "vs", "reference", "vs", "torch", "vs", "numerical", "result"]
    assert out.splitlines()[0].split() == header
    lines = out.splitlines()
    for case in checks.CASES:
        rows = [line.removeprefix(case.name).split() for line in lines if line.startswith(case.name + " ")]
        assert ["gradgradcheck", "ok"] in rows
    assert "FAIL" not in out
    assert out.strip().endswith(f"checks passed ({len(checks.CASES)} cases)")


def test_check_command_exits_1_when_a_node_is_broken(monkeypatch, capsys):
    monkeypatch.setattr(in5550.functional, "tanh", WrongSignTanh.apply)
    assert main(["check", "--node", "tanh", "--node", "relu"]) == 1
    out = capsys.readouterr().out
    assert "relu" in out and "FAIL" in out
    assert "checks FAILED: tanh: grad input, gradcheck, gradgradcheck" in out


def test_check_command_rejects_an_unknown_node(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--node", "softplus"])
    assert exit_info.value.code == 2
    assert "in5550 check: error: unknown node 'softplus' for --node" in capsys.readouterr().err
