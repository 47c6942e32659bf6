"""``e2s weights``: which official checkpoints each model expects, and which are present."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s weights`` options."""
    p = argparse.ArgumentParser(
        prog="e2s weights",
        description="List the official checkpoints each model loads and whether they are present.",
    )
    p.add_argument(
        "--dir", type=Path, default=None, help="weights folder (default E2S_WEIGHTS_DIR)"
    )
    p.add_argument("--hash", action="store_true", help="compute sha256 of present files")
    p.add_argument(
        "--download",
        nargs="*",
        metavar="MODEL",
        default=None,
        help="download these models' files (none named: all missing ones); needs network",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Print the status table (after downloading, with ``--download``)."""
    from e2s_utils import paths
    from e2s_utils.models.weights import download, format_status, status

    parser = build_parser()
    args = parser.parse_args(argv)
    folder = args.dir if args.dir is not None else paths.weights_dir()
    if args.download is not None:
        if folder is None:
            parser.error("--download needs --dir or E2S_WEIGHTS_DIR")
        names = args.download or sorted({r.model for r in status(folder) if not r.present})
        download(names, folder, progress=not args.no_progress)
    print(format_status(status(folder, compute_hash=args.hash), folder))
    return 0
