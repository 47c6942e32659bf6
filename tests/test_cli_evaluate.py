"""``e2s evaluate``: a CSV and a labels folder in, scores out; bad files give one error line."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import cli, paths
from e2s_utils.data.labels import write_task
from e2s_utils.store.csv import write_embeddings_csv
from tests.helpers import make_ids


@pytest.fixture
def labels(tmp_path: Path) -> tuple[Path, list[str], np.ndarray]:
    """A labels folder of three tasks over 120 ids, and the label the embeddings carry."""
    rng = np.random.default_rng(1)
    ids = make_ids(120)
    y = rng.random(120)
    folder = tmp_path / "labels"
    write_task(folder, "crops", "regression", pd.Series(y, index=ids))
    write_task(folder, "random_cls", "classification", pd.Series((y > 0.5) * 1.0, index=ids))
    write_task(folder, "nodata", "regression", pd.Series(rng.random(120), index=ids))
    return folder, ids, y


def test_end_to_end_under_a_protocol(labels, tmp_path: Path, capsys) -> None:
    folder, ids, y = labels
    rng = np.random.default_rng(2)
    X = np.c_[y, rng.normal(size=(len(ids), 7))]
    emb = write_embeddings_csv(tmp_path / "emb.csv", [i + ".zarr.zip" for i in ids], X)
    out = tmp_path / "out"
    argv = ["evaluate", "--embeddings", str(emb), "--labels", str(folder), "--out", str(out)]
    rc = cli.main(
        [*argv, "--k-folds", "3", "--epochs", "2", "--random-stream", "per_fold"]
        + ["--tasks", "crops", "random_cls", "--plots"]
    )
    assert rc == 0
    assert gc.isenabled()  # paused for the command only
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]) == {"crops", "random_cls"}
    assert len(summary["tasks"]["crops"]["folds"]) == 3
    assert summary["probe"] == "linear"
    protocol = summary["config"]["protocol"]
    assert protocol["name"] == "paper" and protocol["epochs"] == 2 and protocol["k_folds"] == 3
    assert summary["config"]["embeddings"] == "emb.csv" and summary["config"]["labels"] == "labels"
    assert (out / "fold_scores.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "Q-bar" in text and "protocol paper (K = 3, 2 epochs; overridden:" in text
    ridge = tmp_path / "ridge"
    argv = [*argv[:-1], str(ridge), "--probe", "ridge", "--protocol", "challenge", "--k-folds", "3"]
    assert cli.main(argv) == 0
    summary = json.loads((ridge / "summary.json").read_text())
    assert summary["probe"] == "ridge" and summary["config"]["protocol"]["name"] == "challenge"
    assert "nodata" not in summary["tasks"]  # the challenge protocol leaves it out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,0,1\n", "has a header but no rows"),
        ("", "is empty"),
        ("id,0,1\na,1,oops\n", "is not a number"),
    ],
    ids=["header-only", "empty", "non-numeric"],
)
def test_a_bad_csv_is_one_error_line_exit_2(labels, tmp_path, capsys, text, message) -> None:
    folder, _, _ = labels
    emb = tmp_path / "bad.csv"
    emb.write_text(text)
    argv = ["evaluate", "--embeddings", str(emb), "--labels", str(folder)]
    rc = cli.main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("e2s evaluate: error: ")
    assert str(emb) in lines[0] and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_too_many_dimensions_is_an_error_line(labels, tmp_path, capsys) -> None:
    folder, ids, y = labels
    emb = write_embeddings_csv(tmp_path / "emb.csv", ids, np.c_[y, y, y, y, y])
    argv = ["evaluate", "--embeddings", str(emb), "--labels", str(folder)]
    assert cli.main([*argv, "--out", str(tmp_path / "o"), "--embedding-dim", "4"]) == 2
    assert "more than the expected 4" in capsys.readouterr().err


def test_the_installed_command_prints_no_traceback(labels, tmp_path: Path) -> None:
    folder, _, _ = labels
    emb = tmp_path / "header.csv"
    emb.write_text("id,0,1\n")
    argv = ["--embeddings", str(emb), "--labels", str(folder), "--out", str(tmp_path / "o")]
    proc = subprocess.run(
        [sys.executable, "-m", "e2s_utils.cli", "evaluate", *argv],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"e2s evaluate: error: embedding file {emb} has a header but no rows; write one row per id"
    ]
