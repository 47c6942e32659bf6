"""Units of the ablation: one row x seed computed once, cached, resumed, recomputed on change."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import config, fusion, studies
from e2s_utils import evaluate as ev
from e2s_utils.config import Profile
from e2s_utils.studies import units
from tests.helpers import (
    fake_evaluate,
    fake_evaluate_many,
    make_ids,
    random_tasks,
    study_inputs,
    write_stores,
)

SHAPES = {"dofa": (8, 4), "croma": (5, 4), "rcf": (12, 1), "random": (10, 1)}
_REAL_TRAIN = fusion.train
#: Scored matrices of a fusion unit of :func:`small_profile`: the linear probe on the trained
#: checkpoints (epochs 1 and 2; the untrained epoch 0 is never a candidate), the ridge probe on the
#: chosen one.
EVALS_PER_FUSION_UNIT = 2 + 1
train_module = importlib.import_module("e2s_utils.fusion.train")


class Interrupted(Exception):
    """A simulated interruption (a killed process) in the middle of the study."""


def small_profile(**overrides: object) -> Profile:
    """The smoke profile on DOFA and CROMA, two baselines, one preset, a tiny compressor."""
    kw: dict = dict(
        models=("dofa", "croma"),
        baselines=("rcf", "random"),
        ablation_seeds=1,
        ablation_epochs=2,
        ablation_checkpoint_every=1,
    )
    kw.update(overrides)
    prof = config.get_profile("smoke", **kw)
    return dataclasses.replace(
        prof,
        fusion=dataclasses.replace(prof.fusion, hidden=32, out_dim=16),
        ablation=dataclasses.replace(prof.ablation, presets=("as_intended",), pca_components=16),
    )


@pytest.fixture
def inputs(tmp_path: Path):
    ids = make_ids(60)
    write_stores(tmp_path, ids, SHAPES)
    return study_inputs(tmp_path, ids, 40, random_tasks(ids[:40]))


class Counter:
    """Counts trainings and scored embedding matrices; the evaluator is the fast stand-in."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.train = 0
        self.evaluate = 0
        self.fail_at = fail_at

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Counter:
        def train(cfg, train_data, val_data, run_dir, **kw):
            if self.fail_at is not None and self.train >= self.fail_at:
                raise Interrupted("simulated interruption")
            self.train += 1
            return _REAL_TRAIN(cfg, train_data, val_data, run_dir, **kw)

        def evaluate(ids, X, tasks, **kw):
            self.evaluate += 1
            return fake_evaluate(ids, X, tasks, **kw)

        def evaluate_many(ids, matrices, tasks, **kw):
            self.evaluate += len(matrices)
            return fake_evaluate_many(ids, matrices, tasks, **kw)

        monkeypatch.setattr(fusion, "train", train)
        monkeypatch.setattr(ev, "evaluate", evaluate)
        monkeypatch.setattr(ev, "evaluate_many", evaluate_many)
        return self


def _units(profile: Profile) -> tuple[int, int]:
    runs = studies.ablation_runs(profile)
    fusion_units = sum(len(studies.seed_list(profile, r)) for r in runs if r.seeded)
    return fusion_units, sum(not r.seeded for r in runs)


def test_rerun_computes_nothing(inputs, tmp_path, monkeypatch) -> None:
    profile = small_profile()
    c1 = Counter().install(monkeypatch)
    res1 = studies.run_ablation(profile, inputs, tmp_path / "ablation", progress=False)
    n_fusion, n_direct = _units(profile)
    assert (n_fusion, n_direct) == (4, 4)
    assert c1.train == n_fusion
    assert c1.evaluate == n_fusion * EVALS_PER_FUSION_UNIT + 2 * n_direct
    c2 = Counter().install(monkeypatch)
    res2 = studies.run_ablation(profile, inputs, tmp_path / "ablation", progress=False)
    assert (c2.train, c2.evaluate) == (0, 0)
    pd.testing.assert_frame_equal(studies.table1(res1), studies.table1(res2))
    assert res1.protocol == profile.protocol.to_dict()


def test_interrupted_study_resumes(inputs, tmp_path, monkeypatch) -> None:
    profile = small_profile()
    total = Counter().install(monkeypatch)
    ref = studies.run_ablation(profile, inputs, tmp_path / "ref", progress=False)
    c1 = Counter(fail_at=2).install(monkeypatch)  # killed as the third compressor starts
    with pytest.raises(Interrupted):
        studies.run_ablation(profile, inputs, tmp_path / "ablation", progress=False)
    assert c1.train == 2 and len(list((tmp_path / "ablation" / "results").glob("*.json"))) == 2
    c2 = Counter().install(monkeypatch)
    res = studies.run_ablation(profile, inputs, tmp_path / "ablation", progress=False)
    assert c2.train == total.train - 2  # the two finished units are not recomputed
    assert c2.evaluate == total.evaluate - 2 * EVALS_PER_FUSION_UNIT  # nor their evaluations
    pd.testing.assert_frame_equal(studies.table1(ref), studies.table1(res))


def test_more_seeds_compute_only_the_new_units(inputs, tmp_path, monkeypatch) -> None:
    Counter().install(monkeypatch)
    studies.run_ablation(small_profile(), inputs, tmp_path / "ab", progress=False)
    more_seeds = small_profile(ablation_seeds=2)
    c = Counter().install(monkeypatch)
    res = studies.run_ablation(more_seeds, inputs, tmp_path / "ab", progress=False)
    fusion_rows = sum(r.seeded for r in studies.ablation_runs(more_seeds))
    # only the new seed's units
    assert (c.train, c.evaluate) == (fusion_rows, fusion_rows * EVALS_PER_FUSION_UNIT)
    assert [u["seed"] for u in res.units["fusion-dofa+croma@as_intended"]] == [1337, 1338]


def test_a_new_protocol_or_evaluator_version_recomputes_a_unit(inputs, tmp_path, monkeypatch):
    from e2s_utils import cache

    c = Counter().install(monkeypatch)
    profile = small_profile()
    run = next(r for r in studies.ablation_runs(profile) if r.method == "baseline")
    first = studies.run_unit(run, None, profile, inputs, tmp_path / "ab")
    studies.run_unit(run, None, profile, inputs, tmp_path / "ab")
    assert c.evaluate == 2  # both probes once; the second call reads the cache
    other = small_profile(eval_k_folds=4)
    again = studies.run_unit(run, None, other, inputs, tmp_path / "ab")
    assert c.evaluate == 4 and len(again["selections"]["best_q"]["folds"]["crops"]) == 4
    assert len(first["selections"]["best_q"]["folds"]["crops"]) == 5
    monkeypatch.setitem(cache.CODE_VERSIONS, "ablation", cache.CODE_VERSIONS["ablation"] + 1)
    studies.run_unit(run, None, profile, inputs, tmp_path / "ab")
    assert c.evaluate == 6


def test_fusion_config_of_a_row_and_seed() -> None:
    profile = small_profile()
    run = next(
        r for r in studies.ablation_runs(profile) if r.name.endswith("-nodropout@as_intended")
    )
    cfg = studies.fusion_config(run, profile, seed=7)
    assert cfg.models == ("dofa", "croma") and cfg.dropout == 0.0 and cfg.seed == 7
    assert (cfg.epochs, cfg.checkpoint_every) == (2, 1)
    assert (cfg.hidden, cfg.out_dim) == (32, 16)
    assert cfg.loss_weights == {"dofa": 1.0, "croma": 0.5}


def test_select_checkpoints_best_q_best_mse_last() -> None:
    curve = pd.DataFrame(
        {
            "epoch": [0, 5, 10, 15],
            "val_mse": [0.5, 1.0, 2.0, 3.0],
            "q_bar": [50.0, 2.0, 7.0, 7.0],
            "q_a": [50.0, 2.0, 7.0, 6.0],
        }
    )
    picks = units.select_checkpoints(curve, ["a"])
    # the untrained epoch 0 is no candidate; ties go to the earliest
    assert picks == {"best_q": 2, "best_mse": 1, "last": 3}
    only = units.select_checkpoints(curve.iloc[:1], ["a"])
    assert only == {"best_q": 0, "best_mse": 0, "last": 0}
    with pytest.raises(studies.StudyError, match="q_b"):
        units.select_checkpoints(curve, ["a", "b"])


def test_pca_embed_reconstructs_exactly_with_all_components() -> None:
    rng = np.random.default_rng(0)
    tr = [rng.normal(size=(30, 3, 2)), rng.normal(size=(30, 2, 1)) * 5]
    va = [a[:10] for a in tr]
    X, mse, k = studies.pca_embed(tr, va, 1024, [1.0, 2.0])
    assert k == 8 and X.shape == (30, 8) and X.dtype == np.float32 and mse < 1e-8
    _, mse_small, k_small = studies.pca_embed(tr, va, 2, [1.0, 2.0])
    assert k_small == 2 and mse_small > 0.1


def test_unit_results_hold_curves_pca_and_raw(inputs, tmp_path, monkeypatch) -> None:
    Counter().install(monkeypatch)
    profile = small_profile()
    res = studies.run_ablation(profile, inputs, tmp_path / "ab", progress=False)
    t = studies.table1(res).set_index("method")
    assert np.isfinite(t["q_bar_mean"]).all()
    pca = next(r for r in res.runs if r.method == "pca")
    unit = res.units[pca.name][0]
    assert unit["pca_components"] == 16 and unit["dim"] == 16
    assert t.loc[pca.label, "val_mse"] > 0
    raw = next(r for r in res.runs if r.method == "raw")
    assert t.loc[raw.label, "val_mse"] == 0.0
    assert res.units[raw.name][0]["dim"] == 8 * 4 + 5 * 4
    fus = res.units["fusion-dofa+croma@as_intended"][0]
    assert fus["curve"]["epoch"] == [1, 2] and fus["seed"] == profile.seed
    best = fus["selections"]["best_q"]
    assert best["epoch"] in (1, 2) and best["q_bar_ridge"] is not None
    assert len(best["folds"]["crops"]) == profile.protocol.k_folds
    assert fus["selections"]["last"]["epoch"] == 2 and fus["selections"]["last"]["q_ridge"] == {}
    files = sorted((tmp_path / "ab" / "results").glob("*.json"))
    assert len(files) == len(res.runs)
    stored = json.loads(files[0].read_text())
    assert stored["key"]["kind"] == "ablation" and stored["digest"]


def test_best_q_at_the_best_val_checkpoint_between_snapshots(inputs, tmp_path, monkeypatch):
    """The chosen checkpoint may be best_val.pt at an epoch with no snapshot of its own."""
    Counter().install(monkeypatch)
    vals = iter([5.0, 1.0, 2.0, 3.0, 4.0])  # epochs 0-4: the best validation MSE is at epoch 1

    def validate(model, x, weights):
        v = next(vals)
        return v, dict.fromkeys(weights, v)

    monkeypatch.setattr(train_module, "validate", validate)
    real_curve = fusion.evaluate_checkpoints

    def favour_best_val(run_dir, data, tasks, protocol, **kw):
        table = real_curve(run_dir, data, tasks, protocol, **kw)
        return table.assign(q_bar=np.where(table["best_val"], 99.0, table["q_bar"]))

    monkeypatch.setattr(fusion, "evaluate_checkpoints", favour_best_val)
    profile = small_profile(ablation_epochs=4, ablation_checkpoint_every=2, prune_snapshots=False)
    run = next(
        r for r in studies.ablation_runs(profile) if r.name == "fusion-dofa+croma@as_intended"
    )
    unit = studies.run_unit(run, profile.seed, profile, inputs, tmp_path / "ab")
    best = unit["selections"]["best_q"]
    assert best["epoch"] == 1 and best["val_mse"] == 1.0
    run_dir = next((tmp_path / "ab").glob("runs/*"))
    assert [e for e, _ in fusion.list_checkpoints(run_dir)] == [0, 2, 4]
    assert np.isfinite(best["q_bar_ridge"])


def test_a_finished_unit_keeps_its_numbers_not_its_weights(inputs, tmp_path, monkeypatch) -> None:
    c = Counter().install(monkeypatch)
    profile = small_profile()
    run = next(r for r in studies.ablation_runs(profile) if r.name == "fusion-dofa@as_intended")
    unit = studies.run_unit(run, profile.seed, profile, inputs, tmp_path / "ab")
    run_dir = next((tmp_path / "ab").glob("runs/*"))
    assert fusion.list_checkpoints(run_dir) == [] and (run_dir / "history.csv").is_file()
    assert studies.run_unit(run, profile.seed, profile, inputs, tmp_path / "ab") == unit
    assert c.train == 1


def test_a_fusion_row_needs_a_seed(inputs, tmp_path) -> None:
    profile = small_profile()
    run = next(r for r in studies.ablation_runs(profile) if r.seeded)
    with pytest.raises(studies.StudyError, match="needs a seed"):
        studies.run_unit(run, None, profile, inputs, tmp_path / "ab")


@pytest.mark.slow
def test_units_computed_side_by_side_match_one_after_the_other(
    inputs, tmp_path, monkeypatch
) -> None:
    serial = small_profile()
    side = dataclasses.replace(serial, workers=2)
    ref = studies.run_ablation(serial, inputs, tmp_path / "serial", progress=False)

    def refuse(*args, **kw):
        raise AssertionError("the parent process trained a unit; the workers should have")

    monkeypatch.setattr(fusion, "train", refuse)  # spawned workers do not see this
    res = studies.run_ablation(side, inputs, tmp_path / "side", progress=False)
    assert len(list((tmp_path / "side" / "results").glob("*.json"))) == sum(_units(serial))
    pd.testing.assert_frame_equal(studies.table1(ref), studies.table1(res), atol=1e-4)
    again = studies.run_ablation(side, inputs, tmp_path / "side", progress=False)  # all cached
    pd.testing.assert_frame_equal(studies.table1(res), studies.table1(again))
