"""Reference rows: how many samples the faithful probe needs before a label-carrying embedding
scores high, beside the converged ridge probe and random N(0, 1) embeddings.

Two regression tasks (a skewed, biomass-like label and a uniform one); embeddings of d = 1,024:

* ``random``: N(0, 1);
* ``label x512 + noise``: each task's standardised label added to 512 dimensions of N(0, 1)
  noise (task 1 in dims 0-511, task 2 in dims 512-1023);
* ``label x8 + noise``: the same information in only 8 dimensions per task.

    python benchmarks/evaluate_reference_rows.py --out benchmarks/results/evaluate_reference_rows.md

The probe runs under a protocol preset (``--protocol``, default ``paper``: K = 40, 20 epochs, the
benchmark's exact random stream); ``--k-folds``, ``--epochs`` and ``--random-stream`` override it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import LabelTask


def rows(
    n: int, d: int, seed: int
) -> tuple[list[str], dict[str, np.ndarray], dict[str, LabelTask]]:
    """The three embeddings and the two tasks for ``n`` samples."""
    rng = np.random.default_rng(seed)
    ids = [f"{i:064x}" for i in range(n)]
    index = pd.Index(ids, name="id")
    labels = {"skewed": rng.gamma(2.0, size=n), "uniform": rng.random(n)}
    tasks = {k: LabelTask(k, "regression", pd.Series(v, index=index)) for k, v in labels.items()}
    z = [(v - v.mean()) / v.std() for v in labels.values()]
    noise = rng.normal(size=(n, d))
    wide = noise.copy()
    narrow = noise.copy()
    half = d // 2
    for j, zj in enumerate(z):
        wide[:, j * half : (j + 1) * half] += zj[:, None]
        narrow[:, j * 8 : (j + 1) * 8] += zj[:, None]
    return ids, {"random": noise, "label x512 + noise": wide, "label x8 + noise": narrow}, tasks


def main() -> None:
    """Sweep n and write the report."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ns", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000])
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
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    protocol = ev.get_protocol(
        args.protocol, k_folds=args.k_folds, epochs=args.epochs, random_stream=args.random_stream
    )
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("# Reference rows: random vs label-carrying embeddings, faithful vs ridge probe\n")
    say(
        f"Machine: {os.cpu_count()} CPU cores visible, torch {torch.__version__}, device "
        f"`{args.device}`, Python {platform.python_version()}. d = {args.d}, protocol "
        f"{protocol.label()}, random stream `{protocol.random_stream}`, two regression tasks "
        "(skewed, uniform); "
        "Q per task and Q-bar. Results do not depend on the device beyond float tolerance.\n"
    )
    say("| n | embedding | probe | Q skewed | Q uniform | Q-bar | mean R2 | seconds |")
    say("|---|---|---|---|---|---|---|---|")
    for n in args.ns:
        ids, embeddings, tasks = rows(n, args.d, seed=n)
        for name, X in embeddings.items():
            for probe in ("linear", "ridge"):
                t0 = time.perf_counter()
                res = ev.evaluate(
                    ids,
                    X,
                    tasks,
                    protocol=protocol,
                    probe=probe,
                    device=args.device,
                )
                dt = time.perf_counter() - t0
                q = [res.tasks[t].q for t in tasks]
                r2 = np.mean([res.tasks[t].mean for t in tasks])
                say(
                    f"| {n} | {name} | {probe} | {q[0]:.2f} | {q[1]:.2f} | {res.q_bar:.2f} | "
                    f"{r2:.3f} | {dt:.1f} |"
                )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
