"""Baselines beside the five foundation models (SPEC 6.3), in the same registry.

Four extractors, all cheap at every size and all taking raw cubes like the foundation models:

``engineered`` (:class:`EngineeredExtractor`, ``(128, 4)``)
    Hand-made per-season statistics (:data:`ENGINEERED_FEATURES` names every channel). Bands: S1
    VV, VH and the 12 S2 L2A bands, each z-scored with the raw downstream statistics (no offset).
    Per band and season: mean, std and the 5th, 25th, 50th, 75th, 95th percentiles over valid
    pixels (98 values; S2 pixels whose 12 bands are all 0 are no data and left out; statistics
    use every 2nd pixel in each direction, percentiles every 4th). Spectral indices on L2A
    reflectance, mean and std each: NDVI (B08, B04), NDWI (B03, B08), MNDWI (B03, B11), NDMI
    (B08, B11), NBR (B08, B12), NDRE (B8A, B05) (12 values). The S1 cross-pol ratio VH - VV in dB, mean and std (2),
    the valid S2 fraction (1) and the bright fraction (B02 > 2000, a cloud/snow proxy) (1). That
    makes 114 features; channels 114-127 are zero padding, reserved so that the dimension stays
    128.

``rcf`` (:class:`RCFExtractor`, ``(1024, 1)`` at ``full``; needs fitting)
    Random convolutional features as the 4th-place challenge entry used them: the 27 bands of the
    three modalities stacked per season (S1 VV, VH; S2 L1C B01-B12 with B10 and B8A, 13 bands;
    S2 L2A B01-B12 with B8A, 12 bands, in that order), each z-scored with the raw downstream
    statistics, through torchgeo's :class:`~torchgeo.models.RCF` with ``features=4096`` (2,048
    random 3 x 3 kernels, each giving the mean of its positive and of its negative part, bias
    -1), averaged over the four seasons, then PCA to 1,024 dimensions fitted on the data. The
    ``tiny`` and ``micro`` sizes keep the method and shrink it (input resized to 88 / 66 px,
    256 / 256 features, PCA to 128 / 32). When fewer samples than components are fitted, the
    extra components are zero (and a warning says so). torchgeo treats ``seed=0`` as "unseeded",
    so the kernels are drawn with ``seed + 1``.

``mean_baseline`` (:class:`MeanBaselineExtractor`, ``(256, 4)``)
    Our reconstruction of the organisers' mean baseline: the same 27 z-scored bands, an
    antialiased bilinear downsample to 8 x 8, and the mean over four groups of correlated
    channels (:data:`MEAN_BASELINE_GROUPS`): radar (S1 VV, VH), visible (L1C and L2A B01-B04),
    red edge and NIR (L1C and L2A B05-B09 with B8A), SWIR and cirrus (L1C B10-B12, L2A B11, B12).
    Per season 4 x 8 x 8 = 256 values (group-major, then rows, then columns); 4 seasons x 256 =
    1,024 floats per sample.

``random`` (:class:`RandomExtractor`, ``(1024, 1)``)
    N(0, 1) noise, seeded per id (the seed and the id hashed with sha256), so a sample's
    embedding is the same in every run and batch. It takes the batch's ids (``wants_ids``).

None of them loads a checkpoint; both presets run the same recipe (the baselines are not part
of the published code).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from e2s_utils import bands as B
from e2s_utils.models.common import group_stats, prepare_group, resize
from e2s_utils.models.registry import (
    PRESETS,
    SIZES,
    BandGroup,
    Extractor,
    InputRecipe,
    ModelSpec,
    register,
    shapes_for_all,
)

RCFMode = Literal["gaussian", "empirical"]

# ------------------------------------------------------------------------------ recipes
_S1 = BandGroup("s1", B.BANDS["s1"], offset=0.0, stats="downstream")
_L1C = BandGroup("s2l1c", B.BANDS["s2l1c"], offset=0.0, stats="downstream")
_L2A = BandGroup("s2l2a", B.BANDS["s2l2a"], offset=0.0, stats="downstream")
#: The 27 stacked bands of ``rcf`` and ``mean_baseline``: S1 (2), S2 L1C (13), S2 L2A (12).
STACK_GROUPS: tuple[BandGroup, ...] = (_S1, _L1C, _L2A)
STACK_BANDS: tuple[str, ...] = tuple(f"{g.modality}:{b}" for g in STACK_GROUPS for b in g.bands)

ENGINEERED_RECIPE = InputRecipe(
    groups=(_S1, _L2A),
    passes="joint",
    input_size=264,
    resize="none",
    seasons="separately",
    pooling="per-band statistics over valid pixels, spectral indices, fractions",
    network="none (hand-made features)",
    loads_checkpoint=False,
    notes="indices use L2A reflectance (DN / 10000); 114 features zero-padded to 128",
)


def _rcf_recipe(size: int) -> InputRecipe:
    return InputRecipe(
        groups=STACK_GROUPS,
        passes="joint",
        input_size=size,
        resize="none" if size == 264 else "antialiased_bilinear",
        seasons="separately",
        pooling="RCF channel means (positive and negative parts), mean over seasons, PCA",
        network="torchgeo RCF (random 3x3 kernels, bias -1) + PCA fitted on the data",
        loads_checkpoint=False,
        notes="size 'full'; tiny and micro resize to 88 / 66 px with fewer features",
    )


MEAN_BASELINE_RECIPE = InputRecipe(
    groups=STACK_GROUPS,
    passes="joint",
    input_size=8,
    resize="antialiased_bilinear",
    seasons="separately",
    pooling="mean over 4 groups of correlated channels at 8 x 8",
    network="none",
    loads_checkpoint=False,
)

RANDOM_RECIPE = InputRecipe(
    groups=(),
    passes="joint",
    input_size=0,
    resize="none",
    seasons="clip",
    pooling="none: N(0, 1) seeded per id",
    network="none",
    loads_checkpoint=False,
)

# ------------------------------------------------------------------------------ engineered
#: Percentiles of every band's valid pixels, per season.
PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
#: Normalised differences ``(a - b) / (a + b)`` on L2A reflectance.
INDICES: dict[str, tuple[str, str]] = {
    "NDVI": ("B08", "B04"),
    "NDWI": ("B03", "B08"),
    "MNDWI": ("B03", "B11"),
    "NDMI": ("B08", "B11"),
    "NBR": ("B08", "B12"),
    "NDRE": ("B8A", "B05"),
}
#: Statistics are taken on every ``STAT_STRIDE``-th pixel in each direction (132 x 132 of the
#: 264 x 264 grid; the 20 m bands hold 2 x 2 blocks, so nothing is lost for them), percentiles on
#: every ``PERCENTILE_STRIDE``-th pixel of that grid (66 x 66): a pass over every pixel would make
#: this baseline slower than a small ViT.
STAT_STRIDE: int = 2
PERCENTILE_STRIDE: int = 2
#: Blue-band digital number above which a pixel counts as bright (cloud / snow proxy).
BRIGHT_DN: float = 2000.0
ENGINEERED_DIM: int = 128
_ENG_BANDS: tuple[tuple[str, str], ...] = tuple(
    (g.modality, b) for g in (_S1, _L2A) for b in g.bands
)


def _engineered_names() -> tuple[str, ...]:
    names: list[str] = []
    stats = ("mean", "std") + tuple(f"p{int(p):02d}" for p in PERCENTILES)
    for modality, band in _ENG_BANDS:
        names += [f"{modality}:{band}:{s}" for s in stats]
    for index in INDICES:
        names += [f"{index}:mean", f"{index}:std"]
    names += ["s1:VH-VV:mean", "s1:VH-VV:std", "s2:valid_fraction", "s2:bright_fraction"]
    names += [f"pad_{k}" for k in range(ENGINEERED_DIM - len(names))]
    return tuple(names)


#: Name of every channel of the ``engineered`` embedding, in order (padding named ``pad_k``).
ENGINEERED_FEATURES: tuple[str, ...] = _engineered_names()
N_ENGINEERED_FEATURES: int = sum(not n.startswith("pad_") for n in ENGINEERED_FEATURES)


def _masked_mean_std(x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population std over the last dim, weighting values by ``w`` (1 valid, 0 not)."""
    n = w.sum(-1).clamp_min(1.0)
    mean = (x * w).sum(-1) / n
    var = (((x - mean.unsqueeze(-1)) * w) ** 2).sum(-1) / n
    return mean, var.sqrt()


class EngineeredExtractor(Extractor):
    """Per-band, per-season statistics and indices (see the module docstring), ``(128, 4)``."""

    def forward(self, cubes: dict[str, Tensor]) -> Tensor:
        """Raw cubes -> ``(B, 128, 4)`` hand-made features."""
        grid = {m: cubes[m][..., ::STAT_STRIDE, ::STAT_STRIDE] for m in ("s1", "s2l2a")}
        side = grid["s2l2a"].shape[-1]
        s1 = prepare_group(grid, _S1, side).flatten(-2)  # (B, 4, 2, P) z-scored
        s2 = prepare_group(grid, _L2A, side).flatten(-2)  # (B, 4, 12, P) z-scored
        raw = grid["s2l2a"].float().flatten(-2)  # (B, 4, 12, P) digital numbers
        valid = (raw != 0).any(dim=2, keepdim=True)  # (B, 4, 1, P): S2 no data is all zeros
        w = valid.to(s2.dtype)
        s1_mean, s1_std = s1.mean(-1), s1.std(-1, correction=0)
        s2_mean, s2_std = _masked_mean_std(s2, w)
        stats = [torch.cat([s1_mean, s2_mean], -1), torch.cat([s1_std, s2_std], -1)]
        # percentiles on a regular sub-grid (nanquantile sorts; NaN marks S2 no data)
        sub = torch.cat([s1, s2.masked_fill(~valid, float("nan"))], dim=2)
        sub = sub.unflatten(-1, (-1, side))[..., ::PERCENTILE_STRIDE, ::PERCENTILE_STRIDE]
        q = torch.tensor([p / 100 for p in PERCENTILES], dtype=sub.dtype, device=sub.device)
        # one sample at a time keeps torch.nanquantile under its input-size limit
        quant = torch.stack([torch.nanquantile(g.flatten(-2), q, dim=-1) for g in sub])
        stats += list(quant.permute(1, 0, 2, 3))  # 5 x (B, 4, 14)
        feats = [torch.stack(stats, dim=-1).flatten(-2)]  # (B, 4, 14 * 7), band-major

        refl = raw / 10000.0
        idx = B.band_indices("s2l2a", [b for pair in INDICES.values() for b in pair])
        w1 = w[:, :, 0]
        for k in range(len(INDICES)):
            a, b = refl[:, :, idx[2 * k]], refl[:, :, idx[2 * k + 1]]
            nd = ((a - b) / (a + b).clamp_min(1e-6)).clamp(-1.0, 1.0)
            mean, std = _masked_mean_std(nd, w1)
            feats += [mean.unsqueeze(-1), std.unsqueeze(-1)]
        s1_raw = grid["s1"].float().flatten(-2)
        ratio = s1_raw[:, :, 1] - s1_raw[:, :, 0]
        feats += [ratio.mean(-1, keepdim=True), ratio.std(-1, correction=0).unsqueeze(-1)]
        blue = raw[:, :, B.band_indices("s2l2a", ["B02"])[0]]
        feats += [w1.mean(-1, keepdim=True), (blue > BRIGHT_DN).to(w1).mean(-1, keepdim=True)]
        z = torch.cat(feats, dim=-1)  # (B, 4, 114)
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        z = F.pad(z, (0, ENGINEERED_DIM - z.shape[-1]))
        return z.transpose(1, 2).contiguous().float()


# ------------------------------------------------------------------------------ RCF + PCA
#: Per size: (input pixels per side, RCF features, PCA components).
RCF_SIZES: dict[str, tuple[int, int, int]] = {
    "full": (264, 4096, 1024),
    "tiny": (88, 256, 128),
    "micro": (66, 256, 32),
}


def resize_then_normalise(cubes: Mapping[str, Tensor], group: BandGroup, size: int) -> Tensor:
    """Select a group's bands, resize (antialiased bilinear), then shift and z-score.

    The per-band affine normalisation commutes with the resize (its weights sum to one), so this
    equals :func:`~e2s_utils.models.common.prepare_group` up to float rounding while touching
    only ``size`` x ``size`` pixels per band after the resize.
    """
    if group.modality not in cubes:
        raise KeyError(
            f"this baseline reads modality {group.modality!r} but the batch holds {sorted(cubes)}"
        )
    x = cubes[group.modality][:, :, B.band_indices(group.modality, group.bands)].float()
    x = resize(x, size)
    stats = group_stats(group)
    if group.offset:
        x = x + group.offset
    if stats is not None:
        mean = torch.tensor(stats[0], dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
        std = torch.tensor(stats[1], dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
        x = (x - mean) / std
    return x


#: Upper bound on the values of one RCF convolution output (2**27 floats = 512 MB).
RCF_CHUNK_ELEMENTS: int = 2**27


def stack_bands(cubes: Mapping[str, Tensor], size: int) -> Tensor:
    """The 27 z-scored bands of :data:`STACK_GROUPS`, ``(B, 4, 27, size, size)``."""
    return torch.cat([resize_then_normalise(cubes, g, size) for g in STACK_GROUPS], dim=2)


class _ImageList:
    """A minimal ``dataset[i]["image"]`` view that torchgeo's empirical RCF samples patches from."""

    def __init__(self, images: Sequence[Tensor]) -> None:
        self.images = list(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {"image": self.images[int(i)].numpy()}


class RCFExtractor(Extractor):
    """Random convolutional features of the 27 stacked bands, season mean, PCA (``needs_fit``).

    Args:
        spec: the registry entry.
        preset: the preset (both run the same recipe).
        size: ``micro`` / ``tiny`` / ``full`` (see :data:`RCF_SIZES`).
        seed: seed of the random kernels (torchgeo's RCF gets ``seed + 1``).
        mode: ``gaussian`` kernels (torchgeo's default) or ``empirical`` (ZCA-whitened patches
            sampled from the first fitting images, as in MOSAIKS).
        empirical_images: season images buffered for ``empirical`` kernel sampling.
    """

    def __init__(
        self,
        spec: ModelSpec,
        preset: str,
        size: str,
        seed: int = 0,
        mode: RCFMode = "gaussian",
        empirical_images: int = 32,
    ) -> None:
        from torchgeo.models import RCF

        super().__init__(spec, preset, size)
        self.input_size, self.features, self.components = RCF_SIZES[size]
        self.mode = mode
        self.seed = seed
        self.empirical_images = empirical_images
        self.rcf = RCF(
            in_channels=len(STACK_BANDS),
            features=self.features,
            kernel_size=3,
            bias=-1.0,
            seed=seed + 1,
            mode="gaussian",
        )
        self.register_buffer("pca_mean", torch.zeros(self.features))
        self.register_buffer("pca_components", torch.zeros(self.components, self.features))
        self.register_buffer("n_fit", torch.zeros((), dtype=torch.long))

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or a loaded fitted state) set the PCA."""
        return bool(self.n_fit.item() > 0)

    def features_of(self, cubes: Mapping[str, Tensor]) -> Tensor:
        """Season-mean RCF features ``(B, features)`` before the PCA.

        Season images go through the convolution in chunks whose output stays under
        :data:`RCF_CHUNK_ELEMENTS` values (at ``full`` size one image's output alone holds
        2,048 x 262 x 262 floats, 560 MB).
        """
        x = stack_bands(cubes, self.input_size)
        b, t = x.shape[:2]
        images = x.reshape(b * t, *x.shape[2:])
        per_image = (self.features // 2) * (self.input_size - 2) ** 2
        chunk = max(1, RCF_CHUNK_ELEMENTS // per_image)
        z = torch.cat([self.rcf(images[k : k + chunk]) for k in range(0, b * t, chunk)])
        return z.reshape(b, t, -1).mean(dim=1)

    def _set_empirical_kernels(self, images: list[Tensor]) -> None:
        from torchgeo.models import RCF

        rcf = RCF(
            in_channels=len(STACK_BANDS),
            features=self.features,
            kernel_size=3,
            bias=-1.0,
            seed=self.seed + 1,
            mode="empirical",
            dataset=_ImageList(images),
        )
        self.rcf.weights.copy_(rcf.weights.to(self.rcf.weights.device))

    def fit(self, batches: Iterable[dict[str, Tensor]]) -> None:
        """Fit the PCA (and, in ``empirical`` mode, draw the kernels) on a stream of cube batches.

        Args:
            batches: raw cube batches, as :meth:`forward` takes them.

        Raises:
            ValueError: if the stream holds no samples.
        """
        feats: list[Tensor] = []
        pending: list[dict[str, Tensor]] = []
        images: list[Tensor] = []
        for batch in batches:
            cubes = {k: v for k, v in batch.items() if isinstance(v, Tensor)}
            if self.mode == "empirical" and len(images) < self.empirical_images:
                x = stack_bands(cubes, self.input_size)
                images += [img.cpu() for img in x.flatten(0, 1)]
                pending.append(cubes)
                continue
            if pending:
                self._set_empirical_kernels(images[: self.empirical_images])
                feats += [self.features_of(c).double().cpu() for c in pending]
                pending = []
            feats.append(self.features_of(cubes).double().cpu())
        if pending:
            self._set_empirical_kernels(images[: self.empirical_images])
            feats += [self.features_of(c).double().cpu() for c in pending]
        if not feats:
            raise ValueError("RCF baseline: no samples to fit the PCA on")
        x = torch.cat(feats)
        mean = x.mean(dim=0)
        _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
        k = min(self.components, vh.shape[0])
        comps = vh[:k]
        # deterministic signs: the largest-magnitude loading of each component is positive
        pivot = comps.abs().argmax(dim=1)
        signs = torch.sign(comps[torch.arange(k), pivot])
        comps = comps * signs[:, None]
        if k < self.components:
            warnings.warn(
                f"RCF baseline fitted on {x.shape[0]} samples: only {k} of {self.components} "
                "PCA components exist; the rest are zero",
                stacklevel=2,
            )
        self.pca_mean.copy_(mean.to(self.pca_mean))
        self.pca_components.zero_()
        self.pca_components[:k].copy_(comps.to(self.pca_components))
        self.n_fit.fill_(x.shape[0])

    def forward(self, cubes: dict[str, Tensor]) -> Tensor:
        """Raw cubes -> ``(B, components, 1)``.

        Raises:
            RuntimeError: if the PCA was not fitted (call :meth:`fit` or load a fitted state).
        """
        if not self.fitted:
            raise RuntimeError(
                "the rcf baseline must be fitted before use: call fit(batches) or load its "
                "fitted state (extract() does both)"
            )
        z = self.features_of(cubes)
        y = (z - self.pca_mean) @ self.pca_components.T
        return y.unsqueeze(-1).float()


# ------------------------------------------------------------------------------ mean baseline
#: The organisers' mean baseline: channel groups averaged (indices into :data:`STACK_BANDS`).
MEAN_BASELINE_GROUPS: dict[str, tuple[str, ...]] = {
    "radar": ("s1:VV", "s1:VH"),
    "visible": tuple(f"{m}:{b}" for m in ("s2l1c", "s2l2a") for b in ("B01", "B02", "B03", "B04")),
    "red_edge_nir": tuple(
        f"{m}:{b}" for m in ("s2l1c", "s2l2a") for b in ("B05", "B06", "B07", "B08", "B8A", "B09")
    ),
    "swir_cirrus": ("s2l1c:B10", "s2l1c:B11", "s2l1c:B12", "s2l2a:B11", "s2l2a:B12"),
}
MEAN_BASELINE_GRID: int = 8


class MeanBaselineExtractor(Extractor):
    """27 z-scored bands -> 8 x 8 antialiased bilinear -> 4 channel-group means, ``(256, 4)``."""

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__(spec, preset, size)
        groups = torch.zeros(len(MEAN_BASELINE_GROUPS), len(STACK_BANDS))
        for g, names in enumerate(MEAN_BASELINE_GROUPS.values()):
            for name in names:
                groups[g, STACK_BANDS.index(name)] = 1.0 / len(names)
        self.register_buffer("group_weights", groups, persistent=False)

    def forward(self, cubes: dict[str, Tensor]) -> Tensor:
        """Raw cubes -> ``(B, 4 * 8 * 8, 4)``."""
        x = stack_bands(cubes, MEAN_BASELINE_GRID)  # (B, 4, 27, 8, 8)
        z = torch.einsum("gc,btchw->btghw", self.group_weights.to(x), x)
        return z.flatten(2).transpose(1, 2).contiguous().float()


# ------------------------------------------------------------------------------ random
RANDOM_DIM: int = 1024


def id_seed(sample: str, seed: int) -> int:
    """A 64-bit seed from ``seed`` and an id (sha256 of ``"<seed>/<id>"``)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{sample}".encode()).digest()[:8], "big")


class RandomExtractor(Extractor):
    """N(0, 1) embeddings seeded per id, ``(1024, 1)``; needs the batch's ids (``wants_ids``)."""

    wants_ids: bool = True

    def __init__(self, spec: ModelSpec, preset: str, size: str, seed: int = 0) -> None:
        super().__init__(spec, preset, size)
        self.seed = seed

    def forward(self, cubes: dict[str, Tensor], ids: Sequence[str] | None = None) -> Tensor:
        """Ids -> ``(len(ids), 1024, 1)`` (the cubes are not read).

        Raises:
            ValueError: without ids.
        """
        if ids is None:
            raise ValueError(
                "the random baseline needs the batch's ids: call it as f(cubes, ids=ids)"
            )
        rows = [
            np.random.default_rng(id_seed(i, self.seed)).standard_normal(RANDOM_DIM) for i in ids
        ]
        device = next((v.device for v in cubes.values() if isinstance(v, Tensor)), "cpu")
        out = (
            torch.from_numpy(np.stack(rows).astype(np.float32))
            if rows
            else torch.zeros(0, RANDOM_DIM)
        )
        return out.unsqueeze(-1).to(device)


# ------------------------------------------------------------------------------ registry
def _build_engineered(preset: str, size: str, seed: int = 0) -> Extractor:
    return EngineeredExtractor(ENGINEERED_SPEC, preset, size)


def _build_rcf(preset: str, size: str, seed: int = 0) -> Extractor:
    return RCFExtractor(RCF_SPEC, preset, size, seed=seed)


def _build_mean(preset: str, size: str, seed: int = 0) -> Extractor:
    return MeanBaselineExtractor(MEAN_BASELINE_SPEC, preset, size)


def _build_random(preset: str, size: str, seed: int = 0) -> Extractor:
    return RandomExtractor(RANDOM_SPEC, preset, size, seed=seed)


def _both(recipe: InputRecipe) -> dict[str, InputRecipe]:
    return {p: recipe for p in PRESETS}


ENGINEERED_SPEC: ModelSpec = register(
    ModelSpec(
        name="engineered",
        display_name="Engineered features",
        kind="baseline",
        recipes=_both(ENGINEERED_RECIPE),
        output_shapes=shapes_for_all((ENGINEERED_DIM, B.N_SEASONS)),
        loss_weight=1.0,
        checkpoint=None,
        default_batch_size=8,
        builder=_build_engineered,
        description="Per-band, per-season statistics, spectral indices and fractions.",
    )
)

RCF_SPEC: ModelSpec = register(
    ModelSpec(
        name="rcf",
        display_name="Random conv. features + PCA",
        short_name="RCF + PCA",
        kind="baseline",
        recipes={p: _rcf_recipe(RCF_SIZES["full"][0]) for p in PRESETS},
        output_shapes={(p, s): (RCF_SIZES[s][2], 1) for p in PRESETS for s in SIZES},
        loss_weight=1.0,
        checkpoint=None,
        default_batch_size=8,
        builder=_build_rcf,
        needs_fit=True,
        description=(
            "Random convolutional features (MOSAIKS, torchgeo RCF) of the 27 stacked bands, mean "
            "over seasons, PCA fitted on the data (the 4th-place challenge entry)."
        ),
    )
)

MEAN_BASELINE_SPEC: ModelSpec = register(
    ModelSpec(
        name="mean_baseline",
        display_name="Mean baseline",
        kind="baseline",
        recipes=_both(MEAN_BASELINE_RECIPE),
        output_shapes=shapes_for_all(
            (len(MEAN_BASELINE_GROUPS) * MEAN_BASELINE_GRID**2, B.N_SEASONS)
        ),
        loss_weight=1.0,
        checkpoint=None,
        default_batch_size=16,
        builder=_build_mean,
        description="The organisers' baseline: 8 x 8 downsample, 4 channel-group means per season.",
    )
)

RANDOM_SPEC: ModelSpec = register(
    ModelSpec(
        name="random",
        display_name="Random embeddings",
        short_name="Random",
        kind="baseline",
        recipes=_both(RANDOM_RECIPE),
        output_shapes=shapes_for_all((RANDOM_DIM, 1)),
        loss_weight=1.0,
        checkpoint=None,
        default_batch_size=64,
        builder=_build_random,
        description="N(0, 1) embeddings seeded per id (the challenge's random control).",
    )
)
