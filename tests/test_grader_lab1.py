"""Lab 1's autograder: the student's notebook is read, never run; its functions are graded through the grader's
nodes on inputs from the registry, with the same verdict as lab 2; the corpus in tests/submissions/lab1 and the
lab's own solution and starter are graded right."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from in5550.cli import main
from in5550.grader import grade
from in5550.grader.lab1 import GLUE, definitions, prepare
from in5550.grader.selfcheck import check
from in5550.labs import LABS_DIR, release

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab1"
FULL = 20
# submission -> (score, {test that loses points: what its feedback says})
EXPECTED = {
    "correct": (FULL, {}),
    "one_path": (FULL - 8, {"Graph: backward": "the gradient for b counts only one of the two paths from b to e",
                            "Graph: hidden inputs": "counts only one of the two paths"}),
    "no_relu_mask": (FULL - 8, {"TwoLayer: backward": "the gradient for x ignores the ReLU",
                                "TwoLayer: hidden inputs": "ignores the ReLU"}),
    "renamed": (0, {"Graph: forward": "the notebook defines no two_layer_backward"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab1")
    release(destination=folder, labs=["lab1"])
    paths = {name: CORPUS / f"{name}.ipynb" for name in EXPECTED}
    paths["solution"] = LABS_DIR / "lab1" / "lab1.ipynb"
    paths["starter"] = folder / "lab1" / "lab1.ipynb"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade, "lab1", path) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", EXPECTED)
def test_corpus_is_graded_right(graded, name):
    report = graded[name]
    score, losing = EXPECTED[name]
    assert report.max_score == FULL and report.score == score, report.summary()
    lost = {test.name for test in report.tests if test.score < test.max_score}
    assert set(losing) <= lost and (lost == set(losing) or score == 0), report.summary()
    outputs = {test.name: test.output for test in report.tests}
    for test, feedback in losing.items():
        assert feedback in outputs[test], outputs[test]


def test_solution_scores_full_marks_and_starter_zero(graded):
    assert graded["solution"].score == FULL, graded["solution"].summary()
    starter = graded["starter"]
    assert starter.score == 0
    assert "Graph.forward raised NotImplementedError" in starter.tests[0].output


def test_only_imports_and_definitions_are_kept():
    cells = ["%matplotlib inline\nimport torch\nfrom in5550.grader.selfcheck import check\nx = 1\nprint(x)",
             "def f(a):\n    return a\n\nassert f(1) == 2", "@staticmethod\ndef g():\n    pass",
             "def check_two_layer_backward():\n    torch.ones(1).backward()",
             "this is not python"]
    module = definitions(cells)
    assert module == ("# cell 1\nimport torch\n\n# cell 2\ndef f(a):\n    return a\n\n"
                      "# cell 3\n@staticmethod\ndef g():\n    pass\n")


def test_prepare_explains_what_cannot_be_graded():
    assert prepare("import torch")[1] == \
        "the submission is not a Jupyter notebook (submit lab1.ipynb, saved from Jupyter)"
    notebook = {"cells": [{"cell_type": "code", "source": ["def graph_forward(a, b):\n", "    pass\n"]}]}
    text, problem = prepare(json.dumps(notebook))
    assert text is None and problem.startswith("the notebook defines no graph_backward, two_layer_forward")
    text, problem = prepare((CORPUS / "correct.ipynb").read_text())
    assert problem is None and text.endswith(GLUE) and "raise RuntimeError" not in text


def test_command_line_grades_a_notebook(tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", "lab1", str(CORPUS / "one_path.ipynb"), "--results", str(results)]) == 0
    assert json.loads(results.read_text())["score"] == FULL - 8
    assert "Graph: backward          0/4" in capsys.readouterr().out


def test_students_check_runs_the_visible_tests_on_the_notebooks_functions(capsys):
    cells = [cell["source"] for cell in json.loads((CORPUS / "one_path.ipynb").read_text())["cells"]
             if cell["cell_type"] == "code"]
    namespace = {}
    exec(definitions(["".join(cell) if isinstance(cell, list) else cell for cell in cells]), namespace)  # noqa: S102
    check("lab1", namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("Graph: forward      2/2\nGraph: backward     0/4\nTwoLayer: forward   2/2\n"
                              "TwoLayer: backward  4/4\n")
    assert "counts only one of the two paths" in printed
