"""Profiles: nested configurations per stage, flat parameter names, overrides, ``setup()``."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest
import torch

from e2s_utils import config, paths
from e2s_utils.evaluate import get_protocol
from e2s_utils.models import catalog


def test_three_profiles_exist_with_their_scale() -> None:
    profiles = config.profiles()
    assert set(profiles) == {"smoke", "demo", "full"} == set(config.PROFILE_NAMES)
    smoke, demo, full = (profiles[n] for n in ("smoke", "demo", "full"))
    assert (smoke.extract.size, demo.extract.size, full.extract.size) == ("micro", "micro", "full")
    assert smoke.data.synthetic and demo.data.synthetic and not full.data.synthetic
    assert smoke.data.n_samples < demo.data.n_samples
    assert not smoke.progress and demo.progress
    assert config.profiles() is profiles  # built once
    for profile in profiles.values():
        assert profile.fusion.models == profile.extract.foundation
        assert profile.fusion.seed == profile.seed


def test_full_profile_is_the_papers_setting() -> None:
    full = config.get_profile("full")
    assert full.fusion.epochs == 160 and full.fusion.batch_size == 32
    assert full.fusion.checkpoint_every == 5 and full.seed == 1337
    assert (full.fusion.hidden, full.fusion.out_dim, full.fusion.dropout) == (2048, 1024, 0.1)
    assert full.protocol == get_protocol("paper")
    assert full.protocol.k_folds == 40 and full.protocol.epochs == 20
    assert full.extract.preset == "as_intended" and full.data.setting == "transductive"
    assert full.extract.foundation == catalog.paper_models()
    assert full.fusion.loss_weights == catalog.loss_weights(catalog.paper_models())
    assert full.long.epochs == 30 * full.fusion.epochs


def test_every_profile_runs_the_paper_protocol() -> None:
    smoke, demo = config.get_profile("smoke"), config.get_profile("demo")
    assert smoke.protocol.name == demo.protocol.name == "paper"
    assert smoke.protocol.random_stream == demo.protocol.random_stream == "exact"
    assert demo.protocol == get_protocol("paper")
    assert smoke.protocol.k_folds == 5 and smoke.protocol.epochs == 20
    assert smoke.protocol.overrides == ("k_folds",)


def test_every_preset_fits_its_own_annotations() -> None:
    for profile in config.profiles().values():
        for owner in (profile, profile.data, profile.extract, profile.ablation, profile.long):
            hints = typing.get_type_hints(type(owner))
            for f in dataclasses.fields(owner):
                config.check_type(f.name, getattr(owner, f.name), hints[f.name])
        for name in config.PARAMETERS:
            value = config.flat_parameters(profile)[name]
            if name not in ("protocol", "models", "baselines"):
                config.check_type(name, value, config.parameter_type(name))


def test_default_profile_follows_env_then_data(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("E2S_PROFILE", raising=False)
    monkeypatch.delenv("E2S_DATA_DIR", raising=False)
    assert config.default_profile_name() == "demo"
    monkeypatch.setenv("E2S_DATA_DIR", str(tmp_path))
    assert paths.data_dir() == tmp_path.resolve()
    assert config.default_profile_name() == "full"
    monkeypatch.setenv("E2S_PROFILE", "smoke")
    assert config.default_profile_name() == "smoke"
    assert config.get_profile().name == "smoke"
    monkeypatch.setenv("E2S_PROFILE", "fast")
    with pytest.raises(config.ConfigError, match="E2S_PROFILE"):
        config.default_profile_name()


def test_flat_overrides_reach_the_nested_configs() -> None:
    base = config.get_profile("smoke")
    prof = config.get_profile(
        "smoke",
        fusion_epochs=7,
        checkpoint_every=3,
        eval_k_folds=4,
        eval_epochs=2,
        ablation_seeds=2,
        long_n_checkpoints=3,
        n_samples=None,
        setting="inductive",
        model_size="tiny",
    )
    assert (prof.fusion.epochs, prof.fusion.checkpoint_every) == (7, 3)
    assert (prof.protocol.k_folds, prof.protocol.epochs) == (4, 2)
    assert set(prof.protocol.overrides) == {"k_folds", "epochs"}
    assert prof.ablation.seeds == 2 and prof.long.n_checkpoints == 3
    assert prof.data.setting == "inductive" and prof.extract.size == "tiny"
    assert prof.data.n_samples == base.data.n_samples  # None means the profile's value
    assert base.fusion.epochs == 4  # the preset itself is unchanged
    flat = config.flat_parameters(prof)
    assert flat["fusion_epochs"] == 7 and flat["eval_k_folds"] == 4 and flat["profile"] == "smoke"
    assert flat["protocol"] == prof.protocol.to_dict()
    assert set(config.PARAMETERS) <= set(flat)


def test_the_protocol_switch_keeps_the_profiles_own_overrides() -> None:
    prof = config.get_profile("smoke", protocol="neuco_current")
    assert prof.protocol.name == "neuco_current" and prof.protocol.epochs == 10
    assert prof.protocol.k_folds == 5  # the smoke profile's fewer folds stay
    assert prof.protocol.overrides == ("k_folds",)
    both = config.get_profile("smoke", protocol="challenge", eval_k_folds=3)
    assert both.protocol.name == "challenge" and both.protocol.k_folds == 3
    assert both.protocol.exclude_tasks == ("clouds_reg", "nodata")
    full = config.get_profile("full", protocol="challenge")
    assert full.protocol == get_protocol("challenge")
    with pytest.raises(config.ConfigError, match="does not fit"):
        config.get_profile("smoke", protocol="neuco")


def test_seed_also_seeds_the_compressor() -> None:
    prof = config.get_profile("smoke", seed=7)
    assert prof.seed == 7 and prof.fusion.seed == 7
    assert config.get_profile("smoke").fusion.seed == 1337


def test_models_also_change_the_compressors_models_and_weights() -> None:
    prof = config.get_profile("smoke", models=["croma", "dofa"])
    assert prof.extract.foundation == ("croma", "dofa")
    assert prof.fusion.models == ("dofa", "croma")  # canonical order
    assert prof.fusion.loss_weights == {"dofa": 1.0, "croma": 0.5}
    assert prof.extract.all_models[:2] == ("croma", "dofa")
    assert prof.extract.all_models[2:] == config.baselines()
    same = config.get_profile("smoke", fusion_epochs=5)
    assert same.fusion.loss_weights == config.get_profile("smoke").fusion.loss_weights


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"fusion_epoch": 3}, "unknown parameter 'fusion_epoch'"),
        ({"fusion_epochs": "3"}, "does not fit"),
        ({"fusion_epochs": 2.5}, "does not fit"),
        ({"fusion_epochs": True}, "does not fit"),
        ({"model_size": "huge"}, "does not fit"),
        ({"models": ("dofa", 3)}, "does not fit"),
        ({"setting": "semi"}, "does not fit"),
    ],
)
def test_bad_overrides_raise(overrides: dict, match: str) -> None:
    with pytest.raises(config.ConfigError, match=match):
        config.get_profile("smoke", **overrides)


def test_unknown_profile_raises() -> None:
    with pytest.raises(config.ConfigError, match="unknown profile"):
        config.get_profile("paper")


def test_setup_resolves_seeds_and_makes_folders(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path))
    ctx = config.setup("30_fusion", profile="smoke", fusion_epochs=3)
    assert ctx.profile.fusion.epochs == 3 and ctx.params["fusion_epochs"] == 3
    assert ctx.params["protocol"]["name"] == "paper" and ctx.params["protocol"]["k_folds"] == 5
    assert ctx.out_dir == tmp_path / "smoke" and ctx.out_dir.is_dir()
    assert ctx.device == "cpu" or ctx.device.startswith("cuda")
    assert ctx.data_root == tmp_path / "smoke" / "synthetic"
    assert "SYNTHETIC" in (ctx.banner or "") and "randomly initialised" in (ctx.banner or "")
    a = (np.random.rand(), torch.rand(1).item())
    config.setup("30_fusion", profile="smoke", fusion_epochs=3)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_stamps_join_the_banner() -> None:
    ctx = config.setup("30_fusion", profile="smoke", device="cpu")
    ctx.add_stamp("split: hash fallback")
    ctx.add_stamp("split: hash fallback")
    ctx.add_stamp(None)
    assert ctx.stamps == ["split: hash fallback"]
    assert ctx.banner is not None and ctx.banner.endswith("; split: hash fallback")


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


def test_a_simulated_notebook_is_labelled_by_its_stamp_only() -> None:
    ctx = config.setup("60_controlled_fusion", profile="smoke", device="cpu")
    assert ctx.banner is None
    ctx.add_stamp("CONTROLLED SIMULATION")
    assert ctx.banner == "CONTROLLED SIMULATION"
    assert "randomly initialised" in (config.setup("30_fusion", profile="smoke").banner or "")
