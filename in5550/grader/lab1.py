"""Lab 1 for the autograder: back-propagation by hand, graded from the student's notebook.

Lab 1 (``labs/lab1/lab1.ipynb``) asks for four functions, on plain numbers and tensors, without autograd:

- ``graph_forward(a, b)`` and ``graph_backward(a, b)``: the lecture's graph :math:`e = (a + b)(b + 1)`, its node
  values ``c, d, e`` and the gradients ``de/dc, de/dd, de/da, de/db``, for Python numbers;
- ``two_layer_forward(x, W1, b1, W2, b2, t)`` and ``two_layer_backward(...)``: one example through a linear
  layer, ReLU, a linear layer and softmax cross-entropy, its intermediate values and the gradients of the loss
  for ``x, W1, b1, W2, b2``.

The submission is the notebook, ``lab1.ipynb``. It is never run: :func:`prepare` reads its JSON and keeps, from
its code cells, only the imports and the definitions at the top level (test cells, prints and the notebook's own
test helper go), then adds two nodes written here, :data:`GLUE`. Through them the lab is graded like lab 2,
with the same verdict and feedback:

- ``Graph``: forward is ``e`` from ``graph_forward`` and backward is ``graph_backward``'s ``de/da, de/db`` times
  the upstream gradient; the functions are called on Python numbers, one element at a time, as the lab promises;
- ``TwoLayer``: forward is ``two_layer_forward``'s loss and backward is ``two_layer_backward``'s gradients times
  the upstream gradient.

Inputs come from the registry of node inputs (:mod:`in5550.cases`): the graph's ``a`` and ``b`` from the
``mul`` samples of equal shapes; the network's first layer from a ``linear`` sample (its example, weight and
bias), and its second layer and target from a generator seeded by that sample, so they too follow the seed.
"""

from __future__ import annotations

import ast
import json
import zlib

import torch
import torch.nn.functional as F

from in5550.grader.verdict import Mistake, NodeSpec

FUNCTIONS = ("graph_forward", "graph_backward", "two_layer_forward", "two_layer_backward")
"""The functions a lab-1 submission must define."""
NOTEBOOK_HELPERS = ("check_two_layer_backward",)
"""Functions the notebook itself defines for its test cells (they use autograd): not the student's work."""
NOTEBOOK_IMPORTS = ("in5550.grader.selfcheck",)
"""Modules the notebook itself imports for its check cell: not the student's borrowing of the package."""

GLUE = '''

# ---- added by the autograder: the lab's functions as nodes, graded like lab 2's ----


class Graph(torch.autograd.Function):
    @staticmethod
    def forward(a, b):
        values = [graph_forward(float(x), float(y))[2] for x, y in zip(a.flatten().tolist(), b.flatten().tolist())]
        return torch.tensor(values, dtype=a.dtype).reshape(a.shape)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grads = [graph_backward(float(x), float(y))[2:] for x, y in zip(a.flatten().tolist(), b.flatten().tolist())]
        grads = torch.tensor(grads, dtype=a.dtype).reshape(*a.shape, 2)
        return grad_output * grads[..., 0], grad_output * grads[..., 1]


class TwoLayer(torch.autograd.Function):
    @staticmethod
    def forward(x, W1, b1, W2, b2, t):
        return torch.as_tensor(two_layer_forward(x, W1, b1, W2, b2, int(t))["loss"], dtype=x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        x, W1, b1, W2, b2, t = ctx.saved_tensors
        grads = two_layer_backward(x, W1, b1, W2, b2, int(t))
        return (*(grad_output * grads[name] for name in ("x", "W1", "b1", "W2", "b2")), None)
'''


def _code_of_cell(source: str) -> str:
    """A code cell's source without IPython's ``%magic`` and ``!shell`` lines (which are not Python)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def definitions(cells: list[str]) -> str:
    """The imports and top-level definitions of the code cells ``cells``, in order, each marked with its cell
    (the notebook's own test helper and check import left out)."""
    kept = []
    for number, cell in enumerate(cells, start=1):
        source = _code_of_cell(cell)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # a cell that is not Python defines nothing the grader can use
        lines = source.splitlines()
        for statement in tree.body:
            if isinstance(statement, (ast.FunctionDef, ast.ClassDef)) and statement.name in NOTEBOOK_HELPERS or \
                    isinstance(statement, ast.ImportFrom) and statement.module in NOTEBOOK_IMPORTS:
                continue
            if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
                first = min([statement.lineno] + [node.lineno for node in getattr(statement, "decorator_list", [])])
                kept.append(f"# cell {number}\n" + "\n".join(lines[first - 1: statement.end_lineno]))
    return "\n\n".join(kept) + "\n"


def prepare(text: str) -> tuple[str | None, str | None]:
    """The Python module graded for the notebook ``text`` (its definitions, then :data:`GLUE`), or ``None`` and
    why the notebook cannot be graded."""
    try:
        notebook = json.loads(text)
        cells = ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                 for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError):
        return None, "the submission is not a Jupyter notebook (submit lab1.ipynb, saved from Jupyter)"
    module = definitions([cell for cell in cells if isinstance(cell, str)])
    missing = [name for name in FUNCTIONS if f"def {name}(" not in module]
    if missing:
        return None, f"the notebook defines no {', '.join(missing)} (keep the functions' names as the lab gives them)"
    return module + GLUE, None


# --------------------------------------------------------------------------------------------------------------
# The nodes


def _graph(a, b):
    return (a + b) * (b + 1)


def _graph_inputs(sample) -> tuple | None:
    """The equal-shape ``mul`` samples: ``a`` and ``b`` elementwise."""
    a, b = sample.inputs["input"], sample.inputs["other"]
    if not (isinstance(b, torch.Tensor) and a.shape == b.shape):
        return None
    return a, b


def _two_layer(x, W1, b1, W2, b2, t):
    return F.cross_entropy((W2 @ torch.relu(W1 @ x + b1) + b2).unsqueeze(0), t.reshape(1))


def _two_layer_inputs(sample) -> tuple | None:
    """A ``linear`` sample's first example, weight and bias as the first layer; the second layer (2 to 4
    classes) and the target drawn from a generator seeded by the sample's values."""
    if "bias" not in sample.inputs:
        return None
    x = sample.inputs["input"].reshape(-1, sample.inputs["input"].shape[-1])[0]
    W1, b1 = sample.inputs["weight"], sample.inputs["bias"]
    generator = torch.Generator().manual_seed(zlib.crc32(W1.double().numpy().tobytes()))
    classes = int(torch.randint(2, 5, (), generator=generator))
    W2 = torch.randn(classes, W1.shape[0], generator=generator, dtype=torch.float64).to(W1.dtype)
    b2 = torch.randn(classes, generator=generator, dtype=torch.float64).to(W1.dtype)
    return x, W1, b1, W2, b2, torch.randint(classes, (), generator=generator)


def _one_path_only(student, wanted, case) -> bool:
    a, b = case.args
    return any(case.close(student, case.grad_output * path) for path in (a + b, b + 1))


def _without_relu(student, wanted, case) -> bool:
    """The gradients of ``x``, ``W1`` and ``b1`` when backward skips the ReLU's mask (the forward keeps it)."""
    x, W1, b1, W2, b2, t = (arg.double() if arg.is_floating_point() else arg for arg in case.args)
    z1 = W1 @ x + b1
    grad_z2 = torch.softmax(W2 @ torch.relu(z1) + b2, dim=0) - F.one_hot(t, len(b2)).double()
    grad_z1 = case.grad_output.double() * (W2.T @ grad_z2)  # no [z1 > 0]
    return any(case.close(student, grad) for grad in (W1.T @ grad_z1, torch.outer(grad_z1, x), grad_z1))


NODES = (
    NodeSpec("Graph", ("a", "b"), _graph, "mul", _graph_inputs, mistakes=(
        Mistake(("b",), "{what} counts only one of the two paths from b to e: b feeds both c and d, so de/db is the "
                "sum of what comes down both paths (de/dc * 1 + de/dd * 1)", _one_path_only),
    )),
    NodeSpec("TwoLayer", ("x", "W1", "b1", "W2", "b2", "t"), _two_layer, "linear", _two_layer_inputs, mistakes=(
        Mistake(("x", "W1", "b1"), "{what} ignores the ReLU: on the way back through it, multiply by [z1 > 0]",
                _without_relu),
    )),
)
