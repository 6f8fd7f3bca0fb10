r"""The von Mises-Fisher loss (Kumar & Tsvetkov, 2018): a node whose gradient autograd could not derive for us.

A model with continuous outputs predicts a vector :math:`\hat{e} \in \mathbb{R}^m` instead of a softmax over the
vocabulary; the loss is the negative log-likelihood of the target word's unit-norm embedding :math:`e(w)` under a
von Mises-Fisher distribution with mean direction :math:`\hat{e} / \lVert\hat{e}\rVert` and concentration
:math:`\kappa = \lVert\hat{e}\rVert`:

.. math:: \mathrm{NLLvMF}(\hat{e}; e(w)) = -\log C_m(\lVert\hat{e}\rVert) - \hat{e}^\top e(w),
          \qquad C_m(\kappa) = \frac{\kappa^{m/2-1}}{(2\pi)^{m/2} I_{m/2-1}(\kappa)}

where :math:`I_v` is the modified Bessel function of the first kind of order :math:`v`. The normaliser needs
:math:`I_v` for an arbitrary order, which PyTorch does not have, so forward takes it from SciPy, and backward
must be written by hand. Using :math:`I_v'(\kappa) = I_{v+1}(\kappa) + (v/\kappa) I_v(\kappa)`,

.. math:: \frac{\partial}{\partial\kappa}\bigl(-\log C_m(\kappa)\bigr)
          = \frac{I_{m/2}(\kappa)}{I_{m/2-1}(\kappa)},

a ratio of two Bessel functions that lies in :math:`[0, 1)`.

The loss is often negative, and falls further as training goes on: it is the negative log of a *density* on the
unit sphere, not of a probability, and a density exceeds 1 wherever probability is packed into a small area. The
sphere in :math:`m` dimensions has area :math:`2\pi^{m/2}/\Gamma(m/2)` (about :math:`10^{-11}` for
:math:`m = 50`), so even the uniform distribution (:math:`\kappa \to 0`) has
:math:`-\log C_m(0) = \log(2\pi^{m/2}/\Gamma(m/2)) \approx -25.5` for :math:`m = 50` and :math:`-427.6` for
:math:`m = 300`. The paper's two regularisers are the options
``lambda_1`` (adds :math:`\lambda_1 \lVert\hat{e}\rVert`) and ``lambda_2`` (scales the cosine term to
:math:`-\lambda_2 \hat{e}^\top e(w)`); the defaults give the plain NLLvMF.

Both :math:`I_v(\kappa)` (which overflows for large :math:`\kappa`) and its underflow for large :math:`v` are
avoided by working with :math:`\log I_v`: from SciPy's exponentially scaled ``ive`` where that is representable,
otherwise from the uniform asymptotic (Debye) expansion for large orders, which is accurate to about
:math:`10^{-10}` wherever the fallback is used. The ratio is :math:`\exp(\log I_{v+1} - \log I_v)`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from in5550.functional import _floating, _reduction, _same_shape
from in5550.nodes import _reduce, _unreduce

# Below this, ive's result has lost precision to underflow, so log I_v comes from the Debye expansion instead.
IVE_SMALLEST = 1e-290
# A prediction of norm 0 has no direction: its loss and gradient are taken in the limit of a small norm, by
# computing the Bessel terms at a norm of at least this (where rho(kappa) / kappa is 1/m to many digits).
KAPPA_MIN = 1e-12

# Coefficients of the Debye polynomials u_1 .. u_4 in t, lowest power first (Abramowitz & Stegun 9.3.9).
_DEBYE = [
    [0, 3, 0, -5],
    [0, 0, 81, 0, -462, 0, 385],
    [0, 0, 0, 30375, 0, -369603, 0, 765765, 0, -425425],
    [0, 0, 0, 0, 4465125, 0, -94121676, 0, 349922430, 0, -446185740, 0, 185910725],
]
_DEBYE_DIVISORS = [24, 1152, 414720, 39813120]


def log_bessel_iv(v: float, x: np.ndarray) -> np.ndarray:
    r""":math:`\log I_v(x)` for an order :math:`v \ge 0` and :math:`x > 0` (NumPy float64), without overflow or
    underflow.

    Uses :math:`\log I_v(x) = \log \mathrm{ive}(v, x) + x`; where ``ive`` underflows (large :math:`v`, small
    :math:`x`), the Debye expansion :math:`I_v(vz) \approx e^{v\eta} / (\sqrt{2\pi v}(1+z^2)^{1/4})
    \sum_k u_k(t)/v^k` with :math:`t = 1/\sqrt{1+z^2}` and :math:`\eta = \sqrt{1+z^2} + \log(z / (1 + \sqrt{1+z^2}))`.

    >>> round(float(log_bessel_iv(100.0, np.array(1.0))), 2)  # I_100(1) is about 8.5e-189: ive(100, 1) underflows
    -433.05
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):
        scaled = special.ive(v, x)
    ok = scaled > IVE_SMALLEST
    result = np.log(np.where(ok, scaled, 1.0)) + x
    if not ok.all():
        result = np.where(ok, result, _log_iv_debye(v, np.where(ok, 1.0, x)))
    return result


def _log_iv_debye(v: float, x: np.ndarray) -> np.ndarray:
    z = x / v
    root = np.sqrt(1 + z * z)
    t = 1 / root
    eta = root + np.log(z / (1 + root))
    series = 1 + sum(np.polynomial.polynomial.polyval(t, c) / (d * v ** (k + 1))
                     for k, (c, d) in enumerate(zip(_DEBYE, _DEBYE_DIVISORS)))
    return v * eta - 0.5 * np.log(2 * math.pi * v) - 0.25 * np.log1p(z * z) + np.log(series)


def _kappa_terms(e_hat: torch.Tensor, with_ratio: bool):
    r"""For each row: :math:`\kappa = \lVert\hat{e}\rVert`, :math:`-\log C_m(\kappa)`, and (if asked) the ratio
    :math:`I_{m/2}(\kappa) / I_{m/2-1}(\kappa)`, all as tensors like ``e_hat``'s rows."""
    m = e_hat.shape[-1]
    v = m / 2 - 1
    kappa = torch.linalg.vector_norm(e_hat, dim=-1)
    if e_hat.device.type == "meta":  # shapes only (no data to hand to SciPy): the loss's shape and dtype
        return kappa, torch.empty_like(kappa), torch.empty_like(kappa) if with_ratio else None
    k = kappa.detach().double().clamp_min(KAPPA_MIN).cpu().numpy()
    log_iv = log_bessel_iv(v, k)
    neg_log_c = (m / 2) * math.log(2 * math.pi) + log_iv - v * np.log(k)
    ratio = np.exp(log_bessel_iv(v + 1, k) - log_iv) if with_ratio else None
    like = dict(dtype=e_hat.dtype, device=e_hat.device)
    return kappa, torch.as_tensor(neg_log_c, **like), None if ratio is None else torch.as_tensor(ratio, **like)


class VonMisesFisherLoss(Function):
    r"""von Mises-Fisher negative log-likelihood of unit-norm target embeddings :math:`t` given predictions
    :math:`\hat{e}`, with :math:`\kappa = \lVert\hat{e}\rVert`, :math:`v = m/2 - 1`:

    .. math:: \ell = -\log C_m(\kappa) + \lambda_1 \kappa - \lambda_2\, \hat{e}^\top t,
              \qquad -\log C_m(\kappa) = \tfrac{m}{2}\log 2\pi + \log I_v(\kappa) - v \log\kappa

    Local gradients, with :math:`\rho(\kappa) = I_{m/2}(\kappa) / I_{m/2-1}(\kappa)` (derived in the module's
    docstring):

    .. math:: \frac{\partial \ell}{\partial \hat{e}} = (\rho(\kappa) + \lambda_1)\,\frac{\hat{e}}{\kappa}
              - \lambda_2 t, \qquad \frac{\partial \ell}{\partial t} = -\lambda_2 \hat{e}

    Shapes: ``e_hat`` and ``t`` ``(*, m)`` with :math:`m \ge 2`; output scalar, or ``(*)`` for
    ``reduction="none"``. Saves: ``e_hat`` and ``t``; backward recomputes :math:`\rho` from ``e_hat``.

    :math:`\rho` comes from SciPy, outside autograd, so backward cannot itself be differentiated: it is marked
    ``once_differentiable`` (no double backward), and ``torch.func`` transforms are not supported. On the
    ``meta`` device (shapes without data) forward and backward give results of the right shapes and dtypes.
    """

    @staticmethod
    def forward(e_hat, target, lambda_1, lambda_2, reduction):
        kappa, neg_log_c, _ = _kappa_terms(e_hat, with_ratio=False)
        return _reduce(neg_log_c + lambda_1 * kappa - lambda_2 * (e_hat * target).sum(-1), reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        e_hat, target, ctx.lambda_1, ctx.lambda_2, ctx.reduction = inputs
        ctx.save_for_backward(e_hat, target)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        e_hat, target = ctx.saved_tensors
        # (*, 1) for "none", a scalar broadcast to every row otherwise
        grad_loss = _unreduce(grad_output, ctx.reduction, e_hat.shape[:-1].numel()).unsqueeze(-1)
        grad_e_hat = grad_target = None
        if ctx.needs_input_grad[0]:
            kappa, _, ratio = _kappa_terms(e_hat, with_ratio=True)
            direction = e_hat / kappa.clamp_min(KAPPA_MIN).unsqueeze(-1)
            grad_e_hat = grad_loss * ((ratio + ctx.lambda_1).unsqueeze(-1) * direction - ctx.lambda_2 * target)
        if ctx.needs_input_grad[1]:
            grad_target = grad_loss * (-ctx.lambda_2 * e_hat)
        return grad_e_hat, grad_target, None, None, None


def vmf_loss(input: torch.Tensor, target: torch.Tensor, lambda_1: float = 0.0, lambda_2: float = 1.0,
             reduction: str = "mean") -> torch.Tensor:
    r"""von Mises-Fisher loss of predicted vectors ``input`` ``(*, m)`` against unit-norm target embeddings
    ``target`` ``(*, m)`` (see :class:`VonMisesFisherLoss`). ``target`` is not normalised here: pass unit vectors.

    >>> e_hat = torch.tensor([[3.0, 4.0]], requires_grad=True)
    >>> loss = vmf_loss(e_hat, torch.tensor([[1.0, 0.0]]))
    >>> loss.backward()      # runs VonMisesFisherLoss.backward: rho(5) * e_hat / 5 - target
    """
    fn = "vmf_loss"
    input, target = _floating(fn, "input", input), _floating(fn, "target", target)
    if input.dim() == 0 or input.shape[-1] < 2:
        raise ValueError(f"{fn}: argument 'input' must have shape (*, m) with m >= 2, got {tuple(input.shape)}")
    _same_shape(fn, input, target)
    for name, value in (("lambda_1", lambda_1), ("lambda_2", lambda_2)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{fn}: argument '{name}' must be a finite number >= 0, got {value!r}")
    _reduction(fn, reduction)
    return VonMisesFisherLoss.apply(input, target, float(lambda_1), float(lambda_2), reduction)
