"""The numba CSV reader: the same ids and float32 bits as the pandas reader, or None to fall back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from e2s_utils.store import csv_fast
from e2s_utils.store.csv import read_embeddings_csv, write_embeddings_csv
from e2s_utils.store.csv_fast import read_embeddings_fast


def _pandas_read(path: Path, **kwargs: int) -> tuple[list[str], np.ndarray]:
    """``read_embeddings_csv`` by pandas alone (it may try the fast reader first)."""
    with mock.patch.object(csv_fast, "read_embeddings_fast", lambda *args, **kw: None):
        return read_embeddings_csv(path, **kwargs)


def _write(tmp_path: Path, text: str, name: str = "emb.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _table(rows: list[list[str]], ids: list[str] | None = None, eol: str = "\n") -> str:
    ids = ids or [f"s{i}" for i in range(len(rows))]
    header = ",".join(["id"] + [str(i) for i in range(len(rows[0]))])
    return eol.join([header] + [",".join([i] + r) for i, r in zip(ids, rows)]) + eol


def _assert_same(path: Path, **kwargs: int) -> np.ndarray:
    """The fast reader accepts ``path`` and returns exactly what the pandas reader returns."""
    fast = read_embeddings_fast(path, **kwargs)
    assert fast is not None, "the fast reader fell back"
    ids, X = fast
    ref_ids, ref = _pandas_read(path, **kwargs)
    assert ids == ref_ids
    assert X.dtype == np.float32 and X.shape == ref.shape and X.flags.c_contiguous
    assert np.array_equal(X.view(np.uint32), ref.view(np.uint32))
    return X


@pytest.mark.parametrize("float16", [False, True])
def test_written_files_match_the_pandas_reader(tmp_path: Path, float16: bool) -> None:
    rng = np.random.default_rng(0)
    low, high = (-3, 4) if float16 else (-20, 20)
    X = rng.standard_normal((300, 64)) * 10.0 ** rng.integers(low, high, (300, 64))
    X[0, :8] = [0.0, -0.0, 1.0, -3.0, 6e-8, 65504.0, 1e-8, 1e-45 if float16 else 3e38]
    X[1:, 9] = rng.integers(-1000, 1000, 299)  # an all-integer column ("-0" there reads as +0)
    X[0, 9] = -0.0
    ids = [f"patch_{i}.zarr.zip" for i in range(300)]
    path = write_embeddings_csv(tmp_path / "emb.csv", ids, X, float16=float16)
    for threads in (1, 2, 3, 7):
        assert np.array_equal(read_embeddings_fast(path, threads=threads)[1], _assert_same(path))
    assert read_embeddings_fast(path)[0][0] == "patch_0"


def test_hand_written_values_match(tmp_path: Path) -> None:
    rows = [
        ["1e-05", "-2.5E+3", ".5", "-0", "3", "1.2345678901234567", "1e30", "1e-40"],
        ["-0.0", "+4", "-.25e-2", "0", "-7", "0.12345678901234568", "3.3e38", "-1.5e-30"],
        ["1E5", "0.000123456789", "5.", "-0", "12", "123456789012345678.5", "-1e-38", "7e-46"],
    ]
    for eol in ("\n", "\r\n"):
        X = _assert_same(_write(tmp_path, _table(rows, eol=eol)))
        assert np.signbit(X[1, 0]) and not np.signbit(X[0, 3])  # "-0" in an int column is +0
        assert X[0, 7] == np.float32(1e-40) and X[2, 6] == np.float32(-1e-38)


def test_file_endings_and_padding(tmp_path: Path) -> None:
    rows = [["1.5", "2"], ["-3", "4.25"]]
    for text in (_table(rows).rstrip("\n"), _table(rows) + "\n\n", _table(rows, eol="\r\n")):
        _assert_same(_write(tmp_path, text))
    X = _assert_same(_write(tmp_path, _table(rows)), embedding_dim=5)
    assert X.shape == (2, 5) and not X[:, 2:].any()


@pytest.mark.parametrize(
    "text",
    [
        "id,0,1\na,1.0,\nb,2.0,3.0\n",  # an empty cell
        "id,0,1\na,nan,1.0\nb,2.0,3.0\n",  # NaN text
        'id,0,1\n"a",1.0,2.0\nb,2.0,3.0\n',  # a quoted id
        "id,0,1,label\na,1.0,2.0,x\n",  # a non-digit extra column
        "id,1,0\na,1.0,2.0\n",  # digits out of order
        "id,0,2\na,1.0,2.0\n",  # a digit missing
        "id,0,1\na,1.0\nb,2.0,3.0\n",  # a missing field
        "id,0,1\na,1.0,2.0,3.0\n",  # an extra field
        "id,0,1\na,1.0,2.0\n\nb,2.0,3.0\n",  # a blank line in the middle
        "id,0,1\na,1.0,2.0\na,2.0,3.0\n",  # a repeated id
        "id,0,1\nNA,1.0,2.0\n",  # an id pandas reads as missing
        "id,0,1\na,1e,2.0\n",  # an exponent without digits
        "id,0,1\na, 1.0,2.0\n",  # a space
        "id,0,1\na,inf,2.0\n",
        "id,0,1\na,1e300,2.0\n",  # beyond float32: the pandas reader warns and writes 0
        "id,0,1\na,12345678901234567,2.0\n",  # an integer beyond what a double holds exactly
        "\ufeffid,0,1\na,1.0,2.0\n",  # a byte-order mark
        "id,0,1\n",  # no rows
        "",
        "0,1\na,1.0\n",  # no id column
    ],
)
def test_anything_else_falls_back(tmp_path: Path, text: str) -> None:
    assert read_embeddings_fast(_write(tmp_path, text)) is None


def test_falls_back_on_a_missing_file_and_too_many_dimensions(tmp_path: Path) -> None:
    assert read_embeddings_fast(tmp_path / "absent.csv") is None
    assert (
        read_embeddings_fast(_write(tmp_path, _table([["1", "2", "3"]])), embedding_dim=2) is None
    )


def test_falls_back_where_pandas_is_not_correctly_rounded(tmp_path: Path) -> None:
    """pandas 2.x parses this float32 midpoint 1 ulp (float64) high; float32 then rounds up,
    a correctly rounded parse ties to even: the fast reader must not guess, and falls back."""
    path = _write(tmp_path, _table([["-1.3210485594328247e-08", "1.0"]]))
    assert read_embeddings_fast(path) is None
    pandas_value = _pandas_read(path)[1][0, 0]
    assert pandas_value != np.float32(float("-1.3210485594328247e-08"))


def test_random_values_are_correctly_rounded(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    values = rng.standard_normal(200) * 10.0 ** rng.uniform(-44, 37, 200)
    cells = [repr(float(v)) for v in values] + [f"{v:.9g}" for v in values]
    path = _write(tmp_path, _table([cells]))
    X = _assert_same(path)
    expected = np.array([np.float32(float(s)) for s in cells])
    assert np.array_equal(X[0].view(np.uint32), expected.view(np.uint32))


def test_the_module_imports_neither_pandas_nor_torch() -> None:
    source = Path(__file__).parents[1] / "e2s_utils" / "store" / "csv_fast.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('csv_fast', {str(source)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted({'pandas', 'torch'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_threads_follow_the_runtime_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_embeddings_csv(tmp_path / "emb.csv", ["a", "b", "c"], np.eye(3))
    asked: list[int | None] = []

    def counting(requested: int | None = None) -> int:
        asked.append(requested)
        return 1

    monkeypatch.setattr(csv_fast, "cpu_threads", counting)
    assert read_embeddings_fast(path) is not None
    assert read_embeddings_csv(path, threads=2)[0] == ["a", "b", "c"]
    assert asked == [None, 2]
