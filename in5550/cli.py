"""The ``in5550`` command line: one subcommand per job, each implemented in its own module.

Each module named in ``COMMANDS`` provides ``add_arguments(parser)`` and ``run(args) -> int``. A module raises
:class:`UsageError` for a bad argument (unknown dataset, missing file, ...); the command line turns it into a
one-line message and exit status 2, like argparse does for its own errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from in5550.errors import UsageError

# subcommand -> (module, one-line help)
COMMANDS = {
    "check": ("in5550.verify", "verify every node four ways and print the table"),
    "graph": ("in5550.graph", "draw the lecture's computation graph (or the MLP's, --mlp) to a PNG"),
    "labs": ("in5550.labs", "write the student versions of the labs (solutions stubbed, hidden tests removed)"),
    "grade": ("in5550.grader.command", "grade a student's lab submission safely (Gradescope results.json)"),
    "demo": ("in5550.demo", "train the MLP on SST-2 with our nodes and with PyTorch's, side by side"),
    "train": ("in5550.train", "train the MLP sentence classifier (SST-2, TREC or your files); writes metrics.json"),
    "bench": ("in5550.bench", "time a training step with our nodes against PyTorch's, and count saved bytes"),
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors take one line, without the usage block (``--help`` shows that)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="in5550", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_module=module, _parser=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except UsageError as error:
        args._parser.error(str(error))  # prints "in5550 CMD: error: ..." and exits with 2


if __name__ == "__main__":
    sys.exit(main())
