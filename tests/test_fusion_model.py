"""The compressor network: the paper's size, its layer order, the per-model split and loss."""

from __future__ import annotations

import pytest
import torch

from e2s_utils.fusion import (
    FusionCompressor,
    FusionError,
    build_model,
    count_parameters,
    make_optimizer,
    reconstruction_losses,
)
from e2s_utils.models import catalog
from tests.helpers import SHAPES, fusion_data, small_fusion_config


def test_paper_parameter_count() -> None:
    shapes = catalog.output_shapes(catalog.paper_models(), "as_published_code", "full")
    model = FusionCompressor(shapes)
    assert model.in_dim == 20_992
    assert count_parameters(model) == 66_650_624


def test_architecture_order_and_dropout() -> None:
    model = FusionCompressor(SHAPES, hidden=16, out_dim=8, dropout=0.1)
    kinds = [type(m).__name__ for m in model.encoder]
    assert kinds == ["LayerNorm", "Dropout", "Linear", "GELU", "Dropout", "Linear"]
    assert model.encoder[0].weight is not None  # affine LayerNorm over all inputs
    assert model.encoder[0].normalized_shape == (6 * 4 + 5 + 3 * 2,)
    assert model.encoder[1].p == 0.1 and model.encoder[4].p == 0.1
    assert model.decoder.in_features == 8 and model.decoder.out_features == model.in_dim
    z, recon = model.eval()(torch.zeros(2, model.in_dim))
    assert z.shape == (2, 8) and recon.shape == (2, model.in_dim)
    with pytest.raises(FusionError, match="positive"):
        FusionCompressor({"dofa": (0, 4)})


def test_canonical_order_flatten_and_split() -> None:
    # whatever order the caller uses, inputs concatenate as dofa, croma, prithvi (canonical)
    model = FusionCompressor({"prithvi": (3, 2), "croma": (5, 1), "dofa": (6, 4)})
    assert model.models == ("dofa", "croma", "prithvi")
    data = fusion_data(n=3)
    flat = torch.from_numpy(data.flat())
    tensors = {m: torch.from_numpy(a) for m, a in data.inputs.items()}
    assert torch.equal(model.flatten(tensors), flat)
    back = model.split(flat)
    for m, a in data.inputs.items():
        assert torch.equal(back[m], torch.from_numpy(a))
    with pytest.raises(FusionError, match="croma"):
        model.flatten({**tensors, "croma": torch.zeros(3, 4, 1)})
    with pytest.raises(FusionError, match="missing"):
        model.flatten({"dofa": tensors["dofa"]})


def test_weighted_loss_and_per_model_split() -> None:
    model = FusionCompressor(SHAPES)
    weights = {"dofa": 1.0, "croma": 0.5, "prithvi": 2.0}
    target = torch.zeros(4, model.in_dim)
    recon = target.clone()
    recon[:, 24:29] = 2.0  # error only in croma's slice: MSE_croma = 4
    total, per = reconstruction_losses(model, recon, target, weights)
    assert per["dofa"].item() == 0 and per["prithvi"].item() == 0
    assert per["croma"].item() == pytest.approx(4.0)
    assert total.item() == pytest.approx(0.5 * 4.0)
    recon[:, 29:] = 1.0  # prithvi MSE 1, weight 2
    total, per = reconstruction_losses(model, recon, target, weights)
    assert total.item() == pytest.approx(0.5 * 4.0 + 2.0 * 1.0)
    # equals the explicit formula on random tensors
    r, t = torch.randn(5, model.in_dim), torch.randn(5, model.in_dim)
    total, _ = reconstruction_losses(model, r, t, weights)
    manual = (
        1.0 * ((r[:, :24] - t[:, :24]) ** 2).mean()
        + 0.5 * ((r[:, 24:29] - t[:, 24:29]) ** 2).mean()
        + 2.0 * ((r[:, 29:] - t[:, 29:]) ** 2).mean()
    )
    assert total.item() == pytest.approx(manual.item(), rel=1e-6)


def test_build_model_is_seeded_and_checks_the_models() -> None:
    cfg = small_fusion_config()
    a, b = build_model(cfg, SHAPES), build_model(cfg, SHAPES)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = build_model(small_fusion_config(seed=2), SHAPES)
    assert not torch.equal(a.encoder[2].weight, other.encoder[2].weight)
    with pytest.raises(FusionError, match="fuses"):
        build_model(cfg, {"dofa": (6, 4)})
    opt = make_optimizer(a, cfg, "cpu")
    assert opt.defaults["lr"] == cfg.lr and opt.defaults["weight_decay"] == cfg.weight_decay
    assert opt.defaults["fused"] is True
    assert make_optimizer(a, cfg, "cpu", fused=False).defaults["fused"] is False
