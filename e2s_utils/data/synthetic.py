"""Synthetic SSL4EO-S12-downstream: a latent scene model written in the dataset's exact format.

Cubes come from a latent scene per sample, not from noise:

* **land cover**: a scene type (forest, European farmland, US corn belt, grassland, city, arid,
  coastal, mountain) sets Dirichlet class proportions over nine classes (forest, cropland,
  soybean, corn, grassland, urban, water, bare soil, snow); smooth random fields turn them into
  regions, and farmland is cut into rectangular parcels, each sown with one crop;
* **spectra** (L2A surface reflectance x 10000) per class blend a dormant and a green end member
  through a per-class **phenology** over spring, summer, fall, winter (winter wheat greens in
  spring, soybean and corn in summer, corn senesces earlier), modulated per pixel by a vegetation
  vigour field; the spectra respect SPEC 1.6: red edge B05 < B06 < B07 ~ B08 ~ B8A, SWIR
  B11 > B12, snow bright in the visible and dark in the SWIR, L2A B09 close to B8A;
* **L1C** = top of atmosphere: L2A plus path radiance (brighter in coastal and blue), water
  vapour absorption in B09 and a cirrus band B10 near 20 (bright only under clouds);
* 20 m and 60 m bands are block-averaged and repeated onto the 10 m grid (blocky as in the files);
* **clouds** (soft-edged, bright, flat spectra) and their displaced **shadows** per season,
  seasonal **snow** cover, **no data** (DN 0: swath-edge stripes, missing seasons);
* **Sentinel-1** VV/VH in dB from class backscatter (water -20 to -25 dB, urban above 0 dB,
  vegetation volume scattering growing with biomass), VH 7-8 dB below VV, little seasonal change,
  multiplicative Gamma speckle in linear power (ENL 4.5).

Labels of all eleven tasks are smooth functions of spatially aggregated latents (class
fractions, forest biomass, crop types, clouds, surface temperature, no data) plus modest noise,
each on its own subset of ids like the real ones; ``nodata`` covers every sample, and
``clouds_reg``, ``random_reg`` and ``random_cls`` share their ids. Everything is deterministic
per seed (each sample has its own generator seeded by ``(seed, index)``, so the worker count
does not matter).

Command line: ``e2s synth --root DIR --n N --seed S [--layout current|challenge]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from e2s_utils.bands import BANDS, CUBE_SIZE, N_SEASONS
from e2s_utils.data.reader import SPLIT_FOLDERS, SUFFIX, DataError, is_dev_id, write_cube

Layout = Literal["current", "challenge"]

#: Bumped whenever the generator's output changes; part of the dataset's identity.
GENERATOR_VERSION: str = "1"
MANIFEST_NAME: str = "synthetic.json"
PART_SIZE: int = 1000

CLASSES: tuple[str, ...] = (
    "forest", "cropland", "soybean", "corn", "grassland", "urban", "water", "bare", "snow",
)  # fmt: skip
FOREST, CROPLAND, SOYBEAN, CORN, GRASS, URBAN, WATER, BARE, SNOW = range(len(CLASSES))
CROP_CLASSES: tuple[int, ...] = (CROPLAND, SOYBEAN, CORN)
VEG_CLASSES: tuple[int, ...] = (FOREST, CROPLAND, SOYBEAN, CORN, GRASS)

#: Surface (L2A) band order used internally: the 12 L2A bands.
SURFACE_BANDS: tuple[str, ...] = BANDS["s2l2a"]

# --- class end-member spectra, L2A digital numbers (reflectance x 10000), L2A band order --------
#             B01   B02   B03   B04   B05   B06   B07   B08   B8A   B09   B11   B12
_GREEN = np.array([
    [250, 280, 500, 300, 780, 2100, 2700, 2900, 3050, 3100, 1450, 620],    # forest
    [300, 330, 680, 450, 1050, 3000, 3900, 4300, 4500, 4550, 2000, 880],   # cropland (wheat)
    [290, 310, 650, 430, 1000, 3100, 4200, 4600, 4800, 4850, 2050, 900],   # soybean
    [280, 300, 600, 420, 950, 2900, 3800, 4200, 4400, 4450, 1850, 820],    # corn
    [330, 380, 720, 500, 1080, 2600, 3200, 3450, 3600, 3650, 2300, 1200],  # grassland
    [850, 950, 1150, 1300, 1450, 1600, 1700, 1750, 1850, 1900, 2100, 1900],  # urban
    [500, 550, 600, 380, 300, 200, 160, 130, 110, 110, 60, 40],            # water
    [900, 1050, 1500, 1950, 2350, 2550, 2700, 2800, 3000, 3050, 3900, 3300],  # bare soil
    [9000, 9200, 9200, 9000, 8900, 8700, 8400, 8100, 7900, 7900, 900, 700],  # snow
], dtype=np.float32)  # fmt: skip
_DORMANT = np.array([
    [330, 380, 520, 420, 700, 1250, 1550, 1650, 1750, 1780, 1300, 650],    # forest (winter)
    [680, 800, 1150, 1500, 1750, 1950, 2100, 2200, 2350, 2400, 3100, 2500],  # stubble / soil
    [600, 720, 1020, 1300, 1550, 1750, 1900, 2000, 2150, 2200, 2800, 2300],  # moist soil
    [720, 850, 1200, 1550, 1850, 2050, 2200, 2300, 2450, 2500, 3300, 2700],  # corn residue
    [500, 600, 800, 850, 1100, 1600, 1850, 1950, 2100, 2150, 2500, 1700],  # dry grass
], dtype=np.float32)  # fmt: skip
DORMANT = np.concatenate([_DORMANT, _GREEN[len(_DORMANT) :]], axis=0)
GREEN = _GREEN
CLOUD = np.array(
    [7000, 7200, 7300, 7400, 7500, 7600, 7700, 7700, 7700, 7700, 5200, 3800], dtype=np.float32
)
#: Greenness per class and season (spring, summer, fall, winter).
PHENOLOGY = np.array([
    [0.65, 1.00, 0.60, 0.15],  # forest
    [0.85, 0.45, 0.10, 0.35],  # cropland: winter wheat
    [0.00, 0.85, 0.35, 0.00],  # soybean: late sowing, late senescence
    [0.05, 1.00, 0.15, 0.00],  # corn: earlier peak, dry by fall
    [0.70, 0.90, 0.55, 0.25],  # grassland
    [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0],
], dtype=np.float32)  # fmt: skip
#: Illumination per season (lower sun in fall and winter).
ILLUMINATION = np.array([1.0, 1.0, 0.94, 0.85], dtype=np.float32)

# --- L1C = gain * L2A + path radiance (per L2A band; B09 and B10 handled apart) ------------------
_L1C_GAIN = np.array(
    [1.0, 1.0, 1.0, 1.0, 0.98, 0.96, 0.97, 0.93, 1.0, 0.34, 0.95, 0.87], dtype=np.float32
)
_L1C_PATH = np.array([850, 500, 180, 80, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)

# --- Sentinel-1: VV base (dB), VV gain per unit greenness, VH - VV base, VH - VV gain ------------
S1_VV = np.array([-9.5, -13.0, -13.5, -13.0, -12.5, 1.5, -22.0, -14.5, -14.0], dtype=np.float32)
S1_VV_GAIN = np.array([2.5, 4.0, 5.0, 6.0, 2.5, 0, 0, 0, 0], dtype=np.float32)
S1_DIFF = np.array([-6.5, -9.0, -9.0, -9.0, -8.0, -7.0, -8.0, -8.5, -8.0], dtype=np.float32)
S1_DIFF_GAIN = np.array([0.5, 2.0, 2.5, 3.0, 1.0, 0, 0, 0, 0], dtype=np.float32)
S1_ENL: float = 4.5

#: Scene types: probability and Dirichlet concentration over the nine classes.
SCENES: dict[str, tuple[float, tuple[float, ...]]] = {
    #               forest crop  soy  corn grass urban water bare snow
    "forest": (0.17, (6.0, 0.6, 0.05, 0.05, 1.2, 0.2, 0.3, 0.2, 0.05)),
    "farmland": (0.15, (1.2, 5.0, 0.1, 0.3, 2.0, 0.4, 0.2, 0.3, 0.02)),
    "corn_belt": (0.18, (0.6, 0.6, 3.0, 3.0, 1.0, 0.3, 0.2, 0.2, 0.02)),
    "grassland": (0.10, (1.0, 1.0, 0.05, 0.05, 5.0, 0.3, 0.3, 0.6, 0.05)),
    "city": (0.14, (1.0, 0.8, 0.1, 0.1, 1.2, 5.0, 0.6, 0.4, 0.02)),
    "arid": (0.08, (0.2, 0.5, 0.02, 0.02, 1.5, 0.3, 0.1, 5.0, 0.02)),
    "coastal": (0.08, (1.0, 0.8, 0.05, 0.05, 1.0, 0.8, 4.0, 0.4, 0.02)),
    "mountain": (0.10, (3.0, 0.2, 0.02, 0.02, 2.0, 0.1, 0.4, 2.0, 0.6)),
}  # fmt: skip
SCENE_NAMES: tuple[str, ...] = tuple(SCENES)
_SCENE_P = np.array([p for p, _ in SCENES.values()])
_SCENE_P = _SCENE_P / _SCENE_P.sum()

#: Share of samples each task labels (at least ``MIN_TASK_SAMPLES``), as in the real release
#: where every task covers its own subset.
TASK_FRACTIONS: dict[str, float] = {
    "biomass": 0.55,
    "crops": 0.40,
    "landcover": 0.50,
    "clouds": 0.50,
    "heatisland": 0.30,
}
MIN_TASK_SAMPLES: int = 24


@dataclass(frozen=True)
class SynthConfig:
    """Identity of a synthetic dataset (what :func:`ensure_dataset` compares).

    Attributes:
        n: number of samples.
        seed: generator seed.
        layout: ``current`` (``data/<modality>/part-NNNNNN/``) or ``challenge``
            (``data_dev/<modality>/`` and ``data_eval/<modality>/``, flat).
        version: generator version.
    """

    n: int
    seed: int
    layout: Layout = "current"
    version: str = GENERATOR_VERSION

    def hash(self) -> str:
        """Short stable hash of the configuration."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def make_ids(n: int, seed: int) -> list[str]:
    """The ``n`` sample ids of a dataset: 64-character lowercase hex strings, in index order."""
    return [hashlib.sha256(f"e2s-synthetic:{seed}:{i}".encode()).hexdigest() for i in range(n)]


# ------------------------------------------------------------------------------------------------
# smooth random fields
# ------------------------------------------------------------------------------------------------
_KERNELS: dict[tuple[int, int], np.ndarray] = {}


def _interp_matrix(grid: int, size: int = CUBE_SIZE) -> np.ndarray:
    """Gaussian-RBF interpolation matrix (size x grid): smooth upsampling of a coarse grid."""
    key = (grid, size)
    if key not in _KERNELS:
        x = (np.arange(size) + 0.5) / size
        c = (np.arange(grid) + 0.5) / grid
        w = np.exp(-0.5 * ((x[:, None] - c[None, :]) * grid / 0.85) ** 2)
        w[w < 1e-6] = 0.0  # no denormals: they make BLAS crawl
        _KERNELS[key] = (w / w.sum(1, keepdims=True)).astype(np.float32)
    return _KERNELS[key]


def smooth_field(rng: np.random.Generator, grid: int, n: int = 1) -> np.ndarray:
    """``n`` smooth zero-mean, unit-variance random fields (n, 264, 264) at a correlation scale."""
    u = _interp_matrix(grid)
    coarse = rng.standard_normal((n, grid, grid), dtype=np.float32)
    f = u @ coarse @ u.T
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= f.std(axis=(1, 2), keepdims=True) + 1e-6
    return f


def _blocky(x: np.ndarray, factor: int) -> np.ndarray:
    """Block-average the last two dims by ``factor`` and repeat back (a coarser native GSD)."""
    *lead, h, w = x.shape
    m = x.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))
    return np.repeat(np.repeat(m, factor, axis=-2), factor, axis=-1)


_BLOCK_20M = [SURFACE_BANDS.index(b) for b in ("B05", "B06", "B07", "B8A", "B11", "B12")]
_BLOCK_60M = [SURFACE_BANDS.index(b) for b in ("B01", "B09")]


# ------------------------------------------------------------------------------------------------
# one scene
# ------------------------------------------------------------------------------------------------
@dataclass
class Scene:
    """The cubes of one sample and the latent summaries its labels are computed from."""

    s1: np.ndarray  # (4, 2, H, W) float32 dB
    s2l1c: np.ndarray  # (4, 13, H, W) uint16
    s2l2a: np.ndarray  # (4, 12, H, W) uint16
    latents: dict[str, float]
    classes: np.ndarray  # (H, W) int8 land-cover class map (index into CLASSES)
    cloud: np.ndarray  # (4, H, W) float32 cloud opacity per season


def _class_map(rng: np.random.Generator, scene: str) -> tuple[np.ndarray, np.ndarray]:
    """Class map (H, W) int and the parcel id map of farmland."""
    size = CUBE_SIZE
    conc = np.array(SCENES[scene][1])
    prior = rng.dirichlet(conc)
    prior = np.maximum(prior, 1e-4)
    grid = int(rng.integers(5, 14))
    fields = smooth_field(rng, grid, len(CLASSES)) + 0.35 * smooth_field(
        rng, grid * 2, len(CLASSES)
    )
    # crop classes share one region field; crop type is decided per parcel below
    fields[list(CROP_CLASSES)] = fields[CROPLAND]
    logits = np.log(prior)[:, None, None] + 1.6 * fields
    cls = np.argmax(logits, axis=0).astype(np.int8)
    # parcels: a rectangular grid with random cuts, one crop per parcel
    nx, ny = int(rng.integers(4, 12)), int(rng.integers(4, 12))
    xcuts = np.sort(rng.choice(np.arange(8, size - 8), nx - 1, replace=False))
    ycuts = np.sort(rng.choice(np.arange(8, size - 8), ny - 1, replace=False))
    px = np.searchsorted(xcuts, np.arange(size), side="right")
    py = np.searchsorted(ycuts, np.arange(size), side="right")
    parcel = (py[:, None] * nx + px[None, :]).astype(np.int32)
    crop_p = prior[list(CROP_CLASSES)] / prior[list(CROP_CLASSES)].sum()
    crop_of_parcel = rng.choice(np.array(CROP_CLASSES), size=nx * ny, p=crop_p)
    is_crop = np.isin(cls, CROP_CLASSES)
    cls[is_crop] = crop_of_parcel[parcel[is_crop]]
    # field boundaries: a few parcel edges carry paved roads (2 px) through farmland
    for cut in xcuts[rng.random(nx - 1) < 0.3]:
        col = is_crop[:, cut - 1 : cut + 1]
        cls[:, cut - 1 : cut + 1][col] = URBAN
    for cut in ycuts[rng.random(ny - 1) < 0.3]:
        row = is_crop[cut - 1 : cut + 1]
        cls[cut - 1 : cut + 1][row] = URBAN
    return cls, parcel


def generate_scene(seed: int, index: int) -> Scene:
    """Generate the cubes and latents of sample ``index`` of a dataset with seed ``seed``.

    BLAS runs single-threaded here: the matrices are small (threads only add contention) and a
    fixed thread count keeps the result bit-identical.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return _generate_scene(seed, index)


@dataclass
class _Surface:
    """The land surface of one scene: classes, vigour, texture and phenology."""

    cls: np.ndarray
    vigor: np.ndarray
    vig_pix: np.ndarray
    tex: np.ndarray
    blocks: np.ndarray
    pheno: np.ndarray


def _surface(rng: np.random.Generator, cls: np.ndarray, parcel: np.ndarray) -> _Surface:
    """Vegetation vigour (forest density), per-parcel management, texture, buildings, phenology."""
    size, t_n = CUBE_SIZE, N_SEASONS
    vigor0 = float(rng.uniform(0.65, 1.2))
    vigor = np.clip(vigor0 + 0.18 * smooth_field(rng, int(rng.integers(8, 24)))[0], 0.2, 1.6)
    parcel_gain = rng.uniform(0.75, 1.15, size=int(parcel.max()) + 1).astype(np.float32)
    vig_pix = np.where(np.isin(cls, CROP_CLASSES), parcel_gain[parcel], vigor).astype(np.float32)
    tex = (1.0 + 0.06 * smooth_field(rng, 40)[0]).astype(np.float32)
    tex *= 1.0 + 0.03 * rng.standard_normal((size, size), dtype=np.float32)
    # buildings: 4 x 4-pixel blocks of varying brightness and radar return in urban areas
    blocks = np.repeat(np.repeat(rng.standard_normal((size // 4, size // 4)), 4, 0), 4, 1)
    blocks = blocks.astype(np.float32)
    urban = cls == URBAN
    tex[urban] *= np.clip(1.0 + 0.3 * blocks[urban], 0.4, 2.0)
    pheno_shift = rng.normal(0.0, 0.06, size=(len(CLASSES), t_n)).astype(np.float32)
    pheno = np.clip(PHENOLOGY + pheno_shift * (PHENOLOGY > 0), 0.0, 1.05)
    return _Surface(cls, vigor, vig_pix, tex, blocks, pheno)


def _weather(rng: np.random.Generator, scene: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seasonal snow cover, cloud fractions and the no-data mask ``(T, H, W)``."""
    size, t_n = CUBE_SIZE, N_SEASONS
    snow_cover = np.zeros(t_n, np.float32)
    if scene == "mountain" or rng.random() < 0.08:
        snow_cover[3] = rng.uniform(0.2, 0.9)
        snow_cover[0] = snow_cover[3] * rng.uniform(0.0, 0.5)
    cloudiness = float(rng.beta(0.7, 5.0))
    cloud_frac = np.where(
        rng.random(t_n) < 0.35, 0.0, np.clip(cloudiness * rng.uniform(0.3, 1.8, t_n), 0, 0.95)
    )
    nodata = np.zeros((t_n, size, size), dtype=bool)
    u = rng.random()
    if u < 0.15:  # swath edge: a diagonal stripe of zeros in one or two seasons
        theta = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        proj = (xx - size / 2) * np.cos(theta) + (yy - size / 2) * np.sin(theta)
        cut = rng.uniform(-0.3, 0.55) * size
        for t in rng.choice(t_n, int(rng.integers(1, 3)), replace=False):
            nodata[t] = proj > cut
    elif u < 0.20:  # a season missing entirely
        nodata[int(rng.integers(t_n))] = True
    return snow_cover, cloud_frac, nodata


def _add_clouds(rng: np.random.Generator, refl: np.ndarray, fraction: float) -> np.ndarray:
    """Soft-edged bright clouds and their displaced shadows on one season; returns the alpha."""
    cf = smooth_field(rng, int(rng.integers(6, 16)))[0]
    cf += 0.3 * smooth_field(rng, 44)[0]
    thr = np.quantile(cf, 1 - fraction)
    alpha = np.clip((cf - thr) * 2.5 + 0.5, 0, 1).astype(np.float32)
    shift = rng.integers(-25, 26, size=2)
    shadow = np.roll(alpha, tuple(shift), axis=(0, 1)) * (1 - alpha)
    refl *= 1 - 0.55 * shadow
    bright = float(rng.uniform(0.8, 1.15))
    refl += alpha * (CLOUD[:, None, None] * bright - refl)
    return alpha


def _surface_reflectance(
    rng: np.random.Generator, surf: _Surface, snow_cover: np.ndarray, cloud_frac: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """L2A reflectance ``(T, B, H, W)``, cloud alpha, snow masks, greenness per season, noise."""
    size, t_n = CUBE_SIZE, N_SEASONS
    cls = surf.cls
    l2a = np.empty((t_n, len(SURFACE_BANDS), size, size), dtype=np.float32)
    cloud_alpha = np.zeros((t_n, size, size), dtype=np.float32)
    snow_field = smooth_field(rng, 10)[0]
    dormant = DORMANT.T[:, cls]  # (B, H, W), gathered once
    delta = (GREEN - DORMANT).T[:, cls]
    green = [surf.pheno[cls, t] * surf.vig_pix for t in range(t_n)]  # greenness (H, W)
    snow_masks = np.zeros((t_n, size, size), dtype=np.float32)
    for t in range(t_n):
        refl = l2a[t]
        np.multiply(delta, green[t], out=refl)
        refl += dormant
        refl *= surf.tex * ILLUMINATION[t]
        if snow_cover[t] > 0:
            thr = np.quantile(snow_field, 1 - snow_cover[t])
            sm = (np.clip((snow_field - thr) * 3.0, 0, 1) * (cls != WATER)).astype(np.float32)
            refl += sm * (GREEN[SNOW, :, None, None] * ILLUMINATION[t] - refl)
            snow_masks[t] = sm
        if cloud_frac[t] > 0:
            cloud_alpha[t] = _add_clouds(rng, refl, cloud_frac[t])
    noise = rng.standard_normal((t_n, 1, size, size), dtype=np.float32)
    l2a *= 1.0 + 0.02 * noise
    l2a[:, _BLOCK_20M] = _blocky(l2a[:, _BLOCK_20M], 2)
    l2a[:, _BLOCK_60M] = _blocky(l2a[:, _BLOCK_60M], 6)
    return l2a, cloud_alpha, snow_masks, green, noise


def _top_of_atmosphere(
    rng: np.random.Generator, l2a: np.ndarray, cloud_alpha: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """L1C = gain x L2A + path radiance, water vapour in B09 and a cirrus band B10."""
    t_n, n_b, size, _ = l2a.shape
    aerosol = float(rng.uniform(0.6, 1.4))
    vapour = float(rng.uniform(0.8, 1.2))
    gain = _L1C_GAIN.copy()
    gain[SURFACE_BANDS.index("B09")] *= vapour
    path = aerosol * _L1C_PATH
    l1c = np.empty((t_n, n_b + 1, size, size), dtype=np.float32)
    l1c[:, :10] = l2a[:, :10] * gain[:10, None, None] + path[:10, None, None]
    l1c[:, 11:] = l2a[:, 10:] * gain[10:, None, None] + path[10:, None, None]
    cirrus = float(rng.uniform(150, 900))
    b10 = 12.0 + 0.002 * l2a[:, SURFACE_BANDS.index("B8A")] + cirrus * cloud_alpha**1.5
    l1c[:, 10] = _blocky(b10 * (1.0 + 0.1 * noise[:, 0]), 6)
    return l1c


def _to_dn(x: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Round to digital numbers in [1, 65535] (uint16), zero where there is no data."""
    np.rint(x, out=x)
    np.clip(x, 1, 65535, out=x)
    out = x.astype(np.uint16)
    if nodata.any():
        out[np.broadcast_to(nodata[:, None], out.shape)] = 0
    return out


def _sentinel1(
    rng: np.random.Generator, surf: _Surface, green: list[np.ndarray], snow_masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """VV/VH backscatter in dB ``(T, 2, H, W)`` with Gamma speckle, and the S1 texture field."""
    size, t_n = CUBE_SIZE, N_SEASONS
    cls = surf.cls
    moisture = rng.normal(0.0, 0.8, t_n).astype(np.float32)
    wind = rng.normal(0.0, 2.0, t_n).astype(np.float32)
    s1_tex = 1.2 * smooth_field(rng, 30)[0]
    urban = cls == URBAN
    noise = rng.standard_normal((size, size), dtype=np.float32)
    urban_boost = urban * (4.0 * surf.blocks + 1.5 * noise)
    vv0 = S1_VV[cls] + s1_tex + urban_boost
    vv_gain, diff0, diff_gain = S1_VV_GAIN[cls], S1_DIFF[cls], S1_DIFF_GAIN[cls]
    water = (cls == WATER).astype(np.float32)
    s1 = np.empty((t_n, 2, size, size), dtype=np.float32)
    for t in range(t_n):
        vv = vv0 + vv_gain * green[t] + moisture[t] + water * wind[t] - 2.0 * snow_masks[t]
        s1[t, 0] = vv
        s1[t, 1] = vv + diff0 + diff_gain * green[t]
    speckle = rng.gamma(S1_ENL, 1.0 / S1_ENL, size=s1.shape).astype(np.float32)
    s1 += 10.0 * np.log10(speckle)
    return s1, s1_tex


def _generate_scene(seed: int, index: int) -> Scene:
    rng = np.random.default_rng([seed, index, 0xE25])
    scene = str(rng.choice(SCENE_NAMES, p=_SCENE_P))
    cls, parcel = _class_map(rng, scene)
    flat = cls.reshape(-1)
    frac = np.bincount(flat, minlength=len(CLASSES)) / flat.size
    surf = _surface(rng, cls, parcel)
    snow_cover, cloud_frac, nodata = _weather(rng, scene)
    l2a, cloud_alpha, snow_masks, green, noise = _surface_reflectance(
        rng, surf, snow_cover, cloud_frac
    )
    l1c = _top_of_atmosphere(rng, l2a, cloud_alpha, noise)
    s2l2a, s2l1c = _to_dn(l2a, nodata), _to_dn(l1c, nodata)
    del l2a, l1c
    s1, s1_tex = _sentinel1(rng, surf, green, snow_masks)
    green_summer = green[1] * np.isin(cls, VEG_CLASSES)
    # ---- latents for the labels ----------------------------------------------------------------
    biomass = (cls == FOREST) * 220.0 * surf.vigor**1.6 + np.isin(cls, (GRASS, *CROP_CLASSES)) * 4.0
    lst = (
        27.0
        + 9.0 * (cls == URBAN)
        + 6.0 * (cls == BARE)
        - 10.0 * (cls == WATER)
        - 7.0 * green_summer
        + 0.8 * s1_tex
    )
    latents = {
        "scene": float(SCENE_NAMES.index(scene)),
        **{f"frac_{c}": float(frac[i]) for i, c in enumerate(CLASSES)},
        "biomass_mean": float(biomass.mean()),
        "biomass_std": float(biomass.std()),
        "cloud_cover": float(100.0 * cloud_alpha.mean()),
        "lst_mean": float(lst.mean()),
        "lst_std": float(lst.std()),
        "nodata": float(nodata.mean()),
    }
    return Scene(s1=s1, s2l1c=s2l1c, s2l2a=s2l2a, latents=latents, classes=cls, cloud=cloud_alpha)


# ------------------------------------------------------------------------------------------------
# dataset
# ------------------------------------------------------------------------------------------------
def _sample_dirs(root: Path, layout: Layout, sid: str, rank: int) -> dict[str, Path]:
    if layout == "current":
        return {m: root / "data" / m / f"part-{rank // PART_SIZE:06d}" for m in BANDS}
    folder = SPLIT_FOLDERS["dev" if is_dev_id(sid) else "eval"]
    return {m: root / folder / m for m in BANDS}


def _work(args: tuple[int, int, str, dict[str, str]]) -> dict[str, float]:
    seed, index, sid, dirs = args
    paths = {m: Path(d) / f"{sid}{SUFFIX}" for m, d in dirs.items()}
    scene = generate_scene(seed, index)
    if not all(p.is_file() for p in paths.values()):
        for m, p in paths.items():
            write_cube(p, getattr(scene, m))
    return scene.latents


def _subset(rng: np.random.Generator, n: int, frac: float, preferred: np.ndarray) -> np.ndarray:
    """Boolean mask of a task's ids: ``preferred`` samples first, topped up at random."""
    target = min(n, max(int(round(frac * n)), MIN_TASK_SAMPLES))
    order = np.lexsort((rng.random(n), ~preferred))
    mask = np.zeros(n, dtype=bool)
    mask[order[:target]] = True
    return mask


def compute_labels(latents: pd.DataFrame, seed: int) -> dict[str, pd.Series]:
    """The eleven task labels from the per-sample latents (index = id), deterministic per seed.

    Each label is a smooth function of aggregated latents plus modest noise, on its own subset.
    """
    rng = np.random.default_rng([seed, 0x1ABE1])
    n = len(latents)
    lat = latents
    scene = lat["scene"].to_numpy().astype(int)

    def noisy(x: pd.Series, rel: float) -> np.ndarray:
        v = x.to_numpy(dtype=np.float64)
        return v + rel * (v.std() + 1e-9) * rng.standard_normal(n)

    crops_frac = lat["frac_soybean"] + lat["frac_corn"]
    agri = lat["frac_cropland"] + lat["frac_soybean"] + lat["frac_corn"]
    us = scene == SCENE_NAMES.index("corn_belt")
    city = scene == SCENE_NAMES.index("city")
    random_reg = np.where(rng.random(n) < 0.6, 0.0, np.minimum(rng.exponential(25.0, n), 100.0))
    masks = {
        "biomass": _subset(rng, n, TASK_FRACTIONS["biomass"], lat["frac_forest"].to_numpy() > 0.05),
        "crops": _subset(rng, n, TASK_FRACTIONS["crops"], us | (crops_frac.to_numpy() > 0.02)),
        "landcover": _subset(rng, n, TASK_FRACTIONS["landcover"], ~us),
        "clouds": _subset(rng, n, TASK_FRACTIONS["clouds"], np.zeros(n, bool)),
        "heatisland": _subset(rng, n, TASK_FRACTIONS["heatisland"], city),
    }
    values: dict[str, tuple[np.ndarray, str]] = {
        "biomass_mean": (np.maximum(noisy(lat["biomass_mean"], 0.08), 0), "biomass"),
        "biomass_std": (np.maximum(noisy(lat["biomass_std"], 0.10), 0), "biomass"),
        "crops": (np.clip(noisy(crops_frac, 0.05), 0, 1), "crops"),
        "landcover_aggriculture": (np.clip(noisy(agri, 0.05), 0, 1), "landcover"),
        "landcover_forest": (np.clip(noisy(lat["frac_forest"], 0.05), 0, 1), "landcover"),
        "clouds_reg": (np.clip(noisy(lat["cloud_cover"], 0.03), 0, 100), "clouds"),
        "heatisland_mean": (noisy(lat["lst_mean"], 0.08), "heatisland"),
        "heatisland_std": (np.maximum(noisy(lat["lst_std"], 0.10), 0), "heatisland"),
        "nodata": (lat["nodata"].to_numpy(dtype=np.float64), "all"),
        "random_reg": (random_reg, "clouds"),
        "random_cls": ((random_reg > 10).astype(np.float64), "clouds"),
    }
    out: dict[str, pd.Series] = {}
    for name, (v, subset) in values.items():
        keep = np.ones(n, bool) if subset == "all" else masks[subset]
        out[name] = pd.Series(v[keep], index=lat.index[keep], name=name)
    return out


def _write_labels(labels_dir: Path, labels: dict[str, pd.Series]) -> None:
    from e2s_utils.data import labels as label_io

    for name, series in labels.items():
        kind: label_io.TaskKind = (
            "classification" if label_io.TASK_TYPES[name] == "cls" else "regression"
        )
        label_io.write_task(labels_dir, name, kind, series.sort_index())


def _read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _write_manifest(root: Path, payload: dict[str, Any]) -> None:
    tmp = root / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, root / MANIFEST_NAME)


def _clear(root: Path) -> None:
    for name in ("data", *SPLIT_FOLDERS.values(), "labels"):
        if (root / name).exists():
            shutil.rmtree(root / name)


def generate(
    root: Path | str,
    n: int,
    seed: int,
    layout: Layout = "current",
    progress: bool = False,
    workers: int | None = None,
) -> Path:
    """Write a synthetic dataset in the SSL4EO-S12-downstream format.

    Writes ``data/{s1,s2l1c,s2l2a}/part-NNNNNN/<id>.zarr.zip`` (``current``) or
    ``data_dev/<modality>/`` and ``data_eval/<modality>/`` (``challenge``), ``labels/`` with the
    eleven ``<task>__<type>.csv`` files, ``latents.csv`` (the scene latents, for inspection) and
    the manifest ``synthetic.json``. Resumable: a rerun with the same configuration keeps the
    cubes already written (they are deterministic) and fills in the rest.

    Args:
        root: dataset root (created if missing).
        n: number of samples.
        seed: generator seed.
        layout: ``current`` or ``challenge``.
        progress: show a progress bar.
        workers: processes (default: the CPU count); the output does not depend on it.

    Returns:
        ``root``.

    Raises:
        DataError: if ``root`` holds a different synthetic dataset or other files.
    """
    from tqdm.auto import tqdm

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if layout not in ("current", "challenge"):
        raise ValueError(f"layout must be 'current' or 'challenge', not {layout!r}")
    root = Path(root)
    config = SynthConfig(n=n, seed=seed, layout=layout)
    manifest = _read_manifest(root)
    if manifest is not None and manifest.get("config_hash") != config.hash():
        raise DataError(
            f"{root} holds a different synthetic dataset ({manifest.get('config')}); refusing to "
            f"mix it with {asdict(config)}: use another root or synthetic.ensure_dataset(...)"
        )
    if manifest is None and root.exists() and any(root.iterdir()):
        raise DataError(
            f"{root} is not empty and holds no {MANIFEST_NAME}; refusing to write a synthetic "
            "dataset into it: choose an empty or new folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    payload = {"config": asdict(config), "config_hash": config.hash(), "complete": False}
    _write_manifest(root, payload)
    ids = make_ids(n, seed)
    rank = {sid: r for r, sid in enumerate(sorted(ids))}
    jobs = [
        (seed, i, sid, {m: str(d) for m, d in _sample_dirs(root, layout, sid, rank[sid]).items()})
        for i, sid in enumerate(ids)
    ]
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    bar = tqdm(total=n, desc="synthetic cubes", unit="cube", disable=not progress)
    if workers == 1:
        results = []
        for job in jobs:
            results.append(_work(job))
            bar.update()
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            results = []
            for res in pool.map(_work, jobs, chunksize=4):
                results.append(res)
                bar.update()
    bar.close()
    latents = pd.DataFrame(results, index=pd.Index(ids, name="id"))
    labels = compute_labels(latents, seed)
    _write_labels(root / "labels", labels)
    latents["scene"] = [SCENE_NAMES[int(s)] for s in latents["scene"]]
    latents.sort_index().to_csv(root / "latents.csv", float_format="%.6g")
    payload["complete"] = True
    _write_manifest(root, payload)
    return root


def _init_worker() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def ensure_dataset(
    root: Path | str,
    n: int,
    seed: int,
    progress: bool = False,
    layout: Layout = "current",
    workers: int | None = None,
) -> Path:
    """Return a complete synthetic dataset at ``root``, generating it only when needed.

    A complete dataset with the same ``(n, seed, layout, generator version)`` is reused as is;
    an incomplete one with the same configuration is resumed; a different synthetic dataset at
    ``root`` is deleted and regenerated.

    Args:
        root: dataset root.
        n: number of samples.
        seed: generator seed.
        progress: show a progress bar while generating.
        layout: ``current`` or ``challenge``.
        workers: generator processes (default: the CPU count).

    Returns:
        ``root``.

    Raises:
        DataError: if ``root`` holds files that are not a synthetic dataset.
    """
    root = Path(root)
    config = SynthConfig(n=n, seed=seed, layout=layout)
    manifest = _read_manifest(root)
    if manifest is not None:
        if manifest.get("config_hash") == config.hash() and manifest.get("complete"):
            return root
        if manifest.get("config_hash") != config.hash():
            _clear(root)
            (root / MANIFEST_NAME).unlink()
            (root / "latents.csv").unlink(missing_ok=True)
    return generate(root, n, seed, layout=layout, progress=progress, workers=workers)
