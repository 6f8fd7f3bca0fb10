"""The command line's own behaviour: every bad argument gets exactly one line on stderr and exit status 2."""

import pytest

from in5550.cli import COMMANDS, main


@pytest.mark.parametrize("argv, message", [
    ([], "in5550: error: the following arguments are required: COMMAND"),
    (["teach"], "in5550: error: argument COMMAND: invalid choice: 'teach'"),
    (["train", "--backend", "jax"], "in5550 train: error: argument --backend: invalid choice: 'jax'"),
    (["train", "--dataset", "imdb"], "in5550 train: error: argument --dataset: invalid choice: 'imdb'"),
    (["train", "--train-file", "no/such/file.tsv"], "in5550 train: error: --train-file: no such file"),
    (["check", "--node", "convolution"], "in5550 check: error:"),
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
        assert f"usage: in5550 {name}" in capsys.readouterr().out
