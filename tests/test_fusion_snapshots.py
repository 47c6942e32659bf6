"""Pruning a finished run: what stays, what goes, and that nothing a rerun needs is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import evaluate as ev
from e2s_utils import fusion
from e2s_utils.fusion import FusionError
from e2s_utils.store import FusionData
from tests.helpers import random_tasks, small_fusion_config, train_val

PROTOCOL = ev.get_protocol("neuco_current", k_folds=2, epochs=1, random_stream="per_fold")
OTHER = ev.get_protocol("neuco_current", k_folds=3, epochs=1, random_stream="per_fold")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FusionData, pd.DataFrame]:
    """A finished 6-epoch run (snapshots 0, 2, 4, 6), evaluated under PROTOCOL, never pruned."""
    train_d, val_d = train_val()
    run_dir = tmp_path_factory.mktemp("snap") / "run"
    cfg = small_fusion_config(epochs=6, checkpoint_every=2)
    fusion.train(cfg, train_d, val_d, run_dir, progress=False)
    tasks = random_tasks(train_d.ids, seed=5)
    table = fusion.evaluate_checkpoints(run_dir, train_d, tasks, PROTOCOL, progress=False)
    return run_dir, train_d, table


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def _snapshots(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*.pt")}


def test_every_checkpoint_keeps_its_embeddings(evaluated) -> None:
    run_dir, data, table = evaluated
    for _, row in table.iterrows():
        name = fusion.curve.entry_name(row["checkpoint"], row["epoch"])
        kept = fusion.embeddings_path(run_dir, name, data)
        assert kept.is_file()
        direct = fusion.embed(run_dir / row["checkpoint"], data)
        np.testing.assert_array_equal(np.load(kept), direct)


def test_pruning_keeps_the_reference_snapshots_only(evaluated, tmp_path: Path) -> None:
    run_dir = _copy(evaluated[0], tmp_path)
    data, table = evaluated[1], evaluated[2]
    keep = fusion.reference_snapshots(table)
    best = fusion.best_checkpoints(table)
    assert best["best_q"]["checkpoint"] in keep and best["best_mse"]["checkpoint"] in keep
    assert "checkpoints/epoch_00006.pt" in keep and fusion.BEST_VAL in keep
    before = _snapshots(run_dir)
    report = fusion.prune_snapshots(run_dir, keep, data)
    after = _snapshots(run_dir)
    assert after == before & set(keep)
    assert len(after) < len(before) and report.bytes_freed > 0
    assert {p.relative_to(run_dir).as_posix() for p in report.removed} == before - after


def test_a_pruned_run_gives_the_same_table_and_resumes_as_finished(
    evaluated, tmp_path: Path
) -> None:
    run_dir = _copy(evaluated[0], tmp_path)
    data, table = evaluated[1], evaluated[2]
    fusion.prune_snapshots(run_dir, fusion.reference_snapshots(table), data)
    tasks = random_tasks(data.ids, seed=5)
    again = fusion.evaluate_checkpoints(run_dir, data, tasks, PROTOCOL, progress=False)
    pd.testing.assert_frame_equal(again, table)
    # the run counts as finished: train returns its history without training again
    cfg = small_fusion_config(epochs=6, checkpoint_every=2)
    train_d, val_d = train_val()
    history = fusion.train(cfg, train_d, val_d, run_dir, progress=False)
    assert len(history) == 7 and not fusion.resume_path(run_dir).exists()
    assert _snapshots(run_dir) == set(fusion.reference_snapshots(table)) & _snapshots(run_dir)


def test_a_pruned_checkpoint_is_evaluated_again_from_its_embeddings(
    evaluated, tmp_path: Path
) -> None:
    run_dir = _copy(evaluated[0], tmp_path)
    data, table = evaluated[1], evaluated[2]
    fusion.prune_snapshots(run_dir, fusion.reference_snapshots(table), data)
    tasks = random_tasks(data.ids, seed=5)
    # another protocol: nothing cached, two snapshots gone, every row still scored
    other = fusion.evaluate_checkpoints(run_dir, data, tasks, OTHER, progress=False)
    assert list(other["epoch"]) == list(table["epoch"])
    reference = fusion.evaluate_checkpoints(
        _copy_unpruned(evaluated[0], tmp_path), data, tasks, OTHER, progress=False
    )
    pd.testing.assert_frame_equal(other, reference)


def _copy_unpruned(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "unpruned"
    shutil.copytree(run_dir, target)
    return target


def test_a_snapshot_without_kept_embeddings_is_not_deleted(evaluated, tmp_path: Path) -> None:
    run_dir = _copy(evaluated[0], tmp_path)
    data = evaluated[1]
    victim = fusion.embeddings_path(run_dir, "epoch_00002", data)
    victim.unlink()
    fusion.prune_snapshots(run_dir, keep=(), data=data)
    assert (run_dir / "checkpoints" / "epoch_00002.pt").is_file()
    assert not (run_dir / "checkpoints" / "epoch_00004.pt").exists()


def test_pruning_everything_and_the_explorers_message(evaluated, tmp_path: Path) -> None:
    run_dir = _copy(evaluated[0], tmp_path)
    data, table = evaluated[1], evaluated[2]
    fusion.prune_snapshots(run_dir, keep=())
    assert _snapshots(run_dir) == set() and not (run_dir / "embeddings").exists()
    assert (run_dir / "history.csv").is_file()
    row = table.iloc[1]
    with pytest.raises(FusionError, match="pruned.*prune_snapshots=False"):
        fusion.checkpoint_embeddings(run_dir, row["checkpoint"], int(row["epoch"]), data)


def test_a_run_still_training_is_not_pruned(tmp_path: Path) -> None:
    train_d, val_d = train_val()
    cfg = small_fusion_config(epochs=6, checkpoint_every=2)
    run_dir = tmp_path / "run"
    fusion.train(cfg, train_d, val_d, run_dir, progress=False, stop_after=2)
    with pytest.raises(FusionError, match="still training"):
        fusion.prune_snapshots(run_dir, keep=())
    assert fusion.resume_path(run_dir).is_file()
