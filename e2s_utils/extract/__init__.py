"""Extraction: each model's embeddings of every cube into its resumable embedding store.

Modules: :mod:`~e2s_utils.extract.run` (one store: the batched, resumable, sharded loop),
:mod:`~e2s_utils.extract.many` (several stores in one pass over the cubes),
:mod:`~e2s_utils.extract.job` (one store's configuration, fit and bookkeeping, shared by both)
and :mod:`~e2s_utils.extract.report` (resources, recipe and embedding tables).
"""

from __future__ import annotations

from e2s_utils.extract.job import Job
from e2s_utils.extract.many import extract_many
from e2s_utils.extract.report import (
    RESOURCE_COLUMNS,
    RESOURCE_SUMMARY_COLUMNS,
    ExtractReport,
    append_resources,
    embedding_summary,
    read_resources,
    recipe_table,
    resources_path,
)
from e2s_utils.extract.run import (
    DEFAULT_FIT_SAMPLES,
    data_fingerprint,
    extract,
    fit_subset,
    shard_from_env,
    store_config,
)

__all__ = [
    "DEFAULT_FIT_SAMPLES",
    "RESOURCE_COLUMNS",
    "RESOURCE_SUMMARY_COLUMNS",
    "ExtractReport",
    "Job",
    "append_resources",
    "data_fingerprint",
    "embedding_summary",
    "extract",
    "extract_many",
    "fit_subset",
    "read_resources",
    "recipe_table",
    "resources_path",
    "shard_from_env",
    "store_config",
]
