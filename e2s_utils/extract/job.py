"""One store's extraction job: its configuration, its store, its fit and its bookkeeping.

:func:`prepare_job` does everything a store needs before cubes flow: it seeds, builds the
extractor, resolves the ids, checks (or creates) the store's manifest against
:func:`store_config` (a stale store is refused here), lists the shards still to compute and fits
a ``needs_fit`` baseline. :func:`finish_job` validates what the run wrote, finalises the store
and appends the resources row. Between the two, :mod:`e2s_utils.extract.many` streams the cubes
to one or several jobs; :func:`e2s_utils.extract.extract` is the one-job case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
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
#: One store to fill: ``(model, preset)`` or ``(model, preset, init_seed)``.
Job = tuple[str, str] | tuple[str, str, int | None]


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


def sync(device: str) -> None:
    """Wait for the device's queued work (so model time is measured, not just launched)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def autocast(device: str, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """Autocast to bfloat16 (CPU) or float16 (CUDA) when ``amp``, else a no-op context."""
    import torch

    if not amp:
        return contextlib.nullcontext()
    kind = "cuda" if device.startswith("cuda") else "cpu"
    dtype = torch.float16 if kind == "cuda" else torch.bfloat16
    return torch.autocast(device_type=kind, dtype=dtype)


def to_device(batch: dict[str, Any], modalities: Sequence[str], device: str) -> dict[str, Any]:
    """The batch's tensors of ``modalities`` (in that order) on ``device``."""
    return {m: batch[m].to(device, non_blocking=True) for m in modalities}


def call_extractor(extractor: Extractor, cubes: dict[str, Any], ids: list[str]) -> torch.Tensor:
    """Run the extractor on a batch (with its ids when it wants them, e.g. the random baseline)."""
    if getattr(extractor, "wants_ids", False):
        return extractor(cubes, ids=ids)
    return extractor(cubes)


def batches_by_shard(
    store: EmbeddingStore, shards: Sequence[int], batch_size: int
) -> list[list[str]]:
    """Id batches that never straddle a shard (so a shard's numbers are reproducible)."""
    batches: list[list[str]] = []
    for j in shards:
        ids = store.shard_ids(j)
        batches += [ids[k : k + batch_size] for k in range(0, len(ids), batch_size)]
    return batches


def make_loader(
    dataset: Any,
    batch_sampler: list[list[int]],
    collate: Callable[[list[Any]], Any],
    num_workers: int,
    device: str,
    seed: int,
) -> Any:
    """A DataLoader over fixed index batches (worker processes, pinned memory on CUDA)."""
    import torch
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=device.startswith("cuda"),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


@dataclass(frozen=True)
class ExtractOptions:
    """The settings every job of one extraction run shares.

    The fields are the arguments of the same names of
    :func:`~e2s_utils.extract.many.extract_many` (``device`` already resolved).
    """

    size: str
    data_root: Path
    out_dir: Path
    ids: list[str] | None = None
    batch_size: int | None = 8
    num_workers: int = 0
    device: str = "cpu"
    amp: bool = False
    shard: tuple[int, int] = (0, 1)
    seed: int = 0
    weights_dir: Path | None = None
    on_error: OnError = "raise"
    progress: bool = True
    shard_size: int = DEFAULT_SHARD_SIZE
    fit_samples: int = DEFAULT_FIT_SAMPLES
    record_resources: bool = True


def _fit(
    extractor: Extractor,
    store: EmbeddingStore,
    index: SampleIndex,
    ids: list[str],
    modalities: Sequence[str],
    batch_size: int,
    seed: int,
    opts: ExtractOptions,
) -> float:
    """Load the store's fitted state, or fit on ``ids`` and save it; return seconds spent fitting."""
    import torch
    from tqdm.auto import tqdm

    from e2s_utils.data import CubeDataset, collate_cubes

    state = store.load_fitted_state()
    if state is None:
        start = time.perf_counter()
        batches = [
            list(range(k, min(k + batch_size, len(ids)))) for k in range(0, len(ids), batch_size)
        ]
        dataset = CubeDataset(index, ids=ids, modalities=modalities, on_error=opts.on_error)  # type: ignore[arg-type]
        loader = make_loader(dataset, batches, collate_cubes, opts.num_workers, opts.device, seed)

        def stream() -> Iterator[dict[str, Any]]:
            bar = tqdm(loader, desc=f"fit {extractor.spec.name}", disable=not opts.progress)
            for batch in bar:
                if batch["id"]:
                    yield {**to_device(batch, modalities, opts.device), "id": batch["id"]}

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
    extractor.to(opts.device)
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
class Pending:
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
        """Keep one embedded sample's row."""
        j = self.shard_of[sid]
        self.buffers[j][sid] = row
        self.remaining[j] -= 1

    def skip(self, sid: str, reason: str) -> None:
        """Record one sample that could not be read."""
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


def prepare_device(device: str, seed: int) -> str:
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
    model: str, preset: str, seed: int, opts: ExtractOptions
) -> tuple[Any, Extractor, list[Any], SampleIndex, list[str]]:
    """The model's spec and ready extractor, the modalities it reads, the index and the ids."""
    from e2s_utils.data import SampleIndex
    from e2s_utils.models.registry import build_extractor, get_spec

    spec = get_spec(model)
    shape = spec.output_shape(preset, opts.size)
    recipe = spec.recipes.get(preset)
    modalities = list(recipe.modalities) if recipe is not None else list(MODALITIES)
    # a recipe that reads nothing (the random baseline) still takes its ids from every modality
    index = SampleIndex.from_root(opts.data_root, modalities or MODALITIES, on_error=opts.on_error)
    ids = _resolve_ids(index, opts.ids, opts.data_root)
    extractor = build_extractor(
        model,
        preset,  # type: ignore[arg-type]
        opts.size,  # type: ignore[arg-type]
        weights_dir=opts.weights_dir,
        seed=seed,
    )
    extractor = extractor.to(opts.device).eval()
    if tuple(extractor.output_shape) != tuple(shape):
        raise RuntimeError(f"{model}: extractor output_shape {extractor.output_shape} != {shape}")
    return spec, extractor, modalities, index, ids


@dataclass
class JobState:
    """One job between :func:`prepare_job` and :func:`finish_job`.

    Attributes:
        extractor: the ready extractor (``None`` once the job is finished, to free its memory).
        modalities: the modalities its recipe reads, in the recipe's order.
        index: its sample index (over its modalities, as a lone ``extract`` builds it).
        ids: its store's ids, in store order.
        store: its embedding store.
        report: its report, filled in as the run goes.
        pending: the shards this worker still has to compute.
        shape: its per-sample output ``(C, T)``.
        batch_size: cubes per forward pass.
    """

    extractor: Extractor | None
    modalities: list[str]
    index: SampleIndex
    ids: list[str]
    store: EmbeddingStore
    report: ExtractReport
    pending: list[int]
    shape: tuple[int, int]
    batch_size: int


def normalise_job(job: Sequence[Any]) -> tuple[str, str, int | None]:
    """``(model, preset, init_seed)`` from a ``(model, preset)`` or ``(model, preset, seed)``."""
    if len(job) not in (2, 3):
        raise ValueError(f"a job is (model, preset) or (model, preset, init_seed), got {job!r}")
    init_seed = job[2] if len(job) == 3 else None
    return str(job[0]), str(job[1]), None if init_seed is None else int(init_seed)


def prepare_job(job: Sequence[Any], opts: ExtractOptions) -> JobState:
    """Seed, build, check or create the store, list its pending shards and fit if it needs it.

    The steps and their order are those of a lone :func:`~e2s_utils.extract.extract` (the
    global RNGs are seeded with the job's seed right before its extractor is built and fitted),
    so a job gives the same store whether it runs alone or beside others.

    Raises:
        StoreConfigError: if the store holds embeddings of another configuration.
    """
    import torch

    from e2s_utils.runtime import seed_everything

    model, preset, init_seed = normalise_job(job)
    seed = opts.seed if init_seed is None else init_seed
    seed_everything(seed)
    t0 = time.perf_counter()
    spec, extractor, modalities, index, ids = _prepare(model, preset, seed, opts)
    batch_size = opts.batch_size or spec.default_batch_size
    config = store_config(
        spec,
        preset,
        opts.size,
        seed,
        opts.amp,
        extractor,
        modalities,
        index,
        ids,
        opts.fit_samples,
    )
    store = EmbeddingStore(store_path(opts.out_dir, model, preset, opts.size, init_seed))
    shape = spec.output_shape(preset, opts.size)
    info = {"data_root": str(Path(opts.data_root).resolve()), "torch": torch.__version__}
    store.create(config, ids, shape, shard_size=opts.shard_size, info=info)
    report = ExtractReport(
        model=model,
        preset=preset,
        size=opts.size,
        device=opts.device,
        amp=opts.amp,
        shard=f"{opts.shard[0]}/{opts.shard[1]}",
        batch_size=batch_size,
        num_workers=opts.num_workers,
        store=str(store.path),
        n_ids=len(ids),
        build_seconds=time.perf_counter() - t0,
        weights_identity=extractor.weights_identity,
        torch_threads=torch.get_num_threads(),
    )
    owned = [j for j in range(store.n_shards) if j % opts.shard[1] == opts.shard[0]]
    pending = store.pending_shards(opts.shard)
    report.shards_reused = [j for j in owned if j not in pending]
    if pending and spec.needs_fit:
        readable = set(index.ids)
        fit_ids = fit_subset([i for i in ids if i in readable], opts.fit_samples)
        report.fit_seconds = _fit(
            extractor, store, index, fit_ids, modalities, batch_size, seed, opts
        )
    return JobState(extractor, modalities, index, ids, store, report, pending, shape, batch_size)


def finish_job(state: JobState, opts: ExtractOptions) -> ExtractReport:
    """Check the job's pending shards were written, finalise its store, record its resources.

    Raises:
        StoreError: if a shard the job had to compute is still missing.
    """
    report, store = state.report, state.store
    state.extractor = None  # the job is done: let its model's memory go
    if state.pending:
        report.n_samples = sum(len(store.read_shard_meta(j)["ids"]) for j in report.shards_written)
        report.n_skipped = len(report.skipped)
        report.samples_per_s = report.n_samples / report.seconds if report.seconds > 0 else 0.0
        unfinished = [j for j in state.pending if not store.is_finished(j)]
        if unfinished:
            raise StoreError(f"shards {unfinished} of {store.path} were not completed; rerun")
    report.complete = store.finalize()
    report.peak_memory_mb, report.peak_memory_kind = _peak_memory_mb(opts.device)
    if opts.record_resources and report.shards_written:
        append_resources(opts.out_dir, report)
    return report
