"""Benchmark: baseline throughput and the extraction loop's overhead (data loading vs model).

Two measurements on a synthetic dataset written to a temporary folder:

1. **Model only**: samples/s of each baseline's forward pass on an in-memory batch of raw cubes,
   at every size (the ``rcf`` baseline's ``full`` size on one small batch only: it is the
   4th-place configuration, 4,096 features at 264 px, meant for a GPU).
2. **Extraction loop**: :func:`e2s_utils.extract.extract` end to end at ``micro`` size for every
   registered model (baselines and the five foundation models), with the loop's wall time split
   into waiting for the DataLoader (reading and decoding the zipped Zarr cubes) and running the
   model, for ``num_workers`` 0 and 1.

Usage::

    python benchmarks/extract_baselines.py [--n 16] [--batch-size 8] [--out FILE.md]

The results are written as Markdown (default ``benchmarks/results/extract_baselines.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

from e2s_utils.data import CubeDataset, collate_cubes, synthetic
from e2s_utils.extract import extract
from e2s_utils.models import build_extractor, list_models

HERE = Path(__file__).resolve().parent


def _machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, no GPU; load average at start "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )


def model_only(batch: dict[str, object], repeats: int) -> list[dict[str, object]]:
    """Forward-pass throughput of each baseline at each size on an in-memory batch."""
    rows = []
    ids = batch["id"]
    cubes = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
    for name in list_models("baseline"):
        for size in ("micro", "tiny", "full"):
            model = build_extractor(name, "as_intended", size, seed=0)
            b = len(ids)
            use = cubes
            if name == "rcf":
                if size == "full":  # tens of seconds per sample on a CPU: one 2-sample batch
                    b = 2
                    use = {k: v[:b] for k, v in cubes.items()}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit([use])
            kwargs = {"ids": list(ids[:b])} if getattr(model, "wants_ids", False) else {}
            reps = 1 if (name, size) == ("rcf", "full") else repeats
            with torch.inference_mode():
                model(use, **kwargs)  # warm-up
                start = time.perf_counter()
                for _ in range(reps):
                    model(use, **kwargs)
                seconds = (time.perf_counter() - start) / reps
            rows.append(
                {
                    "model": name,
                    "size": size,
                    "batch": b,
                    "ms_per_sample": 1000 * seconds / b,
                    "samples_per_s": b / seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def loop(root: Path, batch_size: int) -> list[dict[str, object]]:
    """End-to-end extraction at micro size: samples/s and the data / model split."""
    rows = []
    for workers in (0, 1):
        for name in list_models():
            with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = extract(
                    name,
                    "as_intended",
                    "micro",
                    root,
                    Path(out),
                    batch_size=batch_size,
                    num_workers=workers,
                    progress=False,
                    record_resources=False,
                )
            rows.append(
                {
                    "model": name,
                    "workers": workers,
                    "samples": r.n_samples,
                    "samples_per_s": r.samples_per_s,
                    "loop_s": r.seconds,
                    "data_s": r.data_seconds,
                    "model_s": r.model_seconds,
                    "data_share": r.data_seconds / r.seconds if r.seconds else 0.0,
                    "fit_s": r.fit_seconds,
                    "build_s": r.build_seconds,
                }
            )
            print(rows[-1], flush=True)
    return rows


def _table(rows: list[dict[str, object]]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    """Run both measurements and write the Markdown results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16, help="synthetic samples")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=HERE / "results" / "extract_baselines.md")
    args = p.parse_args()
    machine = _machine()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic.generate(Path(tmp) / "data", n=args.n, seed=0)
        ds = CubeDataset(root)
        batch = collate_cubes([ds[i] for i in range(min(args.batch_size, len(ds)))])
        fwd = model_only(batch, args.repeats)
        ext = loop(root, args.batch_size)
    text = (
        "# Extraction benchmark: baselines and loop overhead\n\n"
        f"Machine: {machine}.\n"
        f"Synthetic dataset of {args.n} samples; batch size {args.batch_size}. Produced by "
        "`python benchmarks/extract_baselines.py`.\n\n"
        "## Model only (in-memory batch of raw cubes, forward pass)\n\n"
        f"{_table(fwd)}\n\n"
        "## Extraction loop at micro size (`extract()`, reading zipped Zarr cubes)\n\n"
        "`data_s` is the time the loop waited for the DataLoader (reading and decoding cubes), "
        "`model_s` the time in the model; `fit_s` the RCF + PCA fit, `build_s` building the "
        "extractor (first builds include imports).\n\n"
        f"{_table(ext)}\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
