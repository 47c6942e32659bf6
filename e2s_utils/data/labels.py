"""Downstream task labels in the NeuCo-Bench layout: one ``<task>__<type>.csv`` per task.

Each file has an ``id`` and a ``label`` column (extra columns are tolerated); rows with an empty
label are skipped; ids are normalised (surrounding whitespace and a trailing ``.zarr.zip`` are
removed) so that they match the embedding ids. The type suffix decides the task kind:
``regr`` / ``regression`` / ``reg`` mean regression, ``cls`` / ``classification`` mean
classification (NeuCo-Bench itself rejects ``reg``; the dataset card spells one file that way).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from e2s_utils.data.reader import DataError
from e2s_utils.io import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd

TaskKind = Literal["regression", "classification"]

SUFFIX_KINDS: dict[str, TaskKind] = {
    "regr": "regression",
    "regression": "regression",
    "reg": "regression",
    "cls": "classification",
    "classification": "classification",
}
"""File type suffix -> task kind."""

TASK_TYPES: dict[str, str] = {
    "biomass_mean": "regr",
    "biomass_std": "regr",
    "crops": "regr",
    "landcover_aggriculture": "regr",
    "landcover_forest": "regr",
    "clouds_reg": "regr",
    "heatisland_mean": "regr",
    "heatisland_std": "regr",
    "nodata": "regr",
    "random_reg": "regr",
    "random_cls": "cls",
}
"""The eleven SSL4EO-S12-downstream tasks -> the file type suffix used when writing them."""

CHALLENGE_EXCLUDED: tuple[str, ...] = ("clouds_reg", "nodata")
"""Tasks the challenge ranking left out (cloud cover and no-data fraction)."""


class LabelError(DataError):
    """A label file or folder that cannot be read as NeuCo-Bench task labels (a ``DataError``)."""


@dataclass
class LabelTask:
    """One downstream task.

    Attributes:
        name: task name (the file stem before ``__``).
        kind: ``regression`` or ``classification``.
        labels: float labels indexed by normalised sample id (index name ``id``, series name = task).
        listed: every id whose label cell is not empty, ``nan`` text included (the benchmark takes
            its standardisation statistics over these); ``None`` means the ids of ``labels``.
    """

    name: str
    kind: TaskKind
    labels: pd.Series
    listed: pd.Index | None = None

    @property
    def listed_ids(self) -> pd.Index:
        """The ids the benchmark counts as labelled for its standardisation statistics."""
        return self.labels.index if self.listed is None else self.listed

    @property
    def ids(self) -> list[str]:
        """The labelled ids, in file order."""
        return list(self.labels.index)

    @property
    def values(self) -> np.ndarray:
        """The float64 labels, aligned with :attr:`ids`."""
        return self.labels.to_numpy(dtype=np.float64)

    def __len__(self) -> int:
        """Number of labelled samples."""
        return len(self.labels)


@dataclass
class TaskLabels:
    """One task's labels as plain arrays (what evaluation needs; no pandas).

    Attributes:
        name: task name.
        kind: ``regression`` or ``classification``.
        ids: the labelled ids (normalised), in file order.
        values: float64 labels aligned with ``ids``.
        listed_ids: every id whose label cell is not empty, ``nan`` text included.
    """

    name: str
    kind: TaskKind
    ids: list[str]
    values: np.ndarray
    listed_ids: list[str]

    def __len__(self) -> int:
        """Number of labelled samples."""
        return len(self.ids)

    def to_task(self) -> LabelTask:
        """The same labels as a :class:`LabelTask` (a pandas series)."""
        import pandas as pd

        index = pd.Index(self.ids, name="id")
        series = pd.Series(self.values, index=index, name=self.name, dtype=np.float64)
        return LabelTask(self.name, self.kind, series, pd.Index(self.listed_ids, name="id"))


def normalize_id(value: str) -> str:
    """Normalise one sample id: strip whitespace and a trailing ``.zarr.zip`` (or ``.zarr``).

    Args:
        value: the id as written in a file.

    Returns:
        The bare id.
    """
    value = str(value).strip()
    for suffix in (".zarr.zip", ".zarr"):
        if value.endswith(suffix):
            value = value[: -len(suffix)]
            break
    return value


def embedding_id(value: object) -> str:
    """An embedding file's id as the benchmark reads it: every ``.zarr.zip``, then every ``.zarr``
    removed (anywhere in the id), surrounding whitespace stripped."""
    return str(value).strip().replace(".zarr.zip", "").replace(".zarr", "")


def normalize_ids(values: list[str] | pd.Index | pd.Series | np.ndarray) -> list[str]:
    """Normalise many sample ids (see :func:`normalize_id`)."""
    return [normalize_id(v) for v in values]


def parse_task_filename(path: Path) -> tuple[str, TaskKind]:
    """Split ``<task>__<type>.csv`` into the task name and its kind.

    Args:
        path: the label file.

    Returns:
        ``(name, kind)``.

    Raises:
        LabelError: the name has no ``__`` or an unknown type suffix.
    """
    stem = Path(path).name.removesuffix(".csv")
    if "__" not in stem:
        raise LabelError(
            f"label file {path} is not named '<task>__<type>.csv'; rename it, e.g. "
            f"'{stem}__regr.csv' or '{stem}__cls.csv'"
        )
    name, suffix = stem.rsplit("__", 1)
    kind = SUFFIX_KINDS.get(suffix.lower())
    if kind is None or not name:
        raise LabelError(
            f"label file {path} has an unknown type suffix {suffix!r}; use one of "
            f"{sorted(SUFFIX_KINDS)} (regr/regression/reg: regression, cls/classification: "
            "classification)"
        )
    return name, kind


def read_task_labels(path: Path) -> TaskLabels:
    """Read one label file as plain arrays (no pandas).

    Args:
        path: ``<task>__<type>.csv`` with ``id`` and ``label`` columns (extra columns ignored).

    Returns:
        The task, rows with an empty label skipped, ids normalised, in file order.

    Raises:
        LabelError: missing columns, a non-numeric label, or a duplicated id.
    """
    path = Path(path)
    name, kind = parse_task_filename(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (csv.Error, UnicodeDecodeError) as err:
        raise LabelError(f"cannot parse label file {path}: {err}") from err
    if not rows:
        raise LabelError(f"cannot parse label file {path}: the file is empty")
    header = [c.strip() for c in rows[0]]
    missing = [c for c in ("id", "label") if c not in header]
    if missing:
        raise LabelError(
            f"label file {path} lacks column(s) {missing} (found {header}); "
            "a label file needs an 'id' and a 'label' column"
        )
    at_id, at_label = header.index("id"), header.index("label")
    ids: list[str] = []
    values: list[float] = []
    listed: list[str] = []
    for row in rows[1:]:
        raw = row[at_label].strip() if at_label < len(row) else ""
        if raw == "":
            continue
        sample = normalize_id(row[at_id] if at_id < len(row) else "")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isnan(value) and raw.lower() != "nan":
            raise LabelError(
                f"label file {path}: label {raw!r} of id {sample!r} is not a number; "
                "labels must be floats (leave the cell empty to skip a sample)"
            )
        listed.append(sample)
        if not math.isnan(value):
            ids.append(sample)
            values.append(value)
    if any(i == "" for i in ids):
        raise LabelError(f"label file {path} has a row with an empty id; remove it")
    seen: set[str] = set()
    dup = list(dict.fromkeys(i for i in ids if i in seen or seen.add(i)))  # type: ignore[func-returns-value]
    if dup:
        raise LabelError(
            f"label file {path} lists {len(dup)} id(s) more than once (first: {dup[0]!r}); "
            "keep one label per id"
        )
    return TaskLabels(name, kind, ids, np.asarray(values, dtype=np.float64), listed)


def read_task(path: Path) -> LabelTask:
    """Read one label file (:func:`read_task_labels`) as a :class:`LabelTask`.

    Raises:
        LabelError: missing columns, a non-numeric label, or a duplicated id.
    """
    return read_task_labels(path).to_task()


Task = TypeVar("Task", LabelTask, TaskLabels)


def load_tasks(labels_dir: Path, task_filter: list[str] | None = None) -> dict[str, LabelTask]:
    """Load every ``<task>__<type>.csv`` of a labels folder (see :func:`load_task_labels`)."""
    return load_task_labels(labels_dir, task_filter, read_task)


def load_task_labels(
    labels_dir: Path,
    task_filter: list[str] | None = None,
    reader: Callable[[Path], Task] = read_task_labels,  # type: ignore[assignment]
) -> dict[str, Task]:
    """Load every ``<task>__<type>.csv`` of a labels folder, by default as plain arrays.

    Args:
        labels_dir: the folder (e.g. ``<dataset root>/labels``).
        task_filter: task names to keep (``None``: all).

    Returns:
        Tasks by name, sorted by name.

    Raises:
        LabelError: no such folder, no label files, two files for one task, a filter naming a
            task that is not there, or any problem of :func:`read_task`.
    """
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise LabelError(
            f"labels folder {labels_dir} does not exist; point to the dataset's 'labels' folder "
            "(or generate the synthetic dataset first)"
        )
    files = sorted(labels_dir.glob("*.csv"))
    if not files:
        raise LabelError(f"labels folder {labels_dir} holds no '<task>__<type>.csv' file")
    tasks: dict[str, Task] = {}
    sources: dict[str, Path] = {}
    wanted = None if task_filter is None else set(task_filter)
    for path in files:
        name, _ = parse_task_filename(path)
        if wanted is not None and name not in wanted:
            continue
        if name in sources:
            raise LabelError(
                f"task {name!r} has two label files, {sources[name].name} and {path.name}, "
                f"in {labels_dir}; keep one"
            )
        sources[name] = path
        tasks[name] = reader(path)
    if wanted is not None:
        absent = sorted(wanted - set(tasks))
        if absent:
            available = sorted(parse_task_filename(p)[0] for p in files)
            raise LabelError(f"task(s) {absent} not found in {labels_dir}; available: {available}")
    return dict(sorted(tasks.items()))


def write_task(labels_dir: Path, name: str, kind: TaskKind, series: pd.Series) -> Path:
    """Write one task as ``<labels_dir>/<name>__<suffix>.csv`` (atomically).

    The suffix is the task's entry of :data:`TASK_TYPES`, else ``regr`` / ``cls`` by kind. NaN
    labels are written as empty cells (readers skip them).

    Args:
        labels_dir: destination folder (created if missing).
        name: task name.
        kind: ``regression`` or ``classification``.
        series: labels indexed by sample id.

    Returns:
        The written file.

    Raises:
        LabelError: unknown kind, or a kind that contradicts the task's known type.
    """
    if kind not in ("regression", "classification"):
        raise LabelError(
            f"task {name!r}: kind must be 'regression' or 'classification', not {kind!r}"
        )
    default = "regr" if kind == "regression" else "cls"
    suffix = TASK_TYPES.get(name, default)
    if SUFFIX_KINDS[suffix] != kind:
        raise LabelError(
            f"task {name!r} is a {SUFFIX_KINDS[suffix]} task in SSL4EO-S12-downstream, not {kind}"
        )
    import pandas as pd

    labels_dir = Path(labels_dir)
    labels_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"id": normalize_ids(series.index), "label": pd.to_numeric(series).to_numpy(np.float64)}
    )
    path = labels_dir / f"{name}__{suffix}.csv"
    text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    atomic_write_bytes(path, text.encode())
    return path


def labels_frame(tasks: Mapping[str, LabelTask]) -> pd.DataFrame:
    """Every task's labels in long form: columns ``task``, ``kind``, ``id``, ``label``."""
    import pandas as pd

    columns = ["task", "kind", "id", "label"]
    parts = [
        pd.DataFrame(
            {
                "task": t.name,
                "kind": t.kind,
                "id": t.labels.index.astype(str),
                "label": t.labels.to_numpy(dtype=float),
            }
        )
        for t in tasks.values()
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
