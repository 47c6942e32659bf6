"""The NeuCo-Bench embedding file: a CSV with header ``id,0,...,D-1`` and one row per id.

:func:`write_embeddings_csv` writes it (optionally rounding to float16, as the challenge
submissions did); :func:`read_embeddings_csv` reads and validates one as the benchmark does
(embedding columns are the all-digit column names in numeric order, other columns ignored; ids lose
their ``.zarr`` suffix; empty or NaN cells become 0 with a warning), and names the file and the fix
for anything it cannot use. A well-formed file (header ``id,0,...,D-1``, plain numbers) is read
by the compiled :mod:`~e2s_utils.store.csv_fast` without pandas; anything else by pandas here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from e2s_utils.data.labels import normalize_id
from e2s_utils.errors import E2SError
from e2s_utils.io import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


class EmbeddingFileError(E2SError, ValueError):
    """An embedding CSV that cannot be read (the message names the file and the fix)."""


def write_embeddings_csv(
    path: Path, ids: Sequence[str], X: np.ndarray, float16: bool = False
) -> Path:
    """Write the NeuCo-Bench CSV: header ``id,0,...,D-1``, one row per id (atomically).

    Args:
        path: destination file.
        ids: sample ids (a ``.zarr.zip`` suffix is removed).
        X: ``(n, D)`` embeddings.
        float16: round the values to float16 first, as the challenge submissions did.

    Returns:
        The path.

    Raises:
        EmbeddingFileError: when ``X`` does not have one row per id.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != len(ids):
        raise EmbeddingFileError(f"need one row per id: {len(ids)} ids, matrix of shape {X.shape}")
    import pandas as pd

    values = X.astype(np.float16) if float16 else X.astype(np.float32)
    frame = pd.DataFrame(values.astype(np.float64), columns=[str(i) for i in range(X.shape[1])])
    frame.insert(0, "id", [normalize_id(i) for i in ids])
    text = frame.to_csv(index=False, float_format="%.5g" if float16 else "%.9g")
    return atomic_write_text(Path(path), text)


def _read_frame(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise EmbeddingFileError(f"embedding file {path} not found; check the path")
    try:
        frame = pd.read_csv(path, dtype={"id": str}, low_memory=False)
    except pd.errors.EmptyDataError as err:
        raise EmbeddingFileError(
            f"embedding file {path} is empty; write a header id,0,1,... and one row per id"
        ) from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise EmbeddingFileError(f"embedding file {path} is not a readable CSV ({err})") from err
    if "id" not in frame.columns:
        raise EmbeddingFileError(
            f"embedding file {path} has no 'id' column; the header must be id,0,1,..."
        )
    if frame.empty:
        raise EmbeddingFileError(
            f"embedding file {path} has a header but no rows; write one row per id"
        )
    return frame


def read_embeddings_csv(
    path: Path, embedding_dim: int | None = None, threads: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Read and validate a NeuCo-Bench embedding CSV.

    Args:
        path: the CSV.
        embedding_dim: expected dimension: more columns is an error, fewer are zero-padded.
        threads: threads of the compiled reader (default
            :func:`~e2s_utils.runtime.cpu_threads`).

    Returns:
        ``(ids, X)`` with ``X`` float32 ``(n, D)``.

    Raises:
        EmbeddingFileError: a missing, empty or header-only file, no ``id`` or embedding column,
            repeated ids, a non-numeric cell, or more dimensions than ``embedding_dim``.
    """
    path = Path(path)
    if path.is_file():  # the common well-formed file: compiled, without pandas
        from e2s_utils.store.csv_fast import read_embeddings_fast

        fast = read_embeddings_fast(path, embedding_dim, threads)
        if fast is not None:
            return fast
    import pandas as pd

    frame = _read_frame(path)
    cols = sorted((c for c in frame.columns if str(c).isdigit()), key=int)
    if not cols:
        raise EmbeddingFileError(f"embedding file {path} has no embedding column named 0, 1, ...")
    if embedding_dim is not None and len(cols) > embedding_dim:
        raise EmbeddingFileError(
            f"embedding file {path} has {len(cols)} dimensions, more than the expected "
            f"{embedding_dim}; write at most {embedding_dim} columns"
        )
    ids = [normalize_id(i) for i in frame["id"].astype(str)]
    series = pd.Series(ids)
    dup = series[series.duplicated()].unique()
    if len(dup):
        raise EmbeddingFileError(
            f"embedding file {path} lists {len(dup)} id(s) more than once (first: {dup[0]!r}); "
            "keep one row per id"
        )
    block = frame[cols]
    for c in cols:
        if not pd.api.types.is_numeric_dtype(block[c]):
            coerced = pd.to_numeric(block[c], errors="coerce")
            row = int(np.flatnonzero((coerced.isna() & block[c].notna()).to_numpy())[0])
            raise EmbeddingFileError(
                f"embedding file {path}: value {block[c].iloc[row]!r} in column {c} of id "
                f"{ids[row]!r} is not a number"
            )
    X = block.to_numpy(dtype=np.float32)
    nan = ~np.isfinite(X)
    if nan.any():
        warnings.warn(
            f"embedding file {path}: {int(nan.sum())} empty/NaN/inf value(s) set to 0",
            stacklevel=2,
        )
        X[nan] = 0.0
    if embedding_dim is not None and X.shape[1] < embedding_dim:
        X = np.pad(X, ((0, 0), (0, embedding_dim - X.shape[1])))
    return ids, X
