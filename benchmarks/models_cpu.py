"""Extraction throughput of the five foundation models on CPU, and CROMA's SDPA speed-up.

Times ``build_extractor(name, preset, size)`` forward passes on random raw cubes (B, 4, C, 264,
264) under ``torch.inference_mode`` for sizes micro, tiny and full at batch 1 and 8; each cell is
the median of ``--repeats`` timed passes after one warm-up pass (full size at batch 8: one timed
pass, no warm-up, because one pass takes minutes). Then times CROMA's attention both ways on the
full-size input geometry (264 px, 1,089 tokens): the library's einsum attention against the fused
``scaled_dot_product_attention`` the extractor uses.

Usage::

    python benchmarks/models_cpu.py [--sizes micro tiny full] [--batches 1 8] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from e2s_utils.models import build_extractor, list_models


def raw_batch(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "s1": -15 + 4 * torch.randn(batch, 4, 2, 264, 264, generator=g),
        "s2l1c": 3000 * torch.rand(batch, 4, 13, 264, 264, generator=g),
        "s2l2a": 3000 * torch.rand(batch, 4, 12, 264, 264, generator=g),
    }


def time_model(model: torch.nn.Module, cubes: dict, repeats: int, warmup: bool) -> float:
    """Median seconds per forward pass."""
    times = []
    with torch.inference_mode():
        if warmup:
            model(cubes)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(cubes)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def croma_attention_speedup(size: str, batch: int, repeats: int) -> tuple[float, float, float]:
    """(library s, fused SDPA s, max abs diff) of CROMA forwards at ``size`` on ``batch`` cubes."""
    model = build_extractor("croma", size=size)
    cubes = raw_batch(batch)
    model.set_attention("library")
    t_lib = time_model(model, cubes, repeats, warmup=False)
    with torch.inference_mode():
        ref = model(cubes)
    model.set_attention("sdpa")
    t_sdpa = time_model(model, cubes, repeats, warmup=False)
    with torch.inference_mode():
        out = model(cubes)
    return t_lib, t_sdpa, (out - ref).abs().max().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["micro", "tiny", "full"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--preset", default="as_intended")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--croma-size", default="full", help="size for the SDPA comparison")
    parser.add_argument("--out", type=Path, default=None, help="append the Markdown table here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, preset {args.preset}",
        "",
        "| model | size | batch | s / batch | samples / s | s / sample |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for size in args.sizes:
        for name in args.models or list_models("foundation"):
            model = build_extractor(name, preset=args.preset, size=size)
            for batch in args.batches:
                slow = size == "full" and batch > 1
                sec = time_model(model, raw_batch(batch), 1 if slow else args.repeats, not slow)
                note = " (1 pass)" if slow else ""
                row = (
                    f"| {name} | {size} | {batch} | {sec:.3f}{note} | {batch / sec:.2f} | "
                    f"{sec / batch:.3f} |"
                )
                print(row, flush=True)
                lines.append(row)
            del model
    t_lib, t_sdpa, diff = croma_attention_speedup(args.croma_size, 1, 1)
    croma = [
        "",
        f"CROMA {args.croma_size} (1 sample = 4 seasons): library attention {t_lib:.2f} s, "
        f"fused SDPA {t_sdpa:.2f} s, speed-up {t_lib / t_sdpa:.2f}x, max |diff| {diff:.1e}",
    ]
    print("\n".join(croma), flush=True)
    lines += croma
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
