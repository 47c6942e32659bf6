"""Cost model of the ablation and long-training studies in a profile, from measured unit costs.

Measures, on data shaped like the profile's (its model size's embedding shapes, its number of
compressor training and validation samples): seconds per compressor epoch for a single model and
for the all-model fusion, and seconds per evaluation of one embedding matrix with the linear and
the ridge probe over 11 tasks under the profile's protocol. From these it predicts the wall time
of the profile's ablation (every row and seed as :func:`e2s_utils.studies.ablation_runs` and
:func:`e2s_utils.studies.seed_list` give them: every checkpoint of a fusion row through the
linear probe, the chosen one through the ridge probe, every other row through both) and of its
long run (the run and its constant-rate twin from the fork on, every checkpoint through both
probes), and writes ``benchmarks/results/studies_budget_<profile>.md``.

Usage: ``python benchmarks/studies_budget.py [--profile demo] [--epochs 3] [--threads 1]
[--out FILE]``. On a machine shared with other jobs pass ``--threads 1``: with more torch threads
than free cores every unit runs several times slower.
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

from e2s_utils import fusion, studies
from e2s_utils.config import PROFILE_NAMES, get_profile
from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate import Protocol, evaluate
from e2s_utils.models import get_spec
from e2s_utils.store import FusionData

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _data(models: tuple[str, ...], size: str, n: int, seed: int) -> FusionData:
    rng = np.random.default_rng(seed)
    shapes = {m: get_spec(m).output_shape("as_intended", size) for m in models}
    ids = [f"{i:064x}" for i in range(n)]
    return FusionData(
        ids, {m: rng.standard_normal((n, *s)).astype(np.float32) for m, s in shapes.items()}
    )


def time_epoch(
    models: tuple[str, ...],
    size: str,
    n_train: int,
    n_val: int,
    epochs: int,
    batch_size: int,
    hidden: int = 2048,
    out_dim: int = 1024,
) -> float:
    """Marginal seconds per compressor epoch: (run of 1 + epochs) minus (run of 1), / epochs.

    The difference removes set-up costs (model build, first checkpoint, warm-up).
    """
    tr, va = _data(models, size, n_train, 0), _data(models, size, n_val, 1)
    took = []
    for e in (1, 1, 1 + epochs):  # the first run only warms up (allocator, kernels, imports)
        cfg = fusion.FusionConfig(
            models=models,
            epochs=e,
            checkpoint_every=e,
            batch_size=batch_size,
            hidden=hidden,
            out_dim=out_dim,
        )
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            fusion.train(cfg, tr, va, Path(d), progress=False)
            took.append(time.perf_counter() - t)
    return max(took[2] - took[1], 0.0) / epochs


def time_eval(n: int, d: int, protocol: Protocol, probe: str) -> float:
    """Seconds per evaluation of an ``(n, d)`` matrix on 11 tasks under ``protocol``."""
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
    evaluate(ids, X, tasks, protocol=protocol, probe=probe)  # type: ignore[arg-type]
    return time.perf_counter() - t


def main() -> None:
    """Measure the unit costs, predict the studies' wall time and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="demo", choices=PROFILE_NAMES)
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per compressor")
    p.add_argument("--train", type=int, default=None, help="training samples (default ~61 %%)")
    p.add_argument("--hidden", type=int, default=2048, help="compressor hidden width")
    p.add_argument("--out-dim", type=int, default=1024, help="compressor embedding size")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", type=Path, default=None, help="report (default: results folder)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prof = get_profile(args.profile)
    if not prof.data.synthetic:
        raise SystemExit(f"profile {args.profile!r} reads real data; pass --train for its size")
    n_train = args.train or int(round(prof.data.n_samples * 0.61))
    n_val = prof.data.n_samples - n_train
    size = prof.extract.size
    models = prof.extract.foundation
    batch = prof.fusion.batch_size
    width = {"hidden": args.hidden, "out_dim": args.out_dim}
    one = time_epoch(("dofa",), size, n_train, n_val, args.epochs, batch, **width)
    five = time_epoch(tuple(models), size, n_train, n_val, args.epochs, batch, **width)
    lin = time_eval(n_train, args.out_dim, prof.protocol, "linear")
    rid = time_eval(n_train, args.out_dim, prof.protocol, "ridge")

    per_model = (five - one) / max(len(models) - 1, 1)
    runs = studies.ablation_runs(prof)
    train_s = eval_s = 0.0
    n_units = n_fusion_units = 0
    for run in runs:
        if run.seeded:
            seeds = studies.seed_list(prof, run)
            cfg = studies.fusion_config(run, prof, seeds[0])
            epoch_s = one + per_model * (len(run.models) - 1)
            train_s += len(seeds) * epoch_s * cfg.epochs
            eval_s += len(seeds) * (len(cfg.checkpoint_schedule()) * lin + rid)
            n_units += len(seeds)
            n_fusion_units += len(seeds)
        else:
            eval_s += lin + rid
            n_units += 1
    n_ckpt = len(studies.fusion_config(runs[0], prof, prof.seed).checkpoint_schedule())
    steps = max(n_train // batch, 1)
    long_cfg, _, fork = studies.long_configs(prof, steps)
    long_marks = long_cfg.checkpoint_schedule()
    twin_marks = [e for e in long_marks if e > fork]
    long_train = five * (long_cfg.epochs + (long_cfg.epochs - fork))
    long_eval = (len(long_marks) + len(twin_marks)) * (lin + rid)

    load = os.getloadavg()
    command = f"python benchmarks/studies_budget.py --profile {args.profile} --epochs {args.epochs}"
    command += f" --threads {args.threads}" if args.threads else ""
    lines = [
        f"# studies budget ({args.profile} profile)",
        "",
        f"Command: `{command}`.",
        "",
        f"Machine: {os.cpu_count()}-core CPU, Python {platform.python_version()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} torch threads, no GPU. Load average "
        f"during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other processes "
        "share the cores when it exceeds the core count; numbers scale with it).",
        "",
        f"Data: {n_train} training, {n_val} validation samples; `{size}` embedding shapes; "
        f"compressor {args.hidden} hidden, {args.out_dim} out. Protocol: "
        f"{prof.protocol.label()}, random stream `{prof.protocol.random_stream}`.",
        "",
        "| unit | seconds |",
        "|---|---|",
        f"| compressor epoch, DOFA alone | {one:.2f} |",
        f"| compressor epoch, all {len(models)} models | {five:.2f} |",
        f"| evaluation, linear probe, 11 tasks, K={prof.protocol.k_folds}, "
        f"{prof.protocol.epochs} epochs, d={args.out_dim} | {lin:.1f} |",
        f"| evaluation, ridge probe, same | {rid:.1f} |",
        "",
        "| study | training (s) | evaluation (s) | total (min) |",
        "|---|---|---|---|",
        f"| ablation: {len(runs)} rows, {n_units} units ({n_fusion_units} trained compressors, "
        f"{prof.ablation.epochs} epochs, {n_ckpt} checkpoints each) | {train_s:.0f} | "
        f"{eval_s:.0f} | {(train_s + eval_s) / 60:.1f} |",
        f"| long run: {long_cfg.epochs} epochs and the twin from epoch {fork}, "
        f"{len(long_marks)} + {len(twin_marks)} checkpoints | {long_train:.0f} | "
        f"{long_eval:.0f} | {(long_train + long_eval) / 60:.1f} |",
        "",
        "Extraction of missing stores (the `as_published_code` preset's, for the preset "
        "comparison) is not included, nor the fixed costs of each run (building the model, "
        "writing snapshots and the resume state, loading checkpoints for the probes, figures), "
        "nor that the raw and PCA rows probe wider matrices than the compressor's: the figures "
        "are the marginal cost, a lower bound of a notebook's wall time "
        "(`end_to_end_demo.md` has the measured one).",
    ]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    suffix = "" if (args.hidden, args.out_dim) == (2048, 1024) else f"_h{args.hidden}"
    out = args.out or RESULTS_DIR / f"studies_budget_{args.profile}{suffix}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
