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

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from in5550 import cases
from in5550 import verify as _verify
from in5550.compare import ATOL, RTOL, TINY, Comparison, as_numpy, compare
from in5550.numerical import NUMERICAL_ATOL, NUMERICAL_EPS, NUMERICAL_RTOL, numerical_gradient
from in5550.verify import GRADCHECK_ATOL, GRADCHECK_EPS, GRADCHECK_RTOL, VIEWS, Check, Report, verify_all

__all__ = [
    "ATOL", "RTOL", "TINY", "Comparison", "as_numpy", "compare",
    "NUMERICAL_ATOL", "NUMERICAL_EPS", "NUMERICAL_RTOL", "numerical_gradient",
    "GRADCHECK_ATOL", "GRADCHECK_EPS", "GRADCHECK_RTOL", "VIEWS", "Check", "Report", "verify", "verify_all",
    "NodeCase",
]


@dataclass(frozen=True)
class NodeCase:
    """Inputs of your own for :func:`verify`, drawn by ``inputs(rng)`` (a NumPy generator) as a dict of arrays by
    argument name: floating-point ones get gradients, integer ones are targets or ids; ``options`` are keyword
    arguments. Kept for notebooks written before :mod:`in5550.cases`; new code passes
    ``verify(node, samples=[cases.Sample({...})])``."""

    node: str
    inputs: Callable[[np.random.Generator], dict]
    options: dict = field(default_factory=dict)
    note: str = ""

    def sample(self, seed: int) -> cases.Sample:
        """The inputs as a :class:`in5550.cases.Sample` of float64 and int64 tensors, drawn from ``seed``."""
        drawn = self.inputs(np.random.default_rng(seed))
        return cases.Sample({name: torch.as_tensor(value) for name, value in drawn.items()}, dict(self.options),
                            self.note)


def verify(node: str | NodeCase, ours: Callable | None = None, *, seed: int = 0, samples=None) -> Report:
    """:func:`in5550.verify.verify` (see there); a :class:`NodeCase` may stand for ``node``: its node, checked on
    its own inputs."""
    if isinstance(node, NodeCase):
        return _verify.verify(node.node, ours, seed=seed, samples=[node.sample(seed)])
    return _verify.verify(node, ours, seed=seed, samples=samples)
