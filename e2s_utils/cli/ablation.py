"""``e2s ablation``: run the ablation study and write Table 1 and the per-task heatmap."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s ablation`` options."""
    from e2s_utils.config import PROFILE_NAMES
    from e2s_utils.evaluate.protocol import PROTOCOL_NAMES

    p = argparse.ArgumentParser(prog="e2s ablation", description=__doc__.splitlines()[0])
    p.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help="profile (default: E2S_PROFILE, else by data)",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOL_NAMES,
        default=None,
        help="benchmark protocol (default: the profile's)",
    )
    p.add_argument("--seeds", type=int, default=None, help="compressor seeds per row")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per compressor")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the study; save and print Table 1 and its summary."""
    from e2s_utils import config, studies

    args = build_parser().parse_args(argv)
    ctx = config.setup(
        "40_ablation",
        profile=args.profile,
        protocol=args.protocol,
        ablation_seeds=args.seeds,
        ablation_epochs=args.epochs,
    )
    progress = ctx.profile.progress and not args.no_progress
    runs = studies.ablation_runs(ctx.profile)
    inputs = studies.prepare_inputs(
        ctx, studies.stores_needed(runs, ctx.profile), progress=progress
    )
    results = studies.run_ablation(
        ctx.profile, inputs, ctx.out_dir / "ablation", device=ctx.device, progress=progress
    )
    out = studies.save_ablation(ctx, results, len(inputs.probe_ids))
    print(out.shown.to_string(index=False))
    print(out.text)
    return 0
