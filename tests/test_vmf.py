"""The von Mises-Fisher loss node: log I_v against high-precision values, the loss against its closed form for
m = 3, gradcheck across dimensions and concentrations, the limit at a zero prediction, and bad arguments."""

import math

import mpmath
import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from in5550.vmf import VonMisesFisherLoss, log_bessel_iv, vmf_loss

# The tolerances of these tests, written here so that they do not move with the package's own settings.
# log I_v from ive or from the Debye expansion, relative to max(1, |log I_v|): both are near double precision.
LOG_BESSEL_RTOL = 1e-11
# float64 loss and gradient against another float64 formula (the closed form for m = 3, the CPU on CUDA): a few
# hundred units in the last place at most; a wrong term is off by far more.
RTOL = 1e-7
ATOL = 1e-9
# central differences with step 1e-6 in float64 (PyTorch's gradcheck defaults, which its own tests use)
GRADCHECK_EPS = 1e-6
GRADCHECK_ATOL = 1e-5
GRADCHECK_RTOL = 1e-3


@pytest.mark.parametrize("v", [0.0, 0.5, 1.0, 4.0, 24.0, 149.0, 499.0, 1999.0])
def test_log_bessel_matches_high_precision_values(v):
    x = np.array([1e-12, 1e-3, 0.5, 7.0, 60.0, 800.0, 2.5e4])  # ive underflows for large v and small x
    mpmath.mp.dps = 40
    expected = np.array([float(mpmath.log(mpmath.besseli(v, xi, maxterms=10**6))) for xi in x])
    error = np.abs(log_bessel_iv(v, x) - expected) / np.maximum(1.0, np.abs(expected))
    assert error.max() < LOG_BESSEL_RTOL


def unit_rows(n, m, generator):
    return torch.nn.functional.normalize(torch.randn(n, m, generator=generator, dtype=torch.float64), dim=-1)


@pytest.mark.parametrize("reduction", ["sum", "mean", "none", None])
def test_loss_and_gradient_equal_the_closed_form_for_three_dimensions(reduction):
    # For m = 3, I_{1/2}(k) = sqrt(2 / (pi k)) sinh k, so -log C_3(k) = log(4 pi sinh k / k): autograd can
    # differentiate that; for general m it cannot, and the node's hand-written backward must agree with it.
    g = torch.Generator().manual_seed(0)
    e_hat = (torch.randn(5, 3, generator=g, dtype=torch.float64) * 4).requires_grad_()
    target = unit_rows(5, 3, g)
    grad_output = torch.linspace(0.5, 2.0, 5, dtype=torch.float64) if reduction == "none" else None
    # no reduction given: the default, the mean; and the defaults of the weights, lambda_1 = 0 and lambda_2 = 1
    lambdas = (0.3, 0.7) if reduction is not None else (0.0, 1.0)
    options = {"reduction": reduction} if reduction is not None else {}
    if reduction is None:
        loss = vmf_loss(e_hat, target)
    else:
        loss = vmf_loss(e_hat, target, lambda_1=lambdas[0], lambda_2=lambdas[1], **options)
    (grad,) = torch.autograd.grad(loss, e_hat, grad_output)

    x = e_hat.detach().clone().requires_grad_()
    kappa = x.norm(dim=-1)
    rows = (math.log(4 * math.pi) + torch.log(torch.sinh(kappa) / kappa) + lambdas[0] * kappa
            - lambdas[1] * (x * target).sum(-1))
    closed = {"sum": rows.sum(), "none": rows}.get(reduction, rows.sum() / 5)
    (closed_grad,) = torch.autograd.grad(closed, x, grad_output)
    assert loss.shape == closed.shape
    torch.testing.assert_close(loss, closed.detach(), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(grad, closed_grad, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("m", [2, 3, 50, 300, 1000])
@pytest.mark.parametrize("norm", [0.05, 3.0, 400.0])
def test_gradcheck_across_dimensions_and_concentrations(m, norm):
    g = torch.Generator().manual_seed(m)
    e_hat = (unit_rows(3, m, g) * norm * torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64)).requires_grad_()
    target = unit_rows(3, m, g).requires_grad_()
    for reduction in ("mean", "sum", "none"):
        # fast mode checks random directional derivatives: one pass instead of one per input element
        assert gradcheck(lambda a, b: vmf_loss(a, b, 0.1, 0.5, reduction), (e_hat, target), eps=GRADCHECK_EPS,
                         atol=GRADCHECK_ATOL, rtol=GRADCHECK_RTOL, fast_mode=m > 3)


def test_large_dimension_and_concentration_stay_finite():
    g = torch.Generator().manual_seed(1)
    for m, norm in ((1000, 0.5), (1000, 5e4), (4096, 10.0)):
        e_hat = (unit_rows(2, m, g) * norm).float().requires_grad_()
        loss = vmf_loss(e_hat, unit_rows(2, m, g).float())
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(e_hat.grad).all()
        assert e_hat.grad.dtype == torch.float32


def test_zero_prediction_takes_the_limit():
    # As the norm goes to 0, rho(k) / k -> 1 / m: the gradient at e_hat = 0 is just -lambda_2 t (per row, mean).
    target = torch.tensor([[0.6, 0.8, 0.0, 0.0]], dtype=torch.float64).repeat(2, 1)
    e_hat = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    loss = vmf_loss(e_hat, target, lambda_2=0.5)
    loss.backward()
    # -log C_4(0) = 2 log(2 pi) + log(I_1(k) / k) -> 2 log(2 pi) - log 2
    torch.testing.assert_close(loss, torch.tensor(2 * math.log(2 * math.pi) - math.log(2), dtype=torch.float64),
                               rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(e_hat.grad, -0.5 * target / 2, rtol=RTOL, atol=ATOL)


def test_backward_is_not_differentiated_again():
    # The ratio of Bessel functions comes from SciPy, so backward is once_differentiable: asking for a graph of
    # the gradient (for a second derivative) gives a gradient without one.
    e_hat = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(vmf_loss(e_hat, torch.ones(2, 5, dtype=torch.float64) / 5**0.5), e_hat,
                                  create_graph=True)
    assert grad.grad_fn is None and not grad.requires_grad


def test_node_is_a_function_with_the_modern_api():
    assert VonMisesFisherLoss.forward.__code__.co_varnames[:5] == ("e_hat", "target", "lambda_1", "lambda_2",
                                                                  "reduction")
    e_hat = torch.randn(3, 4, requires_grad=True)
    assert type(vmf_loss(e_hat, torch.ones(3, 4) / 2).grad_fn).__name__ == "VonMisesFisherLossBackward"


@pytest.mark.parametrize("args, error, message", [
    ((torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3)), TypeError,
     "vmf_loss: argument 'input' must be a floating-point tensor, got dtype torch.int64"),
    ((torch.ones(2, 3), [1.0, 0.0, 0.0]), TypeError, "vmf_loss: argument 'target' must be a torch.Tensor, got list"),
    ((torch.ones(2, 1), torch.ones(2, 1)), ValueError, r"vmf_loss: argument 'input' must have shape \(\*, m\) with m >= 2, got \(2, 1\)"),
    ((torch.ones(2, 3), torch.ones(3, 3)), ValueError, r"vmf_loss: argument 'target' must have the shape of 'input' \(2, 3\), got \(3, 3\)"),
    ((torch.ones(2, 3), torch.ones(2, 3), -0.1), ValueError, r"vmf_loss: argument 'lambda_1' must be a finite number >= 0, got -0.1"),
    ((torch.ones(2, 3), torch.ones(2, 3), 0.0, float("nan")), ValueError, r"vmf_loss: argument 'lambda_2' must be a finite number >= 0, got nan"),
    ((torch.ones(2, 3), torch.ones(2, 3), 0.0, 1.0, "avg"), ValueError, r"vmf_loss: argument 'reduction' must be one of \('none', 'mean', 'sum'\), got 'avg'"),
])
def test_bad_arguments_are_named(args, error, message):
    with pytest.raises(error, match=message):
        vmf_loss(*args)


@pytest.mark.cuda
def test_cuda_gives_the_cpu_loss_and_gradient():
    g = torch.Generator().manual_seed(3)
    e_hat, target = 5 * unit_rows(4, 300, g), unit_rows(4, 300, g)
    results = []
    for device in ("cpu", "cuda"):
        x = e_hat.to(device).requires_grad_()
        loss = vmf_loss(x, target.to(device))
        loss.backward()
        assert loss.device.type == x.grad.device.type == device
        results.append((loss.detach().cpu(), x.grad.cpu()))
    torch.testing.assert_close(results[0], results[1], rtol=RTOL, atol=ATOL)
