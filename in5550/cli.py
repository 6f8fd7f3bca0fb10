"""The ``in5550`` command line: one subcommand per job, each implemented in its own module.

Each module named in ``COMMANDS`` provides ``add_arguments(parser)`` and ``run(args) -> int``. The top-level
parser is built from the table alone, and only the chosen command's module is imported (to add its arguments
and run it), so ``in5550 --help`` answers at once instead of waiting for PyTorch to load.

Errors take one line on standard error, never a traceback:

- a bad argument: argparse's own errors, and :class:`~in5550.errors.UsageError` raised by a command (unknown
  dataset, missing file, ...), give ``in5550 CMD: error: ...`` and exit status 2;
- Ctrl-C (``KeyboardInterrupt``) anywhere in a command gives ``in5550 CMD: interrupted`` and exit status 130
  (128 + SIGINT, as shells report it). A command that saves partial work before giving up can say where by
  raising ``KeyboardInterrupt("partial results in runs/x")``: the message follows on the same line.
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

# Exit status for Ctrl-C: 128 + SIGINT (2), what a shell reports for a program killed by it.
INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors take one line, without the usage block (``--help`` shows that)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: its first word that is not an option (the top level has no option that
    takes a value), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, from ``COMMANDS`` alone; only ``command``'s module (if it names one) is
    imported, to add its arguments. That command's sub-parser is ``args._parser`` after parsing."""
    parser = Parser(prog="in5550", description="The in5550 command line: one subcommand per job.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_parser=sub)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the chosen command, return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = chosen_command(argv)
    prog = f"in5550 {command}" if command in COMMANDS else "in5550"
    try:
        args, unknown = build_parser(command).parse_known_args(argv)
        if unknown:  # named by the command they were given to, not by the top level as argparse would
            args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        try:
            return int(args._module.run(args) or 0)
        except UsageError as error:
            args._parser.error(str(error))  # prints "in5550 CMD: error: ..." and exits with 2
    except KeyboardInterrupt as interrupt:  # also while importing the command's module or parsing
        detail = str(interrupt).strip()
        print(f"{prog}: interrupted{': ' + detail if detail else ''}", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
