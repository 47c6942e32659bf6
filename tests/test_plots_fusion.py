"""Tests of the fusion figures: both draw, and the best-Q-bar / best-MSE checkpoints are marked."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from e2s_utils.plots import fusion as fplots


@pytest.fixture
def table() -> pd.DataFrame:
    epochs = np.arange(0, 55, 5)
    mse = 2.0 * np.exp(-epochs / 15) + 0.1
    mse[-1] = 0.05  # best MSE at the last epoch
    q = 5 + 10 * np.sin(epochs / 50 * np.pi / 1.2)  # peaks mid-run
    return pd.DataFrame(
        {"epoch": epochs, "train_loss": mse * 1.1, "val_mse": mse, "q_bar": q, "q_bar_ridge": q + 1}
    )


def _marker(ax, marker):
    return [ln for ln in ax.get_lines() if ln.get_marker() == marker]


def test_q_mse_curve_marks_best(table):
    fig = fplots.q_mse_curve(table, log_mse=True)
    ax, ax2 = fig.axes[:2]
    best_q = int(table["epoch"].iloc[table["q_bar"].idxmax()])
    (star,) = _marker(ax, "*")
    assert star.get_xdata()[0] == best_q and star.get_ydata()[0] == table["q_bar"].max()
    (diamond,) = _marker(ax2, "D")
    assert diamond.get_xdata()[0] == 50 and diamond.get_ydata()[0] == pytest.approx(0.05)
    assert ax2.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("best Q-bar" in s for s in labels) and any("best MSE" in s for s in labels)
    assert any("ridge" in s for s in labels)
    fig.savefig(io.BytesIO(), format="png")
    # automatic scale: log only when MSE spans more than a factor of 20
    assert fplots.q_mse_curve(table).axes[1].get_yscale() == "log"
    narrow = table.assign(val_mse=table["val_mse"].clip(lower=0.5))
    assert fplots.q_mse_curve(narrow).axes[1].get_yscale() == "linear"


def test_q_vs_mse_marks_best(table):
    fig = fplots.q_vs_mse(table, probe="ridge")
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections]
    # the scatter of all points, the best-Q star and the best-MSE diamond
    assert len(offsets) == 3 and len(offsets[0]) == len(table)
    iq = table["q_bar_ridge"].idxmax()
    assert tuple(offsets[1][0]) == (table["val_mse"][iq], table["q_bar_ridge"][iq])
    assert tuple(offsets[2][0]) == (0.05, table["q_bar_ridge"].iloc[-1])
    fig.savefig(io.BytesIO(), format="png")


def test_missing_columns_are_named(table):
    with pytest.raises(ValueError, match="q_bar_ridge"):
        fplots.q_vs_mse(table.drop(columns="q_bar_ridge"), probe="ridge")
