"""The submission: a checkpoint's embeddings as the benchmark's CSV, validated on reading back."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from e2s_utils import fusion
from e2s_utils.fusion import FusionError
from e2s_utils.store.csv import read_embeddings_csv
from tests.helpers import fusion_data, small_fusion_config


def test_write_submission_csv(tmp_path: Path, monkeypatch) -> None:
    cfg = small_fusion_config(epochs=1, out_dim=8)
    data = fusion_data(40, 0)
    fusion.train(cfg, data, None, tmp_path / "r", progress=False)
    ckpt = fusion.checkpoint_path(tmp_path / "r", 1)
    out = fusion.write_submission(ckpt, data, tmp_path / "sub.csv")
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["id"] + [str(i) for i in range(8)]
    ids, X = read_embeddings_csv(out)
    assert list(ids) == data.ids
    np.testing.assert_allclose(X, fusion.embed(ckpt, data), rtol=1e-6, atol=1e-7)
    out16 = fusion.write_submission(ckpt, data, tmp_path / "sub16.csv", float16=True)
    _, X16 = read_embeddings_csv(out16)
    np.testing.assert_allclose(X16, fusion.embed(ckpt, data).astype(np.float16), rtol=1e-3)
    # a file that does not read back as written is refused
    submission = importlib.import_module("e2s_utils.fusion.submission")
    monkeypatch.setattr(submission, "read_embeddings_csv", lambda p, embedding_dim: (ids, X + 1))
    with pytest.raises(FusionError, match="does not read back as written"):
        fusion.write_submission(ckpt, data, tmp_path / "bad.csv")
