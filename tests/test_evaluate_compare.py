"""Comparing methods: the Q table, the paper's Z (one implementation) and the leaderboard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2s_utils.evaluate import EvalResult, TaskResult, leaderboard, q_table, z_from_q, z_scores


def _result(qs: dict[str, float]) -> EvalResult:
    tasks = {
        t: TaskResult(t, "regression", 10, q / 100, 0.0, q, np.array([q])) for t, q in qs.items()
    }
    return EvalResult("linear", float(np.mean(list(qs.values()))), tasks)


def test_q_table_is_methods_by_tasks() -> None:
    table = q_table({"a": _result({"t1": 1.0, "t2": 2.0}), "b": _result({"t2": 3.0})})
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["t1", "t2"]
    assert table.index.name == "method" and table.columns.name == "task"
    assert table.loc["b", "t2"] == 3.0 and np.isnan(table.loc["b", "t1"])


def test_z_scores() -> None:
    results = {
        "a": _result({"t1": 1.0, "t2": 10.0}),
        "b": _result({"t1": 3.0, "t2": 10.0}),
        "c": _result({"t1": 5.0, "t2": 10.0}),
    }
    z = z_scores(results)
    std = np.std([1.0, 3.0, 5.0])
    assert z.loc["a", "t1"] == pytest.approx((1 - 3) / std)
    assert (z["t2"] == 0).all()  # a tied task contributes 0
    assert z.loc["c", "Z"] == pytest.approx(((5 - 3) / std + 0) / 2)
    assert z["Z"].sum() == pytest.approx(0.0, abs=1e-12)


def test_z_from_q_matches_hand_computation() -> None:
    q = pd.DataFrame(
        {"t1": [1.0, 2.0, 3.0], "t2": [10.0, 10.0, 10.0], "t3": [0.0, 4.0, 2.0]},
        index=["a", "b", "c"],
    )
    z = z_from_q(q)
    sd1 = np.std([1, 2, 3])
    sd3 = np.std([0, 4, 2])
    assert z.loc["a", "t1"] == pytest.approx(-1 / sd1)
    assert (z["t2"] == 0).all()  # all methods equal: no information, contributes 0
    assert z.loc["b", "t3"] == pytest.approx(2 / sd3)
    assert z.loc["c", "Z"] == pytest.approx((1 / sd1 + 0 + 0) / 3)
    assert z["Z"].sum() == pytest.approx(0.0)
    # Z depends on the set of compared methods: adding a weak method raises everyone else's
    worse = pd.concat([q, pd.DataFrame({"t1": [-5.0], "t2": [10.0], "t3": [-5.0]}, index=["d"])])
    assert (z_from_q(worse).loc[["a", "b", "c"], "Z"] > z["Z"]).all()
    # a task some method did not score is left out; ddof is passed on
    gap = q.assign(t4=[1.0, np.nan, 2.0])
    assert "t4" not in z_from_q(gap).columns
    assert z_from_q(q, ddof=1).loc["a", "t1"] == pytest.approx(-1 / np.std([1, 2, 3], ddof=1))


def test_z_from_q_agrees_with_z_scores_of_results() -> None:
    rng = np.random.default_rng(0)
    q = pd.DataFrame(rng.normal(5, 3, (4, 3)), index=list("abcd"), columns=["x", "y", "z"])
    results = {m: _result(q.loc[m].to_dict()) for m in q.index}
    np.testing.assert_allclose(z_from_q(q)["Z"], z_scores(results).loc[list("abcd"), "Z"])


def test_leaderboard() -> None:
    results = {
        "a": _result({"t1": 1.0, "t2": 30.0}),
        "b": _result({"t1": 3.0, "t2": 10.0}),
        "c": _result({"t1": 3.0, "t2": 20.0}),
        "nan": _result({"t1": float("nan"), "t2": 99.0}),
    }
    board = leaderboard(results)
    assert list(board["method"]) == ["a", "c", "b"]  # "nan" dropped; t2 (larger spread) weighs more
    s1, s2 = np.std([1, 3, 3], ddof=1), np.std([30, 10, 20], ddof=1)
    w1, w2 = s1 / (s1 + s2), s2 / (s1 + s2)
    # t1 ranks (ties 'min'): a 3, b 1, c 1; t2 ranks: a 1, b 3, c 2
    expected = {"a": 3 * w1 + 1 * w2, "b": 1 * w1 + 3 * w2, "c": 1 * w1 + 2 * w2}
    for _, row in board.iterrows():
        assert row["weighted_score"] == pytest.approx(expected[row["method"]])
    assert list(board["aggregated_rank"]) == [1, 2, 3]
    assert board.loc[0, "mean_score"] == pytest.approx(15.5)
    single = leaderboard({"a": results["a"]})
    assert single.loc[0, "weighted_score"] == pytest.approx(1.0)  # uniform weights, rank 1
    empty = leaderboard({"nan": results["nan"]})
    assert empty.empty and list(empty.columns[:4]) == [
        "method",
        "mean_score",
        "weighted_score",
        "aggregated_rank",
    ]
