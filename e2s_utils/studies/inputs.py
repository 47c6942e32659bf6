"""What a study needs before it can run: the dataset, every embedding store, the one loader.

:func:`ensure_stores` creates the synthetic dataset (for a synthetic profile) and every missing or
unfinished store; both steps are idempotent. :func:`prepare_inputs` does that and returns the
:class:`~e2s_utils.store.StudyInputs` of the one loader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from e2s_utils.store.loader import StudyInputs, load_inputs

if TYPE_CHECKING:
    from e2s_utils.config import RunContext


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
    ctx: RunContext, stores: Iterable[Sequence[Any]], *, progress: bool | None = None
) -> None:
    """Create the synthetic dataset and any missing or unfinished embedding store.

    A complete store is reused when its configuration matches, and refused (naming the store and
    the differences) when it does not, so stale embeddings are never mixed in.

    Args:
        ctx: the run context.
        stores: ``(model, preset)`` or ``(model, preset, init_seed)`` to make sure of
            (``init_seed``: a store variant extracted with that initialisation seed).
        progress: show progress bars (default: the profile's setting).
    """
    from e2s_utils import extract

    prof = ctx.profile
    progress = prof.progress if progress is None else progress
    ensure_dataset(ctx, progress=progress)
    for ref in stores:
        model, preset = ref[0], ref[1]
        init_seed = ref[2] if len(ref) > 2 else None
        # a complete store is still checked against this configuration (a stale one is refused)
        extract.extract(
            model,
            preset,
            prof.extract.size,
            ctx.data_root,
            ctx.out_dir,
            batch_size=prof.extract.batch_size,
            num_workers=prof.extract.num_workers,
            device=ctx.device,
            seed=prof.seed,
            init_seed=init_seed,
            progress=progress,
        )


def prepare_inputs(
    ctx: RunContext, stores: Iterable[Sequence[Any]], *, progress: bool | None = None
) -> StudyInputs:
    """:func:`ensure_stores`, then the one loader's :class:`StudyInputs` for the profile."""
    ensure_stores(ctx, stores, progress=progress)
    prof = ctx.profile
    inputs = load_inputs(ctx.data_root, ctx.out_dir, prof.extract.size, setting=prof.data.setting)
    ctx.add_stamp(inputs.split.stamp)
    return inputs
