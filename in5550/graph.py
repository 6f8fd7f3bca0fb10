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
FONT_SIZE = 8  # points; the layout below measures labels in this monospace size
CHAR_WIDTH, LINE_HEIGHT = 0.6 * FONT_SIZE / 72, 1.25 * FONT_SIZE / 72  # inches
PAD = 0.08  # inches of box around a label
LAYER_GAP, NODE_GAP, EDGE_GAP = 0.45, 0.12, 0.05  # inches between layers, between boxes, beside a passing edge
DPI = 150
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
                  show_saved: bool = False, name: str = "output") -> Graph:
    """The autograd graph behind ``output``: its ``grad_fn`` and everything reachable through ``next_functions``.

    Leaves (``AccumulateGrad``) that are in ``params`` (e.g. ``dict(model.named_parameters())``) are labelled by
    name; nodes of this package (``torch.autograd.Function`` classes defined in ``in5550``) are highlighted.
    With ``show_saved=True``, each node's saved tensors are drawn too, joined to it by dashed edges.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"graph.from_autograd: argument 'output' must be a torch.Tensor, got {type(output).__name__}")
    if output.grad_fn is None and not output.requires_grad:
        raise ValueError("graph.from_autograd: argument 'output' has no autograd graph (requires_grad=False)")
    names = {id(p): n for n, p in (params or {}).items()}
    graph = Graph()
    graph.nodes["output"] = Node(f"{name}\n{_shape(output)}", "output")
    root = output.grad_fn or output
    # seen keeps every node object alive, so that id() names it uniquely while we walk
    stack, seen = [root], {id(root): root}
    graph.edges.append((str(id(root)), "output"))
    while stack:
        fn = stack.pop()
        graph.nodes[str(id(fn))] = _autograd_node(fn, names)
        if show_saved:
            _add_saved(graph, fn, names)
        parents = [parent for parent, _ in getattr(fn, "next_functions", ()) if parent is not None]
        graph.edges += [(str(id(parent)), str(id(fn))) for parent in parents]  # None: input needs no gradient
        for parent in reversed(parents):  # so that the first input is visited (and placed) first
            if id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return graph


# Python operators that torch.fx records as functions of the operator module, written back as operators.
FX_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "matmul": "@", "pow": "**"}


def from_fx(module: torch.fx.GraphModule) -> Graph:
    """The static graph that ``torch.fx.symbolic_trace`` recorded: placeholders, operations and the output."""
    if not isinstance(module, torch.fx.GraphModule):
        raise TypeError(f"graph.from_fx: argument 'module' must be a torch.fx.GraphModule, got {type(module).__name__}")
    graph = Graph()
    for node in module.graph.nodes:
        if node.op == "placeholder":
            label, kind = node.name, "input"
        elif node.op == "output":
            label, kind = "output", "output"
        else:
            args = [str(a) for a in node.args]
            target = getattr(node.target, "__name__", str(node.target))
            infix = FX_OPERATORS.get(target) if getattr(node.target, "__module__", None) == "_operator" else None
            formula = f" {infix} ".join(args) if infix else f"{target}({', '.join(args)})"
            label, kind = f"{node.name} = {formula}", "torch"
        graph.nodes[node.name] = Node(label, kind)
        graph.edges += [(x.name, node.name) for x in node.all_input_nodes]
    return graph


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def _forward_cls(fn) -> type | None:
    """The ``torch.autograd.Function`` whose backward node ``fn`` is, or None for PyTorch's own nodes."""
    return getattr(type(fn), "_forward_cls", None)


def _is_ours(fn) -> bool:
    forward_cls = _forward_cls(fn)
    return forward_cls is not None and forward_cls.__module__.split(".")[0] == "in5550"


def _autograd_node(fn, names: dict[int, str]) -> Node:
    if isinstance(fn, torch.Tensor):  # the output itself is a leaf
        return Node(f"{names.get(id(fn), 'leaf')}\n{_shape(fn)}", "input")
    if hasattr(fn, "variable"):  # AccumulateGrad: where a leaf's gradient is stored
        return Node(f"{names.get(id(fn.variable), 'leaf')}\n{_shape(fn.variable)}", "input")
    return Node(type(fn).__name__, "op" if _is_ours(fn) else "torch")


def _add_saved(graph: Graph, fn, names: dict[int, str]) -> None:
    """Add the tensors ``fn`` saved for backward, as nodes joined to ``fn`` by dashed edges."""
    if _forward_cls(fn) is not None:  # a Function's node is its ctx: what it saved is in saved_tensors
        try:
            saved = [("saved", t) for t in fn.saved_tensors]
        except RuntimeError:  # freed by a backward pass that ran without retain_graph
            saved = []
    else:  # PyTorch's own nodes expose each saved value as an attribute _saved_<argument name>
        saved = [(a[len("_saved_"):], getattr(fn, a)) for a in dir(fn) if a.startswith("_saved_")]
    for i, (what, t) in enumerate(s for s in saved if isinstance(s[1], torch.Tensor)):
        node_id = f"{id(fn)}.saved{i}"
        label = f"{what}: {names[id(t)]}" if id(t) in names else f"{what}\n{_shape(t)}"
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


def draw(graph: Graph, ax=None, title: str | None = None):
    """Draw ``graph`` left to right with matplotlib and return the figure.

    Without ``ax`` a new figure is made whose size grows with the graph, so that labels keep their size;
    with ``ax`` (e.g. one of two side-by-side subplots) the drawing is scaled to fit it.
    """
    import matplotlib.pyplot as plt

    if not graph.nodes:
        raise ValueError("graph.draw: the graph has no nodes")
    layout = _layout(graph)
    width, height = layout["size"]
    if ax is None:
        fig_w, fig_h = width + 0.2, height + 0.2 + (0.3 if title else 0)
        fig = plt.figure(figsize=(fig_w, fig_h), dpi=min(DPI, MAX_PIXELS / max(fig_w, fig_h)))
        ax = fig.add_axes((0.1 / fig_w, 0.1 / fig_h, width / fig_w, height / fig_h))
        scale = 1.0
    else:  # the layout is in inches: text and arrows shrink or grow with it to fit the given axes
        box = ax.get_position()
        fig_w, fig_h = ax.figure.get_size_inches()
        scale = min(box.width * fig_w / width, box.height * fig_h / height)
    _render(ax, graph, layout, scale)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 2)
    return ax.figure


def _layout(graph: Graph) -> dict:
    """Positions (in inches) of the nodes and of the bends of long edges."""
    sizes = {i: _box_size(node.label) for i, node in graph.nodes.items()}
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
            sizes[point], layer[point] = (0.0, 0.0), k
            members[k].append(point)
            chain.append(point)
        chains[(a, b)] = chain + [b]
    links_in, links_out = {i: [] for i in layer}, {i: [] for i in layer}
    for chain in chains.values():
        for u, w in zip(chain, chain[1:]):
            links_out[u].append(w)
            links_in[w].append(u)
    _order(members, links_in, links_out)
    y = _vertical_positions(members, sizes, links_in, links_out)
    widths = [max(sizes[i][0] for i in layer_members) for layer_members in members]
    left = [sum(widths[:k]) + k * LAYER_GAP for k in range(len(widths))]
    x = {i: left[layer[i]] + widths[layer[i]] / 2 for i in layer}
    top = min(y[i] - sizes[i][1] / 2 for i in y)
    y = {i: y[i] - top for i in y}
    height = max(y[i] + sizes[i][1] / 2 for i in y)
    return dict(x=x, y=y, sizes=sizes, chains=chains, size=(left[-1] + widths[-1], height))


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


def _render(ax, graph: Graph, layout: dict, scale: float) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    x, y, sizes = layout["x"], layout["y"], layout["sizes"]
    width, height = layout["size"]
    for (a, b), chain in layout["chains"].items():
        points = [(x[a] + sizes[a][0] / 2, y[a])] + [(x[p], y[p]) for p in chain[1:-1]] + \
            [(x[b] - sizes[b][0] / 2, y[b])]
        vertices, codes = [points[0]], [Path.MOVETO]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):  # a smooth S-curve between consecutive points
            middle = (x0 + x1) / 2
            vertices += [(middle, y0), (middle, y1), (x1, y1)]
            codes += [Path.CURVE4] * 3
        dashed = (a, b) in graph.dashed
        ax.add_patch(FancyArrowPatch(path=Path(vertices, codes), arrowstyle="-|>", mutation_scale=8 * scale,
                                     linewidth=0.8 * scale, color="#be185d" if dashed else "#4b5563",
                                     linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0, zorder=1))
    for i, node in graph.nodes.items():
        fill, line, box = STYLES[node.kind]
        w, h = sizes[i]
        style = f"{box},pad=0" + (",rounding_size=0.06" if box == "round" else "")
        ax.add_patch(FancyBboxPatch((x[i] - w / 2, y[i] - h / 2), w, h, boxstyle=style, facecolor=fill,
                                    edgecolor=line, linewidth=scale, zorder=2))
        ax.text(x[i], y[i], node.label, ha="center", va="center", fontsize=FONT_SIZE * scale, family="monospace",
                linespacing=1.25, zorder=3)
    margin = 0.03  # inches, so that the outlines of the outermost boxes are not clipped
    ax.set_xlim(-margin, width + margin)
    ax.set_ylim(height + margin, -margin)  # the first node of a layer at the top
    ax.set_aspect("equal")
    ax.axis("off")


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


def _mlp_loss() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of a small MLP sentence classifier with our nodes on a batch of three sentences."""
    from in5550.nn import MLPClassifier

    torch.manual_seed(0)
    model = MLPClassifier(vocab_size=20, embedding_dim=8, hidden_dims=[16], num_classes=2, dropout=0.1)
    ids, offsets = torch.tensor([3, 7, 1, 4, 4, 9, 12, 5]), torch.tensor([0, 3, 5])
    loss = model.loss(model(ids, offsets), torch.tensor([1, 0, 1]))
    return loss, dict(model.named_parameters())


def add_arguments(parser) -> None:
    parser.add_argument("--mlp", action="store_true", help="draw the autograd graph of the MLP sentence classifier "
                        "instead of the lecture's example e = (a + b) * (b + 1)")
    parser.add_argument("--output", default="graph.png", metavar="FILE",
                        help=f"where to write the drawing, one of {', '.join(DRAWING_FORMATS)} (default: graph.png)")
    parser.add_argument("--dot", action="store_true", help="print Graphviz DOT text instead of drawing")


def run(args) -> int:
    from pathlib import Path

    from in5550.errors import UsageError

    output = Path(args.output)
    if not args.dot:
        if output.suffix.lower() not in DRAWING_FORMATS:
            raise UsageError(f"--output must end in one of {', '.join(DRAWING_FORMATS)}, got {str(output)!r}")
        if not output.parent.is_dir():
            raise UsageError(f"--output: folder {str(output.parent)!r} does not exist")
    if args.mlp:
        graph, title = from_autograd(*_mlp_loss(), name="loss"), "MLP sentence classifier: autograd graph of the loss"
    else:
        graph, title = from_engine(lecture_example()), "e = (a + b) * (b + 1) for a = 2, b = 1"
    if args.dot:
        print(to_dot(graph), end="")
        return 0
    import matplotlib.pyplot as plt

    figure = draw(graph, title=title)
    figure.savefig(output)
    plt.close(figure)
    print(f"wrote {output} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")
    return 0
