"""What an extraction run did and cost, and how a model's recipe and embeddings read as tables.

Every run that computed something appends a row to ``<out_dir>/embeddings/resources.csv``:
samples/s, the split between data loading and model time, peak memory and the device.
:func:`recipe_table` shows a model's input recipe; :func:`embedding_summary` summarises a store.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from e2s_utils.io import append_line, exclusive_write_bytes

RESOURCES_CSV = "resources.csv"


@dataclass
class ExtractReport:
    """What one extraction run did and what it cost.

    Attributes:
        model: registry name.
        preset: input recipe preset.
        size: ``micro`` / ``tiny`` / ``full``.
        device: torch device used.
        amp: whether autocast was on.
        shard: ``"i/n"``: the worker's share of the shards.
        batch_size: cubes per forward pass.
        num_workers: DataLoader worker processes.
        store: the store folder.
        n_ids: ids in the store.
        n_samples: samples embedded by this run.
        n_skipped: samples this run skipped (unreadable cubes, ``on_error="skip"``).
        skipped: their ids with the reason.
        shards_written: shard numbers computed by this run.
        shards_reused: shard numbers this worker owns that were already finished.
        complete: whether the whole store is finished and validated.
        seconds: wall time of the embedding loop (model build and fitting excluded); for a
            store of a multi-store pass (``extract_many``), the pass's, shared by its stores.
        data_seconds: part of it spent waiting for the DataLoader (shared likewise).
        model_seconds: part of it spent in the model (device synchronised).
        fit_seconds: time spent fitting a ``needs_fit`` baseline (0 when reused or not needed).
        build_seconds: time to build the extractor (and load its checkpoint).
        samples_per_s: ``n_samples / seconds`` (0 when nothing was computed).
        peak_memory_mb: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the process's
            peak resident set size (``getrusage`` ``ru_maxrss``, lifetime of the process).
        peak_memory_kind: ``cuda_max_allocated`` or ``cpu_maxrss``.
        weights_identity: the extractor's weights identity.
        torch_threads: ``torch.get_num_threads()`` during the run.
    """

    model: str
    preset: str
    size: str
    device: str
    amp: bool
    shard: str
    batch_size: int
    num_workers: int
    store: str
    n_ids: int = 0
    n_samples: int = 0
    n_skipped: int = 0
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    shards_written: list[int] = dataclasses.field(default_factory=list)
    shards_reused: list[int] = dataclasses.field(default_factory=list)
    complete: bool = False
    seconds: float = 0.0
    data_seconds: float = 0.0
    model_seconds: float = 0.0
    fit_seconds: float = 0.0
    build_seconds: float = 0.0
    samples_per_s: float = 0.0
    peak_memory_mb: float = 0.0
    peak_memory_kind: str = ""
    weights_identity: str = ""
    torch_threads: int = 0

    def to_row(self) -> dict[str, Any]:
        """One flat row for the resources table (lists and dicts summarised as counts)."""
        row = dataclasses.asdict(self)
        row["skipped"] = len(self.skipped)
        row["shards_written"] = len(self.shards_written)
        row["shards_reused"] = len(self.shards_reused)
        for key in ("seconds", "data_seconds", "model_seconds", "fit_seconds", "build_seconds"):
            row[key] = round(row[key], 3)
        row["samples_per_s"] = round(self.samples_per_s, 3)
        row["peak_memory_mb"] = round(self.peak_memory_mb, 1)
        return row


RESOURCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ExtractReport))


def resources_path(out_dir: Path) -> Path:
    """``<out_dir>/embeddings/resources.csv``: one row per extraction run."""
    return Path(out_dir) / "embeddings" / RESOURCES_CSV


def append_resources(out_dir: Path, report: ExtractReport) -> Path:
    """Append the report's row to the resources table (created with its header if absent).

    The header is created atomically and exclusively, and each row is one ``O_APPEND`` write, so
    concurrent workers do not interleave.
    """
    path = resources_path(out_dir)
    exclusive_write_bytes(path, _csv_line(RESOURCE_COLUMNS).encode())
    row = report.to_row()
    append_line(path, _csv_line([row[c] for c in RESOURCE_COLUMNS]))
    return path


def _csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


#: The columns a notebook shows of the resources table.
RESOURCE_SUMMARY_COLUMNS: tuple[str, ...] = (
    "model",
    "preset",
    "size",
    "device",
    "batch_size",
    "num_workers",
    "n_samples",
    "seconds",
    "data_seconds",
    "model_seconds",
    "fit_seconds",
    "samples_per_s",
    "peak_memory_mb",
    "peak_memory_kind",
)


def read_resources(
    out_dir: Path,
    model: str | None = None,
    preset: str | None = None,
    size: str | None = None,
    summary: bool = False,
) -> Any:
    """The resources table as a pandas DataFrame (empty with the columns when absent).

    Args:
        out_dir: the output folder holding ``embeddings/resources.csv``.
        model: keep only this model's rows.
        preset: keep only this preset's rows.
        size: keep only this size's rows.
        summary: keep only :data:`RESOURCE_SUMMARY_COLUMNS`.
    """
    import pandas as pd

    path = resources_path(out_dir)
    table = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(RESOURCE_COLUMNS))
    for column, value in (("model", model), ("preset", preset), ("size", size)):
        if value is not None:
            table = table[table[column] == value]
    table = table.reset_index(drop=True)
    return table[list(RESOURCE_SUMMARY_COLUMNS)] if summary else table


def recipe_table(model: str, preset: str = "as_intended", size: str = "full") -> Any:
    """A model's input recipe in one preset and size as a two-column table (field, value).

    One row per recipe attribute (network, passes, input size, resize, seasons, pooling, output
    shape, checkpoint) and one per band group (modality, bands, offset, statistics, wavelengths).
    """
    import pandas as pd

    from e2s_utils.models.registry import get_spec

    spec = get_spec(model)
    recipe = spec.recipe(preset)
    arch = spec.architectures.get((preset, size))
    rows: list[tuple[str, str]] = [
        ("model", f"{spec.display_name} ({spec.kind})"),
        ("preset / size", f"{preset} / {size}"),
        ("network", recipe.network or "-"),
        ("architecture", arch.description if arch is not None and arch.description else "-"),
        ("passes", recipe.passes),
        ("input size (full)", str(recipe.input_size)),
        ("resize", recipe.resize),
        ("seasons", recipe.seasons),
        ("pooling", recipe.pooling),
        ("output (C, T)", str(spec.output_shape(preset, size))),
        ("loads checkpoint", str(recipe.loads_checkpoint)),
        ("checkpoint file", _checkpoint_name(spec, preset)),
    ]
    for k, g in enumerate(recipe.groups):
        waves = ""
        if g.wavelengths is not None:
            waves = f"; wavelengths ({g.unit}) {', '.join(f'{w:g}' for w in g.wavelengths)}"
        rows.append(
            (
                f"group {k}: {g.modality}",
                f"{', '.join(g.bands)}; offset {g.offset:+g}; stats {g.stats or 'none'}{waves}",
            )
        )
    if recipe.notes:
        rows.append(("notes", recipe.notes))
    return pd.DataFrame(rows, columns=["field", "value"])


def embedding_summary(x: np.ndarray, ids: Sequence[str], labels: Any = None) -> dict[str, float]:
    """Summary numbers of one store's embeddings (the extraction notebook prints them).

    Args:
        x: ``(n, C, T)`` embeddings.
        ids: their ids.
        labels: optional label series indexed by id (a ``LabelTask.labels``).

    Returns:
        ``n``, ``dims``, ``mean``, ``std`` (over every value), ``constant_fraction`` (dimensions
        with std below 1e-6 over samples), and with labels ``n_labelled`` and ``max_abs_corr``
        (the largest absolute Pearson correlation of one dimension with the label).
    """
    flat = np.asarray(x, dtype=np.float64).reshape(len(ids), -1)
    std = flat.std(axis=0)
    out = {
        "n": float(flat.shape[0]),
        "dims": float(flat.shape[1]),
        "mean": float(flat.mean()),
        "std": float(flat.std()),
        "constant_fraction": float((std < 1e-6).mean()),
    }
    if labels is not None:
        y = labels.reindex(list(ids)).to_numpy(dtype=float)
        has = np.isfinite(y)
        out["n_labelled"] = float(has.sum())
        corr = 0.0
        if has.sum() > 2 and y[has].std() > 0:
            sub = flat[has][:, std > 1e-6]
            z = (sub - sub.mean(0)) / sub.std(0)
            yz = (y[has] - y[has].mean()) / y[has].std()
            corr = float(np.abs(z.T @ yz / has.sum()).max(initial=0.0))
        out["max_abs_corr"] = corr
    return out


def _checkpoint_name(spec: Any, preset: str) -> str:
    info = spec.checkpoint_for(preset)
    return info.filename if info is not None else "-"
