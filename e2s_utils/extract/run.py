"""Batched, resumable, sharded extraction of one model's embeddings into the embedding store.

``extract(model, preset, size, data_root, out_dir)`` reads the cubes a model's input recipe needs
through a :class:`~torch.utils.data.DataLoader` (worker processes, ``collate_cubes``), runs the
registry's extractor under :func:`torch.inference_mode` on any torch device (optionally under
autocast), and writes ``(n, C, T)`` float32 embeddings shard by shard into the store
(:mod:`e2s_utils.store`). A rerun resumes: finished shards are never recomputed, a different
configuration is refused. Batches never straddle shards, so a shard's numbers do not depend on which
other shards were computed in the same run: one run, a resumed run and a run split over several
processes (``shard=(i, n)``, ``--shard i/n`` or ``torchrun``) give a byte-identical store (same
seed, same machine, same batch size).

Baselines that need fitting (``needs_fit``, e.g. random convolutional features + PCA) are fitted
first on an evenly spaced, documented subset of the store's ids; the fitted state is saved in the
store and reused by every later run and every worker, so resuming never refits differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from e2s_utils import __version__
from e2s_utils.bands import MODALITIES
from e2s_utils.data.reader import DataError
from e2s_utils.extract.report import ExtractReport, append_resources
from e2s_utils.io import ids_hash, sha256_file
from e2s_utils.store.layout import DEFAULT_SHARD_SIZE, parse_shard, store_path
from e2s_utils.store.shards import EmbeddingStore, StoreError

if TYPE_CHECKING:
    import torch

    from e2s_utils.data import SampleIndex
    from e2s_utils.models.registry import Extractor

OnError = Literal["raise", "skip"]
#: Samples a ``needs_fit`` baseline is fitted on by default (evenly spaced over the store's ids).
DEFAULT_FIT_SAMPLES = 2048


def shard_from_env() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` from the environment (``torchrun``, SLURM-style), else ``(0, 1)``."""
    rank = os.environ.get("RANK")
    world = os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return 0, 1
    return parse_shard(f"{int(rank)}/{int(world)}")


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
    if dataclasses.is_dataclass(recipe) and not isinstance(recipe, type):
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

    dataset = CubeDataset(index, ids=ids, modalities=modalities, on_error=on_error)  # type: ignore[arg-type]
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
    extractor.load_state_dict(state)
    extractor.to(device)
    return seconds


def _resolve_ids(index: SampleIndex, ids: list[str] | None, data_root: Path) -> list[str]:
    available = sorted(set(index.ids) | set(index.incomplete))
    if ids is None:
        ids = available
    else:
        known = set(available)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise DataError(
                f"{len(unknown)} requested id(s) not found under {data_root} (e.g. {unknown[0]}); "
                "check the ids or the data root"
            )
    if not ids:
        raise DataError(f"no samples under {data_root}; check the data root")
    return list(ids)


def store_config(
    spec: Any,
    preset: str,
    size: str,
    seed: int,
    amp: bool,
    extractor: Extractor,
    modalities: list[str],
    index: SampleIndex,
    ids: list[str],
    fit_samples: int,
) -> dict[str, Any]:
    """Everything that changes a store's embeddings: what its manifest records and hashes."""
    config: dict[str, Any] = {
        "model": spec.name,
        "preset": preset,
        "size": size,
        "seed": seed,
        "amp": amp,
        "output_shape": list(spec.output_shape(preset, size)),
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
    return config


@dataclass
class _Pending:
    """The shards of this worker still to compute, and their rows as they arrive."""

    store: EmbeddingStore
    shards: list[int]
    shape: tuple[int, int]
    buffers: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    skipped: dict[int, dict[str, str]] = field(default_factory=dict)
    remaining: dict[int, int] = field(default_factory=dict)
    shard_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for j in self.shards:
            shard_ids = self.store.shard_ids(j)
            self.buffers[j], self.skipped[j], self.remaining[j] = {}, {}, len(shard_ids)
            self.shard_of.update(dict.fromkeys(shard_ids, j))

    def add(self, sid: str, row: np.ndarray) -> None:
        j = self.shard_of[sid]
        self.buffers[j][sid] = row
        self.remaining[j] -= 1

    def skip(self, sid: str, reason: str) -> None:
        j = self.shard_of[sid]
        self.skipped[j][sid] = reason
        self.remaining[j] -= 1

    def flush(self, touched: set[str]) -> list[int]:
        """Write every touched shard whose rows are all in; return their numbers."""
        written = []
        for j in sorted({self.shard_of[s] for s in touched}):
            if self.remaining[j] == 0 and j in self.buffers:
                kept = [i for i in self.store.shard_ids(j) if i in self.buffers[j]]
                array = (
                    np.stack([self.buffers[j][i] for i in kept]).astype(np.float32)
                    if kept
                    else np.zeros((0, *self.shape), np.float32)
                )
                self.store.write_shard(j, kept, array, self.skipped[j])
                del self.buffers[j]
                written.append(j)
        return written


def _embed_pending(
    extractor: Extractor,
    loader: Any,
    pending: _Pending,
    modalities: list[str],
    device: str,
    amp: bool,
    report: ExtractReport,
    progress: bool,
) -> None:
    import torch
    from tqdm.auto import tqdm

    total = sum(pending.remaining.values())
    desc = f"extract {report.model} ({report.preset}, {report.size}) shard {report.shard}"
    bar = tqdm(total=total, desc=desc, unit="cube", disable=not progress)
    start = wait_start = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            report.data_seconds += time.perf_counter() - wait_start
            for sid, reason in batch.get("skipped", []):
                pending.skip(sid, reason)
                report.skipped[sid] = reason
            batch_ids: list[str] = list(batch["id"])
            if batch_ids:
                m0 = time.perf_counter()
                with _autocast(device, amp):
                    out = _call(extractor, _to_device(batch, modalities, device), batch_ids)
                out = out.float().cpu().numpy()
                _sync(device)
                report.model_seconds += time.perf_counter() - m0
                if out.shape != (len(batch_ids), *pending.shape):
                    raise RuntimeError(
                        f"{report.model} returned {out.shape} for a batch of "
                        f"{len(batch_ids)}, expected (n, *{pending.shape})"
                    )
                for sid, row in zip(batch_ids, out, strict=True):
                    pending.add(sid, row)
            touched = set(batch_ids) | {s for s, _ in batch.get("skipped", [])}
            report.shards_written += pending.flush(touched)
            bar.update(len(touched))
            wait_start = time.perf_counter()
    bar.close()
    report.seconds = time.perf_counter() - start


def _prepare_device(device: str, seed: int) -> str:
    """Resolve the device, seed everything, make CUDA deterministic and reset its peak memory."""
    import torch

    from e2s_utils.runtime import resolve_device, seed_everything

    device = resolve_device(device)
    seed_everything(seed)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.cuda.reset_peak_memory_stats(device)
    return device


def _prepare(
    model: str,
    preset: str,
    size: str,
    data_root: Path,
    ids: list[str] | None,
    device: str,
    seed: int,
    weights_dir: Path | None,
    on_error: OnError,
) -> tuple[Any, Extractor, list[Any], SampleIndex, list[str]]:
    """The model's spec and ready extractor, the modalities it reads, the index and the ids."""
    from e2s_utils.data import SampleIndex
    from e2s_utils.models.registry import build_extractor, get_spec

    spec = get_spec(model)
    shape = spec.output_shape(preset, size)
    recipe = spec.recipes.get(preset)
    modalities = list(recipe.modalities) if recipe is not None else list(MODALITIES)
    # a recipe that reads nothing (the random baseline) still takes its ids from every modality
    index = SampleIndex.from_root(data_root, modalities or MODALITIES, on_error=on_error)
    ids = _resolve_ids(index, ids, data_root)
    extractor = build_extractor(model, preset, size, weights_dir=weights_dir, seed=seed)  # type: ignore[arg-type]
    extractor = extractor.to(device).eval()
    if tuple(extractor.output_shape) != tuple(shape):
        raise RuntimeError(f"{model}: extractor output_shape {extractor.output_shape} != {shape}")
    return spec, extractor, modalities, index, ids


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
    init_seed: int | None = None,
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
        amp: run the model under autocast (bfloat16 on CPU, float16 on CUDA); part of the hash.
        shard: ``(i, n)``: this worker computes the shards ``j`` with ``j % n == i``.
        seed: seed of the random initialisation and of everything else random.
        weights_dir: folder of official checkpoints (default ``E2S_WEIGHTS_DIR``).
        on_error: ``raise`` on an unreadable cube, or ``skip`` it (recorded with the reason).
        progress: show tqdm progress bars.
        shard_size: ids per store shard (part of the store's layout).
        fit_samples: ids a ``needs_fit`` baseline is fitted on (evenly spaced; ``0``: all).
        record_resources: append the run's row to ``<out_dir>/embeddings/resources.csv``.
        init_seed: extract with this initialisation seed into the store's ``__init<seed>``
            variant (several initialisations of a randomly initialised network).

    Returns:
        The run's :class:`ExtractReport`.

    Raises:
        StoreConfigError: if the store holds embeddings of another configuration.
        DataError: for an unreadable cube with ``on_error="raise"`` (names the id and file).
        KeyError: for an unknown model, preset or size.
    """
    import torch

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    parse_shard(f"{shard[0]}/{shard[1]}")
    seed = seed if init_seed is None else init_seed
    device = _prepare_device(device, seed)
    t0 = time.perf_counter()
    spec, extractor, modalities, index, ids = _prepare(
        model, preset, size, Path(data_root), ids, device, seed, weights_dir, on_error
    )
    batch_size = batch_size or spec.default_batch_size
    config = store_config(
        spec, preset, size, seed, amp, extractor, modalities, index, ids, fit_samples
    )
    store = EmbeddingStore(store_path(out_dir, model, preset, size, init_seed))
    shape = spec.output_shape(preset, size)
    info = {"data_root": str(Path(data_root).resolve()), "torch": torch.__version__}
    store.create(config, ids, shape, shard_size=shard_size, info=info)
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
        build_seconds=time.perf_counter() - t0,
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
        _embed_pending(
            extractor,
            loader,
            _Pending(store, pending, shape),
            modalities,
            device,
            amp,
            report,
            progress,
        )
        report.n_samples = sum(len(store.read_shard_meta(j)["ids"]) for j in report.shards_written)
        report.n_skipped = len(report.skipped)
        report.samples_per_s = report.n_samples / report.seconds if report.seconds > 0 else 0.0
        unfinished = [j for j in pending if not store.is_finished(j)]
        if unfinished:
            raise StoreError(f"shards {unfinished} of {store.path} were not completed; rerun")
    report.complete = store.finalize()
    report.peak_memory_mb, report.peak_memory_kind = _peak_memory_mb(device)
    if record_resources and report.shards_written:
        append_resources(out_dir, report)
    return report
