"""The backward pass animated (graph.backward_steps, graph.animate) and static graphs defined, then run
(graph.StaticGraph)."""

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.animation import PillowWriter
from PIL import Image

import in5550.functional as F
from in5550 import engine, graph


def names(g: graph.Graph) -> dict[str, str]:
    return {i: node.label.split("\n")[0] for i, node in g.nodes.items()}


def assert_backward_order(g: graph.Graph, steps: list[graph.Step]) -> None:
    """Every node is processed once, and only after every node that consumes it (reverse topological order)."""
    order = [step.node for step in steps]
    assert len(order) == len(set(order))
    position = {node: k for k, node in enumerate(order)}
    for a, b in g.edges:
        if a in position and b in position:
            assert position[b] < position[a], (names(g)[a], names(g)[b])


def test_engine_steps_follow_the_lecture_in_backward_order():
    g, steps = graph.backward_steps(graph.lecture_example())
    first = names(g)
    assert [first[s.node] for s in steps] == ["e = c * d", "d = b + 1", "c = a + b", "b", "a"]
    assert_backward_order(g, steps)
    # what each node sent: e = c * d sends d = 2 to c and c = 3 to d; d = b + 1 sends 3 to b; c sends 2 to a and b
    sent = [{first[i]: g_.item() for i, g_ in s.sent.items()} for s in steps]
    assert sent[:3] == [{"c = a + b": 2.0, "d = b + 1": 3.0}, {"b": 3.0}, {"a": 2.0, "b": 2.0}]
    # b's gradient accumulates over its two uses: 3 after d's step, 5 after c's
    b_id = next(i for i, n in first.items() if n == "b")
    assert [s.accumulated.get(b_id, torch.tensor(0.0)).item() for s in steps] == [0.0, 3.0, 5.0, 5.0, 5.0]


def test_final_engine_gradients_equal_autograds():
    a_t, b_t = torch.tensor(2.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    ((a_t + b_t) * (b_t + 1)).backward()
    g, steps = graph.backward_steps(graph.lecture_example())
    final = {names(g)[i]: v for i, v in steps[-1].accumulated.items()}
    assert final["a"] == a_t.grad and final["b"] == b_t.grad


def mlp_loss():
    torch.manual_seed(0)
    params = {"W1": torch.randn(6, 5, requires_grad=True), "b1": torch.randn(6, requires_grad=True),
              "W2": torch.randn(3, 6, requires_grad=True), "b2": torch.randn(3, requires_grad=True)}
    x, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 1])
    h = F.relu(F.linear(x, params["W1"], params["b1"]))
    h = F.add(h, F.mul(h, 0.5))  # h is used twice: its gradient is a sum
    return F.cross_entropy(F.linear(h, params["W2"], params["b2"]), y), params, {"x": x, "labels": y}


def test_autograd_steps_run_in_backward_order_and_end_with_autograds_gradients():
    loss, params, inputs = mlp_loss()
    g, steps = graph.backward_steps(loss, params, inputs)
    assert_backward_order(g, steps)
    first = names(g)
    assert first[steps[0].node] == "CrossEntropyBackward" and steps[0].grad_output.item() == 1.0
    assert {first[s.node] for s in steps} == {"CrossEntropyBackward", "LinearBackward", "AddBackward",
                                             "MulBackward", "ReLUBackward"}
    expected = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
    final = steps[-1].accumulated
    for (name, p), grad in zip(params.items(), expected):
        (node_id,) = [i for i, n in first.items() if n == name]
        torch.testing.assert_close(final[node_id], grad, rtol=0, atol=0)
    assert all(p.grad is None for p in params.values())  # the sweep left .grad alone
    # the inputs are drawn, joined to the nodes that saved them
    assert ("x", "LinearBackward") in g.named_edges() and ("labels", "CrossEntropyBackward") in g.named_edges()


def test_animation_has_one_frame_per_step_and_its_last_frame_shows_the_final_gradients(tmp_path):
    animation = graph.animate(graph.lecture_example(), title="e = (a + b) * (b + 1)")
    path = tmp_path / "backward.gif"
    animation.save(path, writer=PillowWriter(fps=2))
    with Image.open(path) as gif:
        assert gif.n_frames == len(animation.steps) + 1 == 6
    figure = animation._fig
    texts = [t.get_text() for t in figure.axes[0].texts]
    # after save, the figure shows the last frame: every gradient complete
    assert {"a\nvalue 2\ngrad 2", "b\nvalue 1\ngrad 5", "c = a + b\nvalue 3\ngrad 2", "e = c * d\nvalue 6\ngrad 1",
            "d = b + 1\nvalue 2\ngrad 3", "1"} == set(texts)
    panel = figure.texts[0].get_text()
    assert panel.startswith("step 5 of 5: a\n") and "a leaf" in panel
    animation.show_frame(1)
    panel = figure.texts[0].get_text()
    assert "step 1 of 5: e = c * d" in panel and "local derivative towards c = a + b: 2; d = b + 1: 3" in panel
    plt.close(figure)


def test_animation_of_an_autograd_graph_plays_as_html():
    loss, params, inputs = mlp_loss()
    animation = graph.animate(loss, params, inputs, direction="TB")
    html = animation.to_jshtml(fps=2)
    assert html.count("data:image/png;base64") == len(animation.steps) + 1
    plt.close(animation._fig)


def test_bad_arguments_to_the_animation():
    with pytest.raises(TypeError, match="graph.backward_steps: argument 'output' must be an engine.Variable or a "
                                        "torch.Tensor, got list"):
        graph.backward_steps([1.0])
    with pytest.raises(ValueError, match=r"must hold one number \(a loss\), got shape \(2,\)"):
        graph.backward_steps(F.mul(torch.ones(2, requires_grad=True), 2.0))
    with pytest.raises(ValueError, match="has no autograd graph"):
        graph.backward_steps(torch.ones(1, requires_grad=True))
    with pytest.raises(RuntimeError, match="run engine.forward first"):
        graph.backward_steps(engine.Variable(1.0) * 2)
    with pytest.raises(ValueError, match="'direction' must be 'LR' or 'TB', got 'up'"):
        graph.animate(graph.lecture_example(), direction="up")


# ------------------------------------------------------------------------------------------------------------
# Define, then run


def eager(a, b):
    return (a + b) * (b + 1)


def test_a_static_graph_gives_the_same_numbers_and_gradients_as_eager_code():
    static = graph.StaticGraph()
    a, b = static.placeholder("a"), static.placeholder("b")
    e = (a + b) * (b + 1)  # nothing computed yet: a graph of three operations
    assert [n.op for n in static.fx_graph.nodes] == ["placeholder", "placeholder", "call_function", "call_function",
                                                     "call_function"]
    generator = torch.Generator().manual_seed(0)
    for shape in [(), (3,), (2, 4)]:
        a_value = torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
        b_value = torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
        got = static.run(e, {"a": a_value, "b": b_value})
        want = eager(a_value, b_value)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        grads = torch.autograd.grad(got.sum(), (a_value, b_value))
        torch.testing.assert_close(grads, torch.autograd.grad(want.sum(), (a_value, b_value)), rtol=0, atol=0)
    assert static.run(e, {"a": torch.tensor(2.0), "b": torch.tensor(1.0)}).item() == 6.0
    # an intermediate result can be fetched too, and the graph drawn
    c = a + b
    assert static.run(c, {"a": 2.0, "b": 1.0}) == 3.0
    assert graph.from_fx(static.module(e)).names() == {"a", "b", "add = a + b", "add_1 = b + 1",
                                                       "mul = add * add_1", "output"}


def test_a_static_graph_refuses_bad_feeds_and_fetches():
    static = graph.StaticGraph()
    a = static.placeholder("a")
    with pytest.raises(ValueError, match=r"feed_dict must give a value for each placeholder \['a'\]; missing \['a'\], "
                                         r"unknown \['z'\]"):
        static.run(a * 2, {"z": 1.0})
    with pytest.raises(ValueError, match="must be a new Python identifier, got 'a'"):
        static.placeholder("a")
    with pytest.raises(TypeError, match="the value to fetch must be a result of operations on this graph's "
                                        "placeholders, got Tensor"):
        static.run(torch.ones(1), {"a": 1.0})
