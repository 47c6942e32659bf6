"""Every checkpoint through the real evaluator: the Q̄-versus-MSE table, its cache and its picks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import cache, fusion
from e2s_utils import evaluate as ev
from e2s_utils.fusion import FusionError
from e2s_utils.store import FusionData
from tests.helpers import random_tasks, small_fusion_config, train_val

#: A tiny protocol: two folds, one probe epoch, the per-fold stream.
PROTOCOL = ev.get_protocol("neuco_current", k_folds=2, epochs=1, random_stream="per_fold")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FusionData]:
    """A trained 3-epoch run (snapshots at 0, 2, 3) and the data it trained on."""
    train_d, val_d = train_val()
    run_dir = tmp_path_factory.mktemp("curve") / "run"
    cfg = small_fusion_config(epochs=3, checkpoint_every=2)
    fusion.train(cfg, train_d, val_d, run_dir, progress=False)
    return run_dir, train_d


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Every embedding matrix the real evaluator scores, counted: ``(probe, protocol)``."""
    seen: list[tuple[str, dict]] = []
    real_one, real_many = ev.evaluate, ev.evaluate_many

    def one(ids, X, tasks, **kw):
        result = real_one(ids, X, tasks, **kw)
        seen.append((kw["probe"], result.config["protocol"]))
        return result

    def many(ids, matrices, tasks, **kw):
        results = real_many(ids, matrices, tasks, **kw)
        seen.extend((kw["probe"], r.config["protocol"]) for r in results.values())
        return results

    monkeypatch.setattr(ev, "evaluate", one)
    monkeypatch.setattr(ev, "evaluate_many", many)
    return seen


def _fresh_copy(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("evaluation"))
    return target


def test_table_of_every_checkpoint_scored_by_the_real_evaluator(run, tmp_path, calls) -> None:
    run_dir = _fresh_copy(run[0], tmp_path)
    data = run[1]
    tasks = random_tasks(data.ids, seed=3)
    results: dict = {}
    table = fusion.evaluate_checkpoints(
        run_dir, data, tasks, PROTOCOL, progress=False, results=results
    )
    best_ep = int(fusion.load_checkpoint(run_dir / fusion.BEST_VAL)["epoch"])
    epochs = sorted({0, 2, 3, best_ep})
    assert list(table["epoch"]) == epochs
    assert table["best_val"].sum() == 1 and table.loc[table["best_val"], "epoch"].item() == best_ep
    expect = "best_val.pt" if best_ep == 1 else f"checkpoints/epoch_{best_ep:05d}.pt"
    assert table.loc[table["best_val"], "checkpoint"].item() == expect
    assert list(table.columns[:7]) == [
        "epoch",
        "train_loss",
        "val_mse",
        "val_mse_dofa",
        "val_mse_croma",
        "val_mse_prithvi",
        "q_bar",
    ]
    assert table.columns[7] == "q_bar_ridge"
    assert {f"q_{t}" for t in tasks} | {f"q_ridge_{t}" for t in tasks} <= set(table.columns)
    assert len(calls) == 2 * len(epochs)  # linear and ridge for each checkpoint
    assert all(p == PROTOCOL.to_dict() for _, p in calls)
    # each row is exactly what the evaluator gives on that checkpoint's embeddings
    row = table[table["epoch"] == 2].iloc[0]
    X = fusion.embed(run_dir / row["checkpoint"], data)
    ref = ev.evaluate(data.ids, X, tasks, protocol=PROTOCOL, probe="linear")
    assert row["q_bar"] == pytest.approx(ref.q_bar)
    for t in tasks:
        assert row[f"q_{t}"] == pytest.approx(ref.tasks[t].q)
    assert set(results) == set(table["checkpoint"])
    held = results[row["checkpoint"]]["linear"]
    assert isinstance(held, ev.EvalResult) and len(held.tasks["crops"].folds) == 2
    np.testing.assert_allclose(held.tasks["crops"].folds, ref.tasks["crops"].folds)
    np.testing.assert_allclose(table["q_bar"], table[[f"q_{t}" for t in sorted(tasks)]].mean(1))


def test_cached_results_are_reused_until_the_protocol_or_code_changes(
    run, tmp_path, calls, monkeypatch
) -> None:
    run_dir = _fresh_copy(run[0], tmp_path)
    data = run[1]
    tasks = random_tasks(data.ids, seed=3)
    table = fusion.evaluate_checkpoints(run_dir, data, tasks, PROTOCOL, progress=False)
    n = len(table)
    assert len(calls) == 2 * n
    assert len(list((run_dir / "evaluation").glob("*.json"))) == 2 * n
    # a rerun reads every score from the cache
    again = fusion.evaluate_checkpoints(run_dir, data, tasks, PROTOCOL, progress=False)
    assert len(calls) == 2 * n
    pd.testing.assert_frame_equal(table, again)
    # another protocol is another cache entry: every checkpoint is scored again
    other = PROTOCOL.with_overrides(k_folds=3)
    fusion.evaluate_checkpoints(run_dir, data, tasks, other, probes=("linear",), progress=False)
    assert len(calls) == 3 * n and all(p["k_folds"] == 3 for _, p in calls[2 * n :])
    # so is the same protocol under another name (its values are recorded, not only its name)
    renamed = ev.get_protocol("paper", k_folds=2, epochs=1, random_stream="per_fold")
    fusion.evaluate_checkpoints(run_dir, data, tasks, renamed, probes=("linear",), progress=False)
    assert len(calls) == 4 * n
    # a new evaluator code version invalidates every cached score
    version = cache.CODE_VERSIONS["evaluation"]
    monkeypatch.setitem(cache.CODE_VERSIONS, "evaluation", version + 1)
    fusion.evaluate_checkpoints(run_dir, data, tasks, PROTOCOL, progress=False)
    assert len(calls) == 6 * n
    # other labels are another entry too
    monkeypatch.setitem(cache.CODE_VERSIONS, "evaluation", version)
    relabelled = random_tasks(data.ids, seed=4)
    fusion.evaluate_checkpoints(run_dir, data, relabelled, PROTOCOL, progress=False)
    assert len(calls) == 8 * n


def test_best_val_between_snapshots_and_errors(run, tmp_path) -> None:
    run_dir = _fresh_copy(run[0], tmp_path)
    data = run[1]
    tasks = random_tasks(data.ids, seed=3)
    without = fusion.evaluate_checkpoints(
        run_dir, data, tasks, PROTOCOL, probes=("ridge",), include_best_val=False, progress=False
    )
    assert list(without["epoch"]) == [0, 2, 3] and "q_bar" not in without
    assert "q_bar_ridge" in without and not without["best_val"].any()
    empty = tmp_path / "empty"
    (empty / "checkpoints").mkdir(parents=True)
    with pytest.raises(FusionError, match="holds no checkpoints"):
        fusion.evaluate_checkpoints(empty, data, tasks, PROTOCOL, progress=False)
    (run_dir / "cache.json").unlink()
    with pytest.raises(FusionError, match="not a compressor run"):
        fusion.evaluate_checkpoints(run_dir, data, tasks, PROTOCOL, progress=False)


def test_embed(run) -> None:
    run_dir, train_d = run
    ckpt = fusion.checkpoint_path(run_dir, 2)
    x = fusion.embed(ckpt, train_d)
    assert x.shape == (40, 8) and x.dtype == np.float32
    assert np.array_equal(x, fusion.embed(ckpt, train_d))  # eval mode: no dropout
    # extra models in the data are ignored; a missing one is an error
    extra = FusionData(train_d.ids, {**train_d.inputs, "scalemae": np.zeros((40, 2, 2), "f4")})
    assert np.array_equal(x, fusion.embed(ckpt, extra))
    with pytest.raises(FusionError, match="croma"):
        fusion.embed(ckpt, train_d.select(["dofa", "prithvi"]))
    wrong = FusionData(train_d.ids, {**train_d.inputs, "croma": np.zeros((40, 4, 1), "f4")})
    with pytest.raises(FusionError, match="shapes"):
        fusion.embed(ckpt, wrong)
    assert not np.array_equal(x, fusion.embed(fusion.checkpoint_path(run_dir, 0), train_d))


def test_best_checkpoints_and_summary_frame() -> None:
    table = pd.DataFrame(
        {
            "epoch": [0, 5, 10, 15],
            "val_mse": [1.0, 0.5, 0.2, 0.3],
            "q_bar": [1.0, 4.0, 3.0, 4.0],
            "q_bar_ridge": [9.0, 9.5, 9.7, 9.6],
            "checkpoint": [f"checkpoints/epoch_{e:05d}.pt" for e in (0, 5, 10, 15)],
        }
    )
    best = fusion.best_checkpoints(table)
    assert best["best_q"] == {
        "epoch": 5,  # ties go to the earliest epoch
        "q_bar": 4.0,
        "val_mse": 0.5,
        "checkpoint": "checkpoints/epoch_00005.pt",
    }
    assert best["best_mse"]["epoch"] == 10
    assert fusion.best_checkpoints(table, probe="ridge")["best_q"]["epoch"] == 10
    summary = fusion.summary_frame(table, {"linear": -3.0, "ridge": -1.0})
    assert summary["epoch"].tolist()[:4] == [0, 5, 10, 15]
    assert summary.loc[1, "Q-bar (linear probe)"] == 4.0 and summary.loc[2, "val MSE"] == 0.2
    assert summary.loc[4, "Q-bar (ridge probe)"] == -1.0 and len(summary) == 5
    assert fusion.probe_columns("ridge") == ("q_bar_ridge", "q_ridge_")
    noise = fusion.random_embeddings(5, 4, seed=1)
    assert noise.shape == (5, 4) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, fusion.random_embeddings(5, 4, seed=1))
