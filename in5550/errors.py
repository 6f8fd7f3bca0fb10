"""The package's own exceptions, in a module of their own so that every layer can raise them without importing
the command line (layers point one way: nothing below :mod:`in5550.cli` imports it)."""


class UsageError(Exception):
    """A bad argument to a command (unknown dataset, missing file, ...): the command line reports it on one line
    with exit status 2 and no traceback, as argparse does for its own errors."""
