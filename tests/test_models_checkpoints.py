"""Strict checkpoint loading: each official layout loads and changes the embedding; anything else fails.

Every checkpoint here is written by the test itself: the state dict of a micro-sized network
(seed 1) renamed into the official layout of the model (CROMA's five sub-dicts, Scale-MAE's
``{'model': ...}`` training checkpoint with decoder keys, Prithvi's MAE ``encoder.`` /
``decoder.`` keys, plain DOFA and Copernicus-FM dicts), saved under the official file name.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import torch

from e2s_utils.models import CheckpointError, build_extractor, checkpoint_path, get_spec

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
        return {sub: getattr(net, sub).state_dict() for sub in
                ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")}  # fmt: skip
    if name == "prithvi":
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
        sd.pop("norm.weight"), sd.pop("norm.bias")  # absent from the official file
        return {"model": sd}
    raise AssertionError(name)


def write(name: str, folder: Path, payload: dict) -> Path:
    path = folder / get_spec(name).checkpoint.filename
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("name", ["copernicusfm", "dofa", "croma", "prithvi", "scalemae"])
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


@pytest.mark.parametrize("name", ["copernicusfm", "dofa", "croma", "prithvi", "scalemae"])
def test_wrong_size_checkpoint_fails_loudly(name: str, tmp_path: Path) -> None:
    """A bigger network's checkpoint (tiny: 192-d, 4 blocks) into the micro network."""
    big = build_extractor(name, size="tiny", seed=1)
    path = write(name, tmp_path, official_layout(name, big.net) if name != "prithvi" else
                 {f"encoder.{k}": v for k, v in big.net.state_dict().items()})  # fmt: skip
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


def test_published_preset_never_loads_prithvi_or_scalemae(tmp_path: Path) -> None:
    for name in ("prithvi", "scalemae"):
        payload = official_layout(name, build_extractor(name, size="micro", seed=1).net)
        write(name, tmp_path, payload)
        model = build_extractor(
            name, preset="as_published_code", size="micro", weights_dir=tmp_path
        )
        assert model.weights_identity == "random init, seed 0"
        assert checkpoint_path(name, "as_intended", "micro", tmp_path) is not None


def test_weights_folder_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="DOFA_ViT_base_e100.pth"):
        build_extractor("dofa", size="micro", weights_dir=tmp_path)
    monkeypatch.setenv("E2S_WEIGHTS_DIR", str(tmp_path))
    # the environment folder holds full-size files: it is ignored at micro / tiny size
    assert checkpoint_path("dofa", "as_intended", "micro") is None
    with pytest.raises(FileNotFoundError, match="E2S_WEIGHTS_DIR"):
        checkpoint_path("dofa", "as_intended", "full")
    (tmp_path / "DOFA_ViT_base_e100.pth").write_bytes(b"")
    assert checkpoint_path("dofa", "as_intended", "full") == tmp_path / "DOFA_ViT_base_e100.pth"
    monkeypatch.delenv("E2S_WEIGHTS_DIR")
    assert checkpoint_path("dofa", "as_intended", "full") is None


class Custom:
    """An arbitrary pickled object that ``weights_only`` loading refuses."""


def test_unreadable_pickle_is_refused_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "DOFA_ViT_base_e100.pth"
    torch.save({"model": {}, "obj": Custom()}, path)
    with pytest.raises(CheckpointError, match="E2S_TRUST_CHECKPOINTS"):
        build_extractor("dofa", size="micro", weights_dir=tmp_path)


def test_weights_command_lists_expected_and_present(tmp_path: Path, capsys) -> None:
    from e2s_utils.models.weights import main, status

    (tmp_path / "CROMA_large.pt").write_bytes(b"abc")
    assert main(["--dir", str(tmp_path), "--hash"]) == 0
    out = capsys.readouterr().out
    for name in ("copernicusfm", "dofa", "croma", "prithvi", "scalemae"):
        info = get_spec(name).checkpoint
        assert info.filename in out and info.url in out
    assert f"sha256:{hashlib.sha256(b'abc').hexdigest()}" in out
    rows = {r.model: r for r in status(tmp_path)}
    assert rows["croma"].present and not rows["dofa"].present
