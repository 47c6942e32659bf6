"""Data layer: the SSL4EO-S12-downstream reader, cube dataset, transforms, labels and synthetic data.

Everything downstream reads cubes and labels through this package. The heavy parts (the
synthetic generator, the real BigEarthNet example patches, the label readers and writers) are submodules:
``e2s_utils.data.synthetic``, ``e2s_utils.data.real``, ``e2s_utils.data.labels``,
``e2s_utils.data.transforms``.
"""

from __future__ import annotations

from e2s_utils.data.dataset import CubeDataset, SkipReport, collate_cubes, make_loader
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
