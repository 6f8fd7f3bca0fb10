"""The student side of grading: run a submission's nodes on the grader's inputs and hand back what they return.

This file is copied into a fresh sandbox folder and started there as a script by :mod:`in5550.grader.sandbox`
(``python -I -S -B runner.py FD SITE_DIR``), in a process of its own. It imports nothing from ``in5550`` (the
package is not even importable here) and judges nothing: it has no expected values and computes no verdict.
For each node named in ``task.pt`` it calls the submission's class directly, the way autograd would::

    output = Node.forward(*inputs)                       # under torch.no_grad(), like Function.apply
    Node.setup_context(ctx, inputs, output)              # or forward(ctx, *inputs) for old-style Functions
    grads = Node.backward(ctx, grad_output)              # under torch.no_grad(), like the engine

once per case and twice over (a second call shows gradients accumulated across calls), and saves plain
tensors to ``result-<index>.pt``. Calling the methods directly, rather than through the autograd engine, lets
the grader see a gradient of the wrong shape instead of only the engine's error about it.

Progress goes to the grader over the pipe ``FD``, one line at a time: ``imported`` (or ``import-failed``),
then ``start I`` and ``done I`` per node. Once the submission is imported, everything in this process, this
file's code included, is in the student's hands and may be patched; the grader is built so that this can
only hurt the student (see :mod:`in5550.grader`): a forged ``done`` without a result file loses the node, a
forged result needs the right numbers, and a hidden autograd call is also looked for in the source by the
grader itself.

Before the submission is imported, this file installs the checks that watch a node while it runs:

- an import hook that refuses ``in5550`` (and records the attempt);
- wrappers around the ways into PyTorch autograd (``torch.autograd.grad``, ``Tensor.backward``,
  ``torch.enable_grad``, ...), and a saved-tensor hook that fires whenever an operation records a graph;
- after each call, a look for returned tensors that are part of an autograd graph.
"""

import importlib.abc
import importlib.util
import os
import sys
import traceback

sys.path.append(sys.argv[2])  # the folder that holds torch; -S left site-packages (and its .pth hooks) out
import torch  # noqa: E402

BLOCKED_PACKAGES = ("in5550",)
MESSAGE_LIMIT = 2000  # characters of an error message or traceback that go back to the grader
SUBMISSION = "submission.py"  # relative, so that tracebacks name it as the student knows it


class BlockedImports(importlib.abc.MetaPathFinder):
    """Refuses the packages a submission may not borrow from, and remembers each attempt."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED_PACKAGES:
            self.attempts.append(name)
            raise ModuleNotFoundError(f"{name} may not be used in a lab submission: write the node yourself")
        return None


class AutogradWatch:
    """Records every use of PyTorch autograd while a node's method runs (see :meth:`run`)."""

    # (owner, attribute): the entry points into autograd a backward might call instead of doing the calculus
    ENTRY_POINTS = [
        (torch.autograd, "grad"), (torch.autograd, "backward"), (torch.Tensor, "backward"),
        (torch.autograd.functional, "vjp"), (torch.autograd.functional, "jacobian"),
        (torch.autograd.functional, "vhp"), (torch.autograd.functional, "hessian"),
        (torch.func, "grad"), (torch.func, "vjp"), (torch.func, "jacrev"), (torch.func, "jacfwd"),
        (torch, "enable_grad"), (torch.autograd, "enable_grad"), (torch.autograd.grad_mode, "enable_grad"),
        (torch, "set_grad_enabled"), (torch.autograd, "set_grad_enabled"),
        (torch.autograd.grad_mode, "set_grad_enabled"),
    ]

    def __init__(self):
        self.record = None  # the list uses are appended to while a node runs, else None

    def install(self):
        for owner, name in self.ENTRY_POINTS:
            setattr(owner, name, self._wrap(getattr(owner, name), f"{owner.__name__}.{name}"))

    def _wrap(self, original, qualified_name):
        watch = self

        def wrapper(*args, **kwargs):
            switching_off = qualified_name.endswith("set_grad_enabled") and args and not args[0]
            if watch.record is not None and not switching_off:
                watch.record.append(f"called {qualified_name}")
            return original(*args, **kwargs)

        return wrapper

    def run(self, record, function, *args):
        """``function(*args)`` under ``torch.no_grad()``, recording autograd use into ``record``."""

        def on_save(tensor):
            record.append("recorded an autograd graph (an operation saved a tensor for its backward)")
            return tensor

        with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(on_save, lambda tensor: tensor):
            self.record = record  # only inside: leaving no_grad() itself calls set_grad_enabled(True)
            try:
                result = function(*args)
                if torch.is_grad_enabled():  # switched on by a way the wrappers do not see
                    record.append("left gradient mode switched on")
            finally:
                self.record = None
        for value in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(value, torch.Tensor) and (value.requires_grad or value.grad_fn is not None):
                record.append("returned a tensor that is part of an autograd graph")
        return result


class Context:
    """Stands in for the ``ctx`` that autograd gives ``setup_context`` and ``backward``."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = tuple(needs_input_grad)
        self.saved_tensors = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *outputs):
        pass

    def mark_dirty(self, *inputs):
        pass

    def set_materialize_grads(self, value):
        pass


def plain(value):
    """``value`` as something ``torch.load(weights_only=True)`` reads back: tensors become plain dense CPU
    copies, sequences lists, and anything else the name of its type (which the grader reports)."""
    if isinstance(value, torch.Tensor):
        tensor = value.as_subclass(torch.Tensor).detach()
        return tensor.to_dense().cpu().clone() if tensor.layout != torch.strided else tensor.cpu().clone()
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def describe(error, stage):
    """An exception as the grader reports it, with the traceback cut to the submission's own lines."""
    frames = traceback.extract_tb(error.__traceback__)
    own = traceback.StackSummary.from_list([frame for frame in frames if frame.filename == SUBMISSION])
    lines = ["Traceback (most recent call last):\n", *own.format(),
             *traceback.format_exception_only(type(error), error)]
    return {"stage": stage, "type": type(error).__name__, "message": str(error)[:MESSAGE_LIMIT],
            "traceback": "".join(lines)[-MESSAGE_LIMIT:]}


def run_case(node, case, watch):
    """One forward and backward pass of ``node`` on one case: what it returned, or where it failed."""
    run = {"output": None, "grads": None, "grad_output": None, "error": None, "autograd": []}
    inputs = tuple(value.clone() if isinstance(value, torch.Tensor) else value for value in case["args"])
    ctx = Context(case["needs_input_grad"])
    stage = "forward"
    try:
        if node.setup_context is torch.autograd.Function.setup_context:  # old style: forward(ctx, *inputs)
            output = watch.run(run["autograd"], node.forward, ctx, *inputs)
        else:
            output = watch.run(run["autograd"], node.forward, *inputs)
            stage = "setup_context"
            watch.run(run["autograd"], node.setup_context, ctx, inputs, output)
        run["output"] = plain(output)
        stage = "backward"
        grad_output = case["grad_output"].clone()
        grads = watch.run(run["autograd"], node.backward, ctx, grad_output)
        run["grads"] = plain(list(grads) if isinstance(grads, tuple) else [grads])
        run["grad_output"] = plain(grad_output)
    except BaseException as error:  # noqa: B036 -- sys.exit() in a node must cost only that node
        run["error"] = describe(error, stage)
    return run


def run_node(module, spec, watch, blocked):
    name = spec["name"]
    node = getattr(module, name, None)
    if not (isinstance(node, type) and issubclass(node, torch.autograd.Function)):
        found = "nothing" if node is None else f"a {type(node).__name__}"
        return {"error": f"the submission defines no class {name}(torch.autograd.Function) (found {found})"}
    attempts_before = len(blocked.attempts)
    cases = [[run_case(node, case, watch) for _ in range(2)] for case in spec["cases"]]
    return {"error": None, "cases": cases, "blocked_imports": blocked.attempts[attempts_before:]}


def main():
    channel = os.fdopen(int(sys.argv[1]), "w", buffering=1)

    def send(message):
        channel.write(message + "\n")

    task = torch.load("task.pt", weights_only=True)
    blocked = BlockedImports()
    sys.meta_path.insert(0, blocked)
    watch = AutogradWatch()
    watch.install()
    try:
        spec = importlib.util.spec_from_file_location("submission", SUBMISSION)
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: B036 -- SystemExit at import is a failed import, not a crash
        torch.save({"error": describe(error, "import"), "blocked_imports": blocked.attempts}, "import.pt")
        send("import-failed")
        return
    torch.save({"error": None, "blocked_imports": blocked.attempts}, "import.pt")
    send("imported")
    for index in range(task["first"], len(task["nodes"])):
        send(f"start {index}")
        torch.save(run_node(module, task["nodes"][index], watch, blocked), f"result-{index}.pt")
        send(f"done {index}")


if __name__ == "__main__":
    main()
