"""Data layer: the SSL4EO-S12-downstream reader, cube dataset, transforms, labels and synthetic data.

Everything downstream reads cubes and labels through this package. The heavy parts (the
synthetic generator, the real BigEarthNet example patches, the label readers and writers) are submodules:
``e2s_utils.data.synthetic``, ``e2s_utils.data.real``, ``e2s_utils.data.labels``,
``e2s_utils.data.transforms``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2s_utils.data.reader import (
    DEV_FRACTION,
    DataError,
    SampleIndex,
    is_dev_id,
    read_cube,
    sample_id,
    split_ids,
    write_cube,
    zarr_metadata,
)
from e2s_utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from e2s_utils.data.dataset import CubeDataset, SkipReport, collate_cubes, make_loader

_DATASET_NAMES = ("CubeDataset", "SkipReport", "collate_cubes", "make_loader")

__all__ = [
    "DEV_FRACTION",
    "CubeDataset",
    "DataError",
    "SampleIndex",
    "SkipReport",
    "collate_cubes",
    "is_dev_id",
    "make_loader",
    "read_cube",
    "sample_id",
    "split_ids",
    "write_cube",
    "zarr_metadata",
]


#: The dataset names import torch, which reading labels does not need.
__getattr__ = lazy_getattr(__name__, dict.fromkeys(_DATASET_NAMES, "dataset"))
