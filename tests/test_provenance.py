"""Figures and tables saved with their provenance, byte-stable across reruns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from e2s_utils import config, provenance
from e2s_utils.evaluate import get_protocol


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 3, 2], label="q")
    ax.set_title("test")
    return fig


@pytest.fixture
def ctx() -> config.RunContext:
    return config.setup("30_fusion", profile="smoke", device="cpu")


def test_figure_is_byte_stable_and_recorded(tmp_path: Path, ctx) -> None:
    saved = provenance.save_figure(_figure(), "curve", ctx, out_dir=tmp_path)
    assert isinstance(saved, provenance.SavedFigure)
    assert [p.name for p in saved.paths] == ["curve.png", "curve.pdf"]
    blobs = [p.read_bytes() for p in saved.paths]
    assert blobs[0].startswith(b"\x89PNG") and blobs[1].startswith(b"%PDF")
    assert saved.png == tmp_path / "curve.png" and saved._repr_png_() == blobs[0]
    provenance.save_figure(_figure(), "curve", ctx, out_dir=tmp_path)
    assert [p.read_bytes() for p in saved.paths] == blobs
    entry = json.loads((tmp_path / "MANIFEST.json").read_text())["curve"]
    assert entry["kind"] == "figure" and entry["notebook"] == "30_fusion"
    assert entry["profile"] == "smoke" and entry["parameters"]["fusion_epochs"] == 4
    assert entry["parameters"]["protocol"] == ctx.profile.protocol.to_dict()
    assert set(entry["files"]) == {"curve.png", "curve.pdf"}
    assert {"sha", "dirty"} <= set(entry["git"]) and entry["versions"]["torch"]
    assert entry["device"].startswith("cpu") and "SYNTHETIC" in entry["banner"]


def test_synthetic_figures_carry_the_banner_once(tmp_path: Path, ctx) -> None:
    fig = _figure()
    provenance.save_figure(fig, "stamped", ctx, out_dir=tmp_path)
    texts = [t.get_text() for t in fig.texts]
    assert any("SYNTHETIC data" in t and "randomly initialised" in t for t in texts)
    provenance.save_figure(fig, "stamped", ctx, out_dir=tmp_path)
    assert sum("SYNTHETIC" in t.get_text() for t in fig.texts) == 1


def test_the_style_is_applied_locally(tmp_path: Path, ctx) -> None:
    before = dict(matplotlib.rcParams)
    provenance.save_figure(_figure(), "styled", ctx, out_dir=tmp_path)
    assert dict(matplotlib.rcParams) == before


def test_table_written_as_csv_and_markdown(tmp_path: Path, ctx) -> None:
    df = pd.DataFrame({"method": ["a", "b"], "q_bar": [1.23456, float("nan")]})
    csv, md = provenance.save_table(df, "table1", ctx, out_dir=tmp_path)
    assert pd.read_csv(csv)["method"].tolist() == ["a", "b"]
    text = md.read_text()
    assert "| method" in text and "1.235" in text and "SYNTHETIC" in text
    before = (csv.read_bytes(), md.read_bytes())
    provenance.save_table(df, "table1", ctx, out_dir=tmp_path)
    assert (csv.read_bytes(), md.read_bytes()) == before
    assert provenance.read_manifest(tmp_path)["table1"]["kind"] == "table"


def test_a_results_table_names_its_protocol(tmp_path: Path, ctx) -> None:
    protocol = get_protocol("paper", k_folds=5)
    df = pd.DataFrame({"method": ["a"], "q_bar": [1.0]})
    csv, md = provenance.save_table(df, "scores", ctx, out_dir=tmp_path, protocol=protocol)
    assert pd.read_csv(csv)["protocol"].tolist() == [protocol.label()]
    assert f"Protocol: {protocol.label()}" in md.read_text()
    assert "| protocol" not in md.read_text()
    assert provenance.read_manifest(tmp_path)["scores"]["protocol"] == protocol.to_dict()


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_bad_names_are_refused(tmp_path: Path, ctx, name: str) -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        provenance.save_table(pd.DataFrame({"a": [1]}), name, ctx, out_dir=tmp_path)


def test_corrupt_manifest_names_the_fix(tmp_path: Path, ctx) -> None:
    (tmp_path / "MANIFEST.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete it and rerun"):
        provenance.save_figure(_figure(), "x", ctx, out_dir=tmp_path)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_the_dirty_flag_ignores_the_runs_own_outputs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "figures").mkdir(parents=True)
    (repo / "e2s_utils").mkdir()
    for rel in ("README.md", "figures/curve.png", "e2s_utils/code.py"):
        (repo / rel).write_text("v1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    state = provenance.git_state(repo)
    assert len(state["sha"]) == 40 and state["dirty"] is False
    (repo / "README.md").write_text("v2\n")
    (repo / "figures" / "curve.png").write_text("v2\n")
    assert provenance.git_state(repo)["dirty"] is False  # a run's own outputs
    (repo / "e2s_utils" / "code.py").write_text("v2\n")
    assert provenance.git_state(repo)["dirty"] is True  # the code differs from the commit
    assert provenance.git_state(tmp_path / "elsewhere") == {"sha": None, "dirty": None}


def test_findings_are_saved_as_a_list_with_provenance(tmp_path: Path, ctx) -> None:
    protocol = get_protocol("paper", k_folds=5)
    text = "A beats B: ΔQ̄ = 1.2 (95 % CI 0.3 to 2.1).\n\n  Q̄ does not follow.  \n"
    md = provenance.save_findings(text, "findings", ctx, out_dir=tmp_path, protocol=protocol)
    lines = md.read_text().splitlines()
    bullets = [ln for ln in lines if ln.startswith("- ")]
    assert bullets == ["- A beats B: ΔQ̄ = 1.2 (95 % CI 0.3 to 2.1).", "- Q̄ does not follow."]
    assert lines[0].startswith("_SYNTHETIC") and f"Protocol: {protocol.label()}" in lines
    entry = provenance.read_manifest(tmp_path)["findings"]
    assert entry["kind"] == "findings" and entry["protocol"] == protocol.to_dict()
    assert entry["files"] == {"findings.md": provenance.sha256_file(md)}
