"""Torch ``Dataset`` of four-season cubes, its collate function and a ready DataLoader.

A sample is ``{"id": str, "s1": (4, 2, 264, 264), "s2l1c": (4, 13, 264, 264),
"s2l2a": (4, 12, 264, 264)}`` (float32 tensors, raw values: S2 digital numbers, S1 dB);
:func:`collate_cubes` stacks samples into ``(B, 4, C, 264, 264)`` tensors.

With ``on_error="skip"`` a bad sample (missing modality, unreadable file, wrong shape, NaN/inf)
does not stop a long run: ``__getitem__`` returns an error record, :func:`collate_cubes` drops
it and lists it under the batch's ``"skipped"`` key (this works across DataLoader worker
processes), and :attr:`CubeDataset.report` collects every skip seen in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from e2s_utils.bands import CUBE_SIZE, MODALITIES, N_BANDS, N_SEASONS, Modality
from e2s_utils.data.reader import DataError, OnError, SampleIndex, read_cube


@dataclass
class SkipReport:
    """Samples left out of a run and why.

    Attributes:
        skipped: ``(id, reason)`` pairs in the order they were met.
    """

    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, sample: str, reason: str) -> None:
        """Record one skipped sample (an id is recorded once)."""
        if sample not in self.ids:
            self.skipped.append((sample, reason))

    def update(self, batch: dict[str, Any]) -> None:
        """Record the skips a collated batch carries under ``"skipped"``."""
        for sample, reason in batch.get("skipped", []):
            self.add(sample, reason)

    @property
    def ids(self) -> list[str]:
        """The skipped ids."""
        return [s for s, _ in self.skipped]

    def __len__(self) -> int:
        return len(self.skipped)

    def __str__(self) -> str:
        if not self.skipped:
            return "no samples skipped"
        lines = [f"{len(self.skipped)} sample(s) skipped:"]
        lines += [f"  {s}: {r}" for s, r in self.skipped]
        return "\n".join(lines)


class CubeDataset(Dataset):
    """Four-season Sentinel-1/2 cubes read from zipped Zarr stores.

    Args:
        root_or_index: dataset root (any published layout) or a prepared :class:`SampleIndex`.
        ids: the ids to serve, in this order (default: every complete id of the index).
        modalities: the modalities read per sample.
        on_error: ``raise`` a :class:`DataError` on a bad sample, or ``skip`` it (see the module
            docstring) and record it in :attr:`report`.

    Raises:
        DataError: with ``on_error="raise"``, for incomplete ids or requested ids not found.
    """

    def __init__(
        self,
        root_or_index: Path | str | SampleIndex,
        ids: Sequence[str] | None = None,
        modalities: Iterable[Modality] = MODALITIES,
        on_error: OnError = "raise",
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.modalities: tuple[Modality, ...] = tuple(modalities)
        self.on_error: OnError = on_error
        self.report = SkipReport()
        if isinstance(root_or_index, SampleIndex):
            self.index = root_or_index
            missing_mods = [m for m in self.modalities if m not in self.index.modalities]
            if missing_mods:
                raise ValueError(f"index has no modalities {missing_mods}")
        else:
            self.index = SampleIndex.from_root(root_or_index, self.modalities, on_error=on_error)
        for sid, lacking in self.index.incomplete.items():
            if ids is None or sid in set(ids):
                self.report.add(sid, f"missing modality {lacking}")
        self.ids: list[str] = list(self.index.ids if ids is None else ids)
        known = set(self.index.ids) | set(self.index.incomplete)
        unknown = [s for s in self.ids if s not in known]
        if unknown and on_error == "raise":
            raise DataError(
                f"{len(unknown)} requested id(s) not found under {self.index.root}, e.g. "
                f"{unknown[0]}; check the ids or use on_error='skip'"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, sample: str) -> dict[str, Any]:
        """Read one sample by id (raises :class:`DataError` whatever the policy)."""
        out: dict[str, Any] = {"id": sample}
        for m in self.modalities:
            path = self.index.path(sample, m)
            out[m] = torch.from_numpy(read_cube(path, m, sample))
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = self.ids[i]
        try:
            return self.load(sample)
        except DataError as exc:
            if self.on_error == "raise":
                raise
            self.report.add(sample, str(exc))
            return {"id": sample, "error": str(exc), "modalities": self.modalities}


def collate_cubes(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack cube dicts into a batch, dropping error records of skipped samples.

    Args:
        samples: items of a :class:`CubeDataset`.

    Returns:
        ``{"id": [ids], <modality>: Tensor (B, 4, C, 264, 264), "skipped": [(id, reason)]}``;
        a batch whose samples were all skipped has ``id == []`` and empty ``(0, ...)`` tensors.
    """
    good = [s for s in samples if "error" not in s]
    skipped = [(s["id"], s["error"]) for s in samples if "error" in s]
    if good:
        modalities = [k for k in good[0] if k not in ("id", "error", "modalities")]
    else:
        modalities = list(samples[0]["modalities"]) if samples else []
    batch: dict[str, Any] = {"id": [s["id"] for s in good], "skipped": skipped}
    for m in modalities:
        if good:
            batch[m] = torch.stack([s[m] for s in good])
        else:
            batch[m] = torch.empty((0, N_SEASONS, N_BANDS[m], CUBE_SIZE, CUBE_SIZE))  # type: ignore[index]
    return batch


def make_loader(
    dataset: CubeDataset,
    batch_size: int = 8,
    num_workers: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over a :class:`CubeDataset` using :func:`collate_cubes`.

    Args:
        dataset: the cubes.
        batch_size: samples per batch.
        num_workers: worker processes (each opens its own files; nothing is shared).
        shuffle: shuffle with a generator seeded by ``seed`` (reproducible order).
        seed: seed of the shuffling generator.
        pin_memory: pin batches for faster host-to-GPU copies.

    Returns:
        The loader; iterate it and call ``dataset.report.update(batch)`` to collect skips made
        inside worker processes.
    """
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_cubes,
        generator=generator,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
