"""The vMF paper's claim measured (in5550.vmf_bench, in5550 bench --loss vmf), and the vMF loss on the meta
device."""

import json

import pytest
import torch

from in5550 import vmf_bench
from in5550.cli import main
from in5550.vmf import vmf_loss

FIELDS = {"vocab_size", "batch_size", "hidden_dim", "embedding_dim", "softmax_ms", "vmf_ms", "softmax_peak_bytes",
          "vmf_peak_bytes"}


def test_held_bytes_counts_inputs_saved_tensors_output_and_gradients_once_each():
    x = torch.ones(10, requires_grad=True)
    w = torch.ones(10, requires_grad=True)
    frozen = torch.ones(3)

    def forward():
        y = x * w  # saves x and w: already counted as held
        return y, y.sum()

    # x, w, frozen, output; gradients of the output, x and w
    assert vmf_bench.held_bytes(forward, [x, w, frozen]) == 4 * (10 + 10 + 3 + 10) + 4 * (10 + 10 + 10)

    def forward_exp():
        y = torch.exp(x)  # saves its output: the same tensor as the output
        return y, y.sum()

    assert vmf_bench.held_bytes(forward_exp, [x]) == 4 * (10 + 10) + 4 * (10 + 10)


def check_rows(rows, vocab_sizes, batch_size, hidden_dim, embedding_dim):
    assert [row["vocab_size"] for row in rows] == list(vocab_sizes)
    for row in rows:
        assert set(row) == FIELDS
        assert row["softmax_ms"] > 0 and row["vmf_ms"] > 0
        v = row["vocab_size"]
        # the softmax layer holds at least its weights, bias, logits and their gradients
        assert row["softmax_peak_bytes"] >= 4 * 2 * (v * hidden_dim + v + batch_size * v)
        # the vMF layer holds the frozen table; the rest of its step does not grow with the vocabulary
        assert row["vmf_peak_bytes"] >= 4 * v * embedding_dim
    rest = {row["vmf_peak_bytes"] - 4 * row["vocab_size"] * embedding_dim for row in rows}
    assert len(rest) == 1
    softmax = [row["softmax_peak_bytes"] for row in rows]
    assert softmax == sorted(softmax) and len(set(softmax)) == len(softmax)


def test_one_row_per_vocabulary_size_with_sane_fields():
    sizes = (100, 400, 1600)
    rows = vmf_bench.bench_output_layers(sizes, batch_size=8, hidden_dim=16, embedding_dim=10, repeats=2, warmup=1)
    check_rows(rows, sizes, 8, 16, 10)
    # with 16 hidden units and 10-dimensional targets, the softmax layer needs more at every size
    assert all(row["softmax_peak_bytes"] > row["vmf_peak_bytes"] for row in rows)
    # memory is counted, not timed: the same on every run
    again = vmf_bench.bench_output_layers(sizes, batch_size=8, hidden_dim=16, embedding_dim=10, repeats=1, warmup=0)
    assert [r["softmax_peak_bytes"] for r in again] == [r["softmax_peak_bytes"] for r in rows]
    assert [r["vmf_peak_bytes"] for r in again] == [r["vmf_peak_bytes"] for r in rows]


def test_command_line_prints_one_json_row_per_vocabulary_size(monkeypatch, capsys):
    monkeypatch.setattr(vmf_bench, "VOCAB_SIZES", (200, 800))
    assert main(["bench", "--loss", "vmf", "--json", "--dim", "8", "--repeats", "1", "--warmup", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)
    check_rows(rows, (200, 800), vmf_bench.BATCH_SIZE, 8, vmf_bench.EMBEDDING_DIM)
    assert main(["bench", "--loss", "vmf", "--dim", "8", "--repeats", "1", "--warmup", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["vocabulary", "softmax", "ms", "vMF", "ms", "time", "ratio", "softmax", "MB", "vMF",
                                "MB", "memory", "ratio"]
    assert [line.split()[0] for line in lines[2:]] == ["200", "800"]


@pytest.mark.parametrize("argv, message", [
    (["--vocab-size", "500"], "--vocab-size does not apply to --loss vmf, which sweeps 5,000, 10,000"),
    (["--repeats", "0"], "--repeats must be >= 1"),
])
def test_command_line_errors_for_the_vmf_sweep(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--loss", "vmf", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocab_sizes=()), "'vocab_sizes' must be integers >= 2"),
    (dict(vocab_sizes=(1,)), "'vocab_sizes' must be integers >= 2"),
    (dict(batch_size=0), "'batch_size' must be an integer >= 1, got 0"),
    (dict(embedding_dim=1), "'embedding_dim' must be an integer >= 2, got 1"),
])
def test_bad_sweep_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vmf_bench.bench_output_layers(**kwargs)


@pytest.mark.parametrize("reduction, shape", [("mean", ()), ("sum", ()), ("none", (4,))])
def test_vmf_loss_on_the_meta_device_gives_shapes_like_on_the_cpu(reduction, shape):
    e_hat = torch.randn(4, 10, device="meta", requires_grad=True)
    target = torch.randn(4, 10, device="meta", requires_grad=True)
    loss = vmf_loss(e_hat, target, lambda_1=0.02, lambda_2=0.1, reduction=reduction)
    cpu = vmf_loss(torch.randn(4, 10), torch.nn.functional.normalize(torch.randn(4, 10)), reduction=reduction)
    assert loss.device.type == "meta" and loss.shape == cpu.shape == shape and loss.dtype == cpu.dtype
    loss.sum().backward()
    assert e_hat.grad.shape == target.grad.shape == (4, 10) and e_hat.grad.device.type == "meta"


@pytest.mark.parametrize("m, expected", [(50, -25.4733), (300, -427.6068)])
def test_the_loss_of_a_prediction_near_zero_is_the_log_area_of_the_sphere(m, expected):
    """Why the loss is negative: as the norm goes to 0 the vMF becomes uniform on the sphere, whose density is
    1 / area; the area is tiny for large m."""
    import math

    log_area = math.log(2) + (m / 2) * math.log(math.pi) - math.lgamma(m / 2)
    assert log_area == pytest.approx(expected, abs=1e-4)
    target = torch.nn.functional.normalize(torch.ones(1, m, dtype=torch.float64), dim=1)
    loss = vmf_loss(torch.full((1, m), 1e-9, dtype=torch.float64), target)
    assert loss.item() == pytest.approx(log_area, abs=1e-6)
