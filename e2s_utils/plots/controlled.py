"""Figures of the controlled study (notebook 60): simulated blocks, not the paper's models.

Both take the frames of :mod:`e2s_utils.studies.controlled_stats` and say in their titles that
they show a controlled simulation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2s_utils.plots.style import MSE_COLOR, Q_COLOR, styled

SIMULATION = "controlled simulation, not the paper's foundation models"
TITLES: dict[str, str] = {
    "E1": "E1 diversity vs width",
    "E2": "E2 MSE vs Q̄ (nuisance block)",
    "E3": "E3 long training",
    "E4": "E4 the probe",
}


@styled
def condition_intervals(frame: pd.DataFrame) -> Figure:
    """Q̄ with its 95 % interval for every condition, one panel per experiment.

    Args:
        frame: rows of ``experiment``, ``condition``, ``q_bar``, ``q_bar_lo``, ``q_bar_hi``.
    """
    exps = list(dict.fromkeys(frame["experiment"]))
    heights = [max(2, (frame["experiment"] == e).sum()) for e in exps]
    fig = Figure(figsize=(7.0, 0.3 * sum(heights) + 1.2 * len(exps)))
    axes = fig.subplots(len(exps), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, exp in zip(axes[:, 0], exps, strict=True):
        sub = frame[frame["experiment"] == exp].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        # the studentized interval corrects Q's bias: it need not hold the estimate
        ax.hlines(y, sub["q_bar_lo"].to_numpy(float), sub["q_bar_hi"].to_numpy(float), Q_COLOR)
        ax.plot(sub["q_bar"].to_numpy(float), y, "o", color=Q_COLOR, ms=4)
        ax.set_yticks(y, sub["condition"])
        ax.set_title(TITLES.get(exp, exp), loc="left")
        ax.set_xlabel("Q̄ (line: 95 % fold-bootstrap interval)")
    fig.suptitle(f"Q̄ per condition - {SIMULATION}")
    fig.tight_layout()
    return fig


@styled
def mse_and_q(history: pd.DataFrame, frame: pd.DataFrame) -> Figure:
    """Validation MSE over epochs (lines) with Q̄ of the probed checkpoints (points, right axis).

    Left panel: E2's runs (nuisance block under each loss weight, and E1's complementary run);
    right panel: E3's stepped and constant-rate runs on a log epoch axis.

    Args:
        history: per-epoch ``run``, ``epoch``, ``val_mse``.
        frame: probed conditions: ``run``, ``probe``, ``epoch``, ``q_bar``, ``q_bar_lo``,
            ``q_bar_hi`` (linear rows are drawn).
    """
    fig = Figure(figsize=(9.0, 3.6))
    axes = fig.subplots(1, 2)
    panels = (
        (axes[0], lambda r: r.startswith("e2-") or r == "e1-complementary", "E2", False),
        (axes[1], lambda r: r.startswith("e3-"), "E3", True),
    )
    for ax, keep, exp, log in panels:
        runs = [r for r in dict.fromkeys(history["run"]) if keep(r)]
        ax2 = ax.twinx()
        for k, run in enumerate(runs):
            h = history[(history["run"] == run) & ((history["epoch"] > 0) | (not log))]
            style, marker = ["-", "--", ":", "-."][k % 4], "osD^v"[k % 5]
            ax.plot(h["epoch"], h["val_mse"], style, color=MSE_COLOR, lw=1, label=f"MSE {run}")
            q = frame[(frame["run"] == run) & (frame["probe"] == "linear")]
            # checkpoints of several runs share epochs: shift each run's points a little
            x = q["epoch"].to_numpy(float)
            x = x * 1.04**k if log else x + 0.1 * k
            ax2.vlines(x, q["q_bar_lo"].to_numpy(float), q["q_bar_hi"].to_numpy(float), Q_COLOR)
            ax2.plot(x, q["q_bar"].to_numpy(float), marker, color=Q_COLOR, ms=4, label=f"Q̄ {run}")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation MSE (lines)", color=MSE_COLOR)
        ax2.set_ylabel("Q̄ (points)", color=Q_COLOR)
        ax2.grid(False)
        ax.set_title(TITLES[exp], loc="left")
        lines = ax.get_legend_handles_labels()
        points = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + points[0], lines[1] + points[1], fontsize=6, loc="best")
    fig.suptitle(f"Validation MSE and Q̄ - {SIMULATION}")
    fig.tight_layout()
    return fig
