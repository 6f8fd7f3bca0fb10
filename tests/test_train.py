"""Training and evaluation (in5550.train): scores, features, the loop, early stopping, reproducibility, figures."""

import copy
import math
import re
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from in5550 import data, train
from in5550.data import Example

SAMPLE = train.DEFAULTS["sample"]


@pytest.fixture(scope="module")
def sample():
    return data.load_dataset("sample")


def test_scores_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 1, 0])
    accuracy, macro_f1, confusion = train.scores(labels, predictions, 3)
    assert confusion == [[1, 1, 0], [0, 2, 0], [1, 1, 0]]
    assert accuracy == pytest.approx(3 / 6)
    # F1 per class, 2TP / (2TP + FP + FN): 2/4, 4/6, and 0 for class 2, never predicted right
    assert macro_f1 == pytest.approx((2 / 4 + 4 / 6 + 0) / 3)


def test_scores_of_a_class_that_never_occurs_count_as_zero():
    accuracy, macro_f1, _ = train.scores(torch.tensor([0, 1]), torch.tensor([0, 1]), 3)
    assert accuracy == 1.0 and macro_f1 == pytest.approx(2 / 3)


def test_scores_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"scores: .* got \(3,\) and \(2,\)"):
        train.scores(torch.tensor([0, 1, 1]), torch.tensor([0, 1]), 2)


def test_with_ngrams_appends_bigrams_and_trigrams():
    example = Example(1, ["not", "a", "good", "film"])
    assert train.with_ngrams([example], 1) == [example]
    assert train.with_ngrams([example], 2)[0].tokens == ["not", "a", "good", "film", "not a", "a good", "good film"]
    assert train.with_ngrams([example], 3)[0].tokens[-2:] == ["not a good", "a good film"]
    assert train.with_ngrams([Example(0, ["one"])], 3)[0].tokens == ["one"]
    with pytest.raises(ValueError, match="with_ngrams: n must be a positive integer, got 0"):
        train.with_ngrams([example], 0)


@pytest.mark.parametrize("change, message", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(hidden_dims=(4, -1)), "hidden_dims must be positive integers, got [4, -1]"),
    (dict(dropout=1.0), "dropout must be in [0, 1), got 1.0"),
    (dict(lr=0.0), "lr must be positive, got 0.0"),
    (dict(weight_decay=-1e-4), "weight_decay must be >= 0, got -0.0001"),
])
def test_settings_reject_bad_values(change, message):
    with pytest.raises(ValueError) as error:
        replace(SAMPLE, **change)
    assert message in str(error.value)


def run(sample, backend="custom", seed=0, **change):
    return train.train(sample, replace(SAMPLE, **change), backend, seed=seed, progress=False)


def test_training_on_the_sample_learns_and_restores_the_best_epoch(sample):
    result = run(sample, epochs=12, patience=12)
    history = result.history
    assert len(history.epoch) == 12
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.train_accuracy[-1] >= 0.9
    # the kept parameters are those of the first epoch with the best dev accuracy
    best = max(history.dev_accuracy)
    assert history.best_epoch == history.dev_accuracy.index(best) + 1
    assert result.dev.accuracy == best
    assert 0.0 <= result.test.macro_f1 <= 1.0 and sum(map(sum, result.test.confusion)) == len(sample.test)


def test_early_stopping_stops_after_patience_epochs_without_improvement(sample):
    history = run(sample, epochs=30, patience=2).history
    assert len(history.epoch) < 30
    assert len(history.epoch) == history.best_epoch + 2
    assert max(history.dev_accuracy[history.best_epoch:]) <= history.dev_accuracy[history.best_epoch - 1]


def test_same_seed_same_backend_gives_identical_results(sample):
    first, second = run(sample, epochs=4), run(sample, epochs=4)
    assert first.history == second.history
    assert first.test == second.test
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert run(sample, epochs=4, seed=1).history.train_loss != first.history.train_loss


def test_both_backends_follow_the_same_curve(sample):
    ours, theirs = run(sample, "custom", epochs=4), run(sample, "torch", epochs=4)
    torch.testing.assert_close(ours.history.train_loss, theirs.history.train_loss, rtol=1e-5, atol=1e-6)
    assert ours.history.dev_accuracy == theirs.history.dev_accuracy


def test_fit_takes_any_optimizer(sample):
    featured, vocab = train.prepare(sample, SAMPLE)
    model = train.build_model(len(vocab), 2, SAMPLE, "custom", seed=0)
    before = model.output.weight.detach().clone()
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1)
    history = train.fit(model, featured.train, featured.dev, vocab, optimizer, epochs=5, batch_size=8, patience=5,
                        progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert not torch.equal(before, model.output.weight)
    with pytest.raises(ValueError, match="fit: patience must be a positive integer, got 0"):
        train.fit(model, featured.train, featured.dev, vocab, optimizer, epochs=1, batch_size=8, patience=0)


def test_plot_histories_writes_a_png(sample, tmp_path):
    history = run(sample, epochs=2).history
    path = train.plot_histories({"custom": history, "torch": history}, tmp_path / "figures" / "curves.png", "t")
    content = path.read_bytes()
    assert content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) > 10_000


def test_a_short_training_on_real_sst2(shared_data_dir):
    splits = data.load_dataset("sst2", data_dir=shared_data_dir)
    small = data.Splits(splits.train[:3000], splits.dev[:300], splits.test[:300], splits.label_names)
    settings = replace(train.DEFAULTS["sst2"], lr=3e-3, epochs=3, patience=3)
    result = train.train(small, settings, "custom", seed=0, progress=False)
    assert result.history.train_loss[1] < result.history.train_loss[0]
    assert result.dev.accuracy > 0.6  # chance is about 0.5


# ---------------------------------------------------------------------------------------------------------------
# Early stopping with a dev curve known in advance. The optimiser below zeroes the output weights and sets the
# output bias at each step (one step per epoch), so the model predicts one class for every sentence and each
# epoch's dev accuracy is the share of that class in dev: the best epoch is neither the first nor the last.

DEV_LABELS = [0] * 5 + [1] * 3 + [2] * 2  # constant predictions score 0.5, 0.3 or 0.2
TRAIN_LABELS = [0, 1, 2, 2]
# per epoch: the output bias set by that epoch's step; epoch 3 is the best, epoch 5 ties it with other parameters
BIASES = [[0.0, 0.0, 1.0], [0.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 4.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 6.0],
          [7.0, 0.0, 0.0], [0.0, 0.0, 8.0]]
SHARE = {0: 0.5, 1: 0.3, 2: 0.2}


class ScriptedOutput(torch.optim.SGD):
    """An optimiser whose k-th step sets the output layer to weight 0 and bias ``BIASES[k]``."""

    def __init__(self, model):
        super().__init__(model.parameters(), lr=0.0)
        self.model, self.steps = model, 0

    @torch.no_grad()
    def step(self, closure=None):
        self.model.output.weight.zero_()
        self.model.output.bias.copy_(torch.tensor(BIASES[self.steps]))
        self.steps += 1


def mean_cross_entropy(bias, labels):
    """Mean of -log softmax(bias)[label], computed with math."""
    log_z = math.log(sum(math.exp(b) for b in bias))
    return sum(log_z - bias[label] for label in labels) / len(labels)


def scripted_fit(patience, epochs=len(BIASES)):
    words = ["good", "bad", "plain"]
    train_examples = [Example(label, [words[label], "film"]) for label in TRAIN_LABELS]
    dev_examples = [Example(label, [words[k % 3], "film"]) for k, label in enumerate(DEV_LABELS)]
    vocab = data.Vocabulary.build(example.tokens for example in train_examples)
    model = train.build_model(len(vocab), 3, SAMPLE, "custom", seed=0)
    optimizer = ScriptedOutput(model)
    history = train.fit(model, train_examples, dev_examples, vocab, optimizer, epochs=epochs, batch_size=8,
                        patience=patience, progress=False)
    return model, history, dev_examples, vocab


def test_fit_keeps_the_parameters_of_the_best_epoch_not_the_last():
    model, history, dev_examples, vocab = scripted_fit(patience=3)
    predicted = [max(range(3), key=bias.__getitem__) for bias in BIASES]
    # epochs 4, 5 and 6 do not beat epoch 3 (epoch 5 only ties it): patience 3 stops after epoch 6
    assert history.epoch == [1, 2, 3, 4, 5, 6]
    assert history.dev_accuracy == pytest.approx([SHARE[c] for c in predicted[:6]])
    assert history.best_epoch == 3
    assert history.dev_loss == pytest.approx([mean_cross_entropy(b, DEV_LABELS) for b in BIASES[:6]])
    # epoch k trains with the parameters set by step k - 1 (epoch 1 with the initial ones)
    assert history.train_accuracy[1:] == pytest.approx([TRAIN_LABELS.count(c) / 4 for c in predicted[:5]])
    assert history.train_loss[1:] == pytest.approx([mean_cross_entropy(b, TRAIN_LABELS) for b in BIASES[:5]])
    # the model handed back is epoch 3's, not epoch 6's (nor epoch 5's, which scored as well)
    assert model.output.bias.tolist() == BIASES[2]
    assert train.evaluate(model, dev_examples, vocab).accuracy == SHARE[0]


def test_fit_without_early_stop_still_restores_the_best_epoch():
    model, history, _, _ = scripted_fit(patience=len(BIASES))
    assert history.epoch == list(range(1, len(BIASES) + 1)) and history.best_epoch == 3
    assert model.output.bias.tolist() == BIASES[2]


def test_fit_with_patience_one_stops_at_the_first_epoch_without_improvement():
    model, history, _, _ = scripted_fit(patience=1)
    assert history.epoch == [1, 2, 3, 4] and history.best_epoch == 3
    assert model.output.bias.tolist() == BIASES[2]


def test_evaluate_restores_the_training_mode_and_scores_by_hand():
    _, _, dev_examples, vocab = scripted_fit(patience=1)
    model = train.build_model(len(vocab), 3, SAMPLE, "custom", seed=0)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([0.0, 1.0, 0.5]))
    for mode in (True, False):
        model.train(mode)
        result = train.evaluate(model, dev_examples, vocab)
        assert model.training is mode
        assert result.accuracy == SHARE[1]
        assert result.loss == pytest.approx(mean_cross_entropy([0.0, 1.0, 0.5], DEV_LABELS))
        assert result.confusion == [[0, 5, 0], [0, 3, 0], [0, 2, 0]]
        assert result.macro_f1 == pytest.approx((0 + 2 * 3 / (2 * 3 + 7) + 0) / 3)


def test_fit_follows_a_training_loop_written_out_by_hand(sample):
    # The documented contract of fit, written independently: the batch order from torch.randperm on a generator
    # seeded with `seed`, dropout from the global generator seeded with `seed`, Adam steps on the mean
    # cross-entropy; the epoch's loss and accuracy are means over its examples. Padded batches here, the
    # embedding-bag form in fit.
    settings = replace(SAMPLE, epochs=3, patience=3)
    featured, vocab = train.prepare(sample, settings)
    model = train.build_model(len(vocab), 2, settings, "torch", seed=0)
    by_hand = copy.deepcopy(model)
    history = train.fit(model, featured.train, featured.dev, vocab, train.make_optimizer(model, settings),
                        epochs=3, batch_size=settings.batch_size, patience=3, seed=5, progress=False)

    def padded(examples):
        rows = [vocab.encode(example.tokens) for example in examples]
        width = max(map(len, rows))
        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
        return ids, torch.tensor([example.label for example in examples])

    optimizer = torch.optim.Adam(by_hand.parameters(), lr=settings.lr)
    torch.manual_seed(5)
    order = torch.Generator().manual_seed(5)
    losses, accuracies, dev_accuracies = [], [], []
    n = len(featured.train)
    for _ in range(3):
        by_hand.train()
        permutation = torch.randperm(n, generator=order).tolist()
        loss_sum, correct = 0.0, 0
        for start in range(0, n, settings.batch_size):
            ids, labels = padded([featured.train[i] for i in permutation[start: start + settings.batch_size]])
            logits = by_hand(ids)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        losses.append(loss_sum / n)
        accuracies.append(correct / n)
        by_hand.eval()
        with torch.no_grad():
            ids, labels = padded(featured.dev)
            dev_accuracies.append((by_hand(ids).argmax(1) == labels).double().mean().item())

    assert history.train_loss == pytest.approx(losses, rel=1e-4)
    assert history.train_accuracy == accuracies
    assert history.dev_accuracy == pytest.approx(dev_accuracies)


@pytest.mark.parametrize("name", ["ngrams", "min_freq", "embedding_dim", "batch_size", "epochs", "patience"])
def test_settings_take_positive_integers_only(name):
    assert getattr(replace(SAMPLE, **{name: 1}), name) == 1
    for bad in (0, -3, 2.0, True, "4"):
        with pytest.raises(ValueError, match=rf"^Settings: {name} must be a positive integer, got {bad!r}$"):
            replace(SAMPLE, **{name: bad})


def test_settings_accept_the_edges_of_their_ranges():
    edge = replace(SAMPLE, hidden_dims=[1, 2], dropout=0.0, lr=1e-12, weight_decay=0.0)
    assert edge.hidden_dims == (1, 2) and edge.dropout == 0.0
    assert replace(SAMPLE, hidden_dims=()).hidden_dims == ()
    for bad in ((0,), (2, 1.5)):
        with pytest.raises(ValueError, match=r"^Settings: hidden_dims must be positive integers, got \["):
            replace(SAMPLE, hidden_dims=bad)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"^Settings: dropout must be in \[0, 1\), got {bad!r}$"):
            replace(SAMPLE, dropout=bad)
    with pytest.raises(ValueError, match=r"^Settings: lr must be positive, got -0.1$"):
        replace(SAMPLE, lr=-0.1)


@pytest.mark.parametrize("name", ["epochs", "batch_size", "patience"])
def test_fit_rejects_each_count_that_is_not_a_positive_integer(sample, name):
    featured, vocab = train.prepare(sample, SAMPLE)
    model = train.build_model(len(vocab), 2, SAMPLE, "custom", seed=0)
    counts = dict(epochs=1, batch_size=8, patience=1)
    for bad in (0, 1.0):
        with pytest.raises(ValueError, match=rf"^fit: {name} must be a positive integer, got {bad!r}$"):
            train.fit(model, featured.train, featured.dev, vocab, train.make_optimizer(model, SAMPLE),
                      **{**counts, name: bad}, progress=False)


def test_fit_shows_a_progress_bar_only_when_asked(sample, capsys):
    featured, vocab = train.prepare(sample, SAMPLE)
    model = train.build_model(len(vocab), 2, SAMPLE, "custom", seed=0)
    # the defaults: progress=True, desc="training"
    for progress, options in ((False, {"progress": False}), (True, {"desc": "warming up"}), (True, {})):
        train.fit(model, featured.train, featured.dev, vocab, train.make_optimizer(model, SAMPLE), epochs=1,
                  batch_size=8, patience=1, **options)
        err = capsys.readouterr().err
        if progress:
            assert re.search(rf"(^|\r){options.get('desc', 'training')}: ", err)
            assert "epoch/s" in err and re.search(r"dev_acc=\d\.\d{3}, loss=\d\.\d{3}", err)
            assert err.endswith("\r")  # the bar is cleared once done, leaving the terminal as it was
        else:
            assert err == ""


def test_train_times_itself_and_names_its_bar_after_the_backend(sample, capsys):
    before = time.perf_counter()
    result = train.train(sample, replace(SAMPLE, epochs=1), "torch", seed=0)
    elapsed = time.perf_counter() - before
    assert 0 < result.seconds <= elapsed
    # the result holds the trained model and its vocabulary: evaluating them again gives the reported scores
    assert result.model.backend == "torch"
    featured, _ = train.prepare(sample, SAMPLE)
    assert train.evaluate(result.model, featured.dev, result.vocab) == result.dev
    assert train.evaluate(result.model, featured.test, result.vocab) == result.test
    assert re.search(r"(^|\r)torch: ", capsys.readouterr().err)
    train.train(sample, replace(SAMPLE, epochs=1), "torch", seed=0, desc="run 1")
    assert re.search(r"(^|\r)run 1: ", capsys.readouterr().err)


@pytest.mark.parametrize("labels, predictions, message", [
    (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), r"got \(2,\) and \(3,\)"),
    (torch.tensor([[0, 1]]), torch.tensor([[0, 1]]), r"got \(1, 2\) and \(1, 2\)"),
    (torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), r"got \(0,\) and \(0,\)"),
])
def test_scores_rejects_empty_or_mismatched_or_2d_inputs(labels, predictions, message):
    with pytest.raises(ValueError, match=r"^scores: labels and predictions must be non-empty and of the same 1-D "
                                         r"shape, " + message):
        train.scores(labels, predictions, 2)


def test_prepare_adds_ngrams_and_builds_the_vocabulary_from_train_only():
    splits = data.Splits([Example(0, ["a", "b"]), Example(1, ["a", "c", "c"])], [Example(0, ["d", "a"])],
                         [Example(1, ["e"])], ["neg", "pos"])
    featured, vocab = train.prepare(splits, replace(SAMPLE, ngrams=2, min_freq=1))
    assert featured.dev[0].tokens == ["d", "a", "d a"] and featured.test[0].tokens == ["e"]
    assert featured.label_names == ["neg", "pos"]
    assert set(vocab.itos) == {"<pad>", "<unk>", "a", "b", "c", "a b", "a c", "c c"}
    _, frequent = train.prepare(splits, replace(SAMPLE, ngrams=1, min_freq=2))
    assert set(frequent.itos) == {"<pad>", "<unk>", "a", "c"}


def test_build_model_follows_the_settings_and_the_seed():
    settings = replace(SAMPLE, embedding_dim=5, hidden_dims=(7, 3), dropout=0.25)
    model = train.build_model(40, 4, settings, "torch", seed=2)
    assert model.embedding.weight.shape == (40, 5) and [layer.out_features for layer in model.hidden] == [7, 3]
    assert model.output.weight.shape == (4, 3) and model.dropout.p == 0.25 and model.backend == "torch"
    torch.manual_seed(2)
    again = train.MLPClassifier(40, 5, [7, 3], 4, 0.25, "custom")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


def test_make_optimizer_is_adam_with_the_settings():
    model = train.build_model(10, 2, SAMPLE, "custom", seed=0)
    optimizer = train.make_optimizer(model, replace(SAMPLE, lr=0.125, weight_decay=0.01))
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == 0.125 and optimizer.param_groups[0]["weight_decay"] == 0.01
    assert len(optimizer.param_groups[0]["params"]) == len(list(model.parameters()))


def test_plot_histories_without_a_title_makes_the_folders_it_needs(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: (drawn.append(figure),
                                                                             save(figure, *args, **kwargs))[1])
    history = train.History([1], [0.5], [0.5], [0.5], [0.5], 1)
    for name in ("one.png", "two.png"):  # the second finds the folders there already
        path = train.plot_histories({"run": history}, tmp_path / "a" / "b" / name)
        assert path == tmp_path / "a" / "b" / name and path.read_bytes()[:4] == b"\x89PNG"
    assert drawn[0].get_suptitle() == ""


def test_the_default_seed_is_zero_everywhere(sample, tmp_path, capsys):
    settings = replace(SAMPLE, epochs=1)
    featured, vocab = train.prepare(sample, settings)
    runs = []
    for seed in ({}, {"seed": 0}, {"seed": 1}):
        model = train.build_model(len(vocab), 2, settings, "custom", seed=0)
        history = train.fit(model, featured.train, featured.dev, vocab, train.make_optimizer(model, settings),
                            epochs=1, batch_size=8, patience=1, progress=False, **seed)
        model = train.build_model(len(vocab), 2, settings, "custom", seed=0)
        again, dev, test = train.fit_and_evaluate(model, featured, vocab, settings, progress=False, **seed)
        runs.append((history.train_loss, again.train_loss))
    assert runs[0] == runs[1] != runs[2]
    assert all(fitted == fitted_and_evaluated for fitted, fitted_and_evaluated in runs)  # the seed is passed on
    assert capsys.readouterr().err == ""  # and so is progress=False
    whole_run = train.train(sample, settings, "custom", progress=False).history
    assert whole_run == train.train(sample, settings, "custom", seed=0, progress=False).history
    assert whole_run != train.train(sample, settings, "custom", seed=1, progress=False).history
    # the command line's files: dev is held out from train with the same default seed
    lines = [f"{k % 2}\tsentence number {k} ünïcode" for k in range(40)]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    default = train.load_splits(None, train_file=tmp_path / "train.tsv")
    assert default == train.load_splits(None, train_file=tmp_path / "train.tsv", encoding="utf-8", seed=0)
    assert default != train.load_splits(None, train_file=tmp_path / "train.tsv", seed=1)
    assert any("ünïcode" in example.tokens for example in default.train)


def test_fit_and_evaluate_shows_its_progress_by_default(sample, capsys):
    settings = replace(SAMPLE, epochs=1)
    featured, vocab = train.prepare(sample, settings)
    model = train.build_model(len(vocab), 2, settings, "custom", seed=0)
    history, dev, test = train.fit_and_evaluate(model, featured, vocab, settings)
    assert re.search(r"(^|\r)training: ", capsys.readouterr().err)
    assert dev == train.evaluate(model, featured.dev, vocab) and test == train.evaluate(model, featured.test, vocab)
    assert history.epoch == [1]


def test_load_splits_replaces_a_datasets_dev_and_test_with_files(shared_data_dir, tmp_path, monkeypatch):
    """The dataset from the folder given (not the environment's), its dev and test splits replaced by files read in
    the given encoding and checked against its classes; an error names the file's option."""
    monkeypatch.setenv("IN5550_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("IN5550_DATA_URL", (tmp_path / "no-mirror").as_uri())
    (tmp_path / "dev.tsv").write_text("1\tcafé crème\n0\tnaïve\n", encoding="latin-1")
    (tmp_path / "test.tsv").write_text("0\tdéjà vu\n", encoding="latin-1")
    (tmp_path / "three.tsv").write_text("2\ta third class\n", encoding="latin-1")
    full = train.load_splits("sst2", data_dir=shared_data_dir)
    files = {"dev_file": tmp_path / "dev.tsv", "test_file": tmp_path / "test.tsv"}
    for given in ({"dev_file": files["dev_file"]}, {"test_file": files["test_file"]}, files):
        splits = train.load_splits("sst2", data_dir=shared_data_dir, encoding="latin-1", **given)
        assert splits.train == full.train and splits.label_names == full.label_names
        for split in ("dev", "test"):
            wanted = data.read_file(given[f"{split}_file"], "latin-1") if f"{split}_file" in given else \
                getattr(full, split)
            assert getattr(splits, split) == wanted, (given, split)
    for option in ("dev_file", "test_file"):
        with pytest.raises(train.UsageError, match="label 2"):
            train.load_splits("sst2", data_dir=shared_data_dir, **{option: tmp_path / "three.tsv"})
    for option in ("train_file", "dev_file", "test_file"):
        with pytest.raises(train.UsageError, match=f"^--{option.replace('_', '-')}: no such file"):
            train.load_splits("sst2", data_dir=shared_data_dir, **{option: tmp_path / "missing.tsv"})
    with pytest.raises(train.UsageError, match="^--data-dir .* is a file"):
        train.load_splits("sst2", data_dir=tmp_path / "dev.tsv")


def test_the_divergence_message_gives_the_learning_rate_and_the_weight_decay():
    weight = torch.nn.Parameter(torch.zeros(1))
    start = "fit: the training loss became inf at epoch 2, batch 3: training diverged"
    for optimizer, end in [
        (torch.optim.SGD([weight], lr=0.5), "(learning rate 0.5, weight decay 0); try a lower learning rate (--lr), "
                                            "e.g. 0.05"),
        (torch.optim.SGD([weight], lr=0.5, weight_decay=0.01),
         "(learning rate 0.5, weight decay 0.01); try a lower learning rate (--lr), e.g. 0.05, or less weight decay "
         "(--weight-decay)"),
        (SimpleNamespace(param_groups=[{}]), "(learning rate nan, weight decay 0); try a lower learning rate (--lr), "
                                             "e.g. nan"),  # an optimizer without either setting
    ]:
        assert train._diverged("training loss", math.inf, "epoch 2, batch 3", optimizer) == f"{start} {end}"


def test_prepare_adds_the_ngrams_the_settings_ask_for_and_keeps_a_one_word_vocabulary():
    assert train.with_ngrams([Example(0, ["a", "b", "c"])]) == [Example(0, ["a", "b", "c", "a b", "b c"])]  # bigrams
    two_words = [Example(0, ["good", "film"]), Example(1, ["good", "film"])] * 2
    featured, _ = train.prepare(data.Splits(two_words, two_words, two_words, ["0", "1"]), replace(SAMPLE, ngrams=1))
    assert featured.train == two_words  # no bigram "good film" when the settings ask for none
    one_word = [Example(0, ["good"]), Example(1, ["good"])] * 2
    featured, vocab = train.prepare(data.Splits(one_word, one_word, one_word, ["0", "1"]),
                                    replace(SAMPLE, ngrams=1, min_freq=1))
    assert featured.train == one_word and len(vocab) == 3  # the word and the two special tokens
