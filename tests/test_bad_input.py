"""Bad input to `in5550 train`, `in5550 demo` and the data they read: every case a one-line error with exit
status 2 raised before the work starts where it can be, no silently wrong number, no lost result.

Grouped by kind: arguments checked before any work; divergence and strict JSON; label sets; output folders and
two runs to one folder; Ctrl-C. The download path (deadline, cut-off transfers, concurrent downloads) is tested
in test_data.py, next to its local HTTP server.
"""

import json
import math
import os
import re
import socket
import stat
import time
from dataclasses import replace

import pytest
import torch

from in5550 import cli, data, demo, train
from in5550.data import DataError, Example
from in5550.errors import UsageError

FAST = ["--no-progress", "--epochs", "2"]


def parse(*argv):
    """The parsed arguments of ``in5550 ...``, to call a command's ``run`` directly (so that a KeyboardInterrupt
    reaches the test, whatever the command line makes of it)."""
    return cli.build_parser(argv[0]).parse_args(list(argv))


def fails(capsys, *argv) -> str:
    """Run ``in5550 *argv``, check that it exits with status 2 and one line on stderr, and return that line."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err.strip()


@pytest.fixture
def no_work(monkeypatch):
    """Make any start of real work (reading the data) fail the test: the error must come before it."""
    def started(*args, **kwargs):
        raise AssertionError("the work started before the bad argument was reported")
    monkeypatch.setattr(train, "load_splits", started)
    monkeypatch.setattr(demo, "load_sst2_or_sample", started)


def write(path, text):
    path.write_text(text)
    return path


def tsv(lines):
    return "".join(f"{label}\t{text}\n" for label, text in lines)


GOOD = [(i % 2, f"{'a fine' if i % 2 else 'a dull'} film number {i}") for i in range(20)]


# ---------------------------------------------------------------------------------------------------------------
# Arguments that can be checked before any work


@pytest.mark.parametrize("command", ["train", "demo"])
def test_an_output_that_is_a_file_or_below_one_is_refused_first(tmp_path, capsys, no_work, command):
    write(tmp_path / "file", "mine")
    line = fails(capsys, command, "--output", str(tmp_path / "file"))
    assert line == f"in5550 {command}: error: --output {tmp_path / 'file'}: is an existing file; give the name of a " \
                   "folder for the results"
    line = fails(capsys, command, "--output", str(tmp_path / "file" / "run"))
    assert f"{tmp_path / 'file'} is a file, so no folder can be made below it" in line
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("command", ["train", "demo"])
def test_a_non_empty_output_folder_is_refused_unless_overwrite(tmp_path, capsys, no_work, command):
    (tmp_path / "run").mkdir()
    write(tmp_path / "run" / "notes.txt", "keep me")
    line = fails(capsys, command, "--output", str(tmp_path / "run"))
    assert line.endswith(f"--output {tmp_path / 'run'}: the folder is not empty (notes.txt); pass --overwrite to "
                         "replace its results, or choose another --output")
    assert sorted(os.listdir(tmp_path / "run")) == ["notes.txt"]  # no marker left behind


def test_an_unwritable_current_folder_for_the_default_runs(tmp_path, capsys, monkeypatch, no_work):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: let the system refuse as it would refuse anyone else
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            if os.path.dirname(os.path.abspath(path)) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real_mkdir(path, *args, **kwargs)
        monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.chdir(locked)
    try:
        line = fails(capsys, "train", "--dataset", "sample")
    finally:
        locked.chmod(0o755)
    assert line == ("in5550 train: error: --output runs/sample-custom-seed0: cannot create the folder (Permission "
                    "denied); run the command in a folder you can write to, or choose another --output")


@pytest.mark.parametrize("argv, message", [
    (["--seed", str(2**70)], f"argument --seed: {2**70} is out of range: a seed is an integer in 0 .. 2**64 - 1"),
    (["--seed", "-1"], "argument --seed: -1 is out of range"),  # torch would read -1 as 2**64 - 1
    (["--seed", "1_0"], "argument --seed: invalid int value: '1_0'"),
    (["--lr", "inf"], "Settings: lr must be finite, got inf"),
    (["--lr", "nan"], "Settings: lr must be positive, got nan"),
    (["--lr=-1e-3"], "Settings: lr must be positive, got -0.001"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--weight-decay", "inf"], "Settings: weight_decay must be finite, got inf"),
    (["--weight-decay", "nan"], "Settings: weight_decay must be >= 0, got nan"),
    (["--dropout", "nan"], "Settings: dropout must be in [0, 1), got nan"),
    (["--dropout=-inf"], "Settings: dropout must be in [0, 1), got -inf"),
    (["--epochs", "1e3"], "argument --epochs: invalid int value: '1e3'"),
    (["--epochs", "-5"], "Settings: epochs must be a positive integer, got -5"),
    (["--batch-size", "0"], "Settings: batch_size must be a positive integer, got 0"),
    (["--hidden-dims", "64", "0"], "Settings: hidden_dims must be positive integers, got [64, 0]"),
    (["--encoding", "klingon"], "--encoding: unknown encoding 'klingon'; use e.g. utf-8 or latin-1"),
    (["--encoding", "utf-16"], "--encoding: encoding 'utf-16' is not ASCII-compatible"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, capsys, no_work, argv, message):
    line = fails(capsys, "train", "--dataset", "sample", "--output", str(tmp_path / "run"), *argv)
    assert line.startswith("in5550 train: error: ") and message in line
    assert not (tmp_path / "run").exists()


def test_bad_file_arguments_are_refused_before_any_work(tmp_path, capsys, monkeypatch, no_work):
    (tmp_path / "folder.tsv").mkdir()
    unreadable = write(tmp_path / "secret.tsv", tsv(GOOD))
    unreadable.chmod(0)
    if os.geteuid() == 0:  # root reads anything: let the system refuse as it would refuse anyone else
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(unreadable)
                            else real_access(path, mode, **kw))
    out = ["--output", str(tmp_path / "run")]
    for option in ("--train-file", "--dev-file", "--test-file"):
        assert fails(capsys, "train", option, str(tmp_path / "folder.tsv"), *out).endswith(
            f"{option}: {tmp_path / 'folder.tsv'} is a folder, not a file")
        assert fails(capsys, "train", option, str(unreadable), *out).endswith(
            f"{option}: cannot read {unreadable} (permission denied)")
        assert fails(capsys, "train", option, str(tmp_path / "none.tsv"), *out).endswith(
            f"{option}: no such file: {tmp_path / 'none.tsv'}")
    with pytest.raises(DataError, match=r"read_file: .*folder\.tsv is a folder, not a file"):
        data.read_file(tmp_path / "folder.tsv")
    with pytest.raises(DataError, match=r"read_file: cannot read .*secret\.tsv \(permission denied\)"):
        data.read_file(unreadable)
    write(tmp_path / "data-file", "")
    assert fails(capsys, "train", "--data-dir", str(tmp_path / "data-file"), *out).endswith(
        f"--data-dir {tmp_path / 'data-file'} is a file; give the folder of the datasets")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "demo"])
@pytest.mark.parametrize("url", ["not a url", "mirror.example.org/data", "http://", "http://host:99999/data"])
def test_a_bad_mirror_address_is_refused_before_any_work(tmp_path, capsys, monkeypatch, no_work, command, url):
    monkeypatch.setenv("IN5550_DATA_URL", url)
    line = fails(capsys, command, "--output", str(tmp_path / "run"))
    assert f"IN5550_DATA_URL={url!r} is not a usable address (" in line
    assert not (tmp_path / "run").exists()


def test_demo_refuses_a_seed_out_of_range(capsys, no_work):
    assert "argument --seed: 1180591620717411303424 is out of range" in fails(capsys, "demo", "--seed", str(2**70))


def test_library_seed_and_model_size_checks():
    with pytest.raises(ValueError, match=r"build_model: seed must be an integer in 0 \.\. 2\*\*64 - 1, got -1"):
        train.build_model(10, 2, train.DEFAULTS["sample"], "custom", seed=-1)
    huge = replace(train.DEFAULTS["sample"], embedding_dim=10**6)
    with pytest.raises(ValueError, match=r"^build_model: the model would have 1,064,000,194 parameters \(4\.3 GB .*"
                                         r"allowed; choose smaller sizes or a larger min_freq$"):
        train.build_model(1000, 2, huge, "custom", seed=0)
    # a long n-gram setting costs nothing more than the sentence allows (it used to loop over every size)
    assert train.with_ngrams([Example(0, ["a", "b"])], 2**70) == [Example(0, ["a", "b", "a b"])]


def test_seeds_at_both_ends_of_the_range_and_beyond():
    for seed in (0, 2**64 - 1):
        assert train.check_seed("fit", seed) == seed and train.seed_argument(str(seed)) == seed
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match=rf"^fit: seed must be an integer in 0 \.\. 2\*\*64 - 1, got {seed!r}$"):
            train.fit(None, [], [], None, None, epochs=1, batch_size=1, patience=1, seed=seed)


def test_a_vocabulary_left_empty_is_a_usage_error(tmp_path, capsys):
    line = fails(capsys, "train", "--dataset", "sample", "--min-freq", "1000000", "--output", str(tmp_path / "run"),
                 *FAST)
    assert line.endswith("prepare: no word or n-gram occurs min_freq=1000000 times in the 36 training sentences, so "
                         "the vocabulary is empty; lower min_freq")
    assert not (tmp_path / "run").exists()  # created by the claim, removed again: nothing was written


# ---------------------------------------------------------------------------------------------------------------
# Divergence and strict JSON


def strict_load(path):
    """Parse JSON the way strict readers do: NaN and Infinity are errors."""
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(path.read_text(), parse_constant=reject)


def test_a_divergent_run_stops_with_a_clear_error_and_strict_json(tmp_path, capsys):
    line = fails(capsys, "train", "--dataset", "sample", "--lr", "1e30", "--output", str(tmp_path / "run"), *FAST)
    assert line.startswith("in5550 train: error: fit: the training loss became nan at epoch 1, batch ")
    assert "training diverged (learning rate 1e+30, weight decay 0); try a lower learning rate (--lr), e.g. 1e+29" \
        in line
    metrics = strict_load(tmp_path / "run" / "metrics.json")
    assert metrics["status"] == "diverged" and metrics["settings"]["lr"] == 1e30
    assert str(tmp_path / "run" / "metrics.json") in line


class _Poisoned(torch.optim.Adam):
    """Adam that turns the output layer's weights infinite at one step: a stand-in for a run that blows up."""

    def __init__(self, params, poison_at, **kwargs):
        self.params_list, self.steps, self.poison_at = list(params), 0, poison_at
        super().__init__(self.params_list, **kwargs)

    def step(self, closure=None):
        result = super().step(closure)
        self.steps += 1
        if self.steps == self.poison_at:
            with torch.no_grad():
                self.params_list[-2].fill_(math.inf)
        return result


@pytest.mark.parametrize("poison_at, where, finished", [
    (12, "the training loss became nan at epoch 3, batch 3", [1, 2]),  # 5 batches an epoch
    (10, "the dev loss became nan at the end of epoch 2", [1]),  # the last step of epoch 2, then its dev loss
])
def test_fit_stops_before_a_non_finite_loss_reaches_the_parameters(poison_at, where, finished):
    splits = data.load_dataset("sample")
    settings = replace(train.DEFAULTS["sample"], epochs=5, patience=5)
    featured, vocab = train.prepare(splits, settings)
    model = train.build_model(len(vocab), 2, settings, "custom", seed=0)
    optimizer = _Poisoned(model.parameters(), poison_at=poison_at, lr=settings.lr)
    with pytest.raises(train.Diverged) as error:
        train.fit(model, featured.train, featured.dev, vocab, optimizer, epochs=5, batch_size=8, patience=5,
                  progress=False)
    assert str(error.value) == f"fit: {where}: training diverged (learning rate 0.01, weight decay 0); try a lower " \
                               "learning rate (--lr), e.g. 0.001"
    history = error.value.history
    assert history.epoch == finished and all(map(math.isfinite, history.train_loss + history.dev_loss))
    # the model is back at the best finished epoch: finite, and scoring what that epoch scored
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())
    assert train.evaluate(model, featured.dev, vocab).accuracy == history.dev_accuracy[history.best_epoch - 1]


def test_strict_json_never_writes_nan_or_infinity():
    text = train.strict_json({"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": {"d": (2, math.nan)}, "e": "x"})
    assert json.loads(text) == {"a": None, "b": [1.0, None, None], "c": {"d": [2, None]}, "e": "x"}
    assert "NaN" not in text and "Infinity" not in text
    assert train.strict_json({"a": [1, math.nan]}) == '{\n  "a": [\n    1,\n    null\n  ]\n}\n'  # indented by 2


# ---------------------------------------------------------------------------------------------------------------
# Label sets


@pytest.mark.parametrize("lines, message", [
    (GOOD + [(1500, "a stray label")], r"the labels must be the class indices 0 \.\. K-1, each with examples, but "
     r"the labels are 0 \(10 examples\), 1 \(10 examples\), 1500 \(1 example, line 21\): classes 2 \.\. 1499 have "
     r"none\. Correct a stray label, or number the 3 classes 0 \.\. 2"),
    (GOOD + [(99999, "another")], r"classes 2 \.\. 99998 have none"),
    ([(1, "x"), (2, "y")] * 5, r"but the labels are 1 \(5 examples\), 2 \(5 examples\): class 0 has none"),
    (GOOD + [(2, "a class of one")], r"class 2 \(1 example, line 21\) has fewer than 2 examples, too few to learn "
     r"from \(the other labels: 0 \(10 examples\), 1 \(10 examples\)\); correct a stray label or add examples"),
    ([(0, "only"), (0, "one"), (0, "label")], r"every example has the label 0; a classifier needs examples of at "
     "least two classes"),
    ([(0, "two"), (1, "lines")], r"classes 0 \(1 example, line 1\), 1 \(1 example, line 2\) have fewer than 2"),
])
def test_a_label_set_that_is_not_0_to_k_is_refused(tmp_path, lines, message):
    path = write(tmp_path / "train.tsv", tsv(lines))
    with pytest.raises(DataError, match=rf"load_files: .*train\.tsv: .*{message}"):
        data.load_files(path)


def test_too_few_examples_to_hold_out_a_dev_split(tmp_path):
    path = write(tmp_path / "train.tsv", tsv([(0, "a"), (1, "b"), (0, "c"), (1, "d")]))
    with pytest.raises(DataError, match=r"load_files: dev_fraction=0\.1 of 4 training examples leaves 0 for dev .*"
                                        r"give a dev file"):
        data.load_files(path)
    dev = write(tmp_path / "dev.tsv", tsv([(1, "e")]))
    assert data.load_files(path, dev).label_names == ("0", "1")  # with a dev file, four lines are enough
    # lines 9 and 10 are the only examples of class 1; find a seed whose 20 % dev split takes both
    rare = write(tmp_path / "rare.tsv", tsv([(0, f"zero {i}") for i in range(8)] + [(1, "one"), (1, "two")]))
    seed = next(seed for seed in range(2000)
                if set(torch.randperm(10, generator=torch.Generator().manual_seed(seed))[:2].tolist()) == {8, 9})
    with pytest.raises(DataError, match=r"holding out 2 examples for dev left no training example of class 1 "
                                        r"\(which has 2 in all\); give a dev file"):
        data.load_files(rare, dev_fraction=0.2, seed=seed)


@pytest.mark.parametrize("content, message", [
    (tsv(GOOD[:6]) + "\t5 stars for this film\n" + tsv(GOOD[6:]), "line 7: empty label"),
    (tsv(GOOD[:3]) + "1_0\tten\n", r"line 4: label '1_0' is not an integer \(digits 0-9 only\)"),
    (tsv(GOOD[:3]).replace("\n", "\r") + "1500\tstray\r", r"1500 \(1 example, line 4\)"),
])
def test_bad_labels_from_the_command_line_are_one_line(tmp_path, capsys, content, message):
    path = write(tmp_path / "train.tsv", content)
    line = fails(capsys, "train", "--train-file", str(path), "--output", str(tmp_path / "run"), *FAST)
    assert line.startswith("in5550 train: error: ")
    assert re.search(message, line), line
    assert not (tmp_path / "run").exists()


def test_a_file_with_lone_cr_line_ends_reads_as_lines(tmp_path, capsys):
    path = write(tmp_path / "mac.tsv", tsv(GOOD).replace("\n", "\r"))
    assert cli.main(["train", "--train-file", str(path), "--output", str(tmp_path / "run"), *FAST]) == 0
    out = capsys.readouterr().out
    assert f"file:{path}: 18 training, 2 dev, 0 test sentences" in out


def test_the_label_set_is_explained_before_training(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "sample", "--output", str(tmp_path / "run"), *FAST]) == 0
    out = capsys.readouterr().out
    table = "class         train    dev   test\n0 negative       18      5      5\n1 positive       18      5      5\n"
    assert table in out and out.index(table) < out.index("dev accuracy")


def test_a_dev_label_the_training_file_lacks_is_refused(tmp_path, capsys):
    train_file = write(tmp_path / "train.tsv", tsv(GOOD))
    dev_file = write(tmp_path / "dev.tsv", tsv([(0, "dull"), (3, "a fourth class?")]))
    line = fails(capsys, "train", "--train-file", str(train_file), "--dev-file", str(dev_file), "--output",
                 str(tmp_path / "run"), *FAST)
    assert line.endswith("dev.tsv, line 2: label 3 is out of range (allowed: 0 .. 1)")


def test_non_utf8_text_is_one_line_and_latin1_works(tmp_path, capsys):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(tsv(GOOD).encode() + "1\tcr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1"))
    line = fails(capsys, "train", "--train-file", str(path), "--output", str(tmp_path / "run"), *FAST)
    assert line.endswith("latin1.tsv, line 21: not valid utf-8 (byte 0xe8 at column 5); pass the file's encoding, "
                         "e.g. encoding='latin-1'")
    assert cli.main(["train", "--train-file", str(path), "--encoding", "latin-1", "--output", str(tmp_path / "run"),
                     *FAST]) == 0


# ---------------------------------------------------------------------------------------------------------------
# Output folders: claimed before the work, atomic files, two runs to one folder


def test_two_runs_to_one_output_the_second_is_refused(tmp_path, capsys):
    out = ["--dataset", "sample", "--output", str(tmp_path / "run"), *FAST]
    assert cli.main(["train", *out, "--seed", "1"]) == 0
    first = (tmp_path / "run" / "metrics.json").read_text()
    capsys.readouterr()
    assert "the folder is not empty (learning_curves.png, metrics.json)" in fails(capsys, "train", *out)
    assert (tmp_path / "run" / "metrics.json").read_text() == first  # the first run's results are intact
    assert cli.main(["train", *out, "--overwrite"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["seed"] == 0
    assert sorted(os.listdir(tmp_path / "run")) == ["learning_curves.png", "metrics.json"]  # no marker, no temp


def test_a_folder_another_run_is_writing_is_refused_even_with_overwrite(tmp_path, capsys, no_work):
    with train.OutputFolder(tmp_path / "run"):  # a run of this very process, still working
        line = fails(capsys, "train", "--output", str(tmp_path / "run"), "--overwrite")
        assert os.listdir(tmp_path / "run") == [train.OutputFolder.MARKER]  # the refused run wrote nothing
    assert line.endswith(f"another run (process {os.getpid()}) is writing its results there now; wait for it to "
                         "finish, or choose another --output")
    assert not (tmp_path / "run").exists()  # made by the first claim, which wrote nothing either


def test_a_marker_left_by_a_killed_run(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not _alive(pid))
    (folder / train.OutputFolder.MARKER).write_text(f"{dead} {socket.gethostname()}\n")
    with pytest.raises(UsageError, match=r"the folder is not empty \(\.in5550-running\); pass --overwrite"):
        train.OutputFolder(folder).claim()
    with train.OutputFolder(folder, overwrite=True) as output:
        output.write_text("metrics.json", "{}\n")
    assert os.listdir(folder) == ["metrics.json"]


def test_the_running_marker_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    """Created exclusively with its text, readable by others (mode 644 less the umask), no temporary file left."""
    def no_links(source, target):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    marker = tmp_path / train.OutputFolder.MARKER
    train._create_with(marker, "123 host\n")
    umask = os.umask(0)
    os.umask(umask)
    assert marker.read_text() == "123 host\n" and stat.S_IMODE(marker.stat().st_mode) == 0o644 & ~umask
    with pytest.raises(FileExistsError):
        train._create_with(marker, "456 other\n")
    assert marker.read_text() == "123 host\n" and os.listdir(tmp_path) == [marker.name]


@pytest.mark.parametrize("count, shown", [(4, "a, b, c, d"), (5, "a, b, c, d, ...")])
def test_a_non_empty_folder_is_refused_naming_its_first_four_entries(tmp_path, count, shown):
    for name in "abcde"[:count]:
        (tmp_path / name).write_text("")
    with pytest.raises(UsageError) as error:
        train.OutputFolder(tmp_path).claim()
    assert str(error.value) == f"--output {tmp_path}: the folder is not empty ({shown}); pass --overwrite to " \
                               "replace its results, or choose another --output"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------------------------
# Ctrl-C


def interrupt_at(monkeypatch, call, backend=None):
    """Make the ``call``-th evaluation (of a model of ``backend``, if given) raise KeyboardInterrupt, as Ctrl-C
    would: fit evaluates on dev after each epoch, so the n-th call interrupts epoch n."""
    calls, evaluate = [], train.evaluate

    def interrupted(model, *args, **kwargs):
        if backend is None or model.backend == backend:
            calls.append(1)
            if len(calls) == call:
                raise KeyboardInterrupt
        return evaluate(model, *args, **kwargs)
    monkeypatch.setattr(train, "evaluate", interrupted)


def test_ctrl_c_during_train_keeps_the_finished_epochs(tmp_path, capsys, monkeypatch):
    interrupt_at(monkeypatch, 3)
    args = parse("train", "--dataset", "sample", "--output", str(tmp_path / "run"), "--no-progress")
    with pytest.raises(KeyboardInterrupt):
        args._module.run(args)
    err = capsys.readouterr().err
    metrics = strict_load(tmp_path / "run" / "metrics.json")
    assert metrics["status"] == "interrupted" and metrics["epochs"] == 2 and metrics["history"]["epoch"] == [1, 2]
    assert metrics["dev_accuracy"] == max(metrics["history"]["dev_accuracy"]) and metrics["test_accuracy"] is None
    assert (tmp_path / "run" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    run = tmp_path / "run"
    assert err.strip() == (f"in5550 train: interrupted: the 2 finished epochs (best: {metrics['best_epoch']}) are "
                           f"in {run / 'metrics.json'}, {run / 'learning_curves.png'}, {run / 'best_model.pt'}")
    assert sorted(os.listdir(run)) == ["best_model.pt", "learning_curves.png", "metrics.json"]  # no marker left
    # the best epoch's model, ready to use: it scores on dev what that epoch scored
    checkpoint = torch.load(run / "best_model.pt")
    assert checkpoint["epoch"] == metrics["best_epoch"] and checkpoint["backend"] == "custom"
    settings = train.Settings(**checkpoint["settings"])
    model = train.build_model(len(checkpoint["vocab"]), len(checkpoint["label_names"]), settings, "custom", seed=0)
    model.load_state_dict(checkpoint["state_dict"])
    featured, _ = train.prepare(data.load_dataset("sample"), settings)
    dev = train.evaluate(model, featured.dev, data.Vocabulary(checkpoint["vocab"]))
    assert dev.accuracy == metrics["dev_accuracy"]


@pytest.mark.parametrize("call", [1, 2])
def test_ctrl_c_in_the_first_two_epochs_leaves_no_older_runs_files(tmp_path, capsys, monkeypatch, call):
    """A rerun into an older run's folder (--overwrite) stopped in epoch 1 keeps no figure and no model of that
    older run; stopped in epoch 2 it keeps its one finished epoch's."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("learning_curves.png", "best_model.pt"):
        (run / name).write_bytes(b"an older run's")
    interrupt_at(monkeypatch, call)
    args = parse("train", "--dataset", "sample", "--output", str(run), "--no-progress", "--overwrite")
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt, match=f"^interrupted during epoch {call}, after {call - 1} finished$"):
        args._module.run(args)
    assert 0 < strict_load(run / "metrics.json")["seconds"] <= time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    if call == 1:
        assert err == f"in5550 train: interrupted: no epoch had finished: {run / 'metrics.json'} records the settings"
        assert os.listdir(run) == ["metrics.json"]
    else:
        assert err == (f"in5550 train: interrupted: the 1 finished epoch (best: 1) are in {run / 'metrics.json'}, "
                       f"{run / 'learning_curves.png'}, {run / 'best_model.pt'}")
        assert b"older" not in (run / "best_model.pt").read_bytes() + (run / "learning_curves.png").read_bytes()


def test_ctrl_c_during_the_demo_keeps_the_curves_so_far(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IN5550_DATA_URL", "http://127.0.0.1:9")  # no SST-2: the demo runs on the sample
    interrupt_at(monkeypatch, 2, backend="torch")
    args = parse("demo", "--data-dir", str(tmp_path / "empty"), "--output", str(tmp_path / "demo"), "--no-progress")
    with pytest.raises(KeyboardInterrupt):
        args._module.run(args)
    err = capsys.readouterr().err
    assert "in5550 demo: interrupted while training torch: the curves so far (custom " in err
    assert f"torch 1 epochs) are in {tmp_path / 'demo' / 'learning_curves.png'}" in err
    assert os.listdir(tmp_path / "demo") == ["learning_curves.png"]


def test_ctrl_c_during_the_final_evaluation_keeps_every_epoch(tmp_path, capsys, monkeypatch):
    interrupt_at(monkeypatch, 3)  # two epochs, two dev evaluations; the third call is the final one on dev
    args = parse("train", "--dataset", "sample", "--output", str(tmp_path / "run"), *FAST)
    with pytest.raises(KeyboardInterrupt, match="interrupted during the final evaluation, after 2 epochs"):
        args._module.run(args)
    metrics = strict_load(tmp_path / "run" / "metrics.json")
    assert metrics["status"] == "interrupted" and metrics["history"]["epoch"] == [1, 2]
    assert "in5550 train: interrupted: the 2 finished epochs" in capsys.readouterr().err


def test_a_default_output_folder_is_never_refused_nor_replaced(tmp_path):
    """Running a command again with its default output goes to a new numbered folder: the earlier results stay,
    and a folder the user names is still refused when not empty (see the tests above)."""
    from in5550.train import unused_folder

    base = tmp_path / "runs" / "demo"
    assert unused_folder(base) == base
    base.mkdir(parents=True)
    assert unused_folder(base) == base  # empty: used as it is
    (base / "learning_curves.png").write_bytes(b"earlier run")
    assert unused_folder(base) == tmp_path / "runs" / "demo-2"
    (tmp_path / "runs" / "demo-2").mkdir()
    (tmp_path / "runs" / "demo-2" / "metrics.json").write_text("{}")
    assert unused_folder(base) == tmp_path / "runs" / "demo-3"
    assert (base / "learning_curves.png").read_bytes() == b"earlier run"
