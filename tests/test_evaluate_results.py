"""What an evaluation returns: per-task results, their dict and file forms, the fold scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils.evaluate import EvalResult, TaskResult, quality, summarize_folds


def _result() -> EvalResult:
    tasks = {
        "a": TaskResult("a", "regression", 10, 0.5, 0.1, quality(0.5, 0.1), np.array([0.4, 0.6])),
        "b": TaskResult("b", "classification", 0, math.nan, math.nan, math.nan, np.array([])),
        "c": TaskResult(
            "c",
            "regression",
            8,
            *summarize_folds(np.array([0.2, np.nan])),
            folds=np.array([0.2, np.nan]),
        ),
    }
    return EvalResult("ridge", 8.33, tasks, {"protocol": {"name": "paper", "k_folds": 2}})


def test_save_load_round_trip(tmp_path: Path) -> None:
    res = _result()
    res.save(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["probe"] == "ridge" and summary["q_bar"] == 8.33
    assert set(summary["tasks"]["a"]) >= {"q", "mean", "std", "folds", "n", "kind"}
    assert summary["tasks"]["b"]["q"] is None  # NaN as null: valid JSON
    assert summary["tasks"]["c"]["folds"] == [0.2, None]
    assert summary["config"]["protocol"]["name"] == "paper"
    frame = pd.read_csv(tmp_path / "out" / "tasks.csv", index_col="task")
    assert frame.loc["a", "q"] == pytest.approx(res.tasks["a"].q)
    back = EvalResult.load(tmp_path / "out")
    assert back.probe == "ridge" and back.config == res.config
    np.testing.assert_array_equal(back.tasks["a"].folds, [0.4, 0.6])
    np.testing.assert_array_equal(back.tasks["c"].folds, [0.2, np.nan])
    assert math.isnan(back.tasks["b"].q) and back.tasks["b"].kind == "classification"
    assert not list((tmp_path / "out").glob(".*tmp*"))
    with pytest.raises(FileNotFoundError, match="no evaluation summary"):
        EvalResult.load(tmp_path / "nothing")


def test_dict_round_trip_is_json_safe() -> None:
    res = _result()
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)  # no NaN left: strict JSON
    back = EvalResult.from_dict(json.loads(text))
    assert back.to_dict() == d
    assert back.tasks["a"].n == 10 and back.tasks["a"].q == pytest.approx(res.tasks["a"].q)


def test_frames_and_fold_scores() -> None:
    res = _result()
    frame = res.to_frame()
    assert list(frame.index) == ["a", "b", "c"] and (frame["probe"] == "ridge").all()
    assert list(frame.columns) == ["kind", "n", "mean", "std", "q", "probe"]
    folds = res.folds_frame()
    assert list(folds.columns) == ["task", "fold", "score"]
    assert folds["task"].tolist() == ["a", "a", "c", "c"] and folds["fold"].tolist() == [0, 1, 0, 1]
    scores = res.fold_scores()
    assert set(scores) == {"a", "c"}  # the empty task is left out
    np.testing.assert_array_equal(scores["a"], [0.4, 0.6])


def test_tasks_csv_is_what_pandas_writes() -> None:
    """``tasks.csv`` is written without pandas, byte for byte as pandas writes the task frame."""
    result = _result()
    assert result.tasks_csv() == result.to_frame().to_csv(float_format="%.10g")
    text = result.summary_text().splitlines()
    assert text[0].split() == ["task", "kind", "n", "mean", "std", "q"]
    assert text[1].split()[:3] == ["a", "regression", "10"] and len(text) == 4
