"""GPU throughput of the five foundation models at full size, and CROMA's SDPA speed-up on CUDA.

Self-contained (random init, random raw cubes, no data or weights needed). For each foundation
model (``as_intended``, full size: the paper's networks) times forward passes at batch 1 and 8
in fp32 under ``torch.inference_mode`` (median of 5 after 2 warm-ups, ``cuda.synchronize``
around each pass), reports samples/s and peak GPU memory, then times CROMA-L at 264 px with the
library's einsum attention against the fused ``scaled_dot_product_attention``. Prints the card's
name first. Runs in about 3-5 minutes on one H100.

Usage::

    python benchmarks/models_gpu.py [--batches 1 8] [--repeats 5] [--amp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from e2s_utils.models import build_extractor, list_models  # noqa: E402


def raw_batch(batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    cubes = {
        "s1": -15 + 4 * torch.randn(batch, 4, 2, 264, 264, generator=g),
        "s2l1c": 3000 * torch.rand(batch, 4, 13, 264, 264, generator=g),
        "s2l2a": 3000 * torch.rand(batch, 4, 12, 264, 264, generator=g),
    }
    return {k: v.to(device) for k, v in cubes.items()}


def timed(model: torch.nn.Module, cubes: dict, repeats: int, warmup: int, amp: bool) -> float:
    """Median seconds per forward pass (CUDA-synchronised)."""
    times = []
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        for i in range(warmup + repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(cubes)
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (default fp32)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU")
        return 1
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(device)
    print(
        f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, {'bf16 autocast' if args.amp else 'fp32'}"
    )
    print("\n| model | size | batch | s / batch | samples / s | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|---|")
    croma = None
    for name in list_models("foundation"):
        t0 = time.perf_counter()
        try:
            model = build_extractor(name, preset="as_intended", size="full").to(device)
        except ImportError as err:  # e.g. terratorch missing on a bare GPU image
            print(f"| {name} | full | - | skipped: {err} | - | - |", flush=True)
            continue
        build_s = time.perf_counter() - t0
        for batch in args.batches:
            cubes = raw_batch(batch, device)
            torch.cuda.reset_peak_memory_stats(device)
            sec = timed(model, cubes, args.repeats, args.warmup, args.amp)
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            print(
                f"| {name} | full | {batch} | {sec:.4f} | {batch / sec:.1f} | {peak:.1f} |",
                flush=True,
            )
        print(f"<!-- {name}: built in {build_s:.1f} s -->", flush=True)
        if name != "croma":
            del model
            torch.cuda.empty_cache()
        else:
            croma = model
    if croma is None:
        return 0
    print("\nCROMA-L at 264 px (1,089 tokens), attention implementations:")
    print("| batch | library s | fused SDPA s | speed-up | max abs diff |")
    print("|---|---|---|---|---|")
    for batch in args.batches:
        cubes = raw_batch(batch, device)
        croma.set_attention("library")
        t_lib = timed(croma, cubes, args.repeats, 1, args.amp)
        with torch.inference_mode():
            ref = croma(cubes)
        croma.set_attention("sdpa")
        t_sdpa = timed(croma, cubes, args.repeats, 1, args.amp)
        with torch.inference_mode():
            diff = (croma(cubes) - ref).abs().max().item()
        print(f"| {batch} | {t_lib:.4f} | {t_sdpa:.4f} | {t_lib / t_sdpa:.2f}x | {diff:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
