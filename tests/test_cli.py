"""The command line's own behaviour: every bad argument gets exactly one line on stderr and exit status 2, Ctrl-C
one line and exit status 130, and ``--help`` answers without loading PyTorch."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import in5550.cli
from in5550.cli import COMMANDS, INTERRUPTED, main

ROOT = Path(__file__).resolve().parent.parent


def run_fresh(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """``python -X importtime -m in5550 ARGS`` (or ``python -X importtime -c CODE``) in a new process, with this
    checkout's package first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-X", "importtime"] + (["-c", code] if code else ["-m", "in5550", *args])
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)


def imported_modules(stderr: str) -> set:
    """Module names from ``-X importtime``'s report ("import time: self | cumulative | name" lines)."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def other_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize("argv, message", [
    ([], "in5550: error: the following arguments are required: COMMAND"),
    (["teach"], "in5550: error: argument COMMAND: invalid choice: 'teach'"),
    (["--frobnicate"], "in5550: error:"),
    (["train", "--backend", "jax"], "in5550 train: error: argument --backend: invalid choice: 'jax'"),
    (["train", "--dataset", "imdb"], "in5550 train: error: argument --dataset: invalid choice: 'imdb'"),
    (["train", "--train-file", "no/such/file.tsv"], "in5550 train: error: --train-file: no such file"),
    (["check", "--node", "convolution"], "in5550 check: error:"),
    (["check", "--frobnicate"], "in5550 check: error: unrecognized arguments: --frobnicate"),
    (["grade", "lab9", "nodes.py"], "in5550 grade: error:"),
])
def test_bad_arguments_get_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(message), err
    assert "Traceback" not in err


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"usage: in5550 {name}" in out
        assert COMMANDS[name][1] in " ".join(out.split())  # the command's description
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "--node NAME" in capsys.readouterr().out  # the command's own arguments, added by its module


def test_help_lists_every_command_and_leaves_torch_unimported():
    result = run_fresh("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout
    modules = imported_modules(result.stderr)
    assert "in5550.cli" in modules  # the report is real: it lists what was imported
    assert not {m for m in modules if m == "torch" or m.startswith(("torch.", "numpy", "in5550.verify"))}
    assert other_lines(result.stderr) == []


def test_only_the_chosen_command_is_imported():
    # The command line as `python -m in5550 check --help` runs it; then the modules loaded, from sys.modules.
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['in5550', 'check', '--help']\n"
        "try:\n"
        "    runpy.run_module('in5550', run_name='__main__', alter_sys=True)\n"
        "finally:\n"
        "    print('MODULES', json.dumps(sorted(sys.modules)))\n"
    )
    result = run_fresh(code=code)
    assert result.returncode == 0 and "--node NAME" in result.stdout
    modules = set(json.loads(result.stdout.rsplit("MODULES", 1)[1]))
    assert {"in5550.verify", "torch"} <= modules
    assert not {"in5550.train", "in5550.demo", "in5550.bench", "in5550.graph", "in5550.grader.command"} & modules


def test_an_unknown_command_fails_at_once_in_one_line():
    result = run_fresh("teach")
    assert result.returncode == 2
    assert other_lines(result.stderr) == ["in5550: error: argument COMMAND: invalid choice: 'teach' "
                                          f"(choose from {', '.join(repr(n) for n in COMMANDS)})"]
    assert "torch" not in imported_modules(result.stderr)


# --------------------------------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------------------------------


def interrupt(message=""):
    def run(args):
        raise KeyboardInterrupt(*([message] if message else []))

    return run


def test_ctrl_c_in_a_command_is_one_line_and_status_130(monkeypatch, capsys):
    import in5550.verify

    monkeypatch.setattr(in5550.verify, "run", interrupt())
    assert main(["check"]) == INTERRUPTED == 130
    assert capsys.readouterr().err == "in5550 check: interrupted\n"

    # a command that saved partial work says where, on the same line
    monkeypatch.setattr(in5550.verify, "run", interrupt("partial results in runs/x"))
    assert main(["check"]) == 130
    assert capsys.readouterr().err == "in5550 check: interrupted: partial results in runs/x\n"


def test_ctrl_c_while_the_command_loads_is_one_line_too(monkeypatch, capsys):
    def slow_import(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(in5550.cli.importlib, "import_module", slow_import)
    assert main(["train", "--help"]) == 130
    assert capsys.readouterr().err == "in5550 train: interrupted\n"


def test_a_real_sigint_ends_the_process_with_130_and_one_line():
    # The child says when the command is running, then waits; the parent presses Ctrl-C (SIGINT) only then.
    code = (
        "import sys, threading\n"
        "import in5550.verify\n"
        "from in5550 import cli\n"
        "def run(args):\n"
        "    print('running', flush=True)\n"
        "    threading.Event().wait(600)\n"
        "in5550.verify.run = run\n"
        "sys.exit(cli.main(['check']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=ROOT)
    try:
        assert child.stdout.readline() == "running\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130
    assert err == "in5550 check: interrupted\n"
