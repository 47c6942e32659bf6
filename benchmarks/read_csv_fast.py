"""Time the numba CSV reader against the pandas one on a NeuCo-Bench-sized embedding file.

Writes a 2,000 x 1,024 file with :func:`~e2s_utils.store.csv.write_embeddings_csv` ("%.9g") to a
temporary folder, then prints: the imports and the first call in fresh processes (numba compiling
into an empty cache, then loading from it), and the median of 5 in-process reads by
:func:`~e2s_utils.store.csv_fast.read_embeddings_fast` (1 and 2 threads) and by pandas
(:func:`~e2s_utils.store.csv.read_embeddings_csv` with the fast reader switched off).

    python benchmarks/read_csv_fast.py [--rows 2000] [--dim 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np

#: Run in a fresh process: import times, the first and second call, what got imported.
COLD = """
import json, sys, time
t0 = time.perf_counter(); import numpy
t1 = time.perf_counter(); import numba
t2 = time.perf_counter(); from e2s_utils.store.csv_fast import read_embeddings_fast
t3 = time.perf_counter(); ids, X = read_embeddings_fast(sys.argv[1])
t4 = time.perf_counter(); read_embeddings_fast(sys.argv[1])
t5 = time.perf_counter()
heavy = sorted({"pandas", "torch"} & set(sys.modules))
t6 = time.perf_counter(); import pandas
t7 = time.perf_counter()
print(json.dumps({"numpy": t1 - t0, "numba": t2 - t1, "module": t3 - t2, "first": t4 - t3,
                  "second": t5 - t4, "pandas": t7 - t6, "heavy": heavy}))
"""


def cold_run(path: Path, cache_dir: Path) -> dict[str, float]:
    """One fresh process reading ``path`` with numba's cache in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", COLD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=repo,
    )
    return json.loads(out.stdout)


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """The median wall time of ``repeats`` calls (after one untimed call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Write the file, time the readers, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=1024)
    args = parser.parse_args()

    from e2s_utils.store import csv_fast
    from e2s_utils.store.csv import read_embeddings_csv, write_embeddings_csv

    with tempfile.TemporaryDirectory() as tmp:
        X = np.random.default_rng(0).standard_normal((args.rows, args.dim)).astype(np.float32)
        ids = [f"patch_{i:06d}" for i in range(args.rows)]
        path = write_embeddings_csv(Path(tmp) / "embeddings.csv", ids, X)
        size = path.stat().st_size / 2**20
        print(f"file: {args.rows} x {args.dim}, {size:.1f} MiB, {os.cpu_count()} CPU(s)")

        compiled = cold_run(path, Path(tmp) / "numba-cache")
        cached = cold_run(path, Path(tmp) / "numba-cache")
        print(
            f"fresh process: import numpy {compiled['numpy']:.3f} s, numba {cached['numba']:.3f} s, "
            f"csv_fast {cached['module']:.3f} s, pandas (not needed) {cached['pandas']:.3f} s"
        )
        print(f"first call, empty numba cache (compiles): {compiled['first']:.2f} s")
        print(f"first call, numba cache filled: {cached['first']:.3f} s")
        print(f"second call in that process: {cached['second']:.3f} s")
        print(f"heavy modules imported by the fast read: {cached['heavy'] or 'none'}")

        fast = csv_fast.read_embeddings_fast(path)
        with mock.patch.object(csv_fast, "read_embeddings_fast", lambda *a, **k: None):
            ref = read_embeddings_csv(path)
            t_pandas = median_time(lambda: read_embeddings_csv(path))
        same = fast is not None and fast[0] == ref[0]
        same = same and np.array_equal(fast[1].view(np.uint32), ref[1].view(np.uint32))
        print(f"fast == pandas (ids, float32 bits): {same}")
        for threads in (1, 2):
            t = median_time(partial(csv_fast.read_embeddings_fast, path, threads=threads))
            print(f"read_embeddings_fast, {threads} thread(s): {t * 1e3:.1f} ms (median of 5)")
        print(
            f"read_embeddings_csv by pandas: {t_pandas * 1e3:.1f} ms (median of 5, import excluded)"
        )


if __name__ == "__main__":
    main()
