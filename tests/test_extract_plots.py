"""Tests of the extraction stage's figures and recipe table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from e2s_utils.extract import recipe_table
from e2s_utils.plots import embeddings as P


def _x(n: int = 20, c: int = 6, t: int = 4, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, c, t)).astype(np.float32)
    x[:, 0, :] = 3.0  # one constant channel
    return x


def test_flatten_is_channel_major() -> None:
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    np.testing.assert_array_equal(P.flatten(x)[0, :5], [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="shape"):
        P.flatten(np.zeros(3))


def test_dimension_stats() -> None:
    stats = P.dimension_stats(_x())
    assert len(stats) == 24 and list(stats["season"][:4]) == [0, 1, 2, 3]
    assert (stats["std"][:4] == 0).all() and (stats["std"][4:] > 0).all()
    np.testing.assert_allclose(stats["mean"][:4], 3.0)


def test_dimension_statistics_figure() -> None:
    fig = P.dimension_statistics(_x(), "dofa")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "4 of 24 dimensions constant" in fig.axes[1].get_title()


def test_projection_pca_and_labels() -> None:
    x = _x(30)
    ids = [f"id{i}" for i in range(30)]
    labels = pd.Series(np.linspace(0, 1, 20), index=ids[:20], name="landcover_forest")
    fig = P.projection(x, ids, labels, "dofa")
    ax = fig.axes[0]
    assert "landcover_forest" in ax.get_title() and "PC 1" in ax.get_xlabel()
    assert sum(len(c.get_offsets()) for c in ax.collections) == 30  # labelled + grey
    cls = pd.Series([0.0, 1.0] * 15, index=ids, name="random_cls")
    fig = P.projection(x, ids, cls, "dofa", kind="classification")
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="ids"):
        P.projection(x, ids[:5], labels, "dofa")


def test_projection_pca_matches_sklearn_variance_order() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 8)) * np.array([10, 1, 1, 1, 1, 1, 1, 1])
    coords, (xl, _) = P.project_2d(x.astype(np.float32))
    # standardised first: the big-scale column no longer dominates PC 1
    assert coords.shape == (50, 2) and "PC 1" in xl
    assert abs(coords[:, 0].std() - coords[:, 1].std()) < coords[:, 0].std()


def test_projection_tsne() -> None:
    coords, labels = P.project_2d(_x(12), method="tsne", seed=0)
    assert coords.shape == (12, 2) and labels == ("t-SNE 1", "t-SNE 2")
    assert np.isfinite(coords).all() and coords.std(axis=0).min() > 0


def test_recipe_table_lists_band_groups() -> None:
    table = recipe_table("mean_baseline", "as_intended", "micro")
    assert list(table.columns) == ["field", "value"]
    groups = table[table["field"].str.startswith("group")]
    assert list(groups["field"]) == ["group 0: s1", "group 1: s2l1c", "group 2: s2l2a"]
    assert table.set_index("field").loc["output (C, T)", "value"] == "(256, 4)"


def test_embedding_summary() -> None:
    from e2s_utils.extract import embedding_summary

    x = _x(30)
    ids = [f"id{i}" for i in range(30)]
    labels = pd.Series(x[:20, 1, 2].astype(float), index=ids[:20], name="t")  # one dim = label
    out = embedding_summary(x, ids, labels)
    assert out["n"] == 30 and out["dims"] == 24 and out["n_labelled"] == 20
    assert out["constant_fraction"] == pytest.approx(4 / 24)
    assert out["max_abs_corr"] == pytest.approx(1.0)
    assert "max_abs_corr" not in embedding_summary(x, ids)
