"""The modules of in5550.nn: identical parameters and gradients in both backends, and clear errors."""

import pytest
import torch

from in5550 import checks
from in5550.nn import Dropout, EmbeddingBag, Linear, MLPClassifier, functional

SIZES = dict(vocab_size=30, embedding_dim=6, num_classes=3)
# float64 results of a few additions and products, against the same computed in another order
TIGHT_RTOL = 1e-12
TIGHT_ATOL = 1e-14


def make(backend, hidden_dims=(5,), dropout=0.5, seed=0):
    torch.manual_seed(seed)
    return MLPClassifier(hidden_dims=list(hidden_dims), dropout=dropout, backend=backend, **SIZES)


def batch():
    # three sentences, one with a repeated id and one with the padding id 0 (left out of the mean)
    ids = torch.tensor([3, 7, 7, 12, 0, 29, 5, 1, 8])
    offsets = torch.tensor([0, 3, 6])
    return ids, offsets, torch.tensor([2, 0, 1])


@pytest.mark.parametrize("hidden_dims", [(), (5,), (5, 4)])
def test_same_seed_gives_identical_parameters_in_both_backends(hidden_dims):
    ours, theirs = make("custom", hidden_dims), make("torch", hidden_dims)
    names = [name for name, _ in ours.named_parameters()]
    assert names == [name for name, _ in theirs.named_parameters()]
    assert len(names) == 1 + 2 * (len(hidden_dims) + 1)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(make("custom", hidden_dims, seed=1).output.weight, ours.output.weight)


@pytest.mark.parametrize("hidden_dims", [(), (5, 4)])
def test_both_backends_give_the_same_loss_and_gradients_with_dropout(hidden_dims):
    ids, offsets, labels = batch()
    results = {}
    for backend in ("custom", "torch"):
        model = make(backend, hidden_dims).double()
        torch.manual_seed(7)  # the same dropout masks in both
        loss = model.loss(model(ids, offsets), labels)
        loss.backward()
        results[backend] = {"loss": loss, **{name: p.grad for name, p in model.named_parameters()}}
    comparisons = checks.compare(results["custom"], results["torch"])
    assert [c.name for c in comparisons] == list(results["torch"])
    assert all(c.passed for c in comparisons), "\n".join(map(str, comparisons))
    # the gradients are not trivially zero, and the padding row gets none
    assert results["custom"]["embedding.weight"].abs().sum() > 0
    assert torch.all(results["custom"]["embedding.weight"][0] == 0)


def test_dropout_is_active_in_training_and_off_in_evaluation():
    ids, offsets, _ = batch()
    model = make("custom", dropout=0.5)
    model.eval()
    assert torch.equal(model(ids, offsets), model(ids, offsets))
    model.train()
    torch.manual_seed(0)
    first = model(ids, offsets)
    torch.manual_seed(1)
    assert not torch.equal(first, model(ids, offsets))


@pytest.mark.parametrize("backend", ["custom", "torch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_dropout_module_is_the_identity_in_evaluation_mode(backend, p):
    x = torch.randn(40, 25, dtype=torch.float64)
    dropout = Dropout(p, backend=backend).eval()
    assert torch.equal(dropout(x), x)
    # in training, each element is either dropped or scaled by 1 / (1 - p)
    y = dropout.train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=TIGHT_RTOL, atol=0.0)
    if p > 0:
        assert 0 < kept.sum() < x.numel()
        assert abs(kept.double().mean().item() - (1 - p)) < 0.1  # 1000 draws: about 5 standard deviations
    else:
        assert kept.all()


def by_hand(model, bags):
    """The classifier's logits in evaluation mode, from its parameters, written out: the mean of the embedding
    rows of each bag's non-padding ids, ReLU layers, then the output layer."""
    rows = []
    for bag in bags:
        h = torch.stack([model.embedding.weight[i] for i in bag if i != 0]).mean(0)
        for layer in model.hidden:
            h = torch.clamp(layer.weight @ h + layer.bias, min=0)
        rows.append(model.output.weight @ h + model.output.bias)
    return torch.stack(rows)


@pytest.mark.parametrize("backend", ["custom", "torch"])
@pytest.mark.parametrize("hidden_dims", [(), (5,), (5, 4)])
def test_logits_in_evaluation_mode_match_a_computation_by_hand(backend, hidden_dims):
    ids, offsets, _ = batch()
    model = make(backend, hidden_dims, dropout=0.5).double().eval()
    bags = [[3, 7, 7], [12, 0, 29], [5, 1, 8]]
    with torch.no_grad():
        expected = by_hand(model, bags)
        torch.testing.assert_close(model(ids, offsets), expected, rtol=TIGHT_RTOL, atol=TIGHT_ATOL)
        torch.testing.assert_close(model(torch.tensor(bags)), expected, rtol=TIGHT_RTOL, atol=TIGHT_ATOL)
        # the ids may be int32 as well as int64
        torch.testing.assert_close(model(ids.int(), offsets.int()), expected, rtol=TIGHT_RTOL, atol=TIGHT_ATOL)


@pytest.mark.parametrize("backend", ["custom", "torch"])
def test_padded_form_gives_the_same_logits_as_the_bag_form(backend):
    ids, offsets, _ = batch()
    padded = torch.tensor([[3, 7, 7], [12, 0, 29], [5, 1, 8]])
    model = make(backend).eval()
    torch.testing.assert_close(model(padded), model(ids, offsets))


def test_linear_is_initialised_like_torch_linear():
    torch.manual_seed(3)
    ours = Linear(7, 4)
    torch.manual_seed(3)
    theirs = torch.nn.Linear(7, 4)
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    x = torch.randn(2, 5, 7)
    torch.testing.assert_close(ours(x), theirs(x))


def test_embedding_bag_init_is_small_uniform_with_a_zero_padding_row():
    table = EmbeddingBag(1000, 50, padding_idx=0).weight
    assert torch.all(table[0] == 0)
    assert table.abs().max() <= 1 / 50 and table[1:].abs().max() > 0.9 / 50


def test_modules_report_their_backend():
    assert "backend='torch'" in repr(make("torch"))
    assert functional("torch") is torch.nn.functional


@pytest.mark.parametrize("build, message", [
    (lambda: make("numpy"), "backend must be one of 'custom', 'torch', got 'numpy'"),
    (lambda: functional(None), "backend must be one of 'custom', 'torch', got None"),
    (lambda: MLPClassifier(0, 4, [4], 2), "vocab_size must be a positive integer, got 0"),
    (lambda: MLPClassifier(10, -1, [4], 2), "embedding_dim must be a positive integer, got -1"),
    (lambda: MLPClassifier(10, 4, 64, 2), "hidden_dims must be a list of positive integers"),
    (lambda: MLPClassifier(10, 4, [4, 0], 2), "got [4, 0]"),
    (lambda: MLPClassifier(10, 4, [4], 1), "num_classes must be an integer >= 2, got 1"),
    (lambda: MLPClassifier(10, 4, [4], 2, dropout=1.0), "dropout must be a probability in [0, 1), got 1.0"),
    (lambda: Linear(0, 3), "Linear: in_features must be a positive integer, got 0"),
    (lambda: EmbeddingBag(10, 4, mode="median"), "EmbeddingBag: mode must be one of"),
    (lambda: EmbeddingBag(10, 4, padding_idx=10), "padding_idx must be None or in [0, 10), got 10"),
    (lambda: Dropout(-0.1), "Dropout: p must be a probability in [0, 1), got -0.1"),
])
def test_bad_arguments_raise_clear_errors(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert message in str(error.value)


def test_bad_input_shapes_are_reported_by_the_functional_layer():
    model = make("custom")
    with pytest.raises(ValueError, match="offsets"):
        model(torch.tensor([1, 2, 3]), torch.tensor([[0, 1]]))
    with pytest.raises(IndexError, match="token id 30"):
        model(torch.tensor([1, 30]), torch.tensor([0]))
