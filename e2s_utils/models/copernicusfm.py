"""Copernicus-FM ViT-B/16 (torchgeo ``copernicusfm_base``): S1 + S2 in one spectral pass per season.

Recipe (SPEC 6.2): S1 VV, VH and the S2 bands stacked into one image, each with its central
wavelength and bandwidth in nm (S1: 5e7 nm, bandwidth 100, Copernicus-FM's convention for C-band
SAR); metadata (lon, lat, time, area) all NaN, so the learned "unknown" tokens are used; +1000
and the v1.1 statistics; 264 -> 224 antialiased resize; the class token after the final norm
(``global_pool`` off), 768 per season -> ``(768, 4)``. ``as_published_code`` feeds all 13 L1C
bands, ``as_intended`` the 12 L2A bands.

Fidelity traps handled here:

* torchgeo's Copernicus-FM defaults to LayerNorm eps 1e-5; the official model uses 1e-6, so the
  network is built with ``norm_layer=partial(nn.LayerNorm, eps=1e-6)``.
* Like DOFA, the random-init ``pos_embed`` is all zero; it is filled with the MAE 2-D sin-cos
  table (a checkpoint overwrites it).
* With ``global_pool`` off the final ``norm`` produces the embedding (the class token after it),
  so a checkpoint must carry ``norm.*``: a file without it (torchgeo's re-hosted copy is built for
  ``global_pool`` on and holds neither ``norm`` nor ``fc_norm``) would leave the norm at its
  initial identity affine and silently change every embedding. ``fc_norm.*``, ``norm.*`` and
  ``head.*`` may be missing only when the network does not run that module (checked by tracing a
  forward pass; see ``common.called_modules``); a missing ``norm.*`` here fails with the key list.
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

LAYERNORM_EPS: float = 1e-6

ARCH: dict[str, ArchConfig] = {
    "full": ArchConfig(
        768, 12, 12, 16, 224, "ViT-B/16 (torchgeo copernicusfm_base)", params=139_452_544
    ),
    "tiny": ArchConfig(
        192, 4, 3, 16, 224, "4-block ViT-Ti/16-width Copernicus-FM", params=16_207_744
    ),
    "micro": ArchConfig(
        64, 2, 4, 16, 64, "2-block 64-d Copernicus-FM for smoke tests", params=5_904_896
    ),
}

#: Keys the file may lack only when their module does not run (see the module docstring).
ALLOWED_MISSING_IF_UNUSED = ("fc_norm.*", "norm.*", "head.*")
ALLOWED_UNEXPECTED = ("mask_token", "norm.*", "projector.*", "decoder*")


def _recipe(modality: str, notes: str) -> InputRecipe:
    names = B.BANDS[modality]  # type: ignore[index]
    s1 = BandGroup(
        "s1",
        B.BANDS["s1"],
        0.0,
        "v1.1",
        wavelengths=(B.S1_WAVELENGTH_NM_COPERNICUSFM,) * 2,
        bandwidths=(B.S1_BANDWIDTH_NM_COPERNICUSFM,) * 2,
        unit="nm",
    )
    s2 = BandGroup(
        modality,  # type: ignore[arg-type]
        names,
        B.S2_OFFSET_V11,
        "v1.1",
        wavelengths=tuple(float(B.S2_WAVELENGTH_NM[b]) for b in names),
        bandwidths=tuple(float(B.S2_BANDWIDTH_NM[b]) for b in names),
        unit="nm",
    )
    return InputRecipe(
        groups=(s1, s2),
        passes="joint",
        input_size=224,
        resize="antialiased_bilinear",
        seasons="separately",
        pooling="class token after the final norm (global_pool off)",
        network="Copernicus-FM ViT-B/16, official weights; metadata unknown (NaN)",
        notes=notes,
    )


RECIPES = {
    "as_published_code": _recipe("s2l1c", "S1 + all 13 L1C bands in one pass"),
    "as_intended": _recipe("s2l2a", "S1 + the 12 L2A bands in one pass"),
}


class CopernicusFMExtractor(FoundationExtractor):
    """Copernicus-FM extractor: one spectral pass (S1 + S2 stacked) per season."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        from torchgeo.models import copernicusfm

        arch = ARCH[size]
        self.input_size = arch.input_size
        kwargs: dict[str, Any] = {
            "img_size": arch.input_size,
            "num_classes": 0,
            "global_pool": False,
            "norm_layer": partial(nn.LayerNorm, eps=LAYERNORM_EPS),
        }
        if size == "full":
            self.net = copernicusfm.copernicusfm_base(weights=None, **kwargs)
        else:
            self.net = copernicusfm.CopernicusFM(
                patch_size=arch.patch_size,
                embed_dim=arch.embed_dim,
                depth=arch.depth,
                num_heads=arch.num_heads,
                **kwargs,
            )
        fill_sincos_pos_embed(self.net.pos_embed)
        recipe = self.recipe
        if recipe is None:
            raise KeyError(f"{self.spec.name} has no recipe for preset {self.preset!r}")
        self.wavelengths = [w for g in recipe.groups for w in (g.wavelengths or ())]
        self.bandwidths = [w for g in recipe.groups for w in (g.bandwidths or ())]

    def encode(self, inputs: list[Tensor]) -> Tensor:
        batch = inputs[0].shape[0]
        x = seasons_to_batch(torch.cat(inputs, dim=2))
        metadata = torch.full((x.shape[0], 4), float("nan"), device=x.device, dtype=x.dtype)
        z = self.net.forward_features(
            x,
            metadata,
            wavelengths=self.wavelengths,
            bandwidths=self.bandwidths,
            input_mode="spectral",
        )
        return batch_to_seasons(z, batch)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:
        state = unwrap(ckpt)
        resample_pos_embed(state, self.net.pos_embed, source)
        load_state_dict_strict(
            self.net,
            state,
            source=source,
            allowed_missing_if_unused=ALLOWED_MISSING_IF_UNUSED,
            used_modules=self.used_modules,
            allowed_unexpected=ALLOWED_UNEXPECTED,
        )


def _build(*, preset: str, size: str, seed: int = 0) -> CopernicusFMExtractor:
    return CopernicusFMExtractor(SPEC, preset, size)


SPEC = register(
    ModelSpec(
        name="copernicusfm",
        display_name="Copernicus-FM",
        kind="foundation",
        recipes=RECIPES,
        output_shapes={(p, s): (a.embed_dim, 4) for p in RECIPES for s, a in ARCH.items()},
        loss_weight=1.0,
        checkpoint=CheckpointInfo(
            filename="CopernicusFM_ViT_base_varlang_e100.pth",
            url="https://huggingface.co/wangyi111/Copernicus-FM/resolve/main/"
            "CopernicusFM_ViT_base_varlang_e100.pth",
            source="Copernicus-FM authors (https://github.com/zhu-xlab/Copernicus-FM)",
            layout="encoder state dict in torchgeo names, possibly wrapped in {'model': ...}",
            size_mb=560,
        ),
        default_batch_size=16,
        builder=_build,
        architectures={(p, s): a for p in RECIPES for s, a in ARCH.items()},
        description="Copernicus-FM: a ViT with a spectral hypernetwork patch embedding and "
        "metadata (location, time, area) tokens, pretrained on Copernicus-Pretrain.",
    )
)
