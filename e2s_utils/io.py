"""Writing files safely and naming their content: the one atomic writer and the one set of hashes.

Every file a stage writes goes through :func:`atomic_write_bytes` (a temporary file in the same
folder, flushed and fsynced, then renamed over the target), so a process killed at any moment leaves
either the old file or the new one, never half of one. :func:`exclusive_write_bytes` creates a file
only if it does not exist yet (several workers racing for one manifest). A write that fails for lack
of space raises :class:`~e2s_utils.errors.OutputError` naming the file, the free space and the fix.

Hashes: :func:`canonical_json` is the text every configuration hash is taken of,
:func:`config_hash` its sha256, :func:`ids_hash` the identity of an ordered id list and
:func:`sha256_file` the identity of a file's bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from e2s_utils.errors import OutputError


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _output_error(path: Path, err: BaseException) -> OutputError:
    folder = path.parent if path.parent.exists() else Path(".")
    free = shutil.disk_usage(folder).free / 2**20
    return OutputError(
        f"could not write {path} ({free:.0f} MiB free on that disk): {err}. Free space, or point "
        "E2S_OUTPUT_DIR at a larger disk, and rerun: every stage resumes from what it finished"
    )


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temporary file, flush, fsync, rename.

    Args:
        path: the target file (its folder is created).
        data: the bytes.

    Returns:
        ``path``.

    Raises:
        OutputError: when the disk is full or the folder is not writable.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_synced(tmp, data)
        os.replace(tmp, path)
    except OSError as err:
        raise _output_error(path, err) from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text (newlines kept as given)."""
    return atomic_write_bytes(path, text.encode())


def json_default(value: Any) -> Any:
    """JSON encoding of NumPy scalars and arrays and of paths (their name only: no machine paths)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return value.name
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or ``None`` for NaN, infinities and ``None`` (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def nan_if_none(value: float | None) -> float:
    """Inverse of :func:`finite_or_none` for reading back: ``None`` becomes NaN."""
    return float("nan") if value is None else float(value)


def atomic_write_json(path: Path, obj: Any, *, indent: int = 1) -> Path:
    """Write ``obj`` as key-sorted, indented JSON atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, default=json_default) + "\n"
    return atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: Path) -> Path:
    """``torch.save`` through :func:`atomic_write_bytes` (a full disk names the file and the fix)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def exclusive_write_bytes(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` only if it does not exist (an atomic hard link).

    Returns:
        ``True`` if this call created the file, ``False`` if it existed already.

    Raises:
        OutputError: when the disk is full or the folder is not writable.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_synced(tmp, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    except OSError as err:
        raise _output_error(path, err) from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def append_line(path: Path, line: str) -> None:
    """Append one line with a single ``O_APPEND`` write (concurrent writers do not interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and fixed separators: the text configuration hashes are taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default)


def config_hash(obj: Any) -> str:
    """sha256 (hex) of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def ids_hash(ids: Iterable[str]) -> str:
    """sha256 (hex) of the ids joined by newlines, in the given order."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """sha256 (hex) of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def npy_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` serialisation of an array (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()
