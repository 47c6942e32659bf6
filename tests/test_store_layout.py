"""Where a store lives and how its shards are cut and shared among workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2s_utils.store.layout import (
    DEFAULT_SHARD_SIZE,
    owned_shards,
    parse_shard,
    shard_of,
    store_path,
)


def test_store_path_layout(tmp_path: Path) -> None:
    assert store_path(tmp_path, "dofa", "as_intended", "micro") == (
        tmp_path / "embeddings" / "dofa__as_intended__micro"
    )


def test_shard_of_cuts_consecutive_ids() -> None:
    assert [shard_of(i, 3) for i in range(7)] == [0, 0, 0, 1, 1, 1, 2]
    assert shard_of(DEFAULT_SHARD_SIZE, DEFAULT_SHARD_SIZE) == 1


def test_owned_shards_and_parse() -> None:
    assert owned_shards(5, (0, 2)) == [0, 2, 4]
    assert owned_shards(5, (1, 2)) == [1, 3]
    assert owned_shards(5, (0, 1)) == [0, 1, 2, 3, 4]
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "x", "1/0", "1-2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="0 <= i < n"):
        owned_shards(3, (2, 2))
