"""The unmodified NeuCo-Bench, ``e2s evaluate`` and the per-fold loop, side by side.

At the ``paper`` protocol (default n = 2,000, d = 1,024, K = 40 folds, 20 epochs, batch 64; two
regression tasks and one classification task on generated data sharing all ids) one run writes the
embeddings and labels once as NeuCo-Bench's input files and times, with the same number of threads:

* **NeuCo-Bench** itself, its entry point ``benchmark/main.py`` run as a subprocess with its own
  interpreter, from the checkout named by the environment variable ``NEUCO_BENCH_DIR`` (skipped
  with a message when it is not set; ``NEUCO_BENCH_PYTHON`` names its interpreter, default this
  one). Nothing in the checkout is changed; the config it reads is written here;
* **``e2s evaluate``** (``python -m e2s_utils.cli evaluate --protocol paper``), run the same way:
  a subprocess reading the same files. Under ``paper`` it draws every random number in the
  benchmark's own order, so it must give NeuCo-Bench's fold scores to float rounding;
* **the per-fold loop reference** (``benchmarks/evaluate_speed.py``: ``nn.Linear`` and
  ``torch.optim.AdamW``, one fold after another, fed with the benchmark's random numbers), in
  this process, beside :func:`e2s_utils.evaluate.evaluate` called in this process (the
  evaluator's compute alone, without start-up and CSV reading).

Wall and CPU time (user + system, the subprocess's own) are recorded for every path. NeuCo-Bench's
seed is hard-coded (42), so its seed-to-seed spread of Q comes from replicates: replicate 0 is the
input as generated, replicate ``r > 0`` the same samples with the rows of every label file and of
the embedding file shuffled and the embedding dimensions permuted. That re-draws the folds (they
are positions in the label file), the mini-batch orders (positions in a fold) and, in effect, the
probe's initial weights (they meet other dimensions), as another seed would, while NeuCo-Bench
runs unmodified. Both NeuCo-Bench and ``e2s evaluate`` run every replicate (alternating which goes
first); the report gives Q per task and replicate, their spread, the fold-by-fold agreement and
"equal Q within its own seed spread" as a check, and both speed ratios (e2s vs NeuCo-Bench, e2s
vs the per-fold loop). Then it profiles the in-process evaluation (cProfile) and times the
evaluator's batched torch computation (``gather``, the GPU default) beside the compiled CPU one.
Before the NeuCo-Bench and ``e2s evaluate`` replicates, one untimed ``e2s evaluate`` run warms
the compiled kernels' cache (a one-time cost of an install, reported separately).

    NEUCO_BENCH_DIR=... NEUCO_BENCH_PYTHON=... python benchmarks/evaluate_vs_neucobench.py \\
        --out benchmarks/results/evaluate_vs_neucobench.md

Quicker runs: ``--tasks reg_weak --seeds 2 --n 1000`` (and ``--k-folds`` / ``--epochs``, which
override the paper protocol for every path).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from e2s_utils import evaluate as ev
from e2s_utils.data.labels import LabelTask, load_tasks, write_task
from e2s_utils.evaluate.benchmark import benchmark_fold_scores
from e2s_utils.evaluate.linear import pick_method
from e2s_utils.store.csv import read_embeddings_csv, write_embeddings_csv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_speed import loop_tasks, make_problem, prepared, stream_draws  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TASKS = ("cls", "reg_strong", "reg_weak")
TARGET = 50.0


# ---------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    """Total memory in GiB (``/proc/meminfo``), ``?`` where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.0f}"
    except OSError:
        pass
    return "?"


def load_text() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def versions(python: str) -> str:
    """Python and library versions seen by ``python``."""
    code = (
        "import platform, numpy, pandas, sklearn, torch\n"
        "try:\n import torchmetrics; tm = torchmetrics.__version__\n"
        "except ImportError:\n tm = '-'\n"
        "try:\n import numba; nb = numba.__version__\n"
        "except ImportError:\n nb = '-'\n"
        "print(f'Python {platform.python_version()}, torch {torch.__version__}, numpy "
        "{numpy.__version__}, pandas {pandas.__version__}, scikit-learn {sklearn.__version__}, "
        "torchmetrics {tm}, numba {nb}')"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or f"unknown ({proc.stderr.strip()[-200:]})"


def checkout_state(bench_dir: Path) -> str:
    """``tag (commit), clean`` or ``..., MODIFIED`` for a git checkout."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(bench_dir), *args], capture_output=True, text=True)
        return proc.stdout.strip()

    described = git("describe", "--tags", "--always") or "unknown"
    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"`{described}` (`{commit}`), {'MODIFIED: ' + dirty if dirty else 'unmodified'}"


# ---------------------------------------------------------------------------------- inputs
def write_replicate(
    work: Path,
    replicate: int,
    ids: Sequence[str],
    X: np.ndarray,
    tasks: dict[str, LabelTask],
) -> tuple[Path, Path]:
    """Write replicate ``replicate``'s embedding CSV and labels folder; return both paths.

    Replicate 0 is the input as generated; replicate ``r > 0`` shuffles the rows of every file
    (each its own order) and permutes the embedding dimensions, all with a generator seeded by
    ``r``: the same samples and labels, seen by the probe as under another seed.
    """
    folder = work / f"replicate{replicate}"
    labels_dir = folder / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    rows, cols = np.arange(len(ids)), np.arange(X.shape[1])
    rng = np.random.default_rng([replicate, 2025])
    if replicate:
        rows, cols = rng.permutation(rows), rng.permutation(cols)
    emb = write_embeddings_csv(folder / "embeddings.csv", [ids[i] for i in rows], X[rows][:, cols])
    for name in sorted(tasks):
        labels = tasks[name].labels
        if replicate:
            labels = labels.iloc[rng.permutation(len(labels))]
        write_task(labels_dir, name, tasks[name].kind, labels)
    return emb, labels_dir


# ---------------------------------------------------------------------------------- runs
@dataclass
class Timed:
    """One timed run: wall seconds, CPU seconds and per-task fold scores.

    Attributes:
        wall: wall-clock seconds.
        cpu: CPU seconds (user + system) of the run's process (a subprocess's own).
        folds: task -> ``(K,)`` fold scores.
        q: task -> Q.
        load: 1-minute load average when the run started.
    """

    wall: float
    cpu: float
    folds: dict[str, np.ndarray] = field(default_factory=dict)
    q: dict[str, float] = field(default_factory=dict)
    load: float = float("nan")


def run_subprocess(cmd: list[str], env: dict[str, str], cwd: Path, what: str) -> Timed:
    """Run ``cmd`` to completion; wall time and the child's CPU time (user + system)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(wall, cpu, load=load)


def thread_env(threads: int, pythonpath: str | None = None) -> dict[str, str]:
    """This environment with every thread pool of a child capped at ``threads``."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    return env


def benchmark_config(bench_dir: Path, protocol: ev.Protocol) -> str:
    """NeuCo-Bench's YAML config for ``protocol`` (flat keys up to v1.0, ``probe_params`` later)."""
    common = (
        f"k_folds: {protocol.k_folds}\nembedding_dim: null\nstandardize_embeddings: true\n"
        "normalize_labels: true\nenable_plots: false\nupdate_leaderboard: false\n"
        "output_fold_results: true\ntask_filter: null\n"
    )
    params = (
        f"batch_size: {protocol.batch_size}\nepochs: {protocol.epochs}\n"
        f"learning_rate: {protocol.lr}\n"
    )
    if (bench_dir / "benchmark" / "evaluation" / "probes" / "linear.py").is_file():
        indented = "".join(f"  {line}\n" for line in params.splitlines())
        return common + f'probe_type: "linear"\nprobe_params:\n{indented}  device: "cpu"\n'
    return common + params + 'device: "cpu"\n'


def run_neucobench(
    bench_dir: Path,
    python: str,
    emb_csv: Path,
    labels_dir: Path,
    work: Path,
    protocol: ev.Protocol,
    threads: int,
) -> Timed:
    """One run of NeuCo-Bench's own ``benchmark/main.py``; its fold scores and Q per task."""
    cfg = work / "neucobench_config.yaml"
    cfg.write_text(benchmark_config(bench_dir, protocol))
    out = work / "neucobench_out"
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
    timed = run_subprocess(cmd, thread_env(threads), work, "NeuCo-Bench")
    run_dir = sorted((out / "vs").iterdir())[-1]
    for path in run_dir.glob("*/*_result.json"):
        result = json.loads(path.read_text())
        timed.folds[path.parent.name] = np.asarray(result["q_t"], dtype=np.float64)
        timed.q[path.parent.name] = float(result["q_stat"])
    return timed


def e2s_command(
    emb_csv: Path, labels_dir: Path, out: Path, protocol: ev.Protocol, threads: int
) -> list[str]:
    """``e2s evaluate`` under the paper protocol (with the run's overrides) as a command line."""
    cmd = [sys.executable, "-m", "e2s_utils.cli", "evaluate", "--embeddings", str(emb_csv)]
    cmd += ["--labels", str(labels_dir), "--out", str(out), "--protocol", protocol.name]
    cmd += ["--k-folds", str(protocol.k_folds), "--epochs", str(protocol.epochs)]
    return cmd + ["--threads", str(threads)]


def run_e2s(
    emb_csv: Path, labels_dir: Path, work: Path, protocol: ev.Protocol, threads: int
) -> Timed:
    """One run of ``e2s evaluate`` in a subprocess; its fold scores and Q per task."""
    out = work / "e2s_out"
    cmd = e2s_command(emb_csv, labels_dir, out, protocol, threads)
    timed = run_subprocess(cmd, thread_env(threads, str(REPO)), work, "e2s evaluate")
    summary = json.loads((out / "summary.json").read_text())
    for name, task in summary["tasks"].items():
        timed.folds[name] = np.asarray(task["folds"], dtype=np.float64)
        timed.q[name] = float(task["q"])
    return timed


def timed_call(fn, *args, **kwargs) -> tuple[Timed, object]:  # noqa: ANN001
    """Call ``fn`` in this process; wall and CPU time (every thread of this process)."""
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    return Timed(time.perf_counter() - t0, time.process_time() - c0, load=load), value


def import_cost(threads: int) -> Timed:
    """Interpreter start-up plus the imports of ``e2s evaluate`` (nothing evaluated)."""
    code = (
        "import e2s_utils.cli.evaluate as c; c._numba_without_blas(); import e2s_utils.evaluate, "
        "e2s_utils.evaluate.fused, e2s_utils.store.csv_fast, e2s_utils.data.labels, tqdm.auto"
    )
    return run_subprocess(
        [sys.executable, "-c", code], thread_env(threads, str(REPO)), REPO, "imports"
    )


def other_method(
    ids: list[str],
    X: np.ndarray,
    tasks: dict[str, LabelTask],
    protocol: ev.Protocol,
    method: str,
) -> tuple[Timed, dict[str, np.ndarray]]:
    """The evaluator's trainer with the mini-batch computation ``auto`` does not pick.

    All tasks in one computation, each with its own draws, as ``evaluate()`` trains them.

    Returns the timing (training only, inputs prepared beforehand) and the fold scores.
    """
    prep = prepared(X, tasks, protocol, ids)
    draws = stream_draws(protocol, list(tasks), X.shape[0], X.shape[1])
    splits = ev.shuffle_splits(X.shape[0], protocol.k_folds, protocol.seed)
    names = sorted(tasks)
    Xt = torch.from_numpy(prep["X"])
    Y = torch.from_numpy(np.stack([prep[t] for t in names], axis=1)).float()
    is_cls = torch.tensor([tasks[t].kind == "classification" for t in names])
    init = np.stack([draws[t][0] for t in names])
    perms = np.stack([draws[t][1] for t in names], axis=1)

    def train() -> dict[str, np.ndarray]:
        best, _ = ev.train_linear_folds(
            Xt,
            Y,
            is_cls,
            splits,
            init,
            perms,
            lr=protocol.lr,
            weight_decay=protocol.weight_decay,
            batch_size=protocol.batch_size,
            method=method,  # type: ignore[arg-type]
            score_fn=benchmark_fold_scores,
        )
        return {t: best[:, j] for j, t in enumerate(names)}

    timed, folds = timed_call(train)
    return timed, folds  # type: ignore[return-value]


def profile_evaluate(
    ids: list[str], X: np.ndarray, tasks: dict[str, LabelTask], protocol: ev.Protocol, top: int
) -> tuple[float, list[tuple[str, int, float]]]:
    """cProfile of one in-process ``evaluate()``: total seconds and the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    ev.evaluate(ids, X, tasks, protocol=protocol)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (path, line, name), (_, ncalls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = name if path == "~" else f"{Path(path).name}:{line}({name})"
        rows.append((where, ncalls, tottime))
    rows.sort(key=lambda r: -r[2])
    return stats.total_tt, rows[:top]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------- report
def shown_arg(arg: str) -> str:
    """A command-line argument as the report shows it: paths relative to the repository."""
    path = Path(arg)
    if not path.is_absolute():
        return arg
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name


def fmt_ratio(num: float, den: float) -> str:
    """``num / den`` as ``12.3x``."""
    return f"{num / den:.1f}x" if den > 0 else "-"


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="samples (every task labels all)")
    p.add_argument("--d", type=int, default=1024, help="embedding dimension")
    p.add_argument(
        "--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to generate"
    )
    p.add_argument("--seeds", type=int, default=3, help="replicates (seed spread of Q)")
    p.add_argument("--k-folds", type=int, default=None, help="override the paper protocol's K")
    p.add_argument("--epochs", type=int, default=None, help="override the paper protocol's 20")
    p.add_argument("--threads", type=int, default=1, help="threads of every path")
    p.add_argument(
        "--e2s-runs",
        type=int,
        default=3,
        help="runs of the one-second `e2s evaluate` per replicate (its median run counts)",
    )
    p.add_argument("--skip-loop", action="store_true", help="leave out the per-fold loop")
    p.add_argument(
        "--skip-profile", action="store_true", help="leave out the profile and the other method"
    )
    p.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    args = p.parse_args(argv)
    protocol = ev.get_protocol("paper", k_folds=args.k_folds, epochs=args.epochs)
    torch.set_num_threads(args.threads)
    bench_env = os.environ.get("NEUCO_BENCH_DIR")
    bench_dir = Path(bench_env).resolve() if bench_env else None
    bench_python = os.environ.get("NEUCO_BENCH_PYTHON", sys.executable)
    names = sorted(args.tasks)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    load_start = load_text()
    command = "python benchmarks/evaluate_vs_neucobench.py " + " ".join(
        shown_arg(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    say("# NeuCo-Bench vs `e2s evaluate` vs the per-fold loop (paper protocol)\n")
    say(
        f"Command: `{'NEUCO_BENCH_DIR=... NEUCO_BENCH_PYTHON=... ' if bench_dir else ''}{command}`\n"
    )
    say(
        f"Machine: {cpu_model()}, {os.cpu_count()} cores visible, {memory_gib()} GiB memory, no GPU "
        f"used. Load average (1 / 5 / 15 min) at start: {load_start}.\n"
    )
    say(f"e2s: {versions(sys.executable)}.\n")
    if bench_dir:
        say(f"NeuCo-Bench: checkout {checkout_state(bench_dir)}; {versions(bench_python)}.\n")
    else:
        say(
            "**NeuCo-Bench left out: set NEUCO_BENCH_DIR to an unmodified NeuCo-Bench checkout "
            "(and NEUCO_BENCH_PYTHON to its interpreter) to include it.**\n"
        )
    say(
        f"Problem: n = {args.n}, d = {args.d}, {protocol.label()}, batch {protocol.batch_size}, "
        f"lr {protocol.lr}, seed {protocol.seed}; tasks {', '.join(names)} (generated, every id "
        f"labelled), {args.seeds} replicate(s). Threads: **{args.threads}** in every path "
        f"(`OMP_NUM_THREADS` / `MKL_NUM_THREADS` = {args.threads} for both subprocesses, "
        f"`e2s evaluate --threads {args.threads}`, `torch.set_num_threads({args.threads})` in "
        "this process).\n"
    )

    ids, X, all_tasks = make_problem(args.n, args.d)
    tasks = {t: all_tasks[t] for t in names}
    bench: list[Timed] = []
    e2s: list[Timed] = []
    e2s_walls: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="e2s-vs-neucobench-") as tmp:
        work = Path(tmp)
        inputs = [write_replicate(work, r, ids, X, tasks) for r in range(args.seeds)]
        # warm-up: file cache, byte-code caches, first-call allocations (not timed)
        warm = protocol.with_overrides(k_folds=1, epochs=1)
        warm_e2s = run_e2s(*inputs[0], work, warm, args.threads)
        if bench_dir:
            run_neucobench(bench_dir, bench_python, *inputs[0], work, warm, args.threads)
        for r, (emb_csv, labels_dir) in enumerate(inputs):
            order = ("bench", "e2s") if r % 2 == 0 else ("e2s", "bench")
            for which in order:
                if which == "e2s":
                    runs = [
                        run_e2s(emb_csv, labels_dir, work, protocol, args.threads)
                        for _ in range(args.e2s_runs)
                    ]
                    e2s_walls.append([run.wall for run in runs])
                    e2s.append(sorted(runs, key=lambda run: run.wall)[len(runs) // 2])
                    walls = ", ".join(f"{w:.2f}" for w in e2s_walls[-1])
                    print(f"replicate {r}: e2s evaluate {walls} s", flush=True)
                elif bench_dir:
                    bench.append(
                        run_neucobench(
                            bench_dir,
                            bench_python,
                            emb_csv,
                            labels_dir,
                            work,
                            protocol,
                            args.threads,
                        )
                    )
                    print(f"replicate {r}: NeuCo-Bench {bench[-1].wall:.1f} s", flush=True)

        # in this process, on replicate 0 as read from its files (a first read loads the
        # compiled reader: numba's start-up in this process is counted in the imports row)
        read_embeddings_csv(inputs[0][0])
        t_read, (ids_r, X_r) = timed_call(read_embeddings_csv, inputs[0][0])
        tasks_r = load_tasks(inputs[0][1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev.evaluate(ids_r[:200], X_r[:200], tasks_r, protocol=protocol, k_folds=2, epochs=1)
    t_eval, result = timed_call(ev.evaluate, ids_r, X_r, tasks_r, protocol=protocol)
    t_eval.folds = {t: result.tasks[t].folds for t in names}  # type: ignore[attr-defined]
    t_eval.q = {t: result.tasks[t].q for t in names}  # type: ignore[attr-defined]
    loop: Timed | None = None
    if not args.skip_loop:
        loop, folds = timed_call(loop_tasks, X_r, tasks_r, protocol, ids=ids_r)
        loop.folds = folds  # type: ignore[assignment]
        loop.q = {t: ev.summarize_folds(f)[2] for t, f in loop.folds.items()}
        print(f"per-fold loop {loop.wall:.1f} s", flush=True)
    t_imports = import_cost(args.threads)

    # ---------------------------------------------------------------- speed
    def med(runs: list[Timed], attr: str) -> float:
        return float(np.median([getattr(t, attr) for t in runs]))

    per = len(names)
    say("## Speed\n")
    say(
        f"Seconds for all {per} task(s); subprocess rows are the median over the {args.seeds} "
        "replicate(s) (each replicate is the same amount of work). CPU = user + system seconds of "
        "that process, all threads; less sensitive than wall time to other jobs on the machine. "
        f"`e2s evaluate` runs {args.e2s_runs} times per replicate, right after one another, and "
        "its median run counts: a one-second command is at the mercy of whatever the machine did "
        "just before (the first run after NeuCo-Bench's minute is often the slowest); every run "
        "is listed below.\n"
    )
    say("| path | wall s | CPU s | wall s per task | NeuCo-Bench / path, wall | CPU |")
    say("|---|---|---|---|---|---|")
    nb_wall = med(bench, "wall") if bench else float("nan")
    nb_cpu = med(bench, "cpu") if bench else float("nan")
    rows: list[tuple[str, float, float]] = []
    if bench:
        rows.append(("NeuCo-Bench `benchmark/main.py` (subprocess, end to end)", nb_wall, nb_cpu))
    rows.append(
        (
            "`e2s evaluate --protocol paper` (subprocess, end to end)",
            med(e2s, "wall"),
            med(e2s, "cpu"),
        )
    )
    if loop:
        rows.append(("per-fold loop reference (in process, compute only)", loop.wall, loop.cpu))
    rows.append(("`evaluate()` (in process, compute only)", t_eval.wall, t_eval.cpu))
    for label, wall, cpu in rows:
        ratio_w = fmt_ratio(nb_wall, wall) if bench else "-"
        ratio_c = fmt_ratio(nb_cpu, cpu) if bench else "-"
        say(f"| {label} | {wall:.2f} | {cpu:.2f} | {wall / per:.2f} | {ratio_w} | {ratio_c} |")
    say("")
    if bench:
        say("Per replicate (NeuCo-Bench and `e2s evaluate` one after the other):\n")
        say(
            "| replicate | load (1 min) | NeuCo-Bench wall / CPU s | e2s median run wall / CPU s "
            "| every e2s run, wall s | ratio wall | ratio CPU |"
        )
        say("|---|---|---|---|---|---|---|")
        for r, (b, e) in enumerate(zip(bench, e2s, strict=True)):
            walls = ", ".join(f"{w:.2f}" for w in e2s_walls[r])
            say(
                f"| {r} | {b.load:.1f}, {e.load:.1f} | {b.wall:.1f} / {b.cpu:.1f} | "
                f"{e.wall:.2f} / {e.cpu:.2f} | {walls} | {fmt_ratio(b.wall, e.wall)} | "
                f"{fmt_ratio(b.cpu, e.cpu)} |"
            )
        say("")
    e2s_wall, e2s_cpu = med(e2s, "wall"), med(e2s, "cpu")
    say("**Ratios**:\n")
    if bench:
        reached = "reached" if nb_wall / e2s_wall >= TARGET else "**not reached**"
        say(
            f"* e2s vs NeuCo-Bench (end to end): **{fmt_ratio(nb_wall, e2s_wall)} wall, "
            f"{fmt_ratio(nb_cpu, e2s_cpu)} CPU**; target {TARGET:.0f}x {reached}."
        )
    if loop:
        say(
            "* e2s vs the per-fold loop (compute only, same process): "
            f"**{fmt_ratio(loop.wall, t_eval.wall)} wall, {fmt_ratio(loop.cpu, t_eval.cpu)} CPU**; "
            f"end to end (`e2s evaluate` against the loop's compute alone) "
            f"{fmt_ratio(loop.wall, e2s_wall)} wall, {fmt_ratio(loop.cpu, e2s_cpu)} CPU."
        )
    rest = e2s_wall - t_imports.wall - t_read.wall - t_eval.wall
    say(
        f"\nWhere `e2s evaluate`'s {e2s_wall:.2f} s wall / {e2s_cpu:.2f} CPU-s go (replicate "
        f"median): interpreter start-up and imports {t_imports.wall:.2f} s / "
        f"{t_imports.cpu:.2f} CPU-s (measured alone), reading the CSV {t_read.wall:.2f} s / "
        f"{t_read.cpu:.2f} CPU-s, `evaluate()` {t_eval.wall:.2f} s / {t_eval.cpu:.2f} CPU-s "
        f"(the in-process row); the remaining {rest:.2f} s is numba loading its compiled code"
        f" on the process's first call, the labels, writing the results and exit. "
        f"The untimed warm-up run before the replicates (K = 1, 1 epoch) "
        f"took {warm_e2s.wall:.2f} s: it loads the compiled kernels from their cache, or "
        "compiles them once after an install.\n"
    )

    # ---------------------------------------------------------------- Q
    say("## Q per task and replicate\n")
    say("| task | path | Q per replicate | mean | std (ddof 1) |")
    say("|---|---|---|---|---|")
    paths = ([("NeuCo-Bench", bench)] if bench else []) + [("e2s evaluate", e2s)]
    for t in names:
        for label, runs in paths:
            q = np.array([run.q[t] for run in runs])
            sd = f"{q.std(ddof=1):.3f}" if len(q) > 1 else "-"
            say(f"| {t} | {label} | {', '.join(f'{v:.6f}' for v in q)} | {q.mean():.3f} | {sd} |")
        if loop:
            say(f"| {t} | per-fold loop (replicate 0) | {loop.q[t]:.6f} | - | - |")
        say(f"| {t} | `evaluate()` in process (replicate 0) | {t_eval.q[t]:.6f} | - | - |")
    say("\n## Agreement\n")
    ref_runs = bench if bench else e2s
    ref_name = "NeuCo-Bench" if bench else "`e2s evaluate`"
    verdicts = []
    for t in names:
        q_ref = np.array([run.q[t] for run in ref_runs])
        spread = float(q_ref.std(ddof=1)) if len(q_ref) > 1 else float("nan")
        parts = []
        if bench:
            fold_gap = max(
                float(np.max(np.abs(e.folds[t] - b.folds[t])))
                for b, e in zip(bench, e2s, strict=True)
            )
            q_gap = max(abs(e.q[t] - b.q[t]) for b, e in zip(bench, e2s, strict=True))
            verdicts.append((t, q_gap, spread))
            parts.append(
                f"`e2s evaluate` vs NeuCo-Bench, every replicate: max |fold diff| {fold_gap:.2e}, "
                f"max |Q diff| {q_gap:.2e}"
            )
        if loop:
            gap = float(np.max(np.abs(loop.folds[t] - ref_runs[0].folds[t])))
            parts.append(f"per-fold loop vs {ref_name} (replicate 0): max |fold diff| {gap:.2e}")
        gap = float(np.max(np.abs(t_eval.folds[t] - e2s[0].folds[t])))
        parts.append(f"in-process `evaluate()` vs `e2s evaluate`: {gap:.2e}")
        parts.append(f"{ref_name}'s seed spread of Q (std over replicates) {spread:.3f}")
        say(f"* {t}: " + "; ".join(parts) + ".")
    if verdicts and all(np.isfinite(sd) and sd > 0 for _, _, sd in verdicts):
        equal = all(gap <= sd for _, gap, sd in verdicts)
        worst = max(gap / sd for _, gap, sd in verdicts)
        say(
            f"\n**Equal Q within NeuCo-Bench's own seed spread: {'yes' if equal else 'NO'}** "
            f"(largest |Q diff| / seed std {worst:.1e})."
        )
    elif verdicts:
        say("\nEqual Q within the seed spread: not checked (it needs --seeds 2 or more).")

    # ---------------------------------------------------------------- profile
    if not args.skip_profile:
        say("\n## Where `evaluate()` spends its time (in process, replicate 0, cProfile)\n")
        total, top = profile_evaluate(ids_r, X_r, tasks_r, protocol, 8)
        say(f"Total {total:.2f} s under the profiler.\n")
        say("| function (own time) | calls | seconds | share |")
        say("|---|---|---|---|")
        for where, ncalls, tottime in top:
            say(f"| `{where}` | {ncalls} | {tottime:.2f} | {100 * tottime / total:.0f} % |")
        auto = pick_method(args.n, protocol.batch_size, 1, torch.device("cpu"))
        alt, alt_folds = other_method(ids_r, X_r, tasks_r, protocol, auto)
        gap = max(float(np.max(np.abs(alt_folds[t] - t_eval.folds[t]))) for t in names)
        say(
            f"\nThe trainer's batched torch computation, `train_linear_folds(method="
            f'"{auto}")` (what the CPU ran before the compiled `fused` one; the GPU default) on '
            f"the same draws, all tasks in one computation: {alt.wall:.2f} s wall / "
            f"{alt.cpu:.2f} CPU-s for the training alone, against {t_eval.wall:.2f} s / "
            f"{t_eval.cpu:.2f} CPU-s for `evaluate()` (`fused`); its fold scores differ from "
            f"`evaluate()`'s by up to {gap:.1e} "
            + ("(bit-identical)." if gap == 0 else "(float rounding: not bit-identical).")
        )
    say(f"\nLoad average (1 / 5 / 15 min) at end: {load_text()}.")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
