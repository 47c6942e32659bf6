"""Packaging: the pins agree everywhere and the ``e2s`` console script points at the CLI."""

from __future__ import annotations

import re
import tomllib

import pytest

from e2s_utils import paths


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
    assert _pyproject()["project"]["scripts"]["e2s"] == "e2s_utils.cli:run"


def test_run_exits_with_the_commands_status_after_freezing_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from e2s_utils import cli

    frozen: list[bool] = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == 3 and frozen == [True]
