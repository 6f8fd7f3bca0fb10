"""torch.compile captures our nodes as one static graph, and backward through it gives eager's numbers.

``fullgraph=True`` turns any graph break into an error, so a compile that succeeds is the proof that the whole
function (model, argument checks, loss) became one graph. Compiling is slow (tens of seconds on a CPU): the
models are tiny and every node is compiled in as few functions as possible.
"""

from __future__ import annotations

import torch

import in5550.functional as F
from in5550.nn import MLPClassifier

# The compiled graph may fuse and reorder float32 arithmetic: results agree to rounding, not bit for bit.
RTOL_COMPILED, ATOL_COMPILED = 1e-5, 1e-6


def _grads_of(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, leaves))


def test_model_and_loss_compile_to_one_graph_and_backward_matches_eager():
    torch.manual_seed(0)
    model = MLPClassifier(vocab_size=30, embedding_dim=4, hidden_dims=[5], num_classes=3, backend="custom")
    # padding tokens (id 0) and an empty bag: the paths where checks and masks depend on the data
    ids = torch.tensor([3, 0, 7, 7, 12, 0, 29, 1, 5, 5, 0])
    offsets = torch.tensor([0, 3, 3, 6, 9])
    labels = torch.tensor([0, 2, 1, 1, 0])

    def loss_of(ids, offsets, labels):
        return model.loss(model(ids, offsets), labels)

    compiled = torch.compile(loss_of, fullgraph=True)
    params = list(model.parameters())
    loss = compiled(ids, offsets, labels)
    assert type(loss.grad_fn).__name__ == "CompiledFunctionBackward"  # backward runs the compiled graph
    grads = _grads_of(loss, params)
    expected = loss_of(ids, offsets, labels)
    assert type(expected.grad_fn).__name__ == "CrossEntropyBackward"
    expected_grads = _grads_of(expected, params)
    torch.testing.assert_close(loss, expected, rtol=RTOL_COMPILED, atol=ATOL_COMPILED)
    for (name, _), grad, expected_grad in zip(model.named_parameters(), grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL_COMPILED, atol=ATOL_COMPILED, msg=name)


def test_every_other_node_compiles_in_one_graph_and_matches_eager():
    torch.manual_seed(1)
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(6, 2, requires_grad=True)
    target = torch.tensor([2, 0, -100, 1])  # one ignored target
    probability_target = torch.rand(4, 3)

    def everything(x, w):
        p = F.sigmoid(x)
        terms = [
            F.nll_loss(F.log_softmax(F.tanh(x), 1), target),
            F.binary_cross_entropy(p, probability_target, reduction="sum"),
            F.binary_cross_entropy_with_logits(x, probability_target),
            F.mse_loss(F.mul(F.softmax(x, 0), 3.0), F.exp(F.add(x, -1))),
            F.log(F.add(F.relu(x), 1)).sum(),
            F.embedding(torch.tensor([[1, 5], [5, 0]]), w, padding_idx=0).sum(),
            F.embedding_bag(torch.tensor([1, 5, 5, 2, 3]), w, torch.tensor([0, 2, 2]), mode="max").sum(),
            F.embedding_bag(torch.tensor([[1, 0, 4], [2, 2, 0]]), w, mode="sum", padding_idx=0).sum(),
        ]
        total = terms[0]
        for term in terms[1:]:
            total = F.add(total, term)
        return total

    compiled = torch.compile(everything, fullgraph=True)
    loss = compiled(x, w)
    grads = _grads_of(loss, [x, w])
    expected = everything(x, w)
    torch.testing.assert_close(loss, expected, rtol=RTOL_COMPILED, atol=ATOL_COMPILED)
    for grad, expected_grad in zip(grads, _grads_of(expected, [x, w])):
        torch.testing.assert_close(grad, expected_grad, rtol=RTOL_COMPILED, atol=ATOL_COMPILED)
