"""``e2s lab``: open the study in JupyterLab, sources beside the latest executed copies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e2s_utils import config, paths


def build_parser() -> argparse.ArgumentParser:
    """The options of ``e2s lab``."""
    parser = argparse.ArgumentParser(
        prog="e2s lab",
        description="Open the study in JupyterLab: the source notebooks beside the latest executed "
        "copies of a profile, with this environment's kernel. Arguments after '--' go to "
        "JupyterLab (e.g. -- --IdentityProvider.token=secret).",
    )
    parser.add_argument(
        "--profile",
        choices=config.PROFILE_NAMES,
        default=None,
        help="whose executed copies to show (default: E2S_PROFILE, else 'full' when "
        "E2S_DATA_DIR is set, else 'demo')",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port to serve on (default: JupyterLab's, 8888)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open a browser; print the address"
    )
    parser.add_argument(
        "--lab-dir",
        type=Path,
        default=None,
        help="folder to prepare and serve (default: <output_root>/lab)",
    )
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=paths.NOTEBOOKS_DIR,
        help="folder of the source notebooks (default: the repository's)",
    )
    parser.add_argument(
        "--executed-dir",
        type=Path,
        default=None,
        help="folder of the executed copies (default: <output_root>/executed/<profile>)",
    )
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="prepare the lab folder, print where it is, and exit without starting JupyterLab",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Prepare the lab folder and become JupyterLab serving it (returns only on an error)."""
    from e2s_utils.explore import lab

    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    try:
        folder = lab.prepare(
            args.lab_dir,
            args.profile,
            notebooks_dir=args.notebooks_dir,
            executed_dir=args.executed_dir,
        )
    except (lab.LabError, config.ConfigError) as err:
        print(f"e2s lab: {err}", file=sys.stderr)
        return 2
    print(f"lab folder {folder.root}")
    print(f"  {folder.source.name}/  {folder.n_source} source notebook(s), no outputs")
    print(
        f"  {folder.executed.name}/  {folder.n_executed} executed copy(ies) of profile "
        f"'{folder.profile}'"
    )
    if not folder.n_executed:
        print(f"  (none yet: run 'e2s reproduce --profile {folder.profile}' to write them)")
    if args.prepare_only:
        return 0
    lab.launch(folder, port=args.port, open_browser=not args.no_browser, extra=extra)
    return 0  # not reached: launch() replaces this process with JupyterLab
