"""Tests of the long-training study: the log-spaced schedule, resume, the descent detector."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import fusion, store, studies
from e2s_utils.config import PROFILES
from e2s_utils.data.labels import LabelTask


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


def test_long_settings_from_profile() -> None:
    s = studies.LongSettings.from_profile(PROFILES["demo"])
    assert s.epochs == PROFILES["demo"].long_epochs
    assert len(s.checkpoint_epochs) == PROFILES["demo"].long_n_checkpoints
    cfg = s.fusion_config()
    assert cfg.checkpoint_schedule() == list(s.checkpoint_epochs)
    assert studies.LongSettings.from_profile(PROFILES["full"]).epochs == 4800


# ---------------------------------------------------------------------------- the detector
def _curve(kind: str, n: int = 1600, noise: float = 0.0, seed: int = 0):
    e = np.arange(0, n + 1, dtype=float)
    x = np.log10(np.maximum(e, 1))
    if kind == "double":
        # descends to a minimum near epoch 20, bumps up near 150, descends again to the end
        y = 0.0 - 1.0 * x + 1.6 * np.exp(-((x - 2.1) ** 2) / (2 * 0.25**2))
    elif kind == "single":
        y = 1.0 - 0.8 * x
    elif kind == "u":  # descends then overfits: one descent, then a rise that never comes down
        y = 0.6 * (x - 1.5) ** 2
    else:
        raise ValueError(kind)
    y = y + noise * np.random.default_rng(seed).standard_normal(y.shape)
    return e, 10**y


def test_detector_finds_a_double_descent() -> None:
    e, mse = _curve("double")
    a = studies.detect_descents(e, mse)
    assert a.double_descent and len(a.descents) == 2
    assert len(a.maxima) == 1 and 80 < a.maxima[0] < 300
    (s1, e1, d1), (s2, e2, d2) = a.descents
    assert s1 == pytest.approx(1.0) and 8 < e1 < 80 and e2 == pytest.approx(1600, rel=0.01)
    assert s2 == pytest.approx(a.maxima[0]) and d1 > 0 and d2 > 0


def test_detector_is_robust_to_noise_on_the_log_axis() -> None:
    e, mse = _curve("double", noise=0.05, seed=3)
    assert studies.detect_descents(e, mse).double_descent
    e, mse = _curve("single", noise=0.05, seed=3)
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and len(a.descents) == 1 and not a.maxima


def test_detector_single_and_u_shapes() -> None:
    e, mse = _curve("single")
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and a.descents[0][1] == pytest.approx(1600, rel=0.01)
    e, mse = _curve("u")
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and len(a.descents) == 1
    assert 20 < a.descents[0][1] < 60  # the minimum near 10 ** 1.5


def test_detector_on_sparse_log_checkpoints() -> None:
    e, mse = _curve("double")
    idx = list(studies.log_spaced_epochs(1600, 30))
    assert studies.detect_descents(e[idx], mse[idx]).double_descent


def test_detector_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        studies.detect_descents([0, 1, 2], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="> 0"):
        studies.detect_descents([1, 2, 3, 4], [1.0, 0.0, 0.4, 0.3])
    with pytest.raises(ValueError, match="epochs but"):
        studies.detect_descents([1, 2, 3], [1.0, 0.5])


def _result(kind: str, q_peak_epoch: float) -> studies.LongResult:
    e, mse = _curve(kind)
    history = pd.DataFrame({"epoch": e.astype(int), "val_mse": mse})
    ck = np.array(studies.log_spaced_epochs(1600, 20))
    q = 10 - 3 * (np.log10(np.maximum(ck, 1)) - np.log10(q_peak_epoch)) ** 2
    curve = pd.DataFrame({"epoch": ck, "val_mse": mse[ck], "q_bar": q})
    return studies.LongResult(history, curve, Path("."))


def test_long_summary_states_whether_q_follows() -> None:
    s = studies.long_summary(_result("double", q_peak_epoch=30))
    assert s["double_descent"] and not s["q_follows"]
    assert s["best_q_bar_before_bump"] > s["best_q_bar_after_bump"]
    assert "does not follow" in studies.format_long_summary(s)
    s = studies.long_summary(_result("double", q_peak_epoch=1500))
    assert s["double_descent"] and s["q_follows"]
    s = studies.long_summary(_result("single", q_peak_epoch=100))
    assert not s["double_descent"] and "does not descend twice" in studies.format_long_summary(s)
    assert 70 <= s["best_q_epoch"] <= 140


def test_long_training_figure() -> None:
    from e2s_utils.plots import studies as plots

    r = _result("double", q_peak_epoch=30)
    a = studies.detect_descents(r.history["epoch"], r.history["val_mse"])
    fig = plots.long_training_curve(r.history, r.curve, a)
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog" and ax.get_yscale() == "log"
    assert any("descent 2" in t.get_text() for t in ax.texts)
    assert any("best Q̄" in t.get_text() for t in fig.axes[1].texts)


# ---------------------------------------------------------------------------- resume
def test_long_run_resumes_after_interruption(tmp_path: Path, monkeypatch) -> None:
    ids = [f"{i:064x}" for i in range(48)]
    rng = np.random.default_rng(0)
    for m, shape in (("dofa", (6, 4)), ("croma", (5, 4))):
        store.write_embeddings(store.store_path(tmp_path, m, "as_intended", "micro"), ids,
                               rng.standard_normal((48, *shape)).astype(np.float32), {"m": m})  # fmt: skip
    labels = pd.Series(rng.random(32), index=pd.Index(ids[:32], name="id"), name="crops")
    inputs = studies.StudyInputs(tmp_path, "micro", ids[:32], ids[32:],
                                 {"crops": LabelTask("crops", "regression", labels)})  # fmt: skip
    settings = studies.LongSettings(models=("dofa", "croma"), size="micro", epochs=12,
                                    n_checkpoints=5, batch_size=8, hidden=16, out_dim=8)  # fmt: skip

    def fake_eval(run_dir, data, tasks, **kw):
        rows = [{"epoch": e, "val_mse": 1.0 / (e + 1), "q_bar": float(e), "q_crops": float(e)}
                for e, _ in fusion.list_checkpoints(run_dir)]  # fmt: skip
        return pd.DataFrame(rows)

    monkeypatch.setattr(fusion, "evaluate_checkpoints", fake_eval)
    ref = studies.run_long(settings, inputs, tmp_path / "ref", progress=False)
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
        studies.run_long(settings, inputs, tmp_path / "cut", progress=False)
    run_dirs = list((tmp_path / "cut").iterdir())
    assert len(run_dirs) == 1
    done = [e for e, _ in fusion.list_checkpoints(run_dirs[0])]
    assert settings.checkpoint_epochs == (0, 1, 2, 5, 12)
    assert done[:4] == [0, 1, 2, 5] and 12 not in done  # log-spaced checkpoints so far
    res = studies.run_long(settings, inputs, tmp_path / "cut", progress=False)
    assert res.run_dir == run_dirs[0]
    assert [e for e, _ in fusion.list_checkpoints(res.run_dir)] == list(settings.checkpoint_epochs)
    pd.testing.assert_frame_equal(ref.history, res.history)
    pd.testing.assert_frame_equal(ref.curve.reset_index(drop=True),
                                  res.curve.reset_index(drop=True))  # fmt: skip
