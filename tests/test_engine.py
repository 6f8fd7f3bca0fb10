"""The glass-box engine against PyTorch autograd: the lecture's example, an MLP with shared weights, random
expressions over every elementwise node; and its error messages."""

import random

import pytest
import torch
from torch.autograd import Function

from in5550 import engine
from in5550.checks import ATOL, RTOL


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def lecture_graph():
    a, b = engine.Variable(2.0, name="a"), engine.Variable(1.0, name="b")
    c = (a + b).named("c")
    d = (b + 1).named("d")
    e = (c * d).named("e")
    return a, b, c, d, e


def test_lecture_example_forward_backward_and_autograd():
    a, b, c, d, e = lecture_graph()
    assert e.value is None  # building the graph computes nothing
    assert engine.forward(e).item() == 6.0
    assert (c.value.item(), d.value.item()) == (3.0, 2.0)
    engine.backward(e)
    assert (a.grad.item(), b.grad.item(), c.grad.item(), d.grad.item()) == (2.0, 5.0, 2.0, 3.0)

    ta, tb = torch.tensor(2.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    ((ta + tb) * (tb + 1)).backward()
    assert (a.grad, b.grad) == (ta.grad, tb.grad)


def test_forward_again_with_new_leaf_values_reruns_the_same_graph():
    a, b, _, _, e = lecture_graph()
    engine.forward(e)
    engine.backward(e)
    a.value, b.value = torch.tensor(3.0), torch.tensor(-2.0)
    assert engine.forward(e).item() == (3 - 2) * (-2 + 1)
    assert a.grad is None  # the old gradients are cleared by the new forward pass
    engine.backward(e)
    assert (a.grad.item(), b.grad.item()) == (-1.0, (-2 + 1) + (3 - 2))


def test_topological_order_puts_every_node_after_its_inputs():
    a, b, c, d, e = lecture_graph()
    order = engine.topological_order(e)
    position = {id(v): k for k, v in enumerate(order)}
    assert len(order) == 6  # a, b, c, the constant 1, d, e
    for v in order:
        for x in v.inputs:
            assert position[id(x)] < position[id(v)]


def test_trace_and_table_show_each_step(capsys):
    a, b, c, d, e = lecture_graph()
    assert engine.table(e).splitlines()[3] == "c = a + b  -      -"  # no values before the forward pass
    engine.forward(e, trace=True)
    engine.backward(e, trace=True)
    steps = [line.split()[:2] + line.split()[-1:] for line in capsys.readouterr().out.splitlines()]
    assert steps[:6] == [["forward", "a", "2"], ["forward", "b", "1"], ["forward", "c", "3"],
                         ["forward", "1", "1"], ["forward", "d", "2"], ["forward", "e", "6"]]
    assert steps[6:] == [["backward", "e", "1"], ["backward", "d", "3"], ["backward", "1", "-"],
                         ["backward", "c", "2"], ["backward", "b", "5"], ["backward", "a", "2"]]
    rows = engine.table(e).splitlines()
    assert rows[0].split() == ["node", "value", "grad"]
    assert [row.split()[-2:] for row in rows[1:]] == [["2", "2"], ["1", "5"], ["3", "2"], ["1", "-"], ["2", "3"],
                                                       ["6", "1"]]


def test_mlp_with_a_shared_weight_matches_autograd():
    g = torch.Generator().manual_seed(1)
    values = {
        "x": torch.randn(5, 4, generator=g, dtype=torch.float64),
        "W1": torch.randn(6, 4, generator=g, dtype=torch.float64),
        "b1": torch.randn(6, generator=g, dtype=torch.float64),
        "W": torch.randn(6, 6, generator=g, dtype=torch.float64),  # used by two layers
        "b": torch.randn(6, generator=g, dtype=torch.float64),
        "W3": torch.randn(3, 6, generator=g, dtype=torch.float64),
    }
    target = torch.tensor([0, 2, 1, 1, 0])

    v = {name: engine.Variable(t, name=name) for name, t in values.items()}
    v["x"].requires_grad = False
    h1 = engine.relu(engine.linear(v["x"], v["W1"], v["b1"]), name="h1")
    h2 = engine.tanh(engine.linear(h1, v["W"], v["b"]), name="h2")
    h3 = engine.sigmoid(engine.linear(h2, v["W"], v["b"]), name="h3")
    loss = engine.cross_entropy(engine.linear(h3, v["W3"]), engine.Variable(target, name="y"), name="loss")
    engine.forward(loss)
    engine.backward(loss)

    t = {name: value.clone().requires_grad_(name != "x") for name, value in values.items()}
    F = torch.nn.functional
    h = F.relu(F.linear(t["x"], t["W1"], t["b1"]))
    h = torch.sigmoid(F.linear(torch.tanh(F.linear(h, t["W"], t["b"])), t["W"], t["b"]))
    expected = F.cross_entropy(F.linear(h, t["W3"]), target)
    expected.backward()

    close(loss.value, expected.detach())
    for name in values:
        if name != "x":
            close(v[name].grad, t[name].grad)
    assert v["x"].grad is None


UNARY = ["exp", "log", "relu", "sigmoid", "tanh"]
BINARY = ["add", "mul"]


def random_program(rng: random.Random, num_leaves: int, num_ops: int) -> list:
    """A random expression as instructions over a growing pool of values (earlier values may be reused)."""
    program = []
    for k in range(num_ops):
        pool = num_leaves + k
        op = rng.choice(UNARY + BINARY)
        if op in BINARY:
            other = rng.choice([rng.randrange(pool), rng.uniform(-2, 2)])  # sometimes a number
            program.append((op, rng.randrange(pool), other))
        else:
            program.append((op, rng.randrange(pool)))
    return program


def run_program(program, leaves, functions):
    """Evaluate ``program`` with ``functions`` (the engine or torch). log and exp get safe arguments: log of a
    sigmoid (in (0, 1)), exp of a tanh (in (-1, 1)), so that long random chains stay finite."""
    values = list(leaves)
    for op, i, *rest in program:
        x = values[i]
        if op == "log":
            x = functions.sigmoid(x)
        elif op == "exp":
            x = functions.tanh(x)
        if rest:
            other = rest[0]
            values.append(getattr(functions, op)(x, values[other] if isinstance(other, int) else other))
        else:
            values.append(getattr(functions, op)(x))
    return values[-1]


@pytest.mark.parametrize("seed", range(20))
def test_random_expressions_match_autograd(seed):
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    shapes = [(2, 3), (3,), (1, 3)]  # broadcasting, so gradients must be summed back to each leaf's shape
    leaves = [torch.randn(shape, generator=g, dtype=torch.float64) for shape in shapes]
    program = random_program(rng, len(leaves), num_ops=rng.randrange(8, 25))

    variables = [engine.Variable(t, name=f"x{k}") for k, t in enumerate(leaves)]
    output = run_program(program, variables, engine)
    engine.forward(output)
    grad_output = torch.randn(output.value.shape, generator=g, dtype=torch.float64)
    engine.backward(output, grad_output)

    tensors = [t.clone().requires_grad_() for t in leaves]
    expected = run_program(program, tensors, torch)
    grads = torch.autograd.grad(expected, tensors, grad_output, allow_unused=True)
    close(output.value, expected.detach())
    for variable, grad in zip(variables, grads):
        if grad is None:  # this leaf does not reach the output
            assert variable.grad is None
        else:
            close(variable.grad, grad)


def test_every_elementwise_node_appears_in_the_random_expressions():
    ops = {instruction[0] for seed in range(20) for instruction in
           random_program(random.Random(seed), 3, random.Random(seed).randrange(8, 25))}
    assert ops == set(UNARY + BINARY)


def test_softmax_mse_and_embedding_match_autograd():
    g = torch.Generator().manual_seed(2)
    table_ = torch.randn(7, 3, generator=g, dtype=torch.float64)
    ids = torch.tensor([[1, 4], [4, 6]])  # token 4 twice: its row collects two gradients
    target = torch.rand(2, 2, 3, generator=g, dtype=torch.float64)

    table_v = engine.Variable(table_, name="E")
    p = engine.softmax(engine.embedding(engine.Variable(ids, name="ids"), table_v), dim=-1)
    loss = engine.mse_loss(engine.log_softmax(p, dim=1), engine.Variable(target, name="t"), reduction="sum")
    engine.forward(loss)
    engine.backward(loss)

    t = table_.clone().requires_grad_()
    F = torch.nn.functional
    expected = F.mse_loss(F.log_softmax(F.softmax(F.embedding(ids, t), dim=-1), dim=1), target, reduction="sum")
    expected.backward()
    close(loss.value, expected.detach())
    close(table_v.grad, t.grad)


class Cube(Function):
    """y = x^3, with a deliberately wrong gradient shape when ``broken`` is set."""

    broken = False

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad = 3 * x**2 * grad_output
        return grad.reshape(-1)[:1] if Cube.broken else grad


def test_apply_runs_any_function_with_the_modern_api():
    x = engine.Variable(torch.tensor([1.0, 2.0]), name="x")
    y = engine.apply(Cube, x, name="y")
    assert engine.describe(y) == "y = Cube(x)"
    engine.forward(y)
    engine.backward(y, torch.ones(2))
    assert x.grad.tolist() == [3.0, 12.0]


def test_a_wrong_gradient_shape_is_reported_with_the_node(monkeypatch):
    monkeypatch.setattr(Cube, "broken", True)
    x = engine.Variable(torch.ones(2, 2), name="x")
    y = engine.apply(Cube, x, name="y")
    engine.forward(y)
    with pytest.raises(RuntimeError, match=r"Cube.backward at 'y = Cube\(x\)' returned a gradient of shape \(1,\) "
                                           r"for input 'x' of shape \(2, 2\)"):
        engine.backward(y, torch.ones(2, 2))


def test_a_failing_forward_names_the_node_and_the_input_shapes():
    x, w = engine.Variable(torch.ones(4, 3), name="x"), engine.Variable(torch.ones(5, 2), name="W")
    h = engine.linear(x, w, name="h")
    with pytest.raises(RuntimeError, match=r"Linear.forward failed at 'h = Linear\(x, W\)' with inputs "
                                           r"\(4, 3\), \(5, 2\), None"):
        engine.forward(h)


@pytest.mark.parametrize("call, error, message", [
    (lambda: engine.exp("x"), TypeError, r"engine.exp: argument 'input' must be an engine.Variable or a number, got str"),
    (lambda: engine.add(engine.Variable(1.0), torch.ones(1)), TypeError, r"engine.add: argument 'other' .* got Tensor"),
    (lambda: engine.softmax(engine.Variable([1.0]), dim=1.5), TypeError, r"engine.softmax: argument 'dim' must be an int"),
    (lambda: engine.mse_loss(engine.Variable(1.0), engine.Variable(1.0), reduction="avg"), ValueError,
     r"engine.mse_loss: argument 'reduction' must be one of \('none', 'mean', 'sum'\), got 'avg'"),
    (lambda: engine.apply(torch.exp, engine.Variable(1.0)), TypeError,
     r"engine.apply: argument 'op' must be a torch.autograd.Function subclass"),
    (lambda: engine.Variable(name="w"), ValueError, r"Variable: a leaf needs a value \(name='w'\)"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_backward_needs_a_forward_pass_and_a_scalar_or_a_grad_output():
    x = engine.Variable(torch.ones(3), name="x")
    y = engine.tanh(x, name="y")
    with pytest.raises(RuntimeError, match=r"engine.backward: run engine.forward first \(no value for 'y = Tanh\(x\)'\)"):
        engine.backward(y)
    engine.forward(y)
    with pytest.raises(RuntimeError, match=r"'output' 'y = Tanh\(x\)' has shape \(3,\); pass grad_output"):
        engine.backward(y)
    with pytest.raises(ValueError, match=r"argument 'grad_output' has shape \(2,\), expected \(3,\)"):
        engine.backward(y, torch.ones(2))
