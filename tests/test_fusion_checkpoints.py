"""A run on disk: its key and folder, the snapshots, loading them back, the history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from e2s_utils import fusion
from e2s_utils.fusion import FusionError
from e2s_utils.store import FusionSplits
from tests.helpers import small_fusion_config, train_val


def test_run_key_and_run_dir(tmp_path: Path) -> None:
    cfg = small_fusion_config()
    train_d, val_d = train_val()
    splits = FusionSplits(train_d, val_d, train_d, "transductive")
    key = fusion.run_key(cfg, train_d, val_d)
    assert key.kind == "fusion" and key.config["config"] == cfg.to_dict()
    assert key.config["shapes"] == {"dofa": [6, 4], "croma": [5, 1], "prithvi": [3, 2]}
    assert key.config["train"] == {"n": 40, "fingerprint": train_d.fingerprint()}
    assert fusion.run_key(cfg, train_d, None).config["val"] is None
    d = fusion.run_dir_for(tmp_path, cfg, splits, "as_intended", "micro")
    assert d.parent == tmp_path / "fusion"
    assert d.name == f"dofa+croma+prithvi__as_intended__micro__transductive__{key.short()}"
    other = FusionSplits(val_d, train_d, train_d, "inductive")
    assert fusion.run_dir_for(tmp_path, cfg, other, "as_intended", "micro") != d
    seeded = small_fusion_config(seed=3)
    assert fusion.run_dir_for(tmp_path, seeded, splits, "as_intended", "micro") != d


def test_snapshots_load_back_as_the_trained_model(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=2, checkpoint_every=1)
    train_d, val_d = train_val()
    hist = fusion.train(cfg, train_d, val_d, tmp_path / "r", progress=False)
    ckpts = fusion.list_checkpoints(tmp_path / "r")
    assert [e for e, _ in ckpts] == [0, 1, 2]
    assert ckpts[1][1] == fusion.checkpoint_path(tmp_path / "r", 1)
    model = fusion.model_from_checkpoint(ckpts[-1][1])
    assert not model.training and model.models == cfg.models
    x = torch.from_numpy(val_d.flat())
    weights = cfg.loss_weights
    val, _ = fusion.validate(model, x, weights)
    assert val == pytest.approx(hist["val_mse"].iloc[-1], rel=1e-6)
    back = fusion.read_history(tmp_path / "r")
    pd.testing.assert_frame_equal(back, hist, check_exact=True)
    assert fusion.read_history(tmp_path / "nothing").empty
    assert fusion.list_checkpoints(tmp_path / "nothing") == []
    stored = json.loads((tmp_path / "r" / "cache.json").read_text())
    assert stored["config"]["config"] == cfg.to_dict() and stored["kind"] == "fusion"


def test_foreign_and_missing_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(FusionError, match=r"missing\.pt does not exist"):
        fusion.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(FusionError, match="not a fusion checkpoint"):
        fusion.load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_notes.pt").write_bytes(b"")
    assert fusion.list_checkpoints(tmp_path) == []


def test_history_floats_read_back_exactly(tmp_path: Path) -> None:
    from e2s_utils.fusion.checkpoints import write_history

    values = np.random.default_rng(0).random(20) / 3.0
    frame = pd.DataFrame({"epoch": range(20), "val_mse": values})
    write_history(tmp_path, frame)
    np.testing.assert_array_equal(fusion.read_history(tmp_path)["val_mse"].to_numpy(), values)
