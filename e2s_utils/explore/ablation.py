"""The ablation explorer: the per-task heatmap with a method and task picker, and the fold scores
behind the picked cell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd

from e2s_utils.explore.base import Choice, Explorer, WidgetMode, message_figure
from e2s_utils.plots import Q_COLOR
from e2s_utils.plots import studies as study_plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Columns of the fold-score contract: one row per method, task, seed and fold.
FOLD_COLUMNS: tuple[str, ...] = ("method", "task", "seed", "fold", "score")
NO_FOLD_SCORES = "fold scores not available: this ablation run cached only per-task Q"


def check_fold_scores(fold_scores: pd.DataFrame) -> pd.DataFrame:
    """Validate the fold-score contract and return the frame with ``score`` as float.

    Raises:
        ValueError: naming the missing columns.
    """
    missing = [c for c in FOLD_COLUMNS if c not in fold_scores.columns]
    if missing:
        raise ValueError(
            f"fold scores lack columns {missing}; expected one row per {', '.join(FOLD_COLUMNS[:-1])} "
            "with its 'score'"
        )
    return fold_scores.assign(score=fold_scores["score"].astype(float))


def ablation_fold_scores(results: Any, preset: str) -> pd.DataFrame | None:
    """The fold scores behind the heatmap of one preset, in the explorer's contract.

    Args:
        results: :func:`e2s_utils.studies.run_ablation`'s results (``folds()`` gives every
            fold score with the row's label, preset and title).
        preset: the heatmap's preset (its rows are labelled by method alone).

    Returns:
        The validated ``method, task, seed, fold, score`` frame, or ``None`` when the results
        carry no fold scores.
    """
    frame = results.folds()
    frame = frame[frame["preset"] == preset]
    if frame.empty:
        return None
    return check_fold_scores(frame[["method", "task", "seed", "fold", "score"]])


def _horizontal() -> dict[str, Any]:
    """The keyword of a horizontal boxplot in this matplotlib (``orientation`` from 3.10 on)."""
    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def heatmap_figure(q: pd.DataFrame, z: pd.DataFrame, method: str, task: str) -> Figure:
    """:func:`e2s_utils.plots.studies.ablation_heatmap` with the picked cell outlined."""
    from matplotlib.patches import Rectangle

    fig = study_plots.ablation_heatmap(q, z)
    i, j = list(q.index).index(method), list(q.columns).index(task)
    fig.axes[0].add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="black", lw=2.5, zorder=5))
    return fig


def fold_figure(folds: pd.DataFrame, q: pd.DataFrame, method: str, task: str) -> Figure:
    """The fold scores of every method on one task, the picked method highlighted.

    Args:
        folds: the validated fold-score frame (:data:`FOLD_COLUMNS`).
        q: the per-task Q table (rows = methods, in order; columns = tasks).
        method: the picked method.
        task: the picked task.
    """
    from matplotlib.figure import Figure

    sub = folds[folds["task"] == task]
    methods = [m for m in q.index if m in set(sub["method"])]
    if not methods:
        return message_figure(f"no fold scores for task {task!r}")
    fig = Figure(figsize=(5.6, 0.32 * len(methods) + 1.4), layout="constrained")
    ax = fig.subplots()
    data = [sub.loc[sub["method"] == m, "score"].to_numpy() for m in methods]
    finite = [d[np.isfinite(d)] for d in data]
    ax.boxplot(
        finite,
        positions=range(len(methods)),
        widths=0.6,
        showfliers=False,
        medianprops={"color": "0.2"},
        **_horizontal(),
    )
    rng = np.random.default_rng(0)
    for k, (m, d) in enumerate(zip(methods, finite)):
        picked = m == method
        jitter = rng.uniform(-0.18, 0.18, size=len(d))
        ax.scatter(
            d,
            k + jitter,
            s=14 if picked else 6,
            color=Q_COLOR if picked else "0.55",
            zorder=3,
            lw=0,
        )
    ax.set_yticks(range(len(methods)), methods, fontsize=7)
    for tick, m in zip(ax.get_yticklabels(), methods):
        tick.set_fontweight("bold" if m == method else "normal")
    ax.invert_yaxis()
    ax.set_xlabel("fold score (R² or F1)")
    picked = sub[sub["method"] == method]
    n_seeds = picked["seed"].nunique()
    qv = q.loc[method, task] if method in q.index and task in q.columns else np.nan
    ax.set_title(
        f"{task}: fold scores; {method}: {len(picked)} folds over {n_seeds} seed(s), Q {qv:.2f}",
        fontsize=8,
    )
    return fig


def ablation_explorer(
    task_q: pd.DataFrame,
    task_z: pd.DataFrame,
    fold_scores: pd.DataFrame | None = None,
    *,
    method: str | None = None,
    task: str | None = None,
    mode: WidgetMode | None = None,
) -> Explorer:
    """The ablation heatmap with a method and a task picker, and the fold scores behind a cell.

    Args:
        task_q: rows = methods (table order), columns = tasks: per-task Q (seed mean).
        task_z: the per-task Z of the same methods (:func:`e2s_utils.studies.z_from_q`).
        fold_scores: the long frame ``method, task, seed, fold, score`` (methods named as the rows
            of ``task_q``), or ``None`` when the ablation did not keep fold scores (then the
            second figure says so).
        method: the method picked first (default: the first row).
        task: the task picked first (default: the first column).
        mode: ``live`` or ``static`` (default: :func:`e2s_utils.explore.widget_mode`).

    Returns:
        The explorer.

    Raises:
        ValueError: for an empty table, fold scores breaking the contract, or an unknown pick.
    """
    if task_q.empty:
        raise ValueError("task_q is empty; run the ablation first")
    folds = check_fold_scores(fold_scores) if fold_scores is not None else None
    methods, tasks = [str(m) for m in task_q.index], [str(t) for t in task_q.columns]
    for value, allowed, what in ((method, methods, "method"), (task, tasks, "task")):
        if value is not None and value not in allowed:
            raise ValueError(f"{what} {value!r} not in the table; choose from {allowed}")

    def render(state: Mapping[str, Any]) -> list[Figure]:
        m, t = state["method"], state["task"]
        second = (
            fold_figure(folds, task_q, m, t)
            if folds is not None
            else message_figure(NO_FOLD_SCORES)
        )
        return [heatmap_figure(task_q, task_z, m, t), second]

    def caption(state: Mapping[str, Any]) -> str:
        m, t = state["method"], state["task"]
        return f"{m} on {t}: Q {task_q.loc[m, t]:.2f}, Z {task_z.loc[m, t]:+.2f}"

    choices = [
        Choice("method", "method", [(m, m) for m in methods], method),
        Choice("task", "task", [(t, t) for t in tasks], task),
    ]
    return Explorer(choices, render, caption=caption, title="Ablation cells", mode=mode)
