"""The autograder: the corpus of submissions in tests/submissions/lab2 gets the right scores and feedback, hostile
submissions cost only their own points, and the grader's pieces reject what they must.

The corpus is graded once per test run, two submissions at a time (each grading is mostly a student process
waiting on torch's import), by the ``graded`` fixture.
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
from in5550.grader import Limits, grade, sandbox, source
from in5550.grader.lab2 import NODES
from in5550.grader.verdict import POINTS, NodeEvidence, expected, grade_node, make_case
from in5550.labs import LABS_DIR, release

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"
NODE_POINTS = sum(POINTS.values())
FULL = NODE_POINTS * len(NODES)
ALL = tuple(node.name for node in NODES)
LIMITS = Limits(node_s=4, total_s=60, memory_bytes=1 << 30)  # short, so that the hostile ones finish fast

# submission -> (nodes that lose points, points lost, what the feedback of each of those nodes says)
EXPECTED = {
    "correct": ((), 0, None),
    "wrong_sign": (("Tanh",), 8, "has the wrong sign"),
    "transposed_weight": (("Linear",), 8, "is the transpose of the expected one"),
    "bias_not_summed": (("Linear",), 8, "gradient for bias is not summed over the batch"),
    "missing_mean": (("CrossEntropy",), 8, "missing 1/N"),
    "accumulated_across_calls": (("EmbeddingBag",), 8, "accumulated (+=) into storage kept between calls"),
    "assigned_in_loop": (("Linear",), 8, "instead of assigning it (=)"),
    "repeated_ids": (("EmbeddingBag",), 8, "repeated token ids must be added up"),
    "inplace_grad_output": (("ReLU",), 8, "changed grad_output in place"),
    "wrong_shape": (("EmbeddingBag",), 6, "has the wrong shape (4, 1, 3); expected (4, 3)"),
    "infinite_loop": (("Softmax",), 10, "Softmax took longer than 4 s"),
    "exit_at_import": (ALL, FULL, "could not be imported: SystemExit: 0"),
    "exit_in_node": (("CrossEntropy",), 10, "the process exited with status 0"),
    "memory_bomb": (("Sigmoid",), 10, "MemoryError"),
    "writes_results": ((), 0, None),
    "patches_allclose": (("Tanh",), 10, "differs from the expected values"),
    "autograd_in_backward": (("Sigmoid", "Tanh", "ReLU"), 24, "without PyTorch autograd"),
    "reads_files": (("ReLU",), 6, "the output of forward differs from the expected values"),
    "borrows_package": (ALL, 7 * 8 + 2, "in5550"),
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


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Reports of the corpus, the probe and the released starter file, plus the command-line run on
    writes_results.py (its results.json path and the finished process)."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = {name: _submission(name, folder) for name in EXPECTED}
    paths["probe"] = folder / "probe.py"
    paths["probe"].write_text(PROBE)
    release(destination=folder / "released", labs=["lab2"])
    paths["starter"] = folder / "released" / "lab2" / "nodes.py"
    paths["solution"] = LABS_DIR / "lab2" / "nodes.py"
    results = folder / "cli" / "results.json"
    results.parent.mkdir()
    alone = {"reads_files"}  # it reads other gradings' folders: grade it when no other grading runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        cli = pool.submit(_grade_with_cli, paths["writes_results"], results)
        futures = {name: pool.submit(grade, "lab2", path, LIMITS) for name, path in paths.items()
                   if name not in alone}
        reports = {name: future.result() for name, future in futures.items()}
        cli = cli.result()
    reports.update({name: grade("lab2", paths[name], LIMITS) for name in alone})
    return reports, cli, results


@pytest.mark.parametrize("name", EXPECTED)
def test_corpus_scores_and_feedback(graded, name):
    reports, _, _ = graded
    report = reports[name]
    affected, lost, feedback = EXPECTED[name]
    assert report.max_score == FULL
    assert report.score == FULL - lost, report.summary()
    losing = {test.name.split(":")[0] for test in report.tests if test.score < test.max_score}
    assert losing == set(affected), report.summary()
    for node in affected:
        first_lost = next(test for test in report.tests if test.name.startswith(f"{node}:")
                          and test.score < test.max_score)
        assert feedback in first_lost.output, first_lost.output


def test_report_has_three_tests_per_node_in_gradescope_format(graded):
    reports, _, _ = graded
    results = reports["correct"].results_json()
    assert results["score"] == FULL
    names = [test["name"] for test in results["tests"]]
    assert names == [f"{node}: {test}" for node in ALL for test in POINTS]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["output"] == "passed"


def test_correct_submission_is_graded_within_30_seconds(graded):
    reports, _, _ = graded
    assert reports["correct"].seconds < 30


def test_hostile_submissions_finish_within_their_limits(graded):
    reports, _, _ = graded
    for name in ("infinite_loop", "memory_bomb", "exit_in_node", "exit_at_import"):
        # one node may use its whole time limit, then a fresh process grades the rest
        assert reports[name].seconds < LIMITS.node_s + 20, name


def test_student_code_runs_limited_unprivileged_in_a_fresh_folder(graded):
    reports, _, _ = graded
    output = reports["probe"].tests[0].output
    assert "in5550 refused" in output
    assert f"as={LIMITS.memory_bytes} core=0" in output
    assert "files=['import.pt', 'runner.py', 'submission.py', 'task.pt']" in output
    cwd = output.split("cwd=")[1].split()[0]
    assert Path(cwd).name.startswith("in5550-grade-") and output.split("home=")[1].split()[0] == cwd
    assert not Path(cwd).exists()  # removed after grading
    uid = int(output.split("uid=")[1].split()[0])
    assert uid == (65534 if os.geteuid() == 0 else os.geteuid())


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
    assert "ReLU called torch.autograd.grad while it ran" in autograd["ReLU: backward"]  # only seen at run time
    assert "ReLU source" not in autograd["ReLU: backward"]
    assert "Sigmoid called Tensor.backward while it ran" in autograd["Sigmoid: backward"]


def test_syntax_error_is_reported_without_running_anything(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\nclass Sigmoid(torch.autograd.Function:\n    pass\n")
    report = grade("lab2", path, LIMITS)
    assert report.score == 0
    assert report.notes == ["Not run: the submission is not valid Python: invalid syntax (line 2)."]
    assert report.seconds < 5


def test_grade_rejects_unknown_lab_and_bad_limits(tmp_path):
    with pytest.raises(ValueError, match="grade: no autograder for lab 'lab7'; labs with one: lab2"):
        grade("lab7", tmp_path / "nodes.py")
    with pytest.raises(ValueError, match="Limits: node_s must be positive, got 0"):
        Limits(node_s=0)
    with pytest.raises(FileNotFoundError, match="missing.py"):
        grade("lab2", tmp_path / "missing.py")


@pytest.mark.parametrize("argv, message", [
    (["grade", "lab7", "x.py"], "no autograder for lab 'lab7'; labs with one: lab2"),
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
# The verdict on returned values, without a student process


def _run(output, grads, grad_output, error=None):
    return {"output": output, "grads": grads, "grad_output": grad_output, "error": error, "autograd": []}


def _evidence_for(node, cases, grads_of):
    """Evidence as the runner would return it, with the gradients ``grads_of(wanted_grads, case)``."""
    runs = []
    for case in cases:
        output, wanted = expected(node.reference, case.args, case.grad_output)
        runs.append([_run(output, grads_of(wanted, case), case.grad_output.clone())] * 2)
    return NodeEvidence(result={"error": None, "cases": runs, "blocked_imports": []})


def test_backward_that_ignores_grad_output_is_named():
    node = NODES[1]  # Tanh
    cases = [make_case(node, 1, hidden=False), make_case(node, 2, hidden=True)]

    def without_grad_output(wanted, case):
        return [wanted[0] / case.grad_output]

    tests = grade_node(node, cases, _evidence_for(node, cases, without_grad_output))
    assert [test.score for test in tests] == [POINTS["forward"], 0, 0]
    assert "does not use grad_output" in tests[1].output


def test_malformed_results_cost_the_node_and_nothing_else():
    node = NODES[0]
    cases = [make_case(node, 1, hidden=False), make_case(node, 2, hidden=True)]
    for result in ({"error": None, "cases": "forged"}, {"cases": []}, None,
                   {"error": None, "cases": [[{"output": 1}] * 2] * 2, "blocked_imports": []}):
        tests = grade_node(node, cases, NodeEvidence(result=result))
        assert [test.score for test in tests] == [0, 0, 0]
        assert all("malformed" in test.output for test in tests)


def test_wrong_number_of_gradients_and_gradient_for_an_integer_input():
    node = next(node for node in NODES if node.name == "CrossEntropy")
    cases = [make_case(node, 1, hidden=False), make_case(node, 2, hidden=True)]
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: wanted[:1]))
    assert "backward returned 1 value(s); it must return one per input of forward, in order (input, target)" \
        in tests[1].output
    tests = grade_node(node, cases, _evidence_for(node, cases, lambda wanted, case: [wanted[0], case.args[1]]))
    assert "the gradient for target must be None" in tests[1].output


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
    for node in NODES:
        task = make_case(node, 0, hidden=True).task()
        assert set(task) == {"args", "grad_output", "needs_input_grad"}
        assert task["needs_input_grad"] == [torch.is_tensor(arg) and arg.is_floating_point() for arg in task["args"]]
