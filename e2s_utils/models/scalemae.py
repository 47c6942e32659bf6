"""Scale-MAE (torchgeo ``scalemae_large_patch16``): S1 and S2 as two three-channel passes.

Recipe (SPEC 6.2): each season separately; one pass with S1 as [VV, VH, VV] and one with S2 as
[B08, B04, B03] (false colour), +1000 and the v1.1 statistics, 264 -> 224 antialiased resize;
mean over all tokens (class token included) of ``forward_features`` (after the final norm),
per pass, concatenated ``[S1, S2]``.

* ``as_intended``: Scale-MAE ViT-L/16 (1024-d, 24 blocks) with its official weights and the
  ground sampling distance passed as ``res`` (the 10 m grid resized 264 -> 224: 11.79 m per
  pixel; Scale-MAE recomputes its position table from ``res`` every call) -> ``(2048, 4)``. The
  bare ``ScaleMAE()`` constructor is ViT-B; the checkpoint is ViT-L.
* ``as_published_code``: what the public code effectively ran: a randomly initialised bare
  ``ScaleMAE()`` (ViT-B/16, ``res`` its default 1.0; the ViT-L checkpoint was loaded
  non-strictly and nothing matched), fed L1C -> ``(1536, 4)``. No checkpoint is loaded.

Checkpoint: ``scalemae-vitlarge-800.pth`` is a training checkpoint; ``ckpt['model']`` holds the
encoder in timm names plus decoder keys. Decoder keys (``decoder*`` and the Laplacian heads
``fpn.*``, ``fcn_high.*``, ``fcn_low.*``), ``mask_token`` and ``projector.*`` are dropped; ``fc_norm`` / ``norm`` / ``head`` may be absent; everything else must match. The stored
``pos_embed`` is unused by Scale-MAE (recomputed from ``res``) and is replaced by the network's
own when its token count differs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from e2s_utils import bands as B
from e2s_utils.models.common import (
    FoundationExtractor,
    batch_to_seasons,
    load_state_dict_strict,
    seasons_to_batch,
    unwrap,
)
from e2s_utils.models.registry import (
    ArchConfig,
    BandGroup,
    CheckpointInfo,
    InputRecipe,
    ModelSpec,
    register,
)

CUBE_GSD_M: float = 10.0  # every band of the files sits on the 10 m grid


def gsd_after_resize(input_size: int) -> float:
    """Metres per pixel after resizing the 264 px, 10 m grid to ``input_size`` px."""
    return CUBE_GSD_M * B.CUBE_SIZE / input_size


ARCH: dict[tuple[str, str], ArchConfig] = {
    ("as_intended", "full"): ArchConfig(
        1024, 24, 16, 16, 224, "Scale-MAE ViT-L/16 (torchgeo scalemae_large_patch16)"
    ),
    ("as_published_code", "full"): ArchConfig(
        768, 12, 12, 16, 224, "random-init bare ScaleMAE() (ViT-B/16)"
    ),
}
for _p in ("as_intended", "as_published_code"):
    ARCH[(_p, "tiny")] = ArchConfig(192, 4, 3, 16, 224, "4-block ViT-Ti/16-width Scale-MAE")
    ARCH[(_p, "micro")] = ArchConfig(64, 2, 4, 16, 64, "2-block 64-d Scale-MAE, 64 px")

ALLOWED_MISSING = ("fc_norm.*", "norm.*", "head.*")
#: Beyond the common decoder / projector keys, the training checkpoint carries the Laplacian
#: pyramid decoder heads (``fpn.*``, ``fcn_high.*``, ``fcn_low.*``) and the checkpoint's
#: ``args`` / optimiser entries sit outside ``ckpt['model']``.
ALLOWED_UNEXPECTED = (
    "mask_token",
    "norm.*",
    "projector.*",
    "decoder*",
    "fpn.*",
    "fcn_high.*",
    "fcn_low.*",
)
S1_BANDS: tuple[str, ...] = ("VV", "VH", "VV")
S2_BANDS: tuple[str, ...] = ("B08", "B04", "B03")


def _recipe(modality: str, intended: bool) -> InputRecipe:
    return InputRecipe(
        groups=(
            BandGroup("s1", S1_BANDS, 0.0, "v1.1"),
            BandGroup(modality, S2_BANDS, B.S2_OFFSET_V11, "v1.1"),  # type: ignore[arg-type]
        ),
        passes="separate",
        input_size=224,
        resize="antialiased_bilinear",
        seasons="separately",
        pooling="mean over all tokens (class token included) of forward_features, per pass",
        network="Scale-MAE ViT-L/16, official weights"
        if intended
        else "randomly initialised bare ScaleMAE() (ViT-B/16; the checkpoint never loaded)",
        loads_checkpoint=intended,
        res=round(gsd_after_resize(224), 4) if intended else 1.0,
        notes="S2 L2A [B08, B04, B03]" if intended else "S2 L1C [B08, B04, B03]",
    )


RECIPES = {
    "as_intended": _recipe("s2l2a", intended=True),
    "as_published_code": _recipe("s2l1c", intended=False),
}


class ScaleMAEExtractor(FoundationExtractor):
    """Scale-MAE extractor: two passes (S1, S2) per season, mean of all tokens per pass."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        from torchgeo.models import scale_mae

        arch = ARCH[(preset, size)]
        self.input_size = arch.input_size
        intended = preset == "as_intended"
        res = gsd_after_resize(arch.input_size) if intended else 1.0
        if size == "full" and intended:
            self.net = scale_mae.scalemae_large_patch16(
                weights=None, num_classes=0, res=res, img_size=arch.input_size
            )
        elif size == "full":
            self.net = scale_mae.ScaleMAE(num_classes=0)  # the bare constructor: ViT-B/16
        else:
            self.net = scale_mae.ScaleMAE(
                res=res,
                img_size=arch.input_size,
                patch_size=arch.patch_size,
                embed_dim=arch.embed_dim,
                depth=arch.depth,
                num_heads=arch.num_heads,
                mlp_ratio=4,
                qkv_bias=True,
                norm_layer=partial(nn.LayerNorm, eps=1e-6),
                num_classes=0,
            )

    def encode(self, inputs: list[Tensor]) -> Tensor:
        batch = inputs[0].shape[0]
        parts = [self.net.forward_features(seasons_to_batch(x)).mean(dim=1) for x in inputs]
        return batch_to_seasons(torch.cat(parts, dim=-1), batch)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:
        state = unwrap(ckpt)
        own = self.net.pos_embed
        pos = state.get("pos_embed")
        if isinstance(pos, Tensor) and own is not None and pos.shape != own.shape:
            state["pos_embed"] = own.detach().clone()  # unused: recomputed from res
        load_state_dict_strict(
            self.net,
            state,
            source=source,
            allowed_missing=ALLOWED_MISSING,
            allowed_unexpected=ALLOWED_UNEXPECTED,
        )


def _build(*, preset: str, size: str, seed: int = 0) -> ScaleMAEExtractor:
    return ScaleMAEExtractor(SPEC, preset, size)


SPEC = register(
    ModelSpec(
        name="scalemae",
        display_name="Scale-MAE",
        kind="foundation",
        recipes=RECIPES,
        output_shapes={k: (2 * a.embed_dim, 4) for k, a in ARCH.items()},
        loss_weight=0.75,
        checkpoint=CheckpointInfo(
            filename="scalemae-vitlarge-800.pth",
            url="https://github.com/bair-climate-initiative/scale-mae/releases/download/"
            "base-800/scalemae-vitlarge-800.pth",
            source="Scale-MAE authors (https://github.com/bair-climate-initiative/scale-mae)",
            layout="training checkpoint: ckpt['model'] = encoder (timm names) + decoder keys",
            size_mb=1290,
        ),
        default_batch_size=8,
        builder=_build,
        architectures=ARCH,
        description="Scale-MAE: a ViT-L MAE with ground-sampling-distance-aware position "
        "encodings, pretrained on fMoW RGB.",
    )
)
