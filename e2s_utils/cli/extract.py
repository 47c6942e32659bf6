"""``e2s extract``: one model's embeddings into its resumable store.

Under ``torchrun`` the shard defaults to ``RANK/WORLD_SIZE`` and the CUDA device to ``LOCAL_RANK``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s extract`` options."""
    from e2s_utils.extract.run import DEFAULT_FIT_SAMPLES
    from e2s_utils.store.layout import DEFAULT_SHARD_SIZE

    p = argparse.ArgumentParser(
        prog="e2s extract",
        description="Extract one model's embeddings into the resumable embedding store.",
    )
    p.add_argument("--model", required=True, help="registry name, e.g. dofa, croma, rcf")
    p.add_argument("--preset", default="as_intended", choices=("as_intended", "as_published_code"))
    p.add_argument("--size", default="full", choices=("micro", "tiny", "full"))
    p.add_argument("--data", type=Path, default=None, help="dataset root (default E2S_DATA_DIR)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default E2S_OUTPUT_DIR)")
    p.add_argument(
        "--shard",
        default=None,
        help="i/n: compute every n-th shard starting at i (default RANK/WORLD_SIZE)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:i")
    p.add_argument("--amp", action="store_true", help="autocast (bf16 on CPU, fp16 on CUDA)")
    p.add_argument("--on-error", default="raise", choices=("raise", "skip"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights-dir", type=Path, default=None, help="default E2S_WEIGHTS_DIR")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="ids per shard")
    p.add_argument("--fit-samples", type=int, default=DEFAULT_FIT_SAMPLES)
    p.add_argument("--ids-file", type=Path, default=None, help="text file, one id per line")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Extract (or resume); print what was done. Project errors reach the dispatcher."""
    from e2s_utils import paths
    from e2s_utils.data import DataError
    from e2s_utils.extract import extract, shard_from_env
    from e2s_utils.store import parse_shard

    args = build_parser().parse_args(argv)
    data = args.data or paths.data_dir()
    if data is None:
        raise DataError("no dataset: pass --data DIR or set E2S_DATA_DIR (or `e2s synth`)")
    try:
        shard = parse_shard(args.shard) if args.shard else shard_from_env()
    except ValueError as err:
        raise DataError(str(err)) from None
    ids = None
    if args.ids_file is not None:
        ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    report = extract(
        args.model,
        args.preset,
        args.size,
        data,
        args.out or paths.output_root(),
        ids=ids,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        amp=args.amp,
        shard=shard,
        seed=args.seed,
        weights_dir=args.weights_dir,
        on_error=args.on_error,
        progress=not args.no_progress,
        shard_size=args.shard_size,
        fit_samples=args.fit_samples,
    )
    print(
        f"{report.model} ({report.preset}, {report.size}) shard {report.shard}: "
        f"{report.n_samples} embedded, {report.n_skipped} skipped, "
        f"{len(report.shards_written)} shards written, {len(report.shards_reused)} reused, "
        f"{report.samples_per_s:.2f} samples/s on {report.device}; store "
        f"{'complete' if report.complete else 'incomplete'}: {report.store}"
    )
    for sid, reason in report.skipped.items():
        print(f"skipped {sid}: {reason}", file=sys.stderr)
    return 0
