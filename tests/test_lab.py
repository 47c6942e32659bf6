"""``e2s lab`` without a browser: the lab folder, the kernel it selects, the server command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from e2s_utils import cli, paths
from e2s_utils.cli import lab as cli_lab
from e2s_utils.explore import lab


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    notebooks, executed = tmp_path / "notebooks", tmp_path / "executed" / "smoke"
    notebooks.mkdir()
    executed.mkdir(parents=True)
    for name in ("10_a.ipynb", "20_b.ipynb"):
        (notebooks / name).write_text("{}")
    (executed / "10_a.ipynb").write_text("{}")
    return notebooks, executed


def test_prepare_links_sources_and_executed_copies(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    notebooks, executed = folders
    folder = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    assert folder.source == tmp_path / "lab" / "notebooks_source"
    assert folder.executed == tmp_path / "lab" / "notebooks_executed_smoke"
    assert folder.source.resolve() == notebooks.resolve()
    assert folder.executed.resolve() == executed.resolve()
    assert sorted(p.name for p in folder.source.iterdir()) == ["10_a.ipynb", "20_b.ipynb"]
    assert (folder.n_source, folder.n_executed) == (2, 1)
    readme = (folder.root / "README.md").read_text()
    assert "`notebooks_source/`" in readme and "`notebooks_executed_smoke/`" in readme


def test_prepare_is_idempotent_and_follows_a_new_target(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    notebooks, executed = folders
    lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    again = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    assert again.source.resolve() == notebooks.resolve()
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.ipynb").write_text("{}")
    moved = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=other, executed_dir=executed)
    assert moved.source.resolve() == other.resolve() and moved.n_source == 1


def test_prepare_refuses_to_replace_a_real_folder(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    notebooks, executed = folders
    (tmp_path / "lab" / "notebooks_source").mkdir(parents=True)
    with pytest.raises(lab.LabError, match="is not a link"):
        lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)


def test_prepare_without_a_run_creates_the_executed_folder(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    notebooks, _ = folders
    folder = lab.prepare(
        tmp_path / "lab", "demo", notebooks_dir=notebooks, executed_dir=tmp_path / "none" / "demo"
    )
    assert folder.executed.is_dir() and folder.n_executed == 0
    assert "e2s reproduce" in (folder.root / "README.md").read_text()
    with pytest.raises(lab.LabError, match="no notebooks"):
        lab.prepare(tmp_path / "lab2", "demo", notebooks_dir=tmp_path / "none")


def test_defaults_live_under_the_output_root(folders: tuple[Path, Path]) -> None:
    notebooks, _ = folders
    folder = lab.prepare(profile="smoke", notebooks_dir=notebooks)
    assert folder.root == (paths.output_root() / "lab").resolve()
    assert folder.executed.resolve() == (paths.executed_dir() / "smoke").resolve()


def test_the_lab_kernel_is_this_interpreter_under_the_notebooks_kernel_name(
    tmp_path: Path, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    notebooks, executed = folders
    folder = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    for path in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == lab.KERNEL_NAME
    env = lab.lab_environment(folder, {"JUPYTER_PATH": "/elsewhere", "MPLBACKEND": "Agg"})
    monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
    spec = KernelSpecManager().get_kernel_spec(lab.KERNEL_NAME)
    assert spec.argv[0] == sys.executable and spec.display_name == lab.KERNEL_DISPLAY_NAME
    assert Path(spec.resource_dir).is_relative_to(folder.root)


@pytest.mark.parametrize(
    ("backend", "kept"),
    [
        ("Agg", False),
        ("agg", False),
        ("svg", False),
        ("module://matplotlib_inline.backend_inline", True),
    ],
)
def test_the_server_environment(
    tmp_path: Path, folders: tuple[Path, Path], backend: str, kept: bool
) -> None:
    notebooks, executed = folders
    folder = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    env = lab.lab_environment(folder, {"JUPYTER_PATH": f"/a{os.pathsep}/b", "MPLBACKEND": backend})
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(folder.jupyter_dir), "/a", "/b"]
    assert ("MPLBACKEND" in env) == kept


def test_the_server_command(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    notebooks, executed = folders
    folder = lab.prepare(tmp_path / "lab", "smoke", notebooks_dir=notebooks, executed_dir=executed)
    cmd = lab.lab_command(folder, port=9999, open_browser=False, extra=["--x=1"])
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={folder.root}" in cmd
    assert "--ServerApp.port=9999" in cmd and "--ServerApp.port_retries=0" in cmd
    assert "--no-browser" in cmd and cmd[-1] == "--x=1"
    default = lab.lab_command(folder)
    assert (
        not any(a.startswith("--ServerApp.port") for a in default) and "--no-browser" not in default
    )


def test_the_command_line(
    tmp_path: Path,
    folders: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notebooks, executed = folders
    assert "lab" in cli.SUBCOMMANDS and callable(cli_lab.main)
    launched: dict[str, object] = {}
    monkeypatch.setattr(lab, "launch", lambda folder, **kw: launched.update(folder=folder, **kw))
    args = [
        *("--profile", "smoke", "--lab-dir", str(tmp_path / "lab")),
        *("--notebooks-dir", str(notebooks), "--executed-dir", str(executed)),
        *("--port", "9001", "--no-browser"),
    ]
    assert cli.main(["lab", *args, "--", "--IdentityProvider.token=t"]) == 0
    assert launched["port"] == 9001 and launched["open_browser"] is False
    assert launched["extra"] == ["--IdentityProvider.token=t"]
    out = capsys.readouterr().out
    assert "notebooks_source/  2 source notebook(s)" in out and "1 executed copy" in out
    launched.clear()
    assert cli_lab.main([*args, "--prepare-only"]) == 0 and not launched
    assert cli_lab.main(["--profile", "smoke", "--notebooks-dir", str(tmp_path / "none")]) == 2
    assert "no notebooks" in capsys.readouterr().err
