"""Several embedding stores filled in one pass over the cubes.

Reading a cube costs more than a small model's forward pass (about 53 CPU-ms per sample for the
three zipped Zarr modalities), and the study needs up to four stores per model (two presets and
extra initialisation seeds of the randomly initialised networks). ``extract_many(jobs, ...)``
prepares every job as a lone :func:`~e2s_utils.extract.extract` would (same store configuration,
same manifest and shard layout, same fit of a ``needs_fit`` baseline; a stale store is refused
before any cube is read), then runs ONE :class:`~torch.utils.data.DataLoader` over the ids whose
shards are pending in any job. Each id is read once, in the union of the modalities of the jobs
that still need it, and handed to every such job.

Every job still sees exactly the batches it would see alone: its shards are cut into the same
batches (:func:`~e2s_utils.extract.job.batches_by_shard`), a batch runs once all its ids have
arrived, and its tensors are the same stacked cubes. The loader's batches end wherever some
job's batch ends, so in the usual case (the jobs share ids, shard size and batch size) a job's
batch IS a loader batch and nothing is copied. A cube that cannot be read (``on_error="skip"``)
is skipped only by the jobs that read the failing modality, with the reason a lone run records,
so each store is bit-identical to the one :func:`~e2s_utils.extract.extract` writes (timing
fields of the report and resources row aside). This relies on extractors drawing no random
numbers from the global generators in their forward pass (the registry builds them under
:func:`torch.random.fork_rng`; the random baseline seeds itself from the ids).

Memory: every job of a group holds its model at once (its extractor, on ``device``), beside at
most about two loader batches of cubes. ``max_models_at_once`` cuts the jobs into groups that
run one after the other (each group is one pass over its pending ids), trading reads for memory.
Jobs whose store is already complete cost their configuration check only (the extractor is built
to learn its weights identity, then dropped) and join no group. A ``needs_fit`` baseline reads
its fit subset once more before the pass, as a lone run does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2s_utils.data.reader import DataError, read_cube
from e2s_utils.extract.job import (
    DEFAULT_FIT_SAMPLES,
    ExtractOptions,
    Job,
    JobState,
    OnError,
    Pending,
    autocast,
    batches_by_shard,
    call_extractor,
    finish_job,
    make_loader,
    normalise_job,
    prepare_device,
    prepare_job,
    sync,
    to_device,
)
from e2s_utils.extract.report import ExtractReport
from e2s_utils.store.layout import DEFAULT_SHARD_SIZE, parse_shard

if TYPE_CHECKING:
    import torch

    from e2s_utils.data import SampleIndex

#: The samples of one loader batch: ``{"id", "cubes", "rows", "errors"}`` (see :func:`collate_reads`).
Batch = dict[str, Any]


class CubeReads:
    """Map-style dataset: each id's cubes in the modalities the jobs that need it read.

    Unlike :class:`~e2s_utils.data.CubeDataset` a failing modality does not drop the other
    modalities of the sample: its error is recorded per modality, because one job may need the
    failing file and another may not read it at all.

    Args:
        ids: the ids to serve, by position.
        wanted: for each id, the modalities to read, in order.
        indexes: for each modality, an index that lists its files.
        on_error: ``raise`` the first :class:`DataError`, or record it and go on.
    """

    def __init__(
        self,
        ids: Sequence[str],
        wanted: dict[str, tuple[str, ...]],
        indexes: dict[str, SampleIndex],
        on_error: OnError,
    ) -> None:
        self.ids = list(ids)
        self.wanted = wanted
        self.indexes = indexes
        self.on_error = on_error

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> dict[str, Any]:
        import torch

        sid = self.ids[k]
        cubes: dict[str, torch.Tensor] = {}
        errors: dict[str, str] = {}
        for m in self.wanted[sid]:
            try:
                path = self.indexes[m].path(sid, m)  # type: ignore[arg-type]
                cubes[m] = torch.from_numpy(read_cube(path, m, sid))  # type: ignore[arg-type]
            except DataError as exc:
                if self.on_error == "raise":
                    raise
                errors[m] = str(exc)
        return {"id": sid, "cubes": cubes, "errors": errors}


def collate_reads(samples: list[dict[str, Any]]) -> Batch:
    """Stack :class:`CubeReads` items per modality over the samples that have it.

    Returns:
        ``{"id": [ids], "cubes": {m: (n_m, 4, C, 264, 264)}, "rows": {m: {id: row}},
        "errors": {id: {m: reason}}}`` (``errors`` lists only samples with a failed modality).
    """
    import torch

    modalities = list(dict.fromkeys(m for s in samples for m in s["cubes"]))
    cubes, rows = {}, {}
    for m in modalities:
        have = [s for s in samples if m in s["cubes"]]
        cubes[m] = torch.stack([s["cubes"][m] for s in have])
        rows[m] = {s["id"]: k for k, s in enumerate(have)}
    errors = {s["id"]: s["errors"] for s in samples if s["errors"]}
    return {"id": [s["id"] for s in samples], "cubes": cubes, "rows": rows, "errors": errors}


@dataclass
class _Feed:
    """One job inside a pass: its batches (as a lone run cuts them) and the ids that arrived."""

    state: JobState
    pending: Pending
    chunks: list[list[str]]
    chunk_of: dict[str, int] = field(default_factory=dict)
    arrived: dict[int, dict[str, Batch]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for c, chunk in enumerate(self.chunks):
            self.chunk_of.update(dict.fromkeys(chunk, c))

    def take(self, batch: Batch) -> list[int]:
        """Note which of the job's ids this loader batch brings; return the batches now whole."""
        whole = []
        for sid in batch["id"]:
            c = self.chunk_of.get(sid)
            if c is not None:
                got = self.arrived.setdefault(c, {})
                got[sid] = batch
                if len(got) == len(self.chunks[c]):
                    whole.append(c)
        return whole


def _reason(state: JobState, sid: str, errors: dict[str, str]) -> str | None:
    """Why the job skips ``sid`` (its first failing modality, as a lone run says it), or None."""
    for m in state.modalities:
        if m in errors:
            try:  # a missing file: the job's own index words the message (it names its modalities)
                state.index.path(sid, m)  # type: ignore[arg-type]
            except DataError as exc:
                return str(exc)
            return errors[m]
    return None


def _gather(parts: dict[str, Batch], good: list[str], m: str) -> torch.Tensor:
    """The ``(len(good), ...)`` tensor of modality ``m``: a loader batch's own when it matches."""
    import torch

    first = parts[good[0]]
    if all(parts[s] is first for s in good) and list(first["rows"][m]) == good:
        return first["cubes"][m]
    return torch.stack([parts[s]["cubes"][m][parts[s]["rows"][m][s]] for s in good])


def _run_chunk(feed: _Feed, c: int, opts: ExtractOptions) -> None:
    """Embed one whole batch of a job (skipping what it cannot read) and write finished shards."""
    parts, chunk = feed.arrived.pop(c), feed.chunks[c]
    state, report = feed.state, feed.state.report
    good = []
    for sid in chunk:
        reason = _reason(state, sid, parts[sid]["errors"].get(sid, {}))
        if reason is None:
            good.append(sid)
        else:
            feed.pending.skip(sid, reason)
            report.skipped[sid] = reason
    if good:
        if state.extractor is None:
            raise RuntimeError(f"{report.store}: the job's extractor was already released")
        cubes = {m: _gather(parts, good, m) for m in state.modalities}
        m0 = time.perf_counter()
        with autocast(opts.device, opts.amp):
            out = call_extractor(
                state.extractor, to_device(cubes, state.modalities, opts.device), good
            )
        out = out.float().cpu().numpy()
        sync(opts.device)
        report.model_seconds += time.perf_counter() - m0
        if out.shape != (len(good), *state.shape):
            raise RuntimeError(
                f"{report.model} returned {out.shape} for a batch of "
                f"{len(good)}, expected (n, *{state.shape})"
            )
        for sid, row in zip(good, out, strict=True):
            feed.pending.add(sid, row)
    report.shards_written += feed.pending.flush(set(chunk))


def _plan(
    feeds: Sequence[_Feed], order: Sequence[str]
) -> tuple[list[str], list[list[int]], dict[str, tuple[str, ...]]]:
    """The ids to read (in ``order``), the loader's batches and each id's modalities.

    A loader batch ends wherever some job's batch ends (so no loader batch mixes two batches of
    one job) and holds at most the largest job batch size.
    """
    rank = {sid: k for k, sid in enumerate(order)}
    modality_order = list(dict.fromkeys(m for f in feeds for m in f.state.modalities))
    wants: dict[str, set[str]] = {}
    ends: set[str] = set()
    for f in feeds:
        for chunk in f.chunks:
            ends.add(max(chunk, key=rank.__getitem__))
            for sid in chunk:
                wants.setdefault(sid, set()).update(f.state.modalities)
    needed = sorted(wants, key=rank.__getitem__)
    cap = max(f.state.batch_size for f in feeds)
    batches: list[list[int]] = [[]]
    for k, sid in enumerate(needed):
        batches[-1].append(k)
        if sid in ends or len(batches[-1]) >= cap:
            batches.append([])
    wanted = {s: tuple(m for m in modality_order if m in wants[s]) for s in needed}
    return needed, [b for b in batches if b], wanted


def _describe(states: Sequence[JobState], opts: ExtractOptions) -> str:
    shard = f"{opts.shard[0]}/{opts.shard[1]}"
    if len(states) == 1:
        r = states[0].report
        return f"extract {r.model} ({r.preset}, {r.size}) shard {shard}"
    return f"extract {len(states)} stores ({opts.size}) shard {shard}"


def run_pass(states: Sequence[JobState], opts: ExtractOptions) -> None:
    """Read every pending id once and feed it to every job that needs it (see the module doc).

    Each job's report gets the pass's wall time (``seconds``) and data wait (``data_seconds``),
    which the jobs share, and its own model time (``model_seconds``).
    """
    import torch
    from tqdm.auto import tqdm

    feeds = [
        _Feed(
            s,
            Pending(s.store, s.pending, s.shape),
            batches_by_shard(s.store, s.pending, s.batch_size),
        )
        for s in states
    ]
    order = opts.ids if opts.ids is not None else sorted(set().union(*(s.ids for s in states)))
    needed, batches, wanted = _plan(feeds, order)
    indexes: dict[str, SampleIndex] = {}
    for s in states:
        for m in s.modalities:
            indexes.setdefault(m, s.index)
    dataset = CubeReads(needed, wanted, indexes, opts.on_error)
    loader = make_loader(dataset, batches, collate_reads, opts.num_workers, opts.device, opts.seed)
    bar = tqdm(
        total=len(needed), desc=_describe(states, opts), unit="cube", disable=not opts.progress
    )
    data_seconds = 0.0
    start = wait_start = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            data_seconds += time.perf_counter() - wait_start
            for feed in feeds:
                for c in feed.take(batch):
                    _run_chunk(feed, c, opts)
            bar.update(len(batch["id"]))
            wait_start = time.perf_counter()
    bar.close()
    for s in states:
        s.report.seconds = time.perf_counter() - start
        s.report.data_seconds = data_seconds


def _run_group(group: list[tuple[int, JobState]], opts: ExtractOptions) -> dict[int, ExtractReport]:
    """One pass for a group of prepared jobs, then each job finished (keyed by its position)."""
    run_pass([s for _, s in group], opts)
    return {k: finish_job(s, opts) for k, s in group}


def _check_jobs(
    jobs: Sequence[Job], max_models_at_once: int | None
) -> list[tuple[str, str, int | None]]:
    normalised = [normalise_job(j) for j in jobs]
    repeated = sorted({j for j in normalised if normalised.count(j) > 1}, key=str)
    if repeated:
        raise ValueError(f"jobs repeat a store (they would write the same files): {repeated}")
    if max_models_at_once is not None and max_models_at_once < 1:
        raise ValueError(f"max_models_at_once must be >= 1 or None, got {max_models_at_once}")
    return normalised


def extract_many(
    jobs: Sequence[Job],
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
    max_models_at_once: int | None = None,
) -> list[ExtractReport]:
    """Extract (or resume) several stores in one pass over the cubes (see the module docstring).

    Each store ends bit-identical to what :func:`~e2s_utils.extract.extract` writes for its job
    with the same arguments; a job's ``init_seed`` replaces ``seed`` for that store, as there.

    Args:
        jobs: ``(model, preset)`` or ``(model, preset, init_seed)`` per store (no repeats).
        size: ``micro``, ``tiny`` or ``full`` (every job).
        data_root: dataset root.
        out_dir: output folder; a store goes to ``store_path(out_dir, model, preset, size, seed)``.
        ids: ids to embed, in store order (default: every id under ``data_root``, sorted).
        batch_size: cubes per forward pass (``None``: each model's default batch size).
        num_workers: DataLoader worker processes of the shared pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
        amp: run the models under autocast; part of every store's hash.
        shard: ``(i, n)``: this worker computes the shards ``j`` with ``j % n == i`` of each store.
        seed: seed of the random initialisation (jobs without ``init_seed``) and the loader.
        weights_dir: folder of official checkpoints (default ``E2S_WEIGHTS_DIR``).
        on_error: ``raise`` on an unreadable cube, or ``skip`` it in the jobs that read it.
        progress: show tqdm progress bars.
        shard_size: ids per store shard.
        fit_samples: ids a ``needs_fit`` baseline is fitted on (evenly spaced; ``0``: all).
        record_resources: append one row per store that computed something to
            ``<out_dir>/embeddings/resources.csv``.
        max_models_at_once: at most this many models in memory (jobs with pending shards are
            grouped in order; one pass per group). ``None``: all of them, one pass.

    Returns:
        One :class:`ExtractReport` per job, in the jobs' order. ``seconds`` and
        ``data_seconds`` are those of the pass a job ran in (shared with its group, so they do
        not add up over jobs); ``model_seconds`` is the job's own.

    Raises:
        StoreConfigError: if a store holds embeddings of another configuration (before the
            pass reads any cube, unless an earlier group already ran).
        DataError: for an unreadable cube with ``on_error="raise"``.
        ValueError: for a repeated job, a malformed job or a bad option.
        KeyError: for an unknown model, preset or size.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    parse_shard(f"{shard[0]}/{shard[1]}")
    todo = _check_jobs(jobs, max_models_at_once)
    opts = ExtractOptions(
        size=size,
        data_root=Path(data_root),
        out_dir=Path(out_dir),
        ids=None if ids is None else list(ids),
        batch_size=batch_size,
        num_workers=num_workers,
        device=prepare_device(device, seed),
        amp=amp,
        shard=shard,
        seed=seed,
        weights_dir=weights_dir,
        on_error=on_error,
        progress=progress,
        shard_size=shard_size,
        fit_samples=fit_samples,
        record_resources=record_resources,
    )
    limit = max_models_at_once or len(todo) or 1
    reports: dict[int, ExtractReport] = {}
    group: list[tuple[int, JobState]] = []
    for k, job in enumerate(todo):
        state = prepare_job(job, opts)
        if not state.pending:  # complete (for this worker): checked, nothing to read
            reports[k] = finish_job(state, opts)
            continue
        group.append((k, state))
        if len(group) == limit:
            reports.update(_run_group(group, opts))
            group = []
    if group:
        reports.update(_run_group(group, opts))
    return [reports[k] for k in range(len(todo))]
