"""Figures of the evaluation: the distribution of the K fold scores behind each task's Q."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2s_utils.plots.style import new_figure, styled


def _quality(scores: pd.Series) -> float:
    values = scores.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    return float(2 * values.mean() / (0.02 + values.std()))


@styled
def plot_fold_scores(
    folds: pd.DataFrame, tasks: Sequence[str] | None = None, *, clip: float = -1.0
) -> Figure:
    """Per-task distributions of the fold scores (R² or F1), one box and strip per method.

    Each panel is a task, titled with its Q per method (``Q ridge`` for rows whose ``probe`` is
    ``ridge``); the dashed line marks each method's mean fold score.

    Args:
        folds: long frame with columns ``method``, ``task``, ``fold``, ``score`` and optionally
            ``kind`` (``classification`` labels the axis F1) and ``probe``.
        tasks: tasks to draw (default: every task with at least one finite fold score).
        clip: fold scores below this are drawn at it (R² of an unconverged probe can be hugely
            negative), marked with a downward triangle.

    Raises:
        ValueError: nothing to draw.
    """
    import seaborn as sns

    frame = folds[np.isfinite(folds["score"].astype(float))]
    names = list(tasks) if tasks is not None else list(dict.fromkeys(frame["task"]))
    frame = frame[frame["task"].isin(names)]
    if frame.empty:
        raise ValueError("no finite fold score to draw; evaluate some tasks first")
    names = [t for t in names if t in set(frame["task"])]
    methods = list(dict.fromkeys(folds["method"]))
    ncols = min(4, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = new_figure(figsize=(2.6 * ncols + 0.6, 2.6 * nrows))
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods)), strict=False))
    for ax, task in zip(axes.flat, names, strict=False):
        sub = frame[frame["task"] == task].copy()
        low = sub["score"] < clip
        sub["shown"] = sub["score"].clip(lower=clip)
        sns.boxplot(
            data=sub,
            x="method",
            y="shown",
            order=methods,
            ax=ax,
            hue="method",
            palette=palette,
            fliersize=0,
            width=0.55,
            legend=False,
            boxprops={"alpha": 0.35},
        )
        sns.stripplot(
            data=sub[~low],
            x="method",
            y="shown",
            order=methods,
            ax=ax,
            hue="method",
            palette=palette,
            size=2.5,
            jitter=0.2,
            legend=False,
        )
        if low.any():
            pos = {m: i for i, m in enumerate(methods)}
            ax.scatter(
                [pos[m] for m in sub.loc[low, "method"]],
                sub.loc[low, "shown"],
                marker="v",
                s=14,
                color="0.3",
                zorder=3,
            )
        for i, method in enumerate(methods):
            mean = sub.loc[sub["method"] == method, "score"].mean()
            if np.isfinite(mean):
                ax.hlines(max(mean, clip), i - 0.35, i + 0.35, colors="k", linestyles="--", lw=0.8)
        all_task = folds[folds["task"] == task]
        qs = {m: _quality(all_task.loc[all_task["method"] == m, "score"]) for m in methods}
        ridge = "probe" in folds and (all_task["probe"] == "ridge").all()
        if len(qs) <= 2:
            label = "Q ridge" if ridge else "Q"
            ax.set_title(f"{task}\n" + ", ".join(f"{label} {q:.1f}" for q in qs.values()))
        else:
            ax.set_title(task)
        kind = sub["kind"].iloc[0] if "kind" in sub else "regression"
        ax.set_xlabel("")
        ax.set_ylabel("fold F1" if kind == "classification" else "fold R²")
        if len(methods) > 1:
            ax.tick_params(axis="x", rotation=30)
        else:
            ax.set_xticks([])
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
