"""Embedding stores and the one loader from them to the compressor, probes and studies.

Modules: :mod:`~e2s_utils.store.layout` (where a store lives, how its ids are sharded),
:mod:`~e2s_utils.store.shards` (the resumable sharded store), :mod:`~e2s_utils.store.bulk`
(writing a whole store at once), :mod:`~e2s_utils.store.loader` (stores, split and labels in,
:class:`FusionData` out) and :mod:`~e2s_utils.store.csv` (the NeuCo-Bench embedding CSV).
"""

from __future__ import annotations

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
