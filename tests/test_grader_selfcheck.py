"""The students' check before they submit: in the notebook's process, the autograder's visible tests give the same
points and feedback as the autograder itself, and nothing of the hidden tests."""

from pathlib import Path

import pytest
import torch

from in5550.grader import grade
from in5550.grader.lab2 import NODES
from in5550.grader.selfcheck import HIDDEN_NOTE, check, node_tests

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"
MISTAKES = {"wrong_sign": "Tanh", "bias_not_summed": "Linear", "missing_mean": "CrossEntropy",
            "repeated_ids": "EmbeddingBag", "inplace_grad_output": "ReLU"}


def _submission(name: str) -> str:
    text = (CORPUS / "correct.py").read_text()
    return text if name == "correct" else text + "\n\n" + (CORPUS / f"{name}.py").read_text()


def _nodes(text: str) -> dict:
    namespace = {}
    exec(compile(text, "nodes.py", "exec"), namespace)  # noqa: S102 -- the corpus is ours
    return namespace


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The autograder's reports of the corpus entries whose mistakes the check must name the same way."""
    folder = tmp_path_factory.mktemp("selfcheck")
    reports = {}
    for name in ["correct", *MISTAKES]:
        path = folder / f"{name}.py"
        path.write_text(_submission(name))
        reports[name] = grade("lab2", path)
    return reports


@pytest.mark.parametrize("name", ["correct", *MISTAKES])
def test_check_gives_the_graders_visible_feedback(graded, name):
    namespace = _nodes(_submission(name))
    for node in NODES:
        mine = node_tests(namespace[node.name])
        graders = [test for test in graded[name].tests if test.name in (f"{node.name}: forward",
                                                                         f"{node.name}: backward")]
        assert [(test.name, test.score, test.output) for test in mine] == \
            [(test.name, test.score, test.output) for test in graders], node.name


def test_check_prints_points_feedback_and_no_hidden_tests(capsys):
    namespace = _nodes(_submission("wrong_sign"))
    check(namespace["Tanh"])
    printed = capsys.readouterr().out
    assert printed.startswith("Tanh: forward   2/2\nTanh: backward  0/4\n")
    assert "the gradient for input has the wrong sign" in printed
    assert "hidden inputs (" not in printed and HIDDEN_NOTE not in printed


def test_check_of_a_whole_lab_names_missing_nodes(capsys):
    namespace = _nodes(_submission("correct"))
    del namespace["Softmax"]
    check("lab2", namespace)
    printed = capsys.readouterr().out
    assert "Sigmoid: backward       4/4" in printed and "Softmax: forward        0/2" in printed
    assert "there is no class Softmax(torch.autograd.Function) (found nothing)" in printed
    assert printed.rstrip().endswith(HIDDEN_NOTE)


def test_check_reports_the_students_error_without_raising(capsys):
    class Sigmoid(torch.autograd.Function):
        @staticmethod
        def forward(input):
            raise NotImplementedError()

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

    check(Sigmoid)
    printed = capsys.readouterr().out
    assert "Sigmoid: forward   0/2" in printed and "Sigmoid.forward raised NotImplementedError" in printed


def test_check_rejects_what_is_not_a_node_of_a_lab():
    with pytest.raises(ValueError, match="check: no node 'Cosine' in the autograder's labs; nodes: Sigmoid"):
        check(type("Cosine", (torch.autograd.Function,), {}))
    with pytest.raises(ValueError, match="check: no autograder for lab 'lab9'"):
        check("lab9", {})
    with pytest.raises(ValueError, match=r"check: give the module or dict that holds the nodes"):
        check("lab2")
