"""Lab 2 for the autograder: the nodes a submission must define, the inputs they are graded on, the expected
values and the mistakes that can be named.

Each :class:`~in5550.grader.verdict.NodeSpec` gives the node's arguments in the order of its ``forward``, the
same computation in :mod:`torch.nn.functional` (the reference: the verdict differentiates it with PyTorch
autograd in float64, in the grader's own process) and the entry of the registry of node inputs
(:mod:`in5550.cases`) its cases come from. The lab's nodes take fewer options than :mod:`in5550.functional`
(``Softmax.forward(input, dim)``, ``CrossEntropy.forward(input, target)`` with the mean over a batch of class
indices, ``EmbeddingBag.forward(input, weight, offsets)`` in mean mode, ``Linear.forward(input, weight, bias)``
on a batch ``(N, in)``): each node's ``convert`` keeps the samples whose options it supports and turns them into
its positional arguments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from in5550.grader.verdict import Mistake, NodeSpec, expected


def _only_inputs(sample) -> tuple | None:
    """An element-wise node takes the input alone, of any shape."""
    return sample.args() if not sample.options else None


def _linear(sample) -> tuple | None:
    """A batch ``(N, in)`` with a bias: the lab's Linear has no leading dimensions and always a bias."""
    supported = not sample.options and set(sample.inputs) == {"input", "weight", "bias"} \
        and sample.inputs["input"].dim() == 2
    return sample.args() if supported else None


def _softmax(sample) -> tuple | None:
    """``dim`` is positional in the lab's ``Softmax.forward(input, dim)``."""
    return (*sample.args(), sample.options["dim"]) if set(sample.options) == {"dim"} else None


def _cross_entropy(sample) -> tuple | None:
    """Logits ``(N, C)`` and class indices ``(N,)``, averaged over the batch, and nothing ignored."""
    logits, target = sample.inputs["input"], sample.inputs["target"]
    supported = not sample.options and logits.dim() == 2 and target.dim() == 1 and bool((target >= 0).all())
    return sample.args() if supported else None


def _embedding_bag(sample) -> tuple | None:
    """Mean bags of 1-D ids given by ``offsets``, without ``padding_idx`` or other options."""
    options = sample.options
    supported = set(options) == {"offsets", "mode"} and options["mode"] == "mean" and sample.inputs["input"].dim() == 1
    return (*sample.args(), options["offsets"]) if supported else None


# --------------------------------------------------------------------------------------------------------------
# Mistakes particular to one node (the general ones are in verdict.GENERAL_MISTAKES)


def _batch_size(args: tuple) -> int:
    return args[0].shape[0]


def _last_example_only(student, wanted, case) -> bool:
    """The weight or bias gradient of the last example alone (a loop that assigns where it should add up)."""
    x, weight, bias = case.args
    if _batch_size(case.args) == 1:
        return False
    grads = expected(F.linear, (x[-1:], weight, bias), case.grad_output[-1:])[1]
    return any(grad.shape == wanted.shape and case.close(student, grad) for grad in grads[1:])


def _bags(ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The bag of each token."""
    lengths = torch.diff(offsets, append=torch.tensor([len(ids)]))
    return torch.repeat_interleave(torch.arange(len(offsets)), lengths)


def _repeated_ids_not_added(student, wanted, case) -> bool:
    """Each row of the weight gradient is one occurrence's share instead of the sum of them all (``grad[ids] =
    ...`` keeps one of the writes to a row): true when some id occurs twice and every row is exactly what such
    assignments leave, whichever of the writes to a row is kept."""
    ids, weight, offsets = case.args
    if student.shape != wanted.shape or len(torch.unique(ids)) == len(ids):
        return False
    bags = _bags(ids, offsets)
    sizes = torch.bincount(bags, minlength=len(offsets)).clamp(min=1)
    shares = case.grad_output.double()[bags] / sizes[bags, None]  # each token's share of its bag's gradient
    for row in range(len(wanted)):
        mine = shares[ids == row]
        if len(mine) == 0:
            if not case.close(student[row], wanted[row]):
                return False
        elif not any(case.close(student[row], share) for share in mine):
            return False
    return True


def _sum_bags(ids, weight, offsets):
    return F.embedding_bag(ids, weight, offsets, mode="sum")


def _mean_bags(ids, weight, offsets):
    return F.embedding_bag(ids, weight, offsets, mode="mean")


def _sum_bags_weight_grad(student, wanted, case) -> bool:
    ids, weight, offsets = case.args
    sizes = torch.bincount(_bags(ids, offsets), minlength=len(offsets))
    return bool((sizes > 1).any()) and case.close(student, expected(_sum_bags, case.args, case.grad_output)[1][1])


def _sum_bags_output(student, wanted, case) -> bool:
    ids, weight, offsets = case.args
    sizes = torch.bincount(_bags(ids, offsets), minlength=len(offsets))
    return bool((sizes > 1).any()) and case.close(student, _sum_bags(ids, weight.double(), offsets))


def _other_dim(student, wanted, case) -> bool:
    """The softmax (output) or its gradient (input) along another dimension than ``dim``: ``dim`` ignored."""
    input, dim = case.args
    is_output = wanted is case.wanted[0]
    for other in range(input.dim()):
        if other != dim % input.dim():
            output, grads = expected(F.softmax, (input, other), case.grad_output)
            if case.close(student, output if is_output else grads[0]):
                return True
    return False


MISSING_MEAN = "{what} is N times too large: the loss is the mean over the batch, so divide by the batch size N " \
               "(missing 1/N)"

NODES = (
    NodeSpec("Sigmoid", ("input",), torch.sigmoid, "sigmoid", _only_inputs),
    NodeSpec("Tanh", ("input",), torch.tanh, "tanh", _only_inputs),
    NodeSpec("ReLU", ("input",), F.relu, "relu", _only_inputs),
    NodeSpec("Linear", ("input", "weight", "bias"), F.linear, "linear", _linear, mistakes=(
        Mistake(("weight", "bias"), "{what} holds only the last example's share: in a loop over the batch, add "
                "each example's gradient (+=) instead of assigning it (=)", _last_example_only),
    )),
    NodeSpec("Softmax", ("input", "dim"), F.softmax, "softmax", _softmax, mistakes=(
        Mistake(("output", "input"), "{what} is that of a softmax along another dimension than dim: use the dim argument "
                "(in forward, and saved in ctx for backward), which may also be 0 or negative", _other_dim),
    )),
    NodeSpec("CrossEntropy", ("input", "target"), F.cross_entropy, "cross_entropy", _cross_entropy, mistakes=(
        Mistake(("output", "input"), MISSING_MEAN,
                lambda student, wanted, case: _batch_size(case.args) > 1
                and case.close(student, wanted * _batch_size(case.args))),
    )),
    NodeSpec("EmbeddingBag", ("input", "weight", "offsets"), _mean_bags, "embedding_bag", _embedding_bag,
             mistakes=(
                 Mistake(("weight",), "{what} is wrong exactly in the rows of ids that occur more than once: the "
                         "gradients of repeated token ids must be added up (index_add_), not assigned "
                         "(grad[ids] = ... keeps only one)", _repeated_ids_not_added),
                 Mistake(("output",), "{what} is the sum of each bag's embeddings; mode 'mean' divides by the "
                         "bag's size", _sum_bags_output),
                 Mistake(("weight",), "{what} is the gradient of the sum of each bag; with the mean, divide each "
                         "bag's gradient by its number of tokens", _sum_bags_weight_grad),
             )),
)
