"""The compiled CPU probe: the torch computations' scores, any thread count, the reference loop."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from e2s_utils import evaluate as ev
from e2s_utils import runtime
from e2s_utils.evaluate.benchmark import (
    StreamTask,
    benchmark_fold_scores,
    benchmark_stream,
    split_sizes,
)
from tests.helpers import probe_loop_reference


def _problem(n: int = 140, d: int = 9, k: int = 4, epochs: int = 3):  # noqa: ANN202
    rng = np.random.default_rng(8)
    X = rng.normal(size=(2, n, d)).astype(np.float32)
    signal = X[0, :, :2].sum(1)
    y_reg = ev.minmax_scale(signal + rng.normal(size=n))
    y_cls = (signal > 0).astype(np.float64)
    Y = np.stack([y_reg, y_cls], 1).astype(np.float32)
    is_cls = np.array([False, True])
    splits = ev.shuffle_splits(n, k, 42)
    draws = benchmark_stream([StreamTask(f"t{j}", *split_sizes(n)) for j in range(2)], d, k, epochs)
    init = np.stack([draws[f"t{j}"].init for j in range(2)])
    perms = np.stack([draws[f"t{j}"].perms for j in range(2)], axis=1)
    return X, Y, is_cls, splits, init, perms


@pytest.mark.parametrize("stream", ["exact", "per_fold"])
def test_fused_equals_the_torch_computations_to_float_rounding(stream: str) -> None:
    X, Y, is_cls, splits, init, perms = _problem()
    if stream == "per_fold":  # every task shares each fold's draws: one unit, two weight rows
        init, perms = ev.fold_randomness(X.shape[2], len(splits[0][0]), len(splits), 3, 42)
    out = {
        m: ev.train_linear_folds(
            X, Y, is_cls, splits, init, perms, method=m, score_fn=benchmark_fold_scores
        )
        for m in ("fused", "gather", "dense")
    }
    best, hist = out["fused"]
    assert best.shape == (2, 4, 2) and hist.shape == (3, 2, 4, 2)
    assert np.isfinite(hist).all()
    for m in ("gather", "dense"):
        np.testing.assert_allclose(best, out[m][0], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(hist, out[m][1], rtol=2e-5, atol=2e-6)


def test_thread_count_does_not_change_a_score() -> None:
    X, Y, is_cls, splits, init, perms = _problem()
    one = ev.train_linear_folds(X, Y, is_cls, splits, init, perms, method="fused", threads=1)
    many = ev.train_linear_folds(X, Y, is_cls, splits, init, perms, method="fused", threads=5)
    np.testing.assert_array_equal(one[1], many[1])


@pytest.mark.parametrize("is_cls", [False, True])
def test_fused_equals_the_per_fold_loop(is_cls: bool) -> None:
    rng = np.random.default_rng(2)
    n, d, epochs = 120, 7, 3
    X = rng.normal(size=(n, d)).astype(np.float32)
    signal = X[:, 0] - X[:, 3]
    y = (signal > 0).astype(np.float64) if is_cls else ev.minmax_scale(signal + rng.normal(size=n))
    splits = ev.shuffle_splits(n, 3, 42)
    init, perms = ev.fold_randomness(d, len(splits[0][0]), 3, epochs, 42)
    _, hist = ev.train_linear_folds(
        X, y[:, None].astype(np.float32), np.array([is_cls]), splits, init, perms, method="fused"
    )
    loop = probe_loop_reference(X, y, is_cls, splits, 42, epochs)
    np.testing.assert_allclose(hist[:, :, 0], loop, rtol=1e-4, atol=1e-5)


def test_cpu_threads_follows_request_then_torch_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert runtime.cpu_threads(3) == 3
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert runtime.cpu_threads() == 1
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert runtime.cpu_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "x")
    assert runtime.cpu_threads() >= 1
