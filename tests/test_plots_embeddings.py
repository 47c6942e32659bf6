"""Figures of one model's embeddings: per-dimension statistics and 2-D projections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from e2s_utils.plots import embeddings as P


def _x(n: int = 20, c: int = 6, t: int = 4, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, c, t)).astype(np.float32)
    x[:, 0, :] = 3.0  # one constant channel
    return x


def test_flatten_is_channel_major() -> None:
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    np.testing.assert_array_equal(P.flatten(x)[0, :5], [0, 1, 2, 3, 4])
    assert P.flatten(np.zeros((2, 5))).shape == (2, 5)
    with pytest.raises(ValueError, match="shape"):
        P.flatten(np.zeros(3))


def test_dimension_stats() -> None:
    stats = P.dimension_stats(_x())
    assert len(stats) == 24 and list(stats["season"][:4]) == [0, 1, 2, 3]
    assert list(stats["channel"][:5]) == [0, 0, 0, 0, 1]
    assert (stats["std"][:4] == 0).all() and (stats["std"][4:] > 0).all()
    np.testing.assert_allclose(stats["mean"][:4], 3.0)


def test_dimension_statistics_figure() -> None:
    fig = P.dimension_statistics(_x(), "dofa")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "4 of 24 dimensions constant" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="no embeddings"):
        P.dimension_statistics(np.zeros((0, 2, 2)), "dofa")


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


def test_projection_pca_is_sklearn_pca_of_standardised_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 8)) * np.array([10, 1, 1, 1, 1, 1, 1, 1]) + np.arange(8)
    x[:, 0] += 3 * x[:, 1]  # correlated columns: the principal axes are not the coordinate axes
    x[:, 3] = 2.0  # a constant dimension, dropped before the standardisation
    coords, (xlabel, ylabel) = P.project_2d(x)
    keep = [0, 1, 2, 4, 5, 6, 7]
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / x[:, keep].std(axis=0)
    reference = PCA(n_components=2, svd_solver="full").fit(z)
    expected = reference.transform(z)
    assert coords.shape == (50, 2)
    for k in range(2):  # equal up to the sign of each component
        sign = np.sign(coords[:, k] @ expected[:, k])
        np.testing.assert_allclose(sign * coords[:, k], expected[:, k], atol=1e-8)
    ratio = reference.explained_variance_ratio_
    assert xlabel == f"PC 1 ({ratio[0]:.0%} of variance)" and ylabel == f"PC 2 ({ratio[1]:.0%})"
    # standardised, the large-scale column no longer makes PC 1 on its own
    unscaled = PCA(n_components=1).fit(x[:, keep] - x[:, keep].mean(axis=0))
    assert abs(unscaled.components_[0, 0]) > 0.9 > abs(reference.components_[0, 0])
    flat = P.project_2d(np.full((5, 3), 7.0))
    assert flat[1] == ("constant 1", "constant 2") and not flat[0].any()
    with pytest.raises(ValueError, match="at least 3 samples"):
        P.project_2d(x[:2])
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        P.project_2d(x, method="umap")  # type: ignore[arg-type]


def test_projection_tsne() -> None:
    coords, labels = P.project_2d(_x(12), method="tsne", seed=0)
    assert coords.shape == (12, 2) and labels == ("t-SNE 1", "t-SNE 2")
    assert np.isfinite(coords).all() and coords.std(axis=0).min() > 0
