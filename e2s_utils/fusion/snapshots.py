"""Pruning a finished run's snapshots once everything a rerun or a figure needs is kept.

A compressor run writes a weights-only snapshot at every scheduled epoch (267 MB each at the paper's
input size). Once a run is finished and its checkpoints are evaluated, what a rerun, a figure or the
submission still reads is: the evaluations (cached per checkpoint), each checkpoint's embeddings of
the probed samples (kept by :func:`~e2s_utils.fusion.curve.checkpoint_embeddings`), and three
snapshots: the best-Q̄ one (the paper's choice; its embeddings become the submission), the
best-validation-MSE one (``best_val.pt`` or a scheduled epoch) and the last one (which marks the run
finished). :func:`prune_snapshots` deletes the others, and the kept full training states a fork
started from. It refuses to delete a snapshot whose embeddings are not kept, so nothing that a
rerun would need is lost; a rerun reuses the finished run and every cached evaluation.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from e2s_utils.fusion import checkpoints as ck
from e2s_utils.fusion.config import FusionError
from e2s_utils.fusion.curve import EMBEDDINGS_DIR, best_checkpoints, embeddings_path, entry_name
from e2s_utils.store.loader import FusionData


@dataclass
class PruneReport:
    """What :func:`prune_snapshots` removed.

    Attributes:
        removed: the deleted files and folders.
        bytes_freed: their size on disk.
        kept: the snapshots kept (relative to the run).
    """

    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    kept: list[str] = field(default_factory=list)


def reference_snapshots(table: pd.DataFrame) -> list[str]:
    """The snapshots a finished run keeps: best-Q̄, best-validation-MSE and last (relative paths).

    Args:
        table: the run's :func:`~e2s_utils.fusion.curve.evaluate_checkpoints` table.
    """
    best = best_checkpoints(table)
    last = str(table.sort_values("epoch", kind="stable")["checkpoint"].iloc[-1])
    keep = [best["best_q"]["checkpoint"], best["best_mse"]["checkpoint"], last, ck.BEST_VAL]
    return list(dict.fromkeys(keep))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _remove(path: Path, report: PruneReport) -> None:
    report.bytes_freed += _size(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    report.removed.append(path)


def prune_snapshots(
    run_dir: Path, keep: Collection[str], data: FusionData | None = None
) -> PruneReport:
    """Delete a finished run's snapshots other than ``keep``, and its kept fork states.

    Args:
        run_dir: a finished run (its ``resume.pt`` is gone).
        keep: snapshots to keep, relative to the run (:func:`reference_snapshots`); an empty
            collection keeps none (an ablation unit whose numbers are cached elsewhere).
        data: the probed samples; with it, a snapshot is deleted only when its embeddings of these
            samples are kept (else it is kept). Without it every other snapshot and the kept
            embeddings are deleted (nothing reads them again).

    Raises:
        FusionError: for a run that is not finished (pruning would break its resume).
    """
    run_dir = Path(run_dir)
    if ck.resume_path(run_dir).is_file():
        raise FusionError(f"{run_dir} is still training (resume.pt is there); prune it afterwards")
    report = PruneReport()
    names = {entry_name(f"checkpoints/{p.name}", e): p for e, p in ck.list_checkpoints(run_dir)}
    for name, path in names.items():
        rel = path.relative_to(run_dir).as_posix()
        if rel in keep or (data is not None and not embeddings_path(run_dir, name, data).is_file()):
            report.kept.append(rel)
            continue
        _remove(path, report)
    best = run_dir / ck.BEST_VAL
    if best.is_file():
        if ck.BEST_VAL in keep:
            report.kept.append(ck.BEST_VAL)
        elif data is None:
            _remove(best, report)
    for folder in ("states",) + (() if data is not None else (EMBEDDINGS_DIR,)):
        if (run_dir / folder).is_dir():
            _remove(run_dir / folder, report)
    return report
