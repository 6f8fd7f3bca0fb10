"""Datasets, files, tokenisation, vocabulary, batching and the download path of in5550.data."""

import doctest
import hashlib
import re
import http.server
import socket
import struct
import threading
import time

import pytest
import torch

from in5550 import data
from in5550.data import DataError, Example, Vocabulary


# ---------------------------------------------------------------------------------------------------------------
# The real datasets


def test_sst2_splits(shared_data_dir):
    splits = data.load_dataset("sst2", data_dir=shared_data_dir)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (6920, 872, 1821)
    assert splits.label_names == ("negative", "positive")
    assert splits.train[0] == Example(1, "a stirring , funny and finally transporting re-imagining of beauty and "
                                         "the beast and 1930s horror films".split())
    assert sum(example.label for example in splits.test) == 909


def test_trec_splits_hold_out_a_seeded_dev(shared_data_dir):
    splits = data.load_dataset("trec", data_dir=shared_data_dir, seed=0)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (4907, 545, 500)
    assert splits.label_names == ("DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM")
    assert splits.test[0] == Example(5, "how far is it from denver to aspen ?".split())
    everything = data.read_file(shared_data_dir / "trec" / "TREC.train.all", encoding="latin-1")
    assert sorted(map(repr, splits.train + splits.dev)) == sorted(map(repr, everything))
    assert data.load_dataset("trec", data_dir=shared_data_dir, seed=0).dev == splits.dev
    assert data.load_dataset("trec", data_dir=shared_data_dir, seed=1).dev != splits.dev


def test_trec_train_file_is_latin1(shared_data_dir):
    path = shared_data_dir / "trec" / "TREC.train.all"
    examples = data.read_file(path, encoding="latin-1")
    assert examples[65] == Example(4, "which city has the oldest relationship as a sister\u00f0city with los angeles ?"
                                   .split())
    with pytest.raises(DataError, match=r"TREC\.train\.all, line 66: not valid utf-8 \(byte 0xf0 .*latin-1"):
        data.read_file(path)


def test_sample_ships_with_the_package():
    splits = data.load_dataset("sample", data_dir="/nonexistent")  # packaged: the data directory plays no part
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (36, 10, 10)
    labels = [example.label for split in splits[:3] for example in split]
    assert labels.count(0) == labels.count(1) == 28
    assert data.dataset_paths("sample")["train"] == data.PACKAGE_DIR / "sample" / "train.tsv"


def test_unknown_dataset_and_bad_dev_fraction():
    with pytest.raises(ValueError, match=r"load_dataset: unknown dataset 'sst5'; choose one of sst2, trec, sample"):
        data.load_dataset("sst5")
    with pytest.raises(ValueError, match=r"dev_fraction must be strictly between 0 and 1, got 1\.5"):
        data.load_dataset("trec", dev_fraction=1.5)  # checked before any file is looked for
    with pytest.raises(ValueError, match=r"load_files: dev_fraction must be strictly between 0 and 1, got 0"):
        data.load_files("/nonexistent", dev_fraction=0)


def test_module_examples_run():
    result = doctest.testmod(data)
    assert result.attempted >= 10 and result.failed == 0


# ---------------------------------------------------------------------------------------------------------------
# Files and tokenisation


def write(tmp_path, text, name="file.tsv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_read_file_formats(tmp_path):
    expected = [Example(1, ["a", "fine", "film", "!"]), Example(0, ["dull", "."])]
    tab = write(tmp_path, "1\tA fine film!\n0\tDull.\n")
    space = write(tmp_path, "1 A fine film!\n0 Dull.", name="space.txt")  # no final newline
    windows = write(tmp_path, "\ufeff1\tA fine film!\r\n0\tDull.\r\n", name="windows.tsv")  # BOM, CRLF
    old_mac = write(tmp_path, "1\tA fine film!\r0\tDull.\r", name="mac.tsv")  # a lone CR ends each line
    for path in (tab, space, windows, old_mac):
        assert data.read_file(path) == expected
    latin1 = write(tmp_path, "1\tCaf\u00e9 cr\u00e8me, tr\u00e8s bien\n", encoding="latin-1")
    assert data.read_file(latin1, encoding="latin-1") == [Example(1, ["café", "crème", ",", "très", "bien"])]


@pytest.mark.parametrize("content, line, message", [
    ("1\tgood\n\n0\tbad\n", 2, "blank line"),
    ("1\tgood\n   \t\n", 2, "blank line"),
    ("a dull film\n", 1, "label 'a' is not an integer"),
    ("1\tgood\n1.5\tfine\n", 2, "label '1.5' is not an integer"),
    ("-1\tbad\n", 1, r"label -1 is out of range \(allowed: >= 0\)"),
    ("1\tgood\n0\n", 2, "label 0 has no text after it"),
    ("1\t  \n", 1, "label 1 has no text after it"),
    (b"1\tgood\n0\tcr\xe8me\n", 2, r"not valid utf-8 \(byte 0xe8 at column 5\)"),
    ("1\tgood\n\t5 stars for this film\n", 2, r"empty label \(the line starts with a tab\)"),
    (" 1 good\n", 1, r"empty label \(the line starts with a space\)"),
    ("1_0\tgood\n", 1, r"label '1_0' is not an integer \(digits 0-9 only\)"),  # int() reads it as 10
    ("+1\tgood\n", 1, r"label '\+1' is not an integer"),
    ("\u0661\tgood\n", 1, r"label '\u0661' is not an integer"),  # an Arabic-Indic one, which int() takes
    ("1\tgood\r\r0\tbad\r", 2, "blank line"),  # a lone CR ends a line, so CR CR is an empty line
])
def test_malformed_lines_name_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError, match=rf"read_file: .*file\.tsv, line {line}: {message}"):
        data.read_file(path)


def test_label_out_of_range_for_the_dataset(tmp_path):
    path = write(tmp_path, "0\tok\n2\tthree classes?\n")
    assert [example.label for example in data.read_file(path)] == [0, 2]
    with pytest.raises(DataError, match=r"line 2: label 2 is out of range \(allowed: 0 \.\. 1\)"):
        data.read_file(path, num_classes=2)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match=r"read_file: no such file: .*nothing\.tsv"):
        data.read_file(tmp_path / "nothing.tsv")
    with pytest.raises(DataError, match=r"empty\.tsv has no examples"):
        data.read_file(write(tmp_path, "", name="empty.tsv"))


def test_load_files_holds_out_dev_and_names_classes(tmp_path):
    train = write(tmp_path, "".join(f"{i % 3}\tsentence number {i}\n" for i in range(20)), name="train.tsv")
    test = write(tmp_path, "2\tthe third class\n", name="test.tsv")
    splits = data.load_files(train, test_file=test, dev_fraction=0.25, seed=3)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (15, 5, 1)
    assert splits.label_names == ("0", "1", "2")  # the classes of the training file
    unseen = write(tmp_path, "4\ta class the training file never has\n", name="unseen.tsv")
    with pytest.raises(DataError, match=r"unseen\.tsv, line 1: label 4 is out of range \(allowed: 0 \.\. 2\)"):
        data.load_files(train, test_file=unseen)
    assert sorted(map(repr, splits.train + splits.dev)) == sorted(map(repr, data.read_file(train)))
    assert data.load_files(train, dev_fraction=0.25, seed=3).dev == splits.dev
    assert data.load_files(train, dev_fraction=0.25, seed=4).dev != splits.dev
    assert data.load_files(train, dev_file=test).test == []
    with pytest.raises(ValueError, match=r"load_files: dev_fraction=0\.01 of 20 .* leaves 0 for dev"):
        data.load_files(train, dev_fraction=0.01)


@pytest.mark.parametrize("text, tokens", [
    ("What a \"clever,\" funny film (really)!", ["what", "a", '"', "clever", ",", '"', "funny", "film", "(",
                                               "really", ")", "!"]),
    ("Don't miss Mr. Smith's re-imagining.", ["don't", "miss", "mr.", "smith's", "re-imagining", "."]),
    ("wait for it ...", ["wait", "for", "it", "..."]),
    ("the u.s. army , -lrb- 2002 -rrb- wo n't", ["the", "u.s.", "army", ",", "-lrb-", "2002", "-rrb-", "wo", "n't"]),
    ("  \t ", []),
])
def test_tokenize(text, tokens):
    assert data.tokenize(text) == tokens


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary and batching


def test_vocabulary_frequency_cut_off_and_specials():
    texts = [["a", "good", "film"], ["a", "bad", "film"], ["a", "film", "<unk>"]]
    vocab = Vocabulary.build(texts)
    assert vocab.itos == ["<pad>", "<unk>", "a", "film", "bad", "good"]  # by count, ties alphabetical
    assert (vocab.pad_index, vocab.unk_index, len(vocab)) == (0, 1, 6)
    assert vocab.stoi["good"] == 5 and vocab.encode(["good", "awful", "a"]) == [5, 1, 2]
    assert Vocabulary.build(texts, min_freq=2).itos == ["<pad>", "<unk>", "a", "film"]
    assert Vocabulary.build(texts, max_size=3).itos == ["<pad>", "<unk>", "a"]
    assert Vocabulary.build(iter(texts)).itos == vocab.itos  # a generator works as well as a list


@pytest.mark.parametrize("call, message", [
    (lambda: Vocabulary.build([["a"]], min_freq=0), r"Vocabulary\.build: min_freq must be an integer >= 1, got 0"),
    (lambda: Vocabulary.build([["a"]], max_size=1), r"Vocabulary\.build: max_size must be None or an integer >= 2"),
    (lambda: Vocabulary.build(["a good film"]), r"token_lists must hold lists of tokens, got the string 'a good"),
    (lambda: Vocabulary(["a", "<unk>"]), r"Vocabulary: itos must start with '<pad>', '<unk>', got \['a', '<unk>'\]"),
    (lambda: Vocabulary(["<pad>", "<unk>", "a", "a"]), r"Vocabulary: itos has duplicate tokens \['a'\]"),
])
def test_vocabulary_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


EXAMPLES = [Example(1, ["a", "good", "film"]), Example(0, ["bad"]), Example(1, ["good", "unseen", "film", "a"])]
VOCAB = Vocabulary(["<pad>", "<unk>", "a", "good", "film", "bad"])


def test_bag_batch_offsets():
    ids, offsets, labels = data.bag_batch(EXAMPLES, VOCAB)
    assert ids.tolist() == [2, 3, 4, 5, 3, 1, 4, 2]
    assert offsets.tolist() == [0, 3, 4]
    assert labels.tolist() == [1, 0, 1]
    assert ids.dtype == offsets.dtype == labels.dtype == torch.long


def test_padded_batch_pads_at_the_end():
    ids, labels = data.padded_batch(EXAMPLES, VOCAB)
    assert ids.tolist() == [[2, 3, 4, 0], [5, 0, 0, 0], [3, 1, 4, 2]]
    assert labels.tolist() == [1, 0, 1] and ids.dtype == torch.long


def test_bag_and_padded_forms_give_the_same_mean_embeddings():
    weight = torch.randn(len(VOCAB), 5, dtype=torch.float64)
    ids, offsets, _ = data.bag_batch(EXAMPLES, VOCAB)
    bags = torch.nn.functional.embedding_bag(ids, weight, offsets, mode="mean")
    padded, _ = data.padded_batch(EXAMPLES, VOCAB)
    mask = (padded != VOCAB.pad_index).unsqueeze(-1)
    means = (weight[padded] * mask).sum(1) / mask.sum(1)
    assert torch.allclose(bags, means)


@pytest.mark.parametrize("make", [data.bag_batch, data.padded_batch])
def test_batch_bad_examples(make):
    with pytest.raises(ValueError, match=rf"{make.__name__}: examples is empty"):
        make([], VOCAB)
    with pytest.raises(ValueError, match=rf"{make.__name__}: examples\[1\] has no tokens"):
        make([EXAMPLES[0], Example(0, [])], VOCAB)


def test_batches_sizes_order_and_shuffle():
    examples = [Example(i % 2, ["a"] * (i + 1)) for i in range(10)]
    padded = list(data.batches(examples, VOCAB, batch_size=4, form="padded"))
    assert [ids.shape for ids, _ in padded] == [(4, 4), (4, 8), (2, 10)]
    bags = list(data.batches(examples, VOCAB, batch_size=4))
    assert [offsets.tolist() for _, offsets, _ in bags] == [[0, 1, 3, 6], [0, 5, 11, 18], [0, 9]]

    def lengths(seed):
        generator = torch.Generator().manual_seed(seed)
        return [len(row[row != 0]) for ids, _ in data.batches(examples, VOCAB, 3, shuffle=True, generator=generator,
                                                                 form="padded") for row in ids]
    assert lengths(0) == lengths(0) != lengths(1)
    assert sorted(lengths(0)) == list(range(1, 11))


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"batches: batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.5}, r"batches: batch_size must be a positive integer, got 2\.5"),
    ({"batch_size": 2, "form": "packed"}, r"batches: form must be one of 'bag', 'padded', got 'packed'"),
])
def test_batches_bad_arguments_fail_at_the_call(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.batches(EXAMPLES, VOCAB, **kwargs)  # no next(): the check must not wait for the first batch


# ---------------------------------------------------------------------------------------------------------------
# Data directory and downloads


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("IN5550_DATA_DIR", raising=False)
    assert data.data_dir() == tmp_path / "home" / ".cache" / "in5550"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_dir() == tmp_path / "xdg" / "in5550"
    monkeypatch.setenv("IN5550_DATA_DIR", str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    assert data.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data.dataset_paths("trec")["test"] == tmp_path / "env" / "trec" / "TREC.test.all"


class _Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes] = {}
    how: dict[str, str] = {}  # file name -> "reset", "truncate", "trickle" or "meet" (default: send it whole)
    meet: threading.Barrier

    def handle_error(self, request, client_address):  # a client that gave up is part of the test
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.lstrip("/")
        body, how = self.server.files.get(name), self.server.how.get(name)
        if body is None:
            self.send_error(404)
            return
        if how == "reset":  # close at once with a TCP reset, before any answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if how == "truncate":  # half the promised bytes, then the connection closes
            self.wfile.write(body[: len(body) // 2])
        elif how == "trickle":  # one byte every 0.2 s
            for index in range(len(body)):
                self.wfile.write(body[index: index + 1])
                self.wfile.flush()
                time.sleep(0.2)
        elif how == "meet":  # half, then wait until a second download of the file has got its half too
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.meet.wait(timeout=60)
            self.wfile.write(body[len(body) // 2:])
        else:
            self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 serving ``server.files`` (file name -> bytes); yields it, with ``.url``."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.how, httpd.meet = {}, {}, threading.Barrier(2)
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


TRAIN, TEST = b"1\tA lovely film.\n0\tA dull film.\n1\tLovely!\n", b"0\tDull.\n1\tLovely, lovely.\n"


@pytest.fixture
def tiny(monkeypatch, server):
    """A two-file dataset "tiny" registered for the test, its files on the local server."""
    server.files.update({"tiny.train": TRAIN, "tiny.test": TEST})
    spec = data.DatasetSpec(
        name="tiny", title="tiny", folder="tiny", label_names=("neg", "pos"), url=server.url,
        files={"train": data.DataFile("tiny.train", hashlib.sha256(TRAIN).hexdigest()),
               "test": data.DataFile("tiny.test", hashlib.sha256(TEST).hexdigest())})
    monkeypatch.setitem(data.DATASETS, "tiny", spec)
    monkeypatch.delenv("IN5550_DATA_URL", raising=False)
    monkeypatch.delenv("IN5550_DOWNLOAD_DEADLINE", raising=False)
    return spec


def test_download_verifies_and_moves_files_into_place(tiny, tmp_path):
    splits = data.load_dataset("tiny", data_dir=tmp_path, dev_fraction=0.34)
    assert (tmp_path / "tiny" / "tiny.train").read_bytes() == TRAIN
    assert sorted(path.name for path in (tmp_path / "tiny").iterdir()) == ["tiny.test", "tiny.train"]
    assert (len(splits.train), len(splits.dev), splits.test) == (2, 1, data.read_file(tmp_path / "tiny/tiny.test"))
    (tmp_path / "tiny" / "tiny.test").unlink()
    assert data.download("tiny", tmp_path)["test"].read_bytes() == TEST  # only the missing file is fetched


def test_checksum_mismatch_deletes_the_download(tiny, server, tmp_path):
    server.files["tiny.test"] = TEST.replace(b"Dull", b"Dire")
    actual = hashlib.sha256(server.files["tiny.test"]).hexdigest()
    expected = tiny.files["test"].sha256
    with pytest.raises(DataError, match=rf"SHA-256 mismatch for tiny\.test .*expected {expected}, got {actual}"):
        data.load_dataset("tiny", data_dir=tmp_path)
    assert sorted(path.name for path in (tmp_path / "tiny").iterdir()) == ["tiny.train"]  # no .part, no test


def test_damaged_local_file_is_reported_not_deleted(tiny, tmp_path):
    data.download("tiny", tmp_path)
    damaged = tmp_path / "tiny" / "tiny.train"
    damaged.write_bytes(TRAIN[:-5])
    with pytest.raises(DataError, match=rf"tiny\.train: SHA-256 mismatch for dataset 'tiny': "
                                        rf"expected {tiny.files['train'].sha256}, got {data.sha256sum(damaged)}"):
        data.load_dataset("tiny", data_dir=tmp_path)
    assert damaged.read_bytes() == TRAIN[:-5]


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_network_says_where_to_put_which_files(tiny, monkeypatch, tmp_path):
    url = f"http://127.0.0.1:{unused_port()}"
    monkeypatch.setenv("IN5550_DATA_URL", url)  # connection refused: as good as no network
    with pytest.raises(DataError) as error:
        data.load_dataset("tiny", data_dir=tmp_path)
    message = str(error.value)
    assert f"could not download {url}/tiny.train" in message and "refused" in message.lower()
    for name in ("tiny.train", "tiny.test"):
        assert f"{tmp_path / 'tiny' / name}  <-  {url}/{name}" in message
    assert list((tmp_path / "tiny").iterdir()) == []


def test_missing_file_on_the_server_and_download_off(tiny, server, tmp_path):
    del server.files["tiny.test"]
    with pytest.raises(DataError, match=r"could not download .*/tiny\.test \(HTTP Error 404: .*\)"):
        data.load_dataset("tiny", data_dir=tmp_path)
    (tmp_path / "tiny" / "tiny.train").unlink()
    with pytest.raises(DataError, match=r"(?s)dataset 'tiny' is not in .*tiny and download is off.*tiny\.train  <-  http"):
        data.load_dataset("tiny", data_dir=tmp_path, download=False)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_download_real_sst2_from_a_mirror(shared_data_dir, server, monkeypatch, tmp_path):
    for path in (shared_data_dir / "sst2").iterdir():
        server.files[path.name] = path.read_bytes()
    monkeypatch.setenv("IN5550_DATA_URL", server.url)
    splits = data.load_dataset("sst2", data_dir=tmp_path)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (6920, 872, 1821)
    assert (tmp_path / "sst2" / "stsa.binary.dev").read_bytes() == (shared_data_dir / "sst2/stsa.binary.dev").read_bytes()


def leftovers(folder):
    """Temporary files of downloads left in ``folder`` (there must be none)."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".") or path.suffix == ".part")


@pytest.mark.parametrize("how, message", [
    ("truncate", r"could not download .*/tiny\.train \(the connection closed before the end of the file, 21 bytes "
                 r"short; try again\)"),
    ("reset", r"could not download .*/tiny\.train \(.*(reset|closed).*\)"),
])
def test_a_download_cut_off_is_a_clear_error(tiny, server, tmp_path, how, message):
    server.how["tiny.train"] = how
    with pytest.raises(DataError, match=message) as error:
        data.load_dataset("tiny", data_dir=tmp_path)
    assert str(tmp_path / "tiny" / "tiny.train") in str(error.value)  # where to put it by hand
    assert not (tmp_path / "tiny" / "tiny.train").exists() and leftovers(tmp_path / "tiny") == []


def test_a_trickling_server_meets_the_deadline(tiny, server, monkeypatch, tmp_path):
    server.how["tiny.train"] = "trickle"  # 42 bytes, one every 0.2 s
    monkeypatch.setenv("IN5550_DOWNLOAD_DEADLINE", "0.5")
    with pytest.raises(DataError, match=r"could not download .*/tiny\.train within the deadline of 0\.5 s "
                                        r"\(received \d+ B of 42 B.*\): .*IN5550_DOWNLOAD_DEADLINE=<seconds>"):
        data.load_dataset("tiny", data_dir=tmp_path)
    assert leftovers(tmp_path / "tiny") == [] and not (tmp_path / "tiny" / "tiny.train").exists()


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_a_bad_deadline_setting_is_named(tiny, monkeypatch, tmp_path, value):
    monkeypatch.setenv("IN5550_DOWNLOAD_DEADLINE", value)
    with pytest.raises(DataError, match=rf"IN5550_DOWNLOAD_DEADLINE='{value}' is not a positive number of seconds"):
        data.load_dataset("tiny", data_dir=tmp_path)
    assert data.download_deadline.__doc__ and not (tmp_path / "tiny").exists()


def test_two_downloads_into_one_empty_folder_both_succeed(tiny, server, tmp_path):
    server.how["tiny.train"] = "meet"  # neither download can finish before the other has begun
    outcomes = {}

    def fetch(name):
        try:
            outcomes[name] = data.download("tiny", tmp_path)
        except Exception as error:  # reported below
            outcomes[name] = error

    threads = [threading.Thread(target=fetch, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(outcome, dict) for outcome in outcomes.values()) and len(outcomes) == 2, outcomes
    assert (tmp_path / "tiny" / "tiny.train").read_bytes() == TRAIN
    assert (tmp_path / "tiny" / "tiny.test").read_bytes() == TEST
    assert leftovers(tmp_path / "tiny") == []


def test_the_progress_line_shows_the_speed(tiny, tmp_path, capsys):
    data.download("tiny", tmp_path)
    err = capsys.readouterr().err
    assert "tiny.train" in err and re.search(r"\d[\d.]* ?[kMG]?B/s", err), err


@pytest.mark.parametrize("url, why", [
    ("ht tp://mirror/data", "spaces or control characters"),
    ("mirror.example.org/data", "the scheme must be one of http, https, ftp, file, got 'none'"),
    ("gopher://mirror/data", "got 'gopher'"),
    ("http:///data", "it names no host"),
    ("http://mirror:port/data", "Port could not be cast to integer value"),
    ("http://[::1/data", "Invalid IPv6 URL"),
])
def test_a_bad_mirror_address_is_named(tiny, monkeypatch, tmp_path, url, why):
    monkeypatch.setenv("IN5550_DATA_URL", url)
    with pytest.raises(DataError, match=rf"IN5550_DATA_URL='{re.escape(url)}' is not a usable address \(.*"
                                        rf"{re.escape(why)}.*\); set it to the base address of a mirror"):
        data.load_dataset("tiny", data_dir=tmp_path)


def test_a_data_folder_that_cannot_be_made_is_named(tiny, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DataError, match=r"cannot create or write the data folder .*file/tiny \(.*\); set "
                                        r"IN5550_DATA_DIR or --data-dir to a folder you can write to"):
        data.load_dataset("tiny", data_dir=tmp_path / "file")


def test_a_folder_in_place_of_a_dataset_file(tiny, tmp_path):
    (tmp_path / "tiny" / "tiny.train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"tiny\.train is a folder, not a file"):
        data.load_dataset("tiny", data_dir=tmp_path)


def test_ctrl_c_during_a_download_leaves_no_temporary_file(tiny, monkeypatch, tmp_path):
    def interrupted(self, n=1):
        raise KeyboardInterrupt
    monkeypatch.setattr(data.tqdm, "update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.download("tiny", tmp_path)
    assert list((tmp_path / "tiny").iterdir()) == []
