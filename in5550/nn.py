r"""Models built from the graph nodes: linear, embedding-bag and dropout modules, and an MLP sentence classifier.

Every module takes a ``backend``: ``"custom"`` runs it through :mod:`in5550.functional` (our hand-written
autograd nodes), ``"torch"`` through :mod:`torch.nn.functional`. The parameters, their shapes and their
initialisation do not depend on the backend: two models built after the same ``torch.manual_seed`` have identical
parameters, so a training step with our nodes can be compared, number for number, with the same step in PyTorch.

Example::

    >>> import torch
    >>> from in5550.nn import MLPClassifier
    >>> _ = torch.manual_seed(0)
    >>> ours = MLPClassifier(vocab_size=100, embedding_dim=8, hidden_dims=[16], num_classes=2, backend="custom")
    >>> _ = torch.manual_seed(0)
    >>> theirs = MLPClassifier(vocab_size=100, embedding_dim=8, hidden_dims=[16], num_classes=2, backend="torch")
    >>> ids, offsets = torch.tensor([4, 8, 15, 16, 23, 42]), torch.tensor([0, 2])
    >>> torch.equal(ours(ids, offsets), theirs(ids, offsets))
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

import in5550.functional

BACKENDS = {"custom": in5550.functional, "torch": torch.nn.functional}
"""backend name -> the functional module its modules call."""


def functional(backend: str):
    """The functional module of ``backend``: :mod:`in5550.functional` for ``"custom"``, :mod:`torch.nn.functional`
    for ``"torch"``."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"in5550.nn: backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    return BACKENDS[backend]


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _positive_int(owner: str, name: str, value) -> int:
    if not _is_positive_int(value):
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _probability(owner: str, name: str, value) -> float:
    # p = 1 would zero every unit, and the kept ones are scaled by 1 / (1 - p): a model could not learn
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1), got {value!r}")
    return float(value)


class Module(torch.nn.Module):
    """A module whose forward calls ``self.F``, the functional module of its ``backend``."""

    def __init__(self, backend: str = "custom"):
        super().__init__()
        functional(backend)  # reject a bad backend when the model is built, not at its first forward
        self.backend = backend

    @property
    def F(self):  # noqa: N802 - named like the usual `import ... as F`
        return BACKENDS[self.backend]

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}"


class Linear(Module):
    r"""Affine layer :math:`y = x W^\top + b`, initialised like :class:`torch.nn.Linear`.

    ``W`` ``(out_features, in_features)`` and ``b`` ``(out_features,)`` are drawn from
    :math:`U(-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}})`.

    Shapes: ``x`` ``(*, in_features)`` -> ``y`` ``(*, out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, backend: str = "custom"):
        super().__init__(backend)
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self.weight = torch.nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.bias = torch.nn.Parameter(torch.empty(self.out_features)) if bias else None
        # the same draws, in the same order, as torch.nn.Linear.reset_parameters
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            torch.nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, " \
               + super().extra_repr()


class EmbeddingBag(Module):
    r"""Sum, mean or max of the embeddings of each bag of token ids, e.g.
    :math:`y_b = \operatorname{mean}_{i \in b} W_{\mathrm{ids}_i}`.

    Shapes: ``ids`` ``(T,)`` with ``offsets`` ``(B,)`` (bag ``b`` is ``ids[offsets[b]:offsets[b+1]]``), or ``ids``
    ``(B, L)`` without offsets; ``y`` ``(B, embedding_dim)``. Tokens equal to ``padding_idx`` are left out.

    The table is initialised from :math:`U(-1/D, 1/D)` for ``D = embedding_dim``, as in fastText (Joulin et al.
    2017), rather than PyTorch's :math:`N(0, 1)`: a bag of mostly rare n-grams then starts near zero, instead of
    being dominated by the random rows of n-grams seen once, which Adam moves only by about ``lr`` per step. The
    row ``padding_idx`` starts at zero.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, mode: str = "mean", padding_idx: int | None = None,
                 backend: str = "custom"):
        super().__init__(backend)
        self.num_embeddings = _positive_int("EmbeddingBag", "num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("EmbeddingBag", "embedding_dim", embedding_dim)
        if mode not in in5550.functional.BAG_MODES:
            raise ValueError(f"EmbeddingBag: mode must be one of {in5550.functional.BAG_MODES}, got {mode!r}")
        if padding_idx is not None and not (isinstance(padding_idx, numbers.Integral)
                                            and 0 <= padding_idx < self.num_embeddings):
            raise ValueError(f"EmbeddingBag: padding_idx must be None or in [0, {self.num_embeddings}), "
                             f"got {padding_idx!r}")
        self.mode, self.padding_idx = mode, padding_idx
        bound = 1 / self.embedding_dim
        self.weight = torch.nn.Parameter(torch.empty(self.num_embeddings, self.embedding_dim).uniform_(-bound, bound))
        if padding_idx is not None:
            with torch.no_grad():
                self.weight[padding_idx].zero_()

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        return self.F.embedding_bag(ids, self.weight, offsets, mode=self.mode, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}, padding_idx={self.padding_idx}, " \
               + super().extra_repr()


class Dropout(Module):
    r"""Inverted dropout while training: zero each unit with probability ``p``, scale the rest by :math:`1/(1-p)`;
    the identity in evaluation mode (``model.eval()``). The same seed drops the same units in both backends."""

    def __init__(self, p: float = 0.5, backend: str = "custom"):
        super().__init__(backend)
        self.p = _probability("Dropout", "p", p)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, " + super().extra_repr()


class MLPClassifier(Module):
    r"""Sentence classifier: the mean of the token embeddings, then a multi-layer perceptron.

    .. math:: h_0 = \frac{1}{|s|} \sum_{i \in s} E_{w_i}, \quad
              h_k = \mathrm{ReLU}(W_k\, \mathrm{dropout}(h_{k-1}) + b_k), \quad
              \mathrm{logits} = W_{\text{out}}\, \mathrm{dropout}(h_K) + b_{\text{out}}

    ``hidden_dims`` lists the sizes of the hidden layers (``[]`` gives a linear model on the bag of embeddings).
    Token id 0 is padding (``<pad>`` of :class:`in5550.data.Vocabulary`): it is left out of the mean.

    Shapes: ``forward(ids, offsets)`` takes the embedding-bag form of :func:`in5550.data.bag_batch` (``ids``
    ``(T,)``, ``offsets`` ``(B,)``) or a padded ``ids`` ``(B, L)``, and returns logits ``(B, num_classes)``;
    :meth:`loss` is the mean cross-entropy, computed by the same backend.

    Parameters are created in a fixed order (embedding, hidden layers, output layer) whatever the backend, so the
    same seed gives the same parameters in both backends.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dims: Sequence[int], num_classes: int,
                 dropout: float = 0.0, backend: str = "custom"):
        super().__init__(backend)
        _positive_int("MLPClassifier", "vocab_size", vocab_size)
        _positive_int("MLPClassifier", "embedding_dim", embedding_dim)
        is_list = isinstance(hidden_dims, Sequence) and not isinstance(hidden_dims, (str, bytes))
        if not is_list or not all(map(_is_positive_int, hidden_dims)):
            raise ValueError(f"MLPClassifier: hidden_dims must be a list of positive integers (e.g. [256], or [] "
                             f"for no hidden layer), got {hidden_dims!r}")
        if not _is_positive_int(num_classes) or num_classes < 2:
            raise ValueError(f"MLPClassifier: num_classes must be an integer >= 2, got {num_classes!r}")
        dropout = _probability("MLPClassifier", "dropout", dropout)
        self.num_classes = int(num_classes)
        self.embedding = EmbeddingBag(vocab_size, embedding_dim, mode="mean", padding_idx=0, backend=backend)
        sizes = [int(embedding_dim), *map(int, hidden_dims)]
        self.hidden = torch.nn.ModuleList(Linear(a, b, backend=backend) for a, b in zip(sizes, sizes[1:]))
        self.output = Linear(sizes[-1], self.num_classes, backend=backend)
        self.dropout = Dropout(dropout, backend=backend)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embedding(ids, offsets)
        for layer in self.hidden:
            h = self.F.relu(layer(self.dropout(h)))
        return self.output(self.dropout(h))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of ``logits`` ``(B, C)`` against class indices ``labels`` ``(B,)``."""
        return self.F.cross_entropy(logits, labels)
