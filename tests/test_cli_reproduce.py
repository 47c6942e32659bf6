"""``e2s reproduce``: the notebooks run in order into executed copies; failures named by cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2s_utils import cli
from tests.helpers import two_notebooks, write_notebook


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    return two_notebooks(tmp_path / "notebooks")


def _argv(folder: Path, executed: Path, *extra: str) -> list[str]:
    return ["reproduce", "--profile", "smoke", "--notebooks-dir", str(folder)] + [
        "--executed-dir",
        str(executed),
        *extra,
    ]


def test_a_misspelled_parameter_is_one_error_line(notebooks: Path, tmp_path, capsys) -> None:
    assert cli.main(_argv(notebooks, tmp_path / "ex", "-p", "fusion_epoch", "2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("e2s reproduce: error: unknown parameter")
    assert "fusion_epoch" in err[0] and "10_first" in err[0]
    assert not (tmp_path / "ex").exists()


def test_dry_run_lists_the_sequence(capsys) -> None:
    assert cli.main(["reproduce", "--profile", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "20_extract__dofa" in out and "50_long_training" in out


def test_end_to_end_run_writes_copies_and_leaves_sources(notebooks, tmp_path, capsys) -> None:
    before = {p: p.read_bytes() for p in notebooks.glob("*.ipynb")}
    executed = tmp_path / "executed"
    code = cli.main(_argv(notebooks, executed, "-p", "fusion_epochs", "3"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert {p: p.read_bytes() for p in notebooks.glob("*.ipynb")} == before
    copy = executed / "smoke" / "10_first.ipynb"
    assert "smoke 3" in json.dumps(json.loads(copy.read_text()))
    assert "10_first" in out and "30_fusion" in out and "wall time" in out


def test_failing_notebook_exits_1_naming_notebook_and_cell(notebooks, tmp_path, capsys) -> None:
    write_notebook(notebooks / "30_fusion.ipynb", ["x = 1", "raise ValueError('boom')", "y = 2"])
    assert cli.main(_argv(notebooks, tmp_path / "ex", "--only", "30")) == 1
    err = capsys.readouterr().err
    assert "30_fusion failed at cell 4" in err and "boom" in err
    assert not (tmp_path / "ex" / "smoke" / "10_first.ipynb").exists()


def test_misspelled_parameter_inside_a_notebook_fails_at_its_cell(tmp_path, capsys) -> None:
    folder = tmp_path / "nbs"
    write_notebook(
        folder / "10_typo.ipynb",
        ['ctx = config.setup("30_fusion", profile=profile, fusion_epoch=fusion_epochs)'],
    )
    assert cli.main(_argv(folder, tmp_path / "ex")) == 1
    err = capsys.readouterr().err
    assert "10_typo failed at cell 3" in err and "fusion_epoch" in err
