"""``e2s long``: the long-training run, its checkpoints' scores and the double-descent verdict."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s long`` options."""
    from e2s_utils.config import PROFILE_NAMES
    from e2s_utils.evaluate.protocol import PROTOCOL_NAMES

    p = argparse.ArgumentParser(prog="e2s long", description=__doc__.splitlines()[0])
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
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--checkpoints", type=int, default=None, help="log-spaced checkpoints")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train (resuming), evaluate every checkpoint, state what the curves show."""
    from e2s_utils import config, studies

    args = build_parser().parse_args(argv)
    ctx = config.setup(
        "50_long_training",
        profile=args.profile,
        protocol=args.protocol,
        long_epochs=args.epochs,
        long_n_checkpoints=args.checkpoints,
    )
    progress = ctx.profile.progress and not args.no_progress
    preset = ctx.profile.extract.preset
    stores = [(m, preset) for m in ctx.profile.fusion.models]
    inputs = studies.prepare_inputs(ctx, stores, progress=progress)
    result = studies.run_long(
        ctx.profile, inputs, ctx.out_dir / "long_training", device=ctx.device, progress=progress
    )
    print(studies.save_long(ctx, result).text)
    return 0
