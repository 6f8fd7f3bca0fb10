"""in5550.bench and ``in5550 bench``: the counting of saved bytes, and the shape of the report."""

import json

import pytest
import torch

from in5550 import bench, cli
from in5550.nn import MLPClassifier

KEYS = ["device", "batch_size", "custom_ms", "torch_ms", "ratio", "custom_saved_bytes", "torch_saved_bytes"]
TINY = dict(vocab_size=50, embedding_dim=4, hidden_dim=4, repeats=2, warmup=1)


class SavesTwo(torch.autograd.Function):
    """Saves a (3, 4) float32 input and a (5,) int64 tensor (the second one twice) for its backward."""

    @staticmethod
    def forward(x, counts):
        return x * 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, counts = inputs
        ctx.save_for_backward(x, counts, counts)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 2, None


def test_saved_bytes_counts_each_saved_tensor_once():
    x = torch.ones(3, 4, requires_grad=True)
    counts = torch.arange(5)
    assert bench.saved_bytes(lambda: SavesTwo.apply(x, counts)) == 3 * 4 * 4 + 5 * 8
    # two different views of one storage are two saved tensors
    assert bench.saved_bytes(lambda: SavesTwo.apply(x, counts[:2])) == 3 * 4 * 4 + 2 * 8
    # nothing is saved without a graph
    with torch.no_grad():
        assert bench.saved_bytes(lambda: SavesTwo.apply(x, counts)) == 0


def test_our_model_saves_no_more_than_torch_for_backward():
    ids, offsets, labels = bench.make_batch(16, 50, torch.Generator().manual_seed(0))
    saved = {}
    for backend in ("custom", "torch"):
        torch.manual_seed(0)
        model = MLPClassifier(50, 8, [8], 2, 0.5, backend)
        saved[backend] = bench.saved_bytes(lambda: model.loss(model(ids, offsets), labels))
    assert 0 < saved["custom"] <= saved["torch"]


def test_make_batch_is_in_embedding_bag_form():
    ids, offsets, labels = bench.make_batch(6, 20, torch.Generator().manual_seed(1))
    lengths = torch.diff(offsets, append=torch.tensor([len(ids)]))
    assert offsets[0] == 0 and labels.shape == (6,)
    assert lengths.min() >= bench.SENTENCE_LENGTHS[0] and lengths.max() <= bench.SENTENCE_LENGTHS[1]
    assert ids.min() >= 1 and ids.max() < 20


def test_bench_rows():
    rows = bench.bench("cpu", batch_sizes=(4, 8), **TINY)
    assert [row["batch_size"] for row in rows] == [4, 8]
    for row in rows:
        assert sorted(row) == sorted(KEYS)
        assert row["device"] == "cpu" and row["custom_ms"] > 0 and row["torch_ms"] > 0
        assert 0 < row["custom_saved_bytes"] <= row["torch_saved_bytes"]
    assert rows[1]["torch_saved_bytes"] > rows[0]["torch_saved_bytes"]  # more sentences, more saved
    assert "custom/torch" in bench.format_table(rows).splitlines()[0]


class ScriptedClock:
    """A stand-in for ``time.perf_counter`` whose k-th timed interval lasts ``durations[k]`` seconds: a step
    reads the clock twice, at its start and at its end."""

    def __init__(self, durations):
        self.durations, self.now, self.reads = list(durations), 100.0, 0

    def perf_counter(self):
        if self.reads % 2:
            self.now += self.durations[self.reads // 2]
        self.reads += 1
        return self.now


def test_bench_reports_the_median_step_times_and_their_ratio(monkeypatch):
    # warmup 1 and repeats 3: rounds 0 and 2 time custom first, rounds 1 and 3 torch first; round 0 is not kept
    custom = {0: 0.050, 1: 0.006, 2: 0.009, 3: 0.003}  # seconds per round: median of rounds 1-3 is 6 ms
    torch_ = {0: 0.070, 1: 0.002, 2: 0.008, 3: 0.004}  # median 4 ms
    order = [custom[0], torch_[0], torch_[1], custom[1], custom[2], torch_[2], torch_[3], custom[3]]
    clock = ScriptedClock(order)
    monkeypatch.setattr(bench, "time", clock)
    (row,) = bench.bench("cpu", batch_sizes=(4,), vocab_size=50, embedding_dim=4, hidden_dim=4, repeats=3, warmup=1)
    assert clock.reads == 2 * len(order)
    assert row["custom_ms"] == pytest.approx(6.0) and row["torch_ms"] == pytest.approx(4.0)
    assert row["ratio"] == pytest.approx(1.5)
    table = bench.format_table([row]).splitlines()
    assert table[1].split()[:6] == ["cpu", "4", "eager", "6.00", "4.00", "1.500"]


def test_bench_command_prints_one_json_list(capsys):
    assert cli.main(["bench", "--json", "--repeats", "1", "--warmup", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and [row["batch_size"] for row in rows] == list(bench.BATCH_SIZES)
    assert all(sorted(row) == sorted(KEYS) and row["custom_saved_bytes"] <= row["torch_saved_bytes"] for row in rows)


def test_bench_command_times_a_model_of_the_size_asked(capsys):
    quick = ["--vocab-size", "50", "--repeats", "1", "--warmup", "0"]
    assert cli.main(["bench", *quick, "--dim", "3"]) == 0
    header, *table = capsys.readouterr().out.splitlines()
    assert "vocabulary 50, embedding and hidden 3" in header and len(table) == 1 + len(bench.BATCH_SIZES)
    saved = {}
    for dim in (3, 6):
        assert cli.main(["bench", "--json", *quick, "--dim", str(dim)]) == 0
        saved[dim] = [row["torch_saved_bytes"] for row in json.loads(capsys.readouterr().out)]
    assert all(wide > narrow for wide, narrow in zip(saved[6], saved[3]))  # wider layers save more for backward


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--dim", "0"], "--vocab-size must be >= 2 and --dim >= 1, got 15000 and 0"),
    (["--vocab-size", "1"], "--vocab-size must be >= 2 and --dim >= 1, got 1 and 256"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
])
def test_bench_command_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err.splitlines()[-1] and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_bench_command_without_cuda_says_so(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "--device", "cuda"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "in5550 bench: error: --device cuda: no CUDA device is available"


@pytest.mark.cuda
def test_bench_on_cuda_reports_peak_memory():
    rows = bench.bench("cuda", batch_sizes=(8,), **TINY)
    assert sorted(rows[0]) == sorted(KEYS + ["custom_peak_bytes", "torch_peak_bytes"])
    assert rows[0]["custom_peak_bytes"] > 0 and rows[0]["torch_peak_bytes"] > 0
