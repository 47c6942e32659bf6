"""Independent study units computed side by side in worker processes on the CPU.

The studies' units (an ablation row x seed, a controlled experiment's condition) are independent
and each writes its result to the cache, so the ones missing from it can be computed in
``workers`` processes at once and then read back in order by the ordinary loop. On a small CPU
this beats one process with several torch threads: the units' operations are small, and threads
scale poorly on them. Workers are spawned (a fork of a process that holds torch threads can
deadlock), run one torch thread each, and receive the study's state once, through ``init``.

Results equal those of one unit after the other up to the float rounding of a different thread
count. A unit that fails raises in the caller, as it would in the loop; the finished ones stay
cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["compute_side_by_side"]


def _start(init: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    import torch

    torch.set_num_threads(1)
    init(*initargs)


def _main_spec_for_spawn() -> None:
    """Give ``__main__`` the ``__spec__`` that spawning reads, where a Jupyter kernel's namespace
    reset (``%reset -f``, the runner's shared kernel) removed it: ``None`` is what an interactive
    ``__main__`` has, and makes the workers start without re-running it."""
    import sys

    main = sys.modules["__main__"]
    if not hasattr(main, "__spec__"):
        main.__spec__ = None


def compute_side_by_side(
    unit: Callable[..., str],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    init: Callable[..., None],
    initargs: tuple[Any, ...],
    desc: str,
    progress: bool = True,
) -> None:
    """Run ``unit(*job)`` for every job in ``workers`` spawned processes.

    Args:
        unit: a module-level function computing one unit into the cache; returns a label.
        jobs: its arguments, one tuple per unit, in the order to start them (longest first
            keeps the last ones short).
        workers: processes (fewer when there are fewer jobs).
        init: a module-level function run once in each worker with ``initargs`` (the state
            every unit reads).
        desc: the progress bar's label.
        progress: show a progress bar.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    if not jobs:
        return
    _main_spec_for_spawn()
    with ProcessPoolExecutor(
        min(workers, len(jobs)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(init, initargs),
    ) as pool:
        futures = [pool.submit(unit, *job) for job in jobs]
        with tqdm(total=len(futures), desc=desc, unit="unit", disable=not progress) as bar:
            for future in as_completed(futures):
                bar.set_postfix_str(future.result())  # a failed unit raises here
                bar.update()
