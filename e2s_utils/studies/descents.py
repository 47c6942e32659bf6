"""Descents of a validation-MSE curve on the log-epoch axis, and whether rate drops explain them.

:func:`detect_descents` smooths ``log10 MSE`` against ``log10 epoch``, keeps prominent extrema, and
cuts the curve into descents separated by bumps; two descents make a double descent.
:func:`drop_coincidences` tells, for each descent, whether a learning-rate drop lies where it
starts or inside it: a descent that a drop can explain is no evidence of double descent by itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: A rate drop "coincides" with a descent when it lies inside it or at most this many decades of
#: epochs before its start.
COINCIDENCE_DECADES = 0.1


@dataclass
class DescentAnalysis:
    """Descents of a validation-MSE curve on the log-epoch axis.

    Attributes:
        minima: epochs of the prominent local minima of the smoothed curve (the curve's last
            point counts when it is still descending).
        maxima: epochs of the prominent interior local maxima (the bumps between descents).
        descents: ``(start epoch, end epoch, drop in log10 MSE)`` of each descent.
        double_descent: whether the curve descends, rises, and descends again.
        grid: the log-axis grid epochs; smoothed: the smoothed log10 MSE on it.
    """

    minima: list[float]
    maxima: list[float]
    descents: list[tuple[float, float, float]]
    double_descent: bool
    grid: np.ndarray
    smoothed: np.ndarray

    def smoothed_frame(self) -> pd.DataFrame:
        """The smoothed curve: columns ``epoch`` and ``val_mse`` (back on the linear scale)."""
        return pd.DataFrame({"epoch": self.grid, "val_mse": 10**self.smoothed})

    def descents_frame(self) -> pd.DataFrame:
        """One row per descent: ``start``, ``end`` (epochs) and ``drop`` (decades of MSE)."""
        return pd.DataFrame(self.descents, columns=["start", "end", "drop"])


def detect_descents(
    epochs: Sequence[float],
    mse: Sequence[float],
    *,
    points_per_decade: int = 40,
    sigma_decades: float = 0.08,
    min_prominence: float = 0.02,
) -> DescentAnalysis:
    """Find the descents of a validation-MSE curve, smoothed on the log-epoch axis.

    The curve (``log10 MSE`` against ``log10 epoch``, epochs >= 1) is averaged onto a uniform
    log grid, smoothed with a Gaussian of ``sigma_decades``, and its local extrema kept when
    their prominence (in ``log10 MSE``; 0.02 is a 5 % change) reaches ``min_prominence``. A
    descent runs from the start or a kept maximum down to the next kept minimum (or the end);
    two descents separated by a kept maximum make a double descent.

    Args:
        epochs: epochs of the MSE values (0 is dropped: no log position).
        mse: validation MSE values (> 0).
        points_per_decade: grid density.
        sigma_decades: smoothing width, in decades of epochs.
        min_prominence: smallest prominence of a kept extremum, in decades of MSE.

    Returns:
        The analysis.

    Raises:
        ValueError: for mismatched lengths, fewer than 3 positive epochs or non-positive MSE.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    e = np.asarray(epochs, dtype=float)
    y = np.asarray(mse, dtype=float)
    if e.shape != y.shape:
        raise ValueError(f"detect_descents: {e.shape[0]} epochs but {y.shape[0]} MSE values")
    keep = (e >= 1) & np.isfinite(y)
    e, y = e[keep], y[keep]
    if e.size < 3:
        raise ValueError("detect_descents needs at least 3 finite values at epochs >= 1")
    if np.any(y <= 0):
        raise ValueError("detect_descents: MSE values must be > 0 (log axis)")
    order = np.argsort(e)
    x, ly = np.log10(e[order]), np.log10(y[order])
    n_grid = max(int(math.ceil((x[-1] - x[0]) * points_per_decade)) + 1, 3)
    gx = np.linspace(x[0], x[-1], n_grid)
    # bin-average dense stretches, interpolate sparse ones
    step = gx[1] - gx[0]
    idx = np.clip(np.round((x - gx[0]) / step).astype(int), 0, n_grid - 1)
    sums = np.bincount(idx, weights=ly, minlength=n_grid)
    counts = np.bincount(idx, minlength=n_grid)
    filled = counts > 0
    gy = np.interp(gx, gx[filled], sums[filled] / counts[filled])
    sm = gaussian_filter1d(gy, sigma=max(sigma_decades / step, 1e-6), mode="nearest")
    peaks, _ = find_peaks(sm, prominence=min_prominence)
    troughs, _ = find_peaks(-sm, prominence=min_prominence)
    grid_epochs = 10**gx
    maxima = [float(grid_epochs[i]) for i in peaks]
    # a descent runs from the start, or from each kept maximum, down to the lowest point before
    # the next kept maximum (or the end)
    descents: list[tuple[float, float, float]] = []
    bounds = [0, *peaks.tolist(), n_grid - 1]
    for s, nxt in zip(bounds[:-1], bounds[1:]):
        end = s + int(np.argmin(sm[s : nxt + 1]))
        drop = float(sm[s] - sm[end])
        if end > s and drop >= min_prominence:
            descents.append((float(grid_epochs[s]), float(grid_epochs[end]), drop))
    minima = sorted({float(grid_epochs[i]) for i in troughs} | {d[1] for d in descents})
    double = len(descents) >= 2
    return DescentAnalysis(minima, maxima, descents, double, grid_epochs, sm)


def drop_coincidences(
    analysis: DescentAnalysis, drops: Sequence[float], decades: float = COINCIDENCE_DECADES
) -> list[dict[str, Any]]:
    """For each descent: its span, its drop, and the learning-rate drops that coincide with it.

    Args:
        analysis: :func:`detect_descents` of the curve.
        drops: epochs at which the learning rate drops (none for a constant rate).
        decades: how far before a descent's start a drop still counts as its cause.

    Returns:
        One dict per descent: ``start``, ``end``, ``drop`` (decades of MSE), ``rate_drops`` (the
        coinciding drop epochs) and ``coincides``.
    """
    out = []
    for start, end, drop in analysis.descents:
        near = [
            float(m)
            for m in drops
            if m > 0 and math.log10(start) - decades <= math.log10(m) <= math.log10(end)
        ]
        out.append(
            {"start": start, "end": end, "drop": drop, "rate_drops": near, "coincides": bool(near)}
        )
    return out


def descents_table(analysis: DescentAnalysis, drops: Sequence[float]) -> pd.DataFrame:
    """:func:`drop_coincidences` as a table (one row per descent)."""
    rows = drop_coincidences(analysis, drops)
    frame = pd.DataFrame(rows, columns=["start", "end", "drop", "rate_drops", "coincides"])
    frame["rate_drops"] = frame["rate_drops"].map(lambda v: ", ".join(f"{e:.0f}" for e in v))
    return frame
