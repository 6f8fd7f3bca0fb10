r"""Gradients by central differences, in float64: the check that knows nothing about the node it checks.

$$\frac{\partial f}{\partial x_i} \approx \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}$$

is exact up to a truncation error of order $\epsilon^2$ plus a rounding error of order $10^{-16} / \epsilon$:
about $10^{-10}$ with :data:`NUMERICAL_EPS`. Compare an analytic gradient with it using :data:`NUMERICAL_RTOL`
and :data:`NUMERICAL_ATOL`, which leave room for that error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from in5550.compare import as_numpy

NUMERICAL_EPS = 1e-6
NUMERICAL_RTOL = 1e-5
NUMERICAL_ATOL = 1e-7


def numerical_gradient(f: Callable, inputs, eps: float = NUMERICAL_EPS, grad_output=None):
    r"""Gradient of ``f(*inputs)`` with respect to each input, by central differences in float64.

    For a scalar ``f``, element $i$ of the gradient of input $x$ is $\big(f(x + \epsilon e_i) - f(x - \epsilon e_i)\big)
    / 2\epsilon$. For a non-scalar ``f``, pass ``grad_output`` $\bar y$: this differentiates $\sum y \odot \bar y$,
    i.e. returns what backward returns for that upstream gradient.

    ``inputs`` is a tensor/array or a sequence of them, all floating point (pass integer arguments through a
    closure). Each is copied to float64 and handed to ``f`` as the same kind it came as (tensor or array).
    Returns one gradient per input, as a tuple of the same kinds. Costs two calls of ``f`` per input element.

    >>> numerical_gradient(lambda x: (x ** 3).sum(), torch.tensor([2.0]))   # 3 x^2 = 12
    tensor([12.0000], dtype=torch.float64)
    """
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    arrays = []
    for i, value in enumerate(inputs):
        array = as_numpy(value)
        if array is None or array.dtype.kind != "f":
            kind = "None" if array is None else f"dtype {array.dtype}"
            raise TypeError(f"numerical_gradient: input {i} must be floating point, got {kind} (pass it through f)")
        arrays.append(array.copy())
    weights = None if grad_output is None else as_numpy(grad_output)

    pairs = list(zip(arrays, inputs))

    def scalar() -> float:
        args = [torch.tensor(a, device=x.device) if isinstance(x, torch.Tensor) else a.copy() for a, x in pairs]
        with torch.no_grad():
            y = as_numpy(f(*args))
        if weights is None:
            if y.size != 1:
                raise ValueError(f"numerical_gradient: f returned shape {y.shape}; pass grad_output for non-scalar f")
            return float(y.sum())
        if y.shape != weights.shape:
            raise ValueError(f"numerical_gradient: 'grad_output' has shape {weights.shape}, f returned {y.shape}")
        return float((y * weights).sum())

    grads = []
    for array, value in zip(arrays, inputs):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            original = array[index]
            array[index] = original + eps
            plus = scalar()
            array[index] = original - eps
            minus = scalar()
            array[index] = original
            grad[index] = (plus - minus) / (2 * eps)
        grads.append(torch.tensor(grad, device=value.device) if isinstance(value, torch.Tensor) else grad)
    return grads[0] if single else tuple(grads)
