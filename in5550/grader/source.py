"""Reading a submission without running it: parse its text and look for what a lab forbids.

The submission is parsed with :func:`ast.parse`, which never executes it. The findings are the grader's own
(the student's process cannot forge them), but they are only as good as a reading of the text: code that builds
names at run time escapes them, which is why the runner also watches the nodes while they run.

- **autograd in a node**: inside a node's class, any use of ``torch.autograd`` (``grad``, ``backward``,
  ``functional``, ``enable_grad``, ...), ``torch.func``/``functorch``, ``torch.enable_grad`` or
  ``set_grad_enabled``, ``.backward()``, ``.requires_grad_()``, ``requires_grad=True``, or one of PyTorch's own
  derivative kernels (``torch.ops.aten.*_backward``). The node loses its backward points.
- **borrowing the course package**: importing ``in5550`` anywhere, or naming it in a string passed to a call
  (``importlib.import_module("in5550.nodes")``). Every node loses its backward points.
- **for a person to review**: imports beyond the numeric ones and calls such as ``open``, ``exec`` or
  ``__import__``, which a lab never needs. Reported, not penalised.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

AUTOGRAD_PREFIXES = ("torch.autograd.", "torch.func.", "functorch", "torch.enable_grad", "torch.set_grad_enabled")
AUTOGRAD_METHODS = ("backward", "requires_grad_")
ALLOWED_AUTOGRAD = ("torch.autograd.Function", "torch.autograd.function.Function",
                    "torch.autograd.function.once_differentiable", "torch.autograd.function.FunctionCtx")
DERIVATIVE_KERNELS = ("_backward", "_backward_data")
BORROWED = "in5550"
ALLOWED_IMPORTS = ("torch", "math", "numpy", "typing", "__future__", "functools", "itertools", "dataclasses")
REVIEW_CALLS = ("open", "exec", "eval", "compile", "__import__", "breakpoint", "input", "globals", "setattr")


@dataclass
class Findings:
    """What reading the submission found. ``error`` is set when it cannot be read at all."""

    error: str | None = None
    autograd: dict[str, list[str]] = field(default_factory=dict)  # node name -> findings
    borrowing: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``torch.autograd.grad`` for an attribute chain, with its first name resolved through the imports."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it was imported as (``import torch.autograd as ag`` gives ``ag -> torch.autograd``)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                    alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _calls_a_class(call: ast.Call, classes: set[str]) -> bool:
    """Whether ``call`` is ``SomeClass.method(...)`` or ``super().method(...)``: a node calling a node's
    ``backward`` directly (hand-written code), not ``tensor.backward()``."""
    receiver = call.func.value
    return (isinstance(receiver, ast.Name) and receiver.id in classes) or (
        isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super")


def _autograd_uses(body: Iterable[ast.AST], aliases: dict[str, str], classes: set[str]) -> list[str]:
    nodes = [inner for outer in body for inner in ast.walk(outer)]
    links = {id(node.value) for node in nodes if isinstance(node, ast.Attribute)}  # inner links of a chain
    found = set()
    for node in nodes:
        name = None
        if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in links:
            dotted = _dotted(node, aliases) or ""
            if dotted not in ALLOWED_AUTOGRAD and ((dotted + ".").startswith(AUTOGRAD_PREFIXES) or (
                    dotted.startswith("torch.") and dotted.endswith(DERIVATIVE_KERNELS))):
                name = dotted
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in AUTOGRAD_METHODS and not _calls_a_class(node, classes):
            name = f".{node.func.attr}()"
        elif isinstance(node, ast.keyword) and node.arg == "requires_grad" and \
                not (isinstance(node.value, ast.Constant) and not node.value.value):
            name = "requires_grad=True"
        if name:
            found.add((node.lineno, name))
    return [f"line {line}: {name}" for line, name in sorted(found)]


def scan(text: str, node_names: Iterable[str]) -> Findings:
    """Read ``text`` (a submission) and report what it uses; see the module's docstring."""
    try:
        tree = ast.parse(text, filename="submission.py")
    except SyntaxError as error:
        return Findings(error=f"the submission is not valid Python: {error.msg} (line {error.lineno})")
    aliases = _aliases(tree)
    findings = Findings()
    nodes = set(node_names)
    classes = {statement.name for statement in tree.body if isinstance(statement, ast.ClassDef)}
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef) and statement.name in nodes:
            uses = _autograd_uses(statement.body, aliases, classes)
            if uses:
                findings.autograd[statement.name] = uses
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if BORROWED in module or any(BORROWED in alias.name for alias in node.names):
                    findings.borrowing.append(f"line {node.lineno}: imports {module}")
                elif module.split(".")[0] not in ALLOWED_IMPORTS:
                    findings.review.append(f"line {node.lineno}: imports {module or '(relative import)'}")
        elif isinstance(node, ast.Call):
            if any(isinstance(arg, ast.Constant) and isinstance(arg.value, str) and BORROWED in arg.value
                   for arg in node.args):
                findings.borrowing.append(f"line {node.lineno}: names {BORROWED} in a call")
            if isinstance(node.func, ast.Name) and node.func.id in REVIEW_CALLS:
                findings.review.append(f"line {node.lineno}: calls {node.func.id}()")
    return findings
