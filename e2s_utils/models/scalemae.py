"""Scale-MAE (torchgeo ``scalemae_large_patch16``): S1 and S2 as two three-channel passes.

Recipe (SPEC 6.2): each season separately; one pass with S1 as [VV, VH, VV] and one with S2 as
[B08, B04, B03] (false colour), +1000 and the v1.1 statistics, 264 -> 224 antialiased resize;
mean over all tokens (class token included) of ``forward_features`` (after the final norm),
per pass, concatenated ``[S1, S2]``.

* ``as_intended``: Scale-MAE ViT-L/16 (1024-d, 24 blocks) with its official weights -> ``(2048,
  4)``. The bare ``ScaleMAE()`` constructor is ViT-B; the checkpoint is ViT-L.
* ``as_published_code``: what the public code effectively ran: a randomly initialised bare
  ``ScaleMAE()`` (ViT-B/16; the ViT-L checkpoint was loaded non-strictly and nothing matched),
  fed L1C -> ``(1536, 4)``. No checkpoint is loaded.

The ``res`` input (``InputRecipe.res``, handed to the network unchanged at every size and
recorded with the recipe in the store manifest). Scale-MAE recomputes its 2-D sin-cos position
table every call from the patch grid multiplied by ``res``, so ``res`` moves every embedding (up
to 2.7 in z units between 1.0 and 11.8, SPEC 6.2; :func:`res_sensitivity` measures it).
What it means, in the upstream code (bair-climate-initiative/scale-mae, ``mae/``):

* pretraining: the collate functions of ``dataloaders/utils.py`` (``TransformCollateFn``) set
  ``res = ratios * base_resolution``, where ``ratios`` is the random crop's side relative to the
  source image (``lib/transforms.py`` returns ``dx / h``) and ``base_resolution`` is 2.5
  (``main_pretrain.py`` default and ``config/fmow.yaml``; the help text calls it "the base
  resolution to use for the period of the sin wave"). The true ground sampling distance of the
  fMoW images is never used: ``res`` is a relative scale, at most 2.5 for an uncropped image.
* evaluation: ``eval/knn.py`` (``kNN``) passes ``input_res = eval_base_resolution`` (default 1.0,
  "global multiplication factor of positional embedding resolution"), times ``224 / eval_scale``
  under ``--eval_gsd`` (on by default in ``scripts/eval_launcher.py``): an image fed at 224 px
  gets ``res`` 1.0 whatever its true GSD.
* torchgeo's ``ScaleMAE`` docstring calls ``res`` "spatial resolution of the image in meters"
  (default 1.0). Taken literally, our 10 m grid resized to 224 px would give 11.79, far outside
  anything the network saw in pretraining (at most 2.5); this project used 11.79 before.
* the published code left the default 1.0.

Pinned: ``res = 1.0`` in both presets. ``as_published_code`` because that is what ran;
``as_intended`` because it is the authors' own evaluation convention for a whole image fed at
224 px, which is exactly our case (the full 264 px tile resized to 224 px), and it lies inside
the pretraining range. Tiny and micro sizes hand the network the same value.

Checkpoint: ``scalemae-vitlarge-800.pth`` is a training checkpoint; ``ckpt['model']`` holds the
encoder in timm names plus decoder keys. Decoder keys (``decoder*`` and the Laplacian heads
``fpn.*``, ``fcn_high.*``, ``fcn_low.*``), ``mask_token`` and ``projector.*`` are dropped;
``fc_norm`` / ``norm`` / ``head`` may be absent only where the network does not run them (the
final ``norm`` makes the tokens, so it must be present); everything else must match. The stored
``pos_embed`` is unused by Scale-MAE (recomputed from ``res``) and is replaced by the network's
own when its token count differs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

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
    Extractor,
    InputRecipe,
    ModelSpec,
    build_extractor,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

CUBE_GSD_M: float = 10.0  # every band of the files sits on the 10 m grid

#: The pinned ``res`` per preset (see the module docstring for the evidence).
RES: dict[str, float] = {"as_intended": 1.0, "as_published_code": 1.0}


def gsd_after_resize(input_size: int) -> float:
    """Metres per pixel after resizing the 264 px, 10 m grid to ``input_size`` px.

    This is what torchgeo's docstring would make ``res`` (11.79 at 224 px); upstream Scale-MAE
    does not use it (see the module docstring). Kept as a candidate for :func:`res_sensitivity`.
    """
    return CUBE_GSD_M * B.CUBE_SIZE / input_size


#: Candidate values worth comparing: the upstream evaluation convention (1.0), the upstream
#: pretraining value of an uncropped image (2.5) and metres per pixel at 224 px (11.79).
RES_CANDIDATES: tuple[float, ...] = (1.0, 2.5, round(gsd_after_resize(224), 4))

ARCH: dict[tuple[str, str], ArchConfig] = {
    ("as_intended", "full"): ArchConfig(
        1024,
        24,
        16,
        16,
        224,
        "Scale-MAE ViT-L/16 (torchgeo scalemae_large_patch16)",
        params=303_301_632,
    ),
    ("as_published_code", "full"): ArchConfig(
        768, 12, 12, 16, 224, "random-init bare ScaleMAE() (ViT-B/16)", params=85_798_656
    ),
}
for _p in ("as_intended", "as_published_code"):
    ARCH[(_p, "tiny")] = ArchConfig(
        192, 4, 3, 16, 224, "4-block ViT-Ti/16-width Scale-MAE", params=1_965_504
    )
    ARCH[(_p, "micro")] = ArchConfig(
        64, 2, 4, 16, 64, "2-block 64-d Scale-MAE, 64 px", params=150_464
    )

#: Keys the file may lack only when their module does not run.
ALLOWED_MISSING_IF_UNUSED = ("fc_norm.*", "norm.*", "head.*")
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


def _recipe(modality: str, preset: str) -> InputRecipe:
    intended = preset == "as_intended"
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
        res=RES[preset],
        notes=("S2 L2A [B08, B04, B03]" if intended else "S2 L1C [B08, B04, B03]")
        + "; res 1.0 = upstream evaluation convention for a whole image at 224 px",
    )


RECIPES = {
    "as_intended": _recipe("s2l2a", "as_intended"),
    "as_published_code": _recipe("s2l1c", "as_published_code"),
}


class ScaleMAEExtractor(FoundationExtractor):
    """Scale-MAE extractor: two passes (S1, S2) per season, mean of all tokens per pass."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        from torchgeo.models import scale_mae

        arch = ARCH[(preset, size)]
        self.input_size = arch.input_size
        recipe = self.recipe
        if recipe is None or recipe.res is None:
            raise KeyError(f"{self.spec.name} ({self.preset}) has no recipe res")
        res = recipe.res
        if size == "full" and preset == "as_intended":
            self.net = scale_mae.scalemae_large_patch16(
                weights=None, num_classes=0, res=res, img_size=arch.input_size
            )
        elif size == "full":
            self.net = scale_mae.ScaleMAE(res=res, num_classes=0)  # the bare constructor: ViT-B
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

    @property
    def res(self) -> float:
        """The ``res`` the network receives (the recipe's unless changed by :meth:`using_res`)."""
        return float(self.net.res)

    @contextlib.contextmanager
    def using_res(self, res: float) -> Iterator[None]:
        """Run the network with another ``res`` inside the block (restored afterwards)."""
        previous = self.net.res
        self.net.res = float(res)
        try:
            yield
        finally:
            self.net.res = previous

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
            allowed_missing_if_unused=ALLOWED_MISSING_IF_UNUSED,
            used_modules=self.used_modules,
            allowed_unexpected=ALLOWED_UNEXPECTED,
        )


def res_sensitivity(
    extractor_or_spec: Extractor | ModelSpec | str,
    cubes: Mapping[str, Tensor] | Iterable[Mapping[str, Tensor]],
    candidates: Sequence[float] = RES_CANDIDATES,
    *,
    reference: float | None = None,
    preset: str = "as_intended",
    size: str = "micro",
    seed: int = 0,
) -> pd.DataFrame:
    """How much Scale-MAE's embeddings move when ``res`` changes, in z units of the reference.

    The reference embedding (``res = reference``) is standardised the way the benchmark
    standardises a submission: one global scalar mean and std over the whole matrix. Each
    candidate's embedding is compared with it on the same cubes; differences are divided by that
    std.

    Args:
        extractor_or_spec: a built Scale-MAE extractor, or its spec / registry name (then built
            with ``preset``, ``size`` and ``seed``).
        cubes: one raw cube batch ``{modality: (B, 4, C, 264, 264)}`` or an iterable of batches.
        candidates: ``res`` values to compare.
        reference: the reference ``res`` (default: the extractor's recipe value).
        preset: preset used when building from a spec or name.
        size: size used when building from a spec or name.
        seed: seed used when building from a spec or name.

    Returns:
        One row per candidate: ``res``, ``reference_res``, ``max_abs_z`` (largest change of any
        value), ``mean_abs_z``, ``rms_z``, ``mean_cosine`` (mean cosine similarity of a sample's
        flattened embedding with its reference), ``reference_std`` (the z unit).

    Raises:
        TypeError: if the extractor is not a Scale-MAE extractor.
    """
    import pandas as pd

    if isinstance(extractor_or_spec, (str, ModelSpec)):
        name = extractor_or_spec if isinstance(extractor_or_spec, str) else extractor_or_spec.name
        extractor: Any = build_extractor(name, preset, size, seed=seed)  # type: ignore[arg-type]
    else:
        extractor = extractor_or_spec
    if not isinstance(extractor, ScaleMAEExtractor):
        raise TypeError(f"res_sensitivity needs a Scale-MAE extractor, got {type(extractor)}")
    batches = [cubes] if isinstance(cubes, Mapping) else list(cubes)
    ref_res = extractor.res if reference is None else float(reference)

    def embed(res: float) -> Tensor:
        with extractor.using_res(res), torch.inference_mode():
            return torch.cat([extractor(dict(b)).flatten(1) for b in batches]).double()

    ref = embed(ref_res)
    std = ref.std().item()
    rows = []
    for res in candidates:
        emb = embed(float(res))
        z = (emb - ref) / std
        cosine = torch.nn.functional.cosine_similarity(emb, ref, dim=1)
        rows.append(
            {
                "res": float(res),
                "reference_res": ref_res,
                "max_abs_z": z.abs().max().item(),
                "mean_abs_z": z.abs().mean().item(),
                "rms_z": z.pow(2).mean().sqrt().item(),
                "mean_cosine": cosine.mean().item(),
                "reference_std": std,
            }
        )
    return pd.DataFrame(rows)


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
