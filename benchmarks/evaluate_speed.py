"""Batched linear probe versus a plain per-fold loop of the same NeuCo-Bench protocol.

Runs both side by side on the same problem (default n = 2,000, d = 1,024, the ``paper`` protocol:
K = 40, 20 epochs, the benchmark's exact random stream), checks that they agree fold by fold,
measures the seed-to-seed spread of Q, and times the evaluation sizes the study calls most often
(n ~ 300-500, 11 tasks). Writes a Markdown report.

    python benchmarks/evaluate_speed.py --out benchmarks/results/evaluate_speed.md

The per-fold loop (:func:`loop_task`) is the reference: ``nn.Linear(d, 1)`` and
``torch.optim.AdamW``, one fold after another, fed with the same random numbers as
:func:`e2s_utils.evaluate.evaluate` draws under the protocol's stream (:func:`stream_draws`: the
benchmark's own stream under ``exact``, one generator per fold under ``per_fold``), so the two
must agree fold by fold to float rounding.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate.benchmark import (
    StreamTask,
    benchmark_fold_scores,
    benchmark_stream,
    split_sizes,
)
from e2s_utils.evaluate.probe import ScoreFn

Draws = tuple[torch.Tensor, torch.Tensor]
"""One task's ``init`` ``(K, d + 1)`` and ``perms`` ``(epochs, K, n_train)``."""


def make_problem(
    n: int, d: int, seed: int = 0
) -> tuple[list[str], np.ndarray, dict[str, LabelTask]]:
    """Embeddings with signal for two regression tasks, plus a classification task.

    Ids are random 64-hex-digit strings, as the real sample ids (counter-like ids such as
    ``000...0099`` would be read as integers by NeuCo-Bench's untyped CSV reader).
    """
    rng = np.random.default_rng(seed)
    id_rng = np.random.default_rng([seed, 1])
    ids = [id_rng.bytes(32).hex() for _ in range(n)]
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


def stream_draws(protocol: ev.Protocol, names: Sequence[str], n: int, d: int) -> dict[str, Draws]:
    """Every task's initialisations and mini-batch orders, as ``evaluate()`` draws them.

    All tasks are on the same ``n`` rows. Under the ``exact`` stream the tasks draw from one
    generator in sorted name order (the benchmark's); under ``per_fold`` every task gets the same
    per-fold draws (:func:`e2s_utils.evaluate.fold_randomness`).
    """
    if protocol.random_stream == "exact":
        stream = [StreamTask(t, *split_sizes(n)) for t in sorted(names)]
        draws = benchmark_stream(stream, d, protocol.k_folds, protocol.epochs, protocol.seed)
        return {t: (draws[t].init, draws[t].perms) for t in names}
    shared = ev.fold_randomness(
        d, split_sizes(n)[0], protocol.k_folds, protocol.epochs, protocol.seed
    )
    return dict.fromkeys(names, shared)


class _Order(Sampler[int]):
    """Yields a precomputed order (the fold's permutation for this epoch)."""

    def __init__(self, order: torch.Tensor) -> None:
        self.order = order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


def loop_task(
    X: np.ndarray,
    y: np.ndarray,
    is_cls: bool,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    draws: Draws,
    protocol: ev.Protocol,
    *,
    dataloader: bool = False,
    device: str = "cpu",
) -> np.ndarray:
    """The reference: one fold after another, ``nn.Linear`` + ``torch.optim.AdamW``.

    Fold ``k`` starts from ``init[k]`` and visits its training rows in the order
    ``train_idx[perms[e, k]]`` in epoch ``e``; after every epoch its test rows are scored (the
    benchmark's metric rules under the ``exact`` stream); the fold's score is the best epoch's.
    With ``dataloader=True`` mini-batches go through a ``DataLoader`` over a ``TensorDataset``
    (per-sample indexing and collation, the way the benchmark's code feeds its probe); otherwise
    they are sliced from the tensor. Both visit the same rows in the same order.

    Args:
        X: ``(n, d)`` standardised embeddings.
        y: ``(n,)`` scaled labels.
        is_cls: binary classification (BCE loss, F1) instead of regression (MSE loss, R²).
        splits: the folds' ``(train, test)`` indices.
        draws: ``(init, perms)`` of this task (:func:`stream_draws`).
        protocol: learning rate, weight decay, batch size and random stream.
        dataloader: feed mini-batches through a ``DataLoader``.
        device: torch device.

    Returns:
        ``(K,)`` best epoch-end test score per fold (NaN where no epoch scored).
    """
    init, perms = (torch.from_numpy(np.asarray(a)) for a in draws)
    d, bs = X.shape[1], protocol.batch_size
    score: ScoreFn = (
        benchmark_fold_scores if protocol.random_stream == "exact" else ev.fold_scores_from_logits
    )
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y).float())
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).float().to(device)
    cls_flag = torch.tensor([is_cls], device=device)
    best = np.full(len(splits), np.nan)
    for k, (tr, te) in enumerate(splits):
        model = nn.Linear(d, 1)
        with torch.no_grad():
            model.weight.copy_(init[k, :d][None])
            model.bias.copy_(init[k, d:])
        model = model.to(device)
        opt = torch.optim.AdamW(
            model.parameters(), lr=protocol.lr, weight_decay=protocol.weight_decay
        )
        loss_fn = nn.BCEWithLogitsLoss() if is_cls else nn.MSELoss()
        tr_t, te_t = torch.from_numpy(tr).to(device), torch.from_numpy(te).to(device)
        scores = []
        for e in range(perms.shape[0]):
            order = tr_t[perms[e, k].to(device)]
            if dataloader:
                # a private generator: the loader's base seed must not consume the global stream
                batches = DataLoader(
                    dataset,
                    batch_size=bs,
                    sampler=_Order(order.cpu()),
                    generator=torch.Generator().manual_seed(0),
                )
            else:
                batches = (
                    (Xt[order[s : s + bs]], yt[order[s : s + bs]]) for s in range(0, len(tr), bs)
                )
            model.train()
            for xb, yb in batches:
                loss = loss_fn(model(xb.to(device)).view(-1), yb.to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                logits = model(Xt[te_t]).view(1, -1, 1)
            target = yt[te_t].view(1, -1, 1).cpu().numpy()
            scores.append(float(score(logits.cpu().numpy(), target, cls_flag.cpu().numpy())[0, 0]))
        finite = [s for s in scores if np.isfinite(s)]
        best[k] = max(finite) if finite else np.nan
    return best


def prepared(
    X: np.ndarray,
    tasks: Mapping[str, LabelTask],
    protocol: ev.Protocol,
    ids: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Standardised X and scaled labels exactly as ``evaluate()`` prepares them.

    Every id must carry every label here, so the statistics are over all rows; ``evaluate()``
    takes them in float32 under the ``exact`` stream (as the benchmark does), else in float64.
    Labels are put in the order of ``ids`` (the rows of ``X``) when given, else taken in their
    own order, which must then be that of ``X``.
    """
    exact = protocol.random_stream == "exact"
    out = {"X": ev.standardize_global(X, dtype=np.float32 if exact else np.float64)}
    for name, task in tasks.items():
        labels = task.labels if ids is None else task.labels.reindex(list(ids))
        if labels.isna().any() or len(labels) != len(X):
            raise ValueError(f"task {name!r} must label every row of X")
        out[name] = ev.minmax_scale(labels.to_numpy())
    return out


def loop_tasks(
    X: np.ndarray,
    tasks: Mapping[str, LabelTask],
    protocol: ev.Protocol,
    names: Sequence[str] | None = None,
    *,
    ids: Sequence[str] | None = None,
    dataloader: bool = False,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Fold scores of the per-fold loop for ``names`` (default: every task) under ``protocol``.

    The random numbers are drawn for all of ``tasks`` (in the ``exact`` stream a task's draws
    depend on the tasks before it), so the loop sees what ``evaluate(ids, X, tasks)`` sees.
    ``ids`` name the rows of ``X`` (default: the labels' own order is that of ``X``).
    """
    prep = prepared(X, tasks, protocol, ids)
    draws = stream_draws(protocol, list(tasks), X.shape[0], X.shape[1])
    splits = ev.shuffle_splits(X.shape[0], protocol.k_folds, protocol.seed)
    return {
        t: loop_task(
            prep["X"],
            prep[t],
            tasks[t].kind == "classification",
            splits,
            draws[t],
            protocol,
            dataloader=dataloader,
            device=device,
        )
        for t in (names if names is not None else list(tasks))
    }


def resolve_protocol(args: argparse.Namespace) -> ev.Protocol:
    """The preset named by ``--protocol`` with the command line's overrides."""
    return ev.get_protocol(
        args.protocol,
        k_folds=args.k_folds,
        epochs=args.epochs,
        random_stream=args.random_stream,
    )


def main() -> None:
    """Run the benchmark and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--protocol", choices=ev.PROTOCOL_NAMES, default="paper")
    p.add_argument("--k-folds", type=int, default=None, help="override the protocol's folds")
    p.add_argument("--epochs", type=int, default=None, help="override the protocol's epochs")
    p.add_argument(
        "--random-stream",
        choices=("exact", "per_fold"),
        default=None,
        help="override the protocol's random stream",
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds for the spread of Q")
    p.add_argument("--loop-seeds", type=int, default=2, help="seeds run through the loop")
    p.add_argument("--dataloader-tasks", type=int, default=1, help="tasks also run via DataLoader")
    p.add_argument("--common-n", type=int, default=400, help="n of the study's common call")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    protocol = resolve_protocol(args)
    ids, X, tasks = make_problem(args.n, args.d)
    names = list(tasks)
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
    grouped = (
        "evaluate() trains the three tasks' folds as one batched computation, each task with "
        "its own draws"
        if protocol.random_stream == "exact"
        else "evaluate() trains the three tasks' folds as one batched computation, sharing draws"
    )
    say(
        f"Problem: n = {args.n}, d = {args.d}, protocol {protocol.label()}, random stream "
        f"`{protocol.random_stream}`, tasks {names} (all ids shared; {grouped}).\n"
    )
    # warm-up
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev.evaluate(ids[:200], X[:200], tasks, protocol=protocol, k_folds=2, epochs=1)

    # ---- side by side, same seeds
    rows = []
    spread: dict[str, list[float]] = {t: [] for t in names}
    loop_q: dict[str, list[float]] = {t: [] for t in names}
    batched_times, loop_times, batched_cpu, loop_cpu = [], [], [], []
    for s in range(args.seeds):
        seeded = protocol.with_overrides(seed=42 + s)
        t0, c0 = time.perf_counter(), time.process_time()
        res = ev.evaluate(ids, X, tasks, protocol=seeded, device=args.device)
        batched_times.append(time.perf_counter() - t0)
        batched_cpu.append(time.process_time() - c0)
        for t in names:
            spread[t].append(res.tasks[t].q)
        if s >= args.loop_seeds:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        folds = loop_tasks(X, tasks, seeded, device=args.device)
        loop_times.append(time.perf_counter() - t0)
        loop_cpu.append(time.process_time() - c0)
        for t in names:
            q = ev.summarize_folds(folds[t])[2]
            loop_q[t].append(q)
            rows.append(
                {
                    "seed": seeded.seed,
                    "task": t,
                    "Q loop": q,
                    "Q batched": res.tasks[t].q,
                    "max |fold diff|": float(np.nanmax(np.abs(folds[t] - res.tasks[t].folds))),
                }
            )
    agree = pd.DataFrame(rows)
    t_b, c_b = float(np.median(batched_times)), float(np.median(batched_cpu))
    say("## Speed (same problem, same seeds, one run)\n")
    say(
        "Seconds for all 3 tasks, median over runs; CPU = this process's CPU seconds (all "
        "threads), the steadier measure on a shared machine.\n"
    )
    say("| path | wall s | CPU s | CPU s per task | speed-up (wall / CPU) |")
    say("|---|---|---|---|---|")
    if loop_times:
        t_l, c_l = float(np.median(loop_times)), float(np.median(loop_cpu))
        say(
            f"| per-fold loop (tensor-sliced batches, same device) | {t_l:.2f} | {c_l:.2f} | "
            f"{c_l / 3:.2f} | 1x |"
        )
        say(
            f"| batched (`evaluate`) | {t_b:.2f} | {c_b:.2f} | {c_b / 3:.2f} | "
            f"**{t_l / t_b:.1f}x / {c_l / c_b:.1f}x** |"
        )
    else:
        say(f"| batched (`evaluate`) | {t_b:.2f} | {c_b:.2f} | {c_b / 3:.2f} | - |")
    if args.dataloader_tasks:
        name = names[0]
        seeded = protocol.with_overrides(seed=42)
        t0 = time.perf_counter()
        folds_dl = loop_tasks(X, tasks, seeded, [name], dataloader=True, device=args.device)
        t_dl = time.perf_counter() - t0
        say(
            f"| per-fold loop through a DataLoader (the benchmark's feeding), task {name} | - | "
            f"{t_dl:.2f} | {t_dl / (t_b / 3):.1f}x vs batched per task |"
        )
        res42 = ev.evaluate(ids, X, tasks, protocol=seeded, device=args.device)
        diff = float(np.nanmax(np.abs(folds_dl[name] - res42.tasks[name].folds)))
        say(f"\nDataLoader loop vs batched, task {name}: max |fold diff| = {diff:.2e}.")
    say(
        f"\nBatched runs: {', '.join(f'{t:.2f}' for t in batched_times)} s; loop runs: "
        f"{', '.join(f'{t:.2f}' for t in loop_times)} s.\n"
    )
    if rows:
        say("## Agreement (loop vs batched, same seed)\n")
        say(agree.to_markdown(index=False, floatfmt=".6g"))
    say("\n## Seed-to-seed spread of Q (different ShuffleSplit, inits and batch orders)\n")
    say("| task | Q per seed (batched) | mean | std (ddof 1) | range | loop Q per seed |")
    say("|---|---|---|---|---|---|")
    for t in names:
        q = np.array(spread[t])
        sd = f"{q.std(ddof=1):.2f}" if len(q) > 1 else "-"
        say(
            f"| {t} | {', '.join(f'{v:.2f}' for v in q)} | {q.mean():.2f} | {sd} "
            f"| {q.max() - q.min():.2f} | {', '.join(f'{v:.2f}' for v in loop_q[t])} |"
        )
    if rows and args.seeds > 1:
        worst = agree["max |fold diff|"].max()
        dq = float(np.max(np.abs(agree["Q loop"] - agree["Q batched"])))
        min_sd = min(np.std(spread[t], ddof=1) for t in names)
        say(
            f"\nLargest fold difference {worst:.2e}; largest Q difference {dq:.2e}, against a "
            f"smallest seed-to-seed std of Q of {min_sd:.2f}.\n"
        )

    # ---- the study's common call
    n_small = args.common_n
    say(f"## The study's common call: n = {n_small}, d = {args.d}, {protocol.label()}, 11 tasks\n")
    rng = np.random.default_rng(3)
    ids_s = [rng.bytes(32).hex() for _ in range(n_small)]
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
    say("| probe | wall s (median of 3) | CPU s (median of 3) |")
    say("|---|---|---|")
    for probe in ev.PROBES:
        times, cpus = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            ev.evaluate(ids_s, X_small, many, protocol=protocol, probe=probe, device=args.device)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        say(f"| {probe} | {np.median(times):.2f} | {np.median(cpus):.2f} |")
    say(f"\nLoad average at end: {os.getloadavg()[0]:.1f}.")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
