"""Dataset summaries for the data tour: cube anatomy, sampled values, no data, label coverage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from e2s_utils.bands import BANDS, MODALITIES, Modality
from e2s_utils.data.reader import SampleIndex, read_cube


def cube_table(cube: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per modality of a cube: shape, dtype, bands, value range, share of zeros."""
    rows = []
    for m in MODALITIES:
        if m not in cube:
            continue
        x = np.asarray(cube[m])
        rows.append(
            {
                "modality": m,
                "shape": "x".join(str(s) for s in x.shape),
                "dtype": str(x.dtype),
                "bands": " ".join(BANDS[m]),
                "min": float(x.min()),
                "median": float(np.median(x)),
                "max": float(x.max()),
                "zeros": float((x == 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def sample_values(
    index: SampleIndex,
    ids: Sequence[str],
    modalities: Iterable[Modality] = MODALITIES,
    stride: int = 8,
) -> dict[Modality, np.ndarray]:
    """Raw values of every band, sampled on a regular pixel grid over the given samples.

    Args:
        index: the dataset index.
        ids: samples to read.
        modalities: modalities to sample.
        stride: keep every ``stride``-th row and column.

    Returns:
        modality -> ``(C, N)`` float32 values (all seasons pooled; S2 zeros included).
    """
    out: dict[Modality, np.ndarray] = {}
    for m in modalities:
        parts = []
        for sid in ids:
            cube = read_cube(index.path(sid, m), m, sid)[:, :, ::stride, ::stride]
            parts.append(np.moveaxis(cube, 1, 0).reshape(cube.shape[1], -1))
        out[m] = np.concatenate(parts, axis=1)
    return out


def nodata_fractions(
    index: SampleIndex, ids: Sequence[str], modality: Modality = "s2l2a"
) -> pd.Series:
    """Fraction of zero values in each sample's S2 cube (the ``nodata`` task's definition)."""
    values = [float((read_cube(index.path(s, modality), modality, s) == 0).mean()) for s in ids]
    return pd.Series(values, index=pd.Index(list(ids), name="id"), name="nodata")


def label_coverage(tasks: Mapping[str, object], ids: Sequence[str]) -> pd.DataFrame:
    """Per task: kind, labelled ids, share of the dataset covered, ids unknown to the dataset, range."""
    known = set(ids)
    rows = []
    for name, task in sorted(tasks.items()):
        labels = task.labels  # type: ignore[attr-defined]
        present = [i for i in labels.index if i in known]
        rows.append(
            {
                "task": name,
                "kind": task.kind,  # type: ignore[attr-defined]
                "n": len(labels),
                "coverage": len(present) / max(len(known), 1),
                "unknown_ids": len(labels) - len(present),
                "min": float(labels.min()),
                "mean": float(labels.mean()),
                "max": float(labels.max()),
            }
        )
    return pd.DataFrame(rows)


def band_medians(
    values: Mapping[str, np.ndarray], modality: Modality = "s2l2a"
) -> dict[str, float]:
    """Per-band median of sampled values, S2 zeros (no data) left out."""
    v = values[modality]
    return {
        b: float(np.median(row[row > 0] if modality != "s1" else row))
        for b, row in zip(BANDS[modality], v)
    }


def greenest(index: SampleIndex, ids: Sequence[str]) -> str:
    """The id whose summer L2A image has the highest median NDVI (a telling example to show)."""
    nir, red = BANDS["s2l2a"].index("B08"), BANDS["s2l2a"].index("B04")

    def ndvi(sample: str) -> float:
        summer = read_cube(index.path(sample, "s2l2a"), "s2l2a", sample)[1]
        return float(np.median((summer[nir] - summer[red]) / (summer[nir] + summer[red] + 1.0)))

    return max(ids, key=ndvi)
