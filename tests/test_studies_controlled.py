"""The controlled study: its units, its cache, its statistics and its findings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from e2s_utils import config
from e2s_utils.data import simulator as sim
from e2s_utils.evaluate import evaluate_many, stats
from e2s_utils.studies import controlled as ctl
from e2s_utils.studies import controlled_stats as cst


def _profile(**protocol: int) -> config.Profile:
    """The smoke profile, smaller still: a few seconds for the whole study."""
    prof = config.get_profile("smoke", device="cpu", **protocol)
    small = dataclasses.replace(
        prof.controlled,
        n=400,
        out_dim=8,
        hidden=32,
        train_n=64,
        val_n=32,
        long_epochs=6,
        long_train_n=(32,),
        n_resamples=100,
    )
    return dataclasses.replace(prof, controlled=small)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ctl.ControlledResult, list]:
    root = tmp_path_factory.mktemp("controlled")
    ran: list[str] = []
    result = ctl.run_controlled(_profile(), root, progress=False, on_unit=ran.append)
    return root, result, ran


def test_units_cover_the_four_experiments() -> None:
    cfg = config.get_profile("demo").controlled
    units = ctl.controlled_units(cfg)
    names = [u.name for u in units]
    assert len(names) == len(set(names))
    assert {n[:2] for n in names} == {"e1", "e2", "e3", "e4"}
    comp = next(u for u in units if u.name == "e1-complementary")
    assert isinstance(comp, ctl.CompressorUnit) and comp.ridge_epochs == (cfg.epochs,)
    assert set(cfg.mse_epochs) < set(comp.linear_epochs)  # E2 compares it at every checkpoint
    weights = [dict(u.weights)["randvit"] for u in units if u.name.startswith("e2-")]
    assert weights == list(cfg.nuisance_weights)
    specs = ctl.block_specs(cfg)
    needed = {b for u in units for b in u.blocks}
    assert needed <= set(specs)
    assert specs["veg_copy"].key == "veg"  # the same block twice
    # overlapping has complementary's shapes: equal width, only the coverage differs
    assert [specs[b].shape for b in ctl.OVERLAPPING] == [specs[b].shape for b in ctl.COMPLEMENTARY]


def test_the_demo_probes_the_release_size_at_the_paper_protocol() -> None:
    prof = config.get_profile("demo")
    data = ctl.ControlledData(prof.controlled, Path("unused"))
    assert prof.protocol.name == "paper" and prof.protocol.k_folds == 40
    assert prof.protocol.epochs == 20 and not prof.protocol.exclude_tasks
    assert 7900 < len(data.eval_ids) < 8400 and len(data.eval_ids) + len(data.dev_ids) == 13260


def test_a_rerun_recomputes_nothing_and_a_protocol_change_everything(
    study: tuple[Path, ctl.ControlledResult, list],
) -> None:
    root, first, ran = study
    assert ran == [u.name for u in first.units]  # the first run computed every unit
    again: list[str] = []
    second = ctl.run_controlled(_profile(), root, progress=False, on_unit=again.append)
    assert again == [] and second.results == first.results
    sims = list(root.glob("sim__*"))
    assert len(sims) == 1 and not list((root / "runs").glob("*"))  # snapshots deleted
    other: list[str] = []
    ctl.run_controlled(_profile(eval_k_folds=4), root, progress=False, on_unit=other.append)
    assert other == ran


def test_every_condition_has_its_interval(study: tuple[Path, ctl.ControlledResult, list]) -> None:
    _, result, _ = study
    frame = cst.conditions(result)
    settings = stats.BootstrapSettings(n_resamples=100)
    shown = cst.intervals(frame, settings)
    assert set(shown["experiment"]) == {"E1", "E2", "E3", "E4"}
    assert {"q_bar", "q_bar_lo", "q_bar_hi"} <= set(shown.columns)
    finite = shown.dropna(subset=["q_bar_lo"])
    assert len(finite) == len(shown)
    # the project's studentized intervals correct Q's bias, so they need not hold the estimate
    assert (finite["q_bar_lo"] <= finite["q_bar_hi"]).all()
    e4 = frame[frame["experiment"] == "E4"]
    direct = stats.score_intervals(cst.scores(e4), settings).q_bar
    for row in shown[shown["experiment"] == "E4"].itertuples():
        assert (row.q_bar_lo, row.q_bar_hi) == (direct[row.condition].lo, direct[row.condition].hi)
        assert row.q_bar == pytest.approx(direct[row.condition].estimate)
    k = _profile().protocol.k_folds
    assert all(len(f) == k for rec in frame["record"] for f in rec["folds"].values())
    comps = cst.comparisons(result, frame, settings)
    assert set(comps["experiment"]) == {"E1", "E2", "E3", "E4"}
    assert (comps["lo"] <= comps["delta_q_bar"]).all() and (
        comps["delta_q_bar"] <= comps["hi"]
    ).all()
    for row in comps.itertuples():  # an order only where the interval excludes zero
        assert row.verdict == (
            "A > B" if row.lo > 0 else "A < B" if row.hi < 0 else "not separated"
        )


def test_findings_state_each_experiment_with_intervals(
    study: tuple[Path, ctl.ControlledResult, list],
) -> None:
    _, result, _ = study
    frame = cst.conditions(result)
    comps = cst.comparisons(result, frame, stats.BootstrapSettings(n_resamples=100))
    lines = cst.findings(result, frame, comps).splitlines()
    assert [ln[:2] for ln in lines[:4]] == ["E1", "E2", "E3", "E4"]
    for line in lines[:4]:
        assert "95 % CI" in line and "not measured" not in line
    assert "not the paper's foundation models" in lines[-1]
    # each line opens with its answer, read off the verdicts
    assert any(a in lines[0] for a in ("follows diversity", "not follow", "not separated at"))
    assert "loss weight 2 on that block gives" in lines[1]
    assert ("no double descent" in lines[2]) != ("a double descent appears" in lines[2])
    assert "% of the ridge probe's Q̄" in lines[3]


def test_save_controlled_writes_the_findings_the_readme_shows(
    study: tuple[Path, ctl.ControlledResult, list], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from e2s_utils import report

    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("E2S_FIGURES_DIR", str(tmp_path / "figures"))
    _, result, _ = study
    ctx = config.setup("60_controlled_fusion", profile="smoke", device="cpu")
    ctx = dataclasses.replace(ctx, profile=_profile())
    out = cst.save_controlled(ctx, result)
    assert "controlled_findings" in [t for t, _ in report.TABLES]
    text = (tmp_path / "figures" / "controlled_findings.md").read_text()
    assert "CONTROLLED SIMULATION" in text and text.count("\n- ") == len(out.text.splitlines())
    for name in ("controlled_q_bar", "controlled_mse_vs_q"):
        assert (tmp_path / "figures" / f"{name}.png").is_file()
    assert (tmp_path / "figures" / "controlled_conditions.csv").is_file()


def test_complementary_blocks_beat_the_same_block_twice_with_the_ridge_probe(
    tmp_path: Path,
) -> None:
    """Equal width, deterministic: two different task groups against one group seen twice."""
    cfg = dataclasses.replace(_profile().controlled, n=3000, width=16, access_width=16)
    data = ctl.ControlledData(cfg, tmp_path)
    mats = {
        name: np.concatenate(
            [data.block(b, data.eval_ids).reshape(len(data.eval_ids), -1) for b in blocks], axis=1
        )
        for name, blocks in (
            ("complementary", ("veg", "heat")),
            ("duplicated", ("veg", "veg_copy")),
        )
    }
    assert mats["complementary"].shape == mats["duplicated"].shape
    res = evaluate_many(data.eval_ids, mats, data.tasks(), probe="ridge", k_folds=10, num_threads=1)
    scores = {m: r.fold_scores() for m, r in res.items()}
    c = stats.compare(
        scores, "complementary", "duplicated", stats.BootstrapSettings(n_resamples=200)
    )
    assert c.verdict == "A > B" and c.diff.lo > 2
    # what the duplicate adds is nothing: its heat tasks stay at the random baseline
    assert (
        abs(res["duplicated"].tasks["heatisland_mean"].q)
        < 3
        < res["complementary"].tasks["heatisland_mean"].q
    )
    assert np.array_equal(data.block("veg", data.eval_ids), data.block("veg_copy", data.eval_ids))
    assert data.specs["veg_copy"] == dataclasses.replace(sim.preset("duplicated", 16)[-1])


@pytest.mark.slow
def test_units_computed_side_by_side_match_the_loop(study, tmp_path: Path) -> None:
    _, ref, _ = study
    side = dataclasses.replace(_profile(), workers=2)
    ran: list[str] = []
    res = ctl.run_controlled(side, tmp_path, progress=False, on_unit=ran.append)
    assert sorted(ran) == sorted(u.name for u in ref.units)  # computed by the workers
    for name, want in ref.results.items():
        got = res.results[name]
        for label, ev in want.get("evals", {}).items():
            q_want, q_got = ev["q"], got["evals"][label]["q"]
            assert q_got.keys() == q_want.keys()
            got_q = np.asarray(list(q_got.values()), dtype=float)
            np.testing.assert_allclose(got_q, np.asarray(list(q_want.values()), float), atol=1e-3)
    again: list[str] = []
    ctl.run_controlled(side, tmp_path, progress=False, on_unit=again.append)
    assert again == []
