r"""Every node's sample inputs, written once, in the manner of PyTorch's OpInfo ``op_db``.

Each entry of :data:`REGISTRY` names a node of :mod:`in5550.functional` (or of another module: the von Mises-Fisher
loss of :mod:`in5550.vmf`) and says how to draw the inputs it is verified, tested and graded on: one
:class:`Sample` per *input class* the node promises to handle (each ``dim``, a batch of one, leading dimensions,
large logits, ignored targets, empty bags, repeated ids, ...). The checks
(``in5550 check``), the tests, the autograder's visible and hidden cases and the labs' self-checks all draw from
here, so a new edge case written once is verified, tested and graded everywhere.

Sizes and values are drawn from a seed, so the same ``(name, seed, dtype)`` always gives the same samples, and
another seed gives other shapes and values (the autograder draws its hidden cases from a secret seed).

Example::

    >>> import torch
    >>> from in5550 import cases
    >>> for sample in cases.samples("softmax", seed=0)[:2]:
    ...     print(sample.note, sample.options, tuple(sample.inputs["input"].shape))
    2-D, dim 1 {'dim': 1} (5, 6)
    2-D, dim 0 {'dim': 0} (5, 6)
    >>> sample = cases.samples("softmax")[0]
    >>> probabilities = torch.nn.functional.softmax(*sample.args(), **sample.options)
    >>> probabilities.shape, bool(torch.allclose(probabilities.sum(1), torch.ones(5, dtype=torch.float64)))
    (torch.Size([5, 6]), True)
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from in5550 import torch_reference

IGNORE = -100  # torch.nn.functional's default ignore_index


@dataclass(frozen=True)
class Sample:
    """One call of a node: ``inputs`` are its positional arguments by name and in order (floating-point tensors
    get gradients; integer tensors are targets or token ids), ``options`` its keyword arguments (the same for
    :mod:`in5550.functional` and :mod:`torch.nn.functional`), ``note`` the input class it covers."""

    inputs: dict
    options: dict = field(default_factory=dict)
    note: str = ""

    def args(self) -> tuple:
        """The positional arguments in order: ``F.<node>(*sample.args(), **sample.options)``."""
        return tuple(self.inputs.values())


class Draw:
    """Random sizes and values for one node's samples, from one generator, in one floating-point dtype."""

    def __init__(self, generator: torch.Generator, dtype: torch.dtype):
        self.generator, self.dtype = generator, dtype

    def size(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        return int(torch.randint(low, high + 1, (), generator=self.generator))

    def normal(self, *shape: int, scale: float = 1.0) -> torch.Tensor:
        return scale * torch.randn(shape, generator=self.generator, dtype=torch.float64).to(self.dtype)

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        values = low + (high - low) * torch.rand(shape, generator=self.generator, dtype=torch.float64)
        return values.to(self.dtype)

    def away_from_zero(self, *shape: int) -> torch.Tensor:
        """Values in +/-[0.2, 1.2]: a kink at 0 (relu) or a zero input (dropout's mask read-off) stays out of
        reach of finite differences."""
        sign = torch.randint(0, 2, shape, generator=self.generator) * 2 - 1
        return (sign * self.uniform(0.2, 1.2, *shape).double()).to(self.dtype)

    def ids(self, high: int, *shape: int) -> torch.Tensor:
        """Token ids or class indices in ``[0, high)``, as int64."""
        return torch.randint(high, shape, generator=self.generator)

    def repeating_ids(self, vocab: int, length: int) -> torch.Tensor:
        """``length`` ids in ``[0, vocab)`` in which at least one id occurs twice."""
        ids = self.ids(vocab, length)
        ids[-1] = ids[0]
        return ids

    def bounds(self, length: int, bags: int, empty: bool = False) -> torch.Tensor:
        """Offsets of ``bags`` bags over ``length`` tokens, starting at 0; with ``empty``, one bag is empty."""
        cuts = torch.randperm(length - 1, generator=self.generator)[: bags - 1].add(1).sort().values
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), cuts])
        if empty:
            offsets[1] = offsets[2] if bags > 2 else length
        return offsets


@dataclass(frozen=True)
class NodeInfo:
    """How to draw one node's samples, and what its checks need to know besides.

    ``make(draw)`` returns the node's samples. A ``random`` node (dropout) is run with the same torch seed each
    time, so that it draws the same mask; ``reference_args(inputs, output)`` gives a hand-derived reference its
    positional arguments when they differ (dropout's reference takes the mask, read off the output).
    ``held(sample)`` gives boolean masks, by input name, of entries whose gradient is zero by convention although
    the output depends on them (the ``padding_idx`` row of ``embedding``): finite differences hold them fixed.

    Most nodes live in :mod:`in5550.functional` and have a PyTorch counterpart of the same name; a node that lives
    elsewhere names its ``module``, and one that PyTorch lacks brings ``torch_reference``, the same function
    written with torch ops for autograd to differentiate (:mod:`in5550.torch_reference`). A node whose backward
    cannot itself be differentiated (``once_differentiable``) has ``twice_differentiable=False``: its
    second-derivative check is skipped, and reported as skipped. ``numerical_eps`` is the step of its central
    differences where the package's default (:data:`in5550.numerical.NUMERICAL_EPS`) would drown the derivative
    in the forward's own noise (a loss of magnitude 10^3 computed from library Bessel functions).
    """

    name: str
    make: Callable[[Draw], list[Sample]]
    random: bool = False
    reference_args: Callable[[dict, object], tuple] | None = None
    held: Callable[[Sample], dict] | None = None
    module: str = "in5550.functional"
    torch_reference: Callable | None = None
    twice_differentiable: bool = True
    numerical_eps: float | None = None

    def function(self) -> Callable:
        """The node itself, ``<module>.<name>``, looked up at each call (so a replaced node is the one found)."""
        return getattr(importlib.import_module(self.module), self.name)

    def torch_function(self) -> Callable:
        """The PyTorch view: ``torch_reference`` where given, else ``torch.nn.functional.<name>``, or
        ``torch.<name>`` for add/mul/exp/log."""
        if self.torch_reference is not None:
            return self.torch_reference
        return getattr(torch.nn.functional, self.name, None) or getattr(torch, self.name)


def _seed(name: str, seed: int) -> int:
    """A seed of its own for each node (``zlib.crc32`` is the same in every process, unlike ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (1 << 63)


def samples(name: str, seed: int = 0, dtype: torch.dtype = torch.float64) -> list[Sample]:
    """The samples of node ``name`` drawn from ``seed``, floating-point inputs in ``dtype``."""
    if name not in REGISTRY:
        raise KeyError(f"cases.samples: no node {name!r} in the registry; nodes: {', '.join(REGISTRY)}")
    return REGISTRY[name].make(Draw(torch.Generator().manual_seed(_seed(name, seed)), dtype))


# --------------------------------------------------------------------------------------------------------------
# The samples, node by node. Sizes stay small: every sample is also checked by finite differences.


def _pointwise(values: Callable[[Draw, tuple], torch.Tensor]) -> Callable[[Draw], list[Sample]]:
    """Samples of an element-wise node: 2-D, a batch of one, 3-D and a vector, values from ``values``."""

    def make(d: Draw) -> list[Sample]:
        rows, cols = d.size(2, 5), d.size(2, 6)
        shapes = {"2-D": (rows, cols), "batch 1": (1, cols), "3-D": (d.size(2, 3), rows, cols), "1-D": (cols,)}
        return [Sample({"input": values(d, shape)}, note=note) for note, shape in shapes.items()]

    return make


def _binary(d: Draw) -> list[Sample]:
    a, b, c = d.size(2, 3), d.size(2, 4), d.size(2, 5)
    return [
        Sample({"input": d.normal(b, c), "other": d.normal(b, c)}, note="same shape"),
        Sample({"input": d.normal(a, b, c), "other": d.normal(b, 1)}, note="broadcasting"),
        Sample({"input": d.normal(b, 1), "other": d.normal(a, 1, c)}, note="broadcasting both"),
        Sample({"input": d.normal(b, c), "other": 0.5}, note="Python number"),
        Sample({"input": d.normal(), "other": d.normal(b, c)}, note="0-D and 2-D"),
    ]


def _linear(d: Draw) -> list[Sample]:
    batch, fan_in, fan_out = d.size(2, 6), d.size(2, 6), d.size(2, 5)

    def inputs(*leading: int) -> dict:
        return {"input": d.normal(*leading, fan_in), "weight": d.normal(fan_out, fan_in), "bias": d.normal(fan_out)}

    no_bias = inputs(batch)
    del no_bias["bias"]
    return [
        Sample(inputs(batch), note="2-D"),
        Sample(inputs(1), note="batch 1"),
        Sample(inputs(d.size(2, 3), batch), note="leading dims"),
        Sample(no_bias, note="no bias"),
        Sample(inputs(), note="1-D input"),
    ]


def _over_dim(d: Draw) -> list[Sample]:
    """Softmax-like nodes: every dim of a 2-D and a 3-D input, negative dims, a batch of one, large logits."""
    rows, cols, depth = d.size(2, 5), d.size(2, 6), d.size(2, 3)
    two, three = d.normal(rows, cols, scale=3), d.normal(depth, rows, cols, scale=3)
    samples = [Sample({"input": two}, {"dim": dim}, f"2-D, dim {dim}") for dim in (1, 0, -1)]
    samples += [Sample({"input": three}, {"dim": dim}, f"3-D, dim {dim}") for dim in (0, 1, 2, -2)]
    samples.append(Sample({"input": d.normal(1, cols, scale=3)}, {"dim": 1}, "batch 1"))
    # logits far beyond exp's range (float64 overflows above 709, float32 above 88): only a max-shifted
    # implementation stays finite; their differences stay small, so the gradient is far from zero
    samples.append(Sample({"input": 1000 + d.normal(rows, cols, scale=3)}, {"dim": 1}, "large logits"))
    return samples


def _class_scores(d: Draw) -> tuple[int, int]:
    return d.size(2, 6), d.size(2, 5)


def _with_ignored(target: torch.Tensor, index: int = IGNORE) -> torch.Tensor:
    target = target.clone()
    target.view(-1)[1] = index
    return target


def _without(target: torch.Tensor, index: int) -> torch.Tensor:
    """``target`` with every class ``index`` replaced by another class (0, or 1 when ``index`` is 0)."""
    return target.masked_fill(target == index, 1 if index == 0 else 0)


def _cross_entropy(d: Draw) -> list[Sample]:
    batch, classes = _class_scores(d)
    return [
        Sample({"input": d.normal(batch, classes, scale=2), "target": d.ids(classes, batch)}, note="mean"),
        Sample({"input": d.normal(1, classes, scale=2), "target": d.ids(classes, 1)}, note="batch 1"),
        Sample({"input": 1000 + d.normal(batch, classes, scale=3), "target": d.ids(classes, batch)},
               note="large logits"),
        Sample({"input": d.normal(batch, classes), "target": d.ids(classes, batch)}, {"reduction": "sum"}, "sum"),
        Sample({"input": d.normal(batch, classes), "target": _with_ignored(d.ids(classes, batch))},
               {"label_smoothing": 0.1}, "ignore_index, label_smoothing"),
        Sample({"input": d.normal(2, classes, 3), "target": _with_ignored(d.ids(classes, 2, 3))},
               {"reduction": "none"}, "(N, C, d), none"),
        Sample({"input": d.normal(classes), "target": d.ids(classes)}, note="unbatched (C,)"),
        # exactly one target equals ignore_index 1 (all of them ignored would make the mean NaN)
        Sample({"input": d.normal(batch, classes), "target": _with_ignored(_without(d.ids(classes, batch), 1), 1)},
               {"ignore_index": 1}, "ignore_index 1"),
        # no target equals ignore_index although it is a class: nothing is left out
        Sample({"input": d.normal(batch, classes), "target": d.ids(classes - 1, batch)},
               {"ignore_index": classes - 1}, "ignore_index a class, absent"),
    ]


def _nll_loss(d: Draw) -> list[Sample]:
    batch, classes = _class_scores(d)
    return [
        Sample({"input": d.normal(batch, classes), "target": d.ids(classes, batch)}, note="mean"),
        Sample({"input": d.normal(batch, classes), "target": _with_ignored(d.ids(classes, batch))},
               {"reduction": "sum"}, "ignore_index, sum"),
        Sample({"input": d.normal(2, classes, 3), "target": d.ids(classes, 2, 3)}, {"reduction": "none"},
               "(N, C, d), none"),
    ]


def _probabilities(d: Draw) -> list[Sample]:
    rows, cols = d.size(2, 5), d.size(2, 4)
    return [
        Sample({"input": d.uniform(0.1, 0.9, rows, cols), "target": d.uniform(0, 1, rows, cols)}, note="mean"),
        Sample({"input": d.uniform(0.1, 0.9, 1, cols), "target": d.uniform(0, 1, 1, cols)},
               {"reduction": "sum"}, "batch 1, sum"),
        Sample({"input": d.uniform(0.1, 0.9, rows), "target": d.uniform(0, 1, rows)}, {"reduction": "none"},
               "1-D, none"),
    ]


def _logits_and_probabilities(d: Draw) -> list[Sample]:
    rows, cols = d.size(2, 5), d.size(2, 4)
    return [
        Sample({"input": d.normal(rows, cols, scale=3), "target": d.uniform(0, 1, rows, cols)},
               {"reduction": "sum"}, "sum"),
        Sample({"input": d.normal(rows, cols, scale=50), "target": d.uniform(0, 1, rows, cols)},
               note="large logits"),
    ]


def _mse_loss(d: Draw) -> list[Sample]:
    rows, cols = d.size(2, 5), d.size(2, 4)
    return [Sample({"input": d.normal(rows, cols), "target": d.normal(rows, cols)}, {"reduction": reduction},
                   reduction) for reduction in ("mean", "sum", "none")]


def _embedding(d: Draw) -> list[Sample]:
    vocab, dim = d.size(4, 7), d.size(2, 4)
    ids = d.repeating_ids(vocab, 6).view(2, 3)
    ids[0, 0] = 0  # the padding row is looked up
    return [
        Sample({"input": ids, "weight": d.normal(vocab, dim)}, {"padding_idx": 0}, "repeated ids, padding_idx"),
        Sample({"input": d.repeating_ids(vocab, 5), "weight": d.normal(vocab, dim)}, note="1-D ids"),
        Sample({"input": torch.cat([d.repeating_ids(vocab, 4), torch.tensor([vocab - 1])]),
                "weight": d.normal(vocab, dim)}, {"padding_idx": -1}, "negative padding_idx"),
    ]


def _padding_row(sample: Sample) -> dict:
    """The ``padding_idx`` row of an embedding's weight: looked up, but its gradient is zero by convention."""
    if sample.options.get("padding_idx") is None:
        return {}
    vocab = len(sample.inputs["weight"])
    rows = torch.arange(vocab)[:, None]
    padding = sample.options["padding_idx"] % vocab  # a negative padding_idx counts from the end
    return {"weight": (rows == padding).expand_as(sample.inputs["weight"])}


def _embedding_bag(d: Draw) -> list[Sample]:
    """Mean, sum and max bags; an empty bag; a single bag; repeated ids; padding ids."""
    vocab, dim, bags = d.size(4, 7), d.size(2, 4), d.size(3, 4)
    length = vocab + bags

    def bag(mode: str, note: str, empty: bool = False, count: int = bags, **options) -> Sample:
        ids = d.repeating_ids(vocab, length)
        if "padding_idx" in options:
            ids[1] = options["padding_idx"]
        offsets = d.bounds(length, count, empty)
        return Sample({"input": ids, "weight": d.normal(vocab, dim)}, {"offsets": offsets, "mode": mode, **options},
                      note)

    return [
        bag("mean", "mean, repeated ids"),
        bag("mean", "mean, empty bag", empty=True),
        bag("mean", "mean, one bag", count=1),
        bag("mean", "mean, empty bag, padding_idx", empty=True, padding_idx=0),
        Sample({"input": d.repeating_ids(vocab, 6).view(2, 3), "weight": d.normal(vocab, dim)}, {"mode": "sum"},
               "sum, 2-D ids"),
        bag("max", "max, padding_idx", padding_idx=1),
        Sample({"input": d.repeating_ids(vocab, length), "weight": d.normal(vocab, dim)},
               {"offsets": torch.cat([d.bounds(length, bags), torch.tensor([length])]), "mode": "max",
                "include_last_offset": True}, "max, include_last_offset"),
        # padding_idx a row of the table but no token's id: nothing is left out
        Sample({"input": d.ids(vocab - 1, length), "weight": d.normal(vocab, dim)},
               {"offsets": d.bounds(length, bags), "mode": "mean", "padding_idx": vocab - 1}, "padding_idx absent"),
        # offsets with the end of the last bag (B + 1 of them), int32 ids and offsets
        Sample({"input": d.repeating_ids(vocab, length).int(), "weight": d.normal(vocab, dim)},
               {"offsets": torch.cat([d.bounds(length, bags), torch.tensor([length])]).int(), "mode": "sum",
                "include_last_offset": True}, "sum, include_last_offset, int32"),
    ]


def _dropout(d: Draw) -> list[Sample]:
    return [Sample({"input": d.away_from_zero(d.size(3, 5), d.size(4, 6))}, {"p": 0.3}, "p 0.3")]


def _unit_rows(d: Draw, *shape: int) -> torch.Tensor:
    """Rows of unit norm along the last dimension (vMF targets, and prediction directions)."""
    return torch.nn.functional.normalize(d.normal(*shape), dim=-1)


def _vmf_loss(d: Draw) -> list[Sample]:
    """Predictions of small and large norm in m = 3 (where I_{1/2} has a closed form) and m = 300 dimensions, against
    unit targets; the paper's regularisers; each reduction; leading dimensions."""
    rows = d.size(2, 4)

    def pair(m: int, low: float, high: float, *leading: int) -> dict:
        shape = (*leading, rows, m)
        norms = d.uniform(low, high, *shape[:-1], 1)
        return {"input": _unit_rows(d, *shape) * norms, "target": _unit_rows(d, *shape)}

    return [
        Sample(pair(3, 0.5, 4.0), note="m 3"),
        Sample(pair(3, 0.01, 0.1), {"reduction": "sum"}, "m 3, small norm, sum"),
        # exp(kappa) and I_v(kappa) overflow float64 above 709: only a scaled Bessel function stays finite
        Sample(pair(3, 750.0, 900.0), {"reduction": "none"}, "m 3, large norm, none"),
        # I_149(kappa) underflows float64 for kappa below about 2
        Sample(pair(300, 0.2, 1.5), note="m 300, small norm"),
        Sample(pair(300, 100.0, 400.0), {"reduction": "none"}, "m 300, large norm, none"),
        Sample(pair(300, 5.0, 50.0), {"lambda_1": 0.02, "reduction": "sum"}, "m 300, lambda_1 0.02, sum"),
        Sample(pair(3, 0.5, 4.0), {"lambda_2": 0.1}, "m 3, lambda_2 0.1"),
        Sample(pair(3, 0.5, 4.0, 2), {"lambda_1": 0.02, "lambda_2": 0.1, "reduction": "none"},
               "leading dims, both regularisers, none"),
    ]


def _node(name: str, make: Callable[[Draw], list[Sample]], **extra) -> tuple[str, NodeInfo]:
    return name, NodeInfo(name, make, **extra)


REGISTRY: dict[str, NodeInfo] = dict([
    _node("add", _binary),
    _node("mul", _binary),
    _node("exp", _pointwise(lambda d, shape: d.normal(*shape))),
    _node("log", _pointwise(lambda d, shape: d.uniform(0.5, 2.0, *shape))),
    _node("relu", _pointwise(lambda d, shape: d.away_from_zero(*shape))),
    _node("sigmoid", _pointwise(lambda d, shape: d.normal(*shape, scale=3))),
    _node("tanh", _pointwise(lambda d, shape: d.normal(*shape, scale=2))),
    _node("linear", _linear),
    _node("softmax", _over_dim),
    _node("log_softmax", _over_dim),
    _node("cross_entropy", _cross_entropy),
    _node("nll_loss", _nll_loss),
    _node("binary_cross_entropy", _probabilities),
    _node("binary_cross_entropy_with_logits", _logits_and_probabilities),
    _node("mse_loss", _mse_loss),
    _node("embedding", _embedding, held=_padding_row),
    _node("embedding_bag", _embedding_bag),
    _node("dropout", _dropout, random=True,
          reference_args=lambda inputs, output: (inputs["input"], output != 0)),
    # Bessel functions from SciPy inside, outside autograd: its backward cannot be differentiated again
    # In 300 dimensions the loss is about 10^3 and SciPy's Bessel values carry about 1e-15 relative noise: at a
    # step of 1e-6 that noise is 1e-7 in a difference quotient, the numerical tolerance itself; at 1e-5 it is ten
    # times smaller, and the truncation error (about 1e-10 times the third derivative) stays far below it.
    _node("vmf_loss", _vmf_loss, module="in5550.vmf", torch_reference=torch_reference.vmf_loss,
          twice_differentiable=False, numerical_eps=1e-5),
])
"""Node name (as in :mod:`in5550.functional`, or in the node's ``module``) -> :class:`NodeInfo`, in the order of
the lecture."""

FUNCTIONAL = tuple(name for name, info in REGISTRY.items() if info.module == "in5550.functional")
"""The nodes of :mod:`in5550.functional`: each has a counterpart of the same name in ``torch.nn.functional`` (or
``torch``), so the drop-in promise is tested on exactly these."""
