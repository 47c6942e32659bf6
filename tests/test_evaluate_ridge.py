"""The converged ridge probe: equal to scikit-learn's Ridge at the penalty it chooses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import f1_score, r2_score

from e2s_utils.evaluate import minmax_scale, ridge_folds, shuffle_splits
from e2s_utils.evaluate.ridge import RIDGE_ALPHA_GRID


@pytest.mark.parametrize(("n", "d"), [(60, 30), (40, 90)], ids=["primal", "dual"])
def test_ridge_matches_sklearn_at_the_chosen_penalty(n: int, d: int) -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(n, d))
    y = minmax_scale(X[:, :3].sum(1) + 0.5 * rng.normal(size=n))
    splits = shuffle_splits(n, 3, 0)
    scores, alphas = ridge_folds(
        torch.from_numpy(X), torch.from_numpy(y[:, None]), torch.tensor([False]), splits
    )
    assert scores.shape == alphas.shape == (3, 1)
    for k, (tr, te) in enumerate(splits):
        model = Ridge(alpha=float(alphas[k, 0])).fit(X[tr], y[tr])
        assert scores[k, 0] == pytest.approx(r2_score(y[te], model.predict(X[te])), abs=1e-8)


def test_ridge_classification_thresholds_at_one_half() -> None:
    rng = np.random.default_rng(3)
    n, d = 80, 10
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(float)
    splits = shuffle_splits(n, 2, 0)
    scores, alphas = ridge_folds(
        torch.from_numpy(X), torch.from_numpy(y[:, None]), torch.tensor([True]), splits
    )
    for k, (tr, te) in enumerate(splits):
        pred = Ridge(alpha=float(alphas[k, 0])).fit(X[tr], y[tr]).predict(X[te]) > 0.5
        assert scores[k, 0] == pytest.approx(f1_score(y[te], pred), abs=1e-9)


def test_ridge_penalty_is_chosen_from_the_relative_grid() -> None:
    rng = np.random.default_rng(1)
    X = torch.from_numpy(rng.normal(size=(50, 8)))
    Y = torch.from_numpy(rng.random((50, 2)))
    splits = shuffle_splits(50, 2, 0)
    _, alphas = ridge_folds(X, Y, torch.tensor([False, False]), splits)
    assert np.isfinite(alphas).all() and (alphas > 0).all()
    _, only = ridge_folds(X, Y, torch.tensor([False, False]), splits, alpha_grid=(1.0,))
    assert (only[:, 0] == only[:, 1]).all()  # one candidate: the same penalty for each task
    assert len(RIDGE_ALPHA_GRID) == 19 and RIDGE_ALPHA_GRID[0] == pytest.approx(1e-6)
