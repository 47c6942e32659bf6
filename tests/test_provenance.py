"""Figures and tables saved with provenance, byte-stable across reruns."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from e2s_utils import config, provenance  # noqa: E402


def _figure() -> plt.Figure:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 3, 2], label="q")
    ax.set_title("test")
    return fig


@pytest.fixture
def ctx():
    return config.setup("30_fusion", profile="smoke", device="cpu")


def test_figure_is_byte_stable_and_recorded(tmp_path, ctx) -> None:
    first = provenance.save_figure(_figure(), "curve", ctx, out_dir=tmp_path)
    assert [p.name for p in first] == ["curve.png", "curve.pdf"]
    blobs = [p.read_bytes() for p in first]
    assert blobs[0].startswith(b"\x89PNG") and blobs[1].startswith(b"%PDF")
    provenance.save_figure(_figure(), "curve", ctx, out_dir=tmp_path)
    assert [p.read_bytes() for p in first] == blobs
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    entry = manifest["curve"]
    assert entry["kind"] == "figure" and entry["notebook"] == "30_fusion"
    assert entry["profile"] == "smoke" and entry["parameters"]["fusion_epochs"] == 4
    assert set(entry["files"]) == {"curve.png", "curve.pdf"}
    assert {"sha", "dirty"} <= set(entry["git"]) and entry["versions"]["torch"]
    assert entry["device"].startswith("cpu")
    assert "SYNTHETIC" in entry["banner"]


def test_synthetic_figures_carry_the_banner(tmp_path, ctx) -> None:
    fig = _figure()
    provenance.save_figure(fig, "stamped", ctx, out_dir=tmp_path)
    texts = [t.get_text() for t in fig.texts]
    assert any("SYNTHETIC data" in t and "randomly initialised" in t for t in texts)
    provenance.save_figure(fig, "stamped", ctx, out_dir=tmp_path)
    assert sum("SYNTHETIC" in t.get_text() for t in fig.texts) == 1


def test_table_written_as_csv_and_markdown(tmp_path, ctx) -> None:
    df = pd.DataFrame({"method": ["a", "b"], "q_bar": [1.23456, float("nan")]})
    csv, md = provenance.save_table(df, "table1", ctx, out_dir=tmp_path)
    assert pd.read_csv(csv)["method"].tolist() == ["a", "b"]
    text = md.read_text()
    assert "| method" in text and "1.235" in text and "SYNTHETIC" in text
    before = (csv.read_bytes(), md.read_bytes())
    provenance.save_table(df, "table1", ctx, out_dir=tmp_path)
    assert (csv.read_bytes(), md.read_bytes()) == before
    assert provenance.read_manifest(tmp_path)["table1"]["kind"] == "table"


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_bad_names_are_refused(tmp_path, ctx, name) -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        provenance.save_table(pd.DataFrame({"a": [1]}), name, ctx, out_dir=tmp_path)


def test_corrupt_manifest_names_the_fix(tmp_path, ctx) -> None:
    (tmp_path / "MANIFEST.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete it and rerun"):
        provenance.save_figure(_figure(), "x", ctx, out_dir=tmp_path)
