"""Comparisons that other tests make between two forms of the package (int32 and int64 ids, two calls with one
seed), checked here against a reference that is not the package: PyTorch's own functions, or numbers by hand."""

import pytest
import torch

import in5550.functional as F

# float64 sums and means of a few rows, in another order than PyTorch's: a few units in the last place
RTOL = 1e-12
ATOL = 1e-14


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("ids_dtype, offsets_dtype", [(torch.int32, torch.int32), (torch.int32, torch.int64),
                                                      (torch.int64, torch.int32), (torch.int64, torch.int64)])
def test_embedding_bag_with_any_integer_ids_matches_torch(mode, ids_dtype, offsets_dtype):
    g = torch.Generator().manual_seed(11)
    weight = torch.randn(10, 3, generator=g, dtype=torch.float64)
    ids, offsets = [1, 2, 3, 9, 2, 7, 7], [0, 1, 1, 4]  # an empty bag, a bag of padding only
    ours_weight = weight.clone().requires_grad_()
    out = F.embedding_bag(torch.tensor(ids, dtype=ids_dtype), ours_weight, torch.tensor(offsets, dtype=offsets_dtype),
                          mode=mode, padding_idx=2)
    theirs_weight = weight.clone().requires_grad_()
    expected = torch.nn.functional.embedding_bag(torch.tensor(ids), theirs_weight, torch.tensor(offsets), mode=mode,
                                                 padding_idx=2)
    grad_output = torch.linspace(-1, 1, expected.numel(), dtype=torch.float64).reshape(expected.shape)
    (grad,) = torch.autograd.grad(out, ours_weight, grad_output)
    (expected_grad,) = torch.autograd.grad(expected, theirs_weight, grad_output)
    torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(grad, expected_grad, rtol=RTOL, atol=ATOL)
    # by hand, for the bag [3, 9, 2]: padding id 2 left out
    by_hand = {"sum": weight[3] + weight[9], "mean": (weight[3] + weight[9]) / 2,
               "max": torch.maximum(weight[3], weight[9])}[mode]
    torch.testing.assert_close(out[2], by_hand, rtol=RTOL, atol=ATOL)
    assert not out[1].any()  # the empty bag


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_mask_is_the_one_torch_draws_for_the_seed(p):
    # the same seed gives the same mask, and it is PyTorch's mask: bernoulli(1 - p) drawn from the global generator
    x = torch.randn(50, 8, dtype=torch.float64)
    torch.manual_seed(4)
    ours = F.dropout(x, p, training=True)
    torch.manual_seed(4)
    theirs = torch.nn.functional.dropout(x, p, training=True)
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=0.0)
    kept = ours != 0
    torch.testing.assert_close(ours[kept], x[kept] / (1 - p), rtol=RTOL, atol=0.0)
