"""The autograder: the corpus of submissions in tests/submissions/lab2 gets the right scores and feedback, a grade
is a function of the submission and the secret alone, hostile submissions cost only their own points, and the
grader's pieces reject what they must.

The corpus is graded once per test run, two submissions at a time (each grading is mostly a student process
waiting on torch's import), by the ``graded`` fixture. The attacks on the sandbox (``attack_*.py``) are graded
in tests/test_grader_sandbox.py.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from in5550.cli import main
from in5550.grader import (DEFAULT_SECRET, NOT_SECRET, SECRET_VARIABLE, VISIBLE_SEED, Limits, grade, grader_errors,
                           lab_cases, read_secret, sandbox, source, verdict)
from in5550.grader.lab2 import NODES
from in5550.grader.report import Report
from in5550.grader.verdict import GRADER_ERROR, POINTS, TOLERANCES, NodeEvidence, draw_cases, grade_node
from in5550.labs import LABS_DIR, release

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"
NODE_POINTS = sum(POINTS.values())
FULL = NODE_POINTS * len(NODES)
ALL = tuple(node.name for node in NODES)
LIMITS = Limits(node_s=4, total_s=60, memory_bytes=1 << 30)  # short, so that the hostile ones finish fast
SECRET = "the secret of the tests"
BACKWARD, HIDDEN = POINTS["backward"], POINTS["hidden inputs"]
NAN = "is NaN (not a number)"

# submission -> (points lost, {node that loses points: what the feedback of its first test that lost points says})
EXPECTED = {
    "correct": (0, {}),
    "wrong_sign": (8, {"Tanh": "the gradient for input has the wrong sign"}),
    "transposed_weight": (8, {"Linear": "the gradient for weight is the transpose of the expected one"}),
    "bias_not_summed": (8, {"Linear": "gradient for bias is not summed over the batch"}),
    "missing_mean": (8, {"CrossEntropy": "missing 1/N"}),
    "accumulated_across_calls": (8, {"EmbeddingBag": "accumulated (+=) into storage kept between calls"}),
    "assigned_in_loop": (8, {"Linear": "instead of assigning it (=)"}),
    "repeated_ids": (8, {"EmbeddingBag": "repeated token ids must be added up"}),
    "inplace_grad_output": (8, {"ReLU": "changed grad_output in place"}),
    "wrong_shape": (6, {"EmbeddingBag": "the output of forward has the wrong shape (3, 1, 2); expected (3, 2)"}),
    "infinite_loop": (10, {"Softmax": "Softmax took longer than 4 s"}),
    "exit_at_import": (FULL, {node: "could not be imported: SystemExit: 0" for node in ALL}),
    "exit_in_node": (10, {"CrossEntropy": "the process exited with status 0"}),
    "memory_bomb": (10, {"Sigmoid": "MemoryError"}),
    "writes_results": (0, {}),
    "patches_allclose": (10, {"Tanh": "differs from the expected values"}),
    "autograd_in_backward": (24, {node: "without PyTorch autograd" for node in ("Sigmoid", "Tanh", "ReLU")}),
    "reads_files": (6, {"ReLU": "the output of forward differs from the expected values"}),
    "borrows_package": (7 * 8 + 2, {node: "in5550" for node in ALL}),
    # near misses, tolerance boundaries and float32: each kills a mutation of the tolerances
    "rounded_constant": (NODE_POINTS, {"Sigmoid": "the output of forward differs from the expected values"}),
    "finite_difference": (BACKWARD + HIDDEN, {"Tanh": "the gradient for input differs from the expected values"}),
    "just_inside_tolerance": (0, {}),
    "just_outside_tolerance": (BACKWARD + HIDDEN, {"ReLU": "gradient for input differs from the expected values"}),
    "float32_buffers": (0, {}),
    # input classes that only the hidden cases (or the second of two calls) reach
    "hard_coded_shapes": (HIDDEN, {"EmbeddingBag": "On hidden inputs (mean, repeated ids, float64):"}),
    "no_max_shift": (HIDDEN + NODE_POINTS, {"Softmax": "On hidden inputs (large logits, float64):\nthe output of "
                                            f"forward {NAN}",
                                            "CrossEntropy": "the output of forward is inf in 1 of its 1 entries"}),
    "softmax_ignores_dim": (NODE_POINTS, {"Softmax": "the output of forward is that of a softmax along another "
                                          "dimension than dim"}),
    "caches_first_weights": (NODE_POINTS, {"Linear": "On inputs batch 1: input (1, 6), weight (3, 6), bias (3,):\n"
                                           "the output of forward differs"}),
    "float64_only": (HIDDEN, {"EmbeddingBag": "index_add_(): self (Double) and source (Float) must have the same"}),
    # what a loss or a gradient looks like, and how it is told
    "loss_shape_one": (POINTS["forward"] + HIDDEN, {"CrossEntropy": "forward returns shape (1,), a loss must be a "
                                                    "0-d tensor (use .sum()/.mean() without keepdim)"}),
    "keepdim_bias": (BACKWARD + HIDDEN, {"Linear": "the gradient for bias keeps the summed dimension: its shape is "
                                         "(1, 3) where the parameter's is (3,)"}),
    "nan_gradient": (BACKWARD + HIDDEN, {"EmbeddingBag": f"the gradient for weight {NAN} in 6 of its 8 entries"}),
    "extra_none_gradients": (0, {}),
}
PROBE = '''
import os, resource, sys
import torch

class Sigmoid(torch.autograd.Function):
    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def forward(input):
        try:
            import in5550
            borrowed = "imported in5550"
        except ImportError:
            borrowed = "in5550 refused"
        raise RuntimeError(f"uid={os.getuid()} cwd={os.getcwd()} home={os.environ['HOME']} "
                           f"as={resource.getrlimit(resource.RLIMIT_AS)[0]} "
                           f"core={resource.getrlimit(resource.RLIMIT_CORE)[0]} {borrowed} "
                           f"files={sorted(os.listdir())}")
'''


def _submission(name: str, folder: Path) -> Path:
    """The corpus entry ``name`` as a file: correct.py, with the entry's own file appended to it."""
    text = (CORPUS / "correct.py").read_text()
    if name != "correct":
        text += "\n\n" + (CORPUS / f"{name}.py").read_text()
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


def _grade_with_cli(path: Path, results: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "in5550", "grade", "lab2", str(path), "--results", str(results)],
                          capture_output=True, text=True, timeout=120, cwd=path.parent)


# what each test reads from the ``graded`` fixture besides its own corpus entry; only what the selected tests read
# is graded, so that a run of a few tests (a mutant's) takes a few gradings
READS = {
    "test_report_has_three_tests_per_node_in_gradescope_format": ("correct",),
    "test_student_code_runs_limited_unprivileged_in_a_fresh_folder": ("probe",),
    "test_lab_solution_scores_full_marks": ("solution",),
    "test_released_starter_file_scores_zero": ("starter",),
    "test_command_line_writes_the_graders_results_not_the_submissions": ("command line",),
    "test_borrowing_and_autograd_are_named_with_where_they_were_found": ("borrows_package", "autograd_in_backward"),
}


def _read_by_selected_tests(session) -> set:
    needed = set()
    for item in session.items:
        name = getattr(item, "originalname", None)  # doctest items have none
        if name == "test_corpus_scores_and_feedback":
            needed.add(item.callspec.params["name"])
        needed.update(READS.get(name, ()))
    return needed


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    """Reports of the corpus, the probe, the lab's solution and the released starter file (those the selected
    tests read), plus the command-line run on writes_results.py (its results.json path and the finished
    process)."""
    needed = _read_by_selected_tests(request.session)
    folder = tmp_path_factory.mktemp("corpus")
    paths = {name: _submission(name, folder) for name in EXPECTED if name in needed}
    paths["probe"] = folder / "probe.py"
    paths["probe"].write_text(PROBE)
    release(destination=folder / "released", labs=["lab2"])
    paths["starter"] = folder / "released" / "lab2" / "nodes.py"
    paths["solution"] = LABS_DIR / "lab2" / "nodes.py"
    paths = {name: path for name, path in paths.items() if name in needed}
    results = folder / "cli" / "results.json"
    results.parent.mkdir()
    alone = {"reads_files"}  # it reads other gradings' folders: grade it when no other grading runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        cli = pool.submit(_grade_with_cli, _submission("writes_results", folder), results) \
            if "command line" in needed else None
        futures = {name: pool.submit(grade, "lab2", path, LIMITS, SECRET) for name, path in paths.items()
                   if name not in alone}
        reports = {name: future.result() for name, future in futures.items()}
        cli = cli.result() if cli else None
    reports.update({name: grade("lab2", paths[name], LIMITS, SECRET) for name in alone if name in paths})
    return reports, cli, results


@pytest.mark.parametrize("name", EXPECTED)
def test_corpus_scores_and_feedback(graded, name):
    reports, _, _ = graded
    report = reports[name]
    lost, feedback = EXPECTED[name]
    assert report.max_score == FULL
    assert report.score == FULL - lost, report.summary()
    losing = {test.name.split(":")[0] for test in report.tests if test.score < test.max_score}
    assert losing == set(feedback), report.summary()
    for node, text in feedback.items():
        first_lost = next(test for test in report.tests if test.name.startswith(f"{node}:")
                          and test.score < test.max_score)
        assert text in first_lost.output, first_lost.output
    assert not grader_errors(report)


def test_report_has_three_tests_per_node_in_gradescope_format(graded):
    reports, _, _ = graded
    results = reports["correct"].results_json()
    assert results["score"] == FULL
    names = [test["name"] for test in results["tests"]]
    assert names == [f"{node}: {test}" for node in ALL for test in POINTS]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["output"] == "passed"


def test_student_code_runs_limited_unprivileged_in_a_fresh_folder(graded):
    reports, _, _ = graded
    output = reports["probe"].tests[0].output
    assert "in5550 refused" in output
    assert f"as={LIMITS.memory_bytes} core=0" in output
    assert "files=['import.pt', 'runner.py', 'submission.py', 'task.pt']" in output
    cwd = output.split("cwd=")[1].split()[0]
    in_namespace = sandbox.capabilities().namespaces
    assert (cwd == "/tmp/grading" if in_namespace else Path(cwd).name.startswith("in5550-grade-"))
    assert output.split("home=")[1].split()[0] == cwd
    assert in_namespace or not Path(cwd).exists()  # removed after grading (a namespace's folder is never seen)
    uid = int(output.split("uid=")[1].split()[0])
    assert uid in sandbox.UIDS if os.geteuid() == 0 else uid == os.geteuid()


def test_lab_solution_scores_full_marks(graded):
    reports, _, _ = graded
    assert reports["solution"].score == FULL, reports["solution"].summary()


def test_released_starter_file_scores_zero(graded):
    reports, _, _ = graded
    report = reports["starter"]
    assert report.score == 0
    for node in ALL:
        forward = next(test for test in report.tests if test.name == f"{node}: forward")
        assert f"{node}.forward raised NotImplementedError" in forward.output


def test_command_line_writes_the_graders_results_not_the_submissions(graded):
    reports, cli, results = graded
    assert cli.returncode == 0, cli.stderr
    assert "score" in cli.stdout and f"{FULL:g}/{FULL:g}" in cli.stdout
    written = json.loads(results.read_text())
    assert written["score"] == FULL and len(written["tests"]) == 3 * len(NODES) + 1  # + the review by a person
    assert written["tests"][-1]["visibility"] == "hidden" and "calls open()" in written["tests"][-1]["output"]


def test_borrowing_and_autograd_are_named_with_where_they_were_found(graded):
    reports, _, _ = graded
    borrowed = reports["borrows_package"]
    assert any("imports in5550.nodes" in note for note in borrowed.notes)
    autograd = {test.name: test.output for test in reports["autograd_in_backward"].tests}
    assert "Tanh source, line" in autograd["Tanh: backward"]  # found by reading the source
    assert "torch.autograd.grad" in autograd["Tanh: backward"]
    assert "ReLU called torch.autograd.grad while it ran" in autograd["ReLU: backward"]  # its name is built at run time
    assert "Sigmoid called Tensor.backward while it ran" in autograd["Sigmoid: backward"]


def test_syntax_error_is_reported_without_running_anything(tmp_path, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("the sandbox was started for a submission that is not valid Python")

    monkeypatch.setattr(sandbox, "run", no_run)
    path = tmp_path / "broken.py"
    path.write_text("import torch\nclass Sigmoid(torch.autograd.Function:\n    pass\n")
    report = grade("lab2", path, LIMITS, SECRET)
    assert report.score == 0
    assert report.notes == ["Not run: the submission is not valid Python: invalid syntax (line 2)."]


def test_grade_rejects_unknown_lab_and_bad_limits(tmp_path):
    with pytest.raises(ValueError, match="grade: no autograder for lab 'lab7'; labs with one: .*lab2"):
        grade("lab7", tmp_path / "nodes.py")
    with pytest.raises(ValueError, match="Limits: node_s must be positive, got 0"):
        Limits(node_s=0)
    with pytest.raises(FileNotFoundError, match="missing.py"):
        grade("lab2", tmp_path / "missing.py")


@pytest.mark.parametrize("argv, message", [
    (["grade", "lab7", "x.py"], "no autograder for lab 'lab7'; labs with one: "),
    (["grade", "lab2", "missing.py"], "no such file: missing.py"),
    (["grade", "lab2", "nodes.py", "--node-timeout", "-1"], "--node-timeout: must be a positive number of seconds"),
    (["grade", "lab2", "nodes.py", "--results", "no/such/folder/results.json"], "--results: no folder no/such/folder"),
])
def test_command_line_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nodes.py").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


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


class FakeSandbox:
    """Stands in for sandbox.run: records the tasks and says that nothing ran."""

    def __init__(self):
        self.tasks = None

    def __call__(self, text, tasks, limits):
        self.tasks = tasks
        return sandbox.Outcome(results=[None] * len(tasks), problems=["not run in this test"] * len(tasks))


def _inputs_sent(tmp_path, monkeypatch, secret=None, environment=None):
    fake = FakeSandbox()
    monkeypatch.setattr(sandbox, "run", fake)
    if environment is None:
        monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SECRET_VARIABLE, environment)
    path = tmp_path / "nodes.py"
    path.write_text("import torch\n")
    report = grade("lab2", path, LIMITS, secret)
    return [case for task in fake.tasks for case in task["cases"]], report


def _same_inputs(a, b):
    return len(a) == len(b) and all(len(x["args"]) == len(y["args"]) and all(
        torch.equal(p, q) if torch.is_tensor(p) else p == q for p, q in zip(x["args"], y["args"]))
        and torch.equal(x["grad_output"], y["grad_output"]) for x, y in zip(a, b))


def test_secret_comes_from_the_argument_then_the_environment_then_the_public_default(tmp_path, monkeypatch):
    given, report = _inputs_sent(tmp_path, monkeypatch, secret="s3cret")
    assert NOT_SECRET not in report.notes and "s3cret" not in json.dumps(report.results_json())
    from_environment, report = _inputs_sent(tmp_path, monkeypatch, environment="s3cret")
    assert _same_inputs(given, from_environment) and NOT_SECRET not in report.notes
    as_bytes, _ = _inputs_sent(tmp_path, monkeypatch, secret=b"s3cret", environment="other")
    assert _same_inputs(given, as_bytes)
    other, _ = _inputs_sent(tmp_path, monkeypatch, secret="other")
    assert not _same_inputs(given, other)
    default, report = _inputs_sent(tmp_path, monkeypatch)
    assert _same_inputs(default, _inputs_sent(tmp_path, monkeypatch, secret=DEFAULT_SECRET)[0])
    assert NOT_SECRET in report.notes and "hidden inputs are not secret" in report.results_json()["output"]


def test_read_secret(tmp_path):
    (tmp_path / "secret").write_text("  s3cret \n")
    assert read_secret(tmp_path / "secret") == "s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="read_secret: .*empty must hold the secret as one line of text"):
        read_secret(tmp_path / "empty")
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_secret(tmp_path / "binary")
    with pytest.raises(FileNotFoundError):
        read_secret(tmp_path / "missing")


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
    assert f"the gradient for input {NAN} in 1 of its" in tests["backward"]
    assert "largest difference" not in tests["backward"]
    tests = _outputs(grade_node(node, cases, _evidence_for(node, cases, with_value(float("inf")))))
    assert "the gradient for input is inf in 1 of its" in tests["backward"] and "NaN" not in tests["backward"]


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
    """Results of the right outline whose content the student's process could have forged."""
    good = _run(torch.zeros(2), [torch.zeros(2)], torch.zeros(2))
    error = {"stage": "forward", "type": "ValueError", "message": "m", "traceback": "t"}

    def result(runs=None, **fields):
        base = {"error": None, "cases": [runs or [good, good]] * len(cases), "case_problems": [None] * len(cases),
                "blocked_imports": [], "runtime": []}
        return {**base, **fields}

    return [
        None, "forged", {"cases": []}, {"error": 3}, result(cases="forged"), result(cases=[]),
        result(blocked_imports="in5550"), result(runtime=[1]), result(runs=[good]), result(runs=[good, "run"]),
        result(runs=[good, {**good, "output": None, "extra": 1}]), result(runs=[good, {**good, "error": "text"}]),
        result(runs=[good, {**good, "error": {**error, "stage": "elsewhere"}}]),
        result(runs=[good, {**good, "error": {**error, "message": 3}}]),
        result(runs=[good, {**good, "autograd": "none"}]), result(case_problems=[3] * len(cases),
                                                                 cases=[None] * len(cases)),
    ]


def test_malformed_results_cost_the_node_and_say_what_was_malformed():
    node, cases = _node_and_cases("Sigmoid")
    for result in _forged(cases):
        tests = grade_node(node, cases, NodeEvidence(result=result))
        assert [test.score for test in tests] == [0, 0, 0], result
        assert all(test.output.startswith("the results returned by the grading process are malformed (")
                   for test in tests), tests[0].output
        assert len(tests) == 3  # no error of the grader's


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
    assert staff.visibility == "hidden" and staff.max_score == 0
    assert "KeyError: 'a bug in the grader'" in staff.output and "check_backward" not in tests[0].output
    report = Report("lab2", "nodes.py", tests)
    assert grader_errors(report) == [staff]


# --------------------------------------------------------------------------------------------------------------
# The same grade every time


def _mixed(folder: Path) -> Path:
    """A submission with several kinds of mistake, so that the feedback it gets is long."""
    text = "\n\n".join((CORPUS / f"{name}.py").read_text()
                       for name in ("correct", "no_max_shift", "keepdim_bias", "nan_gradient", "wrong_sign"))
    path = folder / "nodes.py"
    path.write_text(text)
    return path


def _results(report) -> str:
    results = report.results_json()
    del results["execution_time"]
    return json.dumps(results, indent=1, sort_keys=True)


def test_the_same_file_gets_the_same_results_three_times_and_with_every_core_busy(tmp_path):
    path = _mixed(tmp_path)
    first = _results(grade("lab2", path, secret=SECRET))
    assert "keeps the summed dimension" in first and NAN in first  # it did fail in several ways
    for _ in range(2):
        assert _results(grade("lab2", path, secret=SECRET)) == first
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        loaded = _results(grade("lab2", path, secret=SECRET))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert loaded == first


# --------------------------------------------------------------------------------------------------------------
# Reading the source, and reading the student's files


def test_source_scan_finds_autograd_per_node_and_borrowing():
    text = '''
import torch
import importlib
from torch.autograd import grad as g
from torch.autograd.function import once_differentiable

class Tanh(torch.autograd.Function):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return g(ctx.y, ctx.x, grad_output)

class ReLU(torch.autograd.Function):
    @staticmethod
    def backward(ctx, grad_output):
        return torch.ops.aten.threshold_backward(grad_output, ctx.x, 0)

class Sigmoid(torch.autograd.Function):
    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        return Tanh.backward(ctx, grad_output) * torch.zeros(3, requires_grad=False)

nodes = importlib.import_module("in5550.nodes")
'''
    findings = source.scan(text, ["Tanh", "ReLU", "Sigmoid"])
    assert findings.error is None
    assert findings.autograd == {"Tanh": ["line 11: torch.autograd.grad"],
                                 "ReLU": ["line 16: torch.ops.aten.threshold_backward"]}
    assert findings.borrowing == ["line 24: names in5550 in a call"]
    assert findings.review == ["line 3: imports importlib"]


def test_read_file_refuses_links_pipes_and_large_files(tmp_path):
    good = tmp_path / "result.pt"
    torch.save({"x": torch.ones(2)}, good)
    assert torch.equal(sandbox._read_file(good, 1 << 20)["x"], torch.ones(2))
    (tmp_path / "link.pt").symlink_to(good)
    os.mkfifo(tmp_path / "pipe.pt")
    assert sandbox._read_file(tmp_path / "link.pt", 1 << 20) is None
    assert sandbox._read_file(tmp_path / "pipe.pt", 1 << 20) is None  # returns at once instead of blocking
    assert sandbox._read_file(good, 10) is None
    assert sandbox._read_file(tmp_path / "missing.pt", 1 << 20) is None


def test_only_inputs_reach_the_student_process():
    for node_cases in lab_cases("lab2", SECRET):
        for case in node_cases:
            task = case.task()
            assert set(task) == {"args", "grad_output", "needs_input_grad"}
            assert task["needs_input_grad"] == [torch.is_tensor(arg) and arg.is_floating_point()
                                                for arg in task["args"]]
