"""Tasks on the same rows trained as one computation give each task its own computation's scores.

Under the exact stream every task draws its own initialisations and mini-batch orders; the
batched trainer holds them as units of their own (own init, own permutations, own label column,
own scoring) beside the other tasks'. The ``gather`` computation is then bit-identical to one
computation per task (each unit's products are the same batched products); the ``dense`` one sums
one large product instead of one per task, which rounds differently for some shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
import torch

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate import core, linear, probe
from e2s_utils.evaluate.benchmark import (
    StreamTask,
    benchmark_fold_scores,
    benchmark_stream,
    split_sizes,
)
from tests.helpers import make_ids


def _assert_same(a: np.ndarray, b: np.ndarray, method: str) -> None:
    """Bit-identical for ``fused`` and ``gather``, to float rounding for ``dense``."""
    if method in ("fused", "gather"):
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _problem(n_mat: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list, Mapping]:
    rng = np.random.default_rng(3)
    n, d, k, epochs = 150, 12, 5, 3
    X = rng.normal(size=(n_mat, n, d)).astype(np.float32)
    signal = X[0, :, :3].sum(1)
    y_reg = ev.minmax_scale(signal + rng.normal(size=n))
    y_cls = (ev.minmax_scale(signal) > 0.5).astype(np.float64)
    y_weak = ev.minmax_scale(X[0, :, 5] + 2 * rng.normal(size=n))
    Y = torch.from_numpy(np.stack([y_reg, y_cls, y_weak, 1 - y_cls], 1)).float()
    is_cls = torch.tensor([False, True, False, True])
    splits = ev.shuffle_splits(n, k, 42)
    stream = [StreamTask(f"t{j}", *split_sizes(n)) for j in range(4)]
    draws = benchmark_stream(stream, d, k, epochs)
    Xt = torch.from_numpy(X)
    return (Xt[0] if n_mat == 1 else Xt), Y, is_cls, splits, draws


@pytest.mark.parametrize("n_mat", [1, 3])
@pytest.mark.parametrize("method", ["fused", "gather", "dense"])
def test_tasks_with_their_own_draws_in_one_computation(method: str, n_mat: int) -> None:
    X, Y, is_cls, splits, draws = _problem(n_mat)
    init = np.stack([draws[f"t{j}"].init for j in range(4)])
    perms = np.stack([draws[f"t{j}"].perms for j in range(4)], axis=1)
    kw = {"method": method, "score_fn": benchmark_fold_scores}
    best, hist = ev.train_linear_folds(X, Y, is_cls, splits, init, perms, **kw)  # type: ignore[arg-type]
    lead = (n_mat,) if n_mat > 1 else ()
    assert best.shape == (*lead, 5, 4) and hist.shape == (3, *lead, 5, 4)
    for j in range(4):
        alone, alone_hist = ev.train_linear_folds(
            X,
            Y[:, j : j + 1],
            is_cls[j : j + 1],
            splits,
            init[j],
            perms[:, j],
            **kw,  # type: ignore[arg-type]
        )
        _assert_same(best[..., j], alone[..., 0], method)
        _assert_same(hist[..., j], alone_hist[..., 0], method)
    assert np.isfinite(best).all()
    # each task its own numbers: the two classification tasks (complementary labels) differ
    assert not np.array_equal(best[..., 1], best[..., 3])


def test_per_task_draws_must_fit_the_tasks() -> None:
    X, Y, is_cls, splits, draws = _problem(1)
    init = np.stack([draws[f"t{j}"].init for j in range(3)])  # 3 tasks' draws for 4 tasks
    perms = np.stack([draws[f"t{j}"].perms for j in range(3)], axis=1)
    with pytest.raises(ValueError, match="T = 4"):
        ev.train_linear_folds(X, Y, is_cls, splits, init, perms)
    with pytest.raises(ValueError, match="expected"):
        ev.train_linear_folds(X, Y[:, :3], is_cls[:3], splits, init, draws["t0"].perms)


# ------------------------------------------------------------------- evaluate(), end to end
def _tasks(ids: list[str], seed: int) -> dict[str, LabelTask]:
    """Tasks on partly shared rows, as the real ones: three on one subset, two on another ..."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    subsets = {"a": rng.random(n) < 0.7, "b": rng.random(n) < 0.55, "all": np.ones(n, bool)}
    spec = [
        ("a_reg", "a", "regression"),
        ("a_cls", "a", "classification"),
        ("a_reg2", "a", "regression"),
        ("b_reg", "b", "regression"),
        ("b_cls", "b", "classification"),
        ("all_reg", "all", "regression"),
    ]
    out = {}
    for name, subset, kind in spec:
        keep = subsets[subset]
        values = rng.random(keep.sum())
        if kind == "classification":
            values = (values > 0.5).astype(float)
        index = pd.Index(np.array(ids)[keep], name="id")
        out[name] = LabelTask(name, kind, pd.Series(values, index=index, name=name))  # type: ignore[arg-type]
    return out


def _per_task_reference(
    ids: list[str],
    mats: Mapping[str, np.ndarray],
    tasks: Mapping[str, LabelTask],
    method: str,
    **kw: object,
) -> dict[str, dict[str, np.ndarray]]:
    """Every task's fold scores from a computation of its own, with ``evaluate()``'s draws."""
    protocol = ev.get_protocol("paper").with_overrides(**kw)
    exact = protocol.random_stream == "exact"
    norm_ids, _ = core.prepare_matrix(ids, next(iter(mats.values())))
    prepared, labelled = core._prepare_tasks(norm_ids, tasks, sorted(tasks), protocol)
    d = next(iter(mats.values())).shape[1]
    randomness = core.draw_randomness(list(prepared.values()), d, protocol)
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, X in mats.items():
        dtype = np.float32 if exact else np.float64
        Xs = ev.standardize_global(X.astype(np.float32), labelled, dtype=dtype)
        out[key] = {}
        for name, prep in prepared.items():
            splits = ev.shuffle_splits(len(prep.rows), protocol.k_folds, protocol.seed)
            if randomness is not None:
                init, perms = randomness[name]
            else:
                init, perms = ev.fold_randomness(
                    d, len(splits[0][0]), protocol.k_folds, protocol.epochs, protocol.seed
                )
            folds, _ = ev.train_linear_folds(
                Xs[prep.rows],
                prep.y[:, None].astype(np.float32),
                np.array([prep.kind == "classification"]),
                splits,
                init,
                perms,
                score_fn=benchmark_fold_scores if exact else None,
                method=method,  # type: ignore[arg-type]
            )
            out[key][name] = folds[:, 0]
    return out


@pytest.mark.parametrize("method", ["fused", "gather", "dense"])
@pytest.mark.parametrize("stream", ["exact", "per_fold"])
def test_evaluate_groups_tasks_by_rows_and_equals_one_computation_per_task(
    stream: str, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    ids = make_ids(120)
    tasks = _tasks(ids, 11)
    mats = {f"m{i}": rng.normal(size=(120, 10)).astype(np.float32) * (i + 1) for i in range(2)}
    kw = {"k_folds": 4, "epochs": 3, "random_stream": stream}
    calls: list[int] = []
    original = probe.train_linear_folds

    def counting(*args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        calls.append(args[1].shape[1])  # type: ignore[attr-defined]
        return original(*args, **{**kwargs, "method": method})  # type: ignore[arg-type]

    monkeypatch.setattr(core, "train_linear_folds", counting)
    many = ev.evaluate_many(ids, mats, tasks, **kw)  # type: ignore[arg-type]
    assert sorted(calls) == [1, 2, 3]  # three row sets: all_reg, b_*, a_*
    calls.clear()
    one = ev.evaluate(ids, mats["m0"], tasks, **kw)  # type: ignore[arg-type]
    assert sorted(calls) == [1, 2, 3]
    monkeypatch.setattr(core, "train_linear_folds", original)
    reference = _per_task_reference(ids, mats, tasks, method, **kw)
    # per-fold stream: tasks on the same rows share their draws and so their units (one weight
    # row each in one product), which rounds differently from a unit per task
    how = method if stream == "exact" else "dense"
    for key in mats:
        for name in tasks:
            _assert_same(many[key].tasks[name].folds, reference[key][name], how)
    for name in tasks:
        _assert_same(one.tasks[name].folds, reference["m0"][name], how)
        np.testing.assert_allclose(one.tasks[name].folds, many["m0"].tasks[name].folds, rtol=1e-5)


def test_auto_picks_dense_for_few_rows_and_gather_for_many() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    # one task per unit (the exact stream): dense up to 6 batches of rows
    assert linear.pick_method(384, 64, 1, cpu) == "dense"
    assert linear.pick_method(385, 64, 1, cpu) == "gather"
    assert linear.pick_method(2000, 64, 1, cpu) == "gather"
    assert linear.pick_method(100, 32, 1, cpu) == "dense"
    assert linear.pick_method(200, 32, 1, cpu) == "gather"
    # tasks sharing every draw share the gathered rows: dense only up to 4 batches
    assert linear.pick_method(256, 64, 3, cpu) == "dense"
    assert linear.pick_method(300, 64, 3, cpu) == "gather"
    # the number of units (folds x tasks x matrices) does not enter the rule
    assert linear.pick_method(50, 64, 1, gpu) == "gather"
