"""Where a store lives and how its ids are cut into shards and shared among workers.

A store of one model, preset and size lives in ``<out_dir>/embeddings/<model>__<preset>__<size>/``.
Its ids are cut into shards of ``shard_size`` consecutive ids; worker ``i`` of ``n`` owns the shards
``j`` with ``j % n == i`` (``--shard i/n``, ``torchrun``, a cluster array job).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_SHARD_SIZE = 64


def store_path(
    out_dir: Path, model: str, preset: str, size: str, init_seed: int | None = None
) -> Path:
    """Folder of the embedding store of one model, preset and size.

    Args:
        out_dir: a profile's output folder (``ctx.out_dir``).
        model: registry name, e.g. ``dofa``.
        preset: ``as_intended`` or ``as_published_code``.
        size: ``micro``, ``tiny`` or ``full``.

        init_seed: the initialisation seed of a store extracted with another seed than the
            profile's (the randomly initialised networks of ``as_published_code`` get several).

    Returns:
        ``out_dir / "embeddings" / f"{model}__{preset}__{size}"`` (``__init<seed>`` appended
        for an ``init_seed``).
    """
    name = f"{model}__{preset}__{size}" + ("" if init_seed is None else f"__init{init_seed}")
    return Path(out_dir) / "embeddings" / name


def shard_of(index: int, shard_size: int) -> int:
    """The shard number of the id at position ``index``."""
    return index // shard_size


def owned_shards(n_shards: int, shard: tuple[int, int]) -> list[int]:
    """The shards worker ``i`` of ``n`` owns: every ``j`` with ``j % n == i``.

    Raises:
        ValueError: if ``shard`` is not ``(i, n)`` with ``0 <= i < n``.
    """
    i, n = shard
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    return [j for j in range(n_shards) if j % n == i]


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` into ``(i, n)``.

    Raises:
        ValueError: for anything other than ``i/n`` with ``0 <= i < n``.
    """
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError as err:
        raise ValueError(f"--shard must look like 'i/n' (e.g. 0/4), got {text!r}") from err
    owned_shards(0, (i, n))
    return i, n
