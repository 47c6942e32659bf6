"""Embedding stores and the one loader from them to the compressor, probes and studies.

Modules: :mod:`~e2s_utils.store.layout` (where a store lives, how its ids are sharded),
:mod:`~e2s_utils.store.shards` (the resumable sharded store), :mod:`~e2s_utils.store.bulk`
(writing a whole store at once), :mod:`~e2s_utils.store.loader` (stores, split and labels in,
:class:`FusionData` out) and :mod:`~e2s_utils.store.csv` (the NeuCo-Bench embedding CSV).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2s_utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from e2s_utils.store.bulk import write_embeddings
    from e2s_utils.store.csv import EmbeddingFileError, read_embeddings_csv, write_embeddings_csv
    from e2s_utils.store.layout import (
        DEFAULT_SHARD_SIZE,
        owned_shards,
        parse_shard,
        shard_of,
        store_path,
    )
    from e2s_utils.store.loader import (
        FusionData,
        FusionSplits,
        InputError,
        Setting,
        StudyInputs,
        canonical_order,
        flatten,
        load_inputs,
        restrict_tasks,
    )
    from e2s_utils.store.shards import EmbeddingStore, StoreConfigError, StoreError

#: Every name on first use: the store modules import pandas (and the loader torch), which
#: reading one embedding CSV does not need.
_WHERE = {
    "write_embeddings": "bulk",
    "EmbeddingFileError": "csv",
    "read_embeddings_csv": "csv",
    "write_embeddings_csv": "csv",
    "DEFAULT_SHARD_SIZE": "layout",
    "owned_shards": "layout",
    "parse_shard": "layout",
    "shard_of": "layout",
    "store_path": "layout",
    "FusionData": "loader",
    "FusionSplits": "loader",
    "InputError": "loader",
    "Setting": "loader",
    "StudyInputs": "loader",
    "canonical_order": "loader",
    "flatten": "loader",
    "load_inputs": "loader",
    "restrict_tasks": "loader",
    "EmbeddingStore": "shards",
    "StoreConfigError": "shards",
    "StoreError": "shards",
}

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "EmbeddingFileError",
    "EmbeddingStore",
    "FusionData",
    "FusionSplits",
    "InputError",
    "Setting",
    "StoreConfigError",
    "StoreError",
    "StudyInputs",
    "canonical_order",
    "flatten",
    "load_inputs",
    "owned_shards",
    "parse_shard",
    "read_embeddings_csv",
    "restrict_tasks",
    "shard_of",
    "store_path",
    "write_embeddings",
    "write_embeddings_csv",
]

__getattr__ = lazy_getattr(__name__, _WHERE)
