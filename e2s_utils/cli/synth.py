"""``e2s synth``: write a synthetic dataset in the real on-disk format."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s synth`` options."""
    p = argparse.ArgumentParser(
        prog="e2s synth",
        description="Write a synthetic SSL4EO-S12-downstream dataset (zipped Zarr v2 + labels).",
    )
    p.add_argument("--root", type=Path, required=True, help="dataset root to write")
    p.add_argument("--n", type=int, default=512, help="number of samples (default 512)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--layout", choices=("current", "challenge"), default="current")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Write (or complete) the dataset; print where it is."""
    from e2s_utils.data.synthetic import ensure_dataset

    args = build_parser().parse_args(argv)
    ensure_dataset(
        args.root,
        args.n,
        args.seed,
        progress=not args.no_progress,
        layout=args.layout,
        workers=args.workers,
    )
    print(f"synthetic dataset ready: {args.root} ({args.n} samples, seed {args.seed})")
    return 0
