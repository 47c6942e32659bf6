"""Benchmark: separate ``extract`` calls against one ``extract_many`` pass over the same cubes.

On one synthetic dataset written to a temporary folder, for each size (``micro``, ``tiny``) and
two sets of stores the study reads (the smoke profile's, which the demo profile shares):

- **one model**: the stores of one model (:func:`e2s_utils.studies.model_stores`; Prithvi by
  default: both presets and two more initialisation seeds of the randomly initialised network);
- **all models**: every store of the ablation (:func:`e2s_utils.studies.stores_needed`).

each set is extracted twice, side by side in one process: once as separate
:func:`~e2s_utils.extract.extract` calls (what ``ensure_stores`` did before), once as one
:func:`~e2s_utils.extract.extract_many` call. For both the script records wall time, process CPU
time, the loop's wait for the DataLoader (reading and decoding cubes), model time, fit time and
the number of cube files read (``read_cube`` calls in the pass and in a baseline's fit), then
checks that both ways wrote byte-identical stores. Every model is built once before timing, so
neither way pays the first build's imports. The 1-minute load average is recorded before and
after each measurement: on a shared machine it says how far to trust a number.

Usage::

    python benchmarks/extract_many.py [--n 48] [--model prithvi] [--sizes micro tiny]

The results are written as Markdown (default ``benchmarks/results/extract_many.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from e2s_utils import config, studies
from e2s_utils.data import dataset as dataset_module
from e2s_utils.data import synthetic
from e2s_utils.data.reader import read_cube
from e2s_utils.extract import extract, extract_many, many
from e2s_utils.models import build_extractor
from e2s_utils.store import store_path

HERE = Path(__file__).resolve().parent
#: Cube files read, by where: the shared pass (``pass``) or a baseline's fit loader (``fit``).
READS: Counter[str] = Counter()


def _count_reads() -> None:
    """Count every ``read_cube`` call of the extraction loop and of the fit loader."""

    def counter(kind: str) -> Any:
        def counting(*args: Any, **kw: Any) -> Any:
            READS[kind] += 1
            return read_cube(*args, **kw)

        return counting

    many.read_cube = counter("pass")  # type: ignore[assignment]
    dataset_module.read_cube = counter("fit")  # type: ignore[assignment]


def _load() -> float:
    return os.getloadavg()[0]


def _machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, no GPU; load average at start "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _measure(way: str, run: Any) -> dict[str, Any]:
    """Run one way of extracting a set of stores; its costs from the clocks and the reports."""
    READS.clear()
    load0, wall0, cpu0 = _load(), time.perf_counter(), time.process_time()
    reports = run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # the stores of one pass share its loop: its data wait is counted once
    data = reports[0].data_seconds if way == "one pass" else sum(r.data_seconds for r in reports)
    return {
        "way": way,
        "wall_s": wall,
        "cpu_s": cpu,
        "data_s": data,
        "model_s": sum(r.model_seconds for r in reports),
        "fit_s": sum(r.fit_seconds for r in reports),
        "reads": READS["pass"],
        "fit_reads": READS["fit"],
        "load_before": load0,
        "load_after": _load(),
    }


def compare(
    jobs: Sequence[tuple[str, str, int | None]], size: str, root: Path, out: Path, seed: int
) -> list[dict[str, Any]]:
    """Separate ``extract`` calls, then one ``extract_many`` call; check identical stores."""
    kw: dict[str, Any] = {
        "batch_size": 8,
        "seed": seed,
        "progress": False,
        "record_resources": False,
    }

    def separate() -> list[Any]:
        return [extract(m, p, size, root, out / "separate", init_seed=s, **kw) for m, p, s in jobs]

    rows = [_measure("separate", separate)]
    rows.append(
        _measure("one pass", lambda: extract_many(jobs, size, root, out / "one_pass", **kw))
    )
    same = all(
        _tree(store_path(out / "separate", m, p, size, s))
        == _tree(store_path(out / "one_pass", m, p, size, s))
        for m, p, s in jobs
    )
    for row in rows:
        row["identical"] = "yes" if same else "NO"
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Separate over one pass, per size and set of stores."""
    out = []
    for sep, one in zip(rows[::2], rows[1::2], strict=True):
        out.append(
            {
                "size": sep["size"],
                "stores": sep["stores"],
                "wall x": sep["wall_s"] / one["wall_s"],
                "cpu x": sep["cpu_s"] / one["cpu_s"],
                "reads x": sep["reads"] / max(one["reads"], 1),
                "wall saved_s": sep["wall_s"] - one["wall_s"],
                "data wait saved_s": sep["data_s"] - one["data_s"],
            }
        )
    return out


def run(n: int, model: str, sizes: Sequence[str]) -> tuple[str, list[dict[str, Any]]]:
    """Every measurement on one synthetic dataset of ``n`` samples; the machine line and rows."""
    profile = config.profiles()["smoke"]
    sets = {
        model: studies.model_stores(profile, model),
        "all models": studies.stores_needed(studies.ablation_runs(profile), profile),
    }
    machine = _machine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic.generate(Path(tmp) / "data", n=n, seed=0)
        _count_reads()
        for size in sizes:
            for name in {m for jobs in sets.values() for m, _, _ in jobs}:
                build_extractor(name, "as_intended", size)  # imports and first-build costs
            for label, jobs in sets.items():
                out = Path(tmp) / f"{size}-{label.replace(' ', '_')}"
                for row in compare(jobs, size, root, out, profile.seed):
                    rows.append({"size": size, "stores": f"{label} ({len(jobs)})", **row})
                    print(rows[-1], flush=True)
    return machine, rows


def main() -> None:
    """Run every measurement and write the Markdown results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=48, help="synthetic samples")
    p.add_argument("--model", default="prithvi", help="the model of the one-model set")
    p.add_argument("--sizes", nargs="+", default=["micro", "tiny"])
    p.add_argument("--out", type=Path, default=HERE / "results" / "extract_many.md")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        machine, rows = run(args.n, args.model, args.sizes)
    text = (
        "# Extraction benchmark: separate `extract` calls against one `extract_many` pass\n\n"
        f"Machine: {machine}.\n"
        f"Synthetic dataset of {args.n} samples; batch size 8; one DataLoader process "
        "(`num_workers=0`), so the CPU time is the whole cost. Produced by "
        f"`python benchmarks/extract_many.py --n {args.n}`.\n\n"
        "## Both ways, side by side\n\n"
        "`stores`: the set and its number of stores; `wall_s` / `cpu_s`: wall and process CPU "
        "time of the whole call (builds, configuration checks, fits, the loop); `data_s`: the "
        "loop's wait for cubes (summed over separate calls; once for the pass); `model_s`: model "
        "time summed over stores; `reads`: cube files read by the loop, `fit_reads`: by the RCF "
        "fit; `load_before` / `load_after`: 1-minute load average; `identical`: both ways wrote "
        "byte-identical stores.\n\n"
        f"{_table(rows)}\n\n"
        "## Separate over one pass\n\n"
        f"{_table(_ratios(rows))}\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
