"""The one loader from the embedding stores to the compressor, the probes and the studies.

:class:`FusionData` holds per-model raw embeddings ``(n, C, T)`` of the same ids in the same row
order, in the registry's canonical model order; :meth:`FusionData.flat` is the compressor's input
(channel-major, time fastest: ``x[c * T + t] = emb[c, t]``, concatenated over models), the one
place that layout is written. :func:`load_inputs` reads a dataset's split and labels and gives a
:class:`StudyInputs` that serves every stage (notebooks 30, 40, 50, 60 and ``e2s train``) the same
way: the compressor's training and validation data, the probed samples and the tasks restricted to
them.

Settings: ``transductive`` (the paper: the compressor trains on the eval split, whose samples are
later probed, labels never read, and validates on the dev split) or ``inductive`` (trains on dev,
validates and probes on eval, so the probed samples are never trained on).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from e2s_utils.io import config_hash, ids_hash
from e2s_utils.store.layout import store_path
from e2s_utils.store.shards import EmbeddingStore, StoreError

if TYPE_CHECKING:
    from e2s_utils.data.labels import LabelTask
    from e2s_utils.data.splits import Split

Setting = Literal["transductive", "inductive"]
SETTINGS: tuple[Setting, ...] = ("transductive", "inductive")


class InputError(StoreError, ValueError):
    """Embeddings that do not fit together (ids, shapes, NaN); the message says the fix."""


def canonical_order(models: Iterable[str]) -> tuple[str, ...]:
    """Sort model names into the registry's canonical order (unregistered names after, A-Z).

    Raises:
        InputError: for an empty list or a repeated name.
    """
    from e2s_utils.models import catalog

    models = list(models)
    if not models:
        raise InputError("at least one model is needed; pass e.g. models=('dofa',)")
    try:
        return catalog.canonical_order(models)
    except ValueError as err:
        raise InputError(str(err)) from None


def flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate ``(n, C, T)`` arrays channel-major (time fastest) into float32 ``(n, sum C*T)``."""
    n = arrays[0].shape[0] if arrays else 0
    return np.concatenate([np.asarray(a).reshape(n, -1) for a in arrays], axis=1).astype(
        np.float32, copy=False
    )


@dataclass
class FusionData:
    """Per-model raw embeddings of the same ids, in the same row order.

    Attributes:
        ids: sample ids, one per row.
        inputs: model name -> float32 array ``(n, C, T)`` of raw embeddings.
    """

    ids: list[str]
    inputs: dict[str, np.ndarray]
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        if not self.inputs:
            raise InputError("FusionData needs at least one model's embeddings")
        if len(set(self.ids)) != len(self.ids):
            dup = pd.Series(self.ids)[pd.Series(self.ids).duplicated()].iloc[0]
            raise InputError(f"FusionData ids repeat (first repeat {dup!r}); pass each id once")
        n = len(self.ids)
        for name, arr in list(self.inputs.items()):
            arr = np.asarray(arr)
            if arr.ndim != 3:
                raise InputError(
                    f"embeddings of model {name!r} have shape {arr.shape}; expected (n, C, T)"
                )
            if arr.shape[0] != n:
                raise InputError(
                    f"embeddings of model {name!r} have {arr.shape[0]} rows for {n} ids; "
                    "read every store with the same ids"
                )
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            finite = np.isfinite(arr).reshape(n, -1).all(axis=1)
            if not finite.all():
                bad = self.ids[int(np.flatnonzero(~finite)[0])]
                raise InputError(
                    f"embeddings of model {name!r} hold NaN/inf for id {bad!r} "
                    f"({int((~finite).sum())} rows); re-extract that model's store"
                )
            self.inputs[name] = arr

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.ids)

    @property
    def models(self) -> tuple[str, ...]:
        """The models present, in canonical order."""
        return canonical_order(self.inputs)

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """Model name -> per-sample ``(C, T)``, in canonical order."""
        return {
            m: (int(self.inputs[m].shape[1]), int(self.inputs[m].shape[2])) for m in self.models
        }

    def subset(self, ids: Sequence[str]) -> FusionData:
        """The rows of ``ids`` (in that order).

        Raises:
            InputError: naming ids that are not present.
        """
        pos = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in pos]
        if missing:
            raise InputError(f"{len(missing)} ids are not in this data, e.g. {missing[:3]}")
        rows = np.array([pos[i] for i in ids], dtype=np.int64)
        return FusionData(list(ids), {m: a[rows] for m, a in self.inputs.items()})

    def select(self, models: Iterable[str]) -> FusionData:
        """Only the given models' inputs (same ids)."""
        models = canonical_order(models)
        missing = [m for m in models if m not in self.inputs]
        if missing:
            raise InputError(f"models {missing} are not in this data (it holds {self.models})")
        return FusionData(list(self.ids), {m: self.inputs[m] for m in models})

    def flat(self, models: Sequence[str] | None = None) -> np.ndarray:
        """The compressor's input matrix ``(n, sum C*T)`` in canonical model order."""
        models = self.models if models is None else canonical_order(models)
        return flatten([self.inputs[m] for m in models])

    def fingerprint(self) -> str:
        """sha256 over ids, model names, shapes and every embedding byte (cached)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update("\n".join(self.ids).encode())
            for m in self.models:
                arr = self.inputs[m]
                h.update(f"|{m}|{arr.shape}|".encode())
                h.update(np.ascontiguousarray(arr).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


def _tasks_fingerprint(tasks: Mapping[str, LabelTask]) -> str:
    h = hashlib.sha256()
    for name in sorted(tasks):
        task = tasks[name]
        series = task.labels.sort_index()
        h.update(f"{name}|{task.kind}|{len(series)}|".encode())
        h.update("\n".join(map(str, series.index)).encode())
        h.update(np.ascontiguousarray(series.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def restrict_tasks(tasks: Mapping[str, LabelTask], ids: Sequence[str]) -> dict[str, LabelTask]:
    """The tasks with labels only for ``ids`` (the probed samples); tasks left empty are dropped.

    The label files cover every split; probing one split would otherwise warn about every
    labelled id of the other.
    """
    keep = pd.Index([str(i) for i in ids])
    out = {}
    for name, task in tasks.items():
        labels = task.labels[task.labels.index.isin(keep)]
        if len(labels):
            listed = task.listed_ids[task.listed_ids.isin(keep)]
            out[name] = dataclasses.replace(task, labels=labels, listed=listed)
    return out


@dataclass
class FusionSplits:
    """The data one compressor run needs.

    Attributes:
        train: what the compressor trains on.
        val: where its reconstruction MSE is validated.
        probe: the probed samples (whose embeddings are evaluated and submitted).
        setting: ``transductive`` or ``inductive``.
    """

    train: FusionData
    val: FusionData
    probe: FusionData
    setting: Setting


@dataclass
class StudyInputs:
    """Everything a stage reads besides its own configuration: stores, split and tasks.

    Attributes:
        out_dir: the profile's output folder (holds ``embeddings/``).
        size: model size of the stores.
        split: the dataset's dev/eval split (:func:`e2s_utils.data.splits.load_split`).
        setting: ``transductive`` (the paper) or ``inductive``.
        tasks: the label tasks restricted to the probed ids.
    """

    out_dir: Path
    size: str
    split: Split
    setting: Setting
    tasks: dict[str, LabelTask]
    _cache: dict[tuple[str, str, int | None], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    @property
    def train_ids(self) -> list[str]:
        """The compressor's training ids (eval split when transductive, dev when inductive)."""
        return list(self.split.eval if self.setting == "transductive" else self.split.dev)

    @property
    def val_ids(self) -> list[str]:
        """The compressor's validation ids (the other split)."""
        return list(self.split.dev if self.setting == "transductive" else self.split.eval)

    @property
    def probe_ids(self) -> list[str]:
        """The probed ids: always the eval split."""
        return list(self.split.eval)

    def store(self, model: str, preset: str, init_seed: int | None = None) -> EmbeddingStore:
        """The store of one model and preset (and initialisation seed variant).

        Raises:
            StoreError: when it does not exist, naming the command that creates it.
        """
        path = store_path(self.out_dir, model, preset, self.size, init_seed)
        st = EmbeddingStore(path)
        if not st.exists():
            raise StoreError(
                f"no embedding store for {model} ({preset}, {self.size}) at {path}; run "
                f"`e2s extract --model {model} --preset {preset} --size {self.size}` or the "
                "20_extract notebook first"
            )
        return st

    def arrays(
        self, model: str, preset: str, init_seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(train, val)`` float32 ``(n, C, T)`` arrays of one store (cached)."""
        key = (model, preset, init_seed)
        if key not in self._cache:
            st = self.store(model, preset, init_seed)
            self._cache[key] = (st.read(self.train_ids)[1], st.read(self.val_ids)[1])
        return self._cache[key]

    def fusion_data(
        self, models: Sequence[str], preset: str, init_seeds: Mapping[str, int] | None = None
    ) -> tuple[FusionData, FusionData]:
        """``(train, val)`` :class:`FusionData` of a model combination.

        ``init_seeds`` names, per model, the initialisation-seed variant of its store to read.
        """
        seeds = dict(init_seeds or {})
        pairs = {m: self.arrays(m, preset, seeds.get(m)) for m in models}
        train = {m: p[0] for m, p in pairs.items()}
        val = {m: p[1] for m, p in pairs.items()}
        return FusionData(self.train_ids, train), FusionData(self.val_ids, val)

    def splits(
        self, models: Sequence[str], preset: str, init_seeds: Mapping[str, int] | None = None
    ) -> FusionSplits:
        """Training, validation and probed data of a model combination."""
        train, val = self.fusion_data(models, preset, init_seeds)
        probe = train if self.setting == "transductive" else val
        return FusionSplits(train, val, probe, self.setting)

    def fingerprint(self, model: str, preset: str, init_seed: int | None = None) -> dict[str, Any]:
        """What identifies one store's content: its config hash and weights identity."""
        st = self.store(model, preset, init_seed)
        return {"store": st.config_hash, "weights": st.weights_identity}

    def identity(self) -> dict[str, Any]:
        """The split, setting and labels as a JSON-able dict (part of every cache key)."""
        return {
            "split": self.split.to_dict(),
            "setting": self.setting,
            "train_ids": ids_hash(self.train_ids),
            "val_ids": ids_hash(self.val_ids),
            "tasks": self.tasks_fingerprint,
        }

    @property
    def tasks_fingerprint(self) -> str:
        """Hash of every task's ids and labels."""
        return _tasks_fingerprint(self.tasks)

    def digest(self) -> str:
        """sha256 of :meth:`identity`."""
        return config_hash(self.identity())


def load_inputs(
    data_root: Path,
    out_dir: Path,
    size: str,
    *,
    setting: Setting = "transductive",
    split_file: Path | None = None,
) -> StudyInputs:
    """The split and tasks of a dataset, for the stores under ``out_dir``.

    Args:
        data_root: the dataset root (cubes and ``labels/``).
        out_dir: the profile's output folder holding ``embeddings/``.
        size: the stores' model size.
        setting: ``transductive`` (the paper) or ``inductive``.
        split_file: an official split file (default ``E2S_SPLIT_FILE``).

    Raises:
        InputError: for an unknown setting, an empty split or no label tasks.
    """
    from e2s_utils.data.labels import load_tasks
    from e2s_utils.data.splits import load_split

    if setting not in SETTINGS:
        raise InputError(f"setting {setting!r} must be one of {SETTINGS}")
    split = load_split(Path(data_root), split_file)
    if not split.dev or not split.eval:
        raise InputError(
            f"dataset {data_root} has {len(split.eval)} eval-split and {len(split.dev)} dev-split "
            "samples; the compressor needs both (regenerate the synthetic set with more samples)"
        )
    tasks = load_tasks(Path(data_root) / "labels")
    if not tasks:
        raise InputError(f"no label tasks under {Path(data_root) / 'labels'}")
    probed = split.eval
    tasks = {
        n: dataclasses.replace(
            t,
            labels=t.labels[t.labels.index.isin(probed)],
            listed=t.listed_ids[t.listed_ids.isin(probed)],
        )
        for n, t in tasks.items()
    }
    return StudyInputs(Path(out_dir), size, split, setting, tasks)
