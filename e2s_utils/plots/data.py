"""Figures of the data tour: bands, seasons, value distributions, no data, labels, real patches.

Every function returns a matplotlib ``Figure`` and never saves it (notebooks save through
:func:`e2s_utils.provenance.save_figure`). Cubes are raw ``(4, C, H, W)`` arrays as the reader
returns them (S2 digital numbers, S1 dB).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2s_utils.bands import (
    BANDS,
    S2_BANDWIDTH_NM,
    S2_NATIVE_GSD_M,
    S2_OFFSET_V11,
    S2_WAVELENGTH_NM,
    SEASONS,
    STATS,
    Modality,
)
from e2s_utils.plots.style import styled

#: Reflectance (digital number) mapped to full brightness in colour composites.
RGB_SCALE: float = 3000.0
TRUE_COLOUR: tuple[str, str, str] = ("B04", "B03", "B02")
FALSE_COLOUR: tuple[str, str, str] = ("B08", "B04", "B03")
_GSD_COLOURS = {10: "#1b9e77", 20: "#d95f02", 60: "#7570b3"}


def composite(
    image: np.ndarray, modality: Modality, bands: Sequence[str] = TRUE_COLOUR
) -> np.ndarray:
    """An (H, W, 3) display image in [0, 1] from one season ``(C, H, W)`` of an S2 cube.

    A fixed linear scale (``RGB_SCALE``) with a mild gamma keeps real and synthetic patches
    comparable; no-data pixels (DN 0) show black.
    """
    idx = [BANDS[modality].index(b) for b in bands]
    rgb = np.stack([image[i] for i in idx], axis=-1).astype(np.float32) / RGB_SCALE
    return np.clip(rgb, 0, 1) ** (1 / 1.4)


def sar_composite(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) false-colour S1 image: R = VV, G = VH, B = VV - VH, each stretched in dB."""
    vv, vh = image[0], image[1]
    r = np.clip((vv + 25) / 25, 0, 1)
    g = np.clip((vh + 32) / 25, 0, 1)
    b = np.clip((vv - vh) / 15, 0, 1)
    return np.stack([r, g, b], axis=-1)


@styled
def band_catalogue() -> Figure:
    """Sentinel-2 bands against wavelength: centre, bandwidth, native resolution, L1C/L2A presence."""
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    for i, band in enumerate(BANDS["s2l1c"]):
        wl, bw, gsd = S2_WAVELENGTH_NM[band], S2_BANDWIDTH_NM[band], S2_NATIVE_GSD_M[band]
        in_l2a = band in BANDS["s2l2a"]
        ax.barh(
            i,
            bw,
            left=wl - bw / 2,
            height=0.7,
            color=_GSD_COLOURS[gsd],
            alpha=1.0 if in_l2a else 0.35,
            hatch=None if in_l2a else "//",
        )
        ax.text(wl + bw / 2 + 15, i, f"{band} {wl:.0f} nm", va="center", fontsize=7)
    for gsd, colour in _GSD_COLOURS.items():
        ax.barh([], [], color=colour, label=f"{gsd} m native")
    ax.barh([], [], color="#999999", alpha=0.35, hatch="//", label="L1C only (B10)")
    ax.set_yticks([])
    ax.set_xlabel("wavelength (nm)")
    ax.set_xlim(350, 2500)
    ax.set_title(
        "Sentinel-2 bands (all resampled to 10 m on the 264 x 264 grid); S1: VV, VH at 5.405 GHz"
    )
    ax.legend(loc="lower right", fontsize=7)
    return fig


@styled
def seasons(cube: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Each season of one sample: L2A true colour, L1C true colour, false colour, S1 composite.

    Args:
        cube: ``{"s1": (4, 2, H, W), "s2l1c": (4, 13, H, W), "s2l2a": (4, 12, H, W)}``
            (any subset; rows appear for the modalities present).
        title: figure title.
    """
    rows: list[tuple[str, object]] = []
    if "s2l2a" in cube:
        rows.append(("L2A true colour", lambda t: composite(cube["s2l2a"][t], "s2l2a")))
    if "s2l1c" in cube:
        rows.append(("L1C true colour", lambda t: composite(cube["s2l1c"][t], "s2l1c")))
        rows.append(
            (
                "L1C false colour\n(B08, B04, B03)",
                lambda t: composite(cube["s2l1c"][t], "s2l1c", FALSE_COLOUR),
            )
        )
    elif "s2l2a" in cube:
        rows.append(
            (
                "L2A false colour\n(B08, B04, B03)",
                lambda t: composite(cube["s2l2a"][t], "s2l2a", FALSE_COLOUR),
            )
        )
    if "s1" in cube:
        rows.append(("S1 (VV, VH, VV-VH)", lambda t: sar_composite(cube["s1"][t])))
    fig = Figure(figsize=(2.1 * len(SEASONS), 2.1 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(SEASONS), squeeze=False)
    for r, (label, make) in enumerate(rows):
        for t, season in enumerate(SEASONS):
            ax = axes[r, t]
            ax.imshow(make(t), interpolation="nearest")  # type: ignore[operator]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(season)
            if t == 0:
                ax.set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


@styled
def value_histograms(values: Mapping[str, np.ndarray], max_cols: int = 7) -> Figure:
    """Per-band value histograms against both statistics tables.

    Args:
        values: modality -> ``(C, N)`` sampled raw values (zeros of S2 no data are left out).
        max_cols: panels per row.

    Each panel shows the raw values, the downstream table's mean (solid) +- std (shaded) and the
    v1.1 table's mean minus the 1000 offset (dashed) on the same raw axis.
    """
    panels = [(m, b, i) for m in values for i, b in enumerate(BANDS[m])]  # type: ignore[index]
    ncols = min(max_cols, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig = Figure(figsize=(1.9 * ncols, 1.6 * nrows + 0.5))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (m, band, i) in zip(axes, panels):
        v = values[m][i]
        if m != "s1":
            v = v[v > 0]
        lo, hi = np.percentile(v, [0.5, 99.5]) if v.size else (0, 1)
        ax.hist(v, bins=60, range=(lo, hi), color="#4d4d4d", alpha=0.8, density=True)
        down = STATS["downstream"][m]  # type: ignore[index]
        v11 = STATS["v1.1"][m]  # type: ignore[index]
        mu, sd = down.mean[band], down.std[band]
        ax.axvspan(mu - sd, mu + sd, color="#2166ac", alpha=0.12)
        ax.axvline(mu, color="#2166ac", lw=1.2)
        shift = 0.0 if m == "s1" else S2_OFFSET_V11
        ax.axvline(v11.mean[band] - shift, color="#b2182b", lw=1.2, ls="--")
        ax.set_title(f"{m} {band}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Raw values; blue: downstream mean +- std; red dashed: v1.1 mean - 1000 (S2)", fontsize=8
    )
    fig.tight_layout()
    return fig


@styled
def nodata(
    fractions: np.ndarray, example: np.ndarray | None = None, example_id: str = ""
) -> Figure:
    """Distribution of the no-data fraction and, optionally, the S2 no-data mask of one sample.

    Args:
        fractions: per-sample fraction of zero S2 pixels.
        example: an S2 cube ``(4, C, H, W)`` to show per season (zeros = no data).
        example_id: its id (shortened in the title).
    """
    ncols = 1 + (len(SEASONS) if example is not None else 0)
    fig = Figure(figsize=(2.6 + 1.8 * (ncols - 1), 2.4))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    fr = np.asarray(fractions, dtype=float)
    axes[0].hist(fr, bins=30, color="#4d4d4d")
    axes[0].set_xlabel("fraction of zero S2 pixels")
    axes[0].set_ylabel("samples")
    axes[0].set_title(f"{(fr > 0).mean():.0%} of samples have no data", fontsize=8)
    if example is not None:
        for t, season in enumerate(SEASONS):
            ax = axes[1 + t]
            ax.imshow((example[t] == 0).all(axis=0), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{season}: no data", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        fig.suptitle(f"sample {example_id[:12]}...", fontsize=8)
    fig.tight_layout()
    return fig


@styled
def label_distributions(labels: pd.DataFrame, n_samples: int, max_cols: int = 4) -> Figure:
    """One histogram per task, titled with its kind and coverage.

    Args:
        labels: long frame with columns ``task``, ``kind`` and ``label``
            (:func:`e2s_utils.data.labels.labels_frame`).
        n_samples: number of samples in the dataset (the coverage denominator).
        max_cols: panels per row.
    """
    names = sorted(set(labels["task"]))
    ncols = min(max_cols, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(2.5 * ncols, 2.0 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        rows = labels[labels["task"] == name]
        v = rows["label"].to_numpy(dtype=float)
        kind = str(rows["kind"].iloc[0])
        ax.hist(v, bins=25 if kind == "regression" else 2, color="#4d4d4d")
        ax.set_title(f"{name} ({kind[:3]}.)\n{len(v)} ids, {len(v) / n_samples:.0%}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


@styled
def real_vs_synthetic(
    real_patches: Sequence[object], synthetic_cubes: Sequence[Mapping[str, np.ndarray]]
) -> Figure:
    """Real BigEarthNet patches (top) beside synthetic cubes (bottom): L2A true colour and S1.

    Args:
        real_patches: ``RealPatch`` objects (``e2s_utils.data.real``).
        synthetic_cubes: cubes with ``s2l2a`` and ``s1``; the summer season is shown.
    """
    n = max(len(real_patches), len(synthetic_cubes))
    fig = Figure(figsize=(1.7 * n, 7.2))
    axes = fig.subplots(4, n, squeeze=False)
    for j in range(n):
        if j < len(real_patches):
            p = real_patches[j]
            axes[0, j].imshow(composite(p.s2l2a, "s2l2a"))  # type: ignore[attr-defined]
            axes[1, j].imshow(sar_composite(p.s1))  # type: ignore[attr-defined]
            axes[0, j].set_title(f"real, {p.season}\n{p.date}", fontsize=7)  # type: ignore[attr-defined]
        if j < len(synthetic_cubes):
            c = synthetic_cubes[j]
            axes[2, j].imshow(composite(c["s2l2a"][1], "s2l2a"))
            axes[3, j].imshow(sar_composite(c["s1"][1]))
            axes[2, j].set_title("synthetic, summer", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    for r, label in enumerate(("real L2A", "real S1", "synthetic L2A", "synthetic S1")):
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(
        "Real: BigEarthNet examples, 120 x 120 (CDLA-Permissive-1.0; contains modified Copernicus "
        "Sentinel data). Synthetic: 264 x 264",
        fontsize=7,
    )
    fig.tight_layout()
    return fig


@styled
def band_medians(
    real_medians: Mapping[str, float], synthetic_medians: Mapping[str, float]
) -> Figure:
    """Median L2A reflectance per band, real against synthetic, with the factor-2 tolerance band."""
    bands = [b for b in BANDS["s2l2a"] if b in real_medians]
    wl = [S2_WAVELENGTH_NM[b] for b in bands]
    r = np.array([real_medians[b] for b in bands])
    s = np.array([synthetic_medians[b] for b in bands])
    fig = Figure(figsize=(5.5, 3.0))
    ax = fig.add_subplot()
    ax.fill_between(wl, r / 2, r * 2, color="#999999", alpha=0.2, label="real x 1/2 .. x 2")
    ax.plot(wl, r, "o-", color="#000000", label="real (BigEarthNet examples)")
    ax.plot(wl, s, "s--", color="#d95f02", label="synthetic")
    for w, b in zip(wl, bands):
        ax.annotate(b, (w, 0), xytext=(0, 2), textcoords="offset points", fontsize=6, ha="center")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("median L2A DN")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return fig


@styled
def land_cover(
    classes: np.ndarray, class_names: Sequence[str], rgb: np.ndarray | None = None
) -> Figure:
    """The latent land-cover map of one synthetic sample, optionally beside its summer image."""
    from matplotlib.colors import ListedColormap

    colours = [
        "#1b7837",
        "#dfc27d",
        "#8073ac",
        "#fee08b",
        "#b8e186",
        "#d73027",
        "#4575b4",
        "#bf812d",
        "#9ecae1",
    ][: len(class_names)]
    fig = Figure(figsize=(7.4 if rgb is not None else 4.6, 3.2))
    axes = fig.subplots(1, 2 if rgb is not None else 1, squeeze=False)[0]
    axes[0].imshow(
        classes,
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=len(colours) - 0.5,
        interpolation="nearest",
    )
    handles = [
        axes[0].scatter([], [], color=c, marker="s", label=n) for c, n in zip(colours, class_names)
    ]
    fig.legend(handles=handles, fontsize=7, loc="center right", frameon=False)
    axes[0].set_title("latent land cover", fontsize=8)
    if rgb is not None:
        axes[1].imshow(rgb)
        axes[1].set_title("summer, L2A true colour", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    return fig
