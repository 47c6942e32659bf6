"""The ``e2s`` dispatcher: every subcommand resolves; project errors become one ``error:`` line."""

from __future__ import annotations

import argparse
import importlib
import sys
import types

import pytest

from e2s_utils import __version__, cli
from e2s_utils.errors import E2SError


@pytest.mark.parametrize("command", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_is_a_module_with_parser_and_main(command: str) -> None:
    module = importlib.import_module(f"e2s_utils.cli.{command}")
    parser = module.build_parser()
    assert isinstance(parser, argparse.ArgumentParser) and parser.prog == f"e2s {command}"
    assert callable(module.main)


def test_usage_version_and_unknown_command(capsys) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: e2s <command>") and all(c in out for c in cli.SUBCOMMANDS)
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"e2s {__version__}"
    assert cli.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--help"])
    assert exit_info.value.code == 0 and "--protocol" in capsys.readouterr().out


def test_project_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys) -> None:
    fake = types.ModuleType("e2s_utils.cli.synth")

    def failing(argv):
        raise E2SError("the file x.csv is empty; write a header")

    fake.main = failing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "e2s_utils.cli.synth", fake)
    assert cli.main(["synth"]) == 2
    assert capsys.readouterr().err == "e2s synth: error: the file x.csv is empty; write a header\n"

    def buggy(argv):
        raise KeyError("a bug")

    fake.main = buggy  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["synth"])
