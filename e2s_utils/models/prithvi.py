"""Prithvi-EO-2.0 (terratorch): the four seasons as one six-band clip, 600M and 300M.

Recipe (SPEC 6.2): six S2 bands, the four seasons as one temporal clip ``(C=6, T=4)`` (built with
``num_frames=4``; terratorch's builder defaults to 1), antialiased resize from 264 px; the last
block's output (after the final norm) over all tokens, mean concatenated with std ->
``(2 x D, 1)``.

Two registry entries:

* ``prithvi`` (the paper's model). ``as_intended``: **Prithvi-EO-2.0 600M**, the checkpoint the
  authors' script downloaded (``Prithvi_EO_V2_600M.pt``), terratorch ``prithvi_eo_v2_600``:
  1280-d, 32 blocks, 16 heads, patches of 1 x 14 x 14, built at 224 px (16 x 16 patches per
  frame), official weights, S2 L2A bands B02, B03, B04, B8A, B11, B12 with Prithvi's own
  statistics (no offset) -> ``(2560, 1)``. ``as_published_code``: what the public code
  effectively ran: a randomly initialised ViT-B/16 (768-d, 12 blocks; the 600M checkpoint was
  loaded non-strictly into a default ViT-B-sized ``PrithviMAE`` and nothing matched), fed L1C
  bands off by one (B03, B04, B05, B8A, B11, B12), +1000 and the v1.1 statistics, at 256 px ->
  ``(1536, 1)``. No checkpoint is loaded in that preset.
* ``prithvi_300m`` (a variant, not listed among the five by default): the same recipe on
  Prithvi-EO-2.0 300M (terratorch ``prithvi_eo_v2_300``: 1024-d, 24 blocks, patches of 16 px,
  ``Prithvi_EO_V2_300M.pt``) at 256 px -> ``(2048, 1)``. It is the model this project ran before
  the 600M one was pinned, kept selectable by name to measure what the larger network changes.
  It has an ``as_intended`` preset only (the published code never ran a 300M network).

Input size of the 600M network (patch 14). terratorch's ``PatchEmbed`` is a strided Conv3d: a
256 px frame gives floor(256 / 14) = 18 patches per side, covering 252 px; the last 4 pixel rows
and columns are dropped, with a ``UserWarning`` ("not divisible by patch size ... the border will
be ignored") on every call, and ``PrithviViT.interpolate_pos_encoding`` resamples the 16 x 16
sin-cos table to 18 x 18 (bicubic). Feeding the published 256 px therefore equals cropping to the
top-left 252 px. We resize 264 -> 252 instead: the same 18 x 18 token grid (so the same position
table interpolation), but the whole tile is seen and no border is discarded. 224 px (the
pretraining grid, no interpolation) would throw away resolution the other models keep. Tiny and
micro sizes keep their small patch-16 configurations.

Importing terratorch silently lowers torch's float32 matmul precision for the whole process;
the import here restores it (see ``_backbone_registry``).

Checkpoints hold the MAE (``encoder.`` / ``decoder.`` prefixes). The loader strips ``encoder.``,
drops ``decoder*`` and ``mask_token``, and loads the rest strictly. The fixed sin-cos
``pos_embed`` buffer is replaced by the network's own when its token count differs (as
terratorch's ``checkpoint_filter_fn_vit`` does: it depends on ``num_frames``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2s_utils import bands as B
from e2s_utils.models.common import FoundationExtractor, load_state_dict_strict, unwrap
from e2s_utils.models.registry import (
    ArchConfig,
    BandGroup,
    CheckpointInfo,
    InputRecipe,
    ModelSpec,
    register,
)

NUM_FRAMES: int = 4
INTENDED, PUBLISHED = "as_intended", "as_published_code"
_POOLING = "last block output (after the final norm) over all tokens: mean ++ std"
_HF = "https://huggingface.co/ibm-nasa-geospatial"


def _small(preset: str) -> dict[tuple[str, str], ArchConfig]:
    return {
        (preset, "tiny"): ArchConfig(
            192, 4, 3, 16, 224, "4-block ViT-Ti/16-width Prithvi, 4 frames", params=2_075_136
        ),
        (preset, "micro"): ArchConfig(
            64, 2, 4, 16, 64, "2-block 64-d Prithvi, 4 frames, 64 px", params=198_528
        ),
    }


#: Network dimensions per entry and (preset, size).
ARCH: dict[str, dict[tuple[str, str], ArchConfig]] = {
    "prithvi": {
        (INTENDED, "full"): ArchConfig(
            1280, 32, 16, 14, 224, "Prithvi-EO-2.0 600M (ViT-H/14), 4 frames", params=631_188_480
        ),
        (PUBLISHED, "full"): ArchConfig(
            768, 12, 12, 16, 224, "random-init ViT-B/16 Prithvi, 4 frames", params=86_237_184
        ),
        **_small(INTENDED),
        **_small(PUBLISHED),
    },
    "prithvi_300m": {
        (INTENDED, "full"): ArchConfig(
            1024, 24, 16, 16, 224, "Prithvi-EO-2.0 300M (ViT-L/16), 4 frames", params=303_886_336
        ),
        **_small(INTENDED),
    },
}

#: terratorch registry variant built without overrides at full size (others: 300's with overrides).
TERRATORCH_VARIANT: dict[tuple[str, str], str] = {
    ("prithvi", INTENDED): "prithvi_eo_v2_600",
    ("prithvi_300m", INTENDED): "prithvi_eo_v2_300",
}
_BASE_VARIANT = "prithvi_eo_v2_300"

#: Pixels per side fed to the network, per (entry, preset, size); see the module docstring.
INPUT_SIZE: dict[tuple[str, str, str], int] = {
    ("prithvi", INTENDED, "full"): 252,
    ("prithvi", PUBLISHED, "full"): 256,
    ("prithvi_300m", INTENDED, "full"): 256,
}
SMALL_INPUT_SIZE: dict[str, int] = {"tiny": 256, "micro": 64}


def input_size(name: str, preset: str, size: str) -> int:
    """Pixels per side the entry's network receives in one preset and size."""
    return INPUT_SIZE.get((name, preset, size)) or SMALL_INPUT_SIZE[size]


def _intended_recipe(network: str, size_px: int, notes: str) -> InputRecipe:
    return InputRecipe(
        groups=(BandGroup("s2l2a", B.PRITHVI_BANDS, 0.0, "prithvi"),),
        passes="joint",
        input_size=size_px,
        resize="antialiased_bilinear",
        seasons="clip",
        pooling=_POOLING,
        network=network,
        notes="L2A B02, B03, B04, B8A, B11, B12 with Prithvi's own statistics, no offset; " + notes,
    )


RECIPES: dict[str, dict[str, InputRecipe]] = {
    "prithvi": {
        INTENDED: _intended_recipe(
            "Prithvi-EO-2.0 600M (terratorch prithvi_eo_v2_600), official weights",
            252,
            "264 -> 252 px = 18 x 18 patches of 14 px (256 px would silently drop a 4 px border)",
        ),
        PUBLISHED: InputRecipe(
            groups=(BandGroup("s2l1c", B.PRITHVI_BANDS_AS_PUBLISHED, B.S2_OFFSET_V11, "v1.1"),),
            passes="joint",
            input_size=256,
            resize="antialiased_bilinear",
            seasons="clip",
            pooling=_POOLING,
            network="randomly initialised ViT-B/16 (the 600M checkpoint never loaded)",
            loads_checkpoint=False,
            notes="L1C bands off by one (B03, B04, B05, B8A, B11, B12), +1000, v1.1 statistics",
        ),
    },
    "prithvi_300m": {
        INTENDED: _intended_recipe(
            "Prithvi-EO-2.0 300M (terratorch prithvi_eo_v2_300), official weights",
            256,
            "264 -> 256 px = 16 x 16 patches of 16 px",
        ),
    },
}

CHECKPOINTS: dict[str, CheckpointInfo] = {
    "prithvi": CheckpointInfo(
        filename="Prithvi_EO_V2_600M.pt",
        url=f"{_HF}/Prithvi-EO-2.0-600M/resolve/main/Prithvi_EO_V2_600M.pt",
        source=f"IBM / NASA ({_HF}/Prithvi-EO-2.0-600M)",
        layout="MAE state dict: encoder.* and decoder.* keys",
        size_mb=2640,
    ),
    "prithvi_300m": CheckpointInfo(
        filename="Prithvi_EO_V2_300M.pt",
        url=f"{_HF}/Prithvi-EO-2.0-300M/resolve/main/Prithvi_EO_V2_300M.pt",
        source=f"IBM / NASA ({_HF}/Prithvi-EO-2.0-300M)",
        layout="MAE state dict: encoder.* and decoder.* keys",
        size_mb=1330,
    ),
}


def _backbone_registry() -> Any:
    """terratorch's backbone registry, imported without its global side effect.

    Importing terratorch 1.2.11 runs ``torch.set_float32_matmul_precision("medium")`` (in a
    backbone module it loads eagerly), which lowers the precision of every later float32 matmul
    in the process, on CPU too (errors of ~1e-3 in attention outputs were measured). The previous
    setting is restored right after the import.
    """
    previous = torch.get_float32_matmul_precision()
    try:
        from terratorch.registry import BACKBONE_REGISTRY
    finally:
        torch.set_float32_matmul_precision(previous)
    return BACKBONE_REGISTRY


def build_network(name: str, preset: str, size: str) -> torch.nn.Module:
    """The terratorch Prithvi ViT of one entry, preset and size (random init, 4 frames)."""
    registry = _backbone_registry()
    arch = ARCH[name][(preset, size)]
    kwargs: dict[str, Any] = {"pretrained": False, "num_frames": NUM_FRAMES}
    variant = TERRATORCH_VARIANT.get((name, preset)) if size == "full" else None
    if variant is None:
        variant = _BASE_VARIANT
        kwargs |= {
            "embed_dim": arch.embed_dim,
            "depth": arch.depth,
            "num_heads": arch.num_heads,
            "img_size": arch.input_size,
            "patch_size": [1, arch.patch_size, arch.patch_size],
        }
    return registry.build(variant, **kwargs)


class PrithviExtractor(FoundationExtractor):
    """Prithvi extractor: one clip of four seasons per sample, mean ++ std of the tokens."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        self.input_size = input_size(spec.name, preset, size)
        self.net = build_network(spec.name, preset, size)

    def encode(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs  # (B, T, C, H, W)
        x = x.transpose(1, 2)  # (B, C, T, H, W): the seasons as frames
        tokens = self.net.forward_features(x)[-1]  # last block, after the final norm
        z = torch.cat([tokens.mean(dim=1), tokens.std(dim=1)], dim=-1)
        return z.unsqueeze(-1)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:
        state: dict[str, Any] = {}
        for key, value in unwrap(ckpt).items():
            if key.startswith("decoder") or key == "mask_token":
                continue
            state[key.removeprefix("encoder.")] = value
        own = self.net.pos_embed
        pos = state.get("pos_embed")
        if isinstance(pos, Tensor) and pos.shape != own.shape:
            state["pos_embed"] = own.detach().clone()  # fixed sin-cos, depends on num_frames
        load_state_dict_strict(self.net, state, source=source)


def _builder(name: str) -> Any:
    def build(*, preset: str, size: str, seed: int = 0) -> PrithviExtractor:
        return PrithviExtractor(SPECS[name], preset, size)

    return build


_DESCRIPTION = (
    "Prithvi-EO-2.0: a temporal ViT (3-D patch embedding) pretrained as an MAE on HLS time series."
)

SPECS: dict[str, ModelSpec] = {}
SPECS["prithvi"] = register(
    ModelSpec(
        name="prithvi",
        display_name="Prithvi-EO-2.0",
        short_name="Prithvi",
        kind="foundation",
        recipes=RECIPES["prithvi"],
        output_shapes={k: (2 * a.embed_dim, 1) for k, a in ARCH["prithvi"].items()},
        loss_weight=2.0,
        checkpoint=CHECKPOINTS["prithvi"],
        default_batch_size=2,
        builder=_builder("prithvi"),
        architectures=ARCH["prithvi"],
        description=_DESCRIPTION + " The paper's model is the 600M network.",
    )
)
SPECS["prithvi_300m"] = register(
    ModelSpec(
        name="prithvi_300m",
        display_name="Prithvi-EO-2.0 300M",
        short_name="Prithvi 300M",
        kind="foundation",
        variant_of="prithvi",
        recipes=RECIPES["prithvi_300m"],
        output_shapes={k: (2 * a.embed_dim, 1) for k, a in ARCH["prithvi_300m"].items()},
        loss_weight=2.0,
        checkpoint=CHECKPOINTS["prithvi_300m"],
        default_batch_size=4,
        builder=_builder("prithvi_300m"),
        architectures=ARCH["prithvi_300m"],
        description=_DESCRIPTION + " The 300M network, selectable beside the paper's 600M.",
    )
)
#: The paper's entry (kept under the name other modules import).
SPEC = SPECS["prithvi"]
