"""Foundation-model registry: builds, declared shapes, the SPEC 6.2 recipes and the fidelity traps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from e2s_utils import bands as B
from e2s_utils.models import build_extractor, catalog, get_spec, list_models
from e2s_utils.models.common import prepare_group
from e2s_utils.models.registry import PRESETS, SIZES, BandGroup

FOUNDATION = ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")
#: Every foundation entry with its presets (variants have only the presets they declare).
ENTRIES = [
    (n, p)
    for n in list_models("foundation", include_variants=True)
    for p in PRESETS
    if p in get_spec(n).recipes
]


def raw_batch(batch: int = 2, seed: int = 0, size: int = 264) -> dict[str, torch.Tensor]:
    """Raw cubes as read from disk: S2 digital numbers, S1 dB."""
    g = torch.Generator().manual_seed(seed)
    return {
        "s1": -15 + 4 * torch.randn(batch, 4, 2, size, size, generator=g),
        "s2l1c": 3000 * torch.rand(batch, 4, 13, size, size, generator=g),
        "s2l2a": 3000 * torch.rand(batch, 4, 12, size, size, generator=g),
    }


@pytest.fixture(scope="module")
def cubes() -> dict[str, torch.Tensor]:
    return raw_batch()


def test_registry_lists_the_five_foundation_models_in_order() -> None:
    assert list_models("foundation") == list(FOUNDATION)
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        get_spec("nope")
    with pytest.raises(KeyError, match="preset"):
        get_spec("dofa").output_shape("as_written", "full")
    with pytest.raises(KeyError, match="size"):
        get_spec("dofa").output_shape("as_intended", "huge")


@pytest.mark.parametrize(("name", "preset"), ENTRIES)
def test_micro_builds_offline_and_returns_declared_shape(name: str, preset: str, cubes) -> None:
    model = build_extractor(name, preset=preset, size="micro", seed=0)
    assert not model.training
    with torch.inference_mode():
        out = model(cubes)
    assert tuple(out.shape) == (2, *model.output_shape)
    assert model.output_shape == get_spec(name).output_shape(preset, "micro")
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert model.weights_identity == "random init, seed 0"
    # the two samples differ, and seasons differ for per-season models
    assert not torch.allclose(out[0], out[1])
    if out.shape[-1] == 4:
        assert not torch.allclose(out[0, :, 0], out[0, :, 1])


@pytest.mark.parametrize("name", FOUNDATION)
def test_same_seed_is_bit_identical_and_seeds_differ(name: str, cubes) -> None:
    small = {k: v[:1] for k, v in cubes.items()}
    with torch.inference_mode():
        a = build_extractor(name, size="micro", seed=3)(small)
        b = build_extractor(name, size="micro", seed=3)(small)
        c = build_extractor(name, size="micro", seed=4)(small)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_build_leaves_global_rng_untouched() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_extractor("dofa", size="micro", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_tiny_sizes_declared() -> None:
    # tiny = the same architectures at 192-d, 4 blocks (the demo's cost); CROMA at 120 px
    for name, preset in ENTRIES:
        arch = get_spec(name).architectures[(preset, "tiny")]
        assert arch.embed_dim == 192 and arch.depth == 4
        micro = get_spec(name).architectures[(preset, "micro")]
        assert micro.embed_dim == 64 and micro.depth == 2
    assert get_spec("croma").architectures[("as_intended", "tiny")].input_size == 120


@pytest.mark.parametrize(("name", "preset"), ENTRIES)
def test_declared_parameter_counts_match_the_built_micro_networks(name: str, preset: str) -> None:
    spec = get_spec(name)
    for size in SIZES:  # every (preset, size) declares its exact count
        assert isinstance(spec.param_count(preset, size), int)
    net = build_extractor(name, preset, "micro").net
    assert sum(p.numel() for p in net.parameters()) == spec.param_count(preset, "micro")


# --------------------------------------------------------------------- SPEC 6.2 recipes

L1C, L2A = B.BANDS["s2l1c"], B.BANDS["s2l2a"]
S1 = ("VV", "VH")
V11, RAW = "v1.1", "downstream"
# model, preset: [(modality, bands, offset, stats)], passes, size, resize, seasons, full (C, T)
RECIPE_TABLE = [
    (
        "copernicusfm",
        "as_published_code",
        [("s1", S1, 0, V11), ("s2l1c", L1C, 1000, V11)],
        "joint",
        224,
        True,
        "separately",
        (768, 4),
    ),
    (
        "copernicusfm",
        "as_intended",
        [("s1", S1, 0, V11), ("s2l2a", L2A, 1000, V11)],
        "joint",
        224,
        True,
        "separately",
        (768, 4),
    ),
    (
        "dofa",
        "as_published_code",
        [("s1", S1, 0, V11), ("s2l1c", L1C, 1000, V11)],
        "separate",
        224,
        True,
        "separately",
        (1536, 4),
    ),
    (
        "dofa",
        "as_intended",
        [("s1", S1, 0, V11), ("s2l2a", L2A, 1000, V11)],
        "separate",
        224,
        True,
        "separately",
        (1536, 4),
    ),
    # the final public pipeline: v1.1 statistics without the +1000 shift (SPEC 6.2)
    (
        "croma",
        "as_published_code",
        [("s2l2a", L2A, 0, V11), ("s1", S1, 0, V11)],
        "paired",
        264,
        False,
        "separately",
        (1024, 4),
    ),
    (
        "croma",
        "as_intended",
        [("s2l2a", L2A, 0, RAW), ("s1", S1, 0, RAW)],
        "paired",
        264,
        False,
        "separately",
        (1024, 4),
    ),
    (
        "prithvi",
        "as_published_code",
        [("s2l1c", ("B03", "B04", "B05", "B8A", "B11", "B12"), 1000, V11)],
        "joint",
        256,
        True,
        "clip",
        (1536, 1),
    ),
    # the 600M network: 1280-d, patches of 14 px, 264 -> 252 px = 18 x 18 patches
    (
        "prithvi",
        "as_intended",
        [("s2l2a", ("B02", "B03", "B04", "B8A", "B11", "B12"), 0, "prithvi")],
        "joint",
        252,
        True,
        "clip",
        (2560, 1),
    ),
    (
        "prithvi_300m",
        "as_intended",
        [("s2l2a", ("B02", "B03", "B04", "B8A", "B11", "B12"), 0, "prithvi")],
        "joint",
        256,
        True,
        "clip",
        (2048, 1),
    ),
    (
        "scalemae",
        "as_published_code",
        [("s1", ("VV", "VH", "VV"), 0, V11), ("s2l1c", ("B08", "B04", "B03"), 1000, V11)],
        "separate",
        224,
        True,
        "separately",
        (1536, 4),
    ),
    (
        "scalemae",
        "as_intended",
        [("s1", ("VV", "VH", "VV"), 0, V11), ("s2l2a", ("B08", "B04", "B03"), 1000, V11)],
        "separate",
        224,
        True,
        "separately",
        (2048, 4),
    ),
]


@pytest.mark.parametrize("row", RECIPE_TABLE, ids=lambda r: f"{r[0]}-{r[1]}")
def test_recipes_match_spec_table(row) -> None:
    name, preset, groups, passes, size, resized, seasons, full_shape = row
    spec = get_spec(name)
    recipe = spec.recipe(preset)
    got = [(g.modality, g.bands, g.offset, g.stats) for g in recipe.groups]
    assert got == [(m, tuple(b), float(o), s) for m, b, o, s in groups]
    assert recipe.passes == passes
    assert recipe.input_size == size
    assert (recipe.resize == "antialiased_bilinear") is resized
    assert recipe.seasons == seasons
    assert spec.output_shape(preset, "full") == full_shape
    # the published code never loaded Prithvi / Scale-MAE; everything else loads its checkpoint
    assert recipe.loads_checkpoint is not (
        preset == "as_published_code" and name in ("prithvi", "scalemae")
    )
    # only DOFA has two patch-embedding programs; only Scale-MAE takes res
    assert (recipe.patch_embed_variant is not None) is (name == "dofa")
    assert (recipe.res is not None) is (name == "scalemae")


def test_every_entry_has_a_recipe_row() -> None:
    assert {(r[0], r[1]) for r in RECIPE_TABLE} == set(ENTRIES)


def test_input_widths_per_preset() -> None:
    # SPEC 2: the published five give 20,992 floats per sample; the 600M Prithvi (2560, 1) and
    # the ViT-L Scale-MAE (2048, 4) make the intended five 24,064
    assert catalog.input_width(FOUNDATION, "as_published_code", "full") == 20_992
    assert catalog.input_width(FOUNDATION, "as_intended", "full") == 24_064
    assert catalog.input_width(None, "as_intended", "full") == 24_064  # default: the five
    total = 0
    for name in FOUNDATION:
        c, t = get_spec(name).output_shape("as_published_code", "full")
        total += c * t
    assert total == 20_992
    micro = catalog.input_width(FOUNDATION, "as_intended", "micro")
    assert micro == 64 * 4 + 128 * 4 + 64 * 4 + 128 * 1 + 128 * 4


def test_wavelengths_dofa_and_copernicusfm() -> None:
    dofa = get_spec("dofa")
    s1, s2 = dofa.recipe("as_published_code").groups
    assert s1.wavelengths == (5.405, 5.405) and s1.unit == "um"
    assert s2.wavelengths == (
        0.443,
        0.490,
        0.560,
        0.665,
        0.705,
        0.740,
        0.783,
        0.842,
        0.865,
        0.945,
        1.375,
        1.610,
        2.190,
    )
    l2a = dofa.recipe("as_intended").groups[1].wavelengths
    assert l2a is not None and 1.375 not in l2a and len(l2a) == 12
    cfm = get_spec("copernicusfm").recipe("as_published_code").groups
    assert cfm[0].wavelengths == (5e7, 5e7) and cfm[0].bandwidths == (100.0, 100.0)
    assert cfm[1].wavelengths[:3] == (443.0, 492.0, 560.0) and cfm[1].bandwidths[-1] == 175.0
    assert 1374.0 not in get_spec("copernicusfm").recipe("as_intended").groups[1].wavelengths


# --------------------------------------------------------------------- preprocessing


def test_prepare_group_selects_by_name_shifts_normalises_and_resizes() -> None:
    cube = torch.zeros(1, 4, 13, 264, 264)
    cube[:, :, B.BANDS["s2l1c"].index("B04")] = 2373.963 - 1000 + 1143.578  # -> +1 after norm
    group = BandGroup("s2l1c", ("B04", "B03"), 1000.0, "v1.1")
    out = prepare_group({"s2l1c": cube}, group, 224)
    assert out.shape == (1, 4, 2, 224, 224)
    torch.testing.assert_close(out[:, :, 0], torch.ones(1, 4, 224, 224), atol=1e-4, rtol=0)
    expected_b03 = (0 + 1000 - 2320.225) / 875.318
    torch.testing.assert_close(
        out[:, :, 1], torch.full((1, 4, 224, 224), expected_b03), atol=1e-4, rtol=0
    )


def test_prepare_group_antialiases() -> None:
    # a 1-pixel checkerboard averages out under an antialiased downsample, not under plain bilinear
    cube = torch.zeros(1, 4, 2, 264, 264)
    cube[..., ::2, ::2] = 1.0
    cube[..., 1::2, 1::2] = 1.0
    out = prepare_group({"s1": cube}, BandGroup("s1", ("VV",)), 64)
    assert out.std() < 0.05 and abs(out.mean().item() - 0.5) < 0.05


def test_missing_modality_and_bad_layout_are_clear_errors(cubes) -> None:
    model = build_extractor("croma", size="micro")
    with pytest.raises(KeyError, match="reads modality 's1'"):
        model({"s2l2a": cubes["s2l2a"]})
    with pytest.raises(ValueError, match=r"expected \(B, 4, 12, H, W\)"):
        model({"s1": cubes["s1"], "s2l2a": cubes["s2l2a"][:, :, :6]})


def test_only_the_recipes_modalities_are_needed(cubes) -> None:
    model = build_extractor("croma", size="micro")
    with torch.inference_mode():
        out = model({"s1": cubes["s1"], "s2l2a": cubes["s2l2a"]})
    assert out.shape == (2, 64, 4)


# --------------------------------------------------------------------- fidelity traps


def test_copernicusfm_layernorm_eps_is_1e6() -> None:
    net = build_extractor("copernicusfm", size="micro").net
    norms = [m for m in net.blocks.modules() if isinstance(m, nn.LayerNorm)] + [net.norm]
    assert norms and all(m.eps == 1e-6 for m in norms)
    assert not hasattr(net, "fc_norm")  # global_pool off: class token after the final norm


def test_copernicusfm_unknown_metadata_uses_learned_tokens(cubes) -> None:
    model = build_extractor("copernicusfm", size="micro")
    small = {k: v[:1] for k, v in cubes.items()}
    with torch.inference_mode():
        before = model(small)
        model.net.time_token.add_(1.0)
        after = model(small)
    assert not torch.allclose(before, after)


def test_dofa_random_init_pos_embed_is_sincos_not_zero() -> None:
    from torchgeo.models.dofa import DOFA
    from torchgeo.models.scale_mae import get_2d_sincos_pos_embed_with_resolution

    raw = DOFA(img_size=64, patch_size=16, embed_dim=64, depth=2, num_heads=4, num_classes=0)
    assert torch.count_nonzero(raw.pos_embed) == 0  # the library's trap
    pos = build_extractor("dofa", size="micro").net.pos_embed
    expected = get_2d_sincos_pos_embed_with_resolution(64, 4, torch.ones(1), cls_token=True)
    torch.testing.assert_close(pos, expected.float())
    assert torch.count_nonzero(pos[:, 1:]) > 0
    assert torch.count_nonzero(build_extractor("copernicusfm", size="micro").net.pos_embed) > 0


def test_dofa_full_is_built_for_224_and_rejects_264() -> None:
    model = build_extractor("dofa", size="full")
    assert model.net.pos_embed.shape == (1, 197, 768)
    assert model.input_size == 224
    x = torch.randn(1, 2, 264, 264)
    with pytest.raises(RuntimeError):
        model.net.forward_features(x, wavelengths=[5.405, 5.405])


def test_prithvi_clip_of_four_frames_and_bands() -> None:
    model = build_extractor("prithvi", size="micro")
    assert model.net.patch_embed.input_size[0] == 4
    assert model.net.patch_embed.proj.weight.shape[1] == 6
    assert model.recipe.groups[0].bands == ("B02", "B03", "B04", "B8A", "B11", "B12")
    published = get_spec("prithvi").recipe("as_published_code").groups[0]
    assert published.bands == ("B03", "B04", "B05", "B8A", "B11", "B12")


def test_prithvi_600m_is_the_intended_network_and_300m_a_variant() -> None:
    spec, small = get_spec("prithvi"), get_spec("prithvi_300m")
    big = spec.architectures[("as_intended", "full")]
    assert (big.embed_dim, big.depth, big.num_heads, big.patch_size) == (1280, 32, 16, 14)
    assert spec.checkpoint_for("as_intended").filename == "Prithvi_EO_V2_600M.pt"
    # the published code tried (and failed) to load the same 600M file into a ViT-B/16
    assert spec.checkpoint_for("as_published_code").filename == "Prithvi_EO_V2_600M.pt"
    pub = spec.architectures[("as_published_code", "full")]
    assert (pub.embed_dim, pub.depth, pub.patch_size) == (768, 12, 16)
    assert spec.output_shape("as_published_code", "full") == (1536, 1)
    # 252 px = 18 whole patches of 14 px (256 px would silently drop a 4 px border)
    assert spec.recipe("as_intended").input_size % big.patch_size == 0
    assert spec.recipe("as_intended").input_size // big.patch_size == 18
    l300 = small.architectures[("as_intended", "full")]
    assert (l300.embed_dim, l300.depth, l300.patch_size) == (1024, 24, 16)
    assert small.checkpoint.filename == "Prithvi_EO_V2_300M.pt"
    assert small.variant_of == "prithvi" and "prithvi_300m" not in list_models()
    assert list(small.recipes) == ["as_intended"]
    from e2s_utils.models.prithvi import TERRATORCH_VARIANT

    assert TERRATORCH_VARIANT[("prithvi", "as_intended")] == "prithvi_eo_v2_600"
    assert TERRATORCH_VARIANT[("prithvi_300m", "as_intended")] == "prithvi_eo_v2_300"


def test_prithvi_pooling_is_mean_and_std_of_all_tokens(cubes) -> None:
    model = build_extractor("prithvi", size="micro")
    small = {k: v[:1] for k, v in cubes.items()}
    with torch.inference_mode():
        out = model(small)[0, :, 0]
        x = prepare_group(small, model.recipe.groups[0], model.input_size).transpose(1, 2)
        tokens = model.net.forward_features(x)[-1]
    assert tokens.shape[1] == 1 + 4 * 16
    torch.testing.assert_close(out[:64], tokens.mean(dim=1)[0])
    torch.testing.assert_close(out[64:], tokens.std(dim=1)[0])


def test_scalemae_network_gets_the_recipe_res(cubes) -> None:
    for preset in PRESETS:
        recipe = get_spec("scalemae").recipe(preset)
        assert recipe.res == 1.0  # pinned: upstream evaluation convention at 224 px
        for size in ("micro", "tiny"):
            model = build_extractor("scalemae", preset, size)
            assert model.net.res == recipe.res == model.res
    model = build_extractor("scalemae", size="micro")
    small = {k: v[:1] for k, v in cubes.items()}
    with torch.inference_mode():
        a = model(small)
        with model.using_res(11.79):
            b = model(small)
        c = model(small)
    assert not torch.allclose(a, b)  # the position table depends on res
    assert torch.equal(a, c) and model.net.res == 1.0  # restored


@pytest.mark.slow
def test_full_size_architectures() -> None:
    """The paper's networks: parameter counts and input geometry (builds five large models)."""
    expected = {  # (preset, millions of parameters +- 1 %), independent of the declared counts
        ("copernicusfm", "as_intended"): 139.5,
        ("dofa", "as_intended"): 111.3,
        ("croma", "as_intended"): 672.6,
        ("prithvi", "as_intended"): 631.2,
        ("prithvi", "as_published_code"): 86.2,
        ("prithvi_300m", "as_intended"): 303.9,
        ("scalemae", "as_intended"): 303.3,
        ("scalemae", "as_published_code"): 85.8,
    }
    for (name, preset), millions in expected.items():
        model = build_extractor(name, preset=preset, size="full")
        n = sum(p.numel() for p in model.net.parameters())
        assert n / 1e6 == pytest.approx(millions, rel=0.01), (name, preset, n)
        assert n == get_spec(name).param_count(preset, "full")
        if name == "croma":
            assert model.net.attn_bias.shape == (1, 16, 1089, 1089)
        if name == "prithvi" and preset == "as_intended":
            net = model.net
            assert net.embed_dim == 1280 and len(net.blocks) == 32
            assert net.patch_embed.proj.weight.shape == (1280, 6, 1, 14, 14)
            assert net.pos_embed.shape[1] == 1 + 4 * 16 * 16  # built at 224 px
            # fed 252 px: the library interpolates the table to 18 x 18 patches per frame
            assert net.interpolate_pos_encoding((4, 252, 252)).shape == (1, 1 + 4 * 18 * 18, 1280)
        if name.startswith("prithvi"):
            assert model.net.patch_embed.input_size[0] == 4
        if name == "prithvi_300m":
            assert model.net.pos_embed.shape[1] == 1 + 4 * 14 * 14
        if name == "scalemae" and preset == "as_intended":
            assert model.net.embed_dim == 1024 and len(model.net.blocks) == 24
            assert model.net.res == 1.0
        del model


@pytest.mark.slow
def test_building_prithvi_keeps_float32_matmul_precision() -> None:
    """terratorch's import lowers the matmul precision globally; building Prithvi must not."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # The library's side effect, in a fresh interpreter: a bare import lowers the precision.
    bare = "import torch, terratorch.registry\nprint(torch.get_float32_matmul_precision())\n"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", bare],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[-1] == "medium"
    guarded = (
        "import torch\n"
        "from e2s_utils.models import build_extractor\n"
        "build_extractor('prithvi', size='micro')\n"
        "assert torch.get_float32_matmul_precision() == 'highest'\n"
    )
    subprocess.run([sys.executable, "-W", "ignore", "-c", guarded], check=True, env=env)
