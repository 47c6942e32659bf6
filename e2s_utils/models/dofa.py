"""DOFA ViT-B/16 (torchgeo ``dofa_base_patch16_224``): S1 and S2 as two wavelength-conditioned passes.

Recipe (SPEC 6.2): each season separately; one pass with S1 (VV, VH) and one with S2, each with
its wavelengths in um (S1 tagged 5.405 as in the DOFA demo and the winning code; a later torchgeo
docstring says 3.75); +1000 and the SSL4EO-S12 v1.1 statistics; 264 -> 224 antialiased resize;
``forward_features`` (mean of the patch tokens + ``fc_norm``), 768 per pass, concatenated
``[S1, S2]`` -> ``(1536, 4)``. ``as_published_code`` feeds L1C (13 bands), ``as_intended`` L2A
(12 bands, B10 dropped from the wavelength list).

Patch-embedding variant (``InputRecipe.patch_embed_variant``, recorded in the store manifest).
DOFA generates its patch-embedding kernel from the band wavelengths: the weight generator's
``fc_weight`` returns one row of ``k * k * D`` values per band, ``(C_in, k*k*D)``. Two programs
turn that into a ``(D, C_in, k, k)`` convolution kernel, with the same parameter names:

* ``hub``: the DOFA authors' code (zhu-xlab/DOFA, ``wave_dynamic_layer.py``,
  ``Dynamic_MLP_OFA.forward``) reshapes the generated rows with
  ``weight.view(embed_dim, inplanes, k, k)`` and no permute, which mixes bands, kernel positions
  and output channels. The winning code loaded this network through ``torch.hub``
  (``hubconf.py`` entry ``vit_base_dofa``: ``dofa_v1.vit_base_patch16`` with
  ``load_state_dict(strict=False)``), with the checkpoint ``DOFA_ViT_base_e100.pth``
  (earthflow/DOFA on Hugging Face, the authors' first release).
* ``corrected``: torchgeo PR 2256 ("DOFA: fix bug in patch embedding", August-September 2024)
  reshapes with ``view(inplanes, k, k, embed_dim).permute(3, 0, 1, 2)``; torchgeo 0.8.1's
  ``DOFAEmbedding.forward`` has it. The maintainers wrote in that PR that the DOFA authors were
  retraining the model after the fix, then that the new weights were released and every metric
  improved. torchgeo's ``DOFABase16_Weights.DOFA_MAE`` pointed at
  ``dofa_base_patch16_224-7cc0f413.pth`` in an earlier release and points at
  ``dofa_base_patch16_224-a0275954.pth`` (hf.co/torchgeo/dofa, revision b8db318) in 0.8.1. The
  authors' later benchmark code (zhu-xlab/Copernicus-FM, Copernicus-Bench
  ``foundation_models/DOFA/wave_dynamic_layer.py``) carries the permute too.

Pairing: ``as_published_code`` = ``hub`` variant + ``DOFA_ViT_base_e100.pth`` (what the public
code ran, and the pair the e100 weights were trained as); ``as_intended`` = ``corrected`` variant
+ the retrained ``dofa_base_patch16_224-a0275954.pth`` (the corrected program with the weights
trained for it). Loading the e100 file into the corrected program would run a network that was
never trained. :func:`use_patch_embed_variant` switches the variant of a built network (its
parameters are untouched), so both can be compared on the same weights.

Other fidelity traps handled here:

* The network is built for its input size (224 at full size); a checkpoint whose ``pos_embed``
  holds another token count (the official files: 197 = 14 x 14 + 1) is interpolated bicubically
  (timm's ``resample_abs_pos_embed``) when the network is built for another size.
* A randomly initialised torchgeo DOFA has an all-zero ``pos_embed`` (the fixed 2-D sin-cos values
  live in the checkpoint), so a random-init DOFA would be blind to token position. The extractor
  fills it with the standard MAE 2-D sin-cos table (class token zero) at construction; a loaded
  checkpoint overwrites it with the official values.
* The official files hold no ``fc_norm`` (the MAE encoder has none): it keeps its initial
  identity affine, as in every upstream loader (torchgeo's ``dofa_base_patch16_224`` allows
  exactly ``fc_norm`` and ``head`` to be missing; the hub entry loads with ``strict=False``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
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
    PatchEmbedVariant,
    register,
)

S2_L2A = B.BANDS["s2l2a"]
S2_L1C = B.BANDS["s2l1c"]
S1_WAVELENGTHS_UM: tuple[float, float] = (B.S1_WAVELENGTH_UM_DOFA, B.S1_WAVELENGTH_UM_DOFA)

ARCH: dict[str, ArchConfig] = {
    "full": ArchConfig(
        768, 12, 12, 16, 224, "ViT-B/16 (torchgeo dofa_base_patch16_224)", params=111_312_128
    ),
    "tiny": ArchConfig(192, 4, 3, 16, 224, "4-block ViT-Ti/16-width DOFA", params=8_825_792),
    "micro": ArchConfig(64, 2, 4, 16, 64, "2-block 64-d DOFA for smoke tests", params=2_865_600),
}

#: Module keys the official files lack and that the network runs at their initial values, as
#: every upstream loader does (see the module docstring), whether or not the module is used.
ALLOWED_MISSING = ("fc_norm.*",)
#: Module keys the files may lack only when the network does not use them.
ALLOWED_MISSING_IF_UNUSED = ("norm.*", "head.*")
ALLOWED_UNEXPECTED = ("mask_token", "norm.*", "projector.*", "decoder*")

CHECKPOINT_HUB = CheckpointInfo(
    filename="DOFA_ViT_base_e100.pth",
    url="https://huggingface.co/earthflow/DOFA/resolve/main/DOFA_ViT_base_e100.pth",
    source="DOFA authors, torch.hub entry vit_base_dofa (https://github.com/zhu-xlab/DOFA)",
    layout="plain encoder state dict (timm names), pos_embed of 197 tokens; hub patch embedding",
    size_mb=445,
)
CHECKPOINT_CORRECTED = CheckpointInfo(
    filename="dofa_base_patch16_224-a0275954.pth",
    url="https://hf.co/torchgeo/dofa/resolve/b8db318b64a90b9e085ec04ba8851233c5893666/"
    "dofa_base_patch16_224-a0275954.pth",
    source="DOFA authors via torchgeo (DOFABase16_Weights.DOFA_MAE, retrained after PR 2256)",
    layout="plain encoder state dict (torchgeo names), pos_embed of 197 tokens",
    size_mb=445,
)


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


def _recipe(modality: str, variant: PatchEmbedVariant, network: str, notes: str) -> InputRecipe:
    return InputRecipe(
        groups=(_s1_group(), _s2_group(modality)),
        passes="separate",
        input_size=224,
        resize="antialiased_bilinear",
        seasons="separately",
        pooling="forward_features: mean of patch tokens + fc_norm, per pass; concat [S1, S2]",
        network=network,
        patch_embed_variant=variant,
        notes=notes,
    )


RECIPES = {
    "as_published_code": _recipe(
        "s2l1c",
        "hub",
        "DOFA ViT-B/16, hub patch embedding (no permute), DOFA_ViT_base_e100.pth",
        "S2 L1C (13 bands), as the public code ran it (torch.hub vit_base_dofa)",
    ),
    "as_intended": _recipe(
        "s2l2a",
        "corrected",
        "DOFA ViT-B/16, corrected patch embedding (torchgeo), weights retrained after the fix",
        "S2 L2A (12 bands, no B10), as the paper describes",
    ),
}


def generated_kernel(
    embedding: nn.Module, wavelengths: Tensor, variant: PatchEmbedVariant
) -> tuple[Tensor, Tensor]:
    """The ``(D, C_in, k, k)`` kernel and ``(D,)`` bias a DOFA patch embedding convolves with.

    Args:
        embedding: torchgeo's ``DOFAEmbedding`` (either variant; only its parameters are used).
        wavelengths: ``(C_in,)`` band wavelengths in um.
        variant: ``hub`` (``view(D, C_in, k, k)``) or ``corrected`` (``view(C_in, k, k, D)``
            then ``permute(3, 0, 1, 2)``).
    """
    from torchgeo.models.dofa import position_embedding

    k, dim, c_in = embedding.kernel_size, embedding.embed_dim, wavelengths.shape[0]
    waves = embedding.fclayer(position_embedding(embedding.dynamic_embed_dim, wavelengths * 1000))
    weight, bias = embedding.weight_generator(waves)  # (C_in, k*k*D), (D,)
    if variant == "hub":
        kernel = weight.view(dim, c_in, k, k)
    elif variant == "corrected":
        kernel = weight.view(c_in, k, k, dim).permute(3, 0, 1, 2)
    else:
        raise ValueError(f"patch_embed_variant must be 'hub' or 'corrected', not {variant!r}")
    return kernel * embedding.scaler, bias.view(dim) * embedding.scaler


def hub_embedding_forward(self: nn.Module, x: Tensor, wavelengths: Tensor) -> tuple[Tensor, Tensor]:
    """torchgeo's ``DOFAEmbedding.forward`` with the hub code's kernel reshape (no permute)."""
    from torchgeo.models.dofa import position_embedding

    kernel, bias = generated_kernel(self, wavelengths, "hub")
    out = F.conv2d(x, kernel, bias=bias, stride=self.kernel_size, padding=1, dilation=1)
    waves = self.fclayer(position_embedding(self.dynamic_embed_dim, wavelengths * 1000))
    return out.flatten(2).transpose(1, 2), waves


_HUB_CLASSES: dict[type, type] = {}


def use_patch_embed_variant(net: nn.Module, variant: PatchEmbedVariant) -> None:
    """Switch a torchgeo DOFA network's patch embedding to one variant, in place.

    The embedding module keeps its parameters and state-dict keys; for ``hub`` its class becomes
    a subclass of torchgeo's ``DOFAEmbedding`` whose ``forward`` reshapes as the hub code does.

    Raises:
        ValueError: for an unknown variant.
    """
    from torchgeo.models.dofa import DOFAEmbedding

    embedding = net.patch_embed
    if variant == "corrected":
        embedding.__class__ = DOFAEmbedding
    elif variant == "hub":
        if DOFAEmbedding not in _HUB_CLASSES:
            _HUB_CLASSES[DOFAEmbedding] = type(
                "HubDOFAEmbedding",
                (DOFAEmbedding,),
                {"forward": hub_embedding_forward, "__module__": __name__},
            )
        embedding.__class__ = _HUB_CLASSES[DOFAEmbedding]
    else:
        raise ValueError(f"patch_embed_variant must be 'hub' or 'corrected', not {variant!r}")


def patch_embed_variant_of(net: nn.Module) -> PatchEmbedVariant:
    """Which variant a DOFA network's patch embedding currently runs."""
    return "hub" if type(net.patch_embed) in _HUB_CLASSES.values() else "corrected"


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
        if recipe is None or recipe.patch_embed_variant is None:
            raise KeyError(f"{self.spec.name} ({self.preset}) has no recipe patch_embed_variant")
        use_patch_embed_variant(self.net, recipe.patch_embed_variant)
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
            allowed_missing_if_unused=ALLOWED_MISSING_IF_UNUSED,
            used_modules=self.used_modules,
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
        checkpoint=CHECKPOINT_CORRECTED,
        checkpoints={"as_published_code": CHECKPOINT_HUB},
        default_batch_size=16,
        builder=_build,
        architectures={(p, s): a for p in RECIPES for s, a in ARCH.items()},
        description="Dynamic One-For-All: a ViT whose patch embedding is generated from the "
        "band wavelengths, pretrained on optical, SAR and hyperspectral data.",
    )
)
