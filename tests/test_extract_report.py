"""What an extraction run did and cost, and a model's recipe and embeddings as tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils.extract import (
    RESOURCE_COLUMNS,
    RESOURCE_SUMMARY_COLUMNS,
    ExtractReport,
    append_resources,
    embedding_summary,
    read_resources,
    recipe_table,
    resources_path,
)


def _report(model: str, **kw: object) -> ExtractReport:
    base: dict = dict(
        model=model,
        preset="as_intended",
        size="micro",
        device="cpu",
        amp=False,
        shard="0/1",
        batch_size=2,
        num_workers=0,
        store="s",
    )
    base.update(kw)
    return ExtractReport(**base)


def test_resources_table_appends_one_row_per_run(tmp_path: Path) -> None:
    assert list(read_resources(tmp_path).columns) == list(RESOURCE_COLUMNS)
    first = _report("dofa", n_samples=4, skipped={"x": "corrupt"}, shards_written=[0, 1])
    path = append_resources(tmp_path, first)
    append_resources(tmp_path, _report("croma", seconds=1.23456, preset="as_published_code"))
    assert path == resources_path(tmp_path) == tmp_path / "embeddings" / "resources.csv"
    table = read_resources(tmp_path)
    assert table["model"].tolist() == ["dofa", "croma"]
    assert table.loc[0, "skipped"] == 1 and table.loc[0, "shards_written"] == 2
    assert table.loc[1, "seconds"] == 1.235
    assert read_resources(tmp_path, model="croma")["model"].tolist() == ["croma"]
    assert read_resources(tmp_path, preset="as_intended")["model"].tolist() == ["dofa"]
    assert list(read_resources(tmp_path, summary=True).columns) == list(RESOURCE_SUMMARY_COLUMNS)
    assert path.read_text().count("model,preset") == 1  # the header is written once


def test_recipe_table_lists_band_groups() -> None:
    table = recipe_table("mean_baseline", "as_intended", "micro")
    assert list(table.columns) == ["field", "value"]
    groups = table[table["field"].str.startswith("group")]
    assert list(groups["field"]) == ["group 0: s1", "group 1: s2l1c", "group 2: s2l2a"]
    fields = table.set_index("field")["value"]
    assert fields["output (C, T)"] == "(256, 4)" and fields["checkpoint file"] == "-"
    dofa = recipe_table("dofa", "as_intended", "full").set_index("field")["value"]
    assert dofa["loads checkpoint"] == "True" and dofa["checkpoint file"].endswith(".pth")


def test_embedding_summary() -> None:
    x = np.random.default_rng(0).standard_normal((30, 6, 4)).astype(np.float32)
    x[:, 0, :] = 3.0
    ids = [f"id{i}" for i in range(30)]
    labels = pd.Series(x[:20, 1, 2].astype(float), index=ids[:20], name="t")  # one dim = label
    out = embedding_summary(x, ids, labels)
    assert out["n"] == 30 and out["dims"] == 24 and out["n_labelled"] == 20
    assert out["constant_fraction"] == pytest.approx(4 / 24)
    assert out["max_abs_corr"] == pytest.approx(1.0)
    assert "max_abs_corr" not in embedding_summary(x, ids)
