"""Writing a whole store at once: shards cut from the array, validated and finalised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2s_utils.store import EmbeddingStore, write_embeddings
from tests.helpers import make_ids

META = {"model": "fake", "preset": "as_intended", "size": "micro", "seed": 0}


def test_shards_are_cut_from_the_array_and_finalised(tmp_path: Path) -> None:
    ids = make_ids(5)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))  # float64 is cast
    st = write_embeddings(tmp_path / "s", ids, x, META, shard_size=2)
    assert st.complete and st.finished_shards() == [0, 1, 2]
    assert st.shard_ids(2) == ids[4:]
    again = EmbeddingStore(st.path)
    got_ids, got = again.read()
    assert got_ids == ids and got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))
    assert again.config == META and again.manifest["n_embeddings"] == 5


def test_bulk_write_checks_the_array(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(n, C, T\) with n = 3"):
        write_embeddings(tmp_path / "s", make_ids(3), np.zeros((4, 3, 2), np.float32), META)
    with pytest.raises(ValueError, match=r"\(n, C, T\)"):
        write_embeddings(tmp_path / "s", make_ids(3), np.zeros((3, 2), np.float32), META)
    assert not (tmp_path / "s").exists()
