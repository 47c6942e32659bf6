"""The fold-score figure: one panel per task with finite scores, Q per method, outliers clipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2s_utils.evaluate import EvalResult, TaskResult, summarize_folds
from e2s_utils.plots.evaluation import plot_fold_scores


def _folds(method: str, probe: str) -> pd.DataFrame:
    folds = {"a": np.array([0.5, 0.6, -30.0]), "b": np.array([np.nan, np.nan]), "c": np.array([])}
    tasks = {
        name: TaskResult(name, "regression", 10, *summarize_folds(f), folds=f)
        for name, f in folds.items()
    }
    return EvalResult(probe, 0.0, tasks).folds_frame().assign(method=method, probe=probe)


def test_panels_titles_and_clipping() -> None:
    frame = pd.concat([_folds("m1", "linear"), _folds("m1 ridge", "ridge")], ignore_index=True)
    assert len(frame) == 10
    fig = plot_fold_scores(frame)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # only task "a" has finite fold scores
    q = summarize_folds(np.array([0.5, 0.6, -30.0]))[2]
    assert axes[0].get_title() == f"a\nQ {q:.1f}, Q {q:.1f}"
    assert axes[0].get_ylim()[0] > -5  # the -30 fold is clipped
    assert axes[0].get_ylabel() == "fold R²"


def test_ridge_rows_classification_and_errors() -> None:
    ridge = _folds("m", "ridge").assign(kind="classification")
    fig = plot_fold_scores(ridge, tasks=["a"])
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_title().startswith("a\nQ ridge") and ax.get_ylabel() == "fold F1"
    with pytest.raises(ValueError, match="no finite fold score"):
        plot_fold_scores(_folds("m", "linear"), tasks=["b"])


def test_figure_is_not_registered_with_pyplot() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_fold_scores(_folds("m", "linear"))
    assert plt.get_fignums() == before
