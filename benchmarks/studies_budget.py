"""Cost model of the ablation and long-training studies in a profile, from measured unit costs.

Measures, on data shaped like the profile's (its model size's embedding shapes, its number of
compressor training and validation samples): seconds per compressor epoch for a single model and
for the all-model fusion, and seconds per evaluation of one embedding matrix with the linear and
the ridge probe over 11 tasks. From these it predicts the wall time of the profile's ablation
(every row, every seed, every checkpoint) and long run, and writes
``benchmarks/results/studies_budget_<profile>.md``.

Usage: ``python benchmarks/studies_budget.py [--profile demo] [--epochs 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2s_utils import evaluate, fusion, studies
from e2s_utils.config import PROFILES
from e2s_utils.data.labels import LabelTask
from e2s_utils.models import get_spec

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _data(models: tuple[str, ...], size: str, n: int, seed: int) -> fusion.FusionData:
    rng = np.random.default_rng(seed)
    shapes = {m: get_spec(m).output_shape("as_intended", size) for m in models}
    ids = [f"{i:064x}" for i in range(n)]
    return fusion.FusionData(ids, {m: rng.standard_normal((n, *s)).astype(np.float32)
                                   for m, s in shapes.items()})  # fmt: skip


def time_epoch(models: tuple[str, ...], size: str, n_train: int, n_val: int, epochs: int,
               batch_size: int, hidden: int = 2048, out_dim: int = 1024) -> float:  # fmt: skip
    """Marginal seconds per compressor epoch: (run of 1 + epochs) minus (run of 1), / epochs.

    The difference removes set-up costs (model build, first checkpoint, warm-up).
    """
    tr, va = _data(models, size, n_train, 0), _data(models, size, n_val, 1)
    took = []
    for e in (1, 1, 1 + epochs):  # the first run only warms up (allocator, kernels, imports)
        cfg = fusion.FusionConfig(models=models, epochs=e, checkpoint_every=e,
                                  batch_size=batch_size, hidden=hidden, out_dim=out_dim)  # fmt: skip
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            fusion.train(cfg, tr, va, Path(d), progress=False)
            took.append(time.perf_counter() - t)
    return max(took[2] - took[1], 0.0) / epochs


def time_eval(n: int, d: int, k_folds: int, epochs: int, probe: str) -> float:
    """Seconds per evaluation of an ``(n, d)`` matrix on 11 tasks."""
    rng = np.random.default_rng(0)
    ids = [f"{i:064x}" for i in range(n)]
    X = rng.standard_normal((n, d)).astype(np.float32)
    tasks = {}
    for k in range(11):
        kind = "classification" if k == 10 else "regression"
        y = rng.integers(0, 2, n).astype(float) if k == 10 else X[:, k] + rng.standard_normal(n)
        idx = pd.Index(ids, name="id")
        tasks[f"t{k}"] = LabelTask(f"t{k}", kind, pd.Series(y, index=idx, name=f"t{k}"))
    t = time.perf_counter()
    evaluate.evaluate(ids, X, tasks, probe=probe, k_folds=k_folds, epochs=epochs)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", default="demo")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per compressor")
    p.add_argument("--train", type=int, default=None, help="training samples (default ~61 %)")
    p.add_argument("--hidden", type=int, default=2048, help="compressor hidden width")
    p.add_argument("--out-dim", type=int, default=1024, help="compressor embedding size")
    args = p.parse_args()
    prof = PROFILES[args.profile]
    n_train = args.train or int(round(prof.n_samples * 0.61))
    n_val = prof.n_samples - n_train
    size = prof.model_size
    width = {"hidden": args.hidden, "out_dim": args.out_dim}
    one = time_epoch(("dofa",), size, n_train, n_val, args.epochs, prof.fusion_batch_size,
                     **width)  # fmt: skip
    five = time_epoch(tuple(prof.models), size, n_train, n_val, args.epochs,
                      prof.fusion_batch_size, **width)  # fmt: skip
    lin = time_eval(n_train, args.out_dim, prof.eval_k_folds, prof.eval_epochs, "linear")
    rid = time_eval(n_train, args.out_dim, prof.eval_k_folds, prof.eval_epochs, "ridge")

    settings = studies.AblationSettings.from_profile(prof)
    runs = settings.runs()
    fusion_runs = [r for r in runs if r.seeded]
    n_ckpt = len(range(0, settings.epochs + 1, settings.checkpoint_every))
    per_model = (five - one) / max(len(prof.models) - 1, 1)
    train_s = sum((one + per_model * (len(r.models) - 1)) * settings.epochs for r in fusion_runs)
    train_s *= settings.seeds
    eval_s = len(fusion_runs) * settings.seeds * (n_ckpt * lin + rid)
    eval_s += (len(runs) - len(fusion_runs)) * (lin + rid)
    long_train = five * prof.long_epochs
    long_eval = prof.long_n_checkpoints * (lin + rid)

    load = os.getloadavg()
    lines = [
        f"# studies budget ({args.profile} profile)",
        "",
        f"Machine: {os.cpu_count()}-core CPU, Python {platform.python_version()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} torch threads, no GPU. Load average "
        f"during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other processes "
        "share the cores when it exceeds the core count; numbers scale with it).",
        "",
        f"Data: {n_train} training, {n_val} validation samples; `{size}` embedding shapes; "
        f"compressor {args.hidden} hidden, {args.out_dim} out.",
        "",
        "| unit | seconds |",
        "|---|---|",
        f"| compressor epoch, DOFA alone | {one:.2f} |",
        f"| compressor epoch, all {len(prof.models)} models | {five:.2f} |",
        f"| evaluation, linear probe, 11 tasks, K={prof.eval_k_folds}, d={args.out_dim} "
        f"| {lin:.1f} |",
        f"| evaluation, ridge probe, same | {rid:.1f} |",
        "",
        "| study | training (s) | evaluation (s) | total (min) |",
        "|---|---|---|---|",
        f"| ablation: {len(fusion_runs)} fusion rows x {settings.seeds} seeds x {n_ckpt} "
        f"checkpoints, {len(runs) - len(fusion_runs)} other rows | {train_s:.0f} | {eval_s:.0f} "
        f"| {(train_s + eval_s) / 60:.1f} |",
        f"| long run: {prof.long_epochs} epochs, {prof.long_n_checkpoints} checkpoints | "
        f"{long_train:.0f} | {long_eval:.0f} | {(long_train + long_eval) / 60:.1f} |",
        "",
        "Extraction of missing stores (the `as_published_code` preset's, for the preset "
        "comparison) is not included, nor the fixed costs of each run (building the model, "
        "writing snapshots and the resume state, loading checkpoints for the probes, figures): "
        "the figures are the marginal cost, a lower bound of a notebook's wall time "
        "(`end_to_end_demo.md` has the measured one).",
    ]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    suffix = "" if (args.hidden, args.out_dim) == (2048, 1024) else f"_h{args.hidden}"
    (RESULTS_DIR / f"studies_budget_{args.profile}{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
