"""The long-training study: does validation MSE descend twice, and does Q̄ follow?

The paper trained its compressor about 30x longer than the best-Q̄ epoch and saw a double descent
of validation MSE that did not carry over to Q̄. :func:`log_spaced_epochs` places checkpoints
log-uniformly; :func:`run_long` trains the run (resumable) and evaluates each checkpoint (cached);
:func:`detect_descents` finds the descents of the smoothed validation-MSE curve on the log-epoch
axis; :func:`long_summary` checks whether Q̄ follows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2s_utils.cache import CacheKey

if TYPE_CHECKING:
    from e2s_utils.config import Profile
    from e2s_utils.fusion import FusionConfig
    from e2s_utils.store.loader import StudyInputs

#: Probes every checkpoint evaluation runs.
PROBES: tuple[str, ...] = ("linear", "ridge")


def log_spaced_epochs(total: int, n: int) -> tuple[int, ...]:
    """``n`` checkpoint epochs spaced log-uniformly over ``[1, total]``, with 0 in front.

    The result always starts with 0 (the untrained compressor) and ends with ``total``, is
    strictly increasing and has exactly ``n`` entries: rounding collisions at the dense early end
    are pushed up one epoch at a time, and pushed back down where that would crowd ``total``.

    Args:
        total: the last epoch (>= 1).
        n: number of epochs, 0 and ``total`` included (``2 <= n <= total + 1``).

    Returns:
        The epochs.

    Raises:
        ValueError: for ``total < 1``, ``n < 2`` or ``n > total + 1``.
    """
    total, n = int(total), int(n)
    if total < 1:
        raise ValueError(f"log_spaced_epochs: total must be >= 1, got {total}")
    if n < 2 or n > total + 1:
        raise ValueError(
            f"log_spaced_epochs: n must be between 2 and total + 1 = {total + 1}, got {n}"
        )
    if n == 2:
        return (0, total)
    raw = np.geomspace(1, total, n - 1)
    epochs = [0] + [int(round(v)) for v in raw]
    for i in range(1, n):
        epochs[i] = max(epochs[i], epochs[i - 1] + 1)
    epochs[-1] = total
    for i in range(n - 2, 0, -1):
        epochs[i] = min(epochs[i], epochs[i + 1] - 1)
    return tuple(epochs)


def long_config(profile: Profile) -> FusionConfig:
    """The compressor of the long run: the profile's, longer, with log-spaced checkpoints."""
    epochs = profile.long.epochs
    return dataclasses.replace(
        profile.fusion,
        epochs=epochs,
        checkpoint_epochs=log_spaced_epochs(epochs, profile.long.n_checkpoints),
    )


@dataclass
class LongResult:
    """The long run's outcome.

    Attributes:
        history: per-epoch training history (``epoch``, ``train_loss``, ``val_mse``, ...).
        curve: per-checkpoint evaluation (``epoch``, ``val_mse``, ``q_bar``, ``q_<task>``, ...).
        run_dir: the run's folder.
    """

    history: pd.DataFrame
    curve: pd.DataFrame
    run_dir: Path


def run_long(
    profile: Profile,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> LongResult:
    """Train the long run (resuming any interrupted one) and evaluate each checkpoint.

    The run lives in ``root/run__<key[:12]>``, its key holding the configuration, the data and the
    protocol; training resumes from its last checkpoint and checkpoint evaluations are cached, so a
    rerun after any interruption only does what is left.
    """
    from e2s_utils import fusion

    cfg = long_config(profile)
    preset = profile.extract.preset
    models = cfg.models
    key = CacheKey(
        "long",
        {
            "fusion": cfg.to_dict(),
            "preset": preset,
            "inputs": inputs.identity(),
            "stores": {m: inputs.fingerprint(m, preset) for m in models},
        },
    )
    run_dir = Path(root) / f"run__{key.short()}"
    data = inputs.splits(models, preset)
    history = fusion.train(cfg, data.train, data.val, run_dir, device=device, progress=progress)
    curve = fusion.evaluate_checkpoints(
        run_dir,
        data.probe,
        inputs.tasks,
        profile.protocol,
        probes=PROBES,
        device=device,
        progress=progress,
    )
    return LongResult(pd.DataFrame(history), pd.DataFrame(curve).sort_values("epoch"), run_dir)


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


def long_summary(result: LongResult, analysis: DescentAnalysis | None = None) -> dict[str, Any]:
    """Check the paper's claim: MSE descends twice, and Q̄ does not follow.

    Q̄ "follows" the double descent when the best-Q̄ checkpoint lies in the second descent
    (after the first bump) and beats the best Q̄ before the bump; otherwise the second MSE
    descent does not carry over to Q̄. The Spearman correlation of Q̄ with -log MSE over the
    checkpoints is reported beside it.

    Returns:
        A dict of the numbers and the two verdicts (``double_descent``, ``q_follows``).
    """
    from scipy.stats import spearmanr

    hist = result.history
    src = hist if "val_mse" in hist and len(hist) >= 3 else result.curve
    analysis = analysis or detect_descents(src["epoch"], src["val_mse"])
    curve = result.curve.sort_values("epoch")
    best = curve.loc[curve["q_bar"].idxmax()]
    out: dict[str, Any] = {
        "double_descent": analysis.double_descent,
        "n_descents": len(analysis.descents),
        "descents": analysis.descents,
        "bumps": analysis.maxima,
        "best_q_epoch": int(best["epoch"]),
        "best_q_bar": float(best["q_bar"]),
        "final_q_bar": float(curve["q_bar"].iloc[-1]),
        "min_val_mse": float(curve["val_mse"].min()),
        "min_val_mse_epoch": int(curve.loc[curve["val_mse"].idxmin(), "epoch"]),
    }
    trained = curve[curve["epoch"] > 0]
    if len(trained) >= 3:
        rho = spearmanr(trained["q_bar"], -np.log10(trained["val_mse"])).statistic
        out["spearman_q_vs_neg_log_mse"] = float(rho)
    q_follows = False
    if analysis.double_descent and analysis.maxima:
        bump = analysis.maxima[0]
        before = curve[(curve["epoch"] > 0) & (curve["epoch"] <= bump)]
        after = curve[curve["epoch"] > bump]
        if not before.empty and not after.empty:
            out["best_q_bar_before_bump"] = float(before["q_bar"].max())
            out["best_q_bar_after_bump"] = float(after["q_bar"].max())
            q_follows = out["best_q_bar_after_bump"] > out["best_q_bar_before_bump"]
    out["q_follows"] = bool(q_follows)
    return out


def format_long_summary(summary: Mapping[str, Any]) -> str:
    """Sentences stating the long run's claim from its numbers."""
    lines = []
    if summary["double_descent"]:
        d = summary["descents"]
        lines.append(
            f"Validation MSE descends {summary['n_descents']} times: first down to epoch "
            f"{d[0][1]:.0f}, then rises to a bump near epoch {summary['bumps'][0]:.0f} and "
            f"descends again to epoch {d[1][1]:.0f} (drops of {d[0][2]:.2f} and {d[1][2]:.2f} "
            "decades): a double descent."
        )
    else:
        lines.append(
            f"Validation MSE does not descend twice ({summary['n_descents']} descent(s) found): "
            "no double descent at this scale."
        )
    lines.append(
        f"Best Q̄ = {summary['best_q_bar']:.2f} at epoch {summary['best_q_epoch']}; final Q̄ = "
        f"{summary['final_q_bar']:.2f}; lowest val MSE {summary['min_val_mse']:.4g} at epoch "
        f"{summary['min_val_mse_epoch']}."
    )
    if "spearman_q_vs_neg_log_mse" in summary:
        lines.append(
            f"Spearman correlation of Q̄ with -log MSE over checkpoints: "
            f"{summary['spearman_q_vs_neg_log_mse']:+.2f}."
        )
    if summary["double_descent"]:
        lines.append(
            "Q̄ follows the second descent (its best lies after the bump)."
            if summary["q_follows"]
            else "Q̄ does not follow the second descent (the paper's observation)."
        )
    return "\n".join(lines)
