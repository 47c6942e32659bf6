"""The one atomic writer and the hashes: old file kept on failure, exclusive creation, a full disk."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from e2s_utils import io
from e2s_utils.errors import E2SError, OutputError


def _no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_atomic_write_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.txt"
    assert io.atomic_write_text(target, "one\n") == target
    io.atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and _no_temporaries(target.parent)


def test_a_failed_rename_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "replace", full_disk)
    with pytest.raises(OutputError) as err:
        io.atomic_write_bytes(target, b"new content")
    assert target.read_text() == "old"
    assert _no_temporaries(tmp_path)
    message = str(err.value)
    assert str(target) in message and "MiB free" in message and "No space left" in message
    assert "E2S_OUTPUT_DIR" in message and "rerun" in message
    assert isinstance(err.value, E2SError) and isinstance(err.value, OSError)
    assert isinstance(err.value.__cause__, OSError)


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.json"
    io.atomic_write_json(target, {"v": 1})

    def full_disk(path: Path, data: bytes) -> None:
        Path(path).write_bytes(data[:3])  # a partial temporary file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io, "_write_synced", full_disk)
    with pytest.raises(OutputError, match=r"f\.json .*MiB free"):
        io.atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert _no_temporaries(tmp_path)


def test_exclusive_write_creates_once(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "sub" / "manifest.json"
    assert io.exclusive_write_bytes(target, b"first") is True
    assert io.exclusive_write_bytes(target, b"second") is False
    assert target.read_bytes() == b"first" and _no_temporaries(target.parent)

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "link", full_disk)
    with pytest.raises(OutputError, match=r"other\.json .*E2S_OUTPUT_DIR"):
        io.exclusive_write_bytes(tmp_path / "sub" / "other.json", b"x")
    assert not (tmp_path / "sub" / "other.json").exists() and _no_temporaries(target.parent)


def test_a_full_disk_while_saving_a_checkpoint_names_the_file(tmp_path: Path, monkeypatch) -> None:
    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "replace", full_disk)
    with pytest.raises(OutputError, match=r"epoch_00001\.pt .*MiB free"):
        io.atomic_torch_save({"w": torch.ones(2)}, tmp_path / "epoch_00001.pt")
    assert list(tmp_path.iterdir()) == []


def test_json_encoding_of_numpy_paths_and_nan(tmp_path: Path) -> None:
    obj = {"b": np.float32(0.5), "a": [np.int64(3), np.bool_(True)], "p": Path("/x/y/run.pt")}
    obj["arr"] = np.arange(2)
    path = io.atomic_write_json(tmp_path / "o.json", obj)
    text = path.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')  # keys sorted
    assert json.loads(text) == {"a": [3, True], "arr": [0, 1], "b": 0.5, "p": "run.pt"}
    with pytest.raises(TypeError, match="cannot serialise object"):
        io.json_default(object())
    assert io.finite_or_none(float("nan")) is None and io.finite_or_none(None) is None
    assert io.finite_or_none(math.inf) is None and io.finite_or_none(np.float64(2.5)) == 2.5
    assert math.isnan(io.nan_if_none(None)) and io.nan_if_none(1) == 1.0


def test_hashes_are_canonical_and_content_based(tmp_path: Path) -> None:
    assert io.canonical_json({"b": 1, "a": (1, 2)}) == '{"a":[1,2],"b":1}'
    assert io.config_hash({"a": 1, "b": 2}) == io.config_hash({"b": 2, "a": 1})
    assert io.config_hash({"a": 1}) != io.config_hash({"a": 2})
    assert len(io.config_hash({})) == 64
    assert io.ids_hash(["a", "b"]) != io.ids_hash(["b", "a"])  # order matters
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc" * 1000)
    assert io.sha256_file(f, chunk=7) == io.sha256_bytes(b"abc" * 1000)
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]  # not contiguous
    data = io.npy_bytes(arr)
    f.write_bytes(data)
    np.testing.assert_array_equal(np.load(f, allow_pickle=False), arr)


def test_append_line_appends(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    io.append_line(path, "a\n")
    io.append_line(path, "b\n")
    assert path.read_text() == "a\nb\n"
