"""Figures of the fusion stage: Q-bar and validation MSE over training (the paper's Figure 1).

Both functions take the table of :func:`e2s_utils.fusion.evaluate_checkpoints` (one row per
checkpoint: ``epoch``, ``val_mse``, ``q_bar``, optionally ``q_bar_ridge``) and mark the
best-Q-bar and the best-validation-MSE checkpoints, which the paper found to differ.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from e2s_utils.plots.style import MSE_COLOR, Q_COLOR, styled

_REQUIRED = ("epoch", "val_mse")


def _check(table: pd.DataFrame, qcol: str) -> None:
    missing = [c for c in (*_REQUIRED, qcol) if c not in table.columns]
    if missing:
        raise ValueError(
            f"checkpoint table lacks columns {missing}; pass the frame returned by "
            "e2s_utils.fusion.evaluate_checkpoints"
        )
    if table.empty:
        raise ValueError("checkpoint table is empty; evaluate at least one checkpoint")


def _qcol(probe: str) -> str:
    return "q_bar" if probe == "linear" else f"q_bar_{probe}"


def _use_log(values: pd.Series, log_mse: bool | None) -> bool:
    """Log scale when asked, or (``None``) when MSE spans more than a factor of 20."""
    positive = bool((values > 0).all())
    if log_mse is None:
        return positive and float(values.max() / values.min()) > 20
    return log_mse and positive


def _plain_log_labels(axis) -> None:  # noqa: ANN001 - a matplotlib Axis
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _best(table: pd.DataFrame, qcol: str) -> tuple[int, int]:
    iq = int(np.nanargmax(table[qcol].to_numpy(dtype=float)))
    im = int(np.nanargmin(table["val_mse"].to_numpy(dtype=float)))
    return iq, im


@styled
def q_mse_curve(
    table: pd.DataFrame,
    *,
    probe: Literal["linear", "ridge"] = "linear",
    show_other_probe: bool = True,
    log_mse: bool | None = None,
    title: str | None = "Mean quality and validation MSE over training",
) -> Figure:
    """Q-bar (left axis) and validation MSE (right axis) against epoch, best checkpoints marked.

    Args:
        table: the checkpoint table (``epoch``, ``val_mse``, ``q_bar`` [, ``q_bar_ridge``]);
            with ``q_bar_lo`` / ``q_bar_hi`` the main curve's interval is drawn as a band.
        probe: which probe's Q-bar is the main curve and decides the best-Q-bar checkpoint.
        show_other_probe: also draw the other probe's Q-bar, dashed, when the table has it.
        log_mse: logarithmic MSE axis (``None``: when MSE spans more than a factor of 20).
        title: the axes title (``None``: none).

    Returns:
        The figure.
    """
    qcol = _qcol(probe)
    _check(table, qcol)
    t = table.sort_values("epoch").reset_index(drop=True)
    iq, im = _best(t, qcol)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax2 = ax.twinx()
    ax2.spines["right"].set_visible(True)
    ax2.grid(False)
    ep = t["epoch"].to_numpy()
    ax.plot(ep, t[qcol], "-o", color=Q_COLOR, ms=3, lw=1.5, label=f"Q-bar ({probe} probe)")
    if f"{qcol}_lo" in t and t[f"{qcol}_lo"].notna().any():
        ax.fill_between(
            ep,
            t[f"{qcol}_lo"],
            t[f"{qcol}_hi"],
            color=Q_COLOR,
            alpha=0.15,
            lw=0,
            label="95 % interval (bootstrap over folds)",
        )
    other = "ridge" if probe == "linear" else "linear"
    if show_other_probe and _qcol(other) in t:
        ax.plot(
            ep,
            t[_qcol(other)],
            "--",
            color=Q_COLOR,
            lw=1,
            alpha=0.6,
            label=f"Q-bar ({other} probe)",
        )
    ax2.plot(ep, t["val_mse"], "-s", color=MSE_COLOR, ms=3, lw=1.5, label="validation MSE")
    if _use_log(t["val_mse"], log_mse):
        ax2.set_yscale("log")
        _plain_log_labels(ax2.yaxis)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.plot(
        ep[iq],
        t[qcol].iloc[iq],
        "*",
        color=Q_COLOR,
        ms=14,
        mec="k",
        mew=0.6,
        zorder=5,
        label=f"best Q-bar {t[qcol].iloc[iq]:.2f} (epoch {ep[iq]})",
    )
    ax2.plot(
        ep[im],
        t["val_mse"].iloc[im],
        "D",
        color=MSE_COLOR,
        ms=8,
        mec="k",
        mew=0.6,
        zorder=5,
        label=f"best MSE {t['val_mse'].iloc[im]:.3g} (epoch {ep[im]})",
    )
    ax.axvline(ep[iq], color=Q_COLOR, lw=0.8, ls=":")
    ax.axvline(ep[im], color=MSE_COLOR, lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean quality Q-bar", color=Q_COLOR)
    ax2.set_ylabel("validation MSE", color=MSE_COLOR)
    ax.tick_params(axis="y", colors=Q_COLOR)
    ax2.tick_params(axis="y", colors=MSE_COLOR)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best", fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


@styled
def q_vs_mse(
    table: pd.DataFrame,
    *,
    probe: Literal["linear", "ridge"] = "linear",
    log_mse: bool | None = None,
    title: str | None = "Mean quality against validation MSE",
) -> Figure:
    """Q-bar against validation MSE, one point per checkpoint coloured by epoch, best ones marked.

    Args:
        table: the checkpoint table (``epoch``, ``val_mse``, ``q_bar`` [, ``q_bar_ridge``]);
            with ``q_bar_lo`` / ``q_bar_hi`` the main curve's interval is drawn as a band.
        probe: whose Q-bar is plotted.
        log_mse: logarithmic MSE axis (``None``: when MSE spans more than a factor of 20).
        title: the axes title (``None``: none).

    Returns:
        The figure.
    """
    qcol = _qcol(probe)
    _check(table, qcol)
    t = table.sort_values("epoch").reset_index(drop=True)
    iq, im = _best(t, qcol)
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t["val_mse"], t[qcol], "-", color="#888888", lw=0.8, zorder=1)
    sc = ax.scatter(t["val_mse"], t[qcol], c=t["epoch"], cmap="viridis", s=22, zorder=2)
    fig.colorbar(sc, ax=ax, label="epoch")
    ax.scatter(
        t["val_mse"].iloc[iq],
        t[qcol].iloc[iq],
        marker="*",
        s=220,
        facecolor=Q_COLOR,
        edgecolor="k",
        zorder=3,
        label=f"best Q-bar {t[qcol].iloc[iq]:.2f} (epoch {t['epoch'].iloc[iq]})",
    )
    ax.scatter(
        t["val_mse"].iloc[im],
        t[qcol].iloc[im],
        marker="D",
        s=70,
        facecolor=MSE_COLOR,
        edgecolor="k",
        zorder=3,
        label=f"best MSE {t['val_mse'].iloc[im]:.3g} (epoch {t['epoch'].iloc[im]})",
    )
    if _use_log(t["val_mse"], log_mse):
        ax.set_xscale("log")
        _plain_log_labels(ax.xaxis)
    ax.set_xlabel("validation MSE")
    ax.set_ylabel(f"mean quality Q-bar ({probe} probe)")
    ax.legend(loc="best", fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
