"""Profiles and parameter resolution of ``e2s_utils.config``."""

from __future__ import annotations

import dataclasses

import pytest

from e2s_utils import config, paths


def test_three_profiles_exist_with_their_scale() -> None:
    assert set(config.PROFILES) == {"smoke", "demo", "full"}
    smoke, demo, full = (config.PROFILES[n] for n in ("smoke", "demo", "full"))
    assert (smoke.model_size, demo.model_size, full.model_size) == ("micro", "tiny", "full")
    assert smoke.synthetic and demo.synthetic and not full.synthetic
    assert smoke.n_samples < demo.n_samples
    assert not smoke.progress


def test_full_profile_is_the_papers_setting() -> None:
    full = config.PROFILES["full"]
    assert full.fusion_epochs == 160 and full.fusion_batch_size == 32
    assert full.checkpoint_every == 5 and full.seed == 1337
    assert full.eval_k_folds == 40 and full.eval_epochs == 10
    assert full.preset == "as_intended"
    assert full.models == ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")
    assert full.long_epochs == 30 * full.fusion_epochs


def test_every_preset_fits_its_own_annotations() -> None:
    import typing

    hints = typing.get_type_hints(config.Profile)
    for profile in config.PROFILES.values():
        for f in dataclasses.fields(profile):
            config.check_type(f.name, getattr(profile, f.name), hints[f.name])


def test_default_profile_follows_env_then_data(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("E2S_PROFILE", raising=False)
    monkeypatch.delenv("E2S_DATA_DIR", raising=False)
    assert config.default_profile_name() == "demo"
    monkeypatch.setenv("E2S_DATA_DIR", str(tmp_path))
    assert paths.data_dir() == tmp_path.resolve()
    assert config.default_profile_name() == "full"
    monkeypatch.setenv("E2S_PROFILE", "smoke")
    assert config.default_profile_name() == "smoke"
    monkeypatch.setenv("E2S_PROFILE", "fast")
    with pytest.raises(config.ConfigError, match="E2S_PROFILE"):
        config.default_profile_name()


def test_overrides_apply_and_none_means_profile_value() -> None:
    prof = config.get_profile("smoke", fusion_epochs=7, n_samples=None, models=["dofa", "croma"])
    assert prof.fusion_epochs == 7
    assert prof.n_samples == config.PROFILES["smoke"].n_samples
    assert prof.models == ("dofa", "croma")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"fusion_epoch": 3}, "unknown parameter 'fusion_epoch'"),
        ({"fusion_epochs": "3"}, "does not fit"),
        ({"fusion_epochs": 2.5}, "does not fit"),
        ({"fusion_epochs": True}, "does not fit"),
        ({"model_size": "huge"}, "does not fit"),
        ({"models": ("dofa", 3)}, "does not fit"),
    ],
)
def test_bad_overrides_raise(overrides: dict, match: str) -> None:
    with pytest.raises(config.ConfigError, match=match):
        config.get_profile("smoke", **overrides)


def test_unknown_profile_raises() -> None:
    with pytest.raises(config.ConfigError, match="unknown profile"):
        config.get_profile("paper")


def test_setup_resolves_seeds_and_makes_folders(monkeypatch, tmp_path) -> None:
    import numpy as np
    import torch

    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path))
    ctx = config.setup("30_fusion", profile="smoke", fusion_epochs=3)
    assert ctx.profile.fusion_epochs == 3 and ctx.params["fusion_epochs"] == 3
    assert ctx.out_dir == tmp_path / "smoke" and ctx.out_dir.is_dir()
    assert ctx.device == "cpu" or ctx.device.startswith("cuda")
    assert ctx.data_root == tmp_path / "smoke" / "synthetic"
    assert "SYNTHETIC" in (ctx.banner or "")
    a = (np.random.rand(), torch.rand(1).item())
    config.setup("30_fusion", profile="smoke", fusion_epochs=3)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_setup_validates_notebook_and_extras() -> None:
    with pytest.raises(config.ConfigError, match="unknown notebook"):
        config.setup("99_nothing", profile="smoke")
    with pytest.raises(config.ConfigError, match="does not fit"):
        config.setup("20_extract", profile="smoke", model=3)
    with pytest.raises(config.ConfigError, match="unknown parameter 'modle'"):
        config.setup("20_extract", profile="smoke", modle="dofa")
    ctx = config.setup("20_extract", profile="smoke", model="dofa")
    assert ctx.params["model"] == "dofa"


def test_full_profile_without_data_names_the_fix(monkeypatch) -> None:
    monkeypatch.delenv("E2S_DATA_DIR", raising=False)
    ctx = config.setup("10_data_tour", profile="full", device="cpu")
    with pytest.raises(config.ConfigError, match="E2S_DATA_DIR"):
        _ = ctx.data_root


def test_cuda_request_without_gpu_is_refused(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.pick_device("auto") == "cpu"
    with pytest.raises(config.ConfigError, match="no CUDA device"):
        config.pick_device("cuda")
