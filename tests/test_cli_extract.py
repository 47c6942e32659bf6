"""``e2s extract``: one model into its store; skipped ids reported; errors as one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2s_utils import cli, paths
from e2s_utils import store as S
from e2s_utils.data import SampleIndex, synthetic
from tests.helpers import FAKE_EXTRACTOR, register_fake_extractor, unregister_fake_extractor

N = 6


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "data", n=N, seed=3, workers=1)


@pytest.fixture(autouse=True)
def fake_model() -> Iterator[None]:
    register_fake_extractor()
    yield
    unregister_fake_extractor()


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    base = ["extract", "--model", FAKE_EXTRACTOR, "--size", "micro", "--data", str(data)]
    return [*base, "--out", str(out), "--no-progress", "--device", "cpu", *extra]


def test_reports_skipped_ids(data_root: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "corrupt"
    shutil.copytree(data_root, root)
    index = SampleIndex.from_root(root)
    bad = index.ids[2]
    index.path(bad, "s2l2a").write_bytes(index.path(bad, "s2l2a").read_bytes()[:200])
    assert cli.main(_argv(root, tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("e2s extract: error: ") and bad in err[0]
    assert cli.main(_argv(root, tmp_path / "out", "--on-error", "skip")) == 0
    captured = capsys.readouterr()
    assert f"skipped {bad}" in captured.err and "complete" in captured.out
    assert f"{N - 1} embedded, 1 skipped" in captured.out


def test_refuses_to_mix_configs_in_one_line(data_root: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(_argv(data_root, tmp_path, "--shard-size", "2")) == 0
    capsys.readouterr()
    assert cli.main(_argv(data_root, tmp_path, "--seed", "5", "--shard-size", "2")) == 2
    err = capsys.readouterr().err
    assert err.startswith("e2s extract: error: ") and "refusing to mix" in err
    assert "seed" in err and "delete" in err and "Traceback" not in err


def test_bad_arguments_are_error_lines(data_root: Path, tmp_path: Path, capsys, monkeypatch):
    assert cli.main(_argv(data_root, tmp_path, "--shard", "3/2")) == 2
    assert "shard must be (i, n) with 0 <= i < n, got (3, 2)" in capsys.readouterr().err
    monkeypatch.delenv("E2S_DATA_DIR", raising=False)
    assert cli.main(["extract", "--model", FAKE_EXTRACTOR, "--out", str(tmp_path)]) == 2
    assert "no dataset: pass --data DIR" in capsys.readouterr().err


def test_module_entry_point(data_root: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "e2s_utils.cli", "extract", "--model", "mean_baseline"]
        + ["--size", "micro", "--data", str(data_root), "--out", str(tmp_path), "--no-progress"],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "complete" in out.stdout
    st = S.EmbeddingStore(S.store_path(tmp_path, "mean_baseline", "as_intended", "micro"))
    assert st.read()[1].shape == (N, 256, 4)
