"""The student side of grading: run a submission's nodes on the grader's inputs and hand back what they return.

This file is copied into a fresh sandbox folder and started there as a script by :mod:`in5550.grader.sandbox`
(``python -I -S -B runner.py FD SITE_DIR``), in a process of its own. It imports nothing from ``in5550`` (the
package is not even importable here) and judges nothing: it has no expected values and computes no verdict.
For each case of each node named in ``task.pt`` it calls the submission's class directly, the way autograd
would::

    output = Node.forward(*inputs)                       # under torch.no_grad(), like Function.apply
    Node.setup_context(ctx, inputs, output)              # or forward(ctx, *inputs) for old-style Functions
    grads = Node.backward(ctx, grad_output)              # under torch.no_grad(), like the engine

twice over (a second call shows state kept between calls), and saves plain tensors to ``case-I-C.pt``. Calling
the methods directly, rather than through the autograd engine, lets the grader see a gradient of the wrong shape
instead of only the engine's error about it. ``ctx`` behaves like PyTorch's (:class:`Context`).

Progress goes to the grader over the pipe ``FD``, one line at a time: ``imported`` (or ``import-failed``, with
``import.pt``), then per node either ``skip I`` (no such class; ``node-I.pt`` says so) or ``start I C`` and
``done I C`` per case. The grader starts a fresh process at the next case when one crashes or runs out of time;
``task.pt`` says where to begin.

Once the submission is imported, everything in this process, this file's code included, is in the student's
hands and may be patched; the grader is built so that this can only hurt the student: a forged ``done`` without
a result file loses the case, a forged result needs the right numbers, the grader measures CPU time itself, and
a hidden autograd call is also looked for in the source, where the tricks that could silence this watch
(``sys.modules``, ``__main__``, ``gc``, ``inspect``, computed ``getattr``, ...) are flagged for a person.

Before the submission is imported, this file installs the watch over a node while it runs (:class:`Watch`):

- an import hook that refuses ``in5550`` (and records the attempt);
- wrappers around the ways into PyTorch autograd: reverse mode (``torch.autograd.grad``, ``Tensor.backward``,
  ``torch.autograd.functional``), grad mode (``enable_grad``, ``set_grad_enabled``), forward mode
  (``torch.autograd.forward_ad``) and ``torch.func``; a saved-tensor hook that fires whenever an operation records
  a graph; a check that grad mode is off after the call;
- a record of threads started (a new thread starts with grad mode on, out of the hooks' reach) and of code
  from files other than torch's, Python's and the submission (the package's ``nodes.py`` loaded by path, even
  under another name and outside ``sys.modules``), by modules that appear and by an audit hook
  (:func:`sys.addaudithook`, which cannot be removed once added) on files opened, imports and code run;
- after each call, a look for returned tensors that are part of an autograd graph, and a check that the
  wrappers are still in place.
"""

import _thread
import importlib.abc
import importlib.util
import os
import sys
import sysconfig
import threading
import traceback

if __name__ == "__main__":  # in the sandbox; imported elsewhere (e.g. for Context), it changes nothing
    sys.path.append(sys.argv[2])  # the folder that holds torch; -S left site-packages (and its .pth hooks) out
import torch  # noqa: E402
import torch.autograd.forward_ad as forward_ad  # noqa: E402
import torch.autograd.functional  # noqa: E402, F401
import torch.func  # noqa: E402

BLOCKED_PACKAGES = ("in5550",)
MESSAGE_LIMIT = 2000  # characters of an error message or traceback that go back to the grader
SUBMISSION = os.path.realpath("submission.py")
HERE = os.path.dirname(SUBMISSION) + os.sep
SITE = sys.argv[2] if __name__ == "__main__" else os.path.dirname(os.path.dirname(torch.__file__))
ALLOWED_ROOTS = tuple({os.path.realpath(path) + os.sep for path in
                       (SITE, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])})


class BlockedImports(importlib.abc.MetaPathFinder):
    """Refuses the packages a submission may not borrow from, and remembers each attempt."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED_PACKAGES:
            self.attempts.append(name)
            raise ModuleNotFoundError(f"{name} may not be used in a lab submission: write the node yourself")
        return None


class Watch:
    """Records every use of PyTorch autograd, thread started and module loaded while a node's method runs (see
    :meth:`run`); ``record`` is ``None`` outside a node and at import the uses go to ``at_import``."""

    # (owner, attribute): the entry points into autograd a backward might call instead of doing the calculus
    ENTRY_POINTS = [
        (torch.autograd, "grad"), (torch.autograd, "backward"), (torch.Tensor, "backward"),
        (torch.autograd.functional, "vjp"), (torch.autograd.functional, "jvp"),
        (torch.autograd.functional, "jacobian"), (torch.autograd.functional, "vhp"),
        (torch.autograd.functional, "hvp"), (torch.autograd.functional, "hessian"),
        (torch.func, "grad"), (torch.func, "grad_and_value"), (torch.func, "vjp"), (torch.func, "jvp"),
        (torch.func, "jacrev"), (torch.func, "jacfwd"), (torch.func, "hessian"), (torch.func, "linearize"),
        (forward_ad, "make_dual"), (forward_ad, "unpack_dual"), (forward_ad, "enter_dual_level"),
        (torch, "enable_grad"), (torch.autograd, "enable_grad"), (torch.autograd.grad_mode, "enable_grad"),
        (torch, "set_grad_enabled"), (torch.autograd, "set_grad_enabled"),
        (torch.autograd.grad_mode, "set_grad_enabled"), (torch.Tensor, "requires_grad_"),
    ]

    def __init__(self):
        self.record = None
        self.at_import = []
        self.wrappers = {}
        self.modules = set()

    def install(self):
        for owner, name in self.ENTRY_POINTS:
            wrapper = self._wrap(getattr(owner, name), f"{getattr(owner, '__name__', 'torch')}.{name}")
            setattr(owner, name, wrapper)
            self.wrappers[(owner, name)] = wrapper
        forward_ad.dual_level.__enter__ = self._wrap(forward_ad.dual_level.__enter__, "forward_ad.dual_level")
        self.wrappers[(forward_ad.dual_level, "__enter__")] = forward_ad.dual_level.__enter__
        start = threading.Thread.start
        start_new = _thread.start_new_thread
        watch = self

        def thread_start(thread, *args, **kwargs):
            watch.note("started a thread (threads run with gradient mode on)")
            return start(thread, *args, **kwargs)

        def start_new_thread(*args, **kwargs):
            watch.note("started a thread (threads run with gradient mode on)")
            return start_new(*args, **kwargs)

        threading.Thread.start = thread_start
        _thread.start_new_thread = start_new_thread
        sys.addaudithook(_audit_hook(self))
        self.wrappers[(threading.Thread, "start")] = thread_start
        self.wrappers[(_thread, "start_new_thread")] = start_new_thread
        self.modules = set(sys.modules)

    def note(self, use):
        (self.record if self.record is not None else self.at_import).append(use)

    def _wrap(self, original, qualified_name):
        watch = self

        def wrapper(*args, **kwargs):
            switching_off = qualified_name.endswith("set_grad_enabled") and args and not args[0]
            requires_nothing = qualified_name.endswith("requires_grad_") and len(args) > 1 and not args[1]
            if watch.record is not None and not (switching_off or requires_nothing):
                watch.record.append(f"called {qualified_name}")
            return original(*args, **kwargs)

        wrapper.__wrapped__ = original
        return wrapper

    def check(self):
        """Wrappers replaced, modules loaded from other files: what the process state shows after a call."""
        for (owner, name), wrapper in self.wrappers.items():
            if getattr(owner, name, None) is not wrapper:
                self.note(f"replaced {getattr(owner, '__name__', owner)}.{name}, which the grader watches")
        for name in set(sys.modules) - self.modules:
            path = getattr(sys.modules.get(name), "__file__", None)
            real = os.path.realpath(path) if isinstance(path, str) else None
            if real and real != SUBMISSION and not real.startswith(ALLOWED_ROOTS):
                self.note(f"loaded the module {name} from a file of its own ({os.path.basename(real)})")
        self.modules = set(sys.modules)

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
                self.check()
                self.record = None
        for value in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(value, torch.Tensor) and (value.requires_grad or value.grad_fn is not None):
                record.append("returned a tensor that is part of an autograd graph")
        return result


SOURCE_SUFFIXES = (".py", ".pyc", ".pyw", ".so")


def _audit_hook(watch):
    """A hook on Python's audit events (PEP 578; once added it cannot be removed) that notes code from any file
    but the submission, torch's and Python's own: a file of source code opened (or an attempt at it, when the
    file is hidden), a module imported from such a file, code compiled from it run. This is how the package's
    ``nodes.py`` loaded by path under another name shows, even when it never enters ``sys.modules``."""
    realpath, allowed, submission, note = os.path.realpath, ALLOWED_ROOTS, SUBMISSION, watch.note
    own_cache = os.path.join(HERE, "__pycache__", "submission.")  # looked for when the submission is imported

    def hook(event, args):
        try:
            if event == "open":
                path = args[0]
                path = os.fsdecode(path) if isinstance(path, bytes) else path
                if not (isinstance(path, str) and path.endswith(SOURCE_SUFFIXES)):
                    return
                verb = "opened the file"
            elif event == "import":
                path, verb = args[1], "imported a module from"
            elif event == "exec":
                path, verb = getattr(args[0], "co_filename", None), "ran code from"
            else:
                return
            if not isinstance(path, str) or (event != "open" and not path.startswith(os.sep)):
                return  # frozen and built-in modules, code compiled from a string
            real = realpath(path)
            if real != submission and not real.startswith(allowed) and not real.startswith(own_cache):
                note(f"{verb} {path} (code other than the submission)")
        except Exception:  # noqa: BLE001 -- an audit hook that raises would break the operation it watches
            pass

    return hook


class Context:
    """Stands in for the ``ctx`` that autograd gives ``setup_context`` and ``backward``, with PyTorch's
    behaviour: ``save_for_backward`` (tensors or ``None``) and ``saved_tensors``, ``save_for_forward``,
    ``mark_dirty``, ``mark_non_differentiable``, ``set_materialize_grads``, ``needs_input_grad``, and any
    attribute a node sets on it."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = tuple(needs_input_grad)
        self.to_save = ()
        self.saved_for_forward = ()
        self.dirty_tensors = ()
        self.non_differentiable = ()
        self.materialize_grads = True

    @staticmethod
    def _tensors(method, tensors):
        for index, tensor in enumerate(tensors):
            if tensor is not None and not isinstance(tensor, torch.Tensor):
                raise TypeError(f"{method} can only save variables, but argument {index} is of type "
                                f"{type(tensor).__name__}")
        return tuple(tensors)

    def save_for_backward(self, *tensors):
        self.to_save = self._tensors("save_for_backward", tensors)

    def save_for_forward(self, *tensors):
        self.saved_for_forward = self._tensors("save_for_forward", tensors)

    @property
    def saved_tensors(self):
        return self.to_save

    def mark_dirty(self, *tensors):
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


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


def _text(value, limit=MESSAGE_LIMIT):
    """``str(value)`` without the sandbox's own paths, cut to ``limit``; never raises."""
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 -- a student's __str__ may raise
        text = f"<{type(value).__name__} that cannot be shown>"
    return text.replace(HERE, "")[:limit]


def describe(error, stage):
    """An exception as the grader reports it, with the traceback cut to the submission's own lines (matched by
    the real path of the submission, which Python records absolute) and named as the student knows it."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename and os.path.realpath(frame.filename) == SUBMISSION]
    for frame in frames:
        frame.filename = "submission.py"
    try:
        tail = traceback.format_exception_only(type(error), error)
    except BaseException:  # noqa: BLE001
        tail = [f"{type(error).__name__}\n"]
    lines = ["Traceback (most recent call last):\n", *traceback.StackSummary.from_list(frames).format(), *tail]
    return {"stage": stage, "type": type(error).__name__, "message": _text(error),
            "traceback": _text("".join(lines), 1 << 20)[-MESSAGE_LIMIT:]}


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
    except BaseException as error:  # noqa: B036 -- sys.exit() in a node must cost only that case
        run["error"] = describe(error, stage)
    return run


def main():
    channel = os.fdopen(int(sys.argv[1]), "w", buffering=1)

    def send(message):
        channel.write(message + "\n")

    task = torch.load("task.pt", weights_only=True)
    blocked = BlockedImports()
    sys.meta_path.insert(0, blocked)
    watch = Watch()
    watch.install()
    try:
        spec = importlib.util.spec_from_file_location("submission", SUBMISSION)
        module = importlib.util.module_from_spec(spec)
        sys.modules["submission"] = module
        watch.modules.add("submission")  # its file is the student's to replace: never judge it by its path
        spec.loader.exec_module(module)
        watch.check()
    except BaseException as error:  # noqa: B036 -- SystemExit at import is a failed import, not a crash
        torch.save({"error": describe(error, "import"), "blocked_imports": blocked.attempts,
                    "runtime": watch.at_import}, "import.pt")
        send("import-failed")
        return
    torch.save({"error": None, "blocked_imports": blocked.attempts,
                "runtime": [f"at import time {use}" for use in watch.at_import]}, "import.pt")
    send("imported")
    first_node, first_case = task["first"]
    for index in range(first_node, len(task["nodes"])):
        spec = task["nodes"][index]
        node = getattr(module, spec["name"], None)
        if not (isinstance(node, type) and issubclass(node, torch.autograd.Function)):
            found = "nothing" if node is None else f"a {type(node).__name__}"
            torch.save({"error": f"the submission defines no class {spec['name']}(torch.autograd.Function) "
                                 f"(found {found})"}, f"node-{index}.pt")
            send(f"skip {index}")
            continue
        for number in range(first_case if index == first_node else 0, len(spec["cases"])):
            send(f"start {index} {number}")
            attempts_before = len(blocked.attempts)
            runs = [run_case(node, spec["cases"][number], watch) for _ in range(2)]
            torch.save({"runs": runs, "blocked_imports": blocked.attempts[attempts_before:]},
                       f"case-{index}-{number}.pt")
            send(f"done {index} {number}")


if __name__ == "__main__":
    main()
