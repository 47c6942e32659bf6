"""The submission: a checkpoint's 1024-d embeddings of every id as the NeuCo-Bench CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from e2s_utils.fusion.config import FusionError
from e2s_utils.fusion.curve import embed
from e2s_utils.store.csv import read_embeddings_csv, write_embeddings_csv
from e2s_utils.store.loader import FusionData


def write_submission(
    checkpoint: Path, data: FusionData, path: Path, *, float16: bool = False, device: str = "cpu"
) -> Path:
    """Write the checkpoint's embeddings of every id as the NeuCo-Bench CSV and validate it.

    Args:
        checkpoint: the chosen checkpoint (e.g. the best-Q̄ epoch's).
        data: the samples to embed (every id of the submission).
        path: the CSV to write (``id,0,...,1023``).
        float16: round values to float16 as the challenge submission did.
        device: torch device of the embedding.

    Returns:
        ``path``.

    Raises:
        FusionError: when the file read back by the benchmark-format reader differs.
    """
    X = embed(checkpoint, data, device=device)
    path = Path(path)
    write_embeddings_csv(path, data.ids, X, float16=float16)
    ids, back = read_embeddings_csv(path, embedding_dim=X.shape[1])
    expect = X.astype(np.float16).astype(np.float32) if float16 else X
    tol = 1e-3 if float16 else 1e-6
    same = list(ids) == list(data.ids) and back.shape == X.shape
    if not same or not np.allclose(back, expect, rtol=tol, atol=tol):
        raise FusionError(f"{path} does not read back as written; delete it and write it again")
    return path
