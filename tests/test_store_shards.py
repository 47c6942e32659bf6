"""The sharded embedding store: atomic shards, resume bookkeeping, refusal to mix, checksums."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from e2s_utils import cache
from e2s_utils import store as S
from e2s_utils.cache import CacheKey
from e2s_utils.io import ids_hash


def _ids(n: int) -> list[str]:
    return [f"{k:064x}" for k in range(1000, 1000 + n)]


def _array(n: int, c: int = 3, t: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, c, t)).astype(np.float32)


META = {"model": "fake", "preset": "as_intended", "size": "micro", "seed": 0}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_roundtrip_order_shape_and_sharding(tmp_path: Path) -> None:
    ids, x = _ids(7), _array(7)
    st = S.write_embeddings(tmp_path / "s", ids, x, META, shard_size=3)
    assert st.exists() and st.complete
    assert st.n_shards == 3 and st.shape == (3, 2)
    assert sorted(p.name for p in (st.path / "shards").iterdir()) == [
        f"shard-{j:05d}.{ext}" for j in range(3) for ext in ("json", "npy")
    ]
    got_ids, got = st.read()
    assert got_ids == ids and got.dtype == np.float32
    np.testing.assert_array_equal(got, x)
    want = [ids[5], ids[0], ids[3]]
    got_ids, got = st.read(want)
    assert got_ids == want
    np.testing.assert_array_equal(got, x[[5, 0, 3]])
    assert st.read([])[1].shape == (0, 3, 2)
    # a fresh object reads the same from disk
    again = S.EmbeddingStore(st.path)
    assert again.ids == ids and again.manifest["config"] == META


def test_unknown_ids_are_named(tmp_path: Path) -> None:
    st = S.write_embeddings(tmp_path / "s", _ids(4), _array(4), META)
    with pytest.raises(S.StoreError, match="not-an-id") as err:
        st.read([_ids(4)[0], "not-an-id"])
    assert str(st.path) in str(err.value)


def test_missing_store_is_explained(tmp_path: Path) -> None:
    st = S.EmbeddingStore(tmp_path / "nothing")
    assert not st.exists()
    with pytest.raises(S.StoreError, match="e2s extract"):
        st.read()


def test_refuses_to_mix_configs(tmp_path: Path) -> None:
    ids = _ids(4)
    S.write_embeddings(tmp_path / "s", ids, _array(4), META)
    other = {**META, "seed": 1}
    with pytest.raises(S.StoreConfigError) as err:
        S.write_embeddings(tmp_path / "s", ids, _array(4), other)
    msg = str(err.value)
    assert "seed" in msg and str(tmp_path / "s") in msg and "delete" in msg and "--out" in msg
    with pytest.raises(S.StoreConfigError, match="ids"):
        S.write_embeddings(tmp_path / "s", _ids(5), _array(5), META)
    with pytest.raises(S.StoreConfigError, match="shard_size"):
        S.write_embeddings(tmp_path / "s", ids, _array(4), META, shard_size=2)
    with pytest.raises(S.StoreConfigError, match="shape"):
        S.write_embeddings(tmp_path / "s", ids, _array(4, c=5), META)
    # the same configuration is accepted again (idempotent)
    S.write_embeddings(tmp_path / "s", ids, _array(4), META)


def test_partial_store_resume_and_finalize(tmp_path: Path) -> None:
    ids, x = _ids(5), _array(5)
    st = S.EmbeddingStore(tmp_path / "s")
    assert st.create(META, ids, (3, 2), shard_size=2) is True
    assert st.create(META, ids, (3, 2), shard_size=2) is False  # second worker: validates
    assert st.pending_shards() == [0, 1, 2]
    assert st.pending_shards((1, 2)) == [1]
    st.write_shard(1, ids[2:4], x[2:4])
    assert st.finished_shards() == [1] and st.pending_shards() == [0, 2]
    assert st.finalize() is False and not st.complete
    with pytest.raises(S.StoreError, match="incomplete"):
        st.read()
    part_ids, part = st.read(allow_partial=True)
    assert part_ids == ids[2:4]
    np.testing.assert_array_equal(part, x[2:4])
    np.testing.assert_array_equal(st.read([ids[3]])[1], x[[3]])
    with pytest.raises(S.StoreError, match="not finished"):
        st.read([ids[0]])
    st.write_shard(0, ids[:2], x[:2])
    st.write_shard(2, ids[4:], x[4:])
    assert st.finalize() is True and S.EmbeddingStore(st.path).complete
    np.testing.assert_array_equal(st.read()[1], x)


def test_skipped_ids_are_recorded(tmp_path: Path) -> None:
    ids, x = _ids(4), _array(4)
    st = S.EmbeddingStore(tmp_path / "s")
    st.create(META, ids, (3, 2), shard_size=2)
    st.write_shard(0, [ids[0]], x[:1], skipped={ids[1]: "unreadable zip"})
    st.write_shard(1, ids[2:], x[2:])
    assert st.finalize()
    assert st.manifest["skipped"] == {ids[1]: "unreadable zip"}
    assert st.ids == [ids[0], ids[2], ids[3]]
    assert st.read()[0] == [ids[0], ids[2], ids[3]]
    with pytest.raises(S.StoreError, match="unreadable zip"):
        st.read([ids[1]])


def test_write_shard_validates(tmp_path: Path) -> None:
    ids, x = _ids(4), _array(4)
    st = S.EmbeddingStore(tmp_path / "s")
    st.create(META, ids, (3, 2), shard_size=2)
    with pytest.raises(ValueError, match="must hold ids"):
        st.write_shard(0, [ids[1], ids[0]], x[:2])
    with pytest.raises(ValueError, match="shape"):
        st.write_shard(0, ids[:2], x[:2, :2])
    with pytest.raises(ValueError, match="float32"):
        st.write_shard(0, ids[:2], x[:2].astype(np.float64))
    assert st.finished_shards() == []  # nothing half-written


def test_corrupt_shard_is_detected(tmp_path: Path) -> None:
    st = S.EmbeddingStore(tmp_path / "s")
    ids = _ids(4)
    st.create(META, ids, (3, 2), shard_size=2)
    st.write_shard(0, ids[:2], _array(2))
    st.write_shard(1, ids[2:], _array(2, seed=1))
    raw = bytearray(st.shard_file(1).read_bytes())
    raw[-1] ^= 0xFF
    st.shard_file(1).write_bytes(bytes(raw))
    with pytest.raises(S.StoreError, match="checksum"):
        st.finalize(verify=True)


def test_duplicate_and_empty_ids_rejected(tmp_path: Path) -> None:
    st = S.EmbeddingStore(tmp_path / "s")
    with pytest.raises(ValueError, match="duplicate"):
        st.create(META, ["a", "b", "a"], (1, 1))
    with pytest.raises(ValueError, match="no ids"):
        st.create(META, [], (1, 1))


def test_store_is_byte_deterministic(tmp_path: Path) -> None:
    ids, x = _ids(6), _array(6)
    a = S.write_embeddings(tmp_path / "a", ids, x, META, shard_size=4)
    b = S.write_embeddings(tmp_path / "b", ids, x, META, shard_size=4)
    assert _files(a.path) == _files(b.path)


def test_manifest_records_hash_and_no_timestamps(tmp_path: Path) -> None:
    st = S.write_embeddings(tmp_path / "s", _ids(3), _array(3), {**META, "weights_identity": "w"})
    manifest = json.loads(st.manifest_path.read_text())
    assert manifest["config_hash"] == CacheKey("store", manifest["config"]).digest
    assert st.weights_identity == "w"
    assert manifest["ids_sha256"] == ids_hash(_ids(3))
    assert not any("time" in k or "date" in k for k in manifest)


def test_fitted_state_first_writer_wins(tmp_path: Path) -> None:
    st = S.EmbeddingStore(tmp_path / "s")
    st.create(META, _ids(2), (1, 1))
    assert st.load_fitted_state() is None
    assert st.save_fitted_state({"w": torch.ones(3)}) is True
    assert st.save_fitted_state({"w": torch.zeros(3)}) is False
    state = st.load_fitted_state()
    assert state is not None
    torch.testing.assert_close(state["w"], torch.ones(3))


def test_no_temporary_files_left(tmp_path: Path) -> None:
    st = S.write_embeddings(tmp_path / "s", _ids(5), _array(5), META, shard_size=2)
    assert not [p for p in st.path.rglob("*") if ".tmp-" in p.name]


def test_a_new_store_code_version_is_refused(tmp_path: Path, monkeypatch) -> None:
    ids = _ids(4)
    S.write_embeddings(tmp_path / "s", ids, _array(4), META)
    monkeypatch.setitem(cache.CODE_VERSIONS, "store", cache.CODE_VERSIONS["store"] + 1)
    with pytest.raises(S.StoreConfigError, match="extraction code version differs"):
        S.write_embeddings(tmp_path / "s", ids, _array(4), META)


def test_unreadable_manifests_and_shards_are_explained(tmp_path: Path) -> None:
    st = S.write_embeddings(tmp_path / "s", _ids(4), _array(4), META, shard_size=2)
    st.shard_file(1).unlink()
    with pytest.raises(S.StoreError, match="missing although its sidecar exists"):
        S.EmbeddingStore(st.path).read()
    text = st.manifest_path.read_text()
    st.manifest_path.write_text("{oops")
    with pytest.raises(S.StoreError, match="not valid JSON"):
        _ = S.EmbeddingStore(st.path).manifest
    st.manifest_path.write_text(text.replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(S.StoreError, match="format version 99"):
        _ = S.EmbeddingStore(st.path).manifest
