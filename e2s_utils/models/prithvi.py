"""Prithvi-EO-2.0 (terratorch ``prithvi_eo_v2_300``): the four seasons as one six-band clip.

Recipe (SPEC 6.2): six S2 bands, the four seasons as one temporal clip ``(C=6, T=4)`` (built with
``num_frames=4``; terratorch's builder defaults to 1), 264 -> 256 antialiased resize; the last
block's output (after the final norm) over all tokens, mean concatenated with std ->
``(2 x D, 1)``.

* ``as_intended``: Prithvi-EO-2.0 300M (ViT-L/16, 1024-d) with its official weights, S2 L2A
  bands B02, B03, B04, B8A, B11, B12 normalised with Prithvi's own statistics (no offset) ->
  ``(2048, 1)``.
* ``as_published_code``: what the public code effectively ran: a randomly initialised ViT-B/16
  (768-d, 12 blocks; the 300M checkpoint was loaded non-strictly into a smaller default model and
  nothing matched), fed L1C bands off by one (B03, B04, B05, B8A, B11, B12), +1000 and the v1.1
  statistics -> ``(1536, 1)``. No checkpoint is loaded in this preset.

Importing terratorch silently lowers torch's float32 matmul precision for the whole process;
the import here restores it (see ``_backbone_registry``).

The network is built at 224 px (its pretraining size); the library interpolates the fixed
sin-cos position table to the 256 px input (16 x 16 patches) at run time.

Checkpoint: ``Prithvi_EO_V2_300M.pt`` holds the MAE (``encoder.`` / ``decoder.`` prefixes). The
loader strips ``encoder.``, drops ``decoder*`` and ``mask_token``, and loads the rest strictly.
The fixed sin-cos ``pos_embed`` buffer is replaced by the network's own when its token count
differs (as terratorch's filter does: it depends on ``num_frames``).
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

#: terratorch registry variant; other dimensions than the 300M's are passed as overrides.
VARIANT: str = "prithvi_eo_v2_300"
PRESETS: tuple[str, ...] = ("as_intended", "as_published_code")

ARCH: dict[tuple[str, str], ArchConfig] = {
    ("as_intended", "full"): ArchConfig(
        1024, 24, 16, 16, 224, "Prithvi-EO-2.0 300M (ViT-L/16), 4 frames, input 256 px"
    ),
    ("as_published_code", "full"): ArchConfig(
        768, 12, 12, 16, 224, "random-init ViT-B/16 Prithvi, 4 frames, input 256 px"
    ),
}
for _p in PRESETS:
    ARCH[(_p, "tiny")] = ArchConfig(192, 4, 3, 16, 224, "4-block ViT-Ti/16-width Prithvi, 4 frames")
    ARCH[(_p, "micro")] = ArchConfig(64, 2, 4, 16, 64, "2-block 64-d Prithvi, 4 frames, 64 px")

#: Pixels per side fed to the network (the position table is interpolated to it).
INPUT_SIZE: dict[str, int] = {"full": 256, "tiny": 256, "micro": 64}

RECIPES = {
    "as_intended": InputRecipe(
        groups=(BandGroup("s2l2a", B.PRITHVI_BANDS, 0.0, "prithvi"),),
        passes="joint",
        input_size=256,
        resize="antialiased_bilinear",
        seasons="clip",
        pooling="last block output (after the final norm) over all tokens: mean ++ std",
        network="Prithvi-EO-2.0 300M (ViT-L/16), official weights",
        notes="L2A B02, B03, B04, B8A, B11, B12 with Prithvi's own statistics, no offset",
    ),
    "as_published_code": InputRecipe(
        groups=(BandGroup("s2l1c", B.PRITHVI_BANDS_AS_PUBLISHED, B.S2_OFFSET_V11, "v1.1"),),
        passes="joint",
        input_size=256,
        resize="antialiased_bilinear",
        seasons="clip",
        pooling="last block output (after the final norm) over all tokens: mean ++ std",
        network="randomly initialised ViT-B/16 (the checkpoint never loaded)",
        loads_checkpoint=False,
        notes="L1C bands off by one (B03, B04, B05, B8A, B11, B12), +1000, v1.1 statistics",
    ),
}

ALLOWED_UNEXPECTED: tuple[str, ...] = ()


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


class PrithviExtractor(FoundationExtractor):
    """Prithvi extractor: one clip of four seasons per sample, mean ++ std of the tokens."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        registry = _backbone_registry()
        arch = ARCH[(preset, size)]
        self.input_size = INPUT_SIZE[size]
        kwargs: dict[str, Any] = {"pretrained": False, "num_frames": NUM_FRAMES}
        if (preset, size) != ("as_intended", "full"):
            kwargs |= {
                "embed_dim": arch.embed_dim,
                "depth": arch.depth,
                "num_heads": arch.num_heads,
                "img_size": arch.input_size,
            }
        self.net = registry.build(VARIANT, **kwargs)

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


def _build(*, preset: str, size: str, seed: int = 0) -> PrithviExtractor:
    return PrithviExtractor(SPEC, preset, size)


SPEC = register(
    ModelSpec(
        name="prithvi",
        display_name="Prithvi-EO-2.0",
        kind="foundation",
        recipes=RECIPES,
        output_shapes={k: (2 * a.embed_dim, 1) for k, a in ARCH.items()},
        loss_weight=2.0,
        checkpoint=CheckpointInfo(
            filename="Prithvi_EO_V2_300M.pt",
            url="https://huggingface.co/ibm-nasa-geospatial/Prithvi-EO-2.0-300M/resolve/main/"
            "Prithvi_EO_V2_300M.pt",
            source="IBM / NASA (https://huggingface.co/ibm-nasa-geospatial/Prithvi-EO-2.0-300M)",
            layout="MAE state dict: encoder.* and decoder.* keys, mask_token",
            size_mb=1300,
        ),
        default_batch_size=4,
        builder=_build,
        architectures=ARCH,
        description="Prithvi-EO-2.0: a temporal ViT (3-D patch embedding) pretrained as an MAE "
        "on HLS time series.",
    )
)
