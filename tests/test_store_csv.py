"""The NeuCo-Bench embedding CSV: exact round trip, float16 rounding, and named refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2s_utils.errors import E2SError
from e2s_utils.store.csv import EmbeddingFileError, read_embeddings_csv, write_embeddings_csv
from tests.helpers import make_ids


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_round_trip_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5)).astype(np.float32) * 1e3
    ids = [f"{i}.zarr.zip" for i in make_ids(7)]
    path = write_embeddings_csv(tmp_path / "sub" / "emb.csv", ids, X)
    assert path.read_text().splitlines()[0] == "id,0,1,2,3,4"
    got_ids, got = read_embeddings_csv(path)
    assert got_ids == make_ids(7)  # written without .zarr.zip
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, X)  # exact round trip
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]
    with pytest.raises(EmbeddingFileError, match="one row per id"):
        write_embeddings_csv(tmp_path / "bad.csv", ids[:3], X)


def test_float16_rounding(tmp_path: Path) -> None:
    X = np.array([[0.1234567, 1000.123], [-3.3333333, 1e-5]], dtype=np.float32)
    path = write_embeddings_csv(tmp_path / "e.csv", ["a", "b"], X, float16=True)
    _, got = read_embeddings_csv(path)
    # the file holds the float16 values (5 significant digits: they read back to the same half)
    np.testing.assert_array_equal(got.astype(np.float16), X.astype(np.float16))
    assert got[0, 0] != X[0, 0]
    assert len(path.read_text().splitlines()[1]) < 30


def test_refusals_name_the_file_and_the_fix(tmp_path: Path) -> None:
    dup = _csv(tmp_path / "dup.csv", "id,0,1\na,1,2\na.zarr.zip,3,4\n")
    with pytest.raises(EmbeddingFileError, match=r"dup\.csv.*more than once.*'a'"):
        read_embeddings_csv(dup)
    text = _csv(tmp_path / "text.csv", "id,0,1\na,1,2\nb,3,oops\n")
    with pytest.raises(EmbeddingFileError, match=r"'oops' in column 1 of id 'b' is not a number"):
        read_embeddings_csv(text)
    wide = _csv(tmp_path / "wide.csv", "id,0,1,2\na,1,2,3\n")
    with pytest.raises(EmbeddingFileError, match="3 dimensions, more than the expected 2"):
        read_embeddings_csv(wide, embedding_dim=2)
    _, padded = read_embeddings_csv(wide, embedding_dim=5)
    np.testing.assert_array_equal(padded, [[1, 2, 3, 0, 0]])
    noid = _csv(tmp_path / "noid.csv", "name,0\na,1\n")
    with pytest.raises(EmbeddingFileError, match="no 'id' column"):
        read_embeddings_csv(noid)
    nodims = _csv(tmp_path / "nodims.csv", "id,x\na,1\n")
    with pytest.raises(EmbeddingFileError, match="no embedding column"):
        read_embeddings_csv(nodims)
    with pytest.raises(EmbeddingFileError, match=r"missing\.csv not found"):
        read_embeddings_csv(tmp_path / "missing.csv")
    header = _csv(tmp_path / "header.csv", "id,0,1\n")
    with pytest.raises(EmbeddingFileError, match=r"header\.csv has a header but no rows"):
        read_embeddings_csv(header)
    empty = _csv(tmp_path / "empty.csv", "")
    with pytest.raises(EmbeddingFileError, match=r"empty\.csv is empty"):
        read_embeddings_csv(empty)
    assert issubclass(EmbeddingFileError, E2SError)


def test_nan_to_zero_and_column_order(tmp_path: Path) -> None:
    path = _csv(tmp_path / "nan.csv", "id,1,0,10,2,extra\na,1,,3,NaN,x\nb,5,6,7,8,y\n")
    with pytest.warns(UserWarning, match="2 empty/NaN"):
        ids, X = read_embeddings_csv(path)
    assert ids == ["a", "b"]
    # all-digit columns in numeric order 0, 1, 2, 10; other columns ignored
    np.testing.assert_array_equal(X, [[0, 1, 0, 3], [6, 5, 8, 7]])
