"""Tests of the ablation study: the declarative rows, the run cache and resume, Z, Table 1."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import fusion, store, studies
from e2s_utils.config import BASELINES, FOUNDATION_MODELS, PROFILES
from e2s_utils.data.labels import LabelTask

SHAPES = {"copernicusfm": (6, 4), "dofa": (8, 4), "croma": (5, 4), "prithvi": (7, 1),
          "scalemae": (4, 4), "engineered": (9, 4), "rcf": (12, 1), "mean_baseline": (4, 4),
          "random": (10, 1)}  # fmt: skip
TASKS = ("biomass_mean", "crops", "random_cls")
_REAL_TRAIN = fusion.train


class Interrupted(Exception):
    """A simulated interruption (a killed process) in the middle of the study."""


# ---------------------------------------------------------------------------- fixtures
def _write_stores(out_dir: Path, ids: list[str], presets=("as_intended",), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((len(ids), 3))
    for preset in presets:
        for k, (model, (c, t)) in enumerate(SHAPES.items()):
            mix = rng.standard_normal((3, c * t))
            arr = (latent @ mix + 0.3 * rng.standard_normal((len(ids), c * t))) * (1 + k % 3)
            store.write_embeddings(
                store.store_path(out_dir, model, preset, "micro"), ids,
                arr.reshape(len(ids), c, t).astype(np.float32),
                {"model": model, "preset": preset, "seed": seed},
            )  # fmt: skip


def _tasks(ids: list[str], seed: int = 1) -> dict[str, LabelTask]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in TASKS:
        kind = "classification" if name.endswith("cls") else "regression"
        values = rng.integers(0, 2, len(ids)) if kind == "classification" else rng.random(len(ids))
        labels = pd.Series(values.astype(float), index=pd.Index(ids, name="id"), name=name)
        out[name] = LabelTask(name, kind, labels)
    return out


@pytest.fixture
def inputs(tmp_path: Path) -> studies.StudyInputs:
    ids = [f"{i:064x}" for i in range(60)]
    _write_stores(tmp_path, ids, presets=("as_intended", "as_published_code"))
    return studies.StudyInputs(tmp_path, "micro", ids[:40], ids[40:], _tasks(ids[:40]))


class Counter:
    """Counts calls of the heavy steps; fakes the probes (fast, deterministic in the input)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.train = 0
        self.evaluate_checkpoints = 0
        self.evaluate = 0
        self.fail_at = fail_at

    def _tick(self) -> None:
        if self.fail_at is not None and self.train >= self.fail_at:
            raise Interrupted("simulated interruption")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Counter:
        def train(config, train_data, val_data, run_dir, **kw):
            self._tick()
            self.train += 1
            return _REAL_TRAIN(config, train_data, val_data, run_dir, **kw)

        def evaluate_checkpoints(run_dir, data, tasks, **kw):
            self.evaluate_checkpoints += 1
            rows = []
            hist = fusion.read_history(run_dir).set_index("epoch")
            for epoch, path in fusion.list_checkpoints(run_dir):
                X = fusion.embed(path, data)
                q = _fake_q(X, tasks)
                row = {"epoch": epoch, "val_mse": float(hist.loc[epoch, "val_mse"]),
                       "q_bar": float(np.mean(list(q.values()))),
                       "q_bar_ridge": float(np.mean(list(q.values()))) + 1.0}  # fmt: skip
                row.update({f"q_{t}": v for t, v in q.items()})
                row.update({f"q_ridge_{t}": v + 1.0 for t, v in q.items()})
                rows.append(row)
            return pd.DataFrame(rows)

        def evaluate(ids, X, tasks, *, probe="linear", **kw):
            self.evaluate += 1
            q = _fake_q(X, tasks)
            bump = 1.0 if probe == "ridge" else 0.0
            res = {t: types.SimpleNamespace(q=v + bump) for t, v in q.items()}
            return types.SimpleNamespace(q_bar=float(np.mean(list(q.values()))) + bump, tasks=res)

        monkeypatch.setattr(fusion, "train", train)
        monkeypatch.setattr(fusion, "evaluate_checkpoints", evaluate_checkpoints)
        ev_mod = sys.modules.get("e2s_utils.evaluate")
        if ev_mod is None:
            try:
                import e2s_utils.evaluate as ev_mod
            except ImportError:
                ev_mod = types.ModuleType("e2s_utils.evaluate")
                monkeypatch.setitem(sys.modules, "e2s_utils.evaluate", ev_mod)
        monkeypatch.setattr(ev_mod, "evaluate", evaluate, raising=False)
        return self


def _fake_q(X: np.ndarray, tasks) -> dict[str, float]:
    """A deterministic stand-in for Q: scaled |correlation| of the first PC with each label."""
    X = np.asarray(X, dtype=np.float64)
    pc = X @ np.linalg.svd(X - X.mean(0), full_matrices=False)[2][0]
    out = {}
    for name in sorted(tasks):
        y = tasks[name].labels.to_numpy()
        n = min(len(y), len(pc))
        out[name] = float(20 * abs(np.corrcoef(pc[:n], y[:n])[0, 1]))
    return out


def _small_settings(**kw) -> studies.AblationSettings:
    base = dict(models=("dofa", "croma"), baselines=("rcf", "random"), size="micro", epochs=2,
                checkpoint_every=1, batch_size=8, seeds=2, k_folds=3, probe_epochs=1,
                pca_components=16, hidden=32, out_dim=16)  # fmt: skip
    base.update(kw)
    return studies.AblationSettings(**base)


# ---------------------------------------------------------------------------- the rows
def test_ablation_runs_cover_the_paper_and_beyond() -> None:
    runs = studies.ablation_runs()
    labels = [r.label for r in runs]
    paper = studies.paper_table1()["method"].tolist()
    assert [lab for lab in labels if lab in paper] == [
        "Copernicus-FM", "DOFA", "CROMA", "Prithvi-EO-2.0", "Scale-MAE", "DOFA + CROMA",
        "DOFA + CROMA + Copernicus-FM", "DOFA + CROMA + Copernicus-FM + Prithvi", "All five",
    ]  # fmt: skip
    assert set(paper) <= set(labels)
    by = {r.label: r for r in runs}
    assert by["All five without dropout"].dropout == 0.0
    assert by["All five"].dropout == 0.1
    assert {r.models[0] for r in runs if r.method == "baseline"} == set(BASELINES)
    assert [r.method for r in runs].count("pca") == 1 and [r.method for r in runs].count("raw") == 1
    pub = [r for r in runs if r.preset == "as_published_code"]
    assert len(pub) == 1 and set(pub[0].models) == set(FOUNDATION_MODELS) and pub[0].seeded
    assert len({r.name for r in runs}) == len(runs)
    assert all(not r.seeded for r in runs if r.method != "fusion")


def test_ablation_runs_restricted_models() -> None:
    runs = studies.ablation_runs(("croma", "dofa"), (), include_presets=False)
    assert [r.label for r in runs] == ["DOFA", "CROMA", "DOFA + CROMA",
                                       "DOFA + CROMA without dropout", "PCA of DOFA + CROMA",
                                       "DOFA + CROMA, raw"]  # fmt: skip
    with pytest.raises(ValueError, match="subset"):
        studies.ablation_runs(("dofa", "nonsense"))


def test_settings_from_profile_and_stores_needed() -> None:
    demo = PROFILES["demo"]
    s = studies.AblationSettings.from_profile(demo)
    assert (s.epochs, s.seeds, s.checkpoint_every, s.size) == (
        demo.ablation_epochs,
        3,
        demo.ablation_checkpoint_every,
        "tiny",
    )
    assert s.seed_list == [1337, 1338, 1339]
    needed = s.stores_needed()
    assert ("prithvi", "as_published_code") in needed and ("rcf", "as_intended") in needed
    assert len(needed) == len(set(needed)) == 5 + 4 + 5
    assert studies.AblationSettings.from_profile(PROFILES["demo"], seeds=5).seeds == 5
    with pytest.raises(ValueError, match="seeds"):
        studies.AblationSettings(seeds=0)


# ---------------------------------------------------------------------------- cache and resume
def test_rerun_computes_nothing(inputs, tmp_path, monkeypatch) -> None:
    settings = _small_settings()
    c1 = Counter().install(monkeypatch)
    res1 = studies.run_ablation(settings, inputs, tmp_path / "ablation", progress=False)
    n_fusion = sum(r.seeded for r in settings.runs()) * settings.seeds
    n_other = sum(not r.seeded for r in settings.runs())
    assert c1.train == n_fusion and c1.evaluate_checkpoints == n_fusion
    # linear and ridge probe per deterministic row; the ridge probe on each chosen checkpoint
    assert c1.evaluate == 2 * n_other + n_fusion
    c2 = Counter().install(monkeypatch)
    res2 = studies.run_ablation(settings, inputs, tmp_path / "ablation", progress=False)
    assert (c2.train, c2.evaluate_checkpoints, c2.evaluate) == (0, 0, 0)
    pd.testing.assert_frame_equal(studies.table1(res1), studies.table1(res2))


def test_interrupted_study_resumes(inputs, tmp_path, monkeypatch) -> None:
    settings = _small_settings()
    total = Counter().install(monkeypatch)
    ref = studies.run_ablation(settings, inputs, tmp_path / "ref", progress=False)
    c1 = Counter(fail_at=2).install(monkeypatch)  # killed as the third compressor starts
    with pytest.raises(Interrupted):
        studies.run_ablation(settings, inputs, tmp_path / "ablation", progress=False)
    assert c1.train == 2 and len(list((tmp_path / "ablation" / "results").glob("*.json"))) == 2
    c2 = Counter().install(monkeypatch)
    res = studies.run_ablation(settings, inputs, tmp_path / "ablation", progress=False)
    assert c2.train == total.train - 2  # the two finished units are not recomputed
    assert c2.evaluate == total.evaluate - 2  # nor their ridge probes
    pd.testing.assert_frame_equal(studies.table1(ref), studies.table1(res))


def test_changed_config_recomputes_only_what_changed(inputs, tmp_path, monkeypatch) -> None:
    Counter().install(monkeypatch)
    studies.run_ablation(_small_settings(), inputs, tmp_path / "ab", progress=False)
    c = Counter().install(monkeypatch)
    studies.run_ablation(_small_settings(seeds=3), inputs, tmp_path / "ab", progress=False)
    fusion_rows = sum(r.seeded for r in _small_settings().runs())
    assert (c.train, c.evaluate) == (fusion_rows, fusion_rows)  # only the new seed's runs
    c = Counter().install(monkeypatch)
    studies.run_ablation(_small_settings(k_folds=4), inputs, tmp_path / "ab", progress=False)
    assert c.evaluate > 0 and c.evaluate_checkpoints > 0


def test_interrupted_training_resumes_bit_identical(inputs, tmp_path) -> None:
    settings = _small_settings(epochs=3)
    run = studies.ablation_runs(("dofa", "croma"), (), include_presets=False)[2]
    cfg = studies.fusion_config(run, settings, seed=7)
    train, val = inputs.fusion_data(run.models, run.preset)
    h_ref = fusion.train(cfg, train, val, tmp_path / "ref", progress=False)
    fusion.train(cfg, train, val, tmp_path / "cut", progress=False, stop_after=1)
    h = fusion.train(cfg, train, val, tmp_path / "cut", progress=False)
    pd.testing.assert_frame_equal(h_ref, h)


# ---------------------------------------------------------------------------- selection, Z, table
def test_select_checkpoints_best_q_best_mse_last() -> None:
    curve = pd.DataFrame({"epoch": [0, 5, 10, 15], "val_mse": [9.0, 1.0, 2.0, 3.0],
                          "q_bar": [50.0, 2.0, 7.0, 7.0], "q_a": [50.0, 2.0, 7.0, 6.0],
                          "q_bar_ridge": [1, 2, 3, 4], "q_ridge_a": [1, 2, 3, 4]})  # fmt: skip
    sel = studies.select_checkpoints(curve, ["a"])
    assert sel["best_q"]["epoch"] == 10  # untrained epoch 0 excluded, ties -> earliest
    assert sel["best_mse"]["epoch"] == 5 and sel["best_mse"]["q_bar"] == 2.0
    assert sel["last"]["epoch"] == 15 and sel["last"]["q"] == {"a": 6.0}
    assert sel["best_q"]["q_ridge"] == {"a": 3.0}
    with pytest.raises(studies.StudyError, match="q_b"):
        studies.select_checkpoints(curve, ["a", "b"])


def test_z_from_q_matches_hand_computation() -> None:
    q = pd.DataFrame({"t1": [1.0, 2.0, 3.0], "t2": [10.0, 10.0, 10.0], "t3": [0.0, 4.0, 2.0]},
                     index=["a", "b", "c"])  # fmt: skip
    z = studies.z_from_q(q)
    sd1 = np.std([1, 2, 3])
    sd3 = np.std([0, 4, 2])
    assert z.loc["a", "t1"] == pytest.approx(-1 / sd1)
    assert (z["t2"] == 0).all()  # all methods equal: no information, contributes 0
    assert z.loc["b", "t3"] == pytest.approx(2 / sd3)
    assert z.loc["c", "Z"] == pytest.approx((1 / sd1 + 0 + 0) / 3)
    assert z["Z"].sum() == pytest.approx(0.0)
    # Z depends on the set of compared methods: adding a weak method raises everyone else's
    worse = pd.concat([q, pd.DataFrame({"t1": [-5.0], "t2": [10.0], "t3": [-5.0]}, index=["d"])])
    assert (studies.z_from_q(worse).loc[["a", "b", "c"], "Z"] > z["Z"]).all()


def test_z_from_q_agrees_with_evaluate_z_scores() -> None:
    ev = pytest.importorskip("e2s_utils.evaluate")
    if not hasattr(ev, "z_scores") or not hasattr(ev, "EvalResult"):
        pytest.skip("evaluate.z_scores not available")
    rng = np.random.default_rng(0)
    q = pd.DataFrame(rng.normal(5, 3, (4, 3)), index=list("abcd"), columns=["x", "y", "z"])
    results = {}
    for m in q.index:
        tasks = {t: ev.TaskResult(t, "regression", 10, 0.5, 0.1, float(q.loc[m, t]),
                                  np.zeros(3)) for t in q.columns}  # fmt: skip
        results[m] = ev.EvalResult(probe="linear", q_bar=float(q.loc[m].mean()), tasks=tasks)
    theirs = ev.z_scores(results)
    ours = studies.z_from_q(q)
    np.testing.assert_allclose(ours.loc[list("abcd"), "Z"], theirs.loc[list("abcd"), "Z"],
                               rtol=1e-9)  # fmt: skip


def _fake_results() -> studies.AblationResults:
    runs = studies.ablation_runs(("dofa", "croma"), ("random",), include_presets=False,
                                 include_pca=False)  # fmt: skip
    settings = _small_settings(seeds=3, baselines=("random",))
    units: dict[str, list[dict]] = {}
    base = {"DOFA": 10.0, "CROMA": 11.0, "DOFA + CROMA": 16.0, "DOFA + CROMA without dropout": 15.9,
            "random embeddings": -7.0, "DOFA + CROMA, raw": 17.0}  # fmt: skip
    for run in runs:
        seeds = settings.seed_list if run.seeded else [None]
        units[run.name] = []
        for k, seed in enumerate(seeds):
            qb = base[run.label] + (k - 1) * (0.5 if run.seeded else 0.0)
            sel = {}
            for s, shift in (("best_q", 0.0), ("best_mse", -1.0), ("last", -2.0)):
                q = {"t1": qb + shift + 1, "t2": qb + shift - 1}
                sel[s] = {"epoch": 10 + k if run.seeded else None, "q_bar": qb + shift,
                          "q_bar_ridge": qb + 3, "val_mse": 0.1 * (k + 1) if run.seeded else None,
                          "q": q, "q_ridge": q}  # fmt: skip
            units[run.name].append({"run": run.name, "seed": seed, "selections": sel})
    return studies.AblationResults(runs, settings, units, ["t1", "t2"])


def test_table1_layout_and_spread() -> None:
    res = _fake_results()
    t = studies.table1(res)
    assert list(t.columns) == list(studies.TABLE1_COLUMNS)
    assert t["method"].tolist() == [r.label for r in res.runs]
    row = t.set_index("method").loc["DOFA + CROMA"]
    assert row["Q̄ mean"] == pytest.approx(16.0)
    assert row["Q̄ std"] == pytest.approx(0.5)  # sample std of 15.5, 16, 16.5
    assert row["seeds"] == 3 and row["best-Q̄ epoch"] == "10/11/12"
    assert row["val MSE"] == pytest.approx(0.2)
    assert row["Q̄ ridge probe"] == pytest.approx(19.0)
    assert row["Q̄ at best-MSE epoch"] == pytest.approx(15.0)
    assert row["Q̄ at last epoch"] == pytest.approx(14.0)
    rnd = t.set_index("method").loc["random embeddings"]
    assert rnd["Q̄ std"] == 0.0 and rnd["seeds"] == 0 and np.isnan(rnd["val MSE"])
    assert np.isnan(rnd["Z (paper rows)"])
    assert t["Z"].sum() == pytest.approx(0.0, abs=1e-9)
    assert t.set_index("method")["Z"].idxmax() == "DOFA + CROMA, raw"
    ref = studies.with_paper_reference(t).set_index("method")
    assert ref.loc["DOFA + CROMA", "paper Q̄"] == 16.10
    assert ref.loc["DOFA + CROMA without dropout", "paper Q̄"] == studies.PAPER_NO_DROPOUT_Q_BAR
    assert np.isnan(ref.loc["random embeddings", "paper Q̄"])


def test_single_seed_std_is_unknown_not_zero() -> None:
    res = _fake_results()
    for name in res.units:
        res.units[name] = res.units[name][:1]
    t = studies.table1(res)
    ti = t.set_index("method")
    assert np.isnan(ti.loc["DOFA", "Q̄ std"]) and ti.loc["random embeddings", "Q̄ std"] == 0.0
    c = studies.compare(t, "DOFA + CROMA", "random embeddings")
    assert c.verdict == "ahead" and np.isnan(c.spread)  # a gap, but no spread to judge it by
    s = studies.ablation_summary(t, res.runs)
    assert s["beats_every_baseline"] is None
    assert "undecided" in studies.format_summary(s) and "spread unknown" in studies.format_summary(
        s
    )


def test_compare_calls_ties_within_spread_and_summary() -> None:
    res = _fake_results()
    t = studies.table1(res)
    c = studies.compare(t, "DOFA + CROMA", "DOFA + CROMA without dropout")
    assert c.verdict == "tie" and c.diff == pytest.approx(0.1)
    assert c.spread == pytest.approx(np.hypot(0.5, 0.5))
    assert studies.compare(t, "DOFA + CROMA", "CROMA").verdict == "better"
    assert studies.compare(t, "DOFA", "CROMA").verdict == "worse"
    s = studies.ablation_summary(t, res.runs)
    assert s["best_fusion"] == "DOFA + CROMA"
    assert s["best_single"]["b"] == "CROMA" and s["best_single"]["verdict"] == "better"
    assert s["beats_every_baseline"] is True
    assert s["vs_raw"]["verdict"] == "worse"
    assert s["dropout"]["verdict"] == "tie"
    text = studies.format_summary(s)
    assert "DOFA + CROMA" in text and "ties with" in text and "+5.00" in text


def test_paper_table1_numbers() -> None:
    p = studies.paper_table1().set_index("method")
    assert p.loc["All five", "Q̄"] == 17.43 and p.loc["Prithvi-EO-2.0", "val MSE"] == 0.843
    assert p.loc["DOFA + CROMA + Copernicus-FM + Prithvi", "Z"] == 0.67
    assert len(p) == 9


def test_unit_results_hold_curves_and_pca(inputs, tmp_path, monkeypatch) -> None:
    Counter().install(monkeypatch)
    settings = _small_settings(seeds=1)
    res = studies.run_ablation(settings, inputs, tmp_path / "ab", progress=False)
    t = studies.table1(res).set_index("method")
    assert np.isfinite(t["Q̄ mean"]).all()
    pca = [r for r in res.runs if r.method == "pca"][0]
    unit = res.units[pca.name][0]
    assert unit["pca_components"] == 16 and unit["dim"] == 16
    assert t.loc[pca.label, "val MSE"] > 0
    raw = [r for r in res.runs if r.method == "raw"][0]
    assert t.loc[raw.label, "val MSE"] == 0.0
    assert res.units[raw.name][0]["dim"] == 8 * 4 + 5 * 4
    fus = res.units["fusion-dofa+croma"][0]
    assert fus["curve"]["epoch"] == [0, 1, 2]
    files = sorted((tmp_path / "ab" / "results").glob("*.json"))
    assert len(files) == len(res.runs)
    assert json.loads(files[0].read_text())["hash"]


def test_best_q_at_the_best_val_checkpoint_between_snapshots(inputs, tmp_path, monkeypatch):
    """The chosen checkpoint may be best_val.pt at an epoch with no snapshot of its own."""
    vals = iter([5.0, 1.0, 2.0, 3.0, 4.0])  # epochs 0-4: the best validation MSE is at epoch 1
    monkeypatch.setattr(fusion, "_validate", lambda model, x, w: (v := next(vals), {
        m: v for m in w}))  # fmt: skip
    real_evaluate = fusion.evaluate_checkpoints

    def favour_best_val(run_dir, data, tasks, **kw):
        table = real_evaluate(run_dir, data, tasks, **kw)
        return table.assign(q_bar=np.where(table["best_val"], 99.0, table["q_bar"]))

    monkeypatch.setattr(fusion, "evaluate_checkpoints", favour_best_val)
    settings = _small_settings(seeds=1, epochs=4, checkpoint_every=2)
    run = [r for r in settings.runs() if r.name == "fusion-dofa+croma"][0]
    unit = studies.run_unit(run, 1337, settings, inputs, tmp_path / "ab")
    best = unit["selections"]["best_q"]
    assert best["epoch"] == 1 and best["q_bar"] == 99.0
    assert 1 not in [e for e, _ in fusion.list_checkpoints(next((tmp_path / "ab").glob("runs/*")))]
    assert np.isfinite(best["q_bar_ridge"])


def test_pca_embed_reconstructs_exactly_with_all_components() -> None:
    rng = np.random.default_rng(0)
    tr = [rng.normal(size=(30, 3, 2)), rng.normal(size=(30, 2, 1)) * 5]
    va = [a[:10] for a in tr]
    X, mse, k = studies.pca_embed(tr, va, 1024, [1.0, 2.0])
    assert k == 8 and X.shape == (30, 8) and mse < 1e-8
    _, mse_small, k_small = studies.pca_embed(tr, va, 2, [1.0, 2.0])
    assert k_small == 2 and mse_small > 0.1


def test_missing_store_error_names_the_fix(tmp_path) -> None:
    inp = studies.StudyInputs(tmp_path, "micro", ["a"], ["b"], {})
    with pytest.raises(studies.StudyError, match="e2s extract --model dofa"):
        inp.arrays("dofa", "as_intended")


def test_heatmap_figure() -> None:
    from e2s_utils.plots import studies as plots

    res = _fake_results()
    q = res.task_q()
    fig = plots.ablation_heatmap(q, studies.z_from_q(q))
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert f"{q.iloc[0, 0]:.1f}" in texts and len(texts) == q.size + len(q)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(q.index)
    with pytest.raises(ValueError, match="share"):
        plots.ablation_heatmap(q, studies.z_from_q(q).iloc[:2])
