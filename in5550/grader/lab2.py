"""Lab 2 for the autograder: the nodes a submission must define, the inputs they are graded on, the expected
values and the mistakes that can be named.

Each :class:`~in5550.grader.verdict.NodeSpec` gives the node's arguments in the order of its ``forward``, the
same computation in :mod:`torch.nn.functional` (the reference: the verdict differentiates it with PyTorch
autograd in float64, in the grader's own process) and a generator of inputs. ``make_inputs(generator, hidden)``
returns fixed-size inputs for the visible tests (``hidden=False``, a fixed seed) and inputs of random sizes for
the hidden ones (``hidden=True``, a seed drawn from ``os.urandom`` at grading time).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from in5550.grader.verdict import Mistake, NodeSpec, close, expected

DTYPE = torch.float64


def _normal(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


def _size(generator: torch.Generator, low: int, high: int) -> int:
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def _elementwise_inputs(generator: torch.Generator, hidden: bool) -> tuple:
    shape = (_size(generator, 1, 3), _size(generator, 2, 5), _size(generator, 2, 6)) if hidden else (4, 5)
    return (2 * _normal(generator, *shape),)


def _linear_inputs(generator: torch.Generator, hidden: bool) -> tuple:
    batch, fan_in, fan_out = (_size(generator, 2, 6), _size(generator, 2, 7), _size(generator, 2, 7)) if hidden \
        else (4, 5, 3)
    return _normal(generator, batch, fan_in), _normal(generator, fan_out, fan_in), _normal(generator, fan_out)


def _softmax_inputs(generator: torch.Generator, hidden: bool) -> tuple:
    if not hidden:
        return 3 * _normal(generator, 4, 5), 1
    return 3 * _normal(generator, _size(generator, 2, 5), _size(generator, 2, 6)), _size(generator, -1, 1)


def _cross_entropy_inputs(generator: torch.Generator, hidden: bool) -> tuple:
    batch, classes = (_size(generator, 2, 8), _size(generator, 2, 6)) if hidden else (4, 3)
    return 2 * _normal(generator, batch, classes), torch.randint(classes, (batch,), generator=generator)


def _embedding_bag_inputs(generator: torch.Generator, hidden: bool) -> tuple:
    """Non-empty bags with more tokens than vocabulary, so that some ids are certain to repeat."""
    vocab, dim, bags = (_size(generator, 3, 8), _size(generator, 2, 5), _size(generator, 2, 5)) if hidden \
        else (6, 3, 4)
    tokens = vocab + bags + (_size(generator, 0, 4) if hidden else 2)
    ids = torch.randint(vocab, (tokens,), generator=generator)
    starts = torch.randperm(tokens - 1, generator=generator)[: bags - 1].add(1).sort().values
    return ids, _normal(generator, vocab, dim), torch.cat([torch.zeros(1, dtype=torch.long), starts])


# --------------------------------------------------------------------------------------------------------------
# Mistakes particular to one node (the general ones are in verdict.GENERAL_MISTAKES)


def _batch_size(args: tuple) -> int:
    return args[0].shape[0]


def _last_example_only(student, wanted, args, grad_output) -> bool:
    x, weight, bias = args
    grads = expected(F.linear, (x[-1:], weight, bias), grad_output[-1:])[1]
    return any(close(student, grad) for grad in grads[1:])


def _repeated_ids_not_added(student, wanted, args, grad_output) -> bool:
    counts = torch.bincount(args[0], minlength=wanted.shape[0])
    once, repeated = counts == 1, counts > 1
    return (student.shape == wanted.shape and close(student[once], wanted[once])
            and not close(student[repeated], wanted[repeated]))


def _sum_bags(ids, weight, offsets):
    return F.embedding_bag(ids, weight, offsets, mode="sum")


def _mean_bags(ids, weight, offsets):
    return F.embedding_bag(ids, weight, offsets, mode="mean")


MISSING_MEAN = "is N times too large: the loss is the mean over the batch, so divide by the batch size N " \
               "(missing 1/N)"

NODES = (
    NodeSpec("Sigmoid", ("input",), torch.sigmoid, _elementwise_inputs),
    NodeSpec("Tanh", ("input",), torch.tanh, _elementwise_inputs),
    NodeSpec("ReLU", ("input",), F.relu, _elementwise_inputs),
    NodeSpec("Linear", ("input", "weight", "bias"), F.linear, _linear_inputs, mistakes=(
        Mistake(("weight", "bias"), "holds only the last example's share: in a loop over the batch, add each "
                "example's gradient (+=) instead of assigning it (=)", _last_example_only),
    )),
    NodeSpec("Softmax", ("input", "dim"), F.softmax, _softmax_inputs),
    NodeSpec("CrossEntropy", ("input", "target"), F.cross_entropy, _cross_entropy_inputs, mistakes=(
        Mistake(("output", "input"), MISSING_MEAN,
                lambda student, wanted, args, grad_output: close(student, wanted * _batch_size(args))),
    )),
    NodeSpec("EmbeddingBag", ("input", "weight", "offsets"), _mean_bags, _embedding_bag_inputs, mistakes=(
        Mistake(("weight",), "is wrong exactly in the rows of ids that occur more than once: the gradients of "
                "repeated token ids must be added up (index_add_), not assigned (grad[ids] = ... keeps only one)",
                _repeated_ids_not_added),
        Mistake(("output",), "is the sum of each bag's embeddings; mode 'mean' divides by the bag's size",
                lambda student, wanted, args, grad_output: close(student, _sum_bags(*args))),
        Mistake(("weight",), "is the gradient of the sum of each bag; with the mean, divide each bag's gradient "
                "by its number of tokens",
                lambda student, wanted, args, grad_output: close(student, expected(_sum_bags, args,
                                                                                   grad_output)[1][1])),
    )),
)
