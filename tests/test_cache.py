"""The one cache: keys of configuration and code version, claimed folders, stored results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2s_utils import cache
from e2s_utils.cache import CacheKey, CacheMismatch, claim, read_result, write_result
from e2s_utils.errors import E2SError


def _key(**config: object) -> CacheKey:
    return CacheKey("evaluation", {"protocol": {"k_folds": 40, "epochs": 20}, **config})


def test_key_is_canonical_and_names_its_code_version() -> None:
    a = CacheKey("fusion", {"b": (1, 2), "a": {"y": 1, "x": 2}})
    b = CacheKey("fusion", {"a": {"x": 2, "y": 1}, "b": [1, 2]})
    assert a.digest == b.digest and len(a.digest) == 64 and a.short() == a.digest[:12]
    assert a.config == {"a": {"x": 2, "y": 1}, "b": [1, 2]}
    assert a.to_dict() == {"kind": "fusion", "code_version": a.code_version, "config": a.config}
    assert CacheKey("fusion", {"b": [1, 3]}).digest != CacheKey("fusion", {"b": [1, 2]}).digest
    assert CacheKey("store", {}).digest != CacheKey("fusion", {}).digest
    with pytest.raises(ValueError, match="unknown cache kind 'nope'"):
        CacheKey("nope")


def test_a_new_code_version_changes_the_digest(monkeypatch) -> None:
    before = _key().digest
    monkeypatch.setitem(cache.CODE_VERSIONS, "evaluation", cache.CODE_VERSIONS["evaluation"] + 1)
    assert _key().digest != before
    assert CacheKey("fusion", {}).digest == CacheKey("fusion", {}).digest


def test_claim_once_then_check(tmp_path: Path) -> None:
    key = _key(run="r1")
    assert claim(tmp_path / "run", key) is True
    stored = json.loads((tmp_path / "run" / cache.CACHE_FILE).read_text())
    assert stored == key.to_dict()
    assert claim(tmp_path / "run", _key(run="r1")) is False


def test_claim_refuses_another_key_and_lists_the_differences(tmp_path: Path) -> None:
    claim(tmp_path / "run", _key(run="r1", seed=1))
    other = CacheKey("evaluation", {"protocol": {"k_folds": 5, "epochs": 20}, "run": "r1"})
    with pytest.raises(CacheMismatch) as err:
        claim(tmp_path / "run", other)
    message = str(err.value)
    assert str(tmp_path / "run") in message and "refusing to mix" in message
    assert "config.protocol.k_folds: stored 40, now 5" in message
    assert 'config.seed: stored 1, now "<absent>"' in message
    assert "epochs" not in message  # only what differs is listed
    assert "Delete" in message and isinstance(err.value, E2SError)


def test_claim_refuses_another_code_version(tmp_path: Path, monkeypatch) -> None:
    claim(tmp_path / "run", _key())
    version = cache.CODE_VERSIONS["evaluation"]
    monkeypatch.setitem(cache.CODE_VERSIONS, "evaluation", version + 1)
    with pytest.raises(CacheMismatch, match=f"code_version: stored {version}, now {version + 1}"):
        claim(tmp_path / "run", _key())


def test_claim_of_a_corrupt_file_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / cache.CACHE_FILE).write_text("{half")
    with pytest.raises(CacheMismatch, match="not valid JSON.*delete"):
        claim(tmp_path / "run", _key())


def test_results_are_read_back_only_under_their_key(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "res" / "r.json"
    key = _key(checkpoint="epoch_00002")
    assert read_result(path, key) is None  # absent
    write_result(path, key, {"q_bar": 1.5, "tasks": ["a"]})
    assert read_result(path, key) == {"q_bar": 1.5, "tasks": ["a"]}
    assert read_result(path, _key(checkpoint="epoch_00004")) is None  # another key
    stored = json.loads(path.read_text())
    assert stored["digest"] == key.digest and stored["key"] == key.to_dict()
    monkeypatch.setitem(cache.CODE_VERSIONS, "evaluation", cache.CODE_VERSIONS["evaluation"] + 1)
    assert read_result(path, _key(checkpoint="epoch_00002")) is None  # another code version
    monkeypatch.undo()
    path.write_text("not json")
    assert read_result(path, key) is None  # unreadable: recomputed, never trusted
    path.write_text("[1, 2]")
    assert read_result(path, key) is None


def test_describe_difference_shortens_long_values() -> None:
    lines = cache.describe_difference({"a": "x" * 300, "n": {"m": 1}}, {"a": "y", "n": {"m": 1}})
    assert len(lines) == 1 and lines[0].startswith("a: stored ") and "..." in lines[0]
    assert len(lines[0]) < 300
