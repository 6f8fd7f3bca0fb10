"""The students' check before they submit: the autograder's visible tests, run in the notebook.

In a lab notebook::

    from in5550.grader.selfcheck import check

    check(nodes.Sigmoid)          # one node of lab 2
    check("lab2", nodes)          # every node of lab 2, from the module (or a dict such as globals())
    check("lab1", globals())      # lab 1: its functions, through the nodes its autograder grades them with

runs the node on the autograder's *visible* cases (the same inputs, drawn from the registry of node inputs at the
public seed) and prints the feedback the autograder gives for them, made by the same code
(:func:`in5550.grader.verdict.grade_node`): points per test, then what is wrong and, where the grader recognises
it, which mistake it is. Nothing hidden is used or shown: no hidden inputs and no expected values beyond what
the visible feedback says.

Unlike the autograder, the node runs here, in the notebook's own process, without a sandbox and without the
watch for autograd that the grader's student process keeps (it only notices a graph being recorded); the source
of the submission is not read either. So a check that passes is a good sign, not a promise: the hidden inputs
(every input class, float32 and float64) and those checks come on submission.
"""

from __future__ import annotations

import importlib
import traceback

import torch

from in5550.grader import runner

HIDDEN_NOTE = ("Visible tests only: on submission the autograder also tests hidden inputs (every input class, "
               "in float32 and float64) and reads your source for uses of autograd.")


def _run(record: list, function, *args):
    """``function(*args)`` under ``torch.no_grad()`` (as autograd calls a node), noting a graph being recorded."""

    def on_save(tensor):
        record.append("recorded an autograd graph (an operation saved a tensor for its backward)")
        return tensor

    with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(on_save, lambda tensor: tensor):
        return function(*args)


def _error(error: BaseException, stage: str) -> dict:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    lines = ["Traceback (most recent call last):\n", *traceback.StackSummary.from_list(frames).format(),
             *traceback.format_exception_only(type(error), error)]
    return {"stage": stage, "type": type(error).__name__, "message": str(error), "traceback": "".join(lines)}


def run_case(node: type, case) -> dict:
    """One forward and backward call of ``node`` on ``case`` (a :class:`~in5550.grader.verdict.Case`), as the
    grader's runner makes it: the methods called directly with the runner's ``ctx``, so that a wrong shape is
    seen as such, and what they return made plain as the runner makes it."""
    run = {"output": None, "grads": None, "grad_output": None, "error": None, "autograd": []}
    task = case.task()
    inputs = tuple(value.clone() if isinstance(value, torch.Tensor) else value for value in task["args"])
    ctx = runner.Context(task["needs_input_grad"])
    stage = "forward"
    try:
        if node.setup_context is torch.autograd.Function.setup_context:  # old style: forward(ctx, *inputs)
            output = _run(run["autograd"], node.forward, ctx, *inputs)
        else:
            output = _run(run["autograd"], node.forward, *inputs)
            stage = "setup_context"
            _run(run["autograd"], node.setup_context, ctx, inputs, output)
        run["output"] = runner.plain(output)
        stage = "backward"
        grad_output = task["grad_output"].clone()
        grads = _run(run["autograd"], node.backward, ctx, grad_output)
        run["grads"] = runner.plain(list(grads) if isinstance(grads, tuple) else [grads])
        run["grad_output"] = runner.plain(grad_output)
    except Exception as error:  # noqa: BLE001 -- the student's error is the feedback
        run["error"] = _error(error, stage)
    return run


def _spec(name: str, lab: str | None):
    from in5550.grader import LABS

    for lab_name in [lab] if lab else LABS:
        for spec in importlib.import_module(LABS[lab_name]).NODES:
            if spec.name == name:
                return spec
    raise ValueError(f"check: no node {name!r} in the autograder's labs; nodes: "
                     + ", ".join(spec.name for lab_name in LABS
                                 for spec in importlib.import_module(LABS[lab_name]).NODES))


def node_tests(node, name: str | None = None, lab: str | None = None) -> list:
    """The grader's forward and backward tests of ``node`` (the class of the lab's node ``name``, by default
    its own name; ``None`` when there is none) on the visible cases, as
    :class:`~in5550.grader.verdict.TestResult` s."""
    from in5550.grader import VISIBLE_SEED, verdict

    spec = _spec(name or getattr(node, "__name__", repr(node)), lab)
    cases = verdict.draw_cases(spec, VISIBLE_SEED, hidden=False)
    if isinstance(node, type) and issubclass(node, torch.autograd.Function):
        runs = [[run_case(node, case) for _ in range(2)] for case in cases]
        evidence = verdict.NodeEvidence(result={"error": None, "cases": runs, "case_problems": [None] * len(runs),
                                                "blocked_imports": [], "runtime": []})
    else:
        found = "nothing" if node is None else f"a {type(node).__name__}"
        evidence = verdict.NodeEvidence(problem=f"there is no class {spec.name}(torch.autograd.Function) (found "
                                                f"{found})")
    tests = verdict.grade_node(spec, cases, evidence)
    return [test for test in tests if not test.name.endswith(": hidden inputs") and test.visibility == "visible"]


def check(node, namespace=None) -> None:
    """Print the autograder's feedback on the visible tests of ``node`` (a node's class), or of every node of
    the lab named by ``node`` (e.g. ``"lab2"``) found in ``namespace`` (a module or a dict), followed by a
    reminder of what the visible tests leave out (:data:`HIDDEN_NOTE`)."""
    from in5550.grader import LABS

    if isinstance(node, str):
        if node not in LABS:
            raise ValueError(f"check: no autograder for lab {node!r}; labs with one: {', '.join(LABS)}")
        if namespace is None:
            raise ValueError(f"check: give the module or dict that holds the nodes, e.g. check({node!r}, nodes)")
        lab = importlib.import_module(LABS[node])
        names = dict(vars(namespace) if not isinstance(namespace, dict) else namespace)
        if getattr(lab, "GLUE", None):  # lab 1: the grader's nodes around the notebook's functions
            exec(compile(lab.GLUE, lab.__file__, "exec"), names)  # noqa: S102 -- the grader's own code
        tests = [test for spec in lab.NODES for test in node_tests(names.get(spec.name), spec.name, node)]
    else:
        tests = node_tests(node)
    width = max(len(test.name) for test in tests)
    lines = [f"{test.name:<{width}}  {test.score:g}/{test.max_score:g}" for test in tests]
    for test in tests:
        if test.score < test.max_score:
            lines += ["", f"{test.name}:", *("    " + line for line in test.output.splitlines())]
    print("\n".join(lines + (["", HIDDEN_NOTE] if isinstance(node, str) else [])))
