"""Figures of the extraction stage: a look at one model's embeddings.

Both functions take the float32 ``(n, C, T)`` array of an embedding store (or an ``(n, d)``
matrix) and return a matplotlib ``Figure`` without saving it (notebooks save through
:func:`e2s_utils.provenance.save_figure`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2s_utils.bands import SEASONS
from e2s_utils.plots.style import PALETTE, styled

#: A dimension whose standard deviation over samples is below this is called constant.
CONSTANT_STD: float = 1e-6


def flatten(x: np.ndarray) -> np.ndarray:
    """``(n, C, T)`` -> ``(n, C * T)`` channel-major, time fastest (the compressor's order)."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x
    if x.ndim != 3:
        raise ValueError(f"embeddings must be (n, C, T) or (n, d), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def dimension_stats(x: np.ndarray) -> pd.DataFrame:
    """Per-dimension statistics over samples: ``dim``, ``channel``, ``season``, ``mean``, ``std``.

    Args:
        x: ``(n, C, T)`` embeddings (or ``(n, d)``, then ``season`` is 0).
    """
    x = np.asarray(x, dtype=np.float64)
    c, t = (x.shape[1], x.shape[2]) if x.ndim == 3 else (x.shape[1], 1)
    flat = flatten(x)
    dims = np.arange(flat.shape[1])
    return pd.DataFrame(
        {
            "dim": dims,
            "channel": dims // t,
            "season": dims % t,
            "mean": flat.mean(axis=0),
            "std": flat.std(axis=0),
        }
    ).assign(channels=c)


@styled
def dimension_statistics(x: np.ndarray, model: str, title: str | None = None) -> Figure:
    """Per-dimension mean and spread, the distribution of per-dimension std, and of all values.

    Left: every dimension's mean over samples with a band of one std (dimensions in the store's
    channel-major order, seasons coloured when ``T > 1``). Middle: histogram of the per-dimension
    std on a log axis (constant dimensions counted apart). Right: histogram of every value.

    Args:
        x: ``(n, C, T)`` embeddings of one model.
        model: registry name (sets the colour and the title).
        title: figure title (default: the model and the shape).
    """
    x = np.asarray(x)
    if x.shape[0] < 1:
        raise ValueError("no embeddings to plot")
    stats = dimension_stats(x)
    t = int(stats["season"].max()) + 1
    colour = PALETTE.get(model, "#333333")
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    ax_mean, ax_std, ax_val = fig.subplots(1, 3, width_ratios=(2.2, 1, 1))
    for s in range(t):
        part = stats[stats["season"] == s]
        label = f"{SEASONS[s]}" if t == len(SEASONS) else (f"season {s}" if t > 1 else None)
        c = f"C{s}" if t > 1 else colour
        ax_mean.plot(part["channel"], part["mean"], lw=0.6, label=label, color=c)
        ax_mean.fill_between(
            part["channel"],
            part["mean"] - part["std"],
            part["mean"] + part["std"],
            alpha=0.15,
            lw=0,
            color=c,
        )
    ax_mean.set_xlabel("channel")
    ax_mean.set_ylabel("mean over samples (band: ±1 std)")
    if t > 1:
        ax_mean.legend(fontsize=7, ncols=min(t, 4))
    std = stats["std"].to_numpy()
    constant = std < CONSTANT_STD
    if (~constant).any():
        ax_std.hist(np.log10(std[~constant]), bins=40, color=colour)
    ax_std.set_xlabel("log10 std of a dimension")
    ax_std.set_ylabel("dimensions")
    ax_std.set_title(f"{int(constant.sum())} of {len(std)} dimensions constant", fontsize=8)
    values = flatten(x).ravel()
    lo, hi = np.percentile(values, [0.5, 99.5])
    ax_val.hist(np.clip(values, lo, hi), bins=60, color=colour)
    ax_val.set_xlabel("value (0.5-99.5 % range)")
    ax_val.set_ylabel("count")
    fig.suptitle(title or f"{model}: {x.shape[0]} samples, embedding {tuple(x.shape[1:])}")
    return fig


def project_2d(
    x: np.ndarray, method: Literal["pca", "tsne"] = "pca", seed: int = 0
) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D projection of standardised embeddings (constant dimensions dropped).

    Args:
        x: ``(n, C, T)`` or ``(n, d)``.
        method: ``pca`` or ``tsne`` (perplexity ``min(30, (n - 1) / 3)``, PCA initialisation).
        seed: random state of t-SNE.

    Returns:
        ``(n, 2)`` coordinates and the two axis labels (with explained variance for PCA).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    flat = flatten(x).astype(np.float64)
    if flat.shape[0] < 3:
        raise ValueError(f"a 2-D projection needs at least 3 samples, got {flat.shape[0]}")
    std = flat.std(axis=0)
    keep = std >= CONSTANT_STD
    if not keep.any():
        return np.zeros((flat.shape[0], 2)), ("constant 1", "constant 2")
    z = (flat[:, keep] - flat[:, keep].mean(axis=0)) / std[keep]
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed, svd_solver="full").fit(z)
        coords = pca.transform(z)
        ev = pca.explained_variance_ratio_
        return coords, (f"PC 1 ({ev[0]:.0%} of variance)", f"PC 2 ({ev[1]:.0%})")
    if method == "tsne":
        perplexity = float(min(30.0, (flat.shape[0] - 1) / 3))
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        return coords, ("t-SNE 1", "t-SNE 2")
    raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")


@styled
def projection(
    x: np.ndarray,
    ids: list[str],
    labels: pd.Series,
    model: str,
    method: Literal["pca", "tsne"] = "pca",
    kind: Literal["regression", "classification"] = "regression",
    seed: int = 0,
) -> Figure:
    """2-D projection of the embeddings, coloured by a label (unlabelled samples in grey).

    Args:
        x: ``(n, C, T)`` embeddings.
        ids: the ids of the rows of ``x``.
        labels: label values indexed by id (a :class:`~e2s_utils.data.labels.LabelTask`'s
            ``labels``); its ``name`` titles the colour bar.
        model: registry name (for the title).
        method: ``pca`` or ``tsne``.
        kind: ``regression`` (continuous colour map) or ``classification`` (one colour a class).
        seed: random state of t-SNE.
    """
    if len(ids) != np.asarray(x).shape[0]:
        raise ValueError(f"{len(ids)} ids for {np.asarray(x).shape[0]} embeddings")
    coords, (xlabel, ylabel) = project_2d(x, method=method, seed=seed)
    values = labels.reindex(ids).to_numpy(dtype=float)
    has = np.isfinite(values)
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.subplots()
    if (~has).any():
        ax.scatter(coords[~has, 0], coords[~has, 1], s=10, c="#d0d0d0", label="no label", lw=0)
    name = labels.name or "label"
    if kind == "classification":
        for k, cls in enumerate(np.unique(values[has])):
            sel = has & (values == cls)
            ax.scatter(
                coords[sel, 0], coords[sel, 1], s=14, color=f"C{k}", label=f"{name} = {cls:g}", lw=0
            )
        ax.legend(fontsize=7)
    elif has.any():
        points = ax.scatter(
            coords[has, 0], coords[has, 1], s=14, c=values[has], cmap="viridis", lw=0
        )
        fig.colorbar(points, ax=ax, label=name)
        if (~has).any():
            ax.legend(fontsize=7, loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{model}: {method.upper()} of {len(ids)} embeddings, coloured by {name}")
    return fig
