"""Packaging: the pins agree everywhere, and the ``e2s`` command dispatches to every stage."""

from __future__ import annotations

import importlib
import re
import tomllib

import pytest

from e2s_utils import cli, paths


def _pyproject() -> dict:
    return tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_has_the_same_pins_as_pyproject() -> None:
    project = _pyproject()["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    text = (paths.REPO_ROOT / "environment.yml").read_text()
    pip_lines = {m.group(1).strip() for m in re.finditer(r"^\s+- (\S.*)$", text, re.M)}
    missing = {req for req in wanted if req not in pip_lines}
    assert not missing, f"environment.yml lacks {sorted(missing)}"


def test_torch_pair_is_pinned_exactly() -> None:
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    assert "torchgeo==0.8.1" in deps and "terratorch==1.2.11" in deps


def test_console_script_points_at_the_cli() -> None:
    assert _pyproject()["project"]["scripts"]["e2s"] == "e2s_utils.cli:main"


@pytest.mark.parametrize("command", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_resolves_to_a_callable(command: str) -> None:
    module_name, func_name = cli.SUBCOMMANDS[command][0].split(":")
    assert callable(getattr(importlib.import_module(module_name), func_name))


def test_cli_usage_and_unknown_command(capsys) -> None:
    assert cli.main([]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert cli.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_reproduce_dry_run_lists_the_sequence(capsys) -> None:
    assert cli.main(["reproduce", "--profile", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "20_extract__dofa" in out and "50_long_training" in out
