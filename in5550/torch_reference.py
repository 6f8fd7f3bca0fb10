r"""Nodes that PyTorch has no function for, written with torch ops so that autograd derives their gradients.

They are the PyTorch view of ``in5550 check`` for those nodes (:attr:`in5550.cases.NodeInfo.torch_reference`),
where the others have ``torch.nn.functional``: the same loss, computed another way, differentiated by autograd
instead of by a hand-written backward. Nothing here uses SciPy or :mod:`in5550.vmf`.

The von Mises-Fisher loss needs :math:`\log I_v` for an arbitrary order :math:`v`, which ``torch.special`` lacks
(it has :math:`I_0` and :math:`I_1` only). Its power series, summed in log space with ``torch.logsumexp``, is
made of differentiable torch ops:

.. math:: I_v(x) = \sum_{k \ge 0} \frac{(x/2)^{2k+v}}{k!\,\Gamma(k+v+1)}, \qquad
          \log I_v(x) = \operatorname{logsumexp}_k \big[(2k+v)\log\tfrac{x}{2} - \log\Gamma(k+1)
          - \log\Gamma(k+v+1)\big]

so autograd differentiates :math:`\log I_v` term by term, a derivation of
:math:`\frac{d}{d\kappa}(-\log C_m) = I_{m/2} / I_{m/2-1}` independent of the node's.

>>> import math, torch
>>> x = torch.tensor([1.0, 800.0], dtype=torch.float64)   # I_{1/2}(x) = sqrt(2 / (pi x)) sinh x
>>> closed = 0.5 * torch.log(2 / (math.pi * x)) + x + torch.log1p(-torch.exp(-2 * x)) - math.log(2)
>>> bool(torch.allclose(log_bessel_i(0.5, x), closed, rtol=1e-13))
True
"""

from __future__ import annotations

import math

import torch

# Terms of the series beyond its largest one: they peak before k = x/2 and fall below 1e-17 of the peak within
# about 6.3 sqrt(x) further terms, which x/2 + SERIES_EXTRA_TERMS always covers.
SERIES_EXTRA_TERMS = 64


def log_bessel_i(v: float, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log I_v(x)` for an order :math:`v \ge 0` and :math:`x > 0` of any shape, from the power series in log
    space (see the module's docstring); differentiable by autograd. Costs ``max(x) + 64`` terms per element."""
    return v * torch.log(x / 2) + _log_series(v, x)


def _log_series(v: float, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\big(I_v(x) / (x/2)^v\big) = \operatorname{logsumexp}_k \big[2k \log\tfrac{x}{2} - \log k!
    - \log\Gamma(k+v+1)\big]`: the series without its common factor, whose derivative has no cancellation."""
    terms = int(x.detach().max()) + SERIES_EXTRA_TERMS if x.numel() else 1
    k = torch.arange(terms, dtype=x.dtype, device=x.device)
    log_terms = 2 * k * torch.log(x / 2).unsqueeze(-1) - torch.lgamma(k + 1) - torch.lgamma(k + v + 1)
    return torch.logsumexp(log_terms, dim=-1)


def vmf_loss(input: torch.Tensor, target: torch.Tensor, lambda_1: float = 0.0, lambda_2: float = 1.0,
             reduction: str = "mean") -> torch.Tensor:
    r"""von Mises-Fisher loss of predictions ``input`` :math:`\hat e` ``(*, m)`` against unit targets ``target``
    ``(*, m)``, with :math:`\kappa = \lVert\hat e\rVert > 0` and :math:`v = m/2 - 1`:

    .. math:: \ell = \tfrac{m}{2}\log 2\pi + \log I_v(\kappa) - v \log\kappa + \lambda_1 \kappa
              - \lambda_2\, \hat e^\top t

    where :math:`\log I_v(\kappa) - v \log\kappa` is taken as :math:`\log(I_v(\kappa) / (\kappa/2)^v) - v \log 2`,
    which autograd differentiates without cancelling two large terms (:math:`v/\kappa` for a large order and a
    small norm).

    The same signature as :func:`in5550.vmf.vmf_loss`; output scalar, or ``(*)`` for ``reduction="none"``.
    Written with torch ops only, so ``loss.backward()`` is autograd's own derivation (no zero rows: the norm's
    gradient is undefined there)."""
    m = input.shape[-1]
    v = m / 2 - 1
    kappa = torch.linalg.vector_norm(input, dim=-1)
    loss = ((m / 2) * math.log(2 * math.pi) - v * math.log(2) + _log_series(v, kappa) + lambda_1 * kappa
            - lambda_2 * (input * target).sum(-1))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()
