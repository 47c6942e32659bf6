"""The linear probe's three computations, ``fused``, ``dense`` and ``gather``, timed side by side.

Measures the CPU seconds of :func:`e2s_utils.evaluate.train_linear_folds` with each method on the
same problem, over the number of rows ``n`` and the layouts a computation takes in
``evaluate()``: one task (the exact stream, tasks on different rows), ``G`` tasks on the same rows
each with its own draws (the exact stream), ``T`` tasks sharing every draw (the per-fold stream)
and ``M`` matrices (``evaluate_many``). ``fused`` (compiled, the CPU default) is compared with the
faster of the two torch computations; the crossover between those two is what
:func:`e2s_utils.evaluate.linear.pick_method` encodes for the torch computation (the GPU default),
and the report says which it picks for every row and how much slower that is than the faster.

    python benchmarks/evaluate_methods.py --threads 1 --out benchmarks/results/evaluate_methods.md

Measure with 1 thread on a shared machine: with more threads than free cores the small
operations of the ``gather`` computation slow down many times from contention.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from e2s_utils.evaluate import shuffle_splits, train_linear_folds
from e2s_utils.evaluate.benchmark import (
    StreamTask,
    benchmark_fold_scores,
    benchmark_stream,
    split_sizes,
)
from e2s_utils.evaluate.linear import pick_method

#: ``(label, own-draw tasks G, shared-draw tasks T, matrices M, row counts)`` of the grid.
LAYOUTS: list[tuple[str, int, int, int, list[int]]] = [
    ("1 task", 1, 1, 1, [100, 150, 200, 300, 400, 500, 700, 1000, 2000]),
    ("3 tasks, own draws", 3, 1, 1, [200, 300, 400, 500, 700, 1000, 2000]),
    ("11 tasks, own draws", 11, 1, 1, [100, 150, 200, 300, 400, 600]),
    ("3 tasks, shared draws", 1, 3, 1, [200, 300, 400, 500, 700, 1000, 2000]),
    ("1 task, 4 matrices", 1, 1, 4, [200, 300, 400, 500, 700, 1000]),
    ("3 tasks own draws, 4 matrices", 3, 1, 4, [200, 300, 400, 600]),
]


def problem(
    n: int, d: int, k_folds: int, epochs: int, own: int, shared: int, n_mat: int
) -> tuple[tuple, dict]:
    """Random embeddings and labels (last task classification) with the exact stream's draws."""
    rng = np.random.default_rng(n)
    X = torch.from_numpy(rng.normal(size=(n_mat, n, d)).astype(np.float32))
    n_tasks = own * shared
    Y = torch.from_numpy(rng.random((n, n_tasks))).float()
    is_cls = torch.zeros(n_tasks, dtype=torch.bool)
    is_cls[-1] = True
    Y[:, -1] = (Y[:, -1] > 0.5).float()
    splits = shuffle_splits(n, k_folds, 42)
    stream = [StreamTask(f"t{i}", *split_sizes(n)) for i in range(own)]
    draws = benchmark_stream(stream, d, k_folds, epochs)
    if own > 1:
        init = np.stack([draws[t.name].init for t in stream])
        perms = np.stack([draws[t.name].perms for t in stream], axis=1)
    else:
        init, perms = draws["t0"].init, draws["t0"].perms
    x = X[0] if n_mat == 1 else X
    return (x, Y, is_cls, splits, init, perms), {"score_fn": benchmark_fold_scores}


def time_method(args: tuple, kw: dict, method: str, reps: int) -> tuple[float, np.ndarray]:
    """Least CPU seconds over ``reps`` runs, and the fold scores."""
    best = float("inf")
    folds = np.empty(0)
    for _ in range(reps):
        c0 = time.process_time()
        folds, _ = train_linear_folds(*args, method=method, **kw)  # type: ignore[arg-type]
        best = min(best, time.process_time() - c0)
    return best, folds


def main() -> None:
    """Time both methods over the grid and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--k-folds", type=int, default=40)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--reps", type=int, default=2, help="runs per method (the least CPU time)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("# `train_linear_folds`: `fused` vs `dense` vs `gather`\n")
    say(f"`python benchmarks/evaluate_methods.py --threads {args.threads} --out FILE`\n")
    say(
        f"Machine: {os.cpu_count()} cores visible ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} torch thread(s). Load average (1 / 5 / 15 min) at start: "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
        + ".\n"
    )
    say(
        f"Problem: d = {args.d}, K = {args.k_folds}, {args.epochs} epochs, batch "
        f"{args.batch_size}, the exact stream's draws, last task classification. CPU seconds of "
        f"the training alone, the least of {args.reps} runs per method.\n"
    )
    say(
        "| layout | n | fused CPU s | dense CPU s | gather CPU s | best torch / fused | "
        "torch rule picks | its loss |"
    )
    say("|---|---|---|---|---|---|---|---|")
    worst = largest = 0.0
    speedups: list[float] = []
    for label, own, shared, n_mat, sizes in LAYOUTS:
        for n in sizes:
            targs, kw = problem(n, args.d, args.k_folds, args.epochs, own, shared, n_mat)
            t_fused, f_fused = time_method(targs, kw, "fused", args.reps)
            t_dense, f_dense = time_method(targs, kw, "dense", args.reps)
            t_gather, f_gather = time_method(targs, kw, "gather", args.reps)
            # relative to the score's size: an overfitting probe (n < d) has test R² of -5 or
            # less, and AdamW's normalised steps amplify the two methods' rounding differences
            scale = np.maximum(1.0, np.abs(f_dense))
            rel = max(float(np.nanmax(np.abs(f - f_dense) / scale)) for f in (f_gather, f_fused))
            assert rel < 1e-2, (label, n, rel)  # a larger gap is no rounding difference: a bug
            largest = max(largest, rel)
            speedups.append(min(t_dense, t_gather) / t_fused)
            auto = pick_method(n, args.batch_size, shared, torch.device("cpu"))
            chosen = t_dense if auto == "dense" else t_gather
            loss = chosen / min(t_dense, t_gather) - 1.0
            worst = max(worst, loss)
            say(
                f"| {label} | {n:,} | {t_fused:.2f} | {t_dense:.2f} | {t_gather:.2f} | "
                f"{speedups[-1]:.1f}x | {auto} | {100 * loss:.0f} % |"
            )
    say(
        f"\n`fused` against the faster torch computation: {min(speedups):.1f}x to "
        f"{max(speedups):.1f}x. Largest loss of the torch rule against the faster torch "
        f"computation: {100 * worst:.0f} %. Largest "
        f"difference between the methods' fold scores, relative to max(1, |score|): "
        f"{largest:.1e} (float rounding, amplified where the probe overfits). Load average at end: "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
        + "."
    )
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
