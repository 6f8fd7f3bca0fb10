"""Drawing computation graphs: the engine's graphs, PyTorch's autograd graphs and ``torch.fx`` graphs.

Each kind of graph is first turned into one small :class:`Graph` (labelled nodes and data-flow edges), which is
then drawn with matplotlib in layers from left (inputs) to right (output) by :func:`draw`, or written as Graphviz
DOT text by :func:`to_dot`:

- :func:`from_engine`: a graph recorded by :mod:`in5550.engine`, each node with its value and gradient;
- :func:`from_autograd`: the graph behind any tensor, found by walking ``grad_fn.next_functions``; parameters are
  labelled by name, the nodes of this package are highlighted, saved tensors can be shown;
- :func:`from_fx`: a graph traced once by ``torch.fx`` (a static graph).

Example::

    >>> import torch, in5550.functional as F
    >>> w = torch.randn(3, 2, requires_grad=True)
    >>> loss = F.relu(F.linear(torch.randn(4, 2), w)).sum()
    >>> fig = draw(from_autograd(loss, {"w": w}))    # then fig.savefig("graph.png")
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass, field

import torch

from in5550 import engine

# Node kinds and how they look: (fill colour, edge colour, box style).
STYLES = {
    "input": ("#dbeafe", "#1d4ed8", "round"),  # a leaf that gets a gradient: an input, a parameter
    "constant": ("#f3f4f6", "#6b7280", "round"),  # a leaf without gradient: a number, targets, token ids
    "op": ("#fde68a", "#b45309", "square"),  # a node of this package
    "torch": ("#e5e7eb", "#374151", "square"),  # a node of PyTorch
    "saved": ("#fce7f3", "#be185d", "round"),  # a tensor saved for backward
    "output": ("#bbf7d0", "#15803d", "round"),
}
FONT_SIZE = 12  # points at DPI: labels stay 12 points on a drawing shown at least MIN_WIDTH_PIXELS wide
EM = FONT_SIZE / 72  # inches; every length of the layout is a multiple of the font size
CHAR_WIDTH, LINE_HEIGHT = 0.6 * EM, 1.25 * EM  # a monospace character, a line of text
PAD = 0.72 * EM  # around a label
LAYER_GAP, NODE_GAP, EDGE_GAP = 4 * EM, 1.1 * EM, 0.45 * EM  # between layers, between boxes, beside an edge
DPI = 100
MAX_PIXELS = 30000  # largest side of a drawing in pixels: big graphs get a lower resolution, not a crash


@dataclass
class Node:
    label: str  # lines separated by "\n"; the first line names the node
    kind: str  # a key of STYLES


@dataclass
class Graph:
    """Nodes by id, and edges ``(source id, target id)`` in the direction data flows (inputs towards the output).

    ``dashed`` edges connect a saved tensor to the node that saved it.
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    dashed: set[tuple[str, str]] = field(default_factory=set)

    def names(self) -> set[str]:
        """The first line of every node's label."""
        return {node.label.split("\n")[0] for node in self.nodes.values()}

    def named_edges(self) -> set[tuple[str, str]]:
        """The edges as pairs of node names (first label lines)."""
        first = {i: node.label.split("\n")[0] for i, node in self.nodes.items()}
        return {(first[a], first[b]) for a, b in self.edges}


# --------------------------------------------------------------------------------------------------------------
# Graphs from the engine, from autograd, from torch.fx
# --------------------------------------------------------------------------------------------------------------


def from_engine(output: engine.Variable) -> Graph:
    """The graph that ``output`` depends on: one node per variable, labelled with its formula, value and grad."""
    if not isinstance(output, engine.Variable):
        raise TypeError(f"graph.from_engine: argument 'output' must be an engine.Variable, got {type(output).__name__}")
    graph = Graph()
    for v in engine.topological_order(output):
        kind = "op" if v.op is not None else "input" if v.requires_grad else "constant"
        label = engine.describe(v)
        if label != engine.format_value(v.value):  # a number needs no "value" line
            label += f"\nvalue {engine.format_value(v.value)}"
        if v.requires_grad:
            label += f"\ngrad {engine.format_value(v.grad)}"
        graph.nodes[str(id(v))] = Node(label, kind)
        graph.edges += [(str(id(x)), str(id(v))) for x in v.inputs if isinstance(x, engine.Variable)]
    return graph


def from_autograd(output: torch.Tensor, params: dict[str, torch.Tensor] | None = None,
                  show_saved: bool = False, name: str = "output", inputs: dict[str, torch.Tensor] | None = None,
                  show_shapes: bool = False, tensors: dict[str, torch.Tensor] | None = None) -> Graph:
    """The autograd graph behind ``output``: its ``grad_fn`` and everything reachable through ``next_functions``.

    Leaves (``AccumulateGrad``) that are in ``params`` (e.g. ``dict(model.named_parameters())``) are labelled by
    name; nodes of this package (``torch.autograd.Function`` classes defined in ``in5550``) are highlighted.
    With ``show_saved=True``, each node's saved tensors are drawn too, joined to it by dashed edges and labelled
    with their name when they are (a view of) one of ``params``, ``inputs`` or ``tensors`` (other tensors to name,
    e.g. intermediate results ``{"s": sigmoid_output}``), else with their shape.

    ``inputs`` (e.g. ``{"ids": ids, "offsets": offsets, "labels": labels}``) are tensors that need no gradient
    and so are not part of autograd's graph: each is drawn as a grey box joined to the nodes that saved it for
    backward (the same tensor or a view of it), or, when no node saved it (a node may keep only something
    computed from it), to the first operation of the graph. With ``show_shapes=True`` each operation is labelled
    with the shape of its output, read from the gradients of one extra backward pass (``torch.autograd.grad``,
    which leaves every ``.grad`` alone; it needs a graph that was not freed by an earlier backward).
    """
    return _autograd_graph(output, params, show_saved, name, inputs, show_shapes, tensors)[0]


def _autograd_graph(output, params, show_saved=False, name="output", inputs=None, show_shapes=False, tensors=None):
    """:func:`from_autograd`, also returning the autograd nodes by graph node id (kept alive, so that ids stay
    unique) and the root's id."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"graph.from_autograd: argument 'output' must be a torch.Tensor, got {type(output).__name__}")
    if output.grad_fn is None and not output.requires_grad:
        raise ValueError("graph.from_autograd: argument 'output' has no autograd graph (requires_grad=False)")
    inputs = dict(inputs or {})
    for input_name, tensor in inputs.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"graph.from_autograd: inputs[{input_name!r}] must be a torch.Tensor, "
                            f"got {type(tensor).__name__}")
    names = {id(p): n for n, p in (params or {}).items()}
    named = [*(params or {}).items(), *inputs.items(), *(tensors or {}).items()]
    graph = Graph()
    graph.nodes["output"] = Node(f"{name}\n{_shape(output)}", "output")
    root = output.grad_fn or output
    # seen keeps every node object alive, so that id() names it uniquely while we walk
    stack, seen = [root], {str(id(root)): root}
    graph.edges.append((str(id(root)), "output"))
    while stack:
        fn = stack.pop()
        graph.nodes[str(id(fn))] = _autograd_node(fn, names)
        if show_saved:
            _add_saved(graph, fn, named)
        parents = [parent for parent, _ in getattr(fn, "next_functions", ()) if parent is not None]
        graph.edges += [(str(id(parent)), str(id(fn))) for parent in parents]  # None: input needs no gradient
        for parent in reversed(parents):  # so that the first input is visited (and placed) first
            if str(id(parent)) not in seen:
                seen[str(id(parent))] = parent
                stack.append(parent)
    if show_shapes and output.grad_fn is not None:
        try:
            for fn, _, grad_outputs in _record_backward(output, seen):
                if grad_outputs and grad_outputs[0] is not None:
                    graph.nodes[str(id(fn))].label += f"\n-> {_shape(grad_outputs[0])}"
        except RuntimeError:  # the graph was freed by a backward pass: shapes are not drawn
            pass
    _add_inputs(graph, inputs, seen)
    return graph, seen, str(id(root))


def _saved(fn) -> list[tuple[str, torch.Tensor]]:
    """What node ``fn`` saved for backward, as (what, tensor) pairs; empty once a backward pass freed it."""
    if _is_function_node(fn):
        try:
            return [("saved", t) for t in fn.saved_tensors if isinstance(t, torch.Tensor)]
        except RuntimeError:  # freed by a backward pass that ran without retain_graph
            return []
    # PyTorch's own nodes expose each saved value as an attribute _saved_<argument name> (documented in the
    # autograd notes on saved tensors)
    try:
        saved = [(a[len("_saved_"):], getattr(fn, a)) for a in dir(fn) if a.startswith("_saved_")]
    except RuntimeError:
        return []
    return [(what, t) for what, t in saved if isinstance(t, torch.Tensor)]


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.device == b.device and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
                      and a.numel() > 0 and a.shape == b.shape)


def _add_inputs(graph: Graph, inputs: dict[str, torch.Tensor], nodes: dict) -> None:
    """Draw each of ``inputs`` as a constant joined to the nodes that saved it, or else to the first operation."""
    if not inputs:
        return
    ops = [i for i in nodes if graph.nodes[i].kind in ("op", "torch")]
    first_ops = ops[-1:] if ops else []
    if ops:  # the operation furthest from the output: the longest path back from the root
        depth = {i: 0 for i in graph.nodes}
        consumers = _consumers(graph)
        for i in _reverse_topological(graph, consumers):
            depth[i] = max([depth[c] + 1 for c in consumers[i]] or [0])
        first_ops = [max(ops, key=lambda i: depth[i])]
    for input_name, tensor in inputs.items():
        node_id = f"input:{input_name}"
        dtype = str(tensor.dtype).replace("torch.", "")
        graph.nodes[node_id] = Node(f"{input_name}\n{_shape(tensor)} {dtype}", "constant")
        users = [i for i, fn in nodes.items() if any(_same_tensor(t, tensor) for _, t in _saved(fn))]
        graph.edges += [(node_id, i) for i in (users or first_ops)]


def _consumers(graph: Graph) -> dict[str, list[str]]:
    consumers = {i: [] for i in graph.nodes}
    for a, b in graph.edges:
        consumers[a].append(b)
    return consumers


def _record_backward(output: torch.Tensor, nodes: dict, grad_output: torch.Tensor | None = None) -> list:
    """Run one backward pass from ``output`` with ``torch.autograd.grad`` (no ``.grad`` is touched) and return
    what each node did, in the order autograd's engine ran them: ``(node, grad_inputs, grad_outputs)``, where
    ``grad_outputs`` are the gradients that arrived at the node's outputs and ``grad_inputs`` those it sent on,
    one per entry of its ``next_functions``."""
    leaves = [fn.variable for fn in nodes.values() if hasattr(fn, "variable")]
    if isinstance(output.grad_fn, type(None)):
        return []
    ran, handles = [], []
    try:
        for fn in nodes.values():
            if not hasattr(fn, "variable") and hasattr(fn, "register_hook"):
                handles.append(fn.register_hook(
                    lambda grad_inputs, grad_outputs, fn=fn: ran.append((fn, grad_inputs, grad_outputs))))
        seed = torch.ones_like(output) if grad_output is None else grad_output
        torch.autograd.grad(output, leaves or [output], seed, retain_graph=True, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    return ran


# Python operators that torch.fx records as functions of the operator module, written back as operators.
FX_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "matmul": "@", "pow": "**"}


def from_fx(module: torch.fx.GraphModule) -> Graph:
    """The static graph that ``torch.fx`` recorded (by ``symbolic_trace``, :class:`StaticGraph` or a
    ``torch.compile`` backend): placeholders, operations and the output.

    A ``torch.autograd.Function`` captured by ``torch.compile`` is one ``autograd_function_apply`` node holding
    two subgraphs, its forward and its backward: it is drawn as one node that lists their operations (highlighted
    like this package's nodes), and the two subgraphs' attribute nodes are left out, as are results that nothing
    uses.
    """
    if not isinstance(module, torch.fx.GraphModule):
        raise TypeError(f"graph.from_fx: argument 'module' must be a torch.fx.GraphModule, got {type(module).__name__}")
    graph = Graph()
    bodies = set()
    for node in module.graph.nodes:
        if node.op == "call_function" and _fx_target(node) == "autograd_function_apply":
            bodies.update(a.name for a in node.args[:2] if isinstance(a, torch.fx.Node) and a.op == "get_attr")
    for node in module.graph.nodes:
        if node.name in bodies or (node.op in ("call_function", "call_method") and not node.users):
            continue  # the subgraphs, and results nothing uses (the compiler drops them)
        if node.op == "placeholder":
            label, kind = node.name, "input"
        elif node.op == "output":
            label, kind = "output", "output"
        elif node.name not in bodies and _fx_target(node) == "autograd_function_apply":
            forward, backward = (_fx_operations(module, a) for a in node.args[:2])
            tensors = [str(a) for a in node.args[2:]]
            label = (f"{node.name} = Function.apply({', '.join(tensors)})\nforward: {forward}\n"
                     f"backward: {backward}")
            kind = "op"
        else:
            args = [str(a) for a in node.args]
            target = _fx_target(node)
            infix = FX_OPERATORS.get(target) if getattr(node.target, "__module__", None) == "_operator" else None
            formula = f" {infix} ".join(args) if infix else f"{target}({', '.join(args)})"
            label, kind = f"{node.name} = {formula}", "torch"
        graph.nodes[node.name] = Node(label, kind)
        graph.edges += [(x.name, node.name) for x in node.all_input_nodes if x.name not in bodies]
    return graph


def _fx_target(node: torch.fx.Node) -> str:
    return getattr(node.target, "__name__", str(node.target))


def _fx_operations(module: torch.fx.GraphModule, body) -> str:
    """The operations of a subgraph (a ``get_attr`` node naming a GraphModule attribute), in order."""
    sub = getattr(module, body.target, None) if isinstance(body, torch.fx.Node) else None
    if not isinstance(sub, torch.fx.GraphModule):
        return "?"
    ops = [_fx_target(n) for n in sub.graph.nodes if n.op in ("call_function", "call_method")
           and _fx_target(n) not in ("getitem", "_set_grad_enabled")]
    return ", ".join(ops) or "-"


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def _is_function_node(fn) -> bool:
    """Whether ``fn`` is the backward node of a ``torch.autograd.Function`` (its ctx: what it saved is in
    ``saved_tensors``) rather than one of PyTorch's own nodes."""
    return isinstance(fn, torch.autograd.function.BackwardCFunction)


def _our_node_names() -> set[str]:
    """Names of the backward nodes of this package's Functions: ``LinearBackward`` for ``nodes.Linear``, ..."""
    from in5550 import nodes, vmf

    return {f"{name}Backward" for module in (nodes, vmf) for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, torch.autograd.Function)
            and value.__module__ == module.__name__}


def _is_ours(fn) -> bool:
    """A node of this package: a Function's node whose name is that of one of our Functions (a Function of the
    same name defined elsewhere would be highlighted too; names are all autograd's public API gives)."""
    return _is_function_node(fn) and type(fn).__name__ in _our_node_names()


def _autograd_node(fn, names: dict[int, str]) -> Node:
    if isinstance(fn, torch.Tensor):  # the output itself is a leaf
        return Node(f"{names.get(id(fn), 'leaf')}\n{_shape(fn)}", "input")
    if hasattr(fn, "variable"):  # AccumulateGrad: where a leaf's gradient is stored
        return Node(f"{names.get(id(fn.variable), 'leaf')}\n{_shape(fn.variable)}", "input")
    return Node(type(fn).__name__, "op" if _is_ours(fn) else "torch")


def _add_saved(graph: Graph, fn, named: list[tuple[str, torch.Tensor]]) -> None:
    """Add the tensors ``fn`` saved for backward, as nodes joined to ``fn`` by dashed edges, labelled with the
    name of the tensor (or view) among ``named`` they are, else with their shape."""
    for i, (what, t) in enumerate(_saved(fn)):
        node_id = f"{id(fn)}.saved{i}"
        known = [n for n, tensor in named if _same_tensor(t, tensor)]
        label = f"{what}: {known[0]}" if known else f"{what}\n{_shape(t)}"
        graph.nodes[node_id] = Node(label, "saved")
        graph.edges.append((node_id, str(id(fn))))
        graph.dashed.add((node_id, str(id(fn))))


# --------------------------------------------------------------------------------------------------------------
# Graphviz DOT
# --------------------------------------------------------------------------------------------------------------


def to_dot(graph: Graph) -> str:
    """The graph as Graphviz DOT text, left to right (render with ``dot -Tpng graph.dot -o graph.png``)."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    lines = ["digraph G {", "  rankdir=LR;", f'  node [fontname="monospace", fontsize={FONT_SIZE + 2}];']
    for node_id, node in graph.nodes.items():
        fill, line, box = STYLES[node.kind]
        label = node.label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'  {ids[node_id]} [label="{label}", shape=box, style="filled{",rounded" if box == "round" else ""}", '
                     f'fillcolor="{fill}", color="{line}"];')
    for a, b in graph.edges:
        lines.append(f"  {ids[a]} -> {ids[b]}{' [style=dashed]' if (a, b) in graph.dashed else ''};")
    return "\n".join(lines + ["}"]) + "\n"


# --------------------------------------------------------------------------------------------------------------
# Drawing with matplotlib: a layered (Sugiyama-style) layout
# --------------------------------------------------------------------------------------------------------------


def draw(graph: Graph, ax=None, title: str | None = None, direction: str = "LR"):
    """Draw ``graph`` with matplotlib, inputs to output from left to right (``direction="LR"``) or from top to
    bottom (``"TB"``, for long chains such as an MLP), and return the figure.

    Without ``ax`` a new figure is made whose size grows with the graph, so that labels keep their size
    (:data:`FONT_SIZE` points at :data:`DPI` or more, and at least :data:`MIN_WIDTH_PIXELS` wide: readable on a
    projector); with ``ax`` (e.g. one of two side-by-side subplots) the drawing is scaled to fit it.
    """
    layout = _layout(graph, direction)
    if ax is None:
        fig, (ax,) = _figure([layout], [title])
        scale = 1.0
    else:  # the layout is in inches: text and arrows shrink or grow with it to fit the given axes
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        width, height = layout["size"]
        scale = min(box.width * fig_w / width, box.height * fig_h / height)
    _render(ax, graph, layout, scale)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 2)
    return ax.figure


def draw_many(graphs: list[Graph], titles: list[str] | None = None, direction: str = "LR"):
    """Draw several graphs side by side, each at full size (labels as large as :func:`draw` makes them), in one
    figure; return the figure."""
    titles = list(titles or [None] * len(graphs))
    if len(titles) != len(graphs):
        raise ValueError(f"graph.draw_many: {len(graphs)} graphs but {len(titles)} titles")
    layouts = [_layout(g, direction) for g in graphs]
    fig, axes = _figure(layouts, titles)
    for ax, g, layout, title in zip(axes, graphs, layouts, titles):
        _render(ax, g, layout, 1.0)
        if title:
            ax.set_title(title, fontsize=FONT_SIZE + 2)
    return fig


GAP_BETWEEN = 5 * EM  # between graphs drawn side by side
TITLE_HEIGHT = 3 * EM  # above a graph, for its title
MIN_WIDTH_PIXELS = 1200


def _figure(layouts: list[dict], titles: list[str | None]):
    """A figure holding the layouts side by side at their natural size (1 layout inch = 1 figure inch)."""
    import matplotlib.pyplot as plt

    margin = EM
    top = TITLE_HEIGHT if any(titles) else 0.0
    fig_w = sum(layout["size"][0] for layout in layouts) + GAP_BETWEEN * (len(layouts) - 1) + 2 * margin
    fig_h = max(layout["size"][1] for layout in layouts) + top + 2 * margin
    # wide enough once Jupyter has cropped the margins (it saves with bbox_inches="tight")
    dpi = min(max(DPI, MIN_WIDTH_PIXELS / (fig_w - 3 * margin)), MAX_PIXELS / max(fig_w, fig_h))
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi, layout="none")  # axes placed by hand, whatever rcParams say
    axes, left = [], margin
    for layout in layouts:
        width, height = layout["size"]
        axes.append(fig.add_axes((left / fig_w, (fig_h - top - margin - height) / fig_h, width / fig_w,
                                  height / fig_h)))
        left += width + GAP_BETWEEN
    return fig, axes


def _layout(graph: Graph, direction: str = "LR") -> dict:
    """Positions (in inches) of the nodes and of the bends of long edges.

    The layers run along the direction of flow (x for ``"LR"``, y for ``"TB"``); the layout is computed in flow
    coordinates (along, across) and turned at the end."""
    if direction not in ("LR", "TB"):
        raise ValueError(f"graph.draw: argument 'direction' must be 'LR' or 'TB', got {direction!r}")
    if not graph.nodes:
        raise ValueError("graph.draw: the graph has no nodes")
    boxes = {i: _box_size(node.label) for i, node in graph.nodes.items()}
    turn = direction == "TB"
    sizes = {i: (h, w) if turn else (w, h) for i, (w, h) in boxes.items()}  # (along, across)
    layer = _layers(graph)
    # An edge that spans several layers passes through a point in each layer in between, which takes part in
    # the ordering like a small node, so that edges go around boxes rather than through them.
    chains, members = {}, [[] for _ in range(max(layer.values()) + 1)]
    for i in graph.nodes:
        members[layer[i]].append(i)
    for a, b in dict.fromkeys(graph.edges):
        chain = [a]
        for k in range(layer[a] + 1, layer[b]):
            point = f"{a}->{b}@{k}"
            sizes[point], layer[point], boxes[point] = (0.0, 0.0), k, (0.0, 0.0)
            members[k].append(point)
            chain.append(point)
        chains[(a, b)] = chain + [b]
    links_in, links_out = {i: [] for i in layer}, {i: [] for i in layer}
    for chain in chains.values():
        for u, w in zip(chain, chain[1:]):
            links_out[u].append(w)
            links_in[w].append(u)
    _order(members, links_in, links_out)
    across = _vertical_positions(members, sizes, links_in, links_out)
    widths = [max(sizes[i][0] for i in layer_members) for layer_members in members]
    start = [sum(widths[:k]) + k * LAYER_GAP for k in range(len(widths))]
    along = {i: start[layer[i]] + widths[layer[i]] / 2 for i in layer}
    low = min(across[i] - sizes[i][1] / 2 for i in across)
    across = {i: across[i] - low for i in across}
    extent = (start[-1] + widths[-1], max(across[i] + sizes[i][1] / 2 for i in across))
    x, y = (across, along) if turn else (along, across)
    return dict(x=x, y=y, sizes=boxes, chains=chains, size=extent[::-1] if turn else extent, direction=direction)


def _box_size(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    return max(map(len, lines)) * CHAR_WIDTH + 2 * PAD, len(lines) * LINE_HEIGHT + 2 * PAD


def _layers(graph: Graph) -> dict[str, int]:
    """Layer of each node: sinks in the last layer, every other node just left of its leftmost consumer (the
    longest path to a sink), so that parameters and inputs sit next to the node that uses them."""
    consumers = {i: [] for i in graph.nodes}
    for a, b in graph.edges:
        consumers[a].append(b)
    depth: dict[str, int] = {}
    for i in _reverse_topological(graph, consumers):
        depth[i] = max((depth[c] + 1 for c in consumers[i]), default=0)
    last = max(depth.values())
    return {i: last - d for i, d in depth.items()}


def _reverse_topological(graph: Graph, consumers: dict[str, list[str]]) -> list[str]:
    """Nodes ordered so that each comes after all of its consumers."""
    remaining = {i: len(c) for i, c in consumers.items()}
    producers = {i: [] for i in graph.nodes}
    for a, b in graph.edges:
        producers[b].append(a)
    ready = [i for i, n in remaining.items() if n == 0]
    order = []
    while ready:
        i = ready.pop()
        order.append(i)
        for p in producers[i]:
            remaining[p] -= 1
            if remaining[p] == 0:
                ready.append(p)
    if len(order) != len(graph.nodes):
        raise ValueError("graph.draw: the graph has a cycle")
    return order


def _order(members: list[list[str]], links_in: dict, links_out: dict, sweeps: int = 8) -> None:
    """Order the nodes within each layer to avoid crossings: the barycentre heuristic, sweeping right and left."""
    position = {i: k for layer_members in members for k, i in enumerate(layer_members)}
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        layers = members[1:] if forward else members[-2::-1]
        for layer_members in layers:
            neighbours = links_in if forward else links_out

            def barycentre(i):
                linked = neighbours[i]
                return sum(position[j] for j in linked) / len(linked) if linked else position[i]

            layer_members.sort(key=barycentre)
            position.update((i, k) for k, i in enumerate(layer_members))


def _vertical_positions(members, sizes, links_in, links_out, sweeps: int = 6) -> dict[str, float]:
    """Vertical centre of every node: each pulled towards its neighbours, boxes kept apart and in order."""
    y = {}
    for layer_members in members:
        top = 0.0
        for i in layer_members:
            y[i] = top + sizes[i][1] / 2
            top += sizes[i][1] + NODE_GAP
    for sweep in range(sweeps):
        for layer_members in (members if sweep % 2 == 0 else members[::-1]):
            targets = []
            for i in layer_members:
                linked = links_in[i] + links_out[i]
                targets.append(sum(y[j] for j in linked) / len(linked) if linked else y[i])
            y.update(zip(layer_members, _separate(targets, [sizes[i][1] for i in layer_members])))
    return y


def _separate(targets: list[float], heights: list[float]) -> list[float]:
    """Positions as close as possible (least squares) to ``targets`` while keeping the boxes of the given
    heights in order and apart: isotonic regression by pooling adjacent violators."""
    offsets = [0.0]
    for h0, h1 in zip(heights, heights[1:]):
        gap = NODE_GAP if min(h0, h1) > 0 else EDGE_GAP  # a bend of an edge has height 0
        offsets.append(offsets[-1] + (h0 + h1) / 2 + gap)
    blocks = []  # [mean, count], with the offsets taken out the positions must only be non-decreasing
    for t, o in zip(targets, offsets):
        blocks.append([t - o, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, n1), (m2, n2) = blocks.pop(-2), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    shifted = [m for m, n in blocks for _ in range(n)]
    return [s + o for s, o in zip(shifted, offsets)]


def _render(ax, graph: Graph, layout: dict, scale: float) -> dict:
    """Draw the edges, boxes and labels; return each node's ``(box, text)`` artists by node id."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    x, y, sizes = layout["x"], layout["y"], layout["sizes"]
    width, height = layout["size"]
    turn = layout["direction"] == "TB"
    for (a, b), chain in layout["chains"].items():
        if turn:  # from the bottom of a box to the top of the next
            points = [(x[a], y[a] + sizes[a][1] / 2)] + [(x[p], y[p]) for p in chain[1:-1]] + \
                [(x[b], y[b] - sizes[b][1] / 2)]
        else:
            points = [(x[a] + sizes[a][0] / 2, y[a])] + [(x[p], y[p]) for p in chain[1:-1]] + \
                [(x[b] - sizes[b][0] / 2, y[b])]
        vertices, codes = [points[0]], [Path.MOVETO]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):  # a smooth S-curve between consecutive points
            if turn:
                middle = (y0 + y1) / 2
                vertices += [(x0, middle), (x1, middle), (x1, y1)]
            else:
                middle = (x0 + x1) / 2
                vertices += [(middle, y0), (middle, y1), (x1, y1)]
            codes += [Path.CURVE4] * 3
        dashed = (a, b) in graph.dashed
        ax.add_patch(FancyArrowPatch(path=Path(vertices, codes), arrowstyle="-|>", mutation_scale=FONT_SIZE * scale,
                                     linewidth=1.0 * scale, color="#be185d" if dashed else "#4b5563",
                                     linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0, zorder=1))
    artists = {}
    for i, node in graph.nodes.items():
        fill, line, box = STYLES[node.kind]
        w, h = sizes[i]
        style = f"{box},pad=0" + (f",rounding_size={0.5 * EM:.4f}" if box == "round" else "")
        patch = ax.add_patch(FancyBboxPatch((x[i] - w / 2, y[i] - h / 2), w, h, boxstyle=style, facecolor=fill,
                                            edgecolor=line, linewidth=scale, zorder=2))
        text = ax.text(x[i], y[i], node.label, ha="center", va="center", fontsize=FONT_SIZE * scale,
                       family="monospace", linespacing=1.25, zorder=3)
        artists[i] = (patch, text)
    margin = 0.25 * EM  # so that the outlines of the outermost boxes are not clipped
    ax.set_xlim(-margin, width + margin)
    ax.set_ylim(height + margin, -margin)  # the first node of a layer at the top
    ax.set_aspect("equal")
    ax.axis("off")
    return artists


# --------------------------------------------------------------------------------------------------------------
# The backward pass, animated
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One node processed by the backward sweep: which node (an id of the drawn :class:`Graph`), the gradient
    that arrived at its output, the gradients it sent to its inputs (input node id -> gradient), and the
    gradients accumulated at every node once it is done (node id -> sum of what arrived so far)."""

    node: str
    grad_output: torch.Tensor | None
    sent: dict[str, torch.Tensor]
    accumulated: dict[str, torch.Tensor]


def backward_steps(output, params: dict[str, torch.Tensor] | None = None,
                   inputs: dict[str, torch.Tensor] | None = None) -> tuple[Graph, list[Step]]:
    """The graph behind ``output`` and the steps of one backward sweep through it, in the order they run.

    ``output`` is an :class:`engine.Variable` after :func:`engine.forward` (the engine's own sweep runs again,
    so that its gradients are recomputed), or a scalar ``torch.Tensor`` whose graph was not freed (autograd's
    engine runs it through ``torch.autograd.grad`` with a hook on every node: no ``.grad`` is touched).
    ``params`` and ``inputs`` name leaves as in :func:`from_autograd`. After the last step, the accumulated
    gradients of the leaves are the gradients of ``output`` with respect to them.
    """
    steps: list[Step] = []
    accumulated: dict[str, torch.Tensor] = {}

    def add(node_id: str, grad):
        if grad is not None:
            accumulated[node_id] = grad if node_id not in accumulated else accumulated[node_id] + grad

    if isinstance(output, engine.Variable):
        if output.value is None:
            raise RuntimeError("graph.backward_steps: run engine.forward first (the output has no value)")
        graph = from_engine(output)
        arriving = {}

        def on_step(v, sent):
            node_id = str(id(v))
            if not steps:
                add(node_id, v.grad)
            arriving[node_id] = v.grad
            sent_by_id = {str(id(x)): g for x, g in zip(v.inputs, sent) if isinstance(x, engine.Variable)
                          and g is not None}
            for x_id, g in sent_by_id.items():
                add(x_id, g)
            steps.append(Step(node_id, v.grad, sent_by_id, dict(accumulated)))

        engine.backward(output, on_step=on_step)
        return graph, steps
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"graph.backward_steps: argument 'output' must be an engine.Variable or a torch.Tensor, "
                        f"got {type(output).__name__}")
    if output.grad_fn is None:
        raise ValueError("graph.backward_steps: argument 'output' has no autograd graph (it is a leaf or needs no "
                         "gradient)")
    if output.numel() != 1:
        raise ValueError(f"graph.backward_steps: argument 'output' must hold one number (a loss), got shape "
                         f"{tuple(output.shape)}")
    graph, nodes, root = _autograd_graph(output, params, inputs=inputs)
    add("output", torch.ones_like(output))
    add(root, torch.ones_like(output))
    for fn, grad_inputs, grad_outputs in _record_backward(output, nodes):
        parents = [parent for parent, _ in fn.next_functions]
        sent = {str(id(p)): g for p, g in zip(parents, grad_inputs) if p is not None and g is not None}
        for node_id, g in sent.items():
            add(node_id, g)
        steps.append(Step(str(id(fn)), grad_outputs[0] if grad_outputs else None, sent, dict(accumulated)))
    return graph, steps


# Colours of a node during the animation: being processed, done; the rest keep their usual colours.
CURRENT = ("#fecaca", "#b91c1c")
DONE = ("#dcfce7", "#15803d")


def animate(output, params: dict[str, torch.Tensor] | None = None, inputs: dict[str, torch.Tensor] | None = None,
            title: str | None = None, direction: str = "LR", interval_ms: int = 1500):
    """The backward sweep through the graph of ``output``, one frame per node, as a matplotlib animation.

    Frame 0 is the graph after the forward pass; frame ``k`` shows step ``k`` of :func:`backward_steps`: the node
    being processed in red, the nodes already done outlined in green, every node labelled with the gradient
    accumulated at it so far (``grad``: numbers for up to 4 elements, else the shape), and below the graph the
    gradient that arrived at the node, its local derivative (for one-number inputs and outputs, the ratio of
    what it sent to what arrived: e.g. 2 for ``e = c * d`` towards ``c`` when ``d = 2``) and what it sent.

    In Jupyter: ``IPython.display.HTML(animation.to_jshtml())``; as a GIF (Pillow, no other program needed):
    ``animation.save("backward.gif", writer=matplotlib.animation.PillowWriter(fps=1))``.
    The steps are kept as ``animation.steps``; ``animation.show_frame(k)`` draws frame ``k`` (for a still image).
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    graph, steps = backward_steps(output, params, inputs)
    base = {i: _without_grad(node.label) for i, node in graph.nodes.items()}
    final = steps[-1].accumulated if steps else {}
    sized = Graph({i: Node(_with_grad(base[i], final.get(i), node.kind), node.kind)
                   for i, node in graph.nodes.items()}, graph.edges, graph.dashed)
    layout = _layout(sized, direction)
    panel_lines = 8
    panel = (panel_lines + 1) * LINE_HEIGHT
    width, height = layout["size"]
    width = max(width, 60 * CHAR_WIDTH)  # room for the text below the graph
    top = TITLE_HEIGHT if title else 0.0
    fig_w, fig_h = width + 2 * EM, height + panel + top + 2 * EM
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=max(DPI, MIN_WIDTH_PIXELS / fig_w))
    # the axes are placed by hand: an engine that does nothing, so that a constrained layout in rcParams (the
    # notebooks' style) is not applied while the animation is saved, where it warns and moves nothing
    fig.set_layout_engine(PlaceHolderLayoutEngine(adjust_compatible=True, colorbar_gridspec=True))
    graph_w = layout["size"][0]
    ax = fig.add_axes(((fig_w - graph_w) / 2 / fig_w, (panel + EM) / fig_h, graph_w / fig_w, height / fig_h))
    artists = _render(ax, sized, layout, 1.0)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 2)
    columns = int((fig_w - 2 * EM) / CHAR_WIDTH)
    text = fig.text(EM / fig_w, (panel + 0.5 * EM) / fig_h, "", va="top", ha="left", family="monospace",
                    fontsize=FONT_SIZE, linespacing=1.25)
    first = {i: node.label.split("\n")[0] for i, node in graph.nodes.items()}

    def show(frame: int):
        accumulated = steps[frame - 1].accumulated if frame else {}
        done = {step.node for step in steps[:max(frame - 1, 0)]}
        for i, (patch, label) in artists.items():
            kind = graph.nodes[i].kind
            fill, line = CURRENT if frame and i == steps[frame - 1].node else DONE if i in done else STYLES[kind][:2]
            patch.set_facecolor(fill)
            patch.set_edgecolor(line)
            patch.set_linewidth(3 if fill in (CURRENT[0], DONE[0]) else 1)
            label.set_text(_with_grad(base[i], accumulated.get(i), kind))
        if frame == 0:
            lines = ["after the forward pass: every node has its value; no gradient yet.",
                     f"the backward sweep starts at the output with gradient 1 ({len(steps)} steps).", "", "",
                     "red: node being processed; green outline: done; grad: gradient accumulated so far"]
        else:
            step = steps[frame - 1]
            lines = [f"step {frame} of {len(steps)}: {first[step.node]}",
                     f"gradient arriving at its output: {engine.format_value(step.grad_output)}",
                     _local_derivatives(step, first),
                     "sends: " + ("; ".join(f"{first[j]} += {engine.format_value(g)}" for j, g in step.sent.items())
                                  or "-"),
                     "red: node being processed; green outline: done; grad: gradient accumulated so far"]
        wrapped = [row for line in lines for row in (textwrap.wrap(line, columns, subsequent_indent="  ") or [""])]
        text.set_text("\n".join(wrapped[:panel_lines]))
        return [text, *(a for pair in artists.values() for a in pair)]

    animation = FuncAnimation(fig, show, frames=len(steps) + 1, interval=interval_ms, blit=False, repeat=False)
    animation.steps, animation.show_frame = steps, show
    show(0)
    return animation


def _without_grad(label: str) -> str:
    return "\n".join(line for line in label.split("\n") if not line.startswith("grad "))


def _with_grad(label: str, grad, kind: str) -> str:
    if kind in ("constant", "saved") and grad is None:
        return label
    return f"{label}\ngrad {engine.format_value(grad)}"


def _local_derivatives(step: Step, first: dict[str, str]) -> str:
    """The local derivatives of a step's node towards its inputs: numbers where the node and the inputs hold one
    number each (what it sent over what arrived), else the shapes of its vector-Jacobian products."""
    if not step.sent:
        return "a leaf: its gradient is complete and stored"
    arrived = step.grad_output
    if arrived is not None and arrived.numel() == 1 and arrived.item() != 0 and \
            all(g.numel() == 1 for g in step.sent.values()):
        return "local derivative towards " + "; ".join(
            f"{first[j]}: {engine.format_value(g.detach() / arrived.detach())}" for j, g in step.sent.items())
    shapes = ", ".join(f"{first[j]} {_shape(g)}" for j, g in step.sent.items())
    return f"local derivative: a Jacobian, applied as a vector-Jacobian product to give {shapes}"


# --------------------------------------------------------------------------------------------------------------
# Static graphs as TensorFlow 1 built them: define, then run
# --------------------------------------------------------------------------------------------------------------


class StaticGraph:
    """Define-then-run, the way TensorFlow 1 worked, written with ``torch.fx``.

    First the graph is *defined*: :meth:`placeholder` gives symbolic inputs (``torch.fx.Proxy`` objects) and the
    operations applied to them are recorded as nodes of a ``torch.fx.Graph`` (symbolic tracing): nothing is
    computed. Then it is *run*, as a TensorFlow 1 session was, on values fed in for the placeholders::

        >>> g = StaticGraph()
        >>> a, b = g.placeholder("a"), g.placeholder("b")     # tf.placeholder(tf.float32, name="a")
        >>> e = (a + b) * (b + 1)                              # recorded, not computed
        >>> g.run(e, {"a": torch.tensor(2.0), "b": torch.tensor(1.0)})   # session.run(e, feed_dict=...)
        tensor(6.)

    :meth:`module` is the compiled graph (a ``torch.fx.GraphModule``, drawn by :func:`from_fx`); it runs under
    autograd like any module, so gradients flow through it.
    """

    def __init__(self):
        self.fx_graph = torch.fx.Graph()
        self._tracer = torch.fx.proxy.GraphAppendingTracer(self.fx_graph)
        self._placeholders: list[str] = []

    def placeholder(self, name: str) -> torch.fx.Proxy:
        """A symbolic input called ``name``: a value is fed in for it by :meth:`run`."""
        if not isinstance(name, str) or not name.isidentifier() or name in self._placeholders:
            raise ValueError(f"StaticGraph.placeholder: argument 'name' must be a new Python identifier, got {name!r}")
        self._placeholders.append(name)
        return torch.fx.Proxy(self.fx_graph.placeholder(name), self._tracer)

    def module(self, fetch: torch.fx.Proxy) -> torch.fx.GraphModule:
        """The graph that computes ``fetch`` from the placeholders, as a runnable ``torch.fx.GraphModule``."""
        if not isinstance(fetch, torch.fx.Proxy) or fetch.node.graph is not self.fx_graph:
            raise TypeError(f"StaticGraph: the value to fetch must be a result of operations on this graph's "
                            f"placeholders, got {type(fetch).__name__}")
        graph = torch.fx.Graph()
        env: dict = {}
        for node in self.fx_graph.nodes:  # a copy with fetch as its output, so that several can be fetched
            env[node] = graph.node_copy(node, lambda n: env[n])
        graph.output(env[fetch.node])
        graph.eliminate_dead_code()  # placeholders stay: every run is fed all of them
        return torch.fx.GraphModule(torch.nn.Module(), graph)

    def run(self, fetch: torch.fx.Proxy, feed_dict: dict[str, torch.Tensor]) -> torch.Tensor:
        """Compute ``fetch`` for the values in ``feed_dict`` (placeholder name -> tensor or number)."""
        missing = [n for n in self._placeholders if n not in feed_dict]
        unknown = [n for n in feed_dict if n not in self._placeholders]
        if missing or unknown:
            raise ValueError(f"StaticGraph.run: feed_dict must give a value for each placeholder "
                             f"{self._placeholders}; missing {missing}, unknown {unknown}")
        return self.module(fetch)(**{n: feed_dict[n] for n in self._placeholders})


# --------------------------------------------------------------------------------------------------------------
# Command line: in5550 graph
# --------------------------------------------------------------------------------------------------------------

DRAWING_FORMATS = (".png", ".svg", ".pdf")


def lecture_example() -> engine.Variable:
    """The lecture's graph for a = 2, b = 1: c = a + b, d = b + 1, e = c * d, after the forward and backward pass."""
    a, b = engine.Variable(2.0, name="a"), engine.Variable(1.0, name="b")
    e = ((a + b).named("c") * (b + 1).named("d")).named("e")
    engine.forward(e)
    engine.backward(e)
    return e


# The toy MLP drawn by ``in5550 graph --mlp``: small enough that every shape in the drawing is readable.
TOY_MLP = dict(vocab_size=20, embedding_dim=8, hidden_dims=[16], num_classes=2, dropout=0.1)
TOY_BATCH = dict(ids=[3, 7, 1, 4, 4, 9, 12, 5], offsets=[0, 3, 5], labels=[1, 0, 1])


def toy_mlp_description() -> str:
    """One line saying what the toy sizes of :func:`_mlp_loss` are."""
    m, b = TOY_MLP, TOY_BATCH
    return (f"toy sizes: vocabulary {m['vocab_size']}, embedding {m['embedding_dim']}, hidden {m['hidden_dims']}, "
            f"{m['num_classes']} classes, dropout {m['dropout']}; a batch of {len(b['offsets'])} sentences, "
            f"{len(b['ids'])} token ids")


def _mlp_loss() -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The loss of the toy MLP sentence classifier (:data:`TOY_MLP`) with our nodes on :data:`TOY_BATCH`: the
    loss, the parameters by name and the inputs (ids, offsets, labels) by name."""
    from in5550.nn import MLPClassifier

    torch.manual_seed(0)
    model = MLPClassifier(**TOY_MLP)
    inputs = {name: torch.tensor(values) for name, values in TOY_BATCH.items()}
    loss = model.loss(model(inputs["ids"], inputs["offsets"]), inputs["labels"])
    return loss, dict(model.named_parameters()), inputs


def add_arguments(parser) -> None:
    parser.add_argument("--mlp", action="store_true", help="draw the autograd graph of a toy MLP sentence "
                        "classifier (its sizes are printed) instead of the lecture's example e = (a + b) * (b + 1)")
    parser.add_argument("--output", metavar="FILE",
                        help=f"where to write the drawing, one of {', '.join(DRAWING_FORMATS)} (default: "
                             f"runs/graph.png, or runs/graph-mlp.png with --mlp: runs/ is where in5550 train "
                             f"writes too)")
    parser.add_argument("--dot", action="store_true", help="print Graphviz DOT text instead of drawing")


def run(args) -> int:
    from pathlib import Path

    from in5550.errors import UsageError

    output = Path(args.output or ("runs/graph-mlp.png" if args.mlp else "runs/graph.png"))
    if not args.dot:
        if output.is_dir():
            raise UsageError(f"--output {str(output)!r} is a folder; give a file name such as "
                             f"{str(output / 'graph.png')!r}")
        if output.suffix.lower() not in DRAWING_FORMATS:
            raise UsageError(f"--output must end in one of {', '.join(DRAWING_FORMATS)}, got {str(output)!r}")
        if args.output is None and not output.parent.exists():
            try:
                output.parent.mkdir(parents=True)
            except OSError as error:
                raise UsageError(f"cannot create folder {str(output.parent)!r} for the drawing "
                                 f"({error.strerror}); give --output") from None
        if not output.parent.is_dir():
            raise UsageError(f"--output: folder {str(output.parent)!r} does not exist")
    if args.mlp:
        loss, params, inputs = _mlp_loss()
        graph = from_autograd(loss, params, name="loss", inputs=inputs, show_shapes=True)
        title, direction = "MLP sentence classifier: the graph of the loss", "TB"
        print(f"MLP with {toy_mlp_description()}", file=sys.stderr if args.dot else sys.stdout)
    else:
        graph, title, direction = from_engine(lecture_example()), "e = (a + b) * (b + 1) for a = 2, b = 1", "LR"
    if args.dot:
        print(to_dot(graph), end="")
        return 0
    import matplotlib.pyplot as plt

    figure = draw(graph, title=title, direction=direction)
    try:
        figure.savefig(output)
    except OSError as error:
        raise UsageError(f"--output: cannot write {str(output)!r} ({error.strerror or error})") from None
    finally:
        plt.close(figure)
    print(f"wrote {output} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")
    return 0
