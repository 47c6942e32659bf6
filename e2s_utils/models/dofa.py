"""DOFA ViT-B/16 (torchgeo ``dofa_base_patch16_224``): S1 and S2 as two wavelength-conditioned passes.

Recipe (SPEC 6.2): each season separately; one pass with S1 (VV, VH) and one with S2, each with
its wavelengths in um (S1 tagged 5.405 as in the DOFA demo and the winning code; a later torchgeo
docstring says 3.75); +1000 and the SSL4EO-S12 v1.1 statistics; 264 -> 224 antialiased resize;
``forward_features`` (mean of the patch tokens + ``fc_norm``), 768 per pass, concatenated
``[S1, S2]`` -> ``(1536, 4)``. ``as_published_code`` feeds L1C (13 bands), ``as_intended`` L2A
(12 bands, B10 dropped from the wavelength list).

Fidelity traps handled here:

* The network is built for its input size (224 at full size); a checkpoint whose ``pos_embed``
  holds another token count (the official file: 197 = 14 x 14 + 1) is interpolated bicubically
  (timm's ``resample_abs_pos_embed``) when the network is built for another size.
* A randomly initialised torchgeo DOFA has an all-zero ``pos_embed`` (the fixed 2-D sin-cos values
  live in the checkpoint), so a random-init DOFA would be blind to token position. The extractor
  fills it with the standard MAE 2-D sin-cos table (class token zero) at construction; a loaded
  checkpoint overwrites it with the official values.
* Two DOFA patch-embedding reshape variants share parameter names; torchgeo 0.8.1's
  (``weight.view(C_in, k, k, D).permute(3, 0, 1, 2)``) is the one used here. Which variant the
  e100 checkpoint pairs with is not pinned in this repository (it needs the file).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from e2s_utils import bands as B
from e2s_utils.models.common import (
    FoundationExtractor,
    batch_to_seasons,
    fill_sincos_pos_embed,
    load_state_dict_strict,
    resample_pos_embed,
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

S2_L2A = B.BANDS["s2l2a"]
S2_L1C = B.BANDS["s2l1c"]
S1_WAVELENGTHS_UM: tuple[float, float] = (B.S1_WAVELENGTH_UM_DOFA, B.S1_WAVELENGTH_UM_DOFA)

ARCH: dict[str, ArchConfig] = {
    "full": ArchConfig(768, 12, 12, 16, 224, "ViT-B/16 (torchgeo dofa_base_patch16_224)"),
    "tiny": ArchConfig(192, 4, 3, 16, 224, "4-block ViT-Ti/16-width DOFA"),
    "micro": ArchConfig(64, 2, 4, 16, 64, "2-block 64-d DOFA for smoke tests"),
}

#: Keys the official file may lack (built dynamically) / may carry beyond the encoder.
ALLOWED_MISSING = ("fc_norm.*", "norm.*", "head.*")
ALLOWED_UNEXPECTED = ("mask_token", "norm.*", "projector.*", "decoder*")


def _s1_group() -> BandGroup:
    return BandGroup("s1", B.BANDS["s1"], 0.0, "v1.1", wavelengths=S1_WAVELENGTHS_UM, unit="um")


def _s2_group(modality: str) -> BandGroup:
    names = S2_L1C if modality == "s2l1c" else S2_L2A
    return BandGroup(
        modality,  # type: ignore[arg-type]
        names,
        B.S2_OFFSET_V11,
        "v1.1",
        wavelengths=tuple(B.DOFA_S2_WAVELENGTH_UM[b] for b in names),
        unit="um",
    )


def _recipe(modality: str, notes: str) -> InputRecipe:
    return InputRecipe(
        groups=(_s1_group(), _s2_group(modality)),
        passes="separate",
        input_size=224,
        resize="antialiased_bilinear",
        seasons="separately",
        pooling="forward_features: mean of patch tokens + fc_norm, per pass; concat [S1, S2]",
        network="DOFA ViT-B/16, official weights",
        notes=notes,
    )


RECIPES = {
    "as_published_code": _recipe("s2l1c", "S2 L1C (13 bands), as the public code ran it"),
    "as_intended": _recipe("s2l2a", "S2 L2A (12 bands, no B10), as the paper describes"),
}


class DOFAExtractor(FoundationExtractor):
    """DOFA extractor: two passes (S1, S2) per season through one wavelength-conditioned ViT."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        from torchgeo.models import dofa

        arch = ARCH[size]
        self.input_size = arch.input_size
        kwargs: dict[str, Any] = {"weights": None, "num_classes": 0, "img_size": arch.input_size}
        if size == "full":
            self.net = dofa.dofa_base_patch16_224(**kwargs)
        else:
            kwargs.pop("weights")
            self.net = dofa.DOFA(
                patch_size=arch.patch_size,
                embed_dim=arch.embed_dim,
                depth=arch.depth,
                num_heads=arch.num_heads,
                **kwargs,
            )
        fill_sincos_pos_embed(self.net.pos_embed)
        recipe = self.recipe
        assert recipe is not None
        self.wavelengths: list[list[float]] = [list(g.wavelengths or ()) for g in recipe.groups]

    def encode(self, inputs: list[Tensor]) -> Tensor:
        batch = inputs[0].shape[0]
        parts = [
            self.net.forward_features(seasons_to_batch(x), wavelengths=wl)
            for x, wl in zip(inputs, self.wavelengths, strict=True)
        ]
        return batch_to_seasons(torch.cat(parts, dim=-1), batch)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:
        state = unwrap(ckpt)
        resample_pos_embed(state, self.net.pos_embed, source)
        load_state_dict_strict(
            self.net,
            state,
            source=source,
            allowed_missing=ALLOWED_MISSING,
            allowed_unexpected=ALLOWED_UNEXPECTED,
        )


def _build(*, preset: str, size: str, seed: int = 0) -> DOFAExtractor:
    return DOFAExtractor(SPEC, preset, size)


SPEC = register(
    ModelSpec(
        name="dofa",
        display_name="DOFA",
        kind="foundation",
        recipes=RECIPES,
        output_shapes={(p, s): (2 * a.embed_dim, 4) for p in RECIPES for s, a in ARCH.items()},
        loss_weight=1.0,
        checkpoint=CheckpointInfo(
            filename="DOFA_ViT_base_e100.pth",
            url="https://huggingface.co/earthflow/DOFA/resolve/main/DOFA_ViT_base_e100.pth",
            source="DOFA authors (https://github.com/zhu-xlab/DOFA)",
            layout="plain encoder state dict (timm names), pos_embed of 197 tokens",
            size_mb=445,
        ),
        default_batch_size=16,
        builder=_build,
        architectures={(p, s): a for p in RECIPES for s, a in ARCH.items()},
        description="Dynamic One-For-All: a ViT whose patch embedding is generated from the "
        "band wavelengths, pretrained on optical, SAR and hyperspectral data.",
    )
)
