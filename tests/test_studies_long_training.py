"""The long-training study: log-spaced checkpoints, the constant-rate twin, resume, the verdicts."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import config, fusion, studies
from e2s_utils import evaluate as ev
from tests.helpers import (
    fake_evaluate,
    fake_evaluate_many,
    make_ids,
    mse_curve,
    random_tasks,
    study_inputs,
    write_stores,
)

# ---------------------------------------------------------------------------- the schedule


@pytest.mark.parametrize(
    ("total", "n"),
    [(1, 2), (16, 5), (16, 17), (60, 14), (1600, 14), (4800, 24), (10, 11), (100, 60), (3, 3)],
)
def test_log_spaced_epochs_properties(total: int, n: int) -> None:
    e = studies.log_spaced_epochs(total, n)
    assert len(e) == n and e[0] == 0 and e[-1] == total
    assert all(b > a for a, b in zip(e, e[1:]))  # strictly increasing, hence unique
    assert all(isinstance(v, int) for v in e)


def test_log_spaced_epochs_are_log_uniform() -> None:
    e = np.array(studies.log_spaced_epochs(4800, 24)[1:], dtype=float)
    ratios = e[1:] / e[:-1]
    # where rounding does not bite, consecutive ratios equal 4800 ** (1 / 22)
    assert np.allclose(ratios[-10:], 4800 ** (1 / 22), rtol=0.05)
    assert studies.log_spaced_epochs(1000, 4) == (0, 1, 32, 1000)
    assert studies.log_spaced_epochs(5, 6) == (0, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(("total", "n"), [(0, 2), (10, 1), (10, 12), (-5, 3)])
def test_log_spaced_epochs_rejects(total: int, n: int) -> None:
    with pytest.raises(ValueError, match="log_spaced_epochs"):
        studies.log_spaced_epochs(total, n)


def test_long_configs_run_twin_and_fork() -> None:
    demo = config.get_profile("demo")
    run, twin, fork = studies.long_configs(demo, steps_per_epoch=10)
    assert run.epochs == twin.epochs == demo.long.epochs == 480
    # 4,800 steps: the rate drops after steps 2,880 and 4,320, i.e. in epochs 288 and 432
    assert fork == 288 and twin.milestones == () and run.milestones == demo.fusion.milestones
    logs = set(studies.log_spaced_epochs(480, demo.long.n_checkpoints))
    assert set(run.checkpoint_epochs) == logs | {288, 432}
    assert twin.checkpoint_epochs == run.checkpoint_epochs and twin.seed == run.seed
    assert config.get_profile("full").long.epochs == 4800


# ---------------------------------------------------------------------------- the verdicts


def _result(q_peak_epoch: float, twin_kind: str = "single") -> studies.LongResult:
    """A long run whose MSE descends twice (bump near 150) and whose Q̄ peaks where asked."""
    e, mse = mse_curve("double")
    history = pd.DataFrame({"epoch": e.astype(int), "val_mse": mse})
    te, tmse = mse_curve(twin_kind)
    twin_history = pd.DataFrame({"epoch": te.astype(int), "val_mse": tmse})
    ck = np.array(studies.log_spaced_epochs(1600, 20))
    level = 0.5 - 0.1 * (np.log10(np.maximum(ck, 1)) - np.log10(q_peak_epoch)) ** 2
    wobble = 0.02 * np.sin(np.arange(10) * 1.3)
    folds = {int(c): {"t": lv + wobble, "u": lv + wobble[::-1]} for c, lv in zip(ck, level)}
    q = [
        float(np.mean([ev.quality(f.mean(), f.std()) for f in fs.values()]))
        for fs in folds.values()
    ]
    curve = pd.DataFrame({"epoch": ck, "val_mse": mse[ck], "q_bar": q})
    return studies.LongResult(
        history,
        curve,
        Path("."),
        twin_history,
        curve.assign(q_bar=np.array(q) - 1),
        drops=[160.0],
        fork_epoch=150,
        folds={"run": folds, "twin": {1600: {t: f - 0.1 for t, f in folds[1600].items()}}},
    )


def test_q_does_not_follow_the_second_descent_when_it_peaks_early() -> None:
    s = studies.long_summary(_result(q_peak_epoch=30))
    assert s["double_descent"] and s["n_descents"] == 2 and 10 <= s["best_q_epoch"] <= 60
    assert s["q_after_vs_before_bump"]["comparison"]["verdict"] == "A < B"
    assert s["run_vs_twin_at_end"]["comparison"]["verdict"] == "A > B"
    assert s["descents"][1]["coincides"] and s["descents"][1]["rate_drops"] == [160.0]
    assert not s["twin_double_descent"] and s["drops"] == [160.0] and s["fork_epoch"] == 150
    text = studies.format_long_summary(s)
    assert "does not follow the second descent" in text
    assert "the drop explains it, so it is no evidence of double descent" in text


def test_q_follows_the_second_descent_when_it_peaks_late() -> None:
    s = studies.long_summary(_result(q_peak_epoch=1500, twin_kind="double"))
    assert s["q_after_vs_before_bump"]["comparison"]["verdict"] == "A > B"
    assert s["twin_double_descent"]
    text = studies.format_long_summary(s)
    assert "Q̄ follows the second descent." in text
    assert "The constant-rate twin descends twice too" in text


def test_no_double_descent_is_said_plainly() -> None:
    r = _result(q_peak_epoch=100)
    e, mse = mse_curve("single")
    r.history = pd.DataFrame({"epoch": e.astype(int), "val_mse": mse})
    s = studies.long_summary(r)
    assert not s["double_descent"] and "q_after_vs_before_bump" not in s
    assert "does not descend twice" in studies.format_long_summary(s)
    assert 70 <= s["best_q_epoch"] <= 140 and -1 <= s["spearman_q_vs_neg_log_mse"] <= 1


# ---------------------------------------------------------------------------- resume


def test_long_run_and_twin_resume_after_interruption(tmp_path: Path, monkeypatch) -> None:
    ids = make_ids(48)
    write_stores(tmp_path, ids, {"dofa": (6, 4), "croma": (5, 4)})
    inputs = study_inputs(tmp_path, ids, 32, random_tasks(ids[:32], names=("crops",)))
    base = config.get_profile(
        "smoke", models=("dofa", "croma"), long_epochs=12, long_n_checkpoints=5, eval_k_folds=3
    )
    profile = dataclasses.replace(
        base, fusion=dataclasses.replace(base.fusion, hidden=16, out_dim=8)
    )
    monkeypatch.setattr(ev, "evaluate", fake_evaluate)
    monkeypatch.setattr(ev, "evaluate_many", fake_evaluate_many)
    ref = studies.run_long(profile, inputs, tmp_path / "ref", progress=False)
    # 32 training samples, batch 8: 4 steps an epoch; the rate drops after steps 29 and 43
    assert ref.fork_epoch == 7 and ref.drops == [8.0, 11.0]
    assert list(ref.curve["epoch"]) == [0, 1, 2, 5, 7, 8, 11, 12]
    assert ref.twin_history["lr"].nunique() == 1 and ref.history["lr"].nunique() == 3
    pd.testing.assert_frame_equal(
        ref.twin_history.iloc[:8].drop(columns="lr"), ref.history.iloc[:8].drop(columns="lr")
    )
    real_train = fusion.train
    calls = types.SimpleNamespace(n=0)

    def interrupted_train(cfg, tr, va, run_dir, **kw):
        calls.n += 1
        if calls.n == 1:
            real_train(cfg, tr, va, run_dir, **{**kw, "stop_after": 5})
            raise RuntimeError("killed")
        return real_train(cfg, tr, va, run_dir, **kw)

    monkeypatch.setattr(fusion, "train", interrupted_train)
    with pytest.raises(RuntimeError, match="killed"):
        studies.run_long(profile, inputs, tmp_path / "cut", progress=False)
    run_dirs = sorted((tmp_path / "cut").iterdir())
    assert len(run_dirs) == 1 and run_dirs[0].name.startswith("run__")
    assert [e for e, _ in fusion.list_checkpoints(run_dirs[0])] == [0, 1, 2, 5]
    res = studies.run_long(profile, inputs, tmp_path / "cut", progress=False)
    assert res.run_dir == run_dirs[0]
    pd.testing.assert_frame_equal(ref.history, res.history)
    pd.testing.assert_frame_equal(ref.twin_history, res.twin_history)
    pd.testing.assert_frame_equal(
        ref.curve.drop(columns="checkpoint"), res.curve.drop(columns="checkpoint")
    )
    assert set(res.folds) == {"run", "twin"} and 12 in res.folds["twin"]
