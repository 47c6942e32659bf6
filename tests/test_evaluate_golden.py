"""Golden test: ``e2s evaluate`` reproduces the unmodified NeuCo-Bench fold by fold.

``tests/data/neuco_golden/`` holds a small input (written by its ``make_input.py``) and the per-fold
scores, means, stds and Q that NeuCo-Bench v1.0 (the last release that shipped 20 epochs) wrote for
it; its README says how they were produced. The input exercises the benchmark's silent rules: a
task left out by the task filter whose ids still count in the standardisation statistics (one of
them labelled ``nan``), ids with ``.zarr`` inside, label ids without an embedding, a test fold
with constant labels.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from e2s_utils.cli import main as e2s
from e2s_utils.data.labels import load_tasks
from e2s_utils.evaluate import evaluate
from e2s_utils.store.csv import read_embeddings_csv

GOLDEN = Path(__file__).parent / "data" / "neuco_golden"
TASKS = ["crops", "forest", "random_reg"]
FOLD_ATOL, FOLD_RTOL, Q_RTOL = 1e-5, 2e-6, 1e-5  # float32 rounding of the training (|R²| <= 33)


def _expected() -> dict[str, dict]:
    out = GOLDEN / "benchmark_output" / "v1.0"
    return {t: json.loads((out / t / f"{t}_result.json").read_text()) for t in TASKS}


def test_golden_input_is_what_make_input_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_input", GOLDEN / "make_input.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make(tmp_path)
    files = ["embeddings.csv", *(f"labels/{p.name}" for p in (GOLDEN / "labels").glob("*.csv"))]
    assert len(files) == 5
    for name in files:
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert digest == hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest(), name


@pytest.fixture(scope="module")
def cli_summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("golden")
    argv = [
        "evaluate",
        "--embeddings",
        str(GOLDEN / "embeddings.csv"),
        "--labels",
        str(GOLDEN / "labels"),
        "--out",
        str(out),
        "--protocol",
        "paper",
        "--k-folds",
        "8",
        "--tasks",
        *TASKS,
    ]
    assert e2s(argv) == 0
    return json.loads((out / "summary.json").read_text())


def test_e2s_evaluate_reproduces_every_fold_score_and_q(cli_summary: dict) -> None:
    expected = _expected()
    assert sorted(cli_summary["tasks"]) == TASKS
    for task in TASKS:
        ref, got = expected[task], cli_summary["tasks"][task]
        np.testing.assert_allclose(got["folds"], ref["q_t"], rtol=FOLD_RTOL, atol=FOLD_ATOL)
        assert got["mean"] == pytest.approx(ref["mean_score"], rel=Q_RTOL, abs=FOLD_ATOL)
        assert got["std"] == pytest.approx(ref["std_dev"], rel=Q_RTOL, abs=FOLD_ATOL)
        assert got["q"] == pytest.approx(ref["q_stat"], rel=Q_RTOL)
    summary = json.loads(
        (GOLDEN / "benchmark_output" / "v1.0" / "results_summary.json").read_text()
    )
    assert cli_summary["q_bar"] == pytest.approx(summary["overall_q_score"], rel=Q_RTOL)
    protocol = cli_summary["config"]["protocol"]
    assert protocol["name"] == "paper" and protocol["epochs"] == summary["config"]["epochs"] == 20
    assert protocol["k_folds"] == summary["config"]["k_folds"] == 8
    assert protocol["random_stream"] == "exact" and protocol["overrides"] == ["k_folds"]


def _golden_inputs() -> tuple[list[str], np.ndarray, dict]:
    ids, X = read_embeddings_csv(GOLDEN / "embeddings.csv")
    return ids, X, load_tasks(GOLDEN / "labels")


def test_the_benchmarks_silent_rules_matter_here() -> None:
    """Each rule moves the numbers on this input, so the match above is not luck."""
    ids, X, tasks = _golden_inputs()
    ref = np.array(_expected()["crops"]["q_t"])
    exact = evaluate(ids, X, tasks, protocol="paper", k_folds=8, task_filter=TASKS)
    np.testing.assert_allclose(exact.tasks["crops"].folds, ref, rtol=FOLD_RTOL, atol=FOLD_ATOL)
    # our own per-fold stream: the same distribution, other numbers
    per_fold = evaluate(
        ids, X, tasks, protocol="paper", k_folds=8, task_filter=TASKS, random_stream="per_fold"
    )
    assert np.max(np.abs(per_fold.tasks["crops"].folds - ref)) > 1e-2
    # statistics over the evaluated tasks only (leaving out the filtered task's ids)
    only = {t: tasks[t] for t in TASKS}
    narrow = evaluate(ids, X, only, protocol="paper", k_folds=8)
    assert np.max(np.abs(narrow.tasks["crops"].folds - ref)) > 1e-3
    assert "3697ec595b5f144990c5c43b1e5cc944f1de9b03ea4bb0da" in set(tasks["crops"].labels.index)


def test_the_per_fold_stream_does_not_depend_on_other_tasks() -> None:
    ids, X, tasks = _golden_inputs()
    kw = {"protocol": "paper", "k_folds": 8, "random_stream": "per_fold"}
    both = evaluate(ids, X, tasks, task_filter=["crops", "random_reg"], **kw)
    alone = evaluate(ids, X, tasks, task_filter=["random_reg"], **kw)
    np.testing.assert_array_equal(both.tasks["random_reg"].folds, alone.tasks["random_reg"].folds)
    exact_both = evaluate(
        ids, X, tasks, task_filter=["crops", "random_reg"], protocol="paper", k_folds=8
    )
    exact_alone = evaluate(ids, X, tasks, task_filter=["random_reg"], protocol="paper", k_folds=8)
    assert not np.allclose(
        exact_both.tasks["random_reg"].folds, exact_alone.tasks["random_reg"].folds
    )
