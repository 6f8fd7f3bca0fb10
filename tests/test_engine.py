"""The glass-box engine against PyTorch autograd: the lecture's example, an MLP with shared weights, random
expressions over every elementwise node; and its error messages."""

import math
import random
import re

import pytest
import torch
from torch.autograd import Function

from in5550 import engine, nodes

# The engine runs our nodes, PyTorch runs its own formulas: in float64 they agree to about 1e-8 relative after
# the random chains of up to 25 nodes below (log of a sigmoid near 0 loses digits in both), while a wrong
# gradient is off by far more than 1e-7.
RTOL = 1e-7
ATOL = 1e-9


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


class SavesNothing(Function):
    """y = 2x, saving nothing: its backward sees an empty ``saved_tensors``, as under PyTorch autograd."""

    @staticmethod
    def forward(x):
        return 2 * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        assert ctx.saved_tensors == ()
        return 2 * grad_output


def test_a_node_that_saves_nothing_sees_an_empty_saved_tensors():
    x = engine.Variable(torch.tensor([1.0, 2.0]), name="x")
    y = engine.apply(SavesNothing, x)
    engine.forward(y)
    engine.backward(y, torch.ones(2))
    assert x.grad.tolist() == [2.0, 2.0]


class Product(Function):
    """x * y, returning both gradients whether or not they are needed."""

    @staticmethod
    def forward(x, y):
        return x * y

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return grad_output * y, grad_output * x


def test_a_gradient_for_an_input_that_needs_none_is_dropped_as_autograd_drops_it():
    x = engine.Variable(torch.tensor([1.0, 2.0]), name="x")
    frozen = engine.Variable(torch.tensor([3.0, 4.0]), name="f", requires_grad=False)
    y = engine.apply(Product, x, frozen, name="y")
    engine.forward(y)
    steps = []
    engine.backward(y, torch.ones(2), on_step=lambda v, grads: steps.append(grads))
    assert frozen.grad is None and x.grad.tolist() == [3.0, 4.0]
    assert steps[0][1] is None


def test_a_node_with_a_second_output_passes_on_the_gradient_of_its_first():
    """Dropout returns its output and the mask: the value is the output, and backward gets no gradient for the
    mask (None), as autograd gives it."""
    x = engine.Variable(torch.rand(200, dtype=torch.float64) + 0.5, name="x")
    y = engine.apply(nodes.Dropout, x, 0.25, name="y")
    engine.forward(y)
    kept = y.value != 0
    assert y.value.shape == (200,) and y.extra_outputs == 1 and 0 < int(kept.sum()) < 200
    close(y.value, torch.where(kept, x.value / 0.75, 0.0))
    engine.backward(y, torch.full((200,), 3.0, dtype=torch.float64))
    close(x.grad, torch.where(kept, 3.0 / 0.75, 0.0).double())


def test_on_step_sees_each_variable_that_needs_a_gradient_with_what_it_sent():
    """The drawings animate backward with on_step(v, grads): in reverse topological order, every variable that
    needs a gradient, with the gradient sent to each input (None to a constant or a frozen input; nothing from a
    leaf); a frozen node is not visited."""
    x = engine.Variable(torch.tensor([1.0, 2.0], dtype=torch.float64), name="x")
    frozen = engine.Variable(torch.tensor([0.0, 1.0], dtype=torch.float64), name="f", requires_grad=False)
    y = engine.mul(engine.exp(frozen, name="e"), x, name="y")
    z = (y + 1).named("z")
    engine.forward(z)
    steps = []
    engine.backward(z, torch.tensor([1.0, -1.0], dtype=torch.float64), on_step=lambda v, grads: steps.append((v.name, grads)))
    assert [(name, [None if g is None else g.tolist() for g in grads]) for name, grads in steps] == [
        ("z", [[1.0, -1.0], None]), ("y", [None, [1.0, -math.e]]), ("x", [])]
    assert z.inputs[1].grad is None and frozen.grad is None
    # an output that needs no gradient: nothing to visit, and its node's backward is not called
    out = engine.exp(frozen)
    engine.forward(out)
    steps.clear()
    engine.backward(out, torch.ones(2, dtype=torch.float64), on_step=lambda v, grads: steps.append(v))
    assert steps == [] and frozen.grad is None


def test_forward_and_backward_print_only_when_traced(capsys):
    *_, e = lecture_graph()
    engine.forward(e)
    engine.backward(e)
    assert capsys.readouterr().out == ""


def test_grad_output_takes_the_dtype_of_the_output():
    x = engine.Variable(torch.tensor([1.0, 2.0]), name="x")
    y = engine.tanh(x)
    engine.forward(y)
    for grad_output in ([1, 1], torch.ones(2, dtype=torch.float64)):
        engine.backward(y, grad_output)
        assert x.grad.dtype == torch.float32
        close(x.grad, 1 - torch.tanh(x.value) ** 2)


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
    # an argument that is not a variable is shown as it is
    loss = engine.mse_loss(x, w, name="loss")
    with pytest.raises(RuntimeError, match=r"MSELoss.forward failed at 'loss = MSELoss\(x, W\)' with inputs "
                                           r"\(4, 3\), \(5, 2\), 'mean': "):
        engine.forward(loss)


def test_a_failing_backward_names_the_node(monkeypatch):
    def backward(ctx, grad_output):
        raise ValueError("no gradient today")

    monkeypatch.setattr(Cube, "backward", staticmethod(backward))
    x = engine.Variable(torch.ones(2), name="x")
    y = engine.apply(Cube, x, name="y")
    engine.forward(y)
    with pytest.raises(RuntimeError, match=r"engine: Cube.backward failed at 'y = Cube\(x\)' with inputs \(2,\): "
                                           "no gradient today"):
        engine.backward(y, torch.ones(2))


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


# --------------------------------------------------------------------------------------------------------------
# Every function of the engine: the node it records, its name, its errors, and its options against PyTorch.

def leaves():
    g = torch.Generator().manual_seed(5)
    return {
        "x": engine.Variable(torch.randn(3, 4, generator=g, dtype=torch.float64), name="x"),
        "y": engine.Variable(torch.randn(3, 4, generator=g, dtype=torch.float64), name="y"),
        "W": engine.Variable(torch.randn(2, 4, generator=g, dtype=torch.float64), name="W"),
        "b": engine.Variable(torch.randn(2, generator=g, dtype=torch.float64), name="b"),
        "E": engine.Variable(torch.randn(6, 4, generator=g, dtype=torch.float64), name="E"),
        "ids": engine.Variable(torch.tensor([[0, 5], [2, 2]]), name="ids"),
        "t": engine.Variable(torch.tensor([3, 0, 1]), name="t"),
    }


# function -> (its Variable arguments by parameter name, options, the node it records)
FUNCTIONS = {
    "add": ({"input": "x", "other": "y"}, {}, "Add"),
    "mul": ({"input": "x", "other": "y"}, {}, "Mul"),
    "exp": ({"input": "x"}, {}, "Exp"),
    "log": ({"input": "x"}, {}, "Log"),
    "relu": ({"input": "x"}, {}, "ReLU"),
    "sigmoid": ({"input": "x"}, {}, "Sigmoid"),
    "tanh": ({"input": "x"}, {}, "Tanh"),
    "linear": ({"input": "x", "weight": "W", "bias": "b"}, {}, "Linear"),
    "softmax": ({"input": "x"}, {"dim": 1}, "Softmax"),
    "log_softmax": ({"input": "x"}, {"dim": 1}, "LogSoftmax"),
    "cross_entropy": ({"input": "x", "target": "t"}, {}, "CrossEntropy"),
    "mse_loss": ({"input": "x", "target": "y"}, {}, "MSELoss"),
    "embedding": ({"input": "ids", "weight": "E"}, {}, "Embedding"),
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_records_its_node_under_the_given_name(function):
    arguments, options, node = FUNCTIONS[function]
    v = leaves()
    out = getattr(engine, function)(*(v[a] for a in arguments.values()), **options, name="out")
    assert out.value is None and out.op.__name__ == node
    names = ", ".join(arguments.values())
    if function in ("add", "mul"):
        assert engine.describe(out) == f"out = x {'+' if function == 'add' else '*'} y"
    else:  # options (dim, ignore_index, ...) may follow the Variables
        assert re.fullmatch(rf"out = {node}\({names}(, [^)]*)?\)", engine.describe(out))
    unnamed = getattr(engine, function)(*(v[a] for a in arguments.values()), **options)
    assert re.fullmatch(r"v\d+", unnamed.name)


@pytest.mark.parametrize("function, argument", [(f, a) for f, (arguments, _, _) in FUNCTIONS.items()
                                                for a in arguments])
def test_each_argument_that_is_not_a_variable_is_named(function, argument):
    arguments, options, _ = FUNCTIONS[function]
    v = leaves()
    args = [[1.0, 2.0] if a == argument else v[name] for a, name in arguments.items()]
    with pytest.raises(TypeError, match=rf"^engine\.{function}: argument '{argument}' must be an engine\.Variable "
                                        rf"or a number, got list$"):
        getattr(engine, function)(*args, **options)


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_dim_must_be_an_int(function):
    with pytest.raises(TypeError, match=rf"^engine\.{function}: argument 'dim' must be an int, got True$"):
        getattr(engine, function)(leaves()["x"], dim=True)


@pytest.mark.parametrize("function", ["cross_entropy", "mse_loss"])
def test_reduction_must_be_known(function):
    arguments, _, _ = FUNCTIONS[function]
    v = leaves()
    with pytest.raises(ValueError, match=rf"^engine\.{function}: argument 'reduction' must be one of"):
        getattr(engine, function)(*(v[a] for a in arguments.values()), reduction="max")


@pytest.mark.parametrize("reduction", [None, "mean", "sum", "none"])
@pytest.mark.parametrize("function", ["cross_entropy", "mse_loss"])
def test_losses_match_autograd_for_each_reduction(function, reduction):
    arguments, _, _ = FUNCTIONS[function]
    v = leaves()
    options = {} if reduction is None else {"reduction": reduction}
    loss = getattr(engine, function)(*(v[a] for a in arguments.values()), **options)
    engine.forward(loss)
    grad_output = torch.linspace(-1, 2, loss.value.numel(), dtype=torch.float64).reshape(loss.value.shape)
    engine.backward(loss, grad_output)

    x = v["x"].value.clone().requires_grad_()
    target = v[arguments["target"]].value
    expected = getattr(torch.nn.functional, function)(x, target, **options)
    assert expected.shape == loss.value.shape
    (grad,) = torch.autograd.grad(expected, x, grad_output)
    close(loss.value, expected.detach())
    close(v["x"].grad, grad)
    assert v["t"].grad is None


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_softmax_along_each_dim_matches_autograd(function, dim):
    v = leaves()
    out = getattr(engine, function)(v["x"], dim=dim)
    engine.forward(out)
    grad_output = torch.linspace(-1, 2, 12, dtype=torch.float64).reshape(3, 4)
    engine.backward(out, grad_output)
    x = v["x"].value.clone().requires_grad_()
    expected = getattr(torch, function)(x, dim=dim)
    (grad,) = torch.autograd.grad(expected, x, grad_output)
    close(out.value, expected.detach())
    close(v["x"].grad, grad)


def test_linear_with_and_without_bias_and_embedding_match_autograd():
    v = leaves()
    out = engine.add(engine.linear(v["x"], v["W"], v["b"]), engine.linear(v["x"], v["W"]))
    rows = engine.embedding(v["ids"], v["E"])
    engine.forward(out)
    engine.backward(out, torch.ones(3, 2, dtype=torch.float64))
    engine.forward(rows)
    engine.backward(rows, torch.ones(2, 2, 4, dtype=torch.float64))
    x, w, b = (v[k].value.clone().requires_grad_() for k in "xWb")
    F = torch.nn.functional
    expected = F.linear(x, w, b) + F.linear(x, w)
    grads = torch.autograd.grad(expected, (x, w, b), torch.ones(3, 2, dtype=torch.float64))
    close(out.value, expected.detach())
    for name, grad in zip("xWb", grads):
        close(v[name].grad, grad)
    # row 2 is used twice, rows 1, 3 and 4 never: the table's gradient counts the uses of each row
    assert v["E"].grad[:, 0].tolist() == [1.0, 0.0, 2.0, 0.0, 0.0, 1.0]
    assert v["ids"].grad is None and not v["ids"].requires_grad


def test_numbers_become_named_constant_leaves():
    x = engine.Variable(torch.tensor([1.0, -2.0]), name="x")
    y = 0.5 * x + 3
    assert engine.describe(y.inputs[0]).endswith(" = 0.5 * x") and y.inputs[1].name == "3"
    assert engine.describe(engine.add(2.5, x, name="z")) == "z = 2.5 + x"
    r = (3 + x).named("r")
    assert engine.describe(r) == "r = 3 + x" and r.inputs[1] is x
    engine.forward(r)
    assert r.value.tolist() == [4.0, 1.0]
    assert repr(r) == "Variable(r = 3 + x, value=tensor([4., 1.]), grad=None)"
    engine.forward(y)
    engine.backward(y, torch.ones(2))
    assert y.value.tolist() == [3.5, 2.0] and x.grad.tolist() == [0.5, 0.5]
    assert not y.inputs[1].requires_grad and y.inputs[1].grad is None
    half = y.inputs[0].inputs[0]  # a float constant needs no gradient either
    assert half.name == "0.5" and not half.requires_grad and half.grad is None
    # a constant is named as a number is written: no trailing .0, no float noise, large ints in full
    assert [engine.add(x, number).inputs[1].name for number in (2.0, 0.1 + 0.2, 10**7)] == ["2", "0.3", "10000000"]


def test_cross_entropy_ignores_targets_of_minus_100_as_pytorch_does():
    logits = torch.randn(4, 3, dtype=torch.float64)
    target = torch.tensor([0, -100, 2, 1])
    x = engine.Variable(logits, name="x")
    loss = engine.cross_entropy(x, engine.Variable(target, name="t"))
    engine.forward(loss)
    engine.backward(loss)
    leaf = logits.clone().requires_grad_()
    expected = torch.nn.functional.cross_entropy(leaf, target)
    expected.backward()
    close(loss.value, expected.detach())
    close(x.grad, leaf.grad)
    assert x.grad[1].abs().max() == 0


def test_requires_grad_defaults_follow_the_dtype_and_the_inputs():
    assert engine.Variable(1.5).requires_grad and not engine.Variable(3).requires_grad
    assert not engine.Variable(1.5, requires_grad=False).requires_grad
    frozen = engine.Variable(torch.ones(2), requires_grad=False)
    assert not engine.exp(frozen).requires_grad and engine.add(frozen, engine.Variable(torch.ones(2))).requires_grad
    # a frozen leaf gets no gradient, and a node whose inputs are all frozen passes none on
    w = engine.Variable(torch.ones(2), name="w")
    out = engine.mul(engine.exp(frozen), w)
    engine.forward(out)
    engine.backward(out, torch.ones(2))
    assert frozen.grad is None and out.inputs[0].grad is None
    close(w.grad, torch.full((2,), math.e))


@pytest.mark.parametrize("value, text", [
    (None, "-"),
    (torch.tensor(3.14159265), "3.142"),
    (torch.tensor([2.0]), "[2]"),
    (torch.tensor([1.0, -0.5, 1e-7, 123456.0]), "[1, -0.5, 1e-07, 1.235e+05]"),
    (torch.ones(5), "(5,) tensor"),
    (torch.ones(2, 3, dtype=torch.float64), "(2, 3) tensor"),
    (torch.tensor([[1, 2], [3, 4]]), "[1, 2, 3, 4]"),
])
def test_format_value_shows_up_to_four_numbers_else_the_shape(value, text):
    assert engine.format_value(value) == text


def test_table_columns_are_aligned_and_rows_end_without_spaces():
    x = engine.Variable(torch.tensor([1.0, 2.0]), name="x")
    y = engine.tanh(x, name="a_long_name")
    engine.forward(y)
    lines = engine.table(y).splitlines()
    # the first column is as wide as its longest cell (21), the second too (15), two spaces between
    assert lines[0] == "node" + " " * 19 + "value" + " " * 12 + "grad"
    assert lines[1] == "x" + " " * 22 + "[1, 2]" + " " * 11 + "-"
    assert lines[2] == "a_long_name = Tanh(x)  [0.7616, 0.964]  -"
