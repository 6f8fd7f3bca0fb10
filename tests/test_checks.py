"""The checking tools: compare, numerical_gradient, verify on correct and deliberately broken nodes, in5550 check.

Every input of ``verify`` comes from the node registry (:mod:`in5550.cases`); a test that needs an input of a
particular kind (a non-square weight) picks it from the registry's samples."""

import inspect

import numpy as np
import pytest
import torch

import in5550.functional
import in5550.vmf
from in5550 import cases, checks, verify as verify_module
from in5550.cli import main
from in5550.compare import compare
from in5550.numerical import numerical_gradient
from in5550.verify import Check, Report, verify
from in5550.vmf import VonMisesFisherLoss, log_bessel_iv

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


def registry_sample(name, note, where=lambda sample: True):
    """The first sample of ``name`` with this note, over seeds 0, 1, ..., for which ``where`` holds."""
    return next(sample for seed in range(50) for sample in cases.samples(name, seed=seed)
                if sample.note == note and where(sample))


def test_verify_passes_a_correct_node_and_shows_every_tensor():
    report = verify("linear")
    assert report.passed, str(report)
    text = str(report)
    for sample in cases.samples("linear"):
        label = f"linear ({sample.note})"
        rows = [line.removeprefix(label).strip().split("  ")[0] for line in text.splitlines()
                if line.startswith(label + " ")]
        bias = ["grad bias"] if "bias" in sample.inputs else []
        assert rows == ["output", "grad input", "grad weight", *bias, "gradcheck", "gradgradcheck"], label
    # 2 output checks, 3 per gradient, gradcheck and gradgradcheck: 13 with a bias, 10 without ("no bias")
    assert text.endswith("all 62 checks passed (5 cases)")
    assert "<table>" in report._repr_html_() and "#fdd" not in report._repr_html_()


def test_verify_draws_its_inputs_from_the_registry_for_the_seed():
    seen = []

    def recording_tanh(input):
        seen.append(input.detach().clone())
        return in5550.functional.tanh(input)

    for seed in (0, 5):
        seen.clear()
        report = verify("tanh", ours=recording_tanh, seed=seed)
        assert report.passed
        samples = cases.samples("tanh", seed=seed, dtype=torch.float64)
        assert list(dict.fromkeys(check.node for check in report.checks)) == [f"tanh ({s.note})" for s in samples]
        for sample in samples:  # each sample's own inputs were among those the node was called on
            assert any(x.shape == sample.inputs["input"].shape and torch.equal(x, sample.inputs["input"]) for x in seen)


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


class TransposedLinear(torch.autograd.Function):
    """Linear whose weight gradient is transposed: ``x^T g`` where ``g^T x`` is right."""

    @staticmethod
    def forward(x, weight, bias=None):
        out = x @ weight.T
        return out if bias is None else out + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        rows_g, rows_x = grad_output.reshape(-1, weight.shape[0]), x.reshape(-1, weight.shape[1])
        return grad_output @ weight, rows_x.T @ rows_g, rows_g.sum(0) if ctx.needs_input_grad[2] else None


class BiasNotSummedLinear(TransposedLinear):
    """Linear whose bias gradient is the upstream gradient itself, not summed over the batch."""

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        rows_g, rows_x = grad_output.reshape(-1, weight.shape[0]), x.reshape(-1, weight.shape[1])
        return grad_output @ weight, rows_g.T @ rows_x, grad_output


class OldStyleBiasNotSummedLinear(torch.autograd.Function):
    """The same mistake in the older style: ``forward(ctx, ...)``, no ``setup_context``."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        rows_g, rows_x = grad_output.reshape(-1, weight.shape[0]), x.reshape(-1, weight.shape[1])
        return grad_output @ weight, rows_g.T @ rows_x, grad_output


class MSEWithoutMean(torch.autograd.Function):
    @staticmethod
    def forward(x, t, reduction="mean"):
        return ((x - t) ** 2).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:2])

    @staticmethod
    def backward(ctx, grad_output):
        x, t = ctx.saved_tensors
        grad = 2 * (x - t) * grad_output  # the 1/N of the mean is missing
        return grad, -grad, None


def test_wrong_sign_is_flagged_in_every_view():
    report = verify("tanh", ours=WrongSignTanh.apply)
    assert not report.passed
    assert failed(report) == {
        ("grad input", "reference"), ("grad input", "torch"), ("grad input", "numerical"),
        ("gradcheck", "gradcheck"), ("gradgradcheck", "gradgradcheck"),
    }
    assert "grad input     FAIL 1.0e+00" in str(report)  # opposite signs: relative error 1
    assert "GradcheckError: Jacobian mismatch" in str(report)
    assert not {check.node for check in report.failures} ^ {f"tanh ({s.note})" for s in cases.samples("tanh")}


def test_missing_transpose_is_flagged_on_the_weight_gradient():
    # Non-square weight: the transposed gradient has the wrong shape, and autograd refuses it.
    sample = registry_sample("linear", "leading dims", lambda s: s.inputs["weight"].shape[0] != s.inputs["weight"].shape[1])
    out_features, in_features = sample.inputs["weight"].shape
    report = verify("linear", ours=TransposedLinear.apply, samples=[sample])
    # What backward returned is still compared: only the weight gradient is wrong.
    assert {tensor for tensor, _ in failed(report)} == {"backward", "grad weight", "gradcheck", "gradgradcheck"}
    assert {("grad weight", "shape"), ("grad weight", "reference"), ("backward", "error")} <= failed(report)
    assert (f"FAIL: backward returned shape ({in_features}, {out_features}) for 'weight' of shape "
            f"({out_features}, {in_features})") in str(report)
    assert (f"invalid gradient at index 1 - got [{in_features}, {out_features}] but expected shape compatible with "
            f"[{out_features}, {in_features}]") in str(report)

    # Square weight: the shape fits, the numbers do not.
    square = registry_sample("linear", "2-D", lambda s: s.inputs["weight"].shape[0] == s.inputs["weight"].shape[1])
    report = verify("linear", ours=TransposedLinear.apply, samples=[square])
    assert {view for tensor, view in failed(report) if tensor == "grad weight"} == {"reference", "torch", "numerical"}
    assert not {tensor for tensor, _ in failed(report)} & {"output", "grad input", "grad bias"}


@pytest.mark.parametrize("node", [BiasNotSummedLinear, OldStyleBiasNotSummedLinear])
def test_bias_gradient_not_summed_over_the_batch_is_flagged(node):
    # Autograd sums the (*, out) gradient down to the bias's (out,) by itself, so the values come out right:
    # only the shape that backward returned shows the mistake.
    sample = registry_sample("linear", "leading dims")
    report = verify("linear", ours=node.apply, samples=[sample])
    assert failed(report) == {("grad bias", "shape")}
    shape, (out_features, _) = tuple(sample.inputs["input"].shape[:-1]), sample.inputs["weight"].shape
    assert (f"FAIL: backward returned shape {shape + (out_features,)} for 'bias' of shape ({out_features},)"
            in str(report))
    assert report.summary() == "1 of 14 checks FAILED: linear (leading dims): grad bias"


def test_a_wrapper_hides_the_returned_shape_but_not_the_numbers():
    # Behind a wrapper the node's class is out of sight: the shape check cannot run, the four views still do.
    wrapped = verify("linear", ours=lambda x, w, b: BiasNotSummedLinear.apply(x, w, b),
                     samples=[registry_sample("linear", "leading dims")])
    assert wrapped.passed and not any(check.view == "shape" for check in wrapped.checks)
    sample = registry_sample("linear", "2-D", lambda s: s.inputs["weight"].shape[0] != s.inputs["weight"].shape[1])
    wrapped = verify("linear", ours=lambda x, w, b: TransposedLinear.apply(x, w, b), samples=[sample])
    assert {("backward", "error"), ("gradcheck", "gradcheck")} <= failed(wrapped)


def test_returned_gradients_are_taken_by_calling_the_node_as_the_engine_does():
    sample = registry_sample("linear", "leading dims")
    grad_output = torch.ones(sample.inputs["input"].shape[:-1] + (sample.inputs["weight"].shape[0],),
                             dtype=torch.float64)
    returned = verify_module.returned_gradients(BiasNotSummedLinear.apply, sample, grad_output, None)
    assert set(returned) == {"input", "weight", "bias"}
    assert returned["bias"].shape == grad_output.shape
    torch.testing.assert_close(returned["input"], grad_output @ sample.inputs["weight"], rtol=0, atol=0)
    assert verify_module.returned_gradients(lambda *a: None, sample, grad_output, None) == {}
    # no autograd internals: the node's own static methods and the engine's Context, nothing private
    source = inspect.getsource(verify_module)
    for private in ("_forward_cls", "_input_metadata", "torch._C", "torch._functorch", "next_functions"):
        assert private not in source


def test_missing_one_over_n_in_a_mean_is_flagged():
    mean = registry_sample("mse_loss", "mean")
    report = verify("mse_loss", ours=MSEWithoutMean.apply, samples=[mean])
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
    first = cases.samples("relu")[0]
    not_a_tensor = verify("relu", ours=lambda x: x.detach().numpy(), samples=[first])
    assert [str(check) for check in not_a_tensor.checks] == [
        f"relu ({first.note}): forward error: returned a ndarray, not a tensor"]


def test_verify_unknown_node():
    with pytest.raises(ValueError, match="verify: unknown node 'softplus'; known nodes: add, mul"):
        verify("softplus")


def test_the_public_face_keeps_its_names_and_checks_a_notebooks_own_sample():
    for name in ("compare", "Comparison", "numerical_gradient", "verify", "verify_all", "Report", "Check", "RTOL",
                 "ATOL", "NUMERICAL_RTOL", "GRADCHECK_ATOL"):
        assert hasattr(checks, name), name
    # A notebook's own inputs: one sample of its own, checked like the registry's.
    generator = torch.Generator().manual_seed(0)
    mine = cases.Sample({"input": 3 * torch.randn(5, 4, generator=generator, dtype=torch.float64),
                         "target": torch.tensor([0, 3, 1, 1, 2])}, note="5 examples, 4 classes")
    report = checks.verify("cross_entropy", samples=[mine])
    assert report.summary() == "all 7 checks passed (1 cases)"
    assert checks.verify("cross_entropy", ours=WrongSignTanh.apply, samples=[mine]).failures  # tanh's node: wrong


# --------------------------------------------------------------------------------------------------------------
# The von Mises-Fisher loss: a node outside in5550.functional, with no PyTorch counterpart, differentiable once
# --------------------------------------------------------------------------------------------------------------


class VMFDirectionNotNormalised(VonMisesFisherLoss):
    """The vMF loss whose backward forgets to divide by the norm: ``(rho + lambda_1) e_hat`` where
    ``(rho + lambda_1) e_hat / ||e_hat||`` is right."""

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        e_hat, target = ctx.saved_tensors
        grad_loss = grad_output if ctx.reduction != "mean" else grad_output / e_hat.shape[:-1].numel()
        kappa = e_hat.norm(dim=-1).numpy()
        v = e_hat.shape[-1] / 2 - 1
        rho = torch.as_tensor(np.exp(log_bessel_iv(v + 1, kappa) - log_bessel_iv(v, kappa)))
        grad_e_hat = grad_loss.unsqueeze(-1) * ((rho + ctx.lambda_1).unsqueeze(-1) * e_hat - ctx.lambda_2 * target)
        return grad_e_hat, grad_loss.unsqueeze(-1) * -ctx.lambda_2 * e_hat, None, None, None


def broken_vmf_loss(input, target, lambda_1=0.0, lambda_2=1.0, reduction="mean"):
    """:func:`in5550.vmf.vmf_loss` with the broken backward (the node's forward has no defaults to bind)."""
    return VMFDirectionNotNormalised.apply(input, target, float(lambda_1), float(lambda_2), reduction)


def test_vmf_is_verified_against_reference_torch_ops_and_differences_and_gradgradcheck_is_skipped():
    samples = cases.samples("vmf_loss")
    report = verify("vmf_loss")
    assert report.passed, str(report)
    views = {(check.tensor, check.view) for check in report.checks if not check.skipped}
    assert {("grad input", view) for view in ("reference", "torch", "numerical")} <= views
    assert {("grad target", view) for view in ("reference", "torch", "numerical")} <= views
    assert ("gradcheck", "gradcheck") in views
    # gradgradcheck is not run, and not counted as passed: one skipped per sample, shown as such
    skipped = report.skipped
    assert [(c.tensor, c.passed) for c in skipped] == [("gradgradcheck", False)] * len(samples)
    text = str(report)
    for sample in samples:
        row = next(line for line in text.splitlines() if line.startswith(f"vmf_loss ({sample.note}) ")
                   and "gradgradcheck" in line)
        assert row.split()[-3:] == ["skipped:", "once", "differentiable"]
    # 2 output checks, 3 per gradient (input and target) and gradcheck: 9 per sample
    assert report.summary() == f"all {9 * len(samples)} checks passed, {len(samples)} skipped ({len(samples)} cases)"


def test_vmf_backward_without_the_division_by_the_norm_is_flagged():
    sample = next(s for s in cases.samples("vmf_loss") if s.note == "m 300, large norm, none")
    report = verify("vmf_loss", ours=broken_vmf_loss, samples=[sample])
    assert failed(report) == {("grad input", "reference"), ("grad input", "torch"), ("grad input", "numerical"),
                              ("gradcheck", "gradcheck")}
    assert len(report.skipped) == 1


def test_check_command_fails_on_a_broken_vmf_backward(monkeypatch, capsys):
    monkeypatch.setattr(in5550.vmf, "vmf_loss", broken_vmf_loss)  # the registry looks the node up where it lives
    assert main(["check", "--node", "vmf_loss"]) == 1
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    samples = cases.samples("vmf_loss")
    # every sample: grad input in all three views, and gradcheck
    assert summary.startswith(f"{4 * len(samples)} of {9 * len(samples)} checks FAILED: vmf_loss (m 3): grad input, "
                              "gradcheck; ")


def test_a_skipped_check_neither_passes_nor_fails():
    ran = Check("node (case)", "gradcheck", "gradcheck", True, "passed")
    skipped = Check("node (case)", "gradgradcheck", "gradgradcheck", False, "once differentiable", skipped=True)
    report = Report([ran, skipped])
    assert report.passed and report.failures == [] and report.skipped == [skipped]
    assert report.summary() == "all 1 checks passed, 1 skipped (1 cases)"
    assert "skipped: once differentiable" in str(report) and "#fdd" not in report._repr_html_()
    failing = Report([Check("node (case)", "gradcheck", "gradcheck", False, "GradcheckError: x"), skipped])
    assert failing.summary() == "1 of 1 checks FAILED: node (case): gradcheck"


def test_check_covers_every_node_of_the_functional_api():
    public = {name for name, value in vars(in5550.functional).items()
              if inspect.isfunction(value) and not name.startswith("_") and value.__module__ == "in5550.functional"}
    assert public <= set(cases.REGISTRY)


# --------------------------------------------------------------------------------------------------------------
# in5550 check
# --------------------------------------------------------------------------------------------------------------


def test_check_command_passes_and_prints_the_table(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    header = ["node", "tensor", "vs", "reference", "vs", "torch", "vs", "numerical", "result"]
    assert out.splitlines()[0].split() == header
    lines = out.splitlines()
    labels = {f"{name} ({sample.note})": cases.REGISTRY[name].twice_differentiable
              for name in cases.REGISTRY for sample in cases.samples(name)}
    for label, twice in labels.items():
        rows = [line.removeprefix(label).split() for line in lines if line.startswith(label + " ")]
        # a node differentiable only once shows its second-derivative check as skipped, not as passed
        assert (["gradgradcheck", "ok"] if twice else ["gradgradcheck", "skipped:", "once", "differentiable"]) in rows
    assert "FAIL" not in out
    once = sum(not twice for twice in labels.values())
    assert out.strip().endswith(f"checks passed{f', {once} skipped' if once else ''} ({len(labels)} cases)")


def test_check_command_exits_1_when_a_node_is_broken(monkeypatch, capsys):
    monkeypatch.setattr(in5550.functional, "tanh", WrongSignTanh.apply)
    assert main(["check", "--node", "tanh", "--node", "relu"]) == 1
    out = capsys.readouterr().out
    assert "relu" in out and "FAIL" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("20 of 56 checks FAILED: tanh (2-D): grad input, gradcheck, gradgradcheck; ")
    assert "relu (" not in summary


@pytest.mark.parametrize("argv, message", [
    (["check", "--node", "softplus"], "in5550 check: error: unknown node 'softplus' for --node"),
    (["check", "--seed", str(2**70)], "in5550 check: error: --seed must be in [0, 2**63)"),
    (["check", "--seed", "-1"], "in5550 check: error: --seed must be in [0, 2**63)"),
])
def test_check_command_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1
