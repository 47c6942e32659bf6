"""``evaluate()``: the protocol applied end to end (standardisation, labels, ids, NaN, batching)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from e2s_utils import evaluate as ev
from e2s_utils.evaluate import EvaluationError
from tests.helpers import PER_FOLD, label_task, make_ids, probe_loop_reference


def test_evaluate_equals_the_per_fold_loop_on_standardised_scaled_inputs() -> None:
    rng = np.random.default_rng(12)
    n, ids = 90, make_ids(90)
    y = rng.gamma(2.0, size=n)
    X = np.c_[y, rng.normal(size=(n, 5))] * 7.0 + 3.0
    res = ev.evaluate(ids, X, {"t": label_task("t", ids, y)}, k_folds=3, epochs=2, **PER_FOLD)
    Xs = ev.standardize_global(X)
    splits = ev.shuffle_splits(n, 3, 42)
    ref = probe_loop_reference(Xs, ev.minmax_scale(y), False, splits, 42, 2)
    np.testing.assert_allclose(res.tasks["t"].folds, np.nanmax(ref, axis=0), atol=1e-5)
    mean, std, q = ev.summarize_folds(res.tasks["t"].folds)
    assert res.tasks["t"].q == pytest.approx(q) and res.q_bar == pytest.approx(q)


def test_evaluate_uses_global_not_per_dimension_standardisation() -> None:
    rng = np.random.default_rng(1)
    n, ids = 200, make_ids(200)
    y = rng.random(n)
    X = np.c_[y[:, None] + 0.1 * rng.normal(size=(n, 1)), rng.normal(size=(n, 7))]
    tasks = {"t": label_task("t", ids, y)}
    kw = {"probe": "linear", "k_folds": 4, "epochs": 3, **PER_FOLD}
    base = ev.evaluate(ids, X, tasks, **kw)
    shifted = ev.evaluate(ids, 3.0 * X + 5.0, tasks, **kw)  # global affine: same after scaling
    np.testing.assert_allclose(base.tasks["t"].folds, shifted.tasks["t"].folds, atol=1e-4)
    per_dim = X.copy()
    per_dim[:, 0] *= 50.0  # a per-dimension change is not undone by a global scalar
    other = ev.evaluate(ids, per_dim, tasks, **kw)
    assert np.abs(other.tasks["t"].folds - base.tasks["t"].folds).max() > 1e-2
    raw = ev.evaluate(ids, 3.0 * X + 5.0, tasks, standardize_embeddings=False, **kw)
    assert np.abs(raw.tasks["t"].folds - base.tasks["t"].folds).max() > 1e-2


def test_labels_are_min_max_scaled_per_task() -> None:
    rng = np.random.default_rng(2)
    n, ids = 150, make_ids(150)
    y = rng.random(n)
    X = np.c_[y, rng.normal(size=(n, 5))]
    kw = {"k_folds": 3, "epochs": 2, **PER_FOLD}
    a = ev.evaluate(ids, X, {"t": label_task("t", ids, y)}, **kw)
    b = ev.evaluate(ids, X, {"t": label_task("t", ids, 40.0 * y - 7.0)}, **kw)
    np.testing.assert_allclose(a.tasks["t"].folds, b.tasks["t"].folds, atol=1e-5)
    c = ev.evaluate(
        ids, X, {"t": label_task("t", ids, 40.0 * y - 7.0)}, normalize_labels=False, **kw
    )
    assert np.abs(c.tasks["t"].folds - a.tasks["t"].folds).max() > 1e-2


def test_ids_intersected_per_task_in_label_order() -> None:
    rng = np.random.default_rng(3)
    ids = make_ids(120)
    X = rng.normal(size=(120, 4))
    extra = [*ids[:80], "not_embedded_1", "not_embedded_2"]
    task = label_task("t", extra, rng.random(82))
    kw = {"k_folds": 2, "epochs": 1, **PER_FOLD}
    with pytest.warns(UserWarning, match="2 labelled id"):
        res = ev.evaluate(ids, X, {"t": task}, **kw)
    assert res.tasks["t"].n == 80
    emb_ids = [i + ".zarr.zip" for i in ids]  # suffixes are ignored
    res2 = ev.evaluate(emb_ids, X, {"t": label_task("t", ids[:80], task.labels[:80])}, **kw)
    np.testing.assert_array_equal(res.tasks["t"].folds, res2.tasks["t"].folds)
    with pytest.raises(EvaluationError, match="no embedding id matches"):
        ev.evaluate(["x", "y"], X[:2], {"t": task}, **kw)


def test_constant_label_column_and_empty_task() -> None:
    rng = np.random.default_rng(4)
    ids = make_ids(60)
    X = rng.normal(size=(60, 4))
    tasks = {
        "const": label_task("const", ids, np.full(60, 3.0)),
        "empty": label_task("empty", ["elsewhere"], [1.0]),
        "ok": label_task("ok", ids, rng.random(60)),
    }
    kw = {"k_folds": 3, "epochs": 1, **PER_FOLD}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ev.evaluate(ids, X, tasks, **kw)
    messages = " ".join(str(w.message) for w in caught)
    assert "labels are equal" in messages and "shares no id" in messages
    assert res.tasks["const"].n == 60 and math.isnan(res.tasks["const"].q)
    assert res.tasks["empty"].n == 0 and math.isnan(res.tasks["empty"].q)
    assert res.tasks["empty"].folds.size == 0
    assert math.isfinite(res.tasks["ok"].q)
    assert math.isnan(res.q_bar)  # a NaN task makes Q-bar NaN, as in the benchmark
    res2 = ev.evaluate(ids, X, {k: tasks[k] for k in ("empty", "ok")}, **kw)
    assert res2.q_bar == pytest.approx(res2.tasks["ok"].q)  # the empty task is not averaged


def test_evaluate_deterministic_and_tasks_batched_together() -> None:
    rng = np.random.default_rng(7)
    ids = make_ids(100)
    X = rng.normal(size=(100, 16))
    both = {"a": label_task("a", ids, rng.random(100)), "b": label_task("b", ids, rng.random(100))}
    kw = {"k_folds": 3, "epochs": 2, **PER_FOLD}
    r1 = ev.evaluate(ids, X, both, **kw)
    r2 = ev.evaluate(ids, X, both, **kw)
    np.testing.assert_array_equal(r1.tasks["a"].folds, r2.tasks["a"].folds)  # bit-identical
    alone = ev.evaluate(ids, X, {"a": both["a"]}, **kw)
    np.testing.assert_allclose(alone.tasks["a"].folds, r1.tasks["a"].folds, atol=1e-6)
    assert r1.probe == "linear" and list(r1.to_frame().index) == ["a", "b"]


def test_the_protocol_is_recorded_in_the_result() -> None:
    rng = np.random.default_rng(8)
    ids = make_ids(40)
    X = rng.normal(size=(40, 3))
    tasks = {"t": label_task("t", ids, rng.random(40))}
    res = ev.evaluate(ids, X, tasks, protocol="neuco_current", k_folds=2, **PER_FOLD)
    proto = res.config["protocol"]
    assert proto["name"] == "neuco_current" and proto["k_folds"] == 2 and proto["epochs"] == 10
    assert proto["overrides"] == ["k_folds", "random_stream"]
    assert res.config["probe"] == "linear" and res.config["embedding_dim"] == 3
    assert res.config["n_embeddings"] == 40 and len(res.tasks["t"].folds) == 2
    # a Protocol object is taken as is; keyword overrides apply on top of it
    given = ev.get_protocol("paper", k_folds=2, epochs=1, **PER_FOLD)
    res2 = ev.evaluate(ids, X, tasks, protocol=given, seed=7)
    assert res2.config["protocol"] == given.with_overrides(seed=7).to_dict()
    # the default is the paper's protocol
    default = ev.evaluate(ids, X, tasks, probe="ridge", k_folds=2)
    assert default.config["protocol"]["name"] == "paper"
    assert default.config["protocol"]["epochs"] == 20
    assert ev.EvalResult.from_dict(res.to_dict()).config == res.config


def test_the_challenge_protocol_leaves_out_its_tasks_but_not_their_ids() -> None:
    rng = np.random.default_rng(9)
    ids = make_ids(60)
    X = rng.normal(size=(60, 4))
    crops = label_task("crops", ids[:40], rng.random(40))
    clouds = label_task("clouds_reg", ids[20:], rng.random(40))
    kw = {"k_folds": 2, "epochs": 2, **PER_FOLD}
    res = ev.evaluate(ids, X, {"crops": crops, "clouds_reg": clouds}, protocol="challenge", **kw)
    assert list(res.tasks) == ["crops"]
    # standardisation still covers every labelled id (the excluded task's too), as the benchmark
    paper = ev.evaluate(ids, X, {"crops": crops, "clouds_reg": clouds}, task_filter=["crops"], **kw)
    np.testing.assert_allclose(res.tasks["crops"].folds, paper.tasks["crops"].folds, atol=1e-6)
    labelled = np.isin(ids, [*crops.labels.index, *clouds.labels.index])
    pre = ev.standardize_global(X, labelled)
    ref = ev.evaluate(ids, pre, {"crops": crops}, standardize_embeddings=False, **kw)
    np.testing.assert_allclose(res.tasks["crops"].folds, ref.tasks["crops"].folds, atol=1e-6)
    alone = ev.evaluate(ids, X, {"crops": crops}, **kw)
    assert np.abs(alone.tasks["crops"].folds - res.tasks["crops"].folds).max() > 1e-3


def test_malformed_inputs_are_named() -> None:
    ids = make_ids(10)
    X = np.zeros((10, 3))
    tasks = {"t": label_task("t", ids, np.arange(10.0))}
    with pytest.raises(EvaluationError, match="2-D"):
        ev.evaluate(ids, np.zeros(10), tasks)
    with pytest.raises(EvaluationError, match="9 ids for 10"):
        ev.evaluate(ids[:9], X, tasks)
    with pytest.raises(EvaluationError, match="duplicated"):
        ev.evaluate([ids[0]] * 10, X, tasks)
    with pytest.raises(EvaluationError, match="probe must be one of"):
        ev.evaluate(ids, X, tasks, probe="mlp")  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match=r"\['zz'\] not among"):
        ev.evaluate(ids, X, tasks, task_filter=["zz"])
    with pytest.raises(EvaluationError, match="more than embedding_dim=2"):
        ev.evaluate(ids, X, tasks, embedding_dim=2)
    with pytest.raises(EvaluationError, match="binary"):
        ev.evaluate(ids, X, {"c": label_task("c", ids, np.arange(10.0), "classification")})
    Xn = np.ones((10, 3))
    Xn[0, 0] = np.nan
    with pytest.warns(UserWarning, match="1 non-finite"):
        res = ev.evaluate(ids, Xn, tasks, embedding_dim=5, k_folds=2, epochs=1, **PER_FOLD)
    assert res.config["embedding_dim"] == 5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    rng = np.random.default_rng(8)
    ids = make_ids(300)
    X = rng.normal(size=(300, 64))
    tasks = {"t": label_task("t", ids, X[:, 0] + rng.normal(size=300))}
    cpu = ev.evaluate(ids, X, tasks, k_folds=5, epochs=3, **PER_FOLD)
    gpu = ev.evaluate(ids, X, tasks, k_folds=5, epochs=3, device="cuda", **PER_FOLD)
    np.testing.assert_allclose(cpu.tasks["t"].folds, gpu.tasks["t"].folds, atol=1e-4)


def test_reference_rows_random_negative_signal_high() -> None:
    rng = np.random.default_rng(10)
    n, d = 300, 1024
    ids = make_ids(n)
    labels = {f"r{j}": rng.gamma(2.0, size=n) for j in range(2)}
    tasks = {k: label_task(k, ids, v) for k, v in labels.items()}
    noise = rng.normal(size=(n, d))
    kw = {"k_folds": 10, "epochs": 10, "num_threads": 1, **PER_FOLD}
    for probe in ("linear", "ridge"):
        res = ev.evaluate(ids, noise, tasks, probe=probe, **kw)
        assert res.q_bar < 0, (probe, res.q_bar)
    signal = np.stack([ev.minmax_scale(v) for v in labels.values()], 1)
    carrying = np.repeat(signal, 100, axis=1)
    carrying = np.c_[carrying, np.zeros((n, d - carrying.shape[1]))] + 0.05 * noise
    res = ev.evaluate(ids, carrying, tasks, probe="ridge", **kw)
    assert res.q_bar > 30, res.q_bar
    assert all(t.mean > 0.9 for t in res.tasks.values())


@pytest.mark.slow
def test_reference_rows_faithful_probe_needs_thousands_of_samples() -> None:
    # label x512 + N(0, 1) noise: the faithful probe scores high from n ~ 6,000 on, and below
    # zero at a few hundred samples (benchmarks/results/evaluate_reference_rows.md has the sweep)
    rng = np.random.default_rng(11)
    d = 1024

    def rows(n: int) -> tuple[list[str], np.ndarray, dict]:
        ids = make_ids(n)
        labels = {"skewed": rng.gamma(2.0, size=n), "uniform": rng.random(n)}
        X = rng.normal(size=(n, d))
        for j, v in enumerate(labels.values()):
            X[:, j * 512 : (j + 1) * 512] += ((v - v.mean()) / v.std())[:, None]
        return ids, X, {k: label_task(k, ids, v) for k, v in labels.items()}

    threads = torch.get_num_threads()
    kw = {"k_folds": 10, "epochs": 10, "num_threads": 1, **PER_FOLD}
    ids, X, tasks = rows(6000)
    big = ev.evaluate(ids, X, tasks, **kw)
    assert big.q_bar > 40, big.q_bar
    assert all(t.mean > 0.8 for t in big.tasks.values())
    ids, X, tasks = rows(400)
    small = ev.evaluate(ids, X, tasks, **kw)
    assert torch.get_num_threads() == threads  # restored
    assert small.q_bar < 0, small.q_bar
