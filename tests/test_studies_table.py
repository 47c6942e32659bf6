"""Table 1: Q̄ over seeds, Z over every row and over the paper's rows per preset, the paper beside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2s_utils import studies
from e2s_utils.evaluate import stats, z_from_q
from tests.helpers import fake_ablation_results


@pytest.fixture(scope="module")
def results() -> studies.AblationResults:
    return fake_ablation_results()[1]


def _row(table: pd.DataFrame, method: str, preset: str) -> pd.Series:
    return table[(table["method"] == method) & (table["preset"] == preset)].iloc[0]


def test_table1_layout_and_spread(results) -> None:
    t = studies.table1(results)
    stop = list(studies.TABLE1_HEADERS).index("q_bar_last") + 1
    assert list(t.columns) == list(studies.TABLE1_HEADERS)[:stop]
    assert list(zip(t["method"], t["preset"])) == [(r.label, r.preset) for r in results.runs]
    row = _row(t, "DOFA + CROMA", "as_intended")
    qbars = [u["selections"]["best_q"]["q_bar"] for u in results.units[results.runs[6].name]]
    assert row["q_bar_mean"] == pytest.approx(np.mean(qbars))
    assert row["q_bar_std"] == pytest.approx(np.std(qbars, ddof=1))
    assert row["seeds"] == 3 and row["best_q_epochs"] == "10/11/12"
    assert row["val_mse"] == pytest.approx(0.2)
    assert row["q_bar_ridge"] == pytest.approx(row["q_bar_mean"] + 3)
    assert row["q_bar_best_mse"] == pytest.approx(row["q_bar_mean"] - 1)
    assert row["q_bar_last"] == pytest.approx(row["q_bar_mean"] - 2)
    rnd = _row(t, "Random embeddings", "as_intended")
    assert rnd["q_bar_std"] == 0.0 and rnd["seeds"] == 0 and rnd["best_q_epochs"] == ""
    assert np.isnan(rnd["val_mse"]) and np.isnan(rnd["z_paper"])
    assert t["z"].sum() == pytest.approx(0.0, abs=1e-9)
    assert t.loc[t["z"].idxmax(), "method"] == "DOFA + CROMA, raw"


def test_z_paper_is_taken_per_preset_over_the_papers_rows(results) -> None:
    t = studies.table1(results)
    for preset in ("as_published_code", "as_intended"):
        rows = t[(t["preset"] == preset) & t["z_paper"].notna()]
        assert rows["method"].tolist() == ["DOFA", "CROMA", "DOFA + CROMA"]
        assert rows["z_paper"].sum() == pytest.approx(0.0, abs=1e-9)
        q = results.task_q(preset=preset).loc[rows["method"]]
        np.testing.assert_allclose(rows["z_paper"], z_from_q(q)["Z"])
    assert np.isnan(_row(t, "DOFA + CROMA without dropout", "as_intended")["z_paper"])


def test_single_seed_std_is_unknown_not_zero(results) -> None:
    one = studies.AblationResults(
        results.runs, {k: v[:1] for k, v in results.units.items()}, results.tasks, results.protocol
    )
    t = studies.table1(one)
    assert np.isnan(_row(t, "DOFA", "as_intended")["q_bar_std"])
    assert _row(t, "Random embeddings", "as_intended")["q_bar_std"] == 0.0


def test_the_papers_numbers_stand_beside_the_published_code_rows_only(results) -> None:
    ref = studies.with_paper_reference(studies.table1(results))
    assert _row(ref, "DOFA + CROMA", "as_published_code")["paper_q_bar"] == 16.10
    assert _row(ref, "DOFA", "as_published_code")["paper_z"] == -0.43
    nodrop = _row(ref, "DOFA + CROMA without dropout", "as_published_code")
    assert nodrop["paper_q_bar"] == studies.PAPER_NO_DROPOUT_Q_BAR
    assert np.isnan(_row(ref, "DOFA + CROMA", "as_intended")["paper_q_bar"])
    assert np.isnan(_row(ref, "Random embeddings", "as_intended")["paper_q_bar"])
    shown = studies.present_table1(ref)
    assert {"Q̄ mean", "Z (all rows)", "paper Q̄"} <= set(shown.columns)
    assert "q_bar_mean" not in shown.columns


def test_task_q_folds_and_scores(results) -> None:
    q = results.task_q(preset="as_intended")
    assert list(q.columns) == ["t1", "t2"]
    assert list(q.index) == [r.label for r in results.rows("as_intended")]
    everything = results.task_q()
    assert "DOFA [as_published_code]" in everything.index and len(everything) == len(results.runs)
    folds = results.folds()
    assert list(folds.columns) == ["method", "preset", "title", "task", "seed", "fold", "score"]
    assert len(folds) == (8 * 3 + 3) * 2 * 10
    scores = results.scores()
    assert scores["DOFA [as_intended]"]["t1"].shape == (3, 10)
    assert scores["Random embeddings [as_intended]"]["t2"].shape == (1, 10)
    ridge = results.scores(probe="ridge")
    np.testing.assert_allclose(
        ridge["DOFA [as_intended]"]["t1"], scores["DOFA [as_intended]"]["t1"] + 0.05
    )


def test_with_intervals_brackets_every_estimate(results) -> None:
    table, iv = studies.with_intervals(
        studies.table1(results), results, stats.BootstrapSettings(n_resamples=200)
    )
    assert list(table.columns) == [c for c in studies.TABLE1_HEADERS if c in table.columns]
    assert (table["q_bar_lo"] <= table["q_bar_mean"] + 1e-9).all()
    assert (table["q_bar_hi"] >= table["q_bar_mean"] - 1e-9).all()
    assert (table["z_lo"] <= table["z_hi"]).all()
    assert set(iv.q_bar) == {r.title for r in results.runs}
