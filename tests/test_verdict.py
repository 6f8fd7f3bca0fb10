"""The verdict on what a submission's nodes returned (in5550.grader.verdict), in the test process: the cases
drawn from the registry and the secret, the tolerances, the named mistakes, malformed results and errors of the
grader's own. The corpus is graded here too, every entry whose code may run in this process, with the sandbox
replaced by a direct call of the runner's code: the same scores and feedback as the sandbox gives
(tests/test_grader.py), in seconds, which makes these tests the verdict's selection for mutation testing
(tools/mutation.py).
"""

import types

import pytest
import torch

from in5550.grader import VISIBLE_SEED, grade, grader_errors, lab_cases, runner, sandbox, verdict
from in5550.grader.lab2 import NODES
from in5550.grader.report import Report
from in5550.grader.verdict import GRADER_ERROR, POINTS, TOLERANCES, NodeEvidence, draw_cases, grade_node

from corpus import ALL, EXPECTED, FULL, LIMITS, NAN, SANDBOX_ONLY, SECRET, submission


# --------------------------------------------------------------------------------------------------------------
# The corpus, graded in this process


class NoWatch:
    """The runner's watch over a node, without the watching: calls it under no_grad, as the runner does."""

    @staticmethod
    def run(record, function, *args):
        with torch.no_grad():
            return function(*args)


def run_in_this_process(text, tasks, limits):
    """Stands in for :func:`sandbox.run`: imports the submission here and runs each case twice with the runner's
    own :func:`runner.run_case`, returning what the sandbox would."""
    module = types.ModuleType("submission")
    exec(compile(text, "submission.py", "exec"), module.__dict__)  # noqa: S102 -- the corpus's own trusted code
    results = []
    for task in tasks:
        node = getattr(module, task["name"])
        runs = [[runner.run_case(node, case, NoWatch) for _ in range(2)] for case in task["cases"]]
        results.append({"error": None, "cases": runs, "case_problems": [None] * len(runs), "blocked_imports": [],
                        "runtime": []})
    return sandbox.Outcome(results=results, problems=[None] * len(tasks))


@pytest.mark.parametrize("name", [name for name in EXPECTED if name not in SANDBOX_ONLY])
def test_corpus_graded_in_this_process(name, tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "run", run_in_this_process)
    report = grade("lab2", submission(name, tmp_path), LIMITS, SECRET)
    lost, feedback = EXPECTED[name]
    assert report.score == FULL - lost, report.summary()
    losing = {test.name.split(":")[0] for test in report.tests if test.score < test.max_score}
    assert losing == set(feedback), report.summary()
    for node, text in feedback.items():
        first_lost = next(test for test in report.tests if test.name.startswith(f"{node}:")
                          and test.score < test.max_score)
        assert text in first_lost.output, first_lost.output
    assert not grader_errors(report)


# --------------------------------------------------------------------------------------------------------------
# The cases: every input class the lab promises, from the one registry, the hidden ones from the secret


HIDDEN_CLASSES = {
    **{node: ["2-D", "batch 1", "3-D", "1-D"] for node in ("Sigmoid", "Tanh", "ReLU")},
    "Linear": ["2-D", "batch 1"],
    "Softmax": ["2-D, dim 1", "2-D, dim 0", "2-D, dim -1", "3-D, dim 0", "3-D, dim 1", "3-D, dim 2", "3-D, dim -2",
                "batch 1", "large logits"],
    "CrossEntropy": ["mean", "batch 1", "large logits"],
    "EmbeddingBag": ["mean, repeated ids", "mean, empty bag", "mean, one bag"],
}


def test_only_inputs_reach_the_student_process():
    for node_cases in lab_cases("lab2", SECRET):
        for case in node_cases:
            task = case.task()
            assert set(task) == {"args", "grad_output", "needs_input_grad"}
            assert task["needs_input_grad"] == [torch.is_tensor(arg) and arg.is_floating_point()
                                                for arg in task["args"]]


def test_a_visible_case_is_described_by_its_shapes_and_options():
    node, cases = _node_and_cases("Softmax")
    case = cases[0]
    rows, columns = case.args[0].shape
    assert case.describe() == f"inputs 2-D, dim 1: input ({rows}, {columns}), dim=1"
    node, cases = _node_and_cases("Tanh")
    assert cases[0].describe() == f"inputs 2-D: input {tuple(cases[0].args[0].shape)}"
    several = verdict.Case((torch.ones(2), 1, "mean"), torch.ones(2), "made up", arg_names=("input", "dim", "mode"))
    assert several.describe() == "inputs made up: input (2,), dim=1, mode='mean'"


def _split(node_cases):
    return [case for case in node_cases if not case.hidden], [case for case in node_cases if case.hidden]


def _floating(case):
    return {arg.dtype for arg in case.args if torch.is_tensor(arg) and arg.is_floating_point()}


def test_hidden_cases_cover_every_input_class_in_float64_and_float32():
    for node, node_cases in zip(NODES, lab_cases("lab2", SECRET)):
        visible, hidden = _split(node_cases)
        classes = HIDDEN_CLASSES[node.name]
        assert [case.note for case in hidden] == [f"{note}, {dtype}" for dtype in ("float64", "float32")
                                                  for note in classes]
        assert [_floating(case) for case in hidden] == [{torch.float64}] * len(classes) + [{torch.float32}] * \
            len(classes)
        assert [case.note for case in visible] == classes[:3]
        assert all(_floating(case) == {torch.float64} for case in visible)
        # feedback names a hidden case by its class alone: its sizes stay unknown to the student
        assert all(case.describe() == f"hidden inputs ({case.note})" for case in hidden)


def test_large_logits_overflow_exp_and_bags_can_be_empty():
    by_name = dict(zip(ALL, lab_cases("lab2", SECRET)))
    for name in ("Softmax", "CrossEntropy"):
        large = [case for case in by_name[name] if case.hidden and case.note.startswith("large logits")]
        assert len(large) == 2 and all(torch.exp(case.args[0].double()).isinf().all() for case in large)
    empty = [case for case in by_name["EmbeddingBag"] if case.note.startswith("mean, empty bag")]
    for case in empty:
        ids, _, offsets = case.args
        assert (torch.diff(offsets, append=torch.tensor([len(ids)])) == 0).any()
    repeated = [case for case in by_name["EmbeddingBag"] if "repeated ids" in case.note]
    assert all(len(case.args[0].unique()) < len(case.args[0]) for case in repeated)
    dims = [case.args[1] for case in by_name["Softmax"] if case.hidden]
    assert {-1, -2, 0, 1, 2} <= set(dims)


def test_hidden_inputs_come_from_the_secret_and_are_not_the_visible_ones():
    mine, again, other = lab_cases("lab2", SECRET), lab_cases("lab2", SECRET), lab_cases("lab2", "another secret")
    for node, node_cases, same, different in zip(NODES, mine, again, other):
        visible, hidden = _split(node_cases)
        assert all(_equal(a, b) for a, b in zip(node_cases, same))
        assert all(_equal(a, b) for a, b in zip(visible, _split(different)[0]))
        assert not any(_equal(a, b) for a, b in zip(hidden, _split(different)[1]))
        # the hidden case of each visible class has other inputs; here also other sizes for every node
        for case in visible:
            twin = next(other for other in hidden if other.note == f"{case.note}, float64")
            assert not _equal(case, twin)
        assert {_shapes(case) for case in hidden}.isdisjoint({_shapes(case) for case in visible}) or \
            node.name in ("Sigmoid", "Tanh", "ReLU", "Softmax")
    embedding_bag = dict(zip(ALL, mine))["EmbeddingBag"]
    assert {case.args[1].shape for case in embedding_bag if not case.hidden} == {(4, 2)}  # hard_coded_shapes.py
    assert (4, 2) not in {case.args[1].shape for case in embedding_bag if case.hidden}


def test_upstream_gradients_differ_by_node_and_secret_and_a_scalar_one_is_far_from_one():
    mine, other = lab_cases("lab2", SECRET), lab_cases("lab2", "another secret")
    first_entries = {case.grad_output.reshape(-1)[0].item() for node_cases in mine for case in node_cases[:1]}
    assert len(first_entries) == len(NODES)  # each node draws its own
    for node_cases, different in zip(mine, other):
        hidden, hidden_other = _split(node_cases)[1], _split(different)[1]
        assert hidden[0].grad_output.reshape(-1)[0] != hidden_other[0].grad_output.reshape(-1)[0]
    scalars = [case.grad_output for node_cases in mine + other for case in node_cases if case.grad_output.dim() == 0]
    assert len(scalars) > 10 and all(1.5 <= value < 2.5 for value in scalars)


def test_case_seeds_span_63_bits():
    seeds = [verdict.case_seed("secret", f"node {number}") for number in range(64)]
    assert all(0 <= seed < 2**63 for seed in seeds) and max(seeds) >= 2**62
    assert len(set(seeds)) == 64 and verdict.case_seed(7, "Tanh") == verdict.case_seed("7", "Tanh")


def _shapes(case):
    return tuple(tuple(arg.shape) for arg in case.args if torch.is_tensor(arg))


def test_each_case_calls_the_node_on_other_inputs_than_the_case_before():
    """So that a node that keeps its first inputs, weights or output between calls fails."""
    for node_cases in lab_cases("lab2", SECRET):
        for before, after in zip(node_cases, node_cases[1:]):
            assert not _same_args(before, after), (before.note, after.note)


def _same_args(a, b):
    return len(a.args) == len(b.args) and all(
        torch.is_tensor(x) == torch.is_tensor(y) and (x.shape == y.shape and torch.equal(x, y) if torch.is_tensor(x)
                                                      else x == y)
        for x, y in zip(a.args, b.args))


def _equal(a, b):
    return _same_args(a, b) and torch.equal(a.grad_output, b.grad_output)


# --------------------------------------------------------------------------------------------------------------
# Tolerances


def _case_of(name, note, dtype):
    """The hidden case of node ``name`` for the input class ``note`` in ``dtype``, at the public seed."""
    node = next(node for node in NODES if node.name == name)
    wanted = f"{note}, {str(dtype).removeprefix('torch.')}"
    return node, next(case for case in draw_cases(node, VISIBLE_SEED, hidden=True) if case.note == wanted)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tolerance_accepts_float32_rounding_and_refuses_a_near_miss(dtype):
    node, case = _case_of("Softmax", "3-D, dim 0", dtype)
    wanted = case.wanted[0]
    in_float32 = torch.softmax(case.args[0].float(), case.args[1])  # PyTorch's own float32 answer
    assert case.close(wanted, wanted) and case.close(in_float32, wanted) and case.close(wanted.float(), wanted)
    assert case.close(wanted * (1 + 3e-6), wanted)  # just inside: relative 3e-6
    assert not case.close(wanted * (1 + 3e-5), wanted)  # just outside: relative 3e-5
    assert not case.close(wanted * (1 + 1e-3), wanted)  # a near miss
    assert not case.close(wanted + 1e-5, wanted)  # absolute: small entries are compared too
    assert not case.close(wanted.reshape(-1), wanted)  # same values, other shape
    assert TOLERANCES[dtype].rtol <= 1e-5 and case.tolerance is TOLERANCES[dtype]


# --------------------------------------------------------------------------------------------------------------
# The verdict on returned values, without a student process


def _run(output, grads, grad_output, error=None):
    return {"output": output, "grads": grads, "grad_output": grad_output, "error": error, "autograd": []}


def _evidence_for(node, cases, grads_of=lambda wanted, case: wanted, output_of=lambda output, case: output):
    """Evidence as the sandbox returns it, with the output ``output_of(wanted_output, case)`` and the gradients
    ``grads_of(wanted_grads, case)``."""
    runs = []
    for case in cases:
        output, wanted = case.wanted
        runs.append([_run(output_of(output, case), grads_of(list(wanted), case), case.grad_output.clone())] * 2)
    return NodeEvidence(result={"error": None, "cases": runs, "case_problems": [None] * len(runs),
                                "blocked_imports": [], "runtime": []})


def _node_and_cases(name, secret=SECRET):
    index = ALL.index(name)
    return NODES[index], lab_cases("lab2", secret)[index]


def _outputs(tests):
    return {test.name.split(": ")[1]: test.output for test in tests}


def test_all_right_scores_full_marks_and_a_backward_that_ignores_grad_output_is_named():
    node, cases = _node_and_cases("Tanh")
    assert [test.score for test in grade_node(node, cases, _evidence_for(node, cases))] == list(POINTS.values())

    def without_grad_output(wanted, case):
        return [wanted[0] / case.grad_output]

    tests = grade_node(node, cases, _evidence_for(node, cases, without_grad_output))
    assert [test.score for test in tests] == [POINTS["forward"], 0, 0]
    assert "the gradient for input does not use grad_output" in tests[1].output


def test_loss_of_shape_one_and_keepdim_are_told_apart_from_not_summed_over_the_batch():
    node, cases = _node_and_cases("CrossEntropy")
    tests = grade_node(node, cases, _evidence_for(node, cases, output_of=lambda output, case: output.reshape(1)))
    assert "forward returns shape (1,), a loss must be a 0-d tensor (use .sum()/.mean() without keepdim)" \
        in tests[0].output
    assert "not summed" not in tests[0].output

    node, cases = _node_and_cases("Linear")
    batch, one = cases[0], cases[1]  # the visible 2-D case and the batch of one
    assert batch.args[0].shape[0] > 1 and one.args[0].shape[0] == 1

    def keepdim(wanted, case):
        return wanted[:2] + [wanted[2][None]]

    def per_example(wanted, case):
        return wanted[:2] + [case.grad_output.clone()]

    tests = _outputs(grade_node(node, [batch], _evidence_for(node, [batch], keepdim)))
    assert "the gradient for bias keeps the summed dimension" in tests["backward"]
    assert "not summed" not in tests["backward"]
    tests = _outputs(grade_node(node, [batch], _evidence_for(node, [batch], per_example)))
    assert "the gradient for bias is not summed over the batch" in tests["backward"]
    assert "keepdim" not in tests["backward"]
    # with a batch of one, both mistakes give the same tensor: neither is named
    for mistake in (keepdim, per_example):
        tests = _outputs(grade_node(node, [one], _evidence_for(node, [one], mistake)))
        assert f"the gradient for bias has the wrong shape (1, {one.args[2].shape[0]}); expected " \
               f"({one.args[2].shape[0]},)" in tests["backward"]
        assert "keepdim" not in tests["backward"] and "not summed" not in tests["backward"]


def test_a_mistake_is_named_only_when_exactly_one_recogniser_matches():
    node, cases = _node_and_cases("Tanh")
    case = cases[0]
    wanted = case.wanted[1][0]
    always = [verdict.Mistake(("*",), f"mistake {number}", lambda student, wanted, case: True) for number in (1, 2)]
    assert verdict.recognise(always[:1], "input", -wanted, wanted, case) == "mistake 1"
    assert verdict.recognise(always, "input", -wanted, wanted, case) is None
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "input", -wanted, wanted, case) == \
        "{what} has the wrong sign (it is minus the expected value)"
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "input", 2 * wanted, wanted, case) is None


def test_nan_and_inf_are_named_as_such():
    node, cases = _node_and_cases("Sigmoid")

    def with_value(value):
        def grads_of(wanted, case):
            grad = wanted[0].clone()
            grad.view(-1)[0] = value
            return [grad]
        return grads_of

    tests = _outputs(grade_node(node, cases, _evidence_for(node, cases, with_value(float("nan")))))
    size = cases[0].wanted[1][0].numel()
    assert f"the gradient for input {NAN} in 1 of its {size} entries: look for 0/0, inf/inf or inf - inf (exp of a " \
           "large number overflows: subtract the maximum first)" in tests["backward"]
    assert "largest difference" not in tests["backward"]
    tests = _outputs(grade_node(node, cases, _evidence_for(node, cases, with_value(float("inf")))))
    assert f"the gradient for input is inf in 1 of its {size} entries: look for overflow (exp of a large number: " \
           "subtract the maximum first) or a division by zero" in tests["backward"] and "NaN" not in tests["backward"]


def test_trailing_none_gradients_are_accepted_and_other_extra_values_are_not():
    node, cases = _node_and_cases("Softmax")
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: wanted + [None, None]))
    assert [test.score for test in tests] == list(POINTS.values())
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: wanted + [None, wanted[0]]))
    assert "backward returned 4 value(s); it must return one per input of forward, in order (input, dim)" \
        in tests[1].output


def test_wrong_number_of_gradients_and_gradient_for_an_integer_input():
    node, cases = _node_and_cases("CrossEntropy")
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: wanted[:1]))
    assert "backward returned 1 value(s); it must return one per input of forward, in order (input, target)" \
        in tests[1].output
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: [wanted[0], case.args[1]]))
    assert "the gradient for target must be None" in tests[1].output
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: "not a list"))
    assert "backward returned 0 value(s)" in tests[1].output


def test_grad_output_changed_in_place_is_named_and_another_dtype_is_no_change():
    node, cases = _node_and_cases("ReLU")
    hidden32 = [case for case in cases if case.hidden and case.grad_output.dtype == torch.float32]
    evidence = _evidence_for(node, hidden32)
    for runs, case in zip(evidence.result["cases"], hidden32):
        runs[0]["grad_output"] = case.grad_output.double()  # the same values
    assert [test.score for test in grade_node(node, hidden32, evidence)] == list(POINTS.values())
    evidence = _evidence_for(node, cases)
    for runs in evidence.result["cases"]:
        runs[0]["grad_output"] = runs[0]["grad_output"].clamp(min=0)
    tests = _outputs(grade_node(node, cases, evidence))
    assert "backward changed grad_output in place (e.g. grad_output[mask] = 0 or grad_output *= ...); compute a " \
           "new tensor instead, since other nodes may use the same grad_output" in tests["backward"]


def test_feedback_shows_one_failing_case_and_names_six_others():
    node, cases = _node_and_cases("Softmax")
    hidden = [case for case in cases if case.hidden]
    assert len(hidden) > verdict.ALSO_LIMIT + 2
    tests = _outputs(grade_node(node, cases, _evidence_for(node, cases, output_of=lambda output, case: output + 1
                                                           if case.hidden else output)))
    lines = tests["hidden inputs"].splitlines()
    others = [case.describe() for case in hidden[1:1 + verdict.ALSO_LIMIT]]
    assert lines[0] == f"On {hidden[0].describe()}:"
    assert lines[-1] == f"Also wrong on {'; '.join(others)} and {len(hidden) - 1 - verdict.ALSO_LIMIT} more."
    # with exactly six others, all are named, and no count follows
    seven = cases[:3] + hidden[:verdict.ALSO_LIMIT + 1]
    tests = _outputs(grade_node(node, seven, _evidence_for(node, seven, output_of=lambda output, case: output + 1
                                                           if case.hidden else output)))
    others = [case.describe() for case in hidden[1:1 + verdict.ALSO_LIMIT]]
    assert tests["hidden inputs"].splitlines()[-1] == f"Also wrong on {'; '.join(others)}."
    # and with fewer, too
    tests = _outputs(grade_node(node, cases[:5], _evidence_for(node, cases[:5], output_of=lambda output, case: -output)))
    assert tests["forward"].splitlines()[-1] == f"Also wrong on {'; '.join(c.describe() for c in cases[1:3])}."


def test_a_case_without_a_result_costs_that_case_only():
    node, cases = _node_and_cases("ReLU")
    evidence = _evidence_for(node, cases)
    hidden = next(index for index, case in enumerate(cases) if case.hidden)
    evidence.result["cases"][hidden] = None
    evidence.result["case_problems"][hidden] = "ReLU broke off grading: the process was ended by SIGSEGV"
    tests = grade_node(node, cases, evidence)
    assert [test.score for test in tests] == [POINTS["forward"], POINTS["backward"], 0]
    assert "On hidden inputs (2-D, float64):\nReLU broke off grading: the process was ended by SIGSEGV" \
        in tests[2].output
    evidence = _evidence_for(node, cases)
    evidence.result["cases"][0] = None
    evidence.result["case_problems"][0] = "ReLU took longer than 4 s of CPU time"
    assert [test.score for test in grade_node(node, cases, evidence)] == [0, 0, POINTS["hidden inputs"]]


def _forged(cases):
    """Results of the right outline whose content the student's process could have forged, with what the
    feedback says is wrong with each."""
    good = _run(torch.zeros(2), [torch.zeros(2)], torch.zeros(2))
    error = {"stage": "forward", "type": "ValueError", "message": "m", "traceback": "t"}
    fields = "['autograd', 'error', 'extra', 'grad_output', 'grads', 'output']"

    def result(runs=None, **fields):
        base = {"error": None, "cases": [runs or [good, good]] * len(cases), "case_problems": [None] * len(cases),
                "blocked_imports": [], "runtime": []}
        return {**base, **fields}

    return [
        (None, "the result of the node is not a dict with an error field"),
        ("forged", "the result of the node is not a dict with an error field"),
        ({"cases": []}, "the result of the node is not a dict with an error field"),
        ({"error": 3}, "the node's error is not text"),
        ({"error": None, 1: 2}, "the result of the node has the fields ['1', 'error']"),
        (result(cases="forged"), f"there are not {len(cases)} cases"),
        (result(cases=[]), f"there are not {len(cases)} cases"),
        (result(blocked_imports="in5550"), "the refused imports or the uses of autograd are not lists of text"),
        (result(runtime=[1]), "the refused imports or the uses of autograd are not lists of text"),
        (result(runs=[good]), "a case is not two runs"),
        (result(runs=[good, "run"]), "a run is str with fields -"),
        (result(runs=[good, {**good, "output": None, "extra": 1}]), f"a run is dict with fields {fields}"),
        (result(runs=[good, {**good, "error": "text"}]), "a run's error is not a stage, type, message and traceback"),
        (result(runs=[good, {**good, "error": {**error, "stage": "elsewhere"}}]),
         "a run's error is not a stage, type, message and traceback"),
        (result(runs=[good, {**good, "error": {**error, "message": 3}}]),
         "a run's error is not a stage, type, message and traceback"),
        (result(runs=[good, {**good, "autograd": "none"}]), "a run's record of autograd use is not a list of text"),
        (result(case_problems=[3] * len(cases), cases=[None] * len(cases)),
         "a case has neither runs nor a reason why not"),
        # a case without runs (it crashed) does not stop the look at the cases after it
        (result(case_problems=["crashed"] + [None] * (len(cases) - 1), cases=[None] + [[good]] * (len(cases) - 1)),
         "a case is not two runs"),
    ]


def test_malformed_results_cost_the_node_and_say_what_was_malformed():
    node, cases = _node_and_cases("Sigmoid")
    for result, reason in _forged(cases):
        tests = grade_node(node, cases, NodeEvidence(result=result))
        assert [test.score for test in tests] == [0, 0, 0], result
        assert all(test.output == f"the results returned by the grading process are malformed ({reason}; was the "
                   "grading code changed by the submission?)" for test in tests), (reason, tests[0].output)
        assert len(tests) == 3  # no error of the grader's


def test_a_node_without_runs_gets_its_problem_in_each_test():
    node, cases = _node_and_cases("Tanh")
    for evidence, told in [
            (NodeEvidence(problem="Tanh took longer than 4 s"), "Tanh took longer than 4 s"),
            (NodeEvidence(result={"error": "the submission defines no class Tanh"}),
             "the submission defines no class Tanh")]:
        tests = grade_node(node, cases, evidence)
        assert [(test.score, test.output) for test in tests] == [(0, told)] * 3


def test_autograd_and_the_package_found_anywhere_cost_backward_and_hidden_inputs():
    node, cases = _node_and_cases("Tanh")
    evidence = _evidence_for(node, cases)
    evidence.cheating = ["Tanh source, line 9: torch.autograd.grad"]
    for index in (0, 1):  # the same use in two cases is named once
        runs = evidence.result["cases"][index]
        evidence.result["cases"][index] = [{**runs[0], "autograd": ["called Tensor.backward"]}, runs[1]]
    evidence.result["runtime"] = ["started a thread"]
    evidence.result["blocked_imports"] = ["in5550.nodes"]
    tests = _outputs(grade_node(node, cases, evidence))
    found = ("backward must compute the gradient by hand, without PyTorch autograd or the course package; found:\n"
             "  Tanh source, line 9: torch.autograd.grad\n  Tanh called Tensor.backward while it ran\n"
             "  Tanh imported in5550.nodes while it ran\n  Tanh started a thread while it ran")
    assert tests == {"forward": "passed", "backward": found, "hidden inputs": found}


def test_forward_is_judged_on_the_first_call_and_a_second_call_must_return_the_same_output():
    node, cases = _node_and_cases("Sigmoid")
    case = cases[0]
    evidence = _evidence_for(node, [case])
    first = evidence.result["cases"][0][0]
    evidence.result["cases"][0] = [first, {**first, "output": first["output"] + 1}]
    forward, backward, _ = _outputs(grade_node(node, [case], evidence)).values()
    assert forward == "passed"
    assert "a second forward and backward on the same inputs returned a different output: do not keep state " \
           "between calls" in backward


def test_an_error_in_backward_leaves_the_output_of_forward_to_be_judged():
    node, cases = _node_and_cases("ReLU")
    case = cases[0]
    error = {"stage": "backward", "type": "IndexError", "message": "out of range", "traceback": "Traceback\n"}
    evidence = _evidence_for(node, [case])
    evidence.result["cases"][0] = [_run(case.wanted[0], None, None, error)] * 2
    forward, backward, _ = _outputs(grade_node(node, [case], evidence)).values()
    assert forward == "passed" and "ReLU.backward raised IndexError: out of range" in backward


def test_the_tolerance_told_is_that_of_the_entry_furthest_outside_it():
    """Of an entry off by 2e-3 where the tolerance is 1.1e-5 and one off by 1.5e-3 where it is 1e-2 (a large
    value: rtol scales it), the first is outside the tolerance and is the one told."""
    node = NODES[ALL.index("Tanh")]
    values = torch.tensor([1.0, 1000.0], dtype=torch.float64)
    case = verdict.Case((values,), torch.ones(2, dtype=torch.float64), "made up", reference=lambda x: x * 1)
    run = _run(values + torch.tensor([2e-3, 1.5e-3], dtype=torch.float64), None, None)
    tolerance = case.tolerance
    assert verdict.check_forward(node, case, run) == [
        f"the output of forward differs from the expected values (largest difference {2e-3:.3g}, where the "
        f"tolerance allows {tolerance.atol + tolerance.rtol * 1.0:.3g})"]


def test_a_difference_is_told_with_its_size_and_what_the_tolerance_allows():
    node, cases = _node_and_cases("Sigmoid")
    case = cases[0]
    output = case.wanted[0].clone()
    output.view(-1)[3] += 2e-3
    tests = _outputs(grade_node(node, [case], _evidence_for(node, [case], output_of=lambda wanted, case: output)))
    tolerance = case.tolerance
    allowed = tolerance.atol + tolerance.rtol * case.wanted[0].reshape(-1)[3].abs().item()
    assert tests["forward"].endswith(f"the output of forward differs from the expected values (largest difference "
                                     f"{2e-3:.3g}, where the tolerance allows {allowed:.3g})")


def test_an_error_in_the_grader_is_a_result_for_the_staff_not_a_students_failure(monkeypatch):
    node, cases = _node_and_cases("Sigmoid")

    def broken(*args, **kwargs):
        raise KeyError("a bug in the grader")

    monkeypatch.setattr(verdict, "check_backward", broken)
    tests = grade_node(node, cases, _evidence_for(node, cases))
    assert [test.name for test in tests] == [f"Sigmoid: {test}" for test in POINTS] + [f"Sigmoid: {GRADER_ERROR}"]
    for test in tests[:3]:
        assert "an error in the grader, not in your submission" in test.output and "malformed" not in test.output
    staff = tests[3]
    assert staff.visibility == "hidden" and staff.score == staff.max_score == 0
    assert "KeyError: 'a bug in the grader'" in staff.output and "check_backward" not in tests[0].output
    report = Report("lab2", "nodes.py", tests)
    assert grader_errors(report) == [staff]
    # a long traceback is cut to its end, which names the error
    monkeypatch.setattr(verdict, "check_backward", lambda *args: {}["x" * 5000])
    staff = grade_node(node, cases, _evidence_for(node, cases))[3]
    assert len(staff.output) == 2 * verdict.OUTPUT_LIMIT and staff.output.endswith("x" * 2000 + "'\n")


def test_a_second_call_must_give_the_same_gradients():
    node, cases = _node_and_cases("Tanh")
    case = cases[0]
    wanted = case.wanted[1][0]
    error = {"stage": "backward", "type": "ValueError", "message": "once only", "traceback": "Traceback ...\n"}
    seconds = {
        "raises": (_run(None, None, None, error), "a second forward and backward on the same inputs failed: "
                                                  "Tanh.backward raised ValueError: once only"),
        "other count": (_run(case.wanted[0], [wanted, wanted], case.grad_output),
                        "a second forward and backward on the same inputs failed: backward returned other values"),
        "different": (_run(case.wanted[0], [wanted + 1], case.grad_output),
                      "a second forward and backward on the same inputs returned a different gradient for input: "
                      "do not keep state between calls"),
        "not a tensor": (_run(case.wanted[0], [None], case.grad_output), "returned a different gradient for input"),
        "twice": (_run(case.wanted[0], [2 * wanted], case.grad_output),
                  "the gradient for input grows from one call to the next: the second backward on the same inputs "
                  "returned twice the gradient. It is accumulated (+=) into storage kept between calls, where it "
                  "should be assigned anew on each call"),
        "same": (_run(case.wanted[0], [wanted.clone()], case.grad_output), None),
        "trailing None": (_run(case.wanted[0], [wanted.clone(), None], case.grad_output), None),
    }
    for name, (second, message) in seconds.items():
        evidence = _evidence_for(node, [case])
        evidence.result["cases"][0] = [evidence.result["cases"][0][0], second]
        forward, backward, _ = grade_node(node, [case], evidence)
        assert forward.score == POINTS["forward"], name
        if message is None:
            assert backward.score == POINTS["backward"] and backward.output == "passed", name
        else:
            assert backward.score == 0 and message in backward.output, (name, backward.output)


def test_a_value_that_is_not_a_float_tensor_is_described():
    node, cases = _node_and_cases("Sigmoid")
    case = cases[0]
    shape = tuple(case.wanted[0].shape)
    for returned, described in [(None, "None"), ([1.0], "[1.0]"), ("x" * 200, repr("x" * 200)[:80]),
                                (torch.ones(shape, dtype=torch.int64),
                                 f"a tensor of shape {shape} and dtype int64")]:
        tests = _outputs(grade_node(node, [case], _evidence_for(node, [case], output_of=lambda output, case: returned)))
        assert tests["forward"].endswith(f"the output of forward: got {described}, expected a tensor of shape {shape}")


def test_an_error_shows_the_end_of_its_traceback():
    node, cases = _node_and_cases("ReLU")
    case = cases[0]
    trace = "Traceback (most recent call last):\n" + "  a frame\n" * 400 + "ZeroDivisionError: division by zero"
    error = {"stage": "forward", "type": "ZeroDivisionError", "message": "division by zero", "traceback": trace}
    evidence = _evidence_for(node, [case])
    evidence.result["cases"][0] = [_run(None, None, None, error)] * 2
    forward = _outputs(grade_node(node, [case], evidence))["forward"]
    shown = forward.split("ReLU.forward raised ZeroDivisionError: division by zero\n")[1]
    assert shown == trace[-verdict.OUTPUT_LIMIT:]


def test_recognisers_name_nothing_they_cannot_be_sure_of():
    """A gradient of the batch's rows whose first row alone is the answer is "not summed" (the rows add up to
    it), not "keepdim"; a backward cannot be said to ignore grad_output when grad_output is all ones, nor for a
    tensor that is not one of the case's expected gradients."""
    node, cases = _node_and_cases("Linear")
    case = cases[0]
    bias = case.wanted[1][2]
    batch = case.args[0].shape[0]
    first_row_only = torch.cat([bias[None], torch.zeros(batch - 1, bias.shape[0], dtype=bias.dtype)])
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "bias", first_row_only, bias, case).startswith(
        "{what} is not summed over the batch")
    tanh, tanh_cases = _node_and_cases("Tanh")
    ones = verdict.Case(tanh_cases[0].args, torch.ones_like(tanh_cases[0].grad_output), reference=tanh.reference)
    wanted = ones.wanted[1][0]
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "input", 3 * wanted, wanted, ones) is None
    case = tanh_cases[0]
    wanted = case.wanted[1][0]
    without_grad_output = wanted / case.grad_output
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "input", without_grad_output, wanted, case) is not None
    assert verdict.recognise(verdict.GENERAL_MISTAKES, "input", without_grad_output, wanted.clone(), case) is None
