"""The labs: each exists once, with its solutions, and the student versions are released from it.

A lab is a folder under ``labs/`` at the root of the repository (a notebook, and for lab 2 the file of nodes the
students write). Solutions and hidden tests sit between markers, in the convention of nbgrader::

    def graph_forward(a, b):                       check(graph_forward(2.0, 1.0))
        ### BEGIN SOLUTION                          ### BEGIN HIDDEN TESTS
        c = a + b                                   check(graph_forward(-1.0, 3.0))
        ...                                         ### END HIDDEN TESTS
        ### END SOLUTION

:func:`release` writes the student versions: each solution becomes a stub (``raise NotImplementedError()`` in
code, indented like the marker; ``YOUR ANSWER HERE`` in Markdown), hidden tests are removed and notebooks lose
their outputs. ``.py`` and ``.ipynb`` files are released this way; other files are copied as they are. A short
``README.md`` for the students (install, open, check, submit) goes next to the labs.

From the command line: ``in5550 labs release DIR`` writes ``DIR/README.md``, ``DIR/lab1/...``, ``DIR/lab2/...``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from in5550.errors import UsageError

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"
"""The lab sources, in the repository next to the package."""
SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = ("YOUR ANSWER HERE",)
RELEASED_SUFFIXES = (".py", ".ipynb")
SKIPPED = {"__pycache__", ".ipynb_checkpoints"}
SUBMIT = {"lab1": "lab1.ipynb", "lab2": "nodes.py"}
"""The file a student hands in for each lab: the name the autograder looks for."""
STUDENT_README = """\
# IN5550 labs

## Install

Python 3.10 or newer, PyTorch (the CPU build is enough) and the course package, which brings NumPy, matplotlib
and the data tools with it:

```bash
python3 -m venv .venv
.venv/bin/pip install torch=={torch} --index-url https://download.pytorch.org/whl/cpu
.venv/bin/pip install {package} jupyterlab
```

(`{package}` is the course package's file from the course page.)

## Open

```bash
.venv/bin/jupyter lab
```

and open a lab's notebook ({notebooks}). Fill in every `# YOUR CODE HERE` and run the cells from the top.

## Check

Each lab has check cells that run the autograder's visible tests on your code, in the notebook, and print
the feedback the autograder would give (`check(...)`). The autograder also runs tests on inputs you have not
seen: passing the checks is a good sign, not a promise of full marks.

## Submit

{submit}

Submit exactly one file, with exactly that name (one file only; not a folder, not a zip).
"""


class MarkerError(ValueError):
    """The solution or hidden-test markers of a lab source do not pair up."""


def release_text(text: str, where: str, stub: tuple[str, ...] = CODE_STUB) -> str:
    """``text`` with every solution replaced by ``stub`` and every hidden test removed.

    ``where`` names the text in errors (a file, a notebook cell). Raises :class:`MarkerError` for a marker
    without its partner or a block opened inside another.

    >>> print(release_text("def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION\\n", "f.py"))
    def f():
        # YOUR CODE HERE
        raise NotImplementedError()
    <BLANKLINE>
    """
    released, open_block = [], None
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker in (SOLUTION[0], HIDDEN_TESTS[0]):
            if open_block:
                raise MarkerError(f"{where}, line {number}: {marker!r} inside the block opened by "
                                  f"{open_block[0]!r} on line {open_block[1]}")
            open_block = (marker, number)
            if marker == SOLUTION[0]:
                indent = line[: len(line) - len(line.lstrip())]
                released += [f"{indent}{stub_line}\n" for stub_line in stub]
        elif marker in (SOLUTION[1], HIDDEN_TESTS[1]):
            begin = SOLUTION[0] if marker == SOLUTION[1] else HIDDEN_TESTS[0]
            if not open_block or open_block[0] != begin:
                raise MarkerError(f"{where}, line {number}: {marker!r} without {begin!r} before it")
            open_block = None
        elif not open_block:
            released.append(line)
    if open_block:
        raise MarkerError(f"{where}, line {open_block[1]}: {open_block[0]!r} is never closed")
    result = "".join(released)
    return result if text.endswith("\n") else result.removesuffix("\n")


def release_notebook(notebook: dict, where: str) -> dict:
    """A student version of a notebook (as loaded from JSON): cells released, outputs and counts cleared."""
    released = json.loads(json.dumps(notebook))
    for index, cell in enumerate(released["cells"], start=1):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        stub = CODE_STUB if cell["cell_type"] == "code" else ANSWER_STUB
        cell["source"] = release_text(source, f"{where}, cell {index}", stub)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return released


def release(source: str | Path = LABS_DIR, destination: str | Path = "released",
            labs: list[str] | None = None) -> list[Path]:
    """Write the student version of each lab in ``source`` (all, or those named in ``labs``) to
    ``destination/<lab>/``; return the files written. Raises ``ValueError`` for an unknown lab or a
    destination inside the sources, and :class:`MarkerError` for broken markers (before writing anything)."""
    source, destination = Path(source).resolve(), Path(destination).resolve()
    available = sorted(path.name for path in source.iterdir() if path.is_dir() and path.name not in SKIPPED)
    unknown = sorted(set(labs or []) - set(available))
    if unknown:
        raise ValueError(f"release: no lab {', '.join(unknown)} in {source}; labs: {', '.join(available)}")
    if destination == source or source in destination.parents:
        raise ValueError(f"release: the destination {destination} is inside the lab sources {source}; "
                         "releasing there would mix student versions with the solutions")
    for folder in (destination, *destination.parents):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"release: {folder} is a file; the destination must be a folder")
    contents = {}
    for lab in labs or available:
        for path in sorted((source / lab).rglob("*")):
            if path.is_file() and not SKIPPED.intersection(path.parts):
                contents[destination / path.relative_to(source)] = _released(path, path.relative_to(source))
    contents[destination / "README.md"] = student_readme(labs or available, source)
    for target, content in contents.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    return list(contents)


def student_readme(labs: list[str], source: Path = LABS_DIR) -> str:
    """The students' README for the released ``labs``: install, open, check, submit."""
    import torch

    import in5550

    notebooks = ", ".join(f"`{lab}/{path.name}`" for lab in labs for path in sorted((source / lab).glob("*.ipynb")))
    submit = "\n".join(f"- {lab}: upload `{SUBMIT[lab]}` (the file from `{lab}/`, with your code in it)."
                       if lab in SUBMIT else f"- {lab}: as the course page says." for lab in labs)
    return STUDENT_README.format(torch=torch.__version__.split("+")[0],
                                 package=f"in5550-{in5550.__version__}-py3-none-any.whl",
                                 notebooks=notebooks, submit=submit)


def _released(path: Path, name: Path) -> str | Path:
    """The released text of a lab file, or the path itself for a file copied as it is."""
    if path.suffix == ".py":
        return release_text(path.read_text(encoding="utf-8"), str(name))
    if path.suffix == ".ipynb":
        notebook = json.loads(path.read_text(encoding="utf-8"))
        return json.dumps(release_notebook(notebook, str(name)), indent=1, ensure_ascii=False) + "\n"
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["release"], help="release: write the student versions")
    parser.add_argument("destination", metavar="DIR", help="folder to write the student versions to")
    parser.add_argument("--lab", action="append", metavar="NAME", help="only this lab (repeatable; default all)")
    parser.add_argument("--source", default=str(LABS_DIR), metavar="DIR",
                        help="folder of the lab sources (default: labs/ in the repository)")


def run(args: argparse.Namespace) -> int:
    if not Path(args.source).is_dir():
        raise UsageError(f"--source: no folder {args.source} (the lab sources are in the repository's labs/)")
    try:
        written = release(args.source, args.destination, args.lab)
    except ValueError as error:  # MarkerError included
        raise UsageError(str(error)) from None
    for path in written:
        print(path)
    return 0
