"""``e2s split``: which dev/eval split a dataset gets, and the official split file from folders."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The ``e2s split`` options."""
    p = argparse.ArgumentParser(prog="e2s split", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="dataset root (default E2S_DATA_DIR)")
    p.add_argument(
        "--split-file",
        type=Path,
        default=None,
        help="a split file to check against the dataset (default E2S_SPLIT_FILE)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the split as a split file (id,split), e.g. from challenge folders",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Print the split's source and sizes; write it as a file with ``--out``."""
    from e2s_utils import paths
    from e2s_utils.data import DataError
    from e2s_utils.data.splits import load_split, write_split_file

    args = build_parser().parse_args(argv)
    root = args.data or paths.data_dir()
    if root is None:
        raise DataError("no dataset: pass --data DIR or set E2S_DATA_DIR")
    split = load_split(root, args.split_file)
    print(f"{root}: {split.describe()}")
    if args.out is not None:
        write_split_file(split, args.out)
        print(f"split file written: {args.out} ({len(split.dev) + len(split.eval)} ids)")
    return 0
