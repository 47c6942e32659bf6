"""Benchmark of the data layer: synthetic generation speed and cube reading speed.

Measures (1) how long ``synthetic.generate`` takes for ``--n`` samples with ``--workers``
processes, and (2) cubes per second for reading one sample with all three modalities
(``CubeDataset[i]``: open three zipped Zarr stores, decompress, validate, convert to float32),
single process and through a DataLoader with workers. The load average is recorded beside the
numbers because a busy machine slows everything down.

Usage:
    python benchmarks/data_io.py --n 512 --workers 2 --out benchmarks/results/data_io.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from e2s_utils.data import CubeDataset, make_loader, synthetic


def _reference_op_ms() -> float:
    """Time of a fixed NumPy kernel (a busy-machine indicator): y = 1.5 x + 2 on 3.3 M floats."""
    x = np.random.default_rng(0).random((4, 12, 264, 264), dtype=np.float32)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        _ = x * 1.5 + 2.0
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--read-samples", type=int, default=48)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        load0 = os.getloadavg()[0]
        ref0 = _reference_op_ms()
        t, c = time.perf_counter(), _cpu_s()
        synthetic.generate(root, args.n, seed=0, workers=args.workers)
        gen_s, gen_cpu = time.perf_counter() - t, _cpu_s() - c
        rows.append(
            (
                f"generate {args.n} samples, {args.workers} processes (wall)",
                f"{gen_s:.1f} s",
                f"{args.n / gen_s:.1f} samples/s",
                f"{load0:.1f}",
                f"{ref0:.1f}",
            )
        )
        rows.append(
            (
                f"generate {args.n} samples: CPU time, all processes",
                f"{gen_cpu:.1f} CPU-s",
                f"{1e3 * gen_cpu / args.n:.0f} CPU-ms/sample",
                "",
                "",
            )
        )
        size_mb = sum(p.stat().st_size for p in root.rglob("*.zarr.zip")) / 1e6
        ds = CubeDataset(root)
        k = min(args.read_samples, len(ds))
        ds[0]  # warm imports
        load1, ref1 = os.getloadavg()[0], _reference_op_ms()
        t, c = time.perf_counter(), _cpu_s()
        for i in range(k):
            ds[i]
        read_s, read_cpu = time.perf_counter() - t, _cpu_s() - c
        rows.append(
            (
                "read one sample (s1 + s2l1c + s2l2a), 1 process",
                f"{1e3 * read_s / k:.0f} ms",
                f"{k / read_s:.1f} cubes/s",
                f"{load1:.1f}",
                f"{ref1:.1f}",
            )
        )
        rows.append(
            (
                "read one sample: CPU time",
                f"{1e3 * read_cpu / k:.0f} CPU-ms",
                f"{k / read_cpu:.1f} cubes per CPU-s",
                "",
                "",
            )
        )
        loader = make_loader(CubeDataset(root, ids=ds.ids[:k]), batch_size=8, num_workers=2)
        t = time.perf_counter()
        n_read = sum(len(b["id"]) for b in loader)
        loader_s = time.perf_counter() - t
        rows.append(
            (
                "DataLoader, batch 8, 2 workers",
                f"{1e3 * loader_s / n_read:.0f} ms",
                f"{n_read / loader_s:.1f} cubes/s",
                f"{os.getloadavg()[0]:.1f}",
                "",
            )
        )

    header = "| measurement | time | rate | load avg (1 min) | ref op ms |\n|---|---|---|---|---|\n"
    table = header + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    text = (
        "# Data layer: generation and reading speed\n\n"
        f"Machine: {os.cpu_count()}-core CPU, 24 GiB RAM, no GPU; Python "
        f"{platform.python_version()}, torch {torch.__version__.split('+')[0]}, NumPy "
        f"{np.__version__}.\n"
        f"Dataset: {args.n} synthetic samples, {size_mb:.0f} MB on disk "
        f"({size_mb / args.n:.1f} MB per sample, three zipped Zarr stores).\n\n"
        f"{table}\n\n"
        "'ref op ms' is the median of ten runs of y = 1.5 x + 2 on 3.3 M float32 values (about 4 ms on "
        "an idle core of this machine): a higher value means the machine was busy with other work "
        "during the measurement; the CPU-time rows do not depend on how busy the machine was "
        "(on two idle cores, generation takes about CPU-s / 2 of wall time).\n"
        "Command: `python benchmarks/data_io.py "
        f"--n {args.n} --workers {args.workers} --read-samples {args.read_samples}`\n"
    )
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
