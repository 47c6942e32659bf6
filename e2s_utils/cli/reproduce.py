"""``e2s reproduce``: run the study's notebooks in order with papermill, checked before and after."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The runner's options."""
    from e2s_utils import config, paths

    p = argparse.ArgumentParser(
        prog="e2s reproduce",
        description="Run the study's notebooks in order with papermill (executed copies go to "
        "<output_root>/executed/<profile>/).",
    )
    p.add_argument(
        "--profile",
        choices=config.PROFILE_NAMES,
        default=None,
        help="default: E2S_PROFILE, else 'full' when E2S_DATA_DIR is set, else 'demo'",
    )
    p.add_argument("--only", nargs="+", metavar="NB", help="run only these notebooks (stem or NN)")
    p.add_argument("--from", dest="start_from", metavar="NB", help="start at this notebook")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a notebook parameter (repeatable)",
    )
    p.add_argument("--log-output", action="store_true", help="stream cell output to the log")
    p.add_argument("--dry-run", action="store_true", help="check and list the jobs, run nothing")
    p.add_argument(
        "--notebooks-dir",
        type=Path,
        default=paths.NOTEBOOKS_DIR,
        help="folder of the source notebooks (default: the repository's)",
    )
    p.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start a fresh kernel for every notebook (default: one shared kernel, its namespace "
        "cleared between notebooks, so heavy imports are paid once)",
    )
    p.add_argument(
        "--executed-dir",
        type=Path,
        default=None,
        help="folder of executed copies (default: <output_root>/executed)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Plan (checking every parameter), execute, report; exit 1 naming a failed notebook's cell."""
    from e2s_utils import config, paths
    from e2s_utils.run import execute, parse_value, plan, record_complete_run

    args = build_parser().parse_args(argv)
    overrides = {name: parse_value(value) for name, value in args.parameter}
    profile_name = args.profile or config.default_profile_name()
    profile = config.get_profile(
        profile_name, **{k: v for k, v in overrides.items() if k in config.PARAMETERS}
    )
    jobs = plan(
        profile_name,
        only=args.only,
        start_from=args.start_from,
        overrides=overrides,
        notebooks_dir=args.notebooks_dir,
        executed_dir=args.executed_dir,
    )
    if profile.data.synthetic:
        print(
            f"profile '{profile_name}': SYNTHETIC data in the real format and randomly "
            "initialised models; every figure says so. Set E2S_DATA_DIR and E2S_WEIGHTS_DIR "
            "and use --profile full for the paper's setting."
        )
    else:
        print(f"profile '{profile_name}': real data from {paths.data_dir()}")
    print(f"{len(jobs)} notebook run(s); executed copies in {jobs[0].output.parent}")
    if args.dry_run:
        for job in jobs:
            print(f"  {job.label}: {json.dumps(job.parameters)}")
        return 0
    summary = execute(
        jobs, profile, log_output=args.log_output, shared_kernel=not args.fresh_kernels
    )
    print()
    print(summary.table())
    failed = [r for r in summary.results if r.status != "ok"]
    if failed:
        print(f"\nFAILED: {failed[0].message}", file=sys.stderr)
        return 1
    complete = not (args.only or args.start_from or args.parameter)
    if complete and args.notebooks_dir.resolve() == paths.NOTEBOOKS_DIR.resolve():
        record_complete_run(summary, profile_name)
    return 0
