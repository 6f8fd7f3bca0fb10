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

Same seed and backend give the same numbers on the CPU, run after run.

Example::

    >>> from in5550 import data, train
    >>> result = train.train(data.load_dataset("sample"), train.DEFAULTS["sample"], "custom", seed=0, progress=False)
    >>> 0.0 <= result.test.accuracy <= 1.0
    True
"""

from __future__ import annotations

import copy
import json
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
        if not all(isinstance(h, int) and h >= 1 for h in self.hidden_dims):
            raise ValueError(f"Settings: hidden_dims must be positive integers, got {list(self.hidden_dims)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Settings: dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0.0:
            raise ValueError(f"Settings: lr must be positive, got {self.lr!r}")
        if not self.weight_decay >= 0.0:
            raise ValueError(f"Settings: weight_decay must be >= 0, got {self.weight_decay!r}")


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
        for size in range(2, n + 1):
            tokens += [" ".join(example.tokens[i: i + size]) for i in range(len(example.tokens) - size + 1)]
        out.append(data.Example(example.label, tokens))
    return out


def prepare(splits: data.Splits, settings: Settings) -> tuple[data.Splits, data.Vocabulary]:
    """The splits with n-gram features, and the vocabulary of the training split (``settings.min_freq``)."""
    featured = data.Splits(*(with_ngrams(split, settings.ngrams) for split in splits[:3]), splits.label_names)
    vocab = data.Vocabulary.build((example.tokens for example in featured.train), min_freq=settings.min_freq)
    return featured, vocab


def build_model(vocab_size: int, num_classes: int, settings: Settings, backend: str, seed: int) -> MLPClassifier:
    """An :class:`MLPClassifier` initialised from ``torch.manual_seed(seed)``: the same parameters for both
    backends."""
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


def fit(model: MLPClassifier, train_examples: Sequence[data.Example], dev_examples: Sequence[data.Example],
        vocab: data.Vocabulary, optimizer: torch.optim.Optimizer, *, epochs: int, batch_size: int, patience: int,
        seed: int = 0, progress: bool = True, desc: str = "training") -> History:
    """Train ``model`` with ``optimizer`` for at most ``epochs`` epochs; keep the parameters of the epoch with the
    best dev accuracy, stopping once ``patience`` epochs in a row have not beaten it.

    Each step: forward the batch, :meth:`MLPClassifier.loss`, backward, ``optimizer.step()``. The batch order
    comes from a generator seeded with ``seed``, and the global generator (dropout) is seeded with it too, so
    the run is reproducible. ``progress`` shows a tqdm bar over the epochs.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    history, best_state = History(), None
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        loss_sum, correct = 0.0, 0
        for ids, offsets, labels in data.batches(train_examples, vocab, batch_size, shuffle=True, generator=order):
            logits = model(ids, offsets)
            loss = model.loss(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        dev = evaluate(model, dev_examples, vocab)
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
    bar.close()
    model.load_state_dict(best_state)
    return history


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
    and test: the history and both evaluations (``None`` for an empty test split)."""
    history = fit(model, featured.train, featured.dev, vocab, make_optimizer(model, settings),
                  epochs=settings.epochs, batch_size=settings.batch_size, patience=settings.patience, seed=seed,
                  progress=progress, desc=desc)
    dev = evaluate(model, featured.dev, vocab)
    return history, dev, evaluate(model, featured.test, vocab) if featured.test else None


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
# in5550 train


def load_splits(dataset: str | None, data_dir=None, train_file=None, dev_file=None, test_file=None,
                encoding: str = "utf-8", seed: int = 0) -> data.Splits:
    """The splits for the command line: the registered ``dataset``, with any of its splits replaced by the given
    files; with ``train_file``, the files alone (dev held out from train when ``dev_file`` is absent).

    Raises :class:`UsageError` for a missing file, an unreadable or malformed one, or a dataset that cannot be
    found or fetched, so that the command line reports it on one line."""
    for option, path in (("--train-file", train_file), ("--dev-file", dev_file), ("--test-file", test_file)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{option}: no such file: {path}")
    try:
        if train_file is not None:
            return data.load_files(train_file, dev_file, test_file, encoding=encoding, seed=seed)
        splits = data.load_dataset(dataset, data_dir=data_dir)
        num_classes = len(splits.label_names)
        dev = data.read_file(dev_file, encoding, num_classes) if dev_file else splits.dev
        test = data.read_file(test_file, encoding, num_classes) if test_file else splits.test
        return data.Splits(splits.train, dev, test, splits.label_names)
    except data.DataError as error:
        raise UsageError(" ".join(str(error).split())) from None


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="sst2", choices=sorted(data.DATASETS),
                        help="registered dataset to train on (default sst2); with --train-file it only picks the "
                             "default settings")
    parser.add_argument("--backend", default="custom", choices=sorted(BACKENDS),
                        help="custom: our nodes (in5550.functional); torch: torch.nn.functional (default custom)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and dropout (default 0)")
    parser.add_argument("--data-dir", help="folder of the datasets (default $IN5550_DATA_DIR, else a per-user cache)")
    parser.add_argument("--train-file", help="your own training data: one '<label><TAB><text>' a line")
    parser.add_argument("--dev-file", help="dev data in the same format (default: 10%% of train held out)")
    parser.add_argument("--test-file", help="test data in the same format")
    parser.add_argument("--encoding", default="utf-8", help="encoding of your files (default utf-8)")
    parser.add_argument("--output", help="folder for metrics.json and learning_curves.png "
                                         "(default runs/<dataset>-<backend>-seed<N>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = parser.add_argument_group("settings", "each defaults to the dataset's value in in5550.train.DEFAULTS")
    for setting in fields(Settings):
        flag = "--" + setting.name.replace("_", "-")
        if setting.name == "hidden_dims":
            defaults.add_argument(flag, type=int, nargs="*", metavar="H",
                                  help="hidden layer sizes, e.g. '--hidden-dims 64 64'; none for a linear model")
        else:
            per_dataset = ", ".join(f"{name} {getattr(value, setting.name)}" for name, value in DEFAULTS.items())
            defaults.add_argument(flag, type=float if setting.type == "float" else int, help=per_dataset)


def settings_from_args(args) -> Settings:
    """The dataset's :data:`DEFAULTS`, with the settings given on the command line replacing them."""
    given = {f.name: getattr(args, f.name) for f in fields(Settings) if getattr(args, f.name) is not None}
    try:
        return replace(DEFAULTS[args.dataset], **given)
    except ValueError as error:
        raise UsageError(str(error)) from None


def run(args) -> int:
    settings = settings_from_args(args)
    splits = load_splits(args.dataset, args.data_dir, args.train_file, args.dev_file, args.test_file,
                         args.encoding, args.seed)
    dataset = args.dataset if args.train_file is None else f"file:{args.train_file}"
    name = args.dataset if args.train_file is None else "files"
    output = Path(args.output or f"runs/{name}-{args.backend}-seed{args.seed}")
    result = train(splits, settings, args.backend, args.seed, progress=not args.no_progress)
    test_accuracy = result.test.accuracy if result.test else None
    metrics = {
        "dataset": dataset,
        "backend": args.backend,
        "seed": args.seed,
        "dev_accuracy": result.dev.accuracy,
        "dev_macro_f1": result.dev.macro_f1,
        "test_accuracy": test_accuracy,
        "test_macro_f1": result.test.macro_f1 if result.test else None,
        "test_confusion": result.test.confusion if result.test else None,
        "label_names": list(splits.label_names),
        "epochs": len(result.history.epoch),
        "best_epoch": result.history.best_epoch,
        "seconds": result.seconds,
        "vocab_size": len(result.vocab),
        "settings": asdict(settings),
        "history": asdict(result.history),
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_histories({args.backend: result.history}, output / "learning_curves.png",
                   title=f"{dataset}, backend {args.backend}, seed {args.seed}")
    test_text = f"{test_accuracy:.4f}" if test_accuracy is not None else "n/a (no test split)"
    print(f"{dataset} backend={args.backend} seed={args.seed}: dev accuracy {result.dev.accuracy:.4f}, "
          f"test accuracy {test_text} (best epoch {result.history.best_epoch} of {len(result.history.epoch)}, "
          f"{result.seconds:.1f} s)")
    print(f"wrote {output / 'metrics.json'} and {output / 'learning_curves.png'}")
    return 0
