"""``in5550 train`` and ``in5550 demo`` from the command line: outputs, metrics.json, and bad arguments."""

import argparse
import json
import time

import pytest

from in5550 import cli, train as training

FAST = ["--no-progress", "--epochs", "3"]
REQUIRED = {"dev_accuracy": float, "test_accuracy": float, "epochs": int, "seconds": float, "backend": str,
            "dataset": str}


def train(tmp_path, *argv):
    return cli.main(["train", "--output", str(tmp_path / "run"), *FAST, *argv])


def metrics(tmp_path):
    def reject(constant):  # strict JSON: no NaN or Infinity
        raise ValueError(f"metrics.json holds {constant}")
    return json.loads((tmp_path / "run" / "metrics.json").read_text(), parse_constant=reject)


KEYS = {"status", "dataset", "backend", "seed", "dev_accuracy", "dev_macro_f1", "test_accuracy", "test_macro_f1",
        "test_confusion", "label_names", "epochs", "best_epoch", "seconds", "vocab_size", "settings", "history"}


def test_train_writes_metrics_and_figure(tmp_path, capsys):
    start = time.perf_counter()
    assert train(tmp_path, "--dataset", "sample", "--backend", "torch", "--seed", "3") == 0
    took = time.perf_counter() - start
    values = metrics(tmp_path)
    assert set(values) == KEYS and 0 < values["seconds"] <= took  # the run proper, within the whole command
    assert all(0 <= values[key] <= 1 for key in ("dev_macro_f1", "test_macro_f1")) and values["vocab_size"] > 10
    for key, kind in REQUIRED.items():
        assert isinstance(values[key], kind), key
    assert values["dataset"] == "sample" and values["backend"] == "torch" and values["seed"] == 3
    assert values["status"] == "finished"
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["learning_curves.png", "metrics.json"]
    assert values["epochs"] == len(values["history"]["epoch"]) <= 3
    assert values["dev_accuracy"] == max(values["history"]["dev_accuracy"])
    assert sum(map(sum, values["test_confusion"])) == 10 and values["settings"]["epochs"] == 3
    out = capsys.readouterr().out
    assert f"dev accuracy {values['dev_accuracy']:.4f}, test accuracy {values['test_accuracy']:.4f}" in out
    assert f"wrote {tmp_path / 'run' / 'metrics.json'} and {tmp_path / 'run' / 'learning_curves.png'}\n" in out
    assert (tmp_path / "run" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_help_lists_the_settings_with_each_datasets_default():
    parser = argparse.ArgumentParser(prog="in5550 train")
    training.add_arguments(parser)
    text = " ".join(parser.format_help().split())  # argparse wraps lines at the terminal's width
    assert "settings: each defaults to the dataset's value in in5550.train.DEFAULTS" in text
    assert "--hidden-dims [H ...] hidden layer sizes" in text
    lr = ", ".join(f"{name} {settings.lr}" for name, settings in training.DEFAULTS.items())
    assert f"--lr LR {lr} " in text


def test_train_is_reproducible(tmp_path):
    train(tmp_path, "--dataset", "sample")
    first = metrics(tmp_path)
    train(tmp_path, "--dataset", "sample", "--overwrite")
    second = metrics(tmp_path)
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_train_on_user_files(tmp_path, capsys):
    lines = ["1\tA joy from start to finish.", "0\tDull and far too long.", "1\tWarm, funny and wise.",
             "0\tA mess of a film.", "2\tIt is a film about a dog."] * 4
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.tsv").write_text("1\tFunny and warm.\n0\tToo long and dull.\n")
    assert train(tmp_path, "--train-file", str(tmp_path / "train.tsv"), "--test-file", str(tmp_path / "test.tsv")) == 0
    values = metrics(tmp_path)
    assert values["dataset"] == f"file:{tmp_path / 'train.tsv'}" and values["label_names"] == ["0", "1", "2"]
    assert len(values["test_confusion"]) == 3
    # without a test file there is no test accuracy, and the output says so
    assert train(tmp_path, "--train-file", str(tmp_path / "train.tsv"), "--overwrite") == 0
    assert metrics(tmp_path)["test_accuracy"] is None and "test accuracy n/a (no test split) (best epoch" in \
        capsys.readouterr().out


def test_a_run_on_files_goes_to_a_folder_named_after_them(tmp_path, monkeypatch):
    lines = [f"{k % 2}\tsentence number {k}" for k in range(20)]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--train-file", "train.tsv", "--seed", "2", *FAST]) == 0
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["files-custom-seed2"]


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "imdb"], "argument --dataset: invalid choice: 'imdb'"),
    (["--backend", "jax"], "argument --backend: invalid choice: 'jax'"),
    (["--train-file", "no/such/file.tsv"], "--train-file: no such file: no/such/file.tsv"),
    (["--dataset", "sample", "--test-file", "missing.tsv"], "--test-file: no such file: missing.tsv"),
    (["--dataset", "sample", "--epochs", "0"], "Settings: epochs must be a positive integer, got 0"),
    (["--dataset", "sample", "--dropout", "1.5"], "Settings: dropout must be in [0, 1), got 1.5"),
    (["--seed", "one"], "argument --seed: invalid int value: 'one'"),
])
def test_train_rejects_bad_arguments_on_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        train(tmp_path, *argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.splitlines()[-1].startswith("in5550 train: error: ") and message in err.splitlines()[-1]
    assert "Traceback" not in err


def test_train_reports_a_malformed_file_with_its_line(tmp_path, capsys):
    (tmp_path / "bad.tsv").write_text("1\tfine\nnot-a-label\ttext\n")
    with pytest.raises(SystemExit) as exit_:
        train(tmp_path, "--train-file", str(tmp_path / "bad.tsv"))
    assert exit_.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert "bad.tsv, line 2" in last and "'not-a-label' is not an integer" in last


def test_demo_falls_back_to_the_sample_without_sst2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IN5550_DATA_URL", "http://127.0.0.1:9")  # the discard port: nothing listens there
    code = cli.main(["demo", "--data-dir", str(tmp_path / "empty"), "--output", str(tmp_path / "demo"),
                     "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "SST-2 was not found: running the demo on the small sample" in out
    assert str(tmp_path / "empty" / "sst2" / "stsa.binary.train") in out  # where to put the files
    assert "Same initial parameters in both backends: yes" in out
    assert "all 12 checks passed" in out  # loss and 5 gradients, against the reference and against torch
    assert (tmp_path / "demo" / "learning_curves.png").exists()
