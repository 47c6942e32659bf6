"""Figures of the ablation and long-training studies: the per-task heatmap and the descent curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from e2s_utils.plots.style import MSE_COLOR, Q_COLOR, styled


@styled
def ablation_heatmap(
    q: pd.DataFrame,
    z: pd.DataFrame,
    *,
    mask: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """The per-task heatmap of the ablation: cells coloured by Z, annotated with Q.

    Args:
        q: rows = methods (table order), columns = tasks: each task's Q (seed mean).
        z: the per-task Z of the same methods and tasks (extra columns such as ``Z`` are shown
            as a last column, annotated with the mean Z).
        mask: methods x tasks, True where the cell's Q interval includes the task's mean Q over
            the methods: such a cell is hatched and its Q shown in parentheses (the data do not
            separate it from the average method on that task).
        title: figure title.

    Returns:
        The figure.

    Raises:
        ValueError: when ``q`` and ``z`` do not share their methods and tasks.
    """
    import seaborn as sns

    tasks = list(q.columns)
    missing = [t for t in tasks if t not in z.columns]
    if missing or list(z.index) != list(q.index):
        raise ValueError(
            f"ablation_heatmap: q and z must share methods and tasks (missing {missing})"
        )
    colour = z[tasks].astype(float)
    annot = q[tasks].astype(float).map(lambda v: "" if not np.isfinite(v) else f"{v:.1f}")
    inside = None
    if mask is not None:
        inside = mask.reindex(index=q.index, columns=tasks).fillna(False).astype(bool)
        annot = annot.where(~inside, "(" + annot + ")")
    if "Z" in z.columns:
        colour = colour.assign(**{"mean Z": z["Z"].astype(float)})
        annot = annot.assign(**{"mean Z": z["Z"].astype(float).map(lambda v: f"{v:+.2f}")})
    n_rows, n_cols = colour.shape
    fig = Figure(figsize=(1.0 + 0.75 * n_cols, 1.2 + 0.38 * n_rows))
    ax = fig.subplots()
    lim = float(np.nanmax(np.abs(colour.to_numpy()))) if colour.size else 1.0
    sns.heatmap(
        colour,
        ax=ax,
        cmap="RdBu",
        center=0.0,
        vmin=-lim,
        vmax=lim,
        annot=annot,
        fmt="",
        annot_kws={"fontsize": 7},
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "Z (task-normalised across methods)"},
    )
    if inside is not None:
        for i, j in zip(*np.nonzero(inside.to_numpy()), strict=True):
            ax.add_patch(
                Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="0.55", linewidth=0)
            )
    if "Z" in z.columns:
        ax.axvline(len(tasks), color="black", linewidth=1.2)
    ax.set_xlabel("task (cell text: Q)")
    ax.set_ylabel("")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right")
    ax.grid(False)
    ax.set_title(title or "Ablation: per-task quality (colour Z, text Q)")
    fig.tight_layout()
    return fig


@styled
def long_training_curve(
    history: pd.DataFrame,
    curve: pd.DataFrame,
    *,
    smoothed: pd.DataFrame | None = None,
    descents: pd.DataFrame | None = None,
    bumps: list[float] | tuple[float, ...] = (),
    drops: list[float] | tuple[float, ...] = (),
    twin_history: pd.DataFrame | None = None,
    twin_curve: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Validation MSE and Q̄ against epoch on a log axis, marking each descent and the best Q̄.

    Args:
        history: per-epoch ``epoch`` and ``val_mse`` (the dense MSE curve).
        curve: per-checkpoint ``epoch``, ``val_mse`` and ``q_bar`` (and ``q_bar_ridge``).
        smoothed: the smoothed MSE curve (columns ``epoch``, ``val_mse``), drawn as a line.
        descents: one row per descent (columns ``start``, ``end``), shaded.
        bumps: epochs of the bumps between descents, marked.
        drops: epochs where the learning rate drops, marked as vertical lines.
        twin_history: the constant-rate twin's per-epoch ``epoch``, ``val_mse`` (dashed grey).
        twin_curve: the twin's per-checkpoint ``epoch``, ``q_bar`` (hollow markers).
        title: figure title.

    Returns:
        The figure (two y axes sharing the log epoch axis; epoch 0 sits left of the log part).
    """
    fig = Figure(figsize=(7.0, 3.8))
    ax = fig.subplots()
    _draw_mse(ax, history, curve, smoothed, descents, bumps)
    for k, m in enumerate(drops):
        ax.axvline(
            m,
            color="0.2",
            linestyle="-.",
            linewidth=0.9,
            label="learning-rate drop (x0.1)" if k == 0 else None,
        )
    if twin_history is not None:
        t = twin_history[twin_history["val_mse"].notna()]
        ax.plot(
            t["epoch"],
            t["val_mse"],
            color="0.45",
            linestyle="--",
            linewidth=1.0,
            label="val MSE, constant-rate twin",
        )
    ax.set_yscale("log")
    ax.set_xlabel("epoch (log scale; 0 = untrained)")
    ax.set_ylabel("validation MSE", color=MSE_COLOR)
    ax2 = ax.twinx()
    _draw_q(ax2, curve)
    if twin_curve is not None:
        ax2.plot(
            twin_curve["epoch"],
            twin_curve["q_bar"],
            "s",
            markerfacecolor="none",
            color=Q_COLOR,
            markersize=4,
            label="Q̄, constant-rate twin",
        )
    ax2.set_ylabel("Q̄", color=Q_COLOR)
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", fontsize=7)
    ax.set_title(title or "Long training: validation MSE and Q̄ against epoch")
    fig.tight_layout()
    return fig


def _draw_mse(
    ax,
    history: pd.DataFrame,
    curve: pd.DataFrame,
    smoothed: pd.DataFrame | None,  # noqa: ANN001
    descents: pd.DataFrame | None,
    bumps: list[float] | tuple[float, ...],
) -> None:
    """The validation-MSE side of :func:`long_training_curve` (axis ``ax``)."""
    ax.set_xscale("symlog", linthresh=1.0)
    h = history[history["val_mse"].notna()] if "val_mse" in history else curve
    ax.plot(
        h["epoch"],
        h["val_mse"],
        color=MSE_COLOR,
        alpha=0.35,
        linewidth=0.8,
        label="val MSE (every epoch)",
    )
    ax.plot(
        curve["epoch"],
        curve["val_mse"],
        "o",
        color=MSE_COLOR,
        markersize=3,
        label="val MSE (checkpoints)",
    )
    if smoothed is not None:
        ax.plot(
            smoothed["epoch"],
            smoothed["val_mse"],
            color=MSE_COLOR,
            linewidth=1.6,
            label="val MSE (smoothed, log axis)",
        )
    if descents is not None:
        for k, (start, end) in enumerate(zip(descents["start"], descents["end"], strict=True)):
            ax.axvspan(start, end, color=MSE_COLOR, alpha=0.07 + 0.05 * (k % 2), linewidth=0)
            ax.annotate(
                f"descent {k + 1}",
                xy=(np.sqrt(start * end), 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="top",
                fontsize=7,
                color=MSE_COLOR,
            )
    for m in bumps:
        ax.axvline(m, color=MSE_COLOR, linestyle=":", linewidth=1.0)


def _draw_q(ax2, curve: pd.DataFrame) -> None:  # noqa: ANN001 - a matplotlib Axes
    """The Q̄ side of :func:`long_training_curve` (the twin axis ``ax2``)."""
    ax2.plot(
        curve["epoch"],
        curve["q_bar"],
        "-s",
        color=Q_COLOR,
        markersize=3.5,
        label="Q̄ (linear probe)",
    )
    if "q_bar_lo" in curve and curve["q_bar_lo"].notna().any():
        err = [curve["q_bar"] - curve["q_bar_lo"], curve["q_bar_hi"] - curve["q_bar"]]
        ax2.errorbar(
            curve["epoch"],
            curve["q_bar"],
            yerr=np.clip(err, 0, None),
            fmt="none",
            ecolor=Q_COLOR,
            elinewidth=0.8,
            capsize=2,
            alpha=0.7,
            label="95 % interval (bootstrap over folds)",
        )
    if "q_bar_ridge" in curve and curve["q_bar_ridge"].notna().any():
        ax2.plot(
            curve["epoch"],
            curve["q_bar_ridge"],
            "--",
            color=Q_COLOR,
            alpha=0.6,
            linewidth=1.0,
            label="Q̄ (ridge probe)",
        )
    best = curve.loc[curve["q_bar"].idxmax()]
    ax2.axvline(best["epoch"], color=Q_COLOR, linestyle="--", linewidth=1.0)
    ax2.annotate(
        f"best Q̄ {best['q_bar']:.2f}\n@ epoch {int(best['epoch'])}",
        xy=(best["epoch"], best["q_bar"]),
        xytext=(-4, -4),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=7,
        color=Q_COLOR,
    )
