"""Strict checkpoint loading: each official layout loads and changes the embedding; anything else fails.

Every checkpoint here is written by the test itself: the state dict of a micro-sized network
(seed 1) renamed into the official layout of the model (CROMA's five sub-dicts, Scale-MAE's
``{'model': ...}`` training checkpoint with decoder keys, Prithvi's MAE ``encoder.`` /
``decoder.`` keys for both the 600M and the 300M entry, plain DOFA and Copernicus-FM dicts),
saved under the official file name of the preset.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import torch

from e2s_utils.models import (
    CheckpointError,
    CheckpointNotLoadedWarning,
    build_extractor,
    checkpoint_path,
    get_spec,
    load_state_dict_strict,
)
from e2s_utils.models.common import called_modules

MODELS = ["copernicusfm", "dofa", "croma", "prithvi", "prithvi_300m", "scalemae"]

G = torch.Generator().manual_seed(5)
CUBES = {
    "s1": -15 + 4 * torch.randn(1, 4, 2, 264, 264, generator=G),
    "s2l1c": 3000 * torch.rand(1, 4, 13, 264, 264, generator=G),
    "s2l2a": 3000 * torch.rand(1, 4, 12, 264, 264, generator=G),
}


def embed(model: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return model(CUBES)


def official_layout(name: str, net: torch.nn.Module) -> dict:
    """A network's weights in the official file layout of its model."""
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    if name == "croma":
        return {
            sub: getattr(net, sub).state_dict()
            for sub in ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")
        }
    if name.startswith("prithvi"):
        out = {f"encoder.{k}": v for k, v in sd.items()}
        out["decoder.decoder_embed.weight"] = torch.randn(32, 64)
        out["decoder.decoder_pred.bias"] = torch.randn(96)
        out["mask_token"] = torch.zeros(1, 1, 32)
        return out
    if name == "scalemae":
        sd["decoder_embed.weight"] = torch.randn(32, 64)
        sd["fpn.fpn1.0.weight"] = torch.randn(8, 8)
        sd["mask_token"] = torch.zeros(1, 1, 64)
        return {
            "model": sd,
            "args": argparse.Namespace(model="mae_vit_large_patch16"),
            "epoch": 799,
        }
    if name == "dofa":
        sd.pop("fc_norm.weight"), sd.pop("fc_norm.bias")  # the MAE file has no fc_norm
        sd["mask_token"] = torch.zeros(1, 1, 64)
        return sd
    if name == "copernicusfm":
        # the MAE encoder's final norm is in the file (global_pool off needs it); fc_norm is not
        sd["decoder_embed.weight"] = torch.randn(32, 64)
        return {"model": sd}
    raise AssertionError(name)


def write(name: str, folder: Path, payload: dict, preset: str = "as_intended") -> Path:
    path = folder / get_spec(name).checkpoint_for(preset).filename
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("name", MODELS)
def test_official_layout_loads_strictly_and_changes_embedding(name: str, tmp_path: Path) -> None:
    source = build_extractor(name, size="micro", seed=1)
    path = write(name, tmp_path, official_layout(name, source.net))
    random = build_extractor(name, size="micro", seed=0)
    loaded = build_extractor(name, size="micro", seed=0, weights_dir=tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.weights_identity == f"sha256:{digest} {path.name}"
    assert random.weights_identity == "random init, seed 0"
    e_loaded = embed(loaded)
    assert not torch.allclose(e_loaded, embed(random))
    torch.testing.assert_close(e_loaded, embed(source), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_wrong_size_checkpoint_fails_loudly(name: str, tmp_path: Path) -> None:
    """A bigger network's checkpoint (tiny: 192-d, 4 blocks) into the micro network."""
    big = build_extractor(name, size="tiny", seed=1)
    path = write(
        name,
        tmp_path,
        official_layout(name, big.net)
        if not name.startswith("prithvi")
        else {f"encoder.{k}": v for k, v in big.net.state_dict().items()},
    )
    model = build_extractor(name, size="micro", seed=0)
    before = embed(model)
    with pytest.raises(CheckpointError) as info:
        model.load_checkpoint(path)
    message = str(info.value)
    assert path.name in message and "Nothing was loaded" in message
    assert "unexpected keys" in message and ("blocks.2." in message or "layers.1." in message)
    assert "shape mismatches" in message
    assert model.weights_identity == "random init, seed 0"
    torch.testing.assert_close(embed(model), before)  # nothing was loaded


def test_unknown_extra_key_and_missing_key_are_listed(tmp_path: Path) -> None:
    source = build_extractor("dofa", size="micro", seed=1)
    payload = official_layout("dofa", source.net)
    payload["some_head.weight"] = torch.zeros(3)
    del payload["blocks.1.attn.qkv.weight"]
    write("dofa", tmp_path, payload)
    with pytest.raises(
        CheckpointError, match=r"missing keys \[blocks\.1\.attn\.qkv\.weight\]"
    ) as e:
        build_extractor("dofa", size="micro", weights_dir=tmp_path)
    assert "unexpected keys [some_head.weight]" in str(e.value)


def test_croma_needs_all_five_sub_state_dicts(tmp_path: Path) -> None:
    payload = official_layout("croma", build_extractor("croma", size="micro", seed=1).net)
    del payload["joint_encoder"]
    payload["extra"] = {}
    write("croma", tmp_path, payload)
    with pytest.raises(CheckpointError, match=r"missing entries \['joint_encoder'\]"):
        build_extractor("croma", size="micro", weights_dir=tmp_path)


def test_dofa_pos_embed_interpolated_from_197_tokens(tmp_path: Path) -> None:
    from timm.layers import resample_abs_pos_embed

    payload = official_layout("dofa", build_extractor("dofa", size="micro", seed=1).net)
    pos197 = torch.randn(1, 197, 64)
    payload["pos_embed"] = pos197
    write("dofa", tmp_path, payload)
    model = build_extractor("dofa", size="micro", weights_dir=tmp_path)
    expected = resample_abs_pos_embed(
        pos197, new_size=[4, 4], old_size=[14, 14], num_prefix_tokens=1
    )
    torch.testing.assert_close(model.net.pos_embed.data, expected)


@pytest.mark.parametrize("name", ["prithvi", "scalemae"])
def test_published_preset_reports_a_present_checkpoint_it_does_not_load(
    name: str, tmp_path: Path
) -> None:
    path = write(name, tmp_path, official_layout(name, build_extractor(name, size="micro").net))
    with pytest.warns(CheckpointNotLoadedWarning, match=path.name) as record:
        model = build_extractor(name, "as_published_code", "micro", weights_dir=tmp_path, seed=2)
    assert str(path) in str(record[0].message)
    assert model.weights_identity == (
        f"random init, seed 2 (as_published_code: {path.name} present but not loaded, "
        "as the published code ran)"
    )
    assert checkpoint_path(name, "as_published_code", "micro", tmp_path) is None
    assert checkpoint_path(name, "as_intended", "micro", tmp_path) == path
    # the same network as without the file: nothing was loaded
    torch.testing.assert_close(
        embed(model), embed(build_extractor(name, "as_published_code", "micro", seed=2))
    )


def test_published_preset_says_nothing_without_a_file(tmp_path: Path, recwarn) -> None:
    model = build_extractor("prithvi", "as_published_code", "micro", weights_dir=tmp_path)
    assert model.weights_identity == "random init, seed 0"
    assert not [w for w in recwarn if issubclass(w.category, CheckpointNotLoadedWarning)]


def test_published_preset_warns_on_stderr(tmp_path: Path) -> None:
    import subprocess
    import sys

    write("scalemae", tmp_path, {"model": {}})
    code = (
        "from e2s_utils.models import build_extractor\n"
        f"build_extractor('scalemae', 'as_published_code', 'micro', weights_dir={str(tmp_path)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "scalemae-vitlarge-800.pth is present" in done.stderr and not done.stdout


def test_dofa_loads_the_file_of_its_preset(tmp_path: Path) -> None:
    """Hub weights for the hub program (as published), retrained weights for the corrected one."""
    source = build_extractor("dofa", "as_published_code", "micro", seed=1)
    hub = write("dofa", tmp_path, official_layout("dofa", source.net), "as_published_code")
    assert hub.name == "DOFA_ViT_base_e100.pth"
    loaded = build_extractor("dofa", "as_published_code", "micro", weights_dir=tmp_path)
    assert loaded.weights_identity.endswith(hub.name)
    torch.testing.assert_close(embed(loaded), embed(source), atol=1e-5, rtol=0)
    with pytest.raises(FileNotFoundError, match="dofa_base_patch16_224-a0275954.pth"):
        build_extractor("dofa", "as_intended", "micro", weights_dir=tmp_path)


def test_copernicusfm_without_norm_fails_because_the_class_token_goes_through_it(
    tmp_path: Path,
) -> None:
    source = build_extractor("copernicusfm", size="micro", seed=1)
    payload = official_layout("copernicusfm", source.net)
    del payload["model"]["norm.weight"], payload["model"]["norm.bias"]
    path = write("copernicusfm", tmp_path, payload)
    with pytest.raises(CheckpointError) as info:
        build_extractor("copernicusfm", size="micro", weights_dir=tmp_path)
    message = str(info.value)
    assert path.name in message and "missing keys [norm.bias, norm.weight]" in message
    assert "modules the network runs" in message


class _Toy(torch.nn.Module):
    def __init__(self, use_norm: bool) -> None:
        super().__init__()
        self.use_norm = use_norm
        self.lin = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)  # never run

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lin(x)
        return self.norm(x) if self.use_norm else x


@pytest.mark.parametrize("use_norm", [False, True])
def test_missing_keys_are_allowed_only_for_modules_that_do_not_run(use_norm: bool) -> None:
    toy = _Toy(use_norm)
    used = called_modules(toy, lambda: toy(torch.zeros(1, 4)))
    assert used == ({"", "lin", "norm"} if use_norm else {"", "lin"})
    state = {k: v for k, v in _Toy(use_norm).state_dict().items() if k.startswith("lin.")}
    kwargs = {"source": "toy.pt", "allowed_missing_if_unused": ("norm.*", "head.*")}
    if use_norm:
        with pytest.raises(CheckpointError, match=r"missing keys \[norm.bias, norm.weight\]"):
            load_state_dict_strict(toy, state, used_modules=lambda: used, **kwargs)
    else:
        missing = load_state_dict_strict(toy, state, used_modules=lambda: used, **kwargs)
        assert missing == ["head.bias", "head.weight", "norm.bias", "norm.weight"]
        torch.testing.assert_close(toy.lin.weight, state["lin.weight"])
    # without a way to know what runs, every module counts as used
    with pytest.raises(CheckpointError, match="head.bias"):
        load_state_dict_strict(_Toy(use_norm), state, **kwargs)


def test_used_modules_of_the_extractors() -> None:
    cfm = build_extractor("copernicusfm", size="micro").used_modules()
    assert "norm" in cfm and "blocks.1.attn" in cfm
    dofa = build_extractor("dofa", size="micro").used_modules()
    assert "fc_norm" in dofa and "norm" not in dofa


def test_weights_folder_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dofa = get_spec("dofa").checkpoint_for("as_intended").filename
    with pytest.raises(FileNotFoundError, match=dofa):
        build_extractor("dofa", size="micro", weights_dir=tmp_path)
    monkeypatch.setenv("E2S_WEIGHTS_DIR", str(tmp_path))
    # the environment folder holds full-size files: it is ignored at micro / tiny size
    assert checkpoint_path("dofa", "as_intended", "micro") is None
    with pytest.raises(FileNotFoundError, match="E2S_WEIGHTS_DIR"):
        checkpoint_path("dofa", "as_intended", "full")
    (tmp_path / dofa).write_bytes(b"")
    assert checkpoint_path("dofa", "as_intended", "full") == tmp_path / dofa
    monkeypatch.delenv("E2S_WEIGHTS_DIR")
    assert checkpoint_path("dofa", "as_intended", "full") is None


class Custom:
    """An arbitrary pickled object that ``weights_only`` loading refuses."""


def test_unreadable_pickle_is_refused_without_trust(tmp_path: Path) -> None:
    path = tmp_path / get_spec("dofa").checkpoint_for("as_intended").filename
    torch.save({"model": {}, "obj": Custom()}, path)
    with pytest.raises(CheckpointError, match="E2S_TRUST_CHECKPOINTS"):
        build_extractor("dofa", size="micro", weights_dir=tmp_path)


def test_weights_command_lists_expected_and_present(tmp_path: Path, capsys) -> None:
    from e2s_utils.cli.weights import main
    from e2s_utils.models.weights import status

    (tmp_path / "CROMA_large.pt").write_bytes(b"abc")
    assert main(["--dir", str(tmp_path), "--hash"]) == 0
    out = capsys.readouterr().out
    for name in MODELS:
        for preset in get_spec(name).recipes:
            info = get_spec(name).checkpoint_for(preset)
            assert info.filename in out and info.url in out
    assert f"sha256:{hashlib.sha256(b'abc').hexdigest()}" in out
    rows = {(r.model, r.info.filename): r for r in status(tmp_path)}
    assert rows[("croma", "CROMA_large.pt")].present
    assert not rows[("dofa", "DOFA_ViT_base_e100.pth")].present
    # as_intended Prithvi loads the 600M file; the published preset names it but never loads it
    assert rows[("prithvi", "Prithvi_EO_V2_600M.pt")].presets == ("as_intended",)
    assert rows[("prithvi_300m", "Prithvi_EO_V2_300M.pt")].presets == ("as_intended",)
    assert rows[("dofa", "DOFA_ViT_base_e100.pth")].presets == ("as_published_code",)
    assert rows[("dofa", "dofa_base_patch16_224-a0275954.pth")].presets == ("as_intended",)
    assert rows[("scalemae", "scalemae-vitlarge-800.pth")].presets == ("as_intended",)
    assert "Prithvi_EO_V2_600M.pt  [missing]\n    loaded by presets: as_intended" in out
