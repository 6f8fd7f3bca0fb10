"""The labs: the released student versions run top to bottom (with nbclient), every cell that fails failing with
the stubs' ``NotImplementedError``; the source notebooks themselves run under nbval with the rest of the suite.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from in5550.cli import main
from in5550.labs import HIDDEN_TESTS, LABS_DIR, SOLUTION, MarkerError, release, release_text

MARKERS = (*SOLUTION, *HIDDEN_TESTS)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    destination = tmp_path_factory.mktemp("released")
    assert main(["labs", "release", str(destination)]) == 0
    return destination


def test_release_text_stubs_solutions_and_removes_hidden_tests():
    text = ("def f(x):\n"
            "    \"\"\"Twice x.\"\"\"\n"
            "    ### BEGIN SOLUTION\n"
            "    return 2 * x\n"
            "    ### END SOLUTION\n"
            "assert f(1) == 2\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert f(3) == 6\n"
            "### END HIDDEN TESTS")
    assert release_text(text, "cell") == ("def f(x):\n"
                                          "    \"\"\"Twice x.\"\"\"\n"
                                          "    # YOUR CODE HERE\n"
                                          "    raise NotImplementedError()\n"
                                          "assert f(1) == 2")
    assert release_text("### BEGIN SOLUTION\nanswer\n### END SOLUTION\n", "md", ("YOUR ANSWER HERE",)) == \
        "YOUR ANSWER HERE\n"


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "f.py, line 1: '### BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION\n", "f.py, line 2: '### END SOLUTION' without '### BEGIN SOLUTION' before it"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n",
     "f.py, line 2: '### BEGIN HIDDEN TESTS' inside the block opened by '### BEGIN SOLUTION' on line 1"),
    ("### BEGIN HIDDEN TESTS\n### END SOLUTION\n",
     "f.py, line 2: '### END SOLUTION' without '### BEGIN SOLUTION' before it"),
])
def test_release_text_rejects_unpaired_markers(text, message):
    with pytest.raises(MarkerError, match=f"^{re.escape(message)}$"):
        release_text(text, "f.py")


def test_release_rejects_unknown_labs_and_a_destination_inside_the_sources(tmp_path):
    with pytest.raises(ValueError, match=r"release: no lab lab9 in .*labs; labs: lab1, lab2"):
        release(destination=tmp_path, labs=["lab9"])
    with pytest.raises(ValueError, match="is inside the lab sources"):
        release(destination=LABS_DIR / "lab1" / "student")


def test_release_checks_every_marker_before_writing(tmp_path):
    source = tmp_path / "labs" / "lab9"
    source.mkdir(parents=True)
    (source / "a.py").write_text("ok = 1\n")
    (source / "b.py").write_text("### BEGIN SOLUTION\n")
    with pytest.raises(MarkerError, match=r"lab9/b.py, line 1"):
        release(tmp_path / "labs", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("destination, options, message", [
    ("out", ["--source", "{tmp}/nowhere"], "--source: no folder {tmp}/nowhere"),
    ("file.txt", [], "release: {tmp}/file.txt is a file; the destination must be a folder"),
    ("file.txt/out", [], "release: {tmp}/file.txt is a file; the destination must be a folder"),
])
def test_command_line_reports_bad_arguments_in_one_line(tmp_path, capsys, destination, options, message):
    (tmp_path / "file.txt").write_text("keep me\n")
    argv = ["labs", "release", str(tmp_path / destination), *(option.format(tmp=tmp_path) for option in options)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in error and error.count("\n") == 1, error
    assert (tmp_path / "file.txt").read_text() == "keep me\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file.txt"]


def test_release_writes_a_students_readme(released):
    readme = (released / "README.md").read_text()
    for heading in ("## Install", "## Open", "## Check", "## Submit"):
        assert heading in readme
    assert f"torch=={torch.__version__.split('+')[0]}" in readme
    assert "`lab1/lab1.ipynb`" in readme and "`lab2/lab2.ipynb`" in readme
    assert "- lab1: upload `lab1.ipynb`" in readme and "- lab2: upload `nodes.py`" in readme


def test_released_files_have_no_solutions_markers_or_outputs(released):
    written = sorted(path.relative_to(released).as_posix() for path in released.rglob("*") if path.is_file())
    assert written == ["README.md", "lab1/lab1.ipynb", "lab2/lab2.ipynb", "lab2/nodes.py"]
    nodes = (released / "lab2" / "nodes.py").read_text()
    assert nodes.count("raise NotImplementedError()") == 7 * 3  # forward, setup_context, backward per node
    assert "return grad_output * output * (1 - output)" not in nodes
    for path in released.rglob("*"):
        if path.is_file():
            assert not any(marker in path.read_text() for marker in MARKERS), path
    for notebook in released.rglob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None


@pytest.mark.parametrize("lab", ["lab1", "lab2"])
def test_source_notebook_keeps_clean_outputs_for_nbval(lab):
    """nbval compares a run with the committed outputs: they must be there, error-free and free of memory
    addresses (which differ from run to run)."""
    cells = [cell for cell in nbformat.read(LABS_DIR / lab / f"{lab}.ipynb", as_version=4).cells
             if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in cells)
    outputs = [output for cell in cells for output in cell.outputs]
    assert outputs and not any(output.output_type == "error" for output in outputs)
    assert not re.search(r" at 0x[0-9a-f]+", json.dumps(outputs))


def _cells_with_hidden_tests(notebook: Path) -> list[int]:
    cells = nbformat.read(notebook, as_version=4).cells
    return [index for index, cell in enumerate(cells) if HIDDEN_TESTS[0] in cell.source]


@pytest.mark.parametrize("lab", ["lab1", "lab2"])
def test_released_notebook_runs_to_the_end_failing_only_on_the_stubs(released, lab):
    path = released / lab / f"{lab}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True, record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    failed = {index: [output.ename for output in cell.outputs if output.output_type == "error"]
              for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    failed = {index: names for index, names in failed.items() if names}
    assert all(names == ["NotImplementedError"] for names in failed.values()), failed
    # every test cell of the source fails on the stubs (released cells keep their positions)
    test_cells = _cells_with_hidden_tests(LABS_DIR / lab / f"{lab}.ipynb")
    assert test_cells and set(test_cells) <= set(failed)
