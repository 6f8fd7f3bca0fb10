"""Graph drawings: the node and edge sets of engine, autograd and torch.fx graphs, DOT export, the matplotlib
layout of graphs with hundreds of nodes, and ``in5550 graph``."""

import re
from collections import Counter

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

import in5550.functional as F
from in5550 import engine, graph
from in5550.cli import main

LECTURE_EDGES = {("a", "c = a + b"), ("b", "c = a + b"), ("b", "d = b + 1"), ("1", "d = b + 1"),
                 ("c = a + b", "e = c * d"), ("d = b + 1", "e = c * d")}


def first_lines(g: graph.Graph) -> Counter:
    return Counter(node.label.split("\n")[0] for node in g.nodes.values())


def edge_names(g: graph.Graph) -> Counter:
    first = {i: node.label.split("\n")[0] for i, node in g.nodes.items()}
    return Counter((first[a], first[b]) for a, b in g.edges)


def mlp(functional, hidden=8):
    """Loss of a two-layer MLP on 4 examples, with its parameters by name."""
    params = {"W1": torch.randn(hidden, 5, requires_grad=True), "b1": torch.zeros(hidden, requires_grad=True),
              "W2": torch.randn(3, hidden, requires_grad=True), "b2": torch.zeros(3, requires_grad=True)}
    x, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 1])
    h = functional.relu(functional.linear(x, params["W1"], params["b1"]))
    return functional.cross_entropy(functional.linear(h, params["W2"], params["b2"]), y), params


def test_engine_graph_has_the_lecture_nodes_edges_values_and_gradients():
    g = graph.from_engine(graph.lecture_example())
    assert g.names() == {"a", "b", "1", "c = a + b", "d = b + 1", "e = c * d"}
    assert g.named_edges() == LECTURE_EDGES
    labels = {node.label for node in g.nodes.values()}
    assert {"a\nvalue 2\ngrad 2", "b\nvalue 1\ngrad 5", "c = a + b\nvalue 3\ngrad 2", "d = b + 1\nvalue 2\ngrad 3",
            "e = c * d\nvalue 6\ngrad 1", "1"} == labels
    kinds = {node.label.split("\n")[0]: node.kind for node in g.nodes.values()}
    assert kinds == {"a": "input", "b": "input", "1": "constant", "c = a + b": "op", "d = b + 1": "op",
                     "e = c * d": "op"}


def test_autograd_graph_of_our_mlp_names_parameters_and_highlights_our_nodes():
    loss, params = mlp(F)
    g = graph.from_autograd(loss, params, name="loss")
    assert first_lines(g) == Counter({"LinearBackward": 2, "ReLUBackward": 1, "CrossEntropyBackward": 1, "W1": 1,
                                      "b1": 1, "W2": 1, "b2": 1, "loss": 1})
    assert edge_names(g) == Counter({("W1", "LinearBackward"): 1, ("b1", "LinearBackward"): 1,
                                     ("LinearBackward", "ReLUBackward"): 1, ("ReLUBackward", "LinearBackward"): 1,
                                     ("W2", "LinearBackward"): 1, ("b2", "LinearBackward"): 1,
                                     ("LinearBackward", "CrossEntropyBackward"): 1, ("CrossEntropyBackward", "loss"): 1})
    kinds = {node.label.split("\n")[0]: node.kind for node in g.nodes.values()}
    assert {kinds[n] for n in ("LinearBackward", "ReLUBackward", "CrossEntropyBackward")} == {"op"}
    assert {kinds[n] for n in ("W1", "b1", "W2", "b2")} == {"input"}
    assert {node.label for node in g.nodes.values() if node.label.startswith("W1")} == {"W1\n(8, 5)"}


def test_autograd_graph_of_torch_functional_marks_pytorch_nodes_and_unnamed_leaves():
    loss, params = mlp(torch.nn.functional)
    del params["b2"]  # an unnamed leaf is still drawn, as "leaf"
    g = graph.from_autograd(loss, params)
    names = first_lines(g)
    assert names["leaf"] == 1 and names["output"] == 1
    assert {"AddmmBackward0", "ReluBackward0", "NllLossBackward0", "LogSoftmaxBackward0"} <= set(names)
    assert {n.kind for n in g.nodes.values() if "Backward" in n.label} == {"torch"}


def test_saved_tensors_are_joined_by_dashed_edges():
    loss, params = mlp(F)
    g = graph.from_autograd(loss, params, show_saved=True, name="loss")
    saved = {i for i, node in g.nodes.items() if node.kind == "saved"}
    assert g.dashed == {(a, b) for a, b in g.edges if a in saved}
    saved_by = Counter((g.nodes[b].label, g.nodes[a].label) for a, b in g.dashed)
    # CrossEntropy saves logits and targets; the second Linear saves its input and W2; ReLU its output;
    # the first Linear only its input x (W1's gradient needs x; x needs no gradient, so W1 is not saved).
    assert saved_by == Counter({("CrossEntropyBackward", "saved\n(4, 3)"): 1, ("CrossEntropyBackward", "saved\n(4)"): 1,
                                ("LinearBackward", "saved\n(4, 8)"): 1, ("LinearBackward", "saved: W2"): 1,
                                ("ReLUBackward", "saved\n(4, 8)"): 1, ("LinearBackward", "saved\n(4, 5)"): 1})


def test_graph_of_a_leaf_and_of_a_reused_input():
    x = torch.randn(3, requires_grad=True)
    assert first_lines(graph.from_autograd(x, {"x": x})) == Counter({"x": 1, "output": 1})
    g = graph.from_autograd(F.mul(x, x), {"x": x})
    assert edge_names(g) == Counter({("x", "MulBackward"): 2, ("MulBackward", "output"): 1})


def test_fx_graph_of_the_lecture_expression():
    module = torch.fx.symbolic_trace(lambda a, b: (a + b) * (b + 1))
    g = graph.from_fx(module)
    assert g.names() == {"a", "b", "add = a + b", "add_1 = b + 1", "mul = add * add_1", "output"}
    assert g.named_edges() == {("a", "add = a + b"), ("b", "add = a + b"), ("b", "add_1 = b + 1"),
                               ("add = a + b", "mul = add * add_1"), ("add_1 = b + 1", "mul = add * add_1"),
                               ("mul = add * add_1", "output")}


def parse_dot(text: str):
    labels = dict(re.findall(r'^  (n\d+) \[label="([^"]*)"', text, re.M))
    edges = re.findall(r"^  (n\d+) -> (n\d+)( \[style=dashed\])?;", text, re.M)
    first = {k: v.split("\\n")[0] for k, v in labels.items()}
    return labels, {(first[a], first[b]) for a, b, _ in edges}, sum(1 for *_, dashed in edges if dashed)


def test_dot_export_has_the_same_nodes_and_edges():
    g = graph.from_engine(graph.lecture_example())
    text = graph.to_dot(g)
    assert text.startswith("digraph G {\n  rankdir=LR;")
    labels, edges, dashed = parse_dot(text)
    assert sorted(labels.values()) == sorted(n.label.replace("\n", "\\n") for n in g.nodes.values())
    assert edges == LECTURE_EDGES and dashed == 0
    loss, params = mlp(F)
    saved = graph.from_autograd(loss, params, show_saved=True)
    assert parse_dot(graph.to_dot(saved))[2] == len(saved.dashed) == 6


def test_dot_escapes_quotes_and_backslashes():
    g = graph.Graph({"x": graph.Node('say "hi" \\ there', "input")})
    assert '[label="say \\"hi\\" \\\\ there"' in graph.to_dot(g)


def test_drawing_has_one_box_and_text_per_node_and_one_arrow_per_edge():
    loss, params = mlp(F)
    g = graph.from_autograd(loss, params, show_saved=True, name="loss")
    fig = graph.draw(g, title="MLP")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(n.label for n in g.nodes.values())
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == len(g.nodes)
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == len(set(g.edges))
    assert ax.get_title() == "MLP"
    plt.close(fig)


def test_drawing_into_given_axes_side_by_side():
    fig, (left, right) = plt.subplots(1, 2)
    graph.draw(graph.from_engine(graph.lecture_example()), ax=left)
    graph.draw(graph.from_fx(torch.fx.symbolic_trace(lambda a, b: (a + b) * (b + 1))), ax=right)
    assert len(left.texts) == 6 and len(right.texts) == 6
    plt.close(fig)


def assert_readable(g: graph.Graph, max_height: float):
    """No two boxes overlap, no edge passes through a box, edges run left to right, the drawing is not too tall."""
    layout = graph._layout(g)
    x, y, sizes = layout["x"], layout["y"], layout["sizes"]
    columns = {}
    for i in x:
        columns.setdefault(round(x[i], 6), []).append(i)
    for members in columns.values():
        members.sort(key=lambda i: y[i])
        for upper, lower in zip(members, members[1:]):
            assert y[lower] - y[upper] >= (sizes[upper][1] + sizes[lower][1]) / 2, (upper, lower)
    for a, b in g.edges:
        assert x[a] + sizes[a][0] / 2 < x[b] - sizes[b][0] / 2
    assert layout["size"][1] <= max_height


def test_a_deep_network_of_hundreds_of_nodes_stays_readable():
    layers = [(torch.randn(6, 6, requires_grad=True), torch.zeros(6, requires_grad=True)) for _ in range(40)]
    params = {f"layer{k}.{n}": t for k, (w, b) in enumerate(layers) for n, t in (("weight", w), ("bias", b))}
    h = torch.randn(4, 6)
    for w, b in layers:
        h = F.tanh(F.linear(h, w, b))
    g = graph.from_autograd(F.cross_entropy(h, torch.tensor([0, 1, 2, 1])), params, show_saved=True)
    assert len(g.nodes) > 250
    assert_readable(g, max_height=36 * graph.EM)  # a chain stays a chain, it does not drift downwards


def test_a_recurrent_network_with_shared_weights_stays_readable():
    w, u = torch.randn(6, 6, requires_grad=True), torch.randn(6, 6, requires_grad=True)
    h = torch.zeros(2, 6)
    for x in torch.randn(30, 2, 6):
        h = F.tanh(F.add(F.linear(x, u), F.linear(h, w)))
    g = graph.from_autograd(F.cross_entropy(h, torch.tensor([0, 1])), {"W": w, "U": u})
    assert edge_names(g)[("W", "LinearBackward")] == 30
    assert_readable(g, max_height=72 * graph.EM)


def test_bad_graph_arguments_are_reported():
    with pytest.raises(TypeError, match="graph.from_engine: argument 'output' must be an engine.Variable, got Tensor"):
        graph.from_engine(torch.ones(1))
    with pytest.raises(ValueError, match=r"graph.from_autograd: argument 'output' has no autograd graph"):
        graph.from_autograd(torch.ones(2))
    with pytest.raises(TypeError, match="graph.from_autograd: argument 'output' must be a torch.Tensor, got Variable"):
        graph.from_autograd(engine.Variable(1.0))
    with pytest.raises(TypeError, match="graph.from_fx: argument 'module' must be a torch.fx.GraphModule, got function"):
        graph.from_fx(lambda a: a)
    with pytest.raises(ValueError, match="graph.draw: the graph has no nodes"):
        graph.draw(graph.Graph())
    cycle = graph.Graph({"a": graph.Node("a", "op"), "b": graph.Node("b", "op")}, [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="graph.draw: the graph has a cycle"):
        graph.draw(cycle)


def test_command_line_draws_the_lecture_example(tmp_path, capsys):
    output = tmp_path / "lecture.png"
    assert main(["graph", "--output", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out == f"wrote {output} (6 nodes, 6 edges)\n"
    assert main(["graph", "--dot"]) == 0
    assert parse_dot(capsys.readouterr().out)[1] == LECTURE_EDGES


@pytest.mark.parametrize("argv, message", [
    (["--output", "graph.txt"], "--output must end in one of .png, .svg, .pdf, got 'graph.txt'"),
    (["--output", "no/such/folder/g.png"], "--output: folder 'no/such/folder' does not exist"),
])
def test_command_line_rejects_bad_output_paths(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", *argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"in5550 graph: error: {message}"


def test_command_line_draws_the_mlp_graph_with_named_parameters_inputs_and_shapes(capsys):
    assert main(["graph", "--mlp", "--dot"]) == 0
    captured = capsys.readouterr()
    labels, edges, _ = parse_dot(captured.out)
    names = Counter(label.split("\\n")[0] for label in labels.values())
    assert names == Counter({"embedding.weight": 1, "EmbeddingBagBackward": 1, "DropoutBackward": 2,
                             "hidden.0.weight": 1, "hidden.0.bias": 1, "LinearBackward": 2, "ReLUBackward": 1,
                             "output.weight": 1, "output.bias": 1, "CrossEntropyBackward": 1, "loss": 1,
                             "ids": 1, "offsets": 1, "labels": 1})
    assert {("embedding.weight", "EmbeddingBagBackward"), ("EmbeddingBagBackward", "DropoutBackward"),
            ("ReLUBackward", "DropoutBackward"), ("output.bias", "LinearBackward"),
            ("CrossEntropyBackward", "loss"), ("ids", "EmbeddingBagBackward"), ("offsets", "EmbeddingBagBackward"),
            ("labels", "CrossEntropyBackward")} <= edges
    # the output shape of every operation answers "what is the output's shape": (3 sentences, 2 classes)
    shapes = {label.split("\\n")[0]: label.split("\\n")[-1] for label in labels.values() if "Backward" in label}
    assert shapes["CrossEntropyBackward"] == "-> ()" and shapes["ReLUBackward"] == "-> (3, 16)"
    assert {label for label in labels.values() if label.startswith("LinearBackward")} == {
        "LinearBackward\\n-> (3, 16)", "LinearBackward\\n-> (3, 2)"}
    assert labels and captured.err == f"MLP with {graph.toy_mlp_description()}\n"
    assert "vocabulary 20, embedding 8, hidden [16], 2 classes" in captured.err


class Square(torch.autograd.Function):
    """A node defined outside the package: drawn like PyTorch's, with what it saved."""

    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 2 * x * grad_output


def test_a_function_defined_elsewhere_is_not_highlighted_and_shows_what_it_saved():
    x = torch.randn(3, requires_grad=True)
    g = graph.from_autograd(F.exp(Square.apply(x)), {"x": x}, show_saved=True)
    kinds = {node.label.split("\n")[0]: node.kind for node in g.nodes.values()}
    assert kinds["SquareBackward"] == "torch" and kinds["ExpBackward"] == "op"
    saved_by = Counter((g.nodes[b].label, g.nodes[a].label) for a, b in g.dashed)
    assert saved_by == Counter({("SquareBackward", "saved: x"): 1, ("ExpBackward", "saved\n(3)"): 1})


def test_command_line_writes_under_runs_by_default_and_says_what_it_drew(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph"]) == 0
    assert capsys.readouterr().out == "wrote runs/graph.png (6 nodes, 6 edges)\n"
    assert main(["graph", "--mlp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"MLP with {graph.toy_mlp_description()}", "wrote runs/graph-mlp.png (16 nodes, 15 edges)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing in the current folder itself
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["graph-mlp.png", "graph.png"]


def test_command_line_rejects_a_folder_as_output(tmp_path, capsys):
    (tmp_path / "out.png").mkdir()
    for folder in (tmp_path, tmp_path / "out.png"):
        with pytest.raises(SystemExit) as exit_info:
            main(["graph", "--output", str(folder)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err == f"in5550 graph: error: --output {str(folder)!r} is a folder; give a file name such as " \
                      f"{str(folder / 'graph.png')!r}\n"


def test_command_line_cannot_create_runs_below_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["graph"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("in5550 graph: error: --output: folder 'runs' does not exist")


def test_a_graph_captured_by_torch_compile_shows_our_nodes_with_their_forward_and_backward():
    captured = []

    def capture(module, example_inputs):  # a torch.compile backend that keeps the static graph it is given
        captured.append(module)
        return module.forward

    compiled = torch.compile(lambda a, b: F.mul(F.add(a, b), F.add(b, 1.0)), backend=capture)
    a, b = torch.tensor(2.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    e = compiled(a, b)
    e.backward()
    assert (e.item(), a.grad.item(), b.grad.item()) == (6.0, 2.0, 5.0)
    labels = [node.label for g in map(graph.from_fx, captured) for node in g.nodes.values()]
    ours = [label for label in labels if "Function.apply" in label]
    assert len(ours) == 3
    assert sorted(label.split("\n")[1] for label in ours) == ["forward: add", "forward: add", "forward: mul"]
    assert all(label.split("\n")[2].startswith("backward: ") for label in ours)
    assert not any(label.startswith(("fwd_body", "bwd_body")) for label in labels)
