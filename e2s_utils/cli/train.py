"""``e2s train``: train the fusion compressor on extracted stores, score it, write a submission."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s train`` options."""
    from e2s_utils.evaluate.protocol import PROTOCOL_NAMES

    p = argparse.ArgumentParser(
        prog="e2s train", description="Train the fusion compressor on extracted embedding stores."
    )
    p.add_argument(
        "--out", type=Path, required=True, help="stage output folder (holds embeddings/)"
    )
    p.add_argument("--models", required=True, help="comma-separated model names, e.g. dofa,croma")
    p.add_argument("--preset", default="as_intended", choices=["as_intended", "as_published_code"])
    p.add_argument("--size", default="full", choices=["micro", "tiny", "full"])
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="dataset root for the split and labels (default: E2S_DATA_DIR, else OUT/synthetic)",
    )
    p.add_argument(
        "--split-file",
        type=Path,
        default=None,
        help="official dev/eval split file id,split (default E2S_SPLIT_FILE)",
    )
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--inductive",
        action="store_true",
        help="train on the dev split, validate and probe on the eval split",
    )
    p.add_argument("--evaluate", action="store_true", help="evaluate every checkpoint afterwards")
    p.add_argument("--protocol", choices=PROTOCOL_NAMES, default="paper")
    p.add_argument(
        "--submission",
        type=Path,
        default=None,
        help="CSV of the best-Q-bar (with --evaluate) else best-MSE embeddings",
    )
    p.add_argument("--float16", action="store_true", help="write the submission in float16")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train (resuming), optionally evaluate every checkpoint, optionally write a submission."""
    from e2s_utils import fusion, paths
    from e2s_utils.evaluate import get_protocol
    from e2s_utils.io import atomic_write_text
    from e2s_utils.runtime import pick_device
    from e2s_utils.store import Setting, load_inputs

    args = build_parser().parse_args(argv)
    data_root = args.data_root or paths.data_dir() or args.out / "synthetic"
    device = pick_device(args.device)
    config = fusion.FusionConfig(
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        epochs=args.epochs,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )
    setting: Setting = "inductive" if args.inductive else "transductive"
    inputs = load_inputs(
        data_root, args.out, args.size, setting=setting, split_file=args.split_file
    )
    print(f"split: {inputs.split.describe()}")
    data = inputs.splits(config.models, args.preset)
    run_dir = fusion.run_dir_for(args.out, config, data, args.preset, args.size)
    print(f"run directory: {run_dir}")
    history = fusion.train(
        config, data.train, data.val, run_dir, device=device, progress=not args.no_progress
    )
    print(history.tail(3).to_string(index=False))
    chosen = run_dir / fusion.BEST_VAL
    if args.evaluate:
        protocol = get_protocol(args.protocol)
        table = fusion.evaluate_checkpoints(
            run_dir,
            data.probe,
            inputs.tasks,
            protocol,
            device=device,
            progress=not args.no_progress,
        )
        atomic_write_text(run_dir / "checkpoint_scores.csv", table.to_csv(index=False))
        best = fusion.best_checkpoints(table)
        bq, bm = best["best_q"], best["best_mse"]
        print(
            f"protocol {protocol.label()}: best Q-bar {bq['q_bar']:.3f} at epoch "
            f"{bq['epoch']}, best val MSE {bm['val_mse']:.4g} at epoch {bm['epoch']}"
        )
        chosen = run_dir / best["best_q"]["checkpoint"]
    if args.submission is not None:
        fusion.write_submission(
            chosen, data.probe, args.submission, float16=args.float16, device=device
        )
        print(f"submission ({chosen.name}): {args.submission}")
    return 0
