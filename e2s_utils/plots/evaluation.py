"""Figures of the evaluation: the distribution of the K fold scores behind each task's Q."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from e2s_utils.evaluate import EvalResult


def fold_scores_frame(results: dict[str, EvalResult]) -> pd.DataFrame:
    """Long table of fold scores: one row per method, task and fold.

    Args:
        results: method name -> result.

    Returns:
        Columns ``method``, ``probe``, ``task``, ``kind``, ``fold``, ``score``, ``q``.
    """
    rows = [
        {
            "method": method,
            "probe": res.probe,
            "task": task.name,
            "kind": task.kind,
            "fold": k,
            "score": float(v),
            "q": task.q,
        }
        for method, res in results.items()
        for task in res.tasks.values()
        for k, v in enumerate(task.folds)
    ]
    return pd.DataFrame(rows, columns=["method", "probe", "task", "kind", "fold", "score", "q"])


def plot_fold_scores(
    results: EvalResult | dict[str, EvalResult],
    tasks: Sequence[str] | None = None,
    *,
    clip: float = -1.0,
) -> Figure:
    """Per-task distributions of the fold scores (R² or F1), one box and strip per method.

    Each panel is a task, titled with its Q per method (``Q`` for the benchmark's probe,
    ``Q ridge`` for the converged one); the dashed line marks each method's mean fold score.

    Args:
        results: one result, or method name -> result.
        tasks: tasks to draw (default: every task with at least one finite fold score).
        clip: fold scores below this are drawn at it (R² of an unconverged probe can be hugely
            negative), marked with a downward triangle.

    Returns:
        The figure.

    Raises:
        ValueError: nothing to draw.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from e2s_utils.evaluate import EvalResult as _EvalResult

    if isinstance(results, _EvalResult):
        results = {"embedding": results}
    frame = fold_scores_frame(results)
    frame = frame[np.isfinite(frame["score"])]
    names = list(tasks) if tasks is not None else list(dict.fromkeys(frame["task"]))
    frame = frame[frame["task"].isin(names)]
    if frame.empty:
        raise ValueError("no finite fold score to draw; evaluate some tasks first")
    names = [t for t in names if t in set(frame["task"])]
    methods = list(results)
    ncols = min(4, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.6 * ncols + 0.6, 2.6 * nrows), squeeze=False, sharey=False
    )
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
        kind = sub["kind"].iloc[0]
        qs = {m: results[m].tasks[task].q for m in methods if task in results[m].tasks}
        label = {m: "Q ridge" if results[m].probe == "ridge" else "Q" for m in qs}
        qtext = ", ".join(f"{label[m]} {q:.1f}" for m, q in qs.items()) if len(qs) <= 2 else ""
        ax.set_title(f"{task}\n{qtext}" if qtext else task, fontsize=9)
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
