"""Batched, resumable, sharded extraction of one model's embeddings into the embedding store.

``extract(model, preset, size, data_root, out_dir)`` reads the cubes a model's input recipe
needs through a :class:`~torch.utils.data.DataLoader` (worker processes, ``collate_cubes``), runs
the registry's extractor under :func:`torch.inference_mode` on any torch device (optionally
under autocast), and writes ``(n, C, T)`` float32 embeddings shard by shard into the store of
:mod:`e2s_utils.store`. A rerun resumes: finished shards are never recomputed, a different
configuration is refused. Batches never straddle shards, so a shard's numbers do not depend on
which other shards were computed in the same run: one run, a resumed run and a run split over
several processes (``shard=(i, n)``, ``--shard i/n`` or ``torchrun``) give a byte-identical store
(same seed, same machine, same batch size).

Baselines that need fitting (``needs_fit``, e.g. random convolutional features + PCA) are fitted
first on an evenly spaced, documented subset of the store's ids; the fitted state is saved in the
store and reused by every later run and every worker, so resuming never refits differently.

Every run appends a row to ``<out_dir>/embeddings/resources.csv``: samples/s, the split between
data loading and model time, peak memory and the device.

Command line (also ``python -m e2s_utils.extract``)::

    e2s extract --model dofa --preset as_intended --size full --data DIR [--out DIR]
                [--shard i/n] [--batch-size B] [--num-workers W] [--device auto|cpu|cuda]
                [--amp] [--on-error raise|skip] [--seed S] [--weights-dir DIR]

Under ``torchrun`` the shard defaults to ``RANK/WORLD_SIZE`` and the CUDA device to
``LOCAL_RANK``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import io
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2s_utils import __version__
from e2s_utils.bands import MODALITIES
from e2s_utils.store import (
    DEFAULT_SHARD_SIZE,
    EmbeddingStore,
    StoreError,
    ids_hash,
    parse_shard,
    sha256_file,
    store_path,
)

if TYPE_CHECKING:
    import torch

    from e2s_utils.data import SampleIndex
    from e2s_utils.models.registry import Extractor

OnError = Literal["raise", "skip"]
RESOURCES_CSV = "resources.csv"
#: Samples a ``needs_fit`` baseline is fitted on by default (evenly spaced over the store's ids).
DEFAULT_FIT_SAMPLES = 2048


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
        seconds: wall time of the embedding loop (model build and fitting excluded).
        data_seconds: part of it spent waiting for the DataLoader.
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
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(RESOURCE_COLUMNS)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(buf.getvalue())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    buf = io.StringIO()
    row = report.to_row()
    csv.writer(buf, lineterminator="\n").writerow([row[c] for c in RESOURCE_COLUMNS])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, buf.getvalue().encode())
    finally:
        os.close(fd)
    return path


#: The columns a notebook shows of the resources table.
RESOURCE_SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "preset", "size", "device", "batch_size", "num_workers", "n_samples", "seconds",
    "data_seconds", "model_seconds", "fit_seconds", "samples_per_s", "peak_memory_mb",
    "peak_memory_kind",
)  # fmt: skip


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
        ("checkpoint file", spec.checkpoint.filename if spec.checkpoint else "-"),
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


# ---------------------------------------------------------------------------------- helpers
def shard_from_env() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` from the environment (``torchrun``, SLURM-style), else ``(0, 1)``."""
    rank = os.environ.get("RANK")
    world = os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return 0, 1
    return parse_shard(f"{int(rank)}/{int(world)}")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda:<LOCAL_RANK>`` (or ``cuda``) when a GPU is visible, else ``cpu``."""
    from e2s_utils.config import pick_device

    resolved = pick_device(device)
    if device == "auto" and resolved == "cuda" and "LOCAL_RANK" in os.environ:
        resolved = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return resolved


def fit_subset(ids: Sequence[str], n: int) -> list[str]:
    """``n`` evenly spaced ids (store order), all of them when ``n <= 0`` or ``n >= len(ids)``."""
    if n <= 0 or n >= len(ids):
        return list(ids)
    picks = np.linspace(0, len(ids) - 1, n).round().astype(int)
    return [ids[i] for i in sorted(set(picks.tolist()))]


def data_fingerprint(index: SampleIndex, ids: Sequence[str], modalities: Sequence[str]) -> str:
    """sha256 over the bytes of the first and last id's files (a cheap dataset identity).

    Together with the ids' hash this tells two datasets with the same ids apart (e.g. two
    synthetic datasets of different seeds) without reading every file.
    """
    digest = hashlib.sha256()
    probe = [ids[0], ids[-1]] if len(ids) > 1 else list(ids)
    for sid in probe:
        for m in modalities:
            try:
                path = index.path(sid, m)  # type: ignore[arg-type]
            except ValueError:
                digest.update(f"{sid}/{m}:missing".encode())
                continue
            digest.update(f"{sid}/{m}:{sha256_file(path)}".encode())
    return digest.hexdigest()


def _recipe_dict(spec: Any, preset: str) -> dict[str, Any] | None:
    recipe = spec.recipes.get(preset)
    if recipe is None:
        return None
    if dataclasses.is_dataclass(recipe):
        return dataclasses.asdict(recipe)
    return {"repr": repr(recipe)}


def _peak_memory_mb(device: str) -> tuple[float, str]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_maxrss"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _autocast(device: str, amp: bool) -> contextlib.AbstractContextManager[Any]:
    import torch

    if not amp:
        return contextlib.nullcontext()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    dtype = torch.float16 if kind == "cuda" else torch.bfloat16
    return torch.autocast(device_type=kind, dtype=dtype)


def _to_device(batch: dict[str, Any], modalities: Sequence[str], device: str) -> dict[str, Any]:
    return {m: batch[m].to(device, non_blocking=True) for m in modalities}


def _call(extractor: Extractor, cubes: dict[str, Any], ids: list[str]) -> torch.Tensor:
    if getattr(extractor, "wants_ids", False):
        return extractor(cubes, ids=ids)
    return extractor(cubes)


def _batches_by_shard(
    store: EmbeddingStore, shards: Sequence[int], position: dict[str, int], batch_size: int
) -> list[list[int]]:
    """Dataset index batches that never straddle a shard (so shard numbers are reproducible)."""
    batches: list[list[int]] = []
    for j in shards:
        idx = [position[i] for i in store.shard_ids(j)]
        batches += [idx[k : k + batch_size] for k in range(0, len(idx), batch_size)]
    return batches


def _make_loader(
    index: SampleIndex,
    ids: list[str],
    modalities: Sequence[str],
    on_error: OnError,
    batch_sampler: list[list[int]],
    num_workers: int,
    device: str,
    seed: int,
) -> Any:
    import torch
    from torch.utils.data import DataLoader

    from e2s_utils.data import CubeDataset, collate_cubes

    dataset = CubeDataset(index, ids=ids, modalities=modalities, on_error=on_error)
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=collate_cubes,
        pin_memory=device.startswith("cuda"),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


def _fit(
    extractor: Extractor,
    store: EmbeddingStore,
    index: SampleIndex,
    ids: list[str],
    modalities: Sequence[str],
    *,
    batch_size: int,
    num_workers: int,
    device: str,
    on_error: OnError,
    seed: int,
    progress: bool,
) -> float:
    """Load the store's fitted state, or fit on ``ids`` and save it; return seconds spent fitting."""
    import torch
    from tqdm.auto import tqdm

    state = store.load_fitted_state()
    if state is None:
        start = time.perf_counter()
        batches = [
            list(range(k, min(k + batch_size, len(ids)))) for k in range(0, len(ids), batch_size)
        ]
        loader = _make_loader(index, ids, modalities, on_error, batches, num_workers, device, seed)

        def stream() -> Iterator[dict[str, Any]]:
            for batch in tqdm(loader, desc=f"fit {extractor.spec.name}", disable=not progress):
                if batch["id"]:
                    yield {**_to_device(batch, modalities, device), "id": batch["id"]}

        with torch.no_grad():
            extractor.fit(stream())
        state = {k: v.detach().cpu().clone() for k, v in extractor.state_dict().items()}
        if store.save_fitted_state(state):
            return time.perf_counter() - start
        state = store.load_fitted_state()  # another worker was first: use its state
        seconds = time.perf_counter() - start
    else:
        seconds = 0.0
    assert state is not None
    extractor.load_state_dict(state)
    extractor.to(device)
    return seconds


# ---------------------------------------------------------------------------------- extract
def extract(
    model: str,
    preset: str,
    size: str,
    data_root: Path,
    out_dir: Path,
    *,
    ids: list[str] | None = None,
    batch_size: int | None = 8,
    num_workers: int = 0,
    device: str = "cpu",
    amp: bool = False,
    shard: tuple[int, int] = (0, 1),
    seed: int = 0,
    weights_dir: Path | None = None,
    on_error: OnError = "raise",
    progress: bool = True,
    shard_size: int = DEFAULT_SHARD_SIZE,
    fit_samples: int = DEFAULT_FIT_SAMPLES,
    record_resources: bool = True,
) -> ExtractReport:
    """Extract (or resume extracting) one model's embeddings into its store.

    Args:
        model: registry name (``dofa``, ``croma``, ..., ``engineered``, ``rcf``, ...).
        preset: ``as_intended`` or ``as_published_code``.
        size: ``micro``, ``tiny`` or ``full``.
        data_root: dataset root (any layout :class:`~e2s_utils.data.SampleIndex` reads).
        out_dir: output folder; the store goes to ``store_path(out_dir, model, preset, size)``.
        ids: ids to embed, in store order (default: every id under ``data_root``, sorted).
        batch_size: cubes per forward pass (``None``: the model's default batch size).
        num_workers: DataLoader worker processes.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
        amp: run the model under autocast (bfloat16 on CPU, float16 on CUDA); off by default,
            part of the configuration hash.
        shard: ``(i, n)``: this worker computes the shards ``j`` with ``j % n == i``.
        seed: seed of the random initialisation and of everything else random.
        weights_dir: folder of official checkpoints (default ``E2S_WEIGHTS_DIR``).
        on_error: ``raise`` on an unreadable cube, or ``skip`` it; skipped ids and reasons are
            recorded in the shard sidecars and, once complete, in the manifest.
        progress: show tqdm progress bars.
        shard_size: ids per store shard (part of the store's layout).
        fit_samples: ids a ``needs_fit`` baseline is fitted on (evenly spaced; ``0``: all).
        record_resources: append the run's row to ``<out_dir>/embeddings/resources.csv``.

    Returns:
        The run's :class:`ExtractReport`.

    Raises:
        StoreConfigError: if the store holds embeddings of another configuration.
        DataError: for an unreadable cube with ``on_error="raise"`` (names the id and file).
        KeyError: for an unknown model, preset or size.
    """
    import torch
    from tqdm.auto import tqdm

    from e2s_utils.config import seed_everything
    from e2s_utils.data import DataError, SampleIndex
    from e2s_utils.models.registry import build_extractor, get_spec

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    parse_shard(f"{shard[0]}/{shard[1]}")
    spec = get_spec(model)
    shape = spec.output_shape(preset, size)
    recipe = spec.recipes.get(preset)
    modalities = list(recipe.modalities) if recipe is not None else list(MODALITIES)
    batch_size = batch_size or spec.default_batch_size
    device = resolve_device(device)
    data_root = Path(data_root)
    seed_everything(seed)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.cuda.reset_peak_memory_stats(device)

    # a recipe that reads nothing (the random baseline) still takes its ids from every modality
    index = SampleIndex.from_root(data_root, modalities or MODALITIES, on_error=on_error)
    available = sorted(set(index.ids) | set(index.incomplete))
    if ids is None:
        ids = available
    else:
        ids = list(ids)
        known = set(available)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise DataError(
                f"{len(unknown)} requested id(s) not found under {data_root} (e.g. {unknown[0]}); "
                "check the ids or the data root"
            )
    if not ids:
        raise DataError(f"no samples under {data_root}; check the data root")

    t0 = time.perf_counter()
    extractor = build_extractor(model, preset, size, weights_dir=weights_dir, seed=seed)  # type: ignore[arg-type]
    extractor = extractor.to(device).eval()
    build_seconds = time.perf_counter() - t0
    if tuple(extractor.output_shape) != tuple(shape):
        raise RuntimeError(
            f"{model}: extractor output_shape {extractor.output_shape} != spec {shape}"
        )

    config: dict[str, Any] = {
        "model": model,
        "preset": preset,
        "size": size,
        "seed": seed,
        "amp": amp,
        "output_shape": list(shape),
        "recipe": _recipe_dict(spec, preset),
        "weights_identity": extractor.weights_identity,
        "modalities": modalities,
        "data": {
            "n_ids": len(ids),
            "ids_sha256": ids_hash(ids),
            "fingerprint": data_fingerprint(index, ids, modalities or list(MODALITIES)),
        },
        "package_version": __version__,
    }
    if spec.needs_fit:
        config["fit"] = {"samples": fit_samples, "rule": "evenly spaced over store order"}
    store = EmbeddingStore(store_path(out_dir, model, preset, size))
    store.create(
        config,
        ids,
        shape,
        shard_size=shard_size,
        info={"data_root": str(data_root.resolve()), "torch": torch.__version__},
    )

    report = ExtractReport(
        model=model,
        preset=preset,
        size=size,
        device=device,
        amp=amp,
        shard=f"{shard[0]}/{shard[1]}",
        batch_size=batch_size,
        num_workers=num_workers,
        store=str(store.path),
        n_ids=len(ids),
        build_seconds=build_seconds,
        weights_identity=extractor.weights_identity,
        torch_threads=torch.get_num_threads(),
    )
    owned = [j for j in range(store.n_shards) if j % shard[1] == shard[0]]
    pending = store.pending_shards(shard)
    report.shards_reused = [j for j in owned if j not in pending]

    if pending and spec.needs_fit:
        readable = set(index.ids)
        fit_ids = fit_subset([i for i in ids if i in readable], fit_samples)
        report.fit_seconds = _fit(
            extractor,
            store,
            index,
            fit_ids,
            modalities,
            batch_size=batch_size,
            num_workers=num_workers,
            device=device,
            on_error=on_error,
            seed=seed,
            progress=progress,
        )

    if pending:
        position = {sid: k for k, sid in enumerate(ids)}
        batches = _batches_by_shard(store, pending, position, batch_size)
        loader = _make_loader(index, ids, modalities, on_error, batches, num_workers, device, seed)
        c, t = shape
        buffers: dict[int, dict[str, np.ndarray]] = {j: {} for j in pending}
        skipped: dict[int, dict[str, str]] = {j: {} for j in pending}
        remaining = {j: len(store.shard_ids(j)) for j in pending}
        shard_of = {sid: j for j in pending for sid in store.shard_ids(j)}
        bar = tqdm(
            total=sum(remaining.values()),
            desc=f"extract {model} ({preset}, {size}) shard {report.shard}",
            unit="cube",
            disable=not progress,
        )
        start = time.perf_counter()
        wait_start = start
        with torch.inference_mode():
            for batch in loader:
                report.data_seconds += time.perf_counter() - wait_start
                for sid, reason in batch.get("skipped", []):
                    skipped[shard_of[sid]][sid] = reason
                    remaining[shard_of[sid]] -= 1
                    report.skipped[sid] = reason
                batch_ids: list[str] = list(batch["id"])
                if batch_ids:
                    m0 = time.perf_counter()
                    cubes = _to_device(batch, modalities, device)
                    with _autocast(device, amp):
                        out = _call(extractor, cubes, batch_ids)
                    out = out.float().cpu().numpy()
                    _sync(device)
                    report.model_seconds += time.perf_counter() - m0
                    if out.shape != (len(batch_ids), c, t):
                        raise RuntimeError(
                            f"{model} returned {out.shape} for a batch of {len(batch_ids)}, "
                            f"expected {(len(batch_ids), c, t)}"
                        )
                    for sid, row in zip(batch_ids, out):
                        buffers[shard_of[sid]][sid] = row
                        remaining[shard_of[sid]] -= 1
                for j in {shard_of[s] for s in batch_ids} | {
                    shard_of[s] for s, _ in batch.get("skipped", [])
                }:
                    if remaining[j] == 0:
                        kept = [i for i in store.shard_ids(j) if i in buffers[j]]
                        array = (
                            np.stack([buffers[j][i] for i in kept]).astype(np.float32)
                            if kept
                            else np.zeros((0, c, t), np.float32)
                        )
                        store.write_shard(j, kept, array, skipped[j])
                        report.shards_written.append(j)
                        del buffers[j]
                bar.update(len(batch_ids) + len(batch.get("skipped", [])))
                wait_start = time.perf_counter()
        bar.close()
        report.seconds = time.perf_counter() - start
        report.n_samples = sum(len(store.read_shard_meta(j)["ids"]) for j in report.shards_written)
        report.n_skipped = len(report.skipped)
        report.samples_per_s = report.n_samples / report.seconds if report.seconds > 0 else 0.0
        unfinished = [j for j in pending if not store.is_finished(j)]
        if unfinished:  # pragma: no cover - every id of a pending shard is seen exactly once
            raise StoreError(f"shards {unfinished} of {store.path} were not completed")

    report.complete = store.finalize()
    report.peak_memory_mb, report.peak_memory_kind = _peak_memory_mb(device)
    if record_resources and report.shards_written:
        append_resources(out_dir, report)
    return report


# ---------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The ``e2s extract`` argument parser."""
    p = argparse.ArgumentParser(
        prog="e2s extract",
        description="Extract one model's embeddings into the resumable embedding store.",
    )
    p.add_argument("--model", required=True, help="registry name, e.g. dofa, croma, rcf")
    p.add_argument("--preset", default="as_intended", choices=("as_intended", "as_published_code"))
    p.add_argument("--size", default="full", choices=("micro", "tiny", "full"))
    p.add_argument("--data", type=Path, default=None, help="dataset root (default E2S_DATA_DIR)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default E2S_OUTPUT_DIR)")
    p.add_argument(
        "--shard",
        default=None,
        help="i/n: compute every n-th shard starting at i (default RANK/WORLD_SIZE, else 0/1)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:i")
    p.add_argument("--amp", action="store_true", help="autocast (bf16 on CPU, fp16 on CUDA)")
    p.add_argument("--on-error", default="raise", choices=("raise", "skip"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights-dir", type=Path, default=None, help="default E2S_WEIGHTS_DIR")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="ids per shard")
    p.add_argument("--fit-samples", type=int, default=DEFAULT_FIT_SAMPLES)
    p.add_argument("--ids-file", type=Path, default=None, help="text file, one id per line")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``e2s extract``; returns the exit status."""
    from e2s_utils import paths
    from e2s_utils.data import DataError
    from e2s_utils.store import StoreConfigError

    args = build_parser().parse_args(argv)
    data = args.data or paths.data_dir()
    if data is None:
        print(
            "error: no dataset: pass --data DIR or set E2S_DATA_DIR (or generate one with "
            "`e2s synth`)",
            file=sys.stderr,
        )
        return 2
    out = args.out or paths.output_root()
    try:
        shard = parse_shard(args.shard) if args.shard else shard_from_env()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ids = None
    if args.ids_file is not None:
        ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    try:
        report = extract(
            args.model,
            args.preset,
            args.size,
            data,
            out,
            ids=ids,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            device=args.device,
            amp=args.amp,
            shard=shard,
            seed=args.seed,
            weights_dir=args.weights_dir,
            on_error=args.on_error,
            progress=not args.no_progress,
            shard_size=args.shard_size,
            fit_samples=args.fit_samples,
        )
    except (StoreConfigError, DataError, KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{report.model} ({report.preset}, {report.size}) shard {report.shard}: "
        f"{report.n_samples} embedded, {report.n_skipped} skipped, "
        f"{len(report.shards_written)} shards written, {len(report.shards_reused)} reused, "
        f"{report.samples_per_s:.2f} samples/s on {report.device}; store "
        f"{'complete' if report.complete else 'incomplete'}: {report.store}"
    )
    for sid, reason in report.skipped.items():
        print(f"skipped {sid}: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
