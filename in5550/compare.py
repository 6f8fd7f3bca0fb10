r"""Comparing two results: exact equality, ``allclose``, the largest absolute difference and the relative error.

The relative error of ``actual`` $a$ against ``expected`` $b$ is

$$\frac{\max_i |a_i - b_i|}{\max\big(\max_i (|a_i| + |b_i|),\ \mathrm{tiny}\big)},$$

which is scale-free: $10^{-16}$ means "equal up to rounding", $1$ means "unrelated" (a sign error gives exactly 1).

>>> import torch
>>> from in5550.compare import compare
>>> print(compare(torch.tensor([1.0, -2.0]), torch.tensor([-1.0, 2.0]), name="grad x"))
grad x: MISMATCH, max abs diff 4.000e+00, rel error 1.000e+00
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

# Two analytic gradients in float64 differ only by rounding: a relative error near 1e-16. These tolerances leave
# room for long sums while any real mistake (a sign, a transpose, a missing 1/N) is off by orders of magnitude.
RTOL = 1e-7
ATOL = 1e-9
# Denominator floor of the relative error: only two all-zero tensors get near it.
TINY = np.finfo(np.float64).tiny


def as_numpy(value) -> np.ndarray | None:
    """A NumPy copy of a tensor, array or number (floating point as float64); None stays None.

    >>> as_numpy(torch.tensor([1, 2])), as_numpy(torch.tensor([0.5], dtype=torch.float16))
    (array([1, 2]), array([0.5]))
    """
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.double() if value.is_floating_point() else value).numpy()
    array = np.asarray(value)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


@dataclass(frozen=True)
class Comparison:
    """How ``actual`` compares with ``expected``, for one tensor.

    ``passed`` is ``allclose``: same shape and $|a - b| \\le \\mathrm{atol} + \\mathrm{rtol}\\,|b|$ everywhere (NaN
    equal to NaN). ``note`` explains a failure that has no numbers (a shape mismatch, a missing tensor).
    """

    name: str
    exact: bool
    allclose: bool
    max_abs_diff: float
    rel_error: float
    note: str = ""
    short: str = ""  # the note in a word or two, for a table cell

    @property
    def passed(self) -> bool:
        return self.allclose

    def summary(self) -> str:
        """Short form for a table cell: ``exact``, the relative error, or the note."""
        if self.note:
            return self.short or self.note
        return "exact" if self.exact else f"{self.rel_error:.1e}"

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        if self.note:
            return f"{self.name}: {verdict}, {self.note}"
        if self.exact:
            return f"{self.name}: ok, exact"
        return f"{self.name}: {verdict}, max abs diff {self.max_abs_diff:.3e}, rel error {self.rel_error:.3e}"


def _compare_one(actual, expected, name: str, rtol: float, atol: float) -> Comparison:
    a, b = as_numpy(actual), as_numpy(expected)
    if a is None or b is None:
        both = a is None and b is None
        note = "" if both else f"{'actual' if a is None else 'expected'} is missing (None)"
        return Comparison(name, both, both, 0.0 if both else np.inf, 0.0 if both else np.inf, note, "missing")
    if a.shape != b.shape:
        return Comparison(name, False, False, np.inf, np.inf, f"shape {a.shape} != expected {b.shape}", "wrong shape")
    a, b = a.astype(np.float64), b.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # also equal infinities, which have no finite difference
    with np.errstate(invalid="ignore"):  # inf - inf where `same` already holds the answer
        diff = np.where(same, 0.0, np.abs(a - b))
    max_abs = float(diff.max(initial=0.0))
    magnitude = np.abs(a) + np.abs(b)
    scale = float(np.where(np.isfinite(magnitude), magnitude, 0.0).max(initial=0.0))
    rel = max_abs / max(scale, TINY) if np.isfinite(max_abs) else np.inf
    close = bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return Comparison(name, bool(same.all()), close, max_abs, rel)


def compare(actual, expected, *, name: str = "tensor", rtol: float = RTOL, atol: float = ATOL):
    r"""Compare ``actual`` with ``expected``: exact equality, ``allclose``, max absolute difference, relative error.

    Takes tensors, arrays or numbers (None counts as a missing tensor), and returns a :class:`Comparison`. Given
    two dicts (compared key by key) or two sequences (element by element), returns a list of them, one per tensor.

    The relative error is $\max_i |a_i - b_i| / \max(\max_i (|a_i| + |b_i|), \mathrm{tiny})$; positions where both
    are NaN, or the same infinity, count as equal.

    >>> compare(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), name="grad x").passed
    True
    """
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        names = list(expected) + [key for key in actual if key not in expected]
        return [_compare_one(actual.get(key), expected.get(key), str(key), rtol, atol) for key in names]
    sequences = (list, tuple)
    if isinstance(actual, sequences) and isinstance(expected, sequences):
        if len(actual) != len(expected):
            raise ValueError(f"compare: 'actual' has {len(actual)} tensors but 'expected' has {len(expected)}")
        return [_compare_one(a, b, f"{name}[{i}]", rtol, atol) for i, (a, b) in enumerate(zip(actual, expected))]
    return _compare_one(actual, expected, name, rtol, atol)
