"""Tests for the evaluation's files: embedding CSV, result summary, ``e2s evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import write_task


def _ids(n: int) -> list[str]:
    return [f"{i:064x}" for i in range(n)]


def test_csv_round_trip_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5)).astype(np.float32) * 1e3
    ids = [f"{i}.zarr.zip" for i in _ids(7)]
    path = ev.write_embeddings_csv(tmp_path / "sub" / "emb.csv", ids, X)
    header = path.read_text().splitlines()[0]
    assert header == "id,0,1,2,3,4"
    got_ids, got = ev.read_embeddings_csv(path)
    assert got_ids == _ids(7)  # written without .zarr.zip
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, X)  # exact round trip
    assert not list(path.parent.glob(".*tmp"))


def test_csv_float16_rounding(tmp_path: Path) -> None:
    X = np.array([[0.1234567, 1000.123], [-3.3333333, 1e-5]], dtype=np.float32)
    path = ev.write_embeddings_csv(tmp_path / "e.csv", ["a", "b"], X, float16=True)
    _, got = ev.read_embeddings_csv(path)
    # the file holds the float16 values (5 significant digits: they read back to the same half)
    np.testing.assert_array_equal(got.astype(np.float16), X.astype(np.float16))
    assert got[0, 0] != X[0, 0]
    assert len(path.read_text().splitlines()[1]) < 30


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_validation(tmp_path: Path) -> None:
    dup = _csv(tmp_path / "dup.csv", "id,0,1\na,1,2\na.zarr.zip,3,4\n")
    with pytest.raises(ValueError, match=r"dup\.csv.*more than once.*'a'"):
        ev.read_embeddings_csv(dup)
    text = _csv(tmp_path / "text.csv", "id,0,1\na,1,2\nb,3,oops\n")
    with pytest.raises(ValueError, match=r"'oops' in column 1 of id 'b' is not a number"):
        ev.read_embeddings_csv(text)
    wide = _csv(tmp_path / "wide.csv", "id,0,1,2\na,1,2,3\n")
    with pytest.raises(ValueError, match="3 dimensions, more than the expected 2"):
        ev.read_embeddings_csv(wide, embedding_dim=2)
    ids, padded = ev.read_embeddings_csv(wide, embedding_dim=5)
    np.testing.assert_array_equal(padded, [[1, 2, 3, 0, 0]])
    noid = _csv(tmp_path / "noid.csv", "name,0\na,1\n")
    with pytest.raises(ValueError, match="no 'id' column"):
        ev.read_embeddings_csv(noid)
    with pytest.raises(FileNotFoundError):
        ev.read_embeddings_csv(tmp_path / "missing.csv")


def test_csv_nan_to_zero_and_column_order(tmp_path: Path) -> None:
    path = _csv(tmp_path / "nan.csv", "id,1,0,10,2,extra\na,1,,3,NaN,x\nb,5,6,7,8,y\n")
    with pytest.warns(UserWarning, match="2 empty/NaN"):
        ids, X = ev.read_embeddings_csv(path)
    assert ids == ["a", "b"]
    # all-digit columns in numeric order 0, 1, 2, 10; other columns ignored
    np.testing.assert_array_equal(X, [[0, 1, 0, 3], [6, 5, 8, 7]])


def test_result_save_load_round_trip(tmp_path: Path) -> None:
    tasks = {
        "a": ev.TaskResult(
            "a", "regression", 10, 0.5, 0.1, ev.quality(0.5, 0.1), np.array([0.4, 0.6])
        ),
        "b": ev.TaskResult("b", "classification", 0, math.nan, math.nan, math.nan, np.array([])),
    }
    res = ev.EvalResult("ridge", 8.33, tasks, {"k_folds": 2})
    res.save(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["probe"] == "ridge" and summary["q_bar"] == 8.33
    assert set(summary["tasks"]["a"]) >= {"q", "mean", "std", "folds"}
    assert summary["tasks"]["b"]["q"] is None  # NaN as null: valid JSON
    frame = pd.read_csv(tmp_path / "out" / "tasks.csv", index_col="task")
    assert frame.loc["a", "q"] == pytest.approx(tasks["a"].q)
    back = ev.EvalResult.load(tmp_path / "out")
    assert back.probe == "ridge" and back.config == {"k_folds": 2}
    np.testing.assert_array_equal(back.tasks["a"].folds, [0.4, 0.6])
    assert math.isnan(back.tasks["b"].q) and back.tasks["b"].kind == "classification"
    with pytest.raises(FileNotFoundError, match="no evaluation summary"):
        ev.EvalResult.load(tmp_path / "nothing")


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    n = 120
    ids = _ids(n)
    y = rng.random(n)
    labels = tmp_path / "labels"
    write_task(labels, "crops", "regression", pd.Series(y, index=ids))
    write_task(labels, "random_cls", "classification", pd.Series((y > 0.5) * 1.0, index=ids))
    write_task(labels, "nodata", "regression", pd.Series(rng.random(n), index=ids))
    X = np.c_[y, rng.normal(size=(n, 7))]
    emb = ev.write_embeddings_csv(tmp_path / "emb.csv", [i + ".zarr.zip" for i in ids], X)
    out = tmp_path / "out"
    argv = ["--embeddings", str(emb), "--labels", str(labels), "--out", str(out)]
    rc = ev.main(
        [*argv, "--k-folds", "3", "--epochs", "2", "--tasks", "crops", "random_cls", "--plots"]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]) == {"crops", "random_cls"}
    assert len(summary["tasks"]["crops"]["folds"]) == 3
    assert summary["probe"] == "linear"
    assert (out / "fold_scores.png").stat().st_size > 1000
    assert "Q-bar" in capsys.readouterr().out
    rc = ev.main([*argv[:-1], str(tmp_path / "ridge"), "--probe", "ridge", "--k-folds", "3"])
    assert rc == 0
    assert json.loads((tmp_path / "ridge" / "summary.json").read_text())["probe"] == "ridge"
    bad = ev.main([*argv, "--embedding-dim", "4"])
    assert bad == 2
    assert "more than the expected 4" in capsys.readouterr().err


def test_plot_fold_scores() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from e2s_utils.plots.evaluation import fold_scores_frame, plot_fold_scores

    def result(probe: str) -> ev.EvalResult:
        folds = {
            "a": np.array([0.5, 0.6, -30.0]),
            "b": np.array([np.nan, np.nan]),
            "c": np.array([]),
        }
        tasks = {
            name: ev.TaskResult(name, "regression", 10, *ev.summarize_folds(f), folds=f)
            for name, f in folds.items()
        }
        return ev.EvalResult(probe, 0.0, tasks)

    results = {"m1": result("linear"), "m1 ridge": result("ridge")}
    frame = fold_scores_frame(results)
    assert len(frame) == 10 and set(frame["method"]) == {"m1", "m1 ridge"}
    fig = plot_fold_scores(results)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # only task "a" has finite fold scores
    assert "Q ridge" in axes[0].get_title()
    assert axes[0].get_ylim()[0] > -5  # the -30 fold is clipped
    plt.close(fig)
    single = plot_fold_scores(result("linear"), tasks=["a"])
    plt.close(single)
    with pytest.raises(ValueError, match="no finite fold score"):
        plot_fold_scores(result("linear"), tasks=["b"])
