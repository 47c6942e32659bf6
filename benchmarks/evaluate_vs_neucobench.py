"""The unmodified NeuCo-Bench, our batched evaluator and the per-fold loop, side by side.

At the paper protocol (default n = 2,000, d = 1,024, K = 40 folds, 20 epochs, two regression tasks
and one classification task on generated data sharing all ids) one run times, on the same input
files and with the same number of torch threads:

* NeuCo-Bench itself, through its own entry point ``benchmark/main.py`` in a subprocess, from
  the checkout named by the environment variable ``NEUCO_BENCH_DIR`` (skipped with a message when
  it is not set; ``NEUCO_BENCH_PYTHON`` picks its interpreter, default this one). Its thread
  count is set through ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, which torch reads at start;
* our batched evaluator, :func:`e2s_utils.evaluate.evaluate` (per-fold generators);
* the same batched trainer fed with the benchmark's exact random stream and data handling,
  :func:`e2s_utils.evaluate_stream.evaluate_like_benchmark`;
* the per-fold loop reference of ``benchmarks/evaluate_speed.py`` (``nn.Linear`` +
  ``torch.optim.AdamW``, one fold after another, ``evaluate()``'s per-fold seeds).

It reports both speed ratios and every task's Q by each path: the exact-stream path must match
the benchmark fold by fold to float tolerance; ``evaluate()`` must lie within the benchmark's
own seed-to-seed spread of Q (measured with ``evaluate()`` over several seeds). Writes Markdown::

    NEUCO_BENCH_DIR=<NeuCo-Bench checkout> python benchmarks/evaluate_vs_neucobench.py \\
        --threads 1 --out benchmarks/results/evaluate_vs_neucobench.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2s_utils import evaluate as ev
from e2s_utils import evaluate_stream as es
from e2s_utils.data.labels import LabelTask, load_tasks, write_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_speed import loop_task, make_problem, prepared  # noqa: E402


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hex_problem(n: int, d: int) -> tuple[list[str], np.ndarray, dict[str, LabelTask]]:
    """``evaluate_speed.make_problem`` with random 64-hex-digit ids (as the real sample ids).

    Counter-like ids (``000...0a``) would be read as integers by the benchmark's untyped CSV
    reader wherever a chunk of them happens to be all digits.
    """
    ids, X, tasks = make_problem(n, d)
    rng = np.random.default_rng(1)
    new = [rng.bytes(32).hex() for _ in ids]
    index = pd.Index(new, name="id")
    tasks = {
        name: LabelTask(name, t.kind, pd.Series(t.labels.to_numpy(), index=index, name=name))
        for name, t in tasks.items()
    }
    return new, X, tasks


def benchmark_config(bench_dir: Path, k_folds: int, epochs: int, batch_size: int) -> str:
    """A YAML config for the checkout's layout (flat up to v1.0, ``probe_params`` from v1.1)."""
    common = (
        f"k_folds: {k_folds}\nembedding_dim: null\nstandardize_embeddings: true\n"
        "normalize_labels: true\nenable_plots: false\nupdate_leaderboard: false\n"
        "output_fold_results: true\ntask_filter: null\n"
    )
    if (bench_dir / "benchmark" / "evaluation" / "probes" / "linear.py").is_file():
        return common + (
            f'probe_type: "linear"\nprobe_params:\n  batch_size: {batch_size}\n'
            f'  epochs: {epochs}\n  learning_rate: 0.001\n  device: "cpu"\nstore_probes: false\n'
        )
    return common + f"batch_size: {batch_size}\nepochs: {epochs}\nlearning_rate: 0.001\n"


def run_benchmark(
    bench_dir: Path,
    python: str,
    emb_csv: Path,
    labels_dir: Path,
    work: Path,
    k_folds: int,
    epochs: int,
    batch_size: int,
    threads: int,
) -> tuple[float, dict[str, dict]]:
    """Run NeuCo-Bench's ``main.py`` once; return its wall time and per-task result JSONs."""
    cfg = work / "neucobench_config.yaml"
    cfg.write_text(benchmark_config(bench_dir, k_folds, epochs, batch_size))
    out = work / "neucobench_out"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [
        python,
        str(bench_dir / "benchmark" / "main.py"),
        "--submission_file",
        str(emb_csv),
        "--annotation_path",
        str(labels_dir),
        "--config",
        str(cfg),
        "--method_name",
        "side_by_side",
        "--output_dir",
        str(out),
        "--phase",
        "vs",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"NeuCo-Bench failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    run_dir = sorted((out / "vs").iterdir())[-1]
    results = {p.parent.name: json.loads(p.read_text()) for p in run_dir.glob("*/*_result.json")}
    return seconds, results


def main() -> None:
    """Run the comparison and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--k-folds", type=int, default=40)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seeds", type=int, default=5, help="evaluate() seeds for the spread of Q")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every path")
    p.add_argument("--skip-loop", action="store_true", help="leave out the per-fold loop")
    p.add_argument(
        "--exact-method",
        choices=("auto", "gather", "dense"),
        default="auto",
        help="train_linear_folds method of the exact-stream path",
    )
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bench_dir = os.environ.get("NEUCO_BENCH_DIR")
    python = os.environ.get("NEUCO_BENCH_PYTHON", sys.executable)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("# Evaluation: NeuCo-Bench vs the batched evaluator vs the per-fold loop\n")
    say(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores visible, Python "
        f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch "
        f"thread(s) in every path (NeuCo-Bench: OMP_NUM_THREADS={args.threads}). Load average at "
        f"start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}.\n"
    )
    say(
        f"Problem: n = {args.n}, d = {args.d}, K = {args.k_folds}, {args.epochs} epochs, batch "
        f"{args.batch_size}, seed 42; generated tasks reg_strong, reg_weak (regression) and cls "
        "(classification), all ids shared.\n"
    )
    ids, X, tasks = hex_problem(args.n, args.d)
    names = sorted(tasks)
    with tempfile.TemporaryDirectory(prefix="e2s-vs-neucobench-") as tmp:
        work = Path(tmp)
        emb_csv = ev.write_embeddings_csv(work / "embeddings.csv", ids, X)
        labels_dir = work / "labels"
        for name, task in tasks.items():
            write_task(labels_dir, name, task.kind, task.labels)
        t0 = time.perf_counter()
        ids_r, X_r = ev.read_embeddings_csv(emb_csv)
        tasks_r = load_tasks(labels_dir)
        t_read = time.perf_counter() - t0

        # warm-up (first-call allocations, lazy imports)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev.evaluate(ids_r[:200], X_r[:200], tasks_r, k_folds=2, epochs=1)

        times: dict[str, float] = {}
        q: dict[str, dict[str, float]] = {}
        t0 = time.perf_counter()
        res = ev.evaluate(ids_r, X_r, tasks_r, k_folds=args.k_folds, epochs=args.epochs, seed=42)
        times["batched"] = time.perf_counter() - t0
        q["batched evaluate() (per-fold seeds)"] = {t: res.tasks[t].q for t in names}

        t0 = time.perf_counter()
        inputs = es.read_benchmark_inputs(emb_csv, labels_dir)
        t_read_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact = es.evaluate_like_benchmark(
            inputs,
            k_folds=args.k_folds,
            epochs=args.epochs,
            batch_size=args.batch_size,
            method=args.exact_method,
        )
        times["exact"] = time.perf_counter() - t0
        q["batched, exact benchmark stream"] = {t: exact[t].q for t in names}

        loop_folds: dict[str, np.ndarray] = {}
        if not args.skip_loop:
            prep = prepared(ids, X, tasks)
            t0 = time.perf_counter()
            for t in names:
                loop_folds[t] = loop_task(
                    prep["X"], prep[t], t == "cls", 42, args.k_folds, args.epochs
                )
            times["loop"] = time.perf_counter() - t0
            q["per-fold loop (per-fold seeds)"] = {
                t: ev.summarize_folds(loop_folds[t])[2] for t in names
            }

        bench: dict[str, dict] = {}
        if bench_dir:
            times["neucobench"], bench = run_benchmark(
                Path(bench_dir),
                python,
                emb_csv,
                labels_dir,
                work,
                args.k_folds,
                args.epochs,
                args.batch_size,
                args.threads,
            )
            q["NeuCo-Bench (unmodified)"] = {t: float(bench[t]["q_stat"]) for t in names}
            commit = subprocess.run(
                ["git", "-C", bench_dir, "describe", "--tags", "--always"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            say(f"NeuCo-Bench checkout: `{commit or 'unknown'}`, interpreter Python of its own.\n")
        else:
            say(
                "**NeuCo-Bench part skipped: set NEUCO_BENCH_DIR to an unmodified NeuCo-Bench "
                "checkout to include it.**\n"
            )

    spread = {t: [] for t in names}
    for s in range(args.seeds):
        r = (
            res
            if s == 0
            else ev.evaluate(
                ids_r, X_r, tasks_r, k_folds=args.k_folds, epochs=args.epochs, seed=42 + s
            )
        )
        for t in names:
            spread[t].append(r.tasks[t].q)

    say("## Wall time (one run each, same input files)\n")
    say("| path | seconds, 3 tasks | per task | NeuCo-Bench / path | loop / path |")
    say("|---|---|---|---|---|")
    labels = {
        "neucobench": "NeuCo-Bench `main.py` (subprocess: start-up, CSV reading, probe, plots)",
        "loop": "per-fold loop reference",
        "exact": "batched, exact benchmark stream (`evaluate_like_benchmark`, method "
        f"`{args.exact_method}`)",
        "batched": "batched `evaluate()`",
    }
    for key in ("neucobench", "loop", "exact", "batched"):
        if key not in times:
            continue
        sec = times[key]
        nb = f"{times['neucobench'] / sec:.1f}x" if "neucobench" in times else "-"
        lp = f"{times['loop'] / sec:.1f}x" if "loop" in times else "-"
        say(f"| {labels[key]} | {sec:.2f} | {sec / 3:.2f} | {nb} | {lp} |")
    say(
        f"\nReading the CSV files: {t_read:.2f} s (`read_embeddings_csv` + `load_tasks`), "
        f"{t_read_exact:.2f} s (`read_benchmark_inputs`); not in the batched times above.\n"
    )
    say("## Q per task\n")
    table = pd.DataFrame(q).T[names]
    say(table.to_markdown(floatfmt=".6f"))
    say(f"\nSeed-to-seed spread of Q, `evaluate()` with seeds 42 to {41 + args.seeds}:\n")
    say("| task | Q per seed | mean | std (ddof 1) |")
    say("|---|---|---|---|")
    for t in names:
        v = np.array(spread[t])
        sd = f"{v.std(ddof=1):.2f}" if len(v) > 1 else "-"
        say(f"| {t} | {', '.join(f'{x:.2f}' for x in v)} | {v.mean():.2f} | {sd} |")
    say("\n## Agreement\n")
    if bench:
        for t in names:
            ref = np.array(bench[t]["q_t"], dtype=np.float64)
            dq = abs(exact[t].q - float(bench[t]["q_stat"]))
            gap = abs(res.tasks[t].q - float(bench[t]["q_stat"]))
            in_sd = (
                f" = {gap / np.std(spread[t], ddof=1):.2f} seed stds" if len(spread[t]) > 1 else ""
            )
            say(
                f"* {t}: exact stream vs NeuCo-Bench, max |fold diff| "
                f"{np.max(np.abs(exact[t].folds - ref)):.2e}, |Q diff| {dq:.2e}; "
                f"`evaluate()` vs NeuCo-Bench |Q diff| {gap:.2f}{in_sd}."
            )
    if loop_folds:
        worst = max(float(np.max(np.abs(loop_folds[t] - res.tasks[t].folds))) for t in names)
        say(f"* per-fold loop vs batched `evaluate()` (same seeds): max |fold diff| {worst:.2e}.")
    say(f"\nLoad average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}.")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
