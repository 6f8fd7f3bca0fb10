r"""The checking tools in one import: compare results, differentiate numerically, verify a node four ways.

Each tool lives in a module of its own; this module gathers them for notebooks and labs:

- :func:`compare` and :class:`Comparison` (:mod:`in5550.compare`): exact equality, ``allclose`` with
  :data:`RTOL` and :data:`ATOL`, the largest absolute difference and the scale-free relative error;
- :func:`numerical_gradient` (:mod:`in5550.numerical`): gradients by central differences in float64;
- :func:`verify`, :func:`verify_all`, :class:`Report` and :class:`Check` (:mod:`in5550.verify`): a node's
  output and gradients against the NumPy reference, PyTorch autograd and central differences, plus
  ``gradcheck`` and ``gradgradcheck``, on every sample of :mod:`in5550.cases` for it (``in5550 check``).

>>> from in5550.checks import compare, numerical_gradient
>>> import torch
>>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
>>> compare(numerical_gradient(lambda x: (x * x).sum(), x), 2 * x, rtol=1e-6).passed
True
"""

from __future__ import annotations

from in5550.compare import ATOL, RTOL, TINY, Comparison, as_numpy, compare
from in5550.numerical import NUMERICAL_ATOL, NUMERICAL_EPS, NUMERICAL_RTOL, numerical_gradient
from in5550.verify import GRADCHECK_ATOL, GRADCHECK_EPS, GRADCHECK_RTOL, VIEWS, Check, Report, verify, verify_all

__all__ = [
    "ATOL", "RTOL", "TINY", "Comparison", "as_numpy", "compare",
    "NUMERICAL_ATOL", "NUMERICAL_EPS", "NUMERICAL_RTOL", "numerical_gradient",
    "GRADCHECK_ATOL", "GRADCHECK_EPS", "GRADCHECK_RTOL", "VIEWS", "Check", "Report", "verify", "verify_all",
]
