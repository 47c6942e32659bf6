"""The batched linear probe: every fold and task at once, equal to a plain per-fold loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2s_utils.evaluate import fold_randomness, minmax_scale, shuffle_splits, train_linear_folds
from tests.helpers import probe_loop_reference


@pytest.mark.parametrize("method", ["gather", "dense"])
def test_batched_probe_equals_per_fold_loop(method: str) -> None:
    rng = np.random.default_rng(5)
    n, d, k, epochs = 150, 12, 4, 3
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = minmax_scale(X[:, :3].sum(1) + rng.normal(size=n))
    yc = (y > 0.5).astype(np.float64)
    splits = shuffle_splits(n, k, 42)
    init, perms = fold_randomness(d, len(splits[0][0]), k, epochs, 42)
    Y = torch.from_numpy(np.stack([y, yc], 1)).float()
    best, hist = train_linear_folds(
        torch.from_numpy(X),
        Y,
        torch.tensor([False, True]),
        splits,
        init,
        perms,
        batch_size=32,
        method=method,
    )
    ref_reg = probe_loop_reference(X, y, False, splits, 42, epochs, batch_size=32)
    ref_cls = probe_loop_reference(X, yc, True, splits, 42, epochs, batch_size=32)
    np.testing.assert_allclose(hist[:, :, 0], ref_reg, atol=1e-5)
    np.testing.assert_allclose(hist[:, :, 1], ref_cls, atol=1e-5)
    # the fold score is the best epoch-end test score
    np.testing.assert_array_equal(best, np.nanmax(hist, axis=0))
    assert (best[:, 0] >= hist[-1, :, 0]).all()


def test_best_epoch_selection_ignores_nan_epochs() -> None:
    rng = np.random.default_rng(6)
    n, d, k = 80, 5, 3
    X = torch.from_numpy(rng.normal(size=(n, d)).astype(np.float32))
    splits = shuffle_splits(n, k, 1)
    init, perms = fold_randomness(d, len(splits[0][0]), k, 4, 1)
    y = torch.rand(n, 1, generator=torch.Generator().manual_seed(0))
    best, hist = train_linear_folds(X, y, torch.tensor([False]), splits, init, perms)
    assert hist.shape == (4, k, 1)
    assert np.argmax(hist[:, 0, 0]) == np.flatnonzero(hist[:, 0, 0] == best[0, 0])[0]
    y_const = torch.full((n, 1), 0.5)  # R2 undefined on every test fold -> NaN fold
    best_c, _ = train_linear_folds(X, y_const, torch.tensor([False]), splits, init, perms)
    assert np.isnan(best_c).all()


def test_zero_epochs_give_nan_folds() -> None:
    X = torch.zeros(20, 3)
    splits = shuffle_splits(20, 2, 0)
    init, perms = fold_randomness(3, len(splits[0][0]), 2, 0, 0)
    best, hist = train_linear_folds(
        X, torch.rand(20, 1), torch.tensor([False]), splits, init, perms
    )
    assert hist.shape == (0, 2, 1) and np.isnan(best).all()
