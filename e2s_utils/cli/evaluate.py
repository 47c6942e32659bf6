"""``e2s evaluate``: score a NeuCo-Bench embedding CSV on a labels folder under a named protocol."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s evaluate`` options: a protocol preset, and any of its values overridden."""
    from e2s_utils.evaluate.protocol import PROBES, PROTOCOL_NAMES

    p = argparse.ArgumentParser(
        prog="e2s evaluate",
        description="Score a NeuCo-Bench embedding CSV on a labels folder (linear probe or ridge).",
    )
    p.add_argument("--embeddings", type=Path, required=True, help="CSV with header id,0,...,D-1")
    p.add_argument("--labels", type=Path, required=True, help="folder of <task>__<type>.csv")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--protocol",
        choices=PROTOCOL_NAMES,
        default="paper",
        help="paper: K=40, 20 epochs, all tasks (default); challenge: K=200, 20 "
        "epochs, no cloud/no-data tasks; neuco_current: K=40, 10 epochs",
    )
    p.add_argument(
        "--probe",
        choices=PROBES,
        default="linear",
        help="linear: the benchmark's probe (default); ridge: the converged probe",
    )
    p.add_argument("--k-folds", type=int, default=None, help="override the protocol's folds")
    p.add_argument("--epochs", type=int, default=None, help="override the protocol's epochs")
    p.add_argument("--seed", type=int, default=None, help="override the protocol's seed (42)")
    p.add_argument(
        "--random-stream",
        choices=("exact", "per_fold"),
        default=None,
        help="exact: the benchmark's own random numbers; per_fold: one stream a fold",
    )
    p.add_argument("--embedding-dim", type=int, default=None)
    p.add_argument("--tasks", nargs="+", default=None, help="evaluate only these tasks")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        dest="num_threads",
        type=int,
        default=None,
        help="CPU threads (default: OMP_NUM_THREADS, else every core)",
    )
    p.add_argument("--plots", action="store_true", help="also save a fold-score figure (PNG)")
    return p


def _numba_without_blas() -> None:
    """Load numba's array functions without SciPy's BLAS (0.2 s of a 1 s run).

    On its first compilation numba imports ``scipy.linalg`` to see whether ``np.dot`` can be
    compiled; the probe's kernels use no BLAS. This process (and only it: a command exits when done)
    shows numba no SciPy BLAS while that module loads, then restores the import.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg.cython_blas"] = None  # type: ignore[assignment]
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        del sys.modules["scipy.linalg.cython_blas"]


def main(argv: list[str] | None = None) -> int:
    """Read the CSV and labels, evaluate, write ``summary.json`` and ``tasks.csv``.

    The cyclic garbage collector pauses for the command (restored after): its passes over the
    objects numba creates while loading take a tenth of a one-second run, and the evaluation
    itself leaves no cycles worth collecting.
    """
    args = build_parser().parse_args(argv)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(args)
    finally:
        if collecting:
            gc.enable()


def _evaluate(args: argparse.Namespace) -> int:
    _numba_without_blas()
    from e2s_utils.data.labels import load_task_labels
    from e2s_utils.evaluate import evaluate, get_protocol
    from e2s_utils.store.csv import read_embeddings_csv

    protocol = get_protocol(
        args.protocol,
        k_folds=args.k_folds,
        epochs=args.epochs,
        seed=args.seed,
        random_stream=args.random_stream,
    )
    tasks = load_task_labels(args.labels)
    ids, X = read_embeddings_csv(args.embeddings, args.embedding_dim, args.num_threads)
    result = evaluate(
        ids,
        X,
        tasks,
        protocol=protocol,
        probe=args.probe,
        embedding_dim=args.embedding_dim,
        device=args.device,
        task_filter=args.tasks,
        progress=True,
        num_threads=args.num_threads,
    )
    result.config.update({"embeddings": args.embeddings.name, "labels": args.labels.name})
    result.save(args.out)
    if args.plots:
        from e2s_utils.plots.evaluation import plot_fold_scores

        fig = plot_fold_scores(result.folds_frame().assign(method=args.embeddings.stem))
        fig.savefig(Path(args.out) / "fold_scores.png", dpi=120)
    print(result.summary_text())
    label = "Q-bar" if args.probe == "linear" else "Q-bar (ridge)"
    print(f"protocol {protocol.label()}")
    print(f"{label} = {result.q_bar:.3f}  ->  {Path(args.out) / 'summary.json'}")
    return 0
