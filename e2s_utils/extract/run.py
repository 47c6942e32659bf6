"""Batched, resumable, sharded extraction of one model's embeddings into the embedding store.

``extract(model, preset, size, data_root, out_dir)`` reads the cubes a model's input recipe needs
through a :class:`~torch.utils.data.DataLoader` (worker processes), runs the registry's extractor
under :func:`torch.inference_mode` on any torch device (optionally under autocast), and writes
``(n, C, T)`` float32 embeddings shard by shard into the store (:mod:`e2s_utils.store`). A rerun
resumes: finished shards are never recomputed, a different configuration is refused. Batches
never straddle shards, so a shard's numbers do not depend on which other shards were computed in
the same run: one run, a resumed run and a run split over several processes (``shard=(i, n)``,
``--shard i/n`` or ``torchrun``) give a byte-identical store (same seed, same machine, same batch
size).

Baselines that need fitting (``needs_fit``, e.g. random convolutional features + PCA) are fitted
first on an evenly spaced, documented subset of the store's ids; the fitted state is saved in the
store and reused by every later run and every worker, so resuming never refits differently.

``extract`` is :func:`~e2s_utils.extract.many.extract_many` with one job: the same preparation
(:mod:`e2s_utils.extract.job`) and the same loop, so one store written alone and the same store
written in a multi-store pass are bit-identical.
"""

from __future__ import annotations

from pathlib import Path

from e2s_utils.extract.job import (
    DEFAULT_FIT_SAMPLES,
    OnError,
    data_fingerprint,
    fit_subset,
    shard_from_env,
    store_config,
)
from e2s_utils.extract.many import extract_many
from e2s_utils.extract.report import ExtractReport
from e2s_utils.store.layout import DEFAULT_SHARD_SIZE

__all__ = [
    "DEFAULT_FIT_SAMPLES",
    "data_fingerprint",
    "extract",
    "fit_subset",
    "shard_from_env",
    "store_config",
]


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
    (report,) = extract_many(
        [(model, preset, init_seed)],
        size,
        data_root,
        out_dir,
        ids=ids,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        amp=amp,
        shard=shard,
        seed=seed if init_seed is None else init_seed,
        weights_dir=weights_dir,
        on_error=on_error,
        progress=progress,
        shard_size=shard_size,
        fit_samples=fit_samples,
        record_resources=record_resources,
    )
    return report
