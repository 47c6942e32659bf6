"""The dev/eval split: the official assignment wherever it exists, a stamped fallback otherwise.

The compressor trains on the eval split (the samples that are later probed; labels are never read)
and validates its reconstruction on the dev split, as the paper did. Where the assignment comes
from, in order:

1. **folders**: the challenge-era layout's ``data_dev/`` and ``data_eval/`` (the official split);
2. **file**: a split file (CSV with columns ``id`` and ``split``, values ``dev`` / ``eval``) given
   by ``split_file=`` (``--split-file``) or ``E2S_SPLIT_FILE``, e.g. written from a challenge-era
   download by :func:`write_split_file`;
3. **hash fallback**: only when neither exists, an id goes to dev when the first 8 bytes of its
   sha256 read as a fraction fall below 5,149 / 13,260 (the challenge's dev share). This is not the
   paper's split: every figure, table and summary that depends on it says ``split: hash fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from e2s_utils import paths
from e2s_utils.data.reader import DataError, SampleIndex, challenge_layout, is_dev_id
from e2s_utils.io import atomic_write_text, ids_hash

SplitSource = Literal["folders", "file", "hash fallback"]


@dataclass(frozen=True)
class Split:
    """Dev and eval ids of a dataset and where the assignment came from.

    Attributes:
        dev: development-split ids (sorted).
        eval: evaluation-split ids (sorted).
        source: ``folders``, ``file`` or ``hash fallback``.
        file: the split file's name when ``source == "file"``.
    """

    dev: tuple[str, ...]
    eval: tuple[str, ...]
    source: SplitSource
    file: str | None = None

    @property
    def official(self) -> bool:
        """Whether the assignment is the official one (not the hash fallback)."""
        return self.source != "hash fallback"

    @property
    def stamp(self) -> str | None:
        """``split: hash fallback`` when the split is not official, else ``None``."""
        return None if self.official else "split: hash fallback"

    def describe(self) -> str:
        """One line: sizes and source."""
        where = {
            "folders": "official, challenge folders",
            "file": f"official, file {self.file}",
            "hash fallback": "hash fallback, NOT the paper's split",
        }[self.source]
        return f"dev {len(self.dev)}, eval {len(self.eval)} ({where})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able identity of the split (source and id hashes, for cache keys and manifests)."""
        return {
            "source": self.source,
            "file": self.file,
            "dev": ids_hash(self.dev),
            "eval": ids_hash(self.eval),
        }


def read_split_file(path: Path) -> dict[str, str]:
    """``id -> "dev" | "eval"`` from a split file.

    Raises:
        DataError: naming the file for a missing file, missing columns, a value other than
            ``dev`` / ``eval`` or an id listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} not found; check E2S_SPLIT_FILE / --split-file")
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise DataError(f"split file {path} is not a CSV with columns id,split ({err})") from err
    if not {"id", "split"} <= set(frame.columns):
        raise DataError(f"split file {path} needs the columns id and split, has {list(frame)}")
    frame["id"] = frame["id"].str.strip().str.replace(".zarr.zip", "", regex=False)
    frame["split"] = frame["split"].str.strip().str.lower()
    bad = frame[~frame["split"].isin(["dev", "eval"])]
    if len(bad):
        raise DataError(
            f"split file {path}: id {bad['id'].iloc[0]!r} has split {bad['split'].iloc[0]!r}; "
            "every split must be 'dev' or 'eval'"
        )
    dup = frame["id"][frame["id"].duplicated()]
    if len(dup):
        raise DataError(f"split file {path} lists id {dup.iloc[0]!r} more than once")
    return dict(zip(frame["id"], frame["split"], strict=True))


def load_split(root: Path, split_file: Path | None = None) -> Split:
    """The dataset's dev/eval split (see the module docstring for the order of sources).

    Args:
        root: the dataset root.
        split_file: a split file (default: ``E2S_SPLIT_FILE`` if set); ignored for the
            challenge-era layout, whose folders are the official split.

    Raises:
        DataError: for a split file that misses ids of the dataset or cannot be read.
    """
    index = SampleIndex.from_root(root)
    if challenge_layout(Path(root)):
        dev = [i for i in index.ids if index.splits[i] == "dev"]
        ev = [i for i in index.ids if index.splits[i] == "eval"]
        return Split(tuple(dev), tuple(ev), "folders")
    split_file = split_file or paths.split_file()
    if split_file is not None:
        assignment = read_split_file(split_file)
        missing = [i for i in index.ids if i not in assignment]
        if missing:
            raise DataError(
                f"split file {split_file} has no split for {len(missing)} id(s) of {root} "
                f"(e.g. {missing[0]}); use the split file of this dataset release"
            )
        dev = [i for i in index.ids if assignment[i] == "dev"]
        ev = [i for i in index.ids if assignment[i] == "eval"]
        return Split(tuple(dev), tuple(ev), "file", Path(split_file).name)
    dev = [i for i in index.ids if is_dev_id(i)]
    ev = [i for i in index.ids if not is_dev_id(i)]
    return Split(tuple(dev), tuple(ev), "hash fallback")


def write_split_file(split: Split, path: Path) -> Path:
    """Write a split as a split file (``id,split``, sorted by id), e.g. from challenge folders."""
    rows = [(i, "dev") for i in split.dev] + [(i, "eval") for i in split.eval]
    frame = pd.DataFrame(sorted(rows), columns=["id", "split"])
    return atomic_write_text(Path(path), frame.to_csv(index=False))
