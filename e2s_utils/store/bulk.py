"""Writing a whole embedding store in one go: tests, small baselines, imported or simulated embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from e2s_utils.store.layout import DEFAULT_SHARD_SIZE
from e2s_utils.store.shards import EmbeddingStore


def write_embeddings(
    path: Path,
    ids: list[str],
    array: np.ndarray,
    meta: Mapping[str, Any],
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> EmbeddingStore:
    """Write a whole store in one go (tests, small baselines, imported embeddings).

    Args:
        path: the store folder.
        ids: ids in store order.
        array: float32-castable ``(n, C, T)``.
        meta: the configuration recorded in the manifest (and hashed).
        shard_size: ids per shard.

    Returns:
        The finalised store.

    Raises:
        StoreConfigError: if ``path`` holds a store of another configuration.
        ValueError: if ``array`` does not have one ``(C, T)`` row per id.
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[0] != len(ids):
        raise ValueError(
            f"write_embeddings({path}): array must be (n, C, T) with n = {len(ids)} ids, "
            f"got {array.shape}"
        )
    store = EmbeddingStore(path)
    store.create(meta, list(ids), (array.shape[1], array.shape[2]), shard_size=shard_size)
    for j in store.pending_shards():
        lo = j * store.shard_size
        hi = lo + store.shard_size
        store.write_shard(j, list(ids[lo:hi]), array[lo:hi])
    store.finalize()
    return store
