"""The CLI shell: help for every verb, errors without tracebacks."""

import subprocess
import sys

import pytest

from basiss.cli import VERBS, build_parser, main


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    assert "usage: basiss " + verb in capsys.readouterr().out


def test_python_dash_m_runs():
    res = subprocess.run(
        [sys.executable, "-m", "basiss", "--version"], capture_output=True, text=True, check=True
    )
    assert res.stdout.startswith("basiss ")


def test_parser_builds():
    assert build_parser().prog == "basiss"
