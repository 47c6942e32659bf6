"""Figures of the studies: the ablation heatmap (Z colour, Q text, hatched cells), the long run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2s_utils import studies
from e2s_utils.evaluate import z_from_q
from e2s_utils.plots import studies as plots
from tests.helpers import fake_ablation_results, mse_curve


def test_heatmap_annotates_q_and_hatches_masked_cells() -> None:
    _, results = fake_ablation_results()
    q = results.task_q(preset="as_intended")
    z = z_from_q(q)
    mask = pd.DataFrame(False, index=q.index, columns=q.columns)
    mask.iloc[0, 1] = True
    fig = plots.ablation_heatmap(q, z, mask=mask, title="t")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert f"{q.iloc[1, 0]:.1f}" in texts and f"({q.iloc[0, 1]:.1f})" in texts
    assert len(texts) == q.size + len(q)  # one per cell and one mean Z per row
    assert f"{z['Z'].iloc[0]:+.2f}" in texts
    assert sum(p.get_hatch() == "///" for p in ax.patches) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == list(q.index)
    with pytest.raises(ValueError, match="share"):
        plots.ablation_heatmap(q, z.iloc[:2])


def test_long_training_curve_marks_descents_drops_twin_and_best_q() -> None:
    e, mse = mse_curve("double")
    history = pd.DataFrame({"epoch": e.astype(int), "val_mse": mse})
    ck = np.array(studies.log_spaced_epochs(1600, 20))
    q = 10 - 3 * (np.log10(np.maximum(ck, 1)) - np.log10(30)) ** 2
    curve = pd.DataFrame(
        {"epoch": ck, "val_mse": mse[ck], "q_bar": q, "q_bar_lo": q - 1, "q_bar_hi": q + 1}
    )
    a = studies.detect_descents(history["epoch"], history["val_mse"])
    fig = plots.long_training_curve(
        history,
        curve,
        smoothed=a.smoothed_frame(),
        descents=a.descents_frame(),
        bumps=a.maxima,
        drops=[960.0, 1440.0],
        twin_history=history.assign(val_mse=history["val_mse"] * 1.1),
        twin_curve=curve.assign(q_bar=curve["q_bar"] - 1),
    )
    ax, ax2 = fig.axes[:2]
    assert ax.get_xscale() == "symlog" and ax.get_yscale() == "log"
    assert any("descent 2" in t.get_text() for t in ax.texts)
    best = curve.loc[curve["q_bar"].idxmax()]
    expected = f"best Q̄ {best['q_bar']:.2f}\n@ epoch {int(best['epoch'])}"
    assert [t.get_text() for t in ax2.texts] == [expected]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "learning-rate drop (x0.1)" in labels and "val MSE, constant-rate twin" in labels
    assert "Q̄, constant-rate twin" in labels and "95 % interval (bootstrap over folds)" in labels
    plain = plots.long_training_curve(history, curve[["epoch", "val_mse", "q_bar"]])
    assert len(plain.axes[0].texts) == 0  # no descents given, none drawn
