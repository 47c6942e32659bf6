"""The fusion explorer: the Q-bar / MSE curve with a checkpoint picker, its per-task Q and embeddings."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

from e2s_utils.explore.base import Choice, Explorer, WidgetMode
from e2s_utils.plots import MSE_COLOR, Q_COLOR
from e2s_utils.plots import embeddings as emb_plots
from e2s_utils.plots import fusion as fusion_plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from e2s_utils.store.loader import FusionData

#: ``embed(checkpoint_row) -> (ids, X)``: the embeddings of the checkpoint a table row names.
Embed = Callable[[pd.Series], tuple[Sequence[str], np.ndarray]]
#: Checkpoints whose embeddings are kept in memory (the last picked ones).
EMBED_CACHE = 4
#: Preferred task to colour the projection by.
DEFAULT_TASK = "landcover_forest"


class TaskLike(Protocol):
    """What the explorer reads of a label task (:class:`e2s_utils.data.labels.LabelTask`)."""

    labels: pd.Series
    kind: str


def task_q(table: pd.DataFrame, row: int) -> pd.DataFrame:
    """Per-task Q of one checkpoint for both probes.

    Args:
        table: the :func:`e2s_utils.fusion.evaluate_checkpoints` table (``q_<task>`` for the
            linear probe, ``q_ridge_<task>`` for the ridge probe).
        row: the row's position in ``table``.

    Returns:
        Index = task, columns ``linear`` and ``ridge`` (NaN where a probe did not score the task).

    Raises:
        ValueError: when the table holds no per-task Q column.
    """
    tasks = [
        c[2:]
        for c in table.columns
        if c.startswith("q_") and not c.startswith(("q_bar", "q_ridge_"))
    ]
    ridge = [c[len("q_ridge_") :] for c in table.columns if c.startswith("q_ridge_")]
    names = list(dict.fromkeys(tasks + ridge))
    if not names:
        raise ValueError(
            "checkpoint table has no per-task Q columns (q_<task>, q_ridge_<task>); pass the frame "
            "of e2s_utils.fusion.evaluate_checkpoints"
        )
    rec = table.iloc[row]
    out = pd.DataFrame(
        {
            "linear": [float(rec.get(f"q_{t}", np.nan)) for t in names],
            "ridge": [float(rec.get(f"q_ridge_{t}", np.nan)) for t in names],
        },
        index=pd.Index(names, name="task"),
    )
    return out


def checkpoint_label(table: pd.DataFrame, row: int) -> str:
    """The picker's text for a row: epoch, Q-bar and validation MSE (and ``best val`` if so)."""
    rec = table.iloc[row]
    text = f"epoch {int(rec['epoch'])}: Q̄ {rec['q_bar']:.2f}, MSE {rec['val_mse']:.3g}"
    if bool(rec.get("best_val", False)):
        text += " (best val)"
    return text


def curve_figure(table: pd.DataFrame, row: int) -> Figure:
    """:func:`e2s_utils.plots.fusion.q_mse_curve` with the picked checkpoint marked."""
    fig = fusion_plots.q_mse_curve(
        table, title="Q̄ and validation MSE; grey band: picked checkpoint"
    )
    epoch = float(table["epoch"].iloc[row])
    fig.axes[0].axvline(epoch, color="0.2", lw=6, alpha=0.18, zorder=0)
    return fig


def task_q_figure(q: pd.DataFrame, title: str) -> Figure:
    """Horizontal bars of per-task Q, linear probe beside ridge probe."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 0.3 * len(q) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(q))
    ax.barh(y - 0.2, q["linear"], height=0.4, color=Q_COLOR, label="linear probe (Q)")
    ax.barh(y + 0.2, q["ridge"], height=0.4, color=MSE_COLOR, alpha=0.7, label="ridge probe")
    ax.set_yticks(y, list(q.index), fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("per-task quality Q")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="best")
    return fig


def default_task(labels: Mapping[str, TaskLike]) -> str:
    """The task the projection is coloured by first: forest fraction, else the first regression."""
    if DEFAULT_TASK in labels:
        return DEFAULT_TASK
    regression = [n for n, t in labels.items() if t.kind == "regression"]
    return (regression or list(labels))[0]


def fusion_explorer(
    table: pd.DataFrame,
    embed: Embed,
    labels: Mapping[str, TaskLike],
    *,
    checkpoint: int | None = None,
    task: str | None = None,
    mode: WidgetMode | None = None,
) -> Explorer:
    """The fusion curve with a checkpoint picker: per-task Q (both probes) and the embeddings.

    Three figures follow the picked checkpoint: the Q-bar / validation-MSE curve with the
    checkpoint marked, its per-task Q for the linear and the ridge probe, and the 2-D PCA of its
    embeddings (:func:`e2s_utils.plots.embeddings.projection`) coloured by the picked task.

    Args:
        table: the :func:`e2s_utils.fusion.evaluate_checkpoints` table.
        embed: ``embed(row) -> (ids, X)`` for a row of ``table`` (see :func:`checkpoint_embedder`);
            the embeddings of the last :data:`EMBED_CACHE` picked checkpoints are kept.
        labels: task name -> label task (``labels`` indexed by id, ``kind``).
        checkpoint: the row position shown first (default: the best-Q-bar row, the paper's choice).
        task: the task colouring the projection first (default: :func:`default_task`).
        mode: ``live`` or ``static`` (default: :func:`e2s_utils.explore.widget_mode`).

    Returns:
        The explorer.

    Raises:
        ValueError: for an empty table, one without per-task Q, or an unknown task.
    """
    if table.empty:
        raise ValueError("checkpoint table is empty; evaluate at least one checkpoint")
    task_q(table, 0)  # validates the columns
    if not labels:
        raise ValueError("no label tasks to colour the projection by")
    if task is not None and task not in labels:
        raise ValueError(f"task {task!r} not in the labels; choose from {sorted(labels)}")
    table = table.reset_index(drop=True)
    if checkpoint is None:
        checkpoint = int(np.nanargmax(table["q_bar"].to_numpy(dtype=float)))
    embedded = functools.lru_cache(maxsize=EMBED_CACHE)(lambda row: embed(table.iloc[row]))

    def render(state: Mapping[str, Any]) -> list[Figure]:
        row, name = state["checkpoint"], state["task"]
        epoch = int(table["epoch"].iloc[row])
        ids, X = embedded(row)
        tsk = labels[name]
        kind: Literal["regression", "classification"] = (
            "classification" if tsk.kind == "classification" else "regression"
        )
        label_series = tsk.labels.rename(name)
        return [
            curve_figure(table, row),
            task_q_figure(task_q(table, row), f"per-task Q at epoch {epoch}"),
            emb_plots.projection(
                np.asarray(X), list(ids), label_series, f"epoch {epoch}", kind=kind
            ),
        ]

    def caption(state: Mapping[str, Any]) -> str:
        return (
            f"checkpoint {table['checkpoint'].iloc[state['checkpoint']]}"
            if "checkpoint" in table
            else ""
        )

    choices = [
        Choice(
            "checkpoint",
            "checkpoint",
            [(checkpoint_label(table, i), i) for i in range(len(table))],
            checkpoint,
        ),
        Choice("task", "colour by", [(n, n) for n in sorted(labels)], task or default_task(labels)),
    ]
    return Explorer(choices, render, caption=caption, title="Fusion checkpoints", mode=mode)


def checkpoint_embedder(run_dir: Path, data: FusionData, device: str = "cpu") -> Embed:
    """``embed(row) -> (ids, X)`` for :func:`fusion_explorer`: the row's checkpoint applied to ``data``.

    Reads the checkpoint's kept embeddings (also after its snapshot was pruned), else embeds.

    Args:
        run_dir: the fusion run directory (the table's ``checkpoint`` paths are relative to it).
        data: the samples to embed (the probed split).
        device: torch device.
    """
    from e2s_utils import fusion

    def embed(row: pd.Series) -> tuple[list[str], np.ndarray]:
        X = fusion.checkpoint_embeddings(
            Path(run_dir), str(row["checkpoint"]), int(row["epoch"]), data, device
        )
        return list(data.ids), X

    return embed
