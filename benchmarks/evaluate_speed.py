"""Batched linear probe versus a plain per-fold loop of the same NeuCo-Bench protocol.

Runs both side by side on the same problem (default n = 2,000, d = 1,024, K = 40, 10 epochs),
checks that they agree fold by fold, measures the loop's own seed-to-seed spread of Q, and times
the evaluation sizes the study calls most often (n ~ 300-500, 11 tasks). Writes a Markdown report.

    python benchmarks/evaluate_speed.py --out benchmarks/results/evaluate_speed.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import LabelTask


def make_problem(
    n: int, d: int, seed: int = 0
) -> tuple[list[str], np.ndarray, dict[str, LabelTask]]:
    """Embeddings with signal for two regression tasks, plus a classification task."""
    rng = np.random.default_rng(seed)
    ids = [f"{i:064x}" for i in range(n)]
    a, b = rng.gamma(2.0, size=n), rng.random(n)
    X = rng.normal(size=(n, d))
    X[:, : d // 4] += np.repeat(ev.minmax_scale(a)[:, None], d // 4, axis=1) * 2.0
    X[:, d // 4 : d // 4 + 8] += ev.minmax_scale(b)[:, None] * 3.0
    index = pd.Index(ids, name="id")
    tasks = {
        "reg_strong": LabelTask("reg_strong", "regression", pd.Series(a, index=index)),
        "reg_weak": LabelTask("reg_weak", "regression", pd.Series(b, index=index)),
        "cls": LabelTask("cls", "classification", pd.Series((a > np.median(a)) * 1.0, index=index)),
    }
    return ids, X.astype(np.float32), tasks


class _Order(Sampler[int]):
    """Yields a precomputed order (the fold's permutation for this epoch)."""

    def __init__(self, order: torch.Tensor) -> None:
        self.order = order

    def __iter__(self):  # noqa: ANN204
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


def loop_task(
    X: np.ndarray,
    y: np.ndarray,
    is_cls: bool,
    seed: int,
    k_folds: int,
    epochs: int,
    batch_size: int = 64,
    dataloader: bool = False,
    device: str = "cpu",
) -> np.ndarray:
    """The reference: one fold after another, nn.Linear + torch.optim.AdamW, per-epoch scores.

    With ``dataloader=True`` mini-batches go through a DataLoader over a TensorDataset (per-sample
    indexing and collation, the way the benchmark's code feeds its probe); otherwise they are
    sliced from the tensor. Both visit the same rows in the same order.
    """
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y).float())
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).float().to(device)
    splits = ev.shuffle_splits(len(X), k_folds, seed)
    best = np.empty(k_folds)
    for k, (tr, te) in enumerate(splits):
        torch.manual_seed(ev.fold_seed(seed, k))
        model = nn.Linear(X.shape[1], 1).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        loss_fn = nn.BCEWithLogitsLoss() if is_cls else nn.MSELoss()
        tr_t, te_t = torch.from_numpy(tr).to(device), torch.from_numpy(te).to(device)
        scores = []
        for _ in range(epochs):
            order = tr_t[torch.randperm(len(tr)).to(device)]
            if dataloader:
                # a private generator: the loader's base seed must not consume the global stream
                batches = DataLoader(
                    dataset,
                    batch_size=batch_size,
                    sampler=_Order(order.cpu()),
                    generator=torch.Generator().manual_seed(0),
                )
            else:
                batches = (
                    (Xt[order[s : s + batch_size]], yt[order[s : s + batch_size]])
                    for s in range(0, len(tr), batch_size)
                )
            model.train()
            for xb, yb in batches:
                xb, yb = xb.to(device), yb.to(device)
                loss = loss_fn(model(xb).view(-1), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                logits = model(Xt[te_t]).view(1, -1, 1)
            target = yt[te_t].view(1, -1, 1)
            scores.append(
                ev.fold_scores_from_logits(logits, target, torch.tensor([is_cls], device=device))[
                    0, 0
                ].item()
            )
        best[k] = np.nanmax(scores)
    return best


def prepared(ids: list[str], X: np.ndarray, tasks: dict[str, LabelTask]) -> dict[str, np.ndarray]:
    """Standardised X and scaled labels exactly as evaluate() prepares them (all ids shared)."""
    out = {"X": ev.standardize_global(X)}
    for name, task in tasks.items():
        out[name] = ev.minmax_scale(task.labels.loc[ids].to_numpy())
    return out


def main() -> None:
    """Run the benchmark and write the report."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--k-folds", type=int, default=40)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5, help="seeds for the spread of Q")
    p.add_argument("--loop-seeds", type=int, default=3, help="seeds run through the loop")
    p.add_argument("--dataloader-tasks", type=int, default=1, help="tasks also run via DataLoader")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ids, X, tasks = make_problem(args.n, args.d)
    prep = prepared(ids, X, tasks)
    kw = {"k_folds": args.k_folds, "epochs": args.epochs, "device": args.device}
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    cpu = platform.processor() or platform.machine()
    say("# Evaluation speed: batched linear probe vs the per-fold loop\n")
    say(
        f"Machine: {os.cpu_count()} CPU cores visible ({cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}, "
        f"device `{args.device}`"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
        + f". Load average at start: {os.getloadavg()[0]:.1f}.\n"
    )
    say(
        f"Problem: n = {args.n}, d = {args.d}, K = {args.k_folds} folds, {args.epochs} epochs, "
        f"tasks {list(tasks)} (all ids shared, so evaluate() trains all three tasks' folds "
        "as one batched computation).\n"
    )
    # warm-up
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev.evaluate(ids[:200], X[:200], tasks, k_folds=2, epochs=1, device=args.device)

    # ---- side by side, same seeds
    rows = []
    spread: dict[str, list[float]] = {t: [] for t in tasks}
    loop_q: dict[str, list[float]] = {t: [] for t in tasks}
    batched_times, loop_times = [], []
    for s in range(args.seeds):
        seed = 42 + s
        t0 = time.perf_counter()
        res = ev.evaluate(ids, X, tasks, seed=seed, **kw)
        batched_times.append(time.perf_counter() - t0)
        for t in tasks:
            spread[t].append(res.tasks[t].q)
        if s >= args.loop_seeds:
            continue
        t0 = time.perf_counter()
        for t in tasks:
            folds = loop_task(
                prep["X"], prep[t], t == "cls", seed, args.k_folds, args.epochs, device=args.device
            )
            mean, std, q = ev.summarize_folds(folds)
            loop_q[t].append(q)
            rows.append(
                {
                    "seed": seed,
                    "task": t,
                    "Q loop": q,
                    "Q batched": res.tasks[t].q,
                    "max |fold diff|": float(np.max(np.abs(folds - res.tasks[t].folds))),
                }
            )
        loop_times.append(time.perf_counter() - t0)
    agree = pd.DataFrame(rows)
    t_b, t_l = float(np.median(batched_times)), float(np.median(loop_times))
    say("## Speed (same problem, same seeds, one run)\n")
    say("| path | seconds for all 3 tasks (median over runs) | per task | speed-up |")
    say("|---|---|---|---|")
    say(f"| per-fold loop (tensor-sliced batches, same device) | {t_l:.2f} | {t_l / 3:.2f} | 1x |")
    say(f"| batched (`evaluate`) | {t_b:.2f} | {t_b / 3:.2f} | **{t_l / t_b:.1f}x** |")
    if args.dataloader_tasks:
        t0 = time.perf_counter()
        name = list(tasks)[0]
        folds_dl = loop_task(
            prep["X"],
            prep[name],
            False,
            42,
            args.k_folds,
            args.epochs,
            dataloader=True,
            device=args.device,
        )
        t_dl = time.perf_counter() - t0
        say(
            f"| per-fold loop through a DataLoader (the benchmark's feeding), task {name} | - | "
            f"{t_dl:.2f} | {t_dl / (t_b / 3):.1f}x vs batched per task |"
        )
        res42 = ev.evaluate(ids, X, {name: tasks[name]}, seed=42, **kw)
        diff = float(np.max(np.abs(folds_dl - res42.tasks[name].folds)))
        say(f"\nDataLoader loop vs batched, task {name}: max |fold diff| = {diff:.2e}.")
    say(
        f"\nBatched runs: {', '.join(f'{t:.2f}' for t in batched_times)} s; loop runs: "
        f"{', '.join(f'{t:.2f}' for t in loop_times)} s.\n"
    )
    say("## Agreement (loop vs batched, same seed)\n")
    say(agree.to_markdown(index=False, floatfmt=".6g"))
    say("\n## Seed-to-seed spread of Q (different ShuffleSplit, inits and batch orders)\n")
    say("| task | Q per seed (batched) | mean | std (ddof 1) | range | loop Q per seed |")
    say("|---|---|---|---|---|---|")
    for t in tasks:
        q = np.array(spread[t])
        say(
            f"| {t} | {', '.join(f'{v:.2f}' for v in q)} | {q.mean():.2f} | {q.std(ddof=1):.2f} "
            f"| {q.max() - q.min():.2f} | {', '.join(f'{v:.2f}' for v in loop_q[t])} |"
        )
    worst = agree["max |fold diff|"].max()
    dq = float(np.max(np.abs(agree["Q loop"] - agree["Q batched"])))
    min_sd = min(np.std(spread[t], ddof=1) for t in tasks)
    say(
        f"\nLargest fold difference {worst:.2e}; largest Q difference {dq:.2e}, against a "
        f"smallest seed-to-seed std of Q of {min_sd:.2f}.\n"
    )

    # ---- the study's common call
    say("## The study's common call: n = 400, d = 1,024, K = 40, 11 tasks\n")
    rng = np.random.default_rng(3)
    n_small = 400
    ids_s = [f"{i:064x}" for i in range(n_small)]
    X_small = rng.normal(size=(n_small, args.d)).astype(np.float32)
    index = pd.Index(ids_s, name="id")
    many = {
        f"task{j:02d}": LabelTask(
            f"task{j:02d}",
            "classification" if j == 10 else "regression",
            pd.Series(
                (rng.random(n_small) > 0.5) * 1.0 if j == 10 else rng.random(n_small), index=index
            ),
        )
        for j in range(11)
    }
    say("| probe | seconds (median of 3) |")
    say("|---|---|")
    for probe in ("linear", "ridge"):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            ev.evaluate(ids_s, X_small, many, probe=probe, **kw)
            times.append(time.perf_counter() - t0)
        say(f"| {probe} | {np.median(times):.2f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
