"""The registry of node samples: deterministic per seed, other seeds other shapes, the dtype asked for, and
every sample a valid call of PyTorch's own function (so a test that draws from it tests a real input)."""

import pytest
import torch

from in5550 import cases


def _flat(sample: cases.Sample) -> list:
    return [value for value in (*sample.args(), *sample.options.values())]


def _same(first: list, second: list) -> bool:
    return len(first) == len(second) and all(
        torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b for a, b in zip(first, second))


@pytest.mark.parametrize("name", list(cases.REGISTRY))
def test_same_seed_same_samples(name):
    first, second = cases.samples(name, seed=3), cases.samples(name, seed=3)
    assert [s.note for s in first] == [s.note for s in second]
    assert all(_same(_flat(a), _flat(b)) for a, b in zip(first, second))


@pytest.mark.parametrize("name", list(cases.REGISTRY))
def test_other_seeds_other_inputs(name):
    drawn = [cases.samples(name, seed=seed) for seed in range(6)]
    assert any(not _same(_flat(drawn[0][0]), _flat(other[0])) for other in drawn[1:])
    if name not in ("dropout",):  # sizes are drawn too, so some seed changes a shape
        shapes = {tuple(tuple(v.shape) for v in _flat(samples[0]) if isinstance(v, torch.Tensor)) for samples in drawn}
        assert len(shapes) > 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(cases.REGISTRY))
def test_samples_are_valid_pytorch_calls_in_the_dtype(name, dtype):
    info = cases.REGISTRY[name]
    for sample in cases.samples(name, dtype=dtype):
        floating = [v for v in sample.args() if isinstance(v, torch.Tensor) and v.is_floating_point()]
        assert floating and all(v.dtype == dtype for v in floating), sample.note
        torch.manual_seed(0)
        output = info.torch_function()(*sample.args(), **sample.options)
        assert torch.isfinite(output).all(), f"{name} ({sample.note}) is not finite in PyTorch"


def test_samples_notes_are_distinct_per_node():
    for name in cases.REGISTRY:
        notes = [sample.note for sample in cases.samples(name)]
        assert len(notes) == len(set(notes)), name


def test_input_classes_the_lab_promises_are_present():
    notes = {name: {s.note for s in cases.samples(name)} for name in cases.REGISTRY}
    assert {"2-D, dim 0", "3-D, dim 2", "batch 1", "large logits"} <= notes["softmax"]
    assert {"batch 1", "large logits", "ignore_index, label_smoothing"} <= notes["cross_entropy"]
    assert {"mean, empty bag", "mean, repeated ids"} <= notes["embedding_bag"]
    empty = next(s for s in cases.samples("embedding_bag") if s.note == "mean, empty bag")
    assert (empty.options["offsets"].diff() == 0).any()
    repeated = next(s for s in cases.samples("embedding_bag") if s.note == "mean, repeated ids")
    assert repeated.inputs["input"].unique().numel() < repeated.inputs["input"].numel()


def test_large_logits_overflow_without_the_max_shift():
    for name in ("softmax", "cross_entropy"):
        sample = next(s for s in cases.samples(name) if s.note == "large logits")
        assert torch.isinf(sample.inputs["input"].exp()).any()


def test_unknown_node_names_the_known_ones():
    with pytest.raises(KeyError, match="no node 'softmx'.*softmax"):
        cases.samples("softmx")
