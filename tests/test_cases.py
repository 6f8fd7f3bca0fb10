"""The registry of node samples: deterministic per seed, other seeds other shapes, the dtype asked for, and
every sample a valid call of PyTorch's own function (so a test that draws from it tests a real input); a node that
PyTorch lacks (the von Mises-Fisher loss) is called itself and checked against its NumPy reference instead."""

import numpy as np
import pytest
import torch
from scipy import special

from in5550 import cases, reference

# The node in float32 against the float64 reference of the same float32 inputs: single-precision rounding.
FLOAT32_RTOL, FLOAT32_ATOL = 1e-5, 1e-5


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
        if info.torch_reference is not None:
            # No PyTorch counterpart to be a valid call of: the node itself must give its NumPy reference's value
            output = info.function()(*sample.args(), **sample.options)
            expected = getattr(reference, name)(*(v.double().numpy() for v in sample.args()), **sample.options)
            assert output.dtype == dtype, sample.note
            np.testing.assert_allclose(output.double().numpy(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL,
                                       err_msg=f"{name} ({sample.note})")
        else:
            torch.manual_seed(0)
            output = info.torch_function()(*sample.args(), **sample.options)
        assert torch.isfinite(output).all(), f"{name} ({sample.note}) is not finite"


def test_where_each_node_lives_and_its_pytorch_view():
    for name, info in cases.REGISTRY.items():
        assert info.function().__name__ == name  # in5550.functional.<name>, or the module the entry names
    vmf = cases.REGISTRY["vmf_loss"]
    assert (vmf.module, vmf.twice_differentiable) == ("in5550.vmf", False)
    assert not hasattr(torch.nn.functional, "vmf_loss") and vmf.torch_function() is vmf.torch_reference
    assert all(info.twice_differentiable and info.torch_reference is None
               for name, info in cases.REGISTRY.items() if name != "vmf_loss")


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


@pytest.mark.parametrize("seed", [0, 1])
def test_vmf_samples_cover_dimensions_norms_regularisers_and_reductions(seed):
    samples = cases.samples("vmf_loss", seed=seed)
    dims = {s.inputs["input"].shape[-1] for s in samples}
    norms = torch.cat([s.inputs["input"].norm(dim=-1).flatten() for s in samples])
    assert dims == {3, 300}
    assert norms.min() < 0.1 and norms.max() > 709  # I_v(kappa) overflows float64 beyond 709
    assert {s.options.get("reduction", "mean") for s in samples} == {"mean", "sum", "none"}
    assert 0.02 in {s.options.get("lambda_1") for s in samples} and 0.1 in {s.options.get("lambda_2") for s in samples}
    for sample in samples:  # targets are unit vectors, as the loss assumes
        lengths = sample.inputs["target"].norm(dim=-1)
        torch.testing.assert_close(lengths, torch.ones_like(lengths))
    small = next(s for s in samples if s.note == "m 300, small norm")
    assert (special.ive(149, small.inputs["input"].norm(dim=-1).numpy()) < 1e-250).all()  # where ive underflows


def test_large_logits_overflow_without_the_max_shift():
    for name in ("softmax", "cross_entropy"):
        sample = next(s for s in cases.samples(name) if s.note == "large logits")
        assert torch.isinf(sample.inputs["input"].exp()).any()


def test_unknown_node_names_the_known_ones():
    with pytest.raises(KeyError, match="no node 'softmx'.*softmax"):
        cases.samples("softmx")
