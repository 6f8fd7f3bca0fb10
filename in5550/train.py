r"""Training and evaluation of the sentence classifier, its learning-curve figures, and ``in5550 train``.

One run, step by step (what :func:`train` does, and what the demo takes apart):

1. :func:`prepare`: add the bigrams of each sentence to its tokens (:func:`with_ngrams`) and build the vocabulary
   from the training split;
2. :func:`build_model`: an :class:`in5550.nn.MLPClassifier`, its parameters drawn after ``torch.manual_seed(seed)``
   (so both backends start from the same numbers);
3. :func:`fit`: mini-batch training with any ``torch.optim`` optimiser, a seeded shuffle, early stopping on dev
   accuracy (the best epoch's parameters are restored), a :class:`History` of loss and accuracy per epoch;
4. :func:`evaluate`: loss, accuracy, macro-F1 and confusion matrix on a split;
5. :func:`plot_histories`: learning curves, several runs overlaid, saved as a PNG.

Same seed and backend give the same numbers on the CPU, run after run. A loss that becomes NaN or infinite stops
the run (:class:`Diverged`); Ctrl-C stops it with the finished epochs kept (:class:`Interrupted`).

Example::

    >>> from dataclasses import replace
    >>> from in5550 import data, train
    >>> settings = replace(train.DEFAULTS["sample"], epochs=2)   # the sample's settings, cut short for a quick look
    >>> result = train.train(data.load_dataset("sample"), settings, "custom", seed=0, progress=False)
    >>> 0.0 <= result.test.accuracy <= 1.0
    True
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import re
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from tqdm import tqdm

from in5550 import data
from in5550.errors import UsageError
from in5550.nn import BACKENDS, MLPClassifier
from in5550.plots import plot_histories  # the figures live in in5550.plots; train() and in5550 train call it

EVAL_BATCH_SIZE = 1024  # evaluation keeps no graph, so large batches only save Python overhead

MAX_PARAMETERS = 250_000_000
"""The largest model :func:`build_model` makes: 1 GB of float32 parameters, 3 GB with Adam's two moments; a
larger one is a mistaken setting (or label) on the machines this package is for, and would fail only after a
long wait or take the machine down."""

SEED_RANGE = (0, 2**64 - 1)
"""The seeds ``torch.manual_seed`` takes without two of them meaning the same generator state (it also takes
negative seeds, but reads -1 as 2**64 - 1)."""


def check_seed(function: str, seed) -> int:
    """``seed`` if it is an integer in :data:`SEED_RANGE`, else ``ValueError`` naming ``function``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ValueError(f"{function}: seed must be an integer in 0 .. 2**64 - 1, got {seed!r}")
    return seed


# ---------------------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    """The hyper-parameters of one run. ``epochs`` is the most that are run: training stops early once dev
    accuracy has not improved for ``patience`` epochs. ``ngrams=2`` adds bigrams to the bag of words."""

    ngrams: int = 2
    min_freq: int = 2
    embedding_dim: int = 64
    hidden_dims: tuple[int, ...] = (64,)
    dropout: float = 0.5
    lr: float = 3e-4
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 20
    patience: int = 3

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))
        for name in ("ngrams", "min_freq", "embedding_dim", "batch_size", "epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Settings: {name} must be a positive integer, got {value!r}")
        if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in self.hidden_dims):
            raise ValueError(f"Settings: hidden_dims must be positive integers, got {list(self.hidden_dims)}")
        for name in ("dropout", "lr", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"Settings: {name} must be a number, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Settings: dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0.0:
            raise ValueError(f"Settings: lr must be positive, got {self.lr!r}")
        if not self.weight_decay >= 0.0:
            raise ValueError(f"Settings: weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("lr", "weight_decay"):  # an infinite step or decay can only turn every weight into NaN
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"Settings: {name} must be finite, got {getattr(self, name)!r}")


# Chosen on the dev splits (mean of seeds 0, 1, 2). SST-2: bigrams seen at least twice, a small embedding, and a
# low learning rate that lets early stopping pick a good epoch rather than an early lucky one. TREC: its classes
# hinge on rare words ("What is the population of ..."), so keep every n-gram, learn faster and drop out less.
DEFAULTS: dict[str, Settings] = {
    "sst2": Settings(),
    "trec": Settings(min_freq=1, lr=3e-3, dropout=0.3, epochs=30),
    "sample": Settings(min_freq=1, lr=1e-2, epochs=30, patience=10, batch_size=8),
}
"""Default settings per dataset; user files get those of ``"sst2"``."""


# ---------------------------------------------------------------------------------------------------------------
# Features and model


def with_ngrams(examples: Sequence[data.Example], n: int = 2) -> list[data.Example]:
    """Each example with the 2- to ``n``-grams of its tokens appended, as space-joined tokens (no token holds a
    space, so an n-gram never collides with a word).

    >>> with_ngrams([data.Example(1, ["not", "good"])], 2)
    [Example(label=1, tokens=['not', 'good', 'not good'])]
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"with_ngrams: n must be a positive integer, got {n!r}")
    out = []
    for example in examples:
        tokens = list(example.tokens)
        for size in range(2, min(n, len(example.tokens)) + 1):  # longer n-grams do not fit
            tokens += [" ".join(example.tokens[i: i + size]) for i in range(len(example.tokens) - size + 1)]
        out.append(data.Example(example.label, tokens))
    return out


def prepare(splits: data.Splits, settings: Settings) -> tuple[data.Splits, data.Vocabulary]:
    """The splits with n-gram features, and the vocabulary of the training split (``settings.min_freq``)."""
    featured = data.Splits(*(with_ngrams(split, settings.ngrams) for split in splits[:3]), splits.label_names)
    vocab = data.Vocabulary.build((example.tokens for example in featured.train), min_freq=settings.min_freq)
    if len(vocab) <= 2:
        raise ValueError(f"prepare: no word or n-gram occurs min_freq={settings.min_freq} times in the "
                         f"{len(splits.train)} training sentences, so the vocabulary is empty; lower min_freq")
    return featured, vocab


def build_model(vocab_size: int, num_classes: int, settings: Settings, backend: str, seed: int) -> MLPClassifier:
    """An :class:`MLPClassifier` initialised from ``torch.manual_seed(seed)``: the same parameters for both
    backends. Raises ``ValueError`` for a model of more than :data:`MAX_PARAMETERS` parameters."""
    check_seed("build_model", seed)
    sizes = [settings.embedding_dim, *settings.hidden_dims, num_classes]
    count = vocab_size * settings.embedding_dim + sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if count > MAX_PARAMETERS:
        raise ValueError(f"build_model: the model would have {count:,} parameters ({4 * count / 1e9:.1f} GB of "
                         f"float32; vocabulary {vocab_size:,}, embedding_dim {settings.embedding_dim}, hidden_dims "
                         f"{list(settings.hidden_dims)}, {num_classes:,} classes), more than the {MAX_PARAMETERS:,} "
                         "allowed; choose smaller sizes or a larger min_freq")
    torch.manual_seed(seed)
    return MLPClassifier(vocab_size, settings.embedding_dim, list(settings.hidden_dims), num_classes,
                         settings.dropout, backend)


def make_optimizer(model: torch.nn.Module, settings: Settings) -> torch.optim.Optimizer:
    """Adam with the settings' learning rate and weight decay."""
    return torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


# ---------------------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Evaluation:
    """Scores on one split. ``confusion[i][j]`` counts examples of class ``i`` predicted as ``j``; macro-F1 is
    the mean over classes of :math:`F_1 = 2\\,TP / (2\\,TP + FP + FN)` (0 for a class never seen nor predicted)."""

    loss: float
    accuracy: float
    macro_f1: float
    confusion: list[list[int]]


def scores(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> tuple[float, float, list]:
    """Accuracy, macro-F1 and confusion matrix (a list of ``num_classes`` rows) of ``predictions`` against
    ``labels``, both ``(N,)`` class indices.

    >>> scores(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), 2)
    (0.75, 0.7333333333333334, [[1, 1], [0, 2]])
    """
    if labels.shape != predictions.shape or labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"scores: labels and predictions must be non-empty and of the same 1-D shape, got "
                         f"{tuple(labels.shape)} and {tuple(predictions.shape)}")
    confusion = torch.bincount(labels * num_classes + predictions, minlength=num_classes ** 2)
    confusion = confusion.reshape(num_classes, num_classes)
    true_positives = confusion.diag().double()
    denominators = confusion.sum(0) + confusion.sum(1)  # 2 TP + FP + FN
    f1 = torch.where(denominators > 0, 2 * true_positives / denominators.clamp_min(1), 0.0)
    accuracy = true_positives.sum().item() / labels.numel()
    return accuracy, f1.mean().item(), confusion.tolist()


@torch.no_grad()
def evaluate(model: MLPClassifier, examples: Sequence[data.Example], vocab: data.Vocabulary) -> Evaluation:
    """Mean loss, accuracy, macro-F1 and confusion matrix of ``model`` (in evaluation mode: no dropout) on
    ``examples``. The model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    total_loss, all_labels, all_predictions = 0.0, [], []
    for ids, offsets, labels in data.batches(examples, vocab, EVAL_BATCH_SIZE):
        logits = model(ids, offsets)
        total_loss += model.loss(logits, labels).item() * len(labels)
        all_labels.append(labels)
        all_predictions.append(logits.argmax(1))
    model.train(was_training)
    accuracy, macro_f1, confusion = scores(torch.cat(all_labels), torch.cat(all_predictions), model.num_classes)
    return Evaluation(total_loss / len(examples), accuracy, macro_f1, confusion)


# ---------------------------------------------------------------------------------------------------------------
# Training


@dataclass
class History:
    """Per epoch (1, 2, ...): the mean training loss and accuracy over the epoch's batches (with dropout on), and
    the dev loss and accuracy after it. ``best_epoch`` is the epoch whose parameters were kept."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    dev_loss: list[float] = field(default_factory=list)
    dev_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0


class Diverged(FloatingPointError):
    """Training stopped because a loss became NaN or infinite. ``history`` holds the epochs finished before (the
    model holds the parameters of the best of them, if any)."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`fit` (or the evaluations of :func:`fit_and_evaluate` after it). ``history`` holds the
    epochs finished before (the model holds the parameters of the best of them, if any); a ``KeyboardInterrupt``,
    so that it stops a program as Ctrl-C does."""

    def __init__(self, history: History, where: str):
        super().__init__(f"interrupted {where}")
        self.history = history


def fit(model: MLPClassifier, train_examples: Sequence[data.Example], dev_examples: Sequence[data.Example],
        vocab: data.Vocabulary, optimizer: torch.optim.Optimizer, *, epochs: int, batch_size: int, patience: int,
        seed: int = 0, progress: bool = True, desc: str = "training") -> History:
    """Train ``model`` with ``optimizer`` for at most ``epochs`` epochs; keep the parameters of the epoch with the
    best dev accuracy, stopping once ``patience`` epochs in a row have not beaten it.

    Each step: forward the batch, :meth:`MLPClassifier.loss`, backward, ``optimizer.step()``. The batch order
    comes from a generator seeded with ``seed``, and the global generator (dropout) is seeded with it too, so
    the run is reproducible. ``progress`` shows a tqdm bar over the epochs.

    A training loss (or dev loss) that is NaN or infinite raises :class:`Diverged` before the step that would
    spread it into the parameters; Ctrl-C raises :class:`Interrupted`. Either way the model is left with the
    parameters of the best finished epoch, and the exception carries the history so far.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
    check_seed("fit", seed)
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    history, best_state, epoch = History(), None, 0
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in bar:
            model.train()
            loss_sum, correct = 0.0, 0
            batches = data.batches(train_examples, vocab, batch_size, shuffle=True, generator=order)
            for step, (ids, offsets, labels) in enumerate(batches, start=1):
                logits = model(ids, offsets)
                loss = model.loss(logits, labels)
                value = loss.item()
                if not math.isfinite(value):
                    raise Diverged(_diverged("training loss", value, f"epoch {epoch}, batch {step}", optimizer),
                                   history)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += value * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()
            dev = evaluate(model, dev_examples, vocab)
            if not math.isfinite(dev.loss):
                raise Diverged(_diverged("dev loss", dev.loss, f"the end of epoch {epoch}", optimizer), history)
            history.epoch.append(epoch)
            history.train_loss.append(loss_sum / len(train_examples))
            history.train_accuracy.append(correct / len(train_examples))
            history.dev_loss.append(dev.loss)
            history.dev_accuracy.append(dev.accuracy)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", dev_acc=f"{dev.accuracy:.3f}")
            if best_state is None or dev.accuracy > history.dev_accuracy[history.best_epoch - 1]:
                history.best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
            elif epoch - history.best_epoch >= patience:
                break
    except (KeyboardInterrupt, Diverged) as stop:
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        if isinstance(stop, KeyboardInterrupt) and not isinstance(stop, Interrupted):
            raise Interrupted(history, f"during epoch {epoch}, after {len(history.epoch)} finished") from None
        raise
    bar.close()
    model.load_state_dict(best_state)
    return history


def _diverged(what: str, value: float, where: str, optimizer: torch.optim.Optimizer) -> str:
    group = optimizer.param_groups[0]
    lr, decay = float(group.get("lr", math.nan)), float(group.get("weight_decay", 0.0))
    return (f"fit: the {what} became {value} at {where}: training diverged (learning rate {lr:g}, weight decay "
            f"{decay:g}); try a lower learning rate (--lr), e.g. {lr / 10:g}"
            + (", or less weight decay (--weight-decay)" if decay else ""))


@dataclass
class Result:
    """What :func:`train` returns: the trained model (best epoch), its vocabulary, the history, the dev and test
    evaluations (``test`` is None for an empty test split) and the wall time in seconds."""

    model: MLPClassifier
    vocab: data.Vocabulary
    history: History
    dev: Evaluation
    test: Evaluation | None
    seconds: float


def fit_and_evaluate(model: MLPClassifier, featured: data.Splits, vocab: data.Vocabulary, settings: Settings,
                     seed: int = 0, progress: bool = True, desc: str = "training",
                     ) -> tuple[History, Evaluation, Evaluation | None]:
    """:func:`fit` ``model`` on the (featured) splits with Adam and the settings, then :func:`evaluate` it on dev
    and test: the history and both evaluations (``None`` for an empty test split). Ctrl-C raises
    :class:`Interrupted` with the history so far, also during the final evaluations."""
    history = fit(model, featured.train, featured.dev, vocab, make_optimizer(model, settings),
                  epochs=settings.epochs, batch_size=settings.batch_size, patience=settings.patience, seed=seed,
                  progress=progress, desc=desc)
    try:
        dev = evaluate(model, featured.dev, vocab)
        return history, dev, evaluate(model, featured.test, vocab) if featured.test else None
    except KeyboardInterrupt:  # the training is done: keep its history as fit() does
        raise Interrupted(history, f"during the final evaluation, after {len(history.epoch)} epochs") from None


def train(splits: data.Splits, settings: Settings, backend: str, seed: int = 0, progress: bool = True,
          desc: str | None = None) -> Result:
    """One full run: :func:`prepare`, :func:`build_model`, then :func:`fit_and_evaluate`."""
    start = time.perf_counter()
    featured, vocab = prepare(splits, settings)
    model = build_model(len(vocab), len(splits.label_names), settings, backend, seed)
    history, dev, test = fit_and_evaluate(model, featured, vocab, settings, seed, progress, desc or backend)
    return Result(model, vocab, history, dev, test, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# Figures


# ---------------------------------------------------------------------------------------------------------------
# Output folders of the commands


def unused_folder(base: str | Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... : the first that does not exist or is an empty folder.

    The default output of a command the user runs again (``in5550 demo`` twice) goes to a new folder instead of
    being refused or replacing the earlier results; a folder the user names is never renamed."""
    base = Path(base)
    for number in itertools.count(1):
        path = base if number == 1 else base.with_name(f"{base.name}-{number}")
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):
            return path
    raise AssertionError("unreachable")


class OutputFolder:
    """The folder a command writes its results into, claimed before the work starts (``in5550 train``, ``demo``).

    :meth:`claim` (or ``with OutputFolder(path) as output:``) creates the folder and refuses, with a
    :class:`UsageError`, a path that is an existing file or lies below one, a folder that cannot be created or
    written, and a folder that already holds something unless ``overwrite``. It leaves a marker file,
    :attr:`MARKER`, holding the process id, created atomically: a second run aimed at the same folder finds it and
    is refused (even with ``overwrite``) while the first one works, rather than both writing and both saying
    "wrote". :meth:`write_text` and :meth:`write_with` write each file under a temporary name and rename it into
    place, so that no reader ever sees half a file. On leaving, the marker is removed, and so are the folders the
    claim created if nothing was written into them.
    """

    MARKER = ".in5550-running"

    def __init__(self, path: str | Path, overwrite: bool = False, option: str = "--output"):
        self.path, self.overwrite, self.option = Path(path), overwrite, option
        self.written: list[Path] = []
        self._created: list[Path] = []
        self._marker: Path | None = None

    def __enter__(self) -> OutputFolder:
        return self.claim()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _refuse(self, why: str) -> UsageError:
        return UsageError(f"{self.option} {self.path}: {why}")

    def claim(self) -> OutputFolder:
        """Create the folder (and its parents) and take it for this run; see the class docstring."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise self._refuse("is an existing file; give the name of a folder for the results")
        missing, ancestor = [], path
        while not ancestor.exists() and ancestor != ancestor.parent:
            missing.append(ancestor)
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise self._refuse(f"{ancestor} is a file, so no folder can be made below it; choose another "
                               f"{self.option}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._refuse(f"cannot create the folder ({error.strerror or error}); run the command in a folder "
                               f"you can write to, or choose another {self.option}") from None
        self._created = missing
        marker = path / self.MARKER
        for attempt in range(2):
            try:
                _create_with(marker, f"{os.getpid()} {socket.gethostname()}\n")
            except FileExistsError:
                owner = _marker_owner(marker)
                if owner is not None:
                    self._remove_created()
                    raise self._refuse(f"another run (process {owner}) is writing its results there now; wait for "
                                       f"it to finish, or choose another {self.option}") from None
                if not self.overwrite or attempt:
                    break  # left by a run that was killed: the folder is not empty, reported below
                marker.unlink(missing_ok=True)
                continue
            except OSError as error:
                self._remove_created()
                raise self._refuse(f"cannot write into the folder ({error.strerror or error}); choose another "
                                   f"{self.option}") from None
            self._marker = marker
            break
        others = sorted(entry.name for entry in path.iterdir() if entry != self._marker)
        if self._marker is None or (others and not self.overwrite):
            self.release()
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            raise self._refuse(f"the folder is not empty ({shown}); pass --overwrite to replace its results, or "
                               f"choose another {self.option}")
        return self

    def release(self) -> None:
        """Remove the marker, and the folders the claim created if nothing was written into them."""
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)
            self._marker = None
        if not self.written:
            self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:  # deepest first; a folder that is not empty stays
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def _temporary(self, name: str) -> Path:
        # same folder (so the rename is atomic), hidden, and ending like the target (savefig reads the suffix)
        return self.path / f".{os.getpid()}.{name}"

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` in the folder, atomically; return its path."""
        temporary, target = self._temporary(name), self.path / name
        try:
            temporary.write_text(text)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        self.written.append(target)
        return target

    def write_with(self, name: str, write) -> Path:
        """Call ``write(path)`` to write a file (a figure, a checkpoint) under a temporary name ending like
        ``name``, then rename it to ``name``; return its path."""
        temporary, target = self._temporary(name), self.path / name
        try:
            write(temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        self.written.append(target)
        return target


def _create_with(path: Path, text: str) -> None:
    """Create ``path`` holding ``text``, or raise ``FileExistsError`` if it exists: written under a temporary
    name and linked into place, so that whoever finds the file finds its text too (an ``O_EXCL`` create would show
    an empty file for a moment, which would read as left by a killed run)."""
    temporary = path.with_name(f".{os.getpid()}.{path.name}")
    try:
        temporary.write_text(text)
        try:
            os.link(temporary, path)
            return
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (FAT): create exclusively, then write
            pass
    finally:
        temporary.unlink(missing_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "w") as stream:
        stream.write(text)


def _marker_owner(marker: Path) -> str | None:
    """The process named in a marker file, if it still runs (on this machine, or anywhere else: a process on
    another machine cannot be looked up, so it counts as running); ``None`` for a marker left by a killed run."""
    try:
        pid_text, _, host = marker.read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    host = host.strip()
    if host and host != socket.gethostname():
        return f"{pid} on {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it runs, under another user
    return str(pid)


def strict_json(value) -> str:
    """``value`` as strict JSON text (RFC 8259), indented: any float that is NaN or infinite becomes ``null``,
    where ``json.dumps`` would write the non-standard ``NaN`` and ``Infinity`` that strict readers reject."""
    def clean(item):
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, Mapping):
            return {key: clean(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(inner) for inner in item]
        return item
    return json.dumps(clean(value), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# in5550 train


def check_inputs(data_dir=None, encoding: str = "utf-8", files: Mapping[str, str | None] | None = None) -> None:
    """Check, before any work, what a command takes from outside: the data settings in the environment
    (:func:`in5550.data.check_settings`), ``data_dir`` (not a file), ``encoding``, and each file in ``files``
    (option -> path, ``None`` when not given: must be a readable regular file). Raises :class:`UsageError`."""
    try:
        data.check_settings()
    except data.DataError as error:
        raise UsageError(str(error)) from None
    try:
        data.check_encoding(encoding)
    except data.DataError as error:
        raise UsageError(f"--encoding: {error}") from None
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir} is a file; give the folder of the datasets")
    for option, path in (files or {}).items():
        if path is not None:
            try:
                data.check_file(path)
            except data.DataError as error:
                raise UsageError(f"{option}: {error}") from None


def load_splits(dataset: str | None, data_dir=None, train_file=None, dev_file=None, test_file=None,
                encoding: str = "utf-8", seed: int = 0) -> data.Splits:
    """The splits for the command line: the registered ``dataset``, with any of its splits replaced by the given
    files; with ``train_file``, the files alone (dev held out from train when ``dev_file`` is absent).

    Raises :class:`UsageError` for a missing file, an unreadable or malformed one, a label set that is not
    ``0 .. K - 1`` with enough examples of each class, or a dataset that cannot be found or fetched, so that the
    command line reports it on one line."""
    check_inputs(data_dir, encoding, {"--train-file": train_file, "--dev-file": dev_file, "--test-file": test_file})
    try:
        if train_file is not None:
            return data.load_files(train_file, dev_file, test_file, encoding=encoding, seed=seed)
        splits = data.load_dataset(dataset, data_dir=data_dir)  # its dev split is the same for every seed
        num_classes = len(splits.label_names)
        dev = data.read_file(dev_file, encoding, num_classes) if dev_file else splits.dev
        test = data.read_file(test_file, encoding, num_classes) if test_file else splits.test
        return data.Splits(splits.train, dev, test, splits.label_names)
    except data.DataError as error:
        raise UsageError(" ".join(str(error).split())) from None


def seed_argument(text: str) -> int:
    """The ``type`` of a ``--seed`` option: an integer in :data:`SEED_RANGE`, written in digits."""
    value = integer_argument(text)
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{text} is out of range: a seed is an integer in 0 .. 2**64 - 1")
    return value


def integer_argument(text: str) -> int:
    """The ``type`` of an integer option: digits with an optional sign (``int()`` would also take ``1_0``)."""
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")
    return int(text)


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="sst2", choices=sorted(data.DATASETS),
                        help="registered dataset to train on (default sst2); with --train-file it only picks the "
                             "default settings")
    parser.add_argument("--backend", default="custom", choices=sorted(BACKENDS),
                        help="custom: our nodes (in5550.functional); torch: torch.nn.functional (default custom)")
    parser.add_argument("--seed", type=seed_argument, default=0,
                        help="seed of initialisation, shuffling and dropout, 0 .. 2**64-1 (default 0)")
    parser.add_argument("--data-dir", help="folder of the datasets (default $IN5550_DATA_DIR, else a per-user cache)")
    parser.add_argument("--train-file", help="your own training data: one '<label><TAB><text>' a line, the labels "
                                             "0 .. K-1 with at least 2 examples each")
    parser.add_argument("--dev-file", help="dev data in the same format (default: 10%% of train held out)")
    parser.add_argument("--test-file", help="test data in the same format")
    parser.add_argument("--encoding", default="utf-8", help="encoding of your files (default utf-8)")
    parser.add_argument("--output", help="folder for metrics.json and learning_curves.png "
                                         "(default runs/<dataset>-<backend>-seed<N>, numbered -2, -3, ... when that holds an "
                                         "earlier run's); a folder you name must be new or empty")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results in an --output folder that is not empty")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = parser.add_argument_group("settings", "each defaults to the dataset's value in in5550.train.DEFAULTS")
    for setting in fields(Settings):
        flag = "--" + setting.name.replace("_", "-")
        if setting.name == "hidden_dims":
            defaults.add_argument(flag, type=integer_argument, nargs="*", metavar="H",
                                  help="hidden layer sizes, e.g. '--hidden-dims 64 64'; none for a linear model")
        else:
            per_dataset = ", ".join(f"{name} {getattr(value, setting.name)}" for name, value in DEFAULTS.items())
            defaults.add_argument(flag, type=float if setting.type == "float" else integer_argument,
                                  help=per_dataset)


def settings_from_args(args) -> Settings:
    """The dataset's :data:`DEFAULTS`, with the settings given on the command line replacing them."""
    given = {f.name: getattr(args, f.name) for f in fields(Settings) if getattr(args, f.name) is not None}
    try:
        return replace(DEFAULTS[args.dataset], **given)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _write_results(output: OutputFolder, run: dict, history: History, dev: Evaluation | None,
                   test: Evaluation | None, seconds: float, status: str, model: MLPClassifier | None = None,
                   vocab: data.Vocabulary | None = None) -> list[Path]:
    """Write ``metrics.json`` (strict JSON) and, when an epoch has finished, ``learning_curves.png``. For a run
    stopped early (``status`` "interrupted" or "diverged") the evaluations are ``None``, the dev accuracy is that
    of the best finished epoch, and that epoch's ``model`` is saved too, as ``best_model.pt``: a dict of its
    ``state_dict``, the vocabulary's ``itos``, the label names, the settings, the backend and the epoch, for
    ``torch.load`` (a finished run's model is not saved: its numbers are in metrics.json)."""
    best = history.best_epoch
    metrics = {
        "status": status,
        "dataset": run["dataset"],
        "backend": run["backend"],
        "seed": run["seed"],
        "dev_accuracy": dev.accuracy if dev else (history.dev_accuracy[best - 1] if best else None),
        "dev_macro_f1": dev.macro_f1 if dev else None,
        "test_accuracy": test.accuracy if test else None,
        "test_macro_f1": test.macro_f1 if test else None,
        "test_confusion": test.confusion if test else None,
        "label_names": run["label_names"],
        "epochs": len(history.epoch),
        "best_epoch": best,
        "seconds": seconds,
        "vocab_size": run["vocab_size"],
        "settings": run["settings"],
        "history": asdict(history),
    }
    paths = [output.write_text("metrics.json", strict_json(metrics))]
    if history.epoch:
        paths.append(output.write_with("learning_curves.png", lambda path: plot_histories(
            {run["backend"]: history}, path, title=f"{run['dataset']}, backend {run['backend']}, seed {run['seed']}")))
    else:  # no curve to draw: an older run's figure must not pass for this one's
        (output.path / "learning_curves.png").unlink(missing_ok=True)
    if status != "finished" and history.epoch and model is not None and vocab is not None:
        checkpoint = {"state_dict": model.state_dict(), "vocab": vocab.itos, "label_names": run["label_names"],
                      "settings": run["settings"], "backend": run["backend"], "epoch": history.best_epoch}
        paths.append(output.write_with("best_model.pt", lambda path: torch.save(checkpoint, path)))
    else:  # likewise for an older stopped run's model
        (output.path / "best_model.pt").unlink(missing_ok=True)
    return paths


def run(args) -> int:
    # everything that can be checked without the data is checked before any work
    settings = settings_from_args(args)
    files = {"--train-file": args.train_file, "--dev-file": args.dev_file, "--test-file": args.test_file}
    check_inputs(args.data_dir, args.encoding, files)
    dataset = args.dataset if args.train_file is None else f"file:{args.train_file}"
    name = args.dataset if args.train_file is None else "files"
    with OutputFolder(args.output or unused_folder(f"runs/{name}-{args.backend}-seed{args.seed}"),
                      args.overwrite) as output:
        splits = load_splits(args.dataset, args.data_dir, args.train_file, args.dev_file, args.test_file,
                             args.encoding, args.seed)
        print(f"{dataset}: {len(splits.train)} training, {len(splits.dev)} dev, {len(splits.test)} test sentences")
        print(data.describe_labels(splits))
        start = time.perf_counter()  # the time of the run proper, as train() measures it
        try:
            featured, vocab = prepare(splits, settings)
            model = build_model(len(vocab), len(splits.label_names), settings, args.backend, args.seed)
        except ValueError as error:
            raise UsageError(str(error)) from None
        about = {"dataset": dataset, "backend": args.backend, "seed": args.seed,
                 "label_names": list(splits.label_names), "vocab_size": len(vocab), "settings": asdict(settings)}
        try:
            history, dev, test = fit_and_evaluate(model, featured, vocab, settings, args.seed,
                                                  progress=not args.no_progress, desc=args.backend)
        except (Diverged, KeyboardInterrupt) as stop:
            history = getattr(stop, "history", None)
            if history is None:  # not from the training (a KeyboardInterrupt of some other origin)
                raise
            status = "diverged" if isinstance(stop, Diverged) else "interrupted"
            paths = _write_results(output, about, history, None, None, time.perf_counter() - start, status,
                                   model, vocab)
            kept = (f"the {len(history.epoch)} finished epoch{'s' if len(history.epoch) != 1 else ''} (best: "
                    f"{history.best_epoch}) are in {', '.join(map(str, paths))}" if history.epoch else
                    f"no epoch had finished: {paths[0]} records the settings")
            if isinstance(stop, Diverged):
                raise UsageError(f"{stop}; {kept}") from None
            print(f"in5550 train: interrupted: {kept}", file=sys.stderr)
            raise
        seconds = time.perf_counter() - start
        paths = _write_results(output, about, history, dev, test, seconds, "finished")
    test_text = f"{test.accuracy:.4f}" if test is not None else "n/a (no test split)"
    print(f"{dataset} backend={args.backend} seed={args.seed}: dev accuracy {dev.accuracy:.4f}, "
          f"test accuracy {test_text} (best epoch {history.best_epoch} of {len(history.epoch)}, {seconds:.1f} s)")
    print(f"wrote {' and '.join(map(str, paths))}")
    return 0
