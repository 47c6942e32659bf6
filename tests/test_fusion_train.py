"""Training the compressor: cadence, what each file holds, resume bit-identical, refusal to mix."""

from __future__ import annotations

import errno
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from e2s_utils import fusion, io
from e2s_utils.cache import CacheMismatch
from e2s_utils.errors import OutputError
from e2s_utils.fusion import FusionConfig, FusionError
from tests.helpers import fusion_data, small_fusion_config, train_val

train_module = importlib.import_module("e2s_utils.fusion.train")


def _params(path: Path) -> dict[str, torch.Tensor]:
    return fusion.load_checkpoint(path)["model"]


def test_checkpoint_cadence_contents_and_best(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=5, checkpoint_every=2)
    train_d, val_d = train_val()
    hist = fusion.train(cfg, train_d, val_d, tmp_path / "run", progress=False)
    assert [e for e, _ in fusion.list_checkpoints(tmp_path / "run")] == [0, 2, 4, 5]
    assert list(hist["epoch"]) == [0, 1, 2, 3, 4, 5]
    assert list(hist.columns) == [
        "epoch",
        "train_loss",
        "val_mse",
        "val_mse_dofa",
        "val_mse_croma",
        "val_mse_prithvi",
        "lr",
    ]
    assert np.isnan(hist["train_loss"].iloc[0]) and np.isfinite(hist["train_loss"].iloc[1:]).all()
    # val_mse is the weighted sum of the per-model MSEs
    w = cfg.loss_weights
    recomputed = sum(w[m] * hist[f"val_mse_{m}"] for m in cfg.models)
    np.testing.assert_allclose(hist["val_mse"], recomputed, rtol=1e-6)
    ckpt = fusion.load_checkpoint(fusion.checkpoint_path(tmp_path / "run", 2))
    assert ckpt["epoch"] == 2 and ckpt["config_hash"] == cfg.hash()
    assert ckpt["train_fingerprint"] == train_d.fingerprint()
    assert "model" in ckpt and not {"optimizer", "scheduler", "rng"} & set(ckpt)  # weights only
    # a finished run keeps no optimiser state: its final snapshot marks it finished
    assert not fusion.resume_path(tmp_path / "run").exists()
    # epoch 0 is the untrained model: exactly the seeded initialisation
    init = fusion.build_model(cfg, train_d.shapes).state_dict()
    for k, v in _params(fusion.checkpoint_path(tmp_path / "run", 0)).items():
        assert torch.equal(v, init[k])
    best = fusion.load_checkpoint(tmp_path / "run" / fusion.BEST_VAL)
    assert best["epoch"] == int(hist["epoch"].iloc[hist["val_mse"].idxmin()])
    assert best["val_mse"] == pytest.approx(hist["val_mse"].min())
    assert (tmp_path / "run" / "history.csv").exists() and (
        tmp_path / "run" / "cache.json"
    ).exists()
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp-" in p.name]


def test_training_learns_and_lr_decays(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=10, checkpoint_every=5, lr=1e-2, milestones=(0.5, 0.8))
    hist = fusion.train(cfg, *train_val(), tmp_path / "r", progress=False)
    assert hist["val_mse"].iloc[-1] < 0.5 * hist["val_mse"].iloc[0]
    # 5 steps per epoch, 50 steps: decays after step 25 (epoch 5) and step 40 (epoch 8)
    lrs = hist.set_index("epoch")["lr"]
    assert lrs[4] == pytest.approx(1e-2) and lrs[5] == pytest.approx(1e-3)
    assert lrs[7] == pytest.approx(1e-3) and lrs[8] == pytest.approx(1e-4)


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=4, checkpoint_every=2)
    train_d, val_d = train_val()
    straight = fusion.train(cfg, train_d, val_d, tmp_path / "a", progress=False)
    part = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False, stop_after=2)
    assert list(part["epoch"]) == [0, 1, 2]
    state = fusion.load_checkpoint(fusion.resume_path(tmp_path / "b"))
    assert state["epoch"] == 2 and {"optimizer", "scheduler", "rng"} <= set(state)
    assert {"torch", "numpy", "python", "shuffle"} <= set(state["rng"])
    assert state["optimizer"]["state"], "the optimiser's moments are kept for the resume"
    torch.manual_seed(999)  # disturb the global generators: the checkpoint must restore them
    np.random.seed(999)
    resumed = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, resumed, check_exact=True)
    for (ea, pa), (eb, pb) in zip(
        fusion.list_checkpoints(tmp_path / "a"),
        fusion.list_checkpoints(tmp_path / "b"),
        strict=True,
    ):
        assert ea == eb
        a, b = _params(pa), _params(pb)
        for k in a:
            assert torch.equal(a[k], b[k]), (ea, k)
    assert not fusion.resume_path(tmp_path / "b").exists()


def test_resume_after_crash_between_checkpoints(tmp_path: Path, monkeypatch) -> None:
    cfg = small_fusion_config(epochs=4, checkpoint_every=2)
    train_d, val_d = train_val()
    straight = fusion.train(cfg, train_d, val_d, tmp_path / "a", progress=False)

    real_validate = train_module.validate
    calls = {"n": 0}

    def crashing_validate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # epochs 0-3 validated; crash while validating epoch 4
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", crashing_validate)
    with pytest.raises(KeyboardInterrupt):  # the resume state written at every scheduled epoch
        fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False, resume_every_s=0)
    monkeypatch.setattr(train_module, "validate", real_validate)
    assert [e for e, _ in fusion.list_checkpoints(tmp_path / "b")] == [0, 2]
    assert fusion.load_checkpoint(fusion.resume_path(tmp_path / "b"))["epoch"] == 2
    # epoch 3 validated better, but best_val.pt never runs ahead of the resume state
    hist_a = fusion.read_history(tmp_path / "a")
    assert hist_a["val_mse"].iloc[3] < hist_a["val_mse"].iloc[:3].min()
    assert fusion.load_checkpoint(tmp_path / "b" / fusion.BEST_VAL)["epoch"] == 2
    resumed = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, resumed, check_exact=True)
    a = _params(fusion.checkpoint_path(tmp_path / "a", 4))
    b = _params(fusion.checkpoint_path(tmp_path / "b", 4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a finished run returns its history without training again
    again = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, again, check_exact=True)


def test_a_lagging_resume_state_replays_bit_identically(tmp_path: Path, monkeypatch) -> None:
    """resume.pt written rarely: a crash resumes from an older state, snapshots and best_val.pt
    ahead of it are rewritten identically by the replay."""
    cfg = small_fusion_config(epochs=6, checkpoint_every=2)
    train_d, val_d = train_val()
    straight = fusion.train(cfg, train_d, val_d, tmp_path / "a", progress=False)
    real_validate = train_module.validate
    calls = {"n": 0}

    def crashing_validate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # epochs 0-4 validated (snapshots 0, 2, 4); crash at epoch 5
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", crashing_validate)
    with pytest.raises(KeyboardInterrupt):
        fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False, resume_every_s=1e9)
    monkeypatch.setattr(train_module, "validate", real_validate)
    assert [e for e, _ in fusion.list_checkpoints(tmp_path / "b")] == [0, 2, 4]
    assert fusion.load_checkpoint(fusion.resume_path(tmp_path / "b"))["epoch"] == 0
    resumed = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False, resume_every_s=1e9)
    pd.testing.assert_frame_equal(straight, resumed, check_exact=True)
    for epoch in (0, 2, 4, 6):
        a = _params(fusion.checkpoint_path(tmp_path / "a", epoch))
        b = _params(fusion.checkpoint_path(tmp_path / "b", epoch))
        assert all(torch.equal(a[k], b[k]) for k in a), epoch
    best_a = fusion.load_checkpoint(tmp_path / "a" / fusion.BEST_VAL)
    best_b = fusion.load_checkpoint(tmp_path / "b" / fusion.BEST_VAL)
    assert best_a["epoch"] == best_b["epoch"]
    assert all(torch.equal(best_a["model"][k], best_b["model"][k]) for k in best_a["model"])
    assert not fusion.resume_path(tmp_path / "b").exists()


def test_run_dir_refuses_to_mix(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=1)
    train_d, val_d = train_val()
    fusion.train(cfg, train_d, val_d, tmp_path / "r", progress=False)
    with pytest.raises(CacheMismatch, match=r"config\.config\.seed: stored 1337, now 7"):
        fusion.train(small_fusion_config(epochs=1, seed=7), train_d, val_d, tmp_path / "r")
    with pytest.raises(CacheMismatch, match=r"config\.train\.fingerprint"):
        fusion.train(cfg, fusion_data(40, 5), val_d, tmp_path / "r", progress=False)
    with pytest.raises(FusionError, match="no full batch"):
        fusion.train(cfg, fusion_data(4, 0), val_d, tmp_path / "s", progress=False)
    with pytest.raises(FusionError, match="fuses"):
        fusion.train(FusionConfig(models=("dofa",)), train_d, val_d, tmp_path / "t")
    with pytest.raises(FusionError, match="validation shapes"):
        fusion.train(cfg, train_d, val_d.select(["dofa", "croma"]), tmp_path / "u")


def test_a_non_finite_loss_names_the_epoch(tmp_path: Path) -> None:
    cfg = small_fusion_config(epochs=2, lr=1e30)
    with pytest.raises(FusionError, match="training loss became .* at epoch"):
        fusion.train(cfg, *train_val(), tmp_path / "r", progress=False)


def test_a_full_disk_names_the_file_and_the_fix(tmp_path: Path, monkeypatch) -> None:
    cfg = small_fusion_config(epochs=2, checkpoint_every=1)
    real_replace = io.os.replace

    def full_disk(src, dst):
        if "epoch_00001" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", full_disk)
    with pytest.raises(OutputError, match=r"epoch_00001\.pt .*MiB free.*E2S_OUTPUT_DIR"):
        fusion.train(cfg, *train_val(), tmp_path / "run", progress=False)
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp-" in p.name]
    monkeypatch.setattr(io.os, "replace", real_replace)
    hist = fusion.train(cfg, *train_val(), tmp_path / "run", progress=False)  # resumes
    assert list(hist["epoch"]) == [0, 1, 2]


def test_training_without_validation_data(tmp_path: Path) -> None:
    data = fusion_data(16)
    hist = fusion.train(small_fusion_config(epochs=1), data, None, tmp_path / "r", progress=False)
    assert hist["val_mse"].isna().all() and np.isfinite(hist["train_loss"].iloc[1])
