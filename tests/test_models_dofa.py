"""DOFA's two patch-embedding programs: the hub one (as published) and torchgeo's corrected one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from e2s_utils.models import build_extractor, get_spec
from e2s_utils.models.dofa import (
    generated_kernel,
    patch_embed_variant_of,
    use_patch_embed_variant,
)

WAVELENGTHS = torch.tensor([0.443, 0.490, 0.560, 0.665, 0.705])


def _reference_kernel(embedding: torch.nn.Module, variant: str) -> tuple[torch.Tensor, ...]:
    """The kernel computed step by step from the embedding's sub-modules, without the helper."""
    dim, k = embedding.embed_dim, embedding.kernel_size
    half = torch.arange(64, dtype=torch.float32) / 64.0  # sin-cos of 128 dims
    omega = 1.0 / 10000**half
    angles = (WAVELENGTHS * 1000).reshape(-1, 1) * omega.reshape(1, -1)
    waves = embedding.fclayer(torch.cat([angles.sin(), angles.cos()], dim=1))  # (C, 128)
    rows, bias = embedding.weight_generator(waves)  # (C, k*k*D), (D,)
    c = WAVELENGTHS.shape[0]
    if variant == "hub":  # zhu-xlab/DOFA Dynamic_MLP_OFA: view(D, C, k, k), no permute
        kernel = rows.reshape(dim, c, k, k)
    else:  # torchgeo DOFAEmbedding: view(C, k, k, D) then channels last -> first
        kernel = torch.stack([rows.reshape(c, k, k, dim)[..., d] for d in range(dim)])
    return kernel * 0.01, bias * 0.01


def test_recipes_pin_the_variant_per_preset() -> None:
    spec = get_spec("dofa")
    assert spec.recipe("as_published_code").patch_embed_variant == "hub"
    assert spec.recipe("as_intended").patch_embed_variant == "corrected"
    assert spec.checkpoint_for("as_published_code").filename == "DOFA_ViT_base_e100.pth"
    assert spec.checkpoint_for("as_intended").filename == "dofa_base_patch16_224-a0275954.pth"
    for preset, variant in (("as_published_code", "hub"), ("as_intended", "corrected")):
        assert patch_embed_variant_of(build_extractor("dofa", preset, "micro").net) == variant


@pytest.mark.parametrize("variant", ["hub", "corrected"])
def test_each_variant_matches_an_independent_computation(variant: str) -> None:
    net = build_extractor("dofa", size="micro", seed=3).net
    use_patch_embed_variant(net, variant)  # type: ignore[arg-type]
    emb = net.patch_embed
    x = torch.randn(2, WAVELENGTHS.shape[0], 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        kernel, bias = _reference_kernel(emb, variant)
        helper = generated_kernel(emb, WAVELENGTHS, variant)  # type: ignore[arg-type]
        expected = F.conv2d(x, kernel, bias=bias, stride=emb.kernel_size, padding=1)
        got, _ = emb(x, WAVELENGTHS)
    torch.testing.assert_close(helper[0], kernel)
    torch.testing.assert_close(got, expected.flatten(2).transpose(1, 2))


def test_the_variants_differ_on_the_same_weights() -> None:
    g = torch.Generator().manual_seed(4)
    cubes = {
        "s1": -15 + 4 * torch.randn(1, 4, 2, 264, 264, generator=g),
        "s2l2a": 3000 * torch.rand(1, 4, 12, 264, 264, generator=g),
    }
    model = build_extractor("dofa", "as_intended", "micro", seed=5)
    keys = {k: v.clone() for k, v in model.net.state_dict().items()}
    with torch.inference_mode():
        corrected = model(cubes)
        use_patch_embed_variant(model.net, "hub")
        hub = model(cubes)
        use_patch_embed_variant(model.net, "corrected")
        again = model(cubes)
    assert model.net.state_dict().keys() == keys.keys()
    assert all(torch.equal(v, keys[k]) for k, v in model.net.state_dict().items())
    assert (hub - corrected).abs().max() > 1e-2
    assert torch.equal(again, corrected)
    # the hub program is not a relabelling of channels: its kernels differ in content
    emb = model.net.patch_embed
    with torch.no_grad():
        k_hub, _ = generated_kernel(emb, WAVELENGTHS, "hub")
        k_fix, _ = generated_kernel(emb, WAVELENGTHS, "corrected")
    assert not torch.allclose(k_hub, k_fix)


def test_unknown_variant_is_refused() -> None:
    net = build_extractor("dofa", size="micro").net
    with pytest.raises(ValueError, match="hub' or 'corrected"):
        use_patch_embed_variant(net, "transposed")  # type: ignore[arg-type]
