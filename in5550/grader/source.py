"""Reading a submission without running it: parse its text and look for what a lab forbids.

The submission is parsed with :func:`ast.parse`, which never executes it. The findings are the grader's own
(the student's process cannot forge them), but they are only as good as a reading of the text: code that builds
names at run time escapes them, which is why the runner also watches the nodes while they run, and why every
way of building names at run time is listed for a person.

- **autograd reached from a node**: the node's class, and everything at module level it reaches by name,
  followed transitively (helper functions, classes that are not nodes, module-level assignments such as
  ``GRAD = torch.autograd.grad``, and module-level statements that name the node, such as
  ``Sigmoid.backward = helper``): any use of ``torch.autograd`` (``grad``, ``backward``, ``functional``,
  ``forward_ad``, ``enable_grad``, ...), ``torch.func``/``functorch``, ``torch.enable_grad`` or
  ``set_grad_enabled``, an attribute ``autograd``/``forward_ad`` of any object, ``.backward()``,
  ``.requires_grad_()``, ``requires_grad=True`` or ``.requires_grad = True``, or one of PyTorch's own derivative
  kernels (``torch.ops.aten.*_backward``). The node loses its backward points. Another node class that a node
  calls is not followed: it is judged on its own.
- **borrowing the course package**: importing ``in5550`` anywhere, or naming it in a string passed to a call that
  imports, loads, runs or opens something (``importlib.import_module("in5550.nodes")``,
  ``spec_from_file_location``, ``open``, ``exec``, ...). Every node loses its backward points. A string that
  merely mentions the package (``print("in5550 lab 2")``) is no borrowing.
- **for a person to review** (a hidden test, no points): imports beyond the numeric ones and everything that can
  hide a name from this reading or tamper with the runner: ``getattr``/``setattr`` with a computed name,
  ``__import__``, ``importlib``, ``exec``/``eval``/``compile``, ``sys.modules``, ``__main__``, threads,
  ``ctypes``, ``gc``, ``inspect``, ``builtins``, frames and function internals (``__globals__``, ``__code__``,
  ``__dict__``, ...), ``open`` and other file reading, PyTorch's private modules (``torch._C``).

A text that Python itself cannot compile (a syntax error, a NUL byte, an expression nested too deeply for the
parser) is reported as such and not run. A UTF-8 byte-order mark is accepted, as Python accepts it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

AUTOGRAD_PREFIXES = ("torch.autograd.", "torch.func.", "functorch", "torch.enable_grad", "torch.set_grad_enabled")
AUTOGRAD_ATTRIBUTES = ("autograd", "forward_ad", "functorch", "enable_grad", "set_grad_enabled")
AUTOGRAD_METHODS = ("backward", "requires_grad_")
ALLOWED_AUTOGRAD = ("torch.autograd.Function", "torch.autograd.function.Function",
                    "torch.autograd.function.once_differentiable", "torch.autograd.function.FunctionCtx")
ALLOWED_LAST = ("Function", "once_differentiable", "FunctionCtx", "function")
DERIVATIVE_KERNELS = ("_backward", "_backward_data")
BORROWED = "in5550"
ALLOWED_IMPORTS = ("torch", "math", "numpy", "typing", "__future__", "functools", "itertools", "dataclasses")
REVIEW_CALLS = ("open", "exec", "eval", "compile", "__import__", "breakpoint", "input", "globals", "locals", "vars",
                "setattr", "delattr")
NAME_CALLS = ("getattr", "setattr", "delattr", "hasattr")  # reviewed when the name is not a constant
IMPORTING_CALLS = ("__import__", "import_module", "spec_from_file_location", "SourceFileLoader",
                   "SourcelessFileLoader", "run_path", "run_module", "exec", "eval", "compile", "open", "load",
                   "read_text", "read_bytes", "Path", "join", "listdir", "glob", "scandir")
REVIEW_ATTRIBUTES = ("modules", "__dict__", "__globals__", "__code__", "__closure__", "__subclasses__",
                     "__builtins__", "__import__", "__loader__", "__spec__", "_getframe", "f_back", "f_globals",
                     "f_locals", "settrace", "setprofile", "meta_path", "path_hooks")
REVIEW_NAMES = ("__builtins__", "__main__", "__loader__", "__spec__")


@dataclass
class Findings:
    """What reading the submission found. ``error`` is set when it cannot be read at all."""

    error: str | None = None
    autograd: dict[str, list[str]] = field(default_factory=dict)  # node name -> findings
    borrowing: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``torch.autograd.grad`` for an attribute chain, with its first name resolved through the imports and
    module-level assignments."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it stands for: imports (``import torch.autograd as ag`` gives ``ag -> torch.autograd``)
    and module-level assignments of a dotted name (``ag = torch.autograd``)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                    alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.Name, ast.Attribute)):
            dotted = _dotted(statement.value, aliases)
            for target in statement.targets:
                if dotted and isinstance(target, ast.Name) and target.id != dotted:
                    aliases[target.id] = dotted
    return aliases


def _calls_a_class(call: ast.Call, classes: set[str]) -> bool:
    """Whether ``call`` is ``SomeClass.method(...)`` or ``super().method(...)``: a node calling a node's
    ``backward`` directly (hand-written code), not ``tensor.backward()``."""
    receiver = call.func.value
    return (isinstance(receiver, ast.Name) and receiver.id in classes) or (
        isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super")


def _attributes(node: ast.AST) -> list[str]:
    """The attribute names of a chain whose root is not a name (``f().autograd.grad`` gives autograd, grad)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return parts[::-1]


def _is_autograd_name(dotted: str) -> bool:
    if dotted in ALLOWED_AUTOGRAD:
        return False
    parts = dotted.split(".")
    if any(part in AUTOGRAD_ATTRIBUTES for part in parts) and parts[-1] in ALLOWED_LAST:
        return False
    return (dotted + ".").startswith(AUTOGRAD_PREFIXES) or any(part in AUTOGRAD_ATTRIBUTES for part in parts) or (
        dotted.startswith("torch.") and dotted.endswith(DERIVATIVE_KERNELS))


def _autograd_uses(statements: Iterable[ast.AST], aliases: dict[str, str], classes: set[str]) -> set:
    """(line, what) of each use of autograd in ``statements``."""
    nodes = [inner for outer in statements for inner in ast.walk(outer)]
    links = {id(node.value) for node in nodes if isinstance(node, ast.Attribute)}  # inner links of a chain
    found = set()
    for node in nodes:
        name = None
        if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in links:
            dotted = _dotted(node, aliases) or ".".join(_attributes(node))
            if _is_autograd_name(dotted):
                name = dotted
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in AUTOGRAD_METHODS and not _calls_a_class(node, classes):
            name = f".{node.func.attr}()"
        elif isinstance(node, ast.keyword) and node.arg == "requires_grad" and \
                not (isinstance(node.value, ast.Constant) and not node.value.value):
            name = "requires_grad=True"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and not (
                isinstance(node.value, ast.Constant) and not node.value.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Attribute) and target.attr == "requires_grad" for target in targets):
                name = ".requires_grad = True"
        if name:
            found.add((node.lineno, name))
    return found


def _definitions(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Module-level name -> the statements that define it (functions, classes, assignments)."""
    definitions: dict[str, list[ast.stmt]] = {}
    for statement in tree.body:
        names = []
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [statement.name]
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names = [node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)]
        for name in names:
            definitions.setdefault(name, []).append(statement)
    return definitions


def _names_in(statement: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}


def _changes(statement: ast.stmt, name: str) -> bool:
    """Whether a module-level statement changes what ``name`` is or holds: ``name = ...``, ``name.attr = ...``,
    ``setattr(name, ...)``."""
    if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return any(name in _names_in(target) for target in targets)
    return any(isinstance(node, ast.Call) and _call_name(node) in ("setattr", "delattr") and node.args
               and name in _names_in(node.args[0]) for node in ast.walk(statement))


def _reached(node_name: str, tree: ast.Module, definitions: dict, nodes: set[str]) -> list[tuple[str, ast.stmt]]:
    """(where, statement) of every module-level statement a node reaches: its own definition, module-level
    statements that change it (``Sigmoid.backward = helper``), and what those name in turn (other node classes
    excepted). Code that only uses the node (a check at module level, a ``__main__`` block) is not followed."""
    own = definitions.get(node_name, [])
    start = [(node_name, statement) for statement in own]
    start += [(f"module level, line {statement.lineno}", statement) for statement in tree.body
              if statement not in own and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef))
              and _changes(statement, node_name)]
    reached, seen, queue = [], {id(statement) for _, statement in start}, list(start)
    while queue:
        where, statement = queue.pop()
        reached.append((where, statement))
        for name in _names_in(statement):
            if name in nodes and name != node_name:
                continue  # another node is judged on its own
            for definition in definitions.get(name, []):
                if id(definition) not in seen:
                    seen.add(id(definition))
                    queue.append((name, definition))
    return reached


def _node_findings(node_name, tree, definitions, nodes, aliases, classes) -> list[str]:
    found = {}
    for where, statement in _reached(node_name, tree, definitions, nodes):
        for line, name in _autograd_uses([statement], aliases, classes):
            found.setdefault((line, name), "" if where == node_name else f" (in {where}, reached from {node_name})")
    return [f"line {line}: {name}{where}" for (line, name), where in sorted(found.items())]


def _call_name(call: ast.Call) -> str:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else function.id if isinstance(function, ast.Name) \
        else ""


def _review_and_borrowing(tree: ast.Module, findings: Findings) -> None:
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if BORROWED in module or any(BORROWED in alias.name for alias in node.names):
                    findings.borrowing.append(f"line {node.lineno}: imports {module}")
                elif module.split(".")[0] not in ALLOWED_IMPORTS:
                    findings.review.append(f"line {node.lineno}: imports {module or '(relative import)'}")
        elif isinstance(node, ast.Call):
            called = _call_name(node)
            strings = [arg.value for arg in [*node.args, *(keyword.value for keyword in node.keywords)]
                       if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            if any(BORROWED in text for text in strings) and called in IMPORTING_CALLS:
                findings.borrowing.append(f"line {node.lineno}: names {BORROWED} in a call")
            if isinstance(node.func, ast.Name) and called in REVIEW_CALLS:
                findings.review.append(f"line {node.lineno}: calls {called}()")
            if called in NAME_CALLS and not (len(node.args) > 1 and isinstance(node.args[1], ast.Constant)):
                findings.review.append(f"line {node.lineno}: {called}() with a computed name")
        elif isinstance(node, ast.Attribute):
            if node.attr in REVIEW_ATTRIBUTES and not (node.attr == "modules" and not (
                    isinstance(node.value, ast.Name) and node.value.id == "sys")):
                findings.review.append(f"line {node.lineno}: uses .{node.attr}")
            elif node.attr.startswith("_") and not node.attr.startswith("__") and \
                    (_dotted(node, {}) or "").startswith("torch."):
                findings.review.append(f"line {node.lineno}: uses PyTorch's private {_dotted(node, {})}")
        elif isinstance(node, ast.Name) and node.id in REVIEW_NAMES:
            findings.review.append(f"line {node.lineno}: uses {node.id}")
        elif isinstance(node, ast.Constant) and node.value == "__main__" and \
                not isinstance(parents.get(id(node)), ast.Compare):  # if __name__ == "__main__" is fine
            findings.review.append(f"line {node.lineno}: names __main__ (the runner's module)")
    findings.review = list(dict.fromkeys(findings.review))


def _parse(text: str) -> tuple[ast.Module | None, str | None]:
    """The tree of ``text``, or why Python cannot compile it."""
    try:
        return ast.parse(text.removeprefix("\ufeff"), filename="submission.py"), None
    except SyntaxError as error:
        return None, f"the submission is not valid Python: {error.msg} (line {error.lineno})"
    except (MemoryError, RecursionError) as error:
        return None, f"the submission cannot be compiled by Python: an expression is nested too deeply for its " \
                     f"parser ({type(error).__name__})"
    except ValueError as error:  # NUL bytes
        return None, f"the submission is not valid Python: {error}"


def scan(text: str, node_names: Iterable[str]) -> Findings:
    """Read ``text`` (a submission) and report what it uses; see the module's docstring."""
    tree, error = _parse(text)
    if error:
        return Findings(error=error)
    try:
        aliases = _aliases(tree)
        findings = Findings()
        nodes = set(node_names)
        classes = {statement.name for statement in tree.body if isinstance(statement, ast.ClassDef)}
        definitions = _definitions(tree)
        for node_name in sorted(nodes):
            uses = _node_findings(node_name, tree, definitions, nodes, aliases, classes)
            if uses:
                findings.autograd[node_name] = uses
        _review_and_borrowing(tree, findings)
    except RecursionError:  # a tree too deep for the walk: a person must look at it
        return Findings(review=["the submission is nested too deeply to be read; read it yourself"])
    return findings
