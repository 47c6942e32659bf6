"""What a study needs before it can run: the dataset, every embedding store, the one loader.

:func:`ensure_stores` creates the synthetic dataset (for a synthetic profile) and every missing or
unfinished store; both steps are idempotent. :func:`prepare_inputs` does that and returns the
:class:`~e2s_utils.store.StudyInputs` of the one loader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from e2s_utils.store.loader import StudyInputs, load_inputs
from e2s_utils.studies.ablation import StoreRef, ablation_runs, stores_needed

if TYPE_CHECKING:
    from e2s_utils.config import Profile, RunContext
    from e2s_utils.extract import ExtractReport


def ensure_dataset(ctx: RunContext, *, progress: bool | None = None) -> None:
    """Write the profile's synthetic dataset if it is synthetic and not there yet."""
    prof = ctx.profile
    if prof.data.synthetic:
        from e2s_utils.data import synthetic

        synthetic.ensure_dataset(
            ctx.data_root,
            n=prof.data.n_samples,
            seed=prof.data.seed,
            layout="challenge",
            progress=prof.progress if progress is None else progress,
        )


def ensure_stores(
    ctx: RunContext,
    stores: Iterable[Sequence[Any]],
    *,
    progress: bool | None = None,
    max_models_at_once: int | None = None,
) -> list[ExtractReport]:
    """Create the synthetic dataset and any missing or unfinished embedding store.

    Every store goes into one :func:`~e2s_utils.extract.extract_many` call, so the cubes are
    read once for all of them (the stores are bit-identical to separate extractions). A complete
    store is reused when its configuration matches, and refused (naming the store and the
    differences) when it does not, so stale embeddings are never mixed in.

    Args:
        ctx: the run context.
        stores: ``(model, preset)`` or ``(model, preset, init_seed)`` to make sure of
            (``init_seed``: a store variant extracted with that initialisation seed); a store
            named twice is extracted once.
        progress: show progress bars (default: the profile's setting).
        max_models_at_once: at most this many models in memory at once (``None``: every model
            of a store still to compute; see :func:`~e2s_utils.extract.extract_many`).

    Returns:
        One report per store, in the order of ``stores``.
    """
    from e2s_utils import extract

    prof = ctx.profile
    progress = prof.progress if progress is None else progress
    ensure_dataset(ctx, progress=progress)
    refs = [_store_ref(ref) for ref in stores]
    unique = list(dict.fromkeys(refs))
    reports = extract.extract_many(
        unique,
        prof.extract.size,
        ctx.data_root,
        ctx.out_dir,
        batch_size=prof.extract.batch_size,
        num_workers=prof.extract.num_workers,
        device=ctx.device,
        seed=prof.seed,
        progress=progress,
        max_models_at_once=max_models_at_once,
    )
    by_ref = dict(zip(unique, reports, strict=True))
    return [by_ref[ref] for ref in refs]


def _store_ref(ref: Sequence[Any]) -> StoreRef:
    """``(model, preset, init_seed)`` of a two- or three-element store reference."""
    return str(ref[0]), str(ref[1]), ref[2] if len(ref) > 2 else None


def model_stores(profile: Profile, model: str) -> list[StoreRef]:
    """The stores of one model the whole study reads: its main store first.

    The main store is ``(model, profile.extract.preset)``; then come the ablation's stores of
    that model (:func:`~e2s_utils.studies.ablation.stores_needed`: both presets of a foundation
    model, and the init-seed variants of the presets that run it randomly initialised).
    """
    main: StoreRef = (model, profile.extract.preset, None)
    theirs = [ref for ref in stores_needed(ablation_runs(profile), profile) if ref[0] == model]
    return [main, *[ref for ref in theirs if ref != main]]


def ensure_model_stores(
    ctx: RunContext, model: str, *, progress: bool | None = None
) -> list[ExtractReport]:
    """Fill every store of ``model`` the study reads (:func:`model_stores`) in one pass.

    Returns:
        One report per store, the main store's first.
    """
    return ensure_stores(ctx, model_stores(ctx.profile, model), progress=progress)


def prepare_inputs(
    ctx: RunContext, stores: Iterable[Sequence[Any]], *, progress: bool | None = None
) -> StudyInputs:
    """:func:`ensure_stores`, then the one loader's :class:`StudyInputs` for the profile."""
    ensure_stores(ctx, stores, progress=progress)
    prof = ctx.profile
    inputs = load_inputs(ctx.data_root, ctx.out_dir, prof.extract.size, setting=prof.data.setting)
    ctx.add_stamp(inputs.split.stamp)
    return inputs
