"""Vectorised sampler of the synthetic generator's scene latents (for the embedding simulator).

Draws, without rendering any cube, the variables :mod:`e2s_utils.data.synthetic` derives its
eleven labels from (scene type, the nine class fractions, biomass mean/std, cloud cover,
land-surface temperature mean/std, no-data fraction), plus cloud cover and no data per season,
winter snow cover and aerosol load. Every random quantity of ``generate_scene`` that reaches a
latent is drawn from the generator's distribution (scene type, Dirichlet class prior, field
grids, parcel cuts and crops, roads, vigour, parcel gains, phenology, snow, clouds, no data).

Approximations: the smooth fields and the class, vigour, biomass and temperature maps are
evaluated on ``resolution`` x ``resolution`` points (default 24) instead of 264 x 264 pixels, so
a class covering less than about one point's area is often missed (slightly more exact zeros);
the 2-pixel roads along parcel edges enter the fractions and the first two moments of biomass and
temperature analytically; the mean opacity of a season's clouds comes from a Gaussian model of the
cloud field; the speckle texture adds its exact variance to the temperature variance. Labels come
from the generator's own :func:`~e2s_utils.data.synthetic.compute_labels`, so task subsets and
label noise are the generator's.

Random numbers come in streams of :data:`CHUNK` samples: sample ``i``'s latents do not depend on
``n`` (a smaller sample is a prefix of a larger one); labels do (the generator draws their noise and
subsets over the whole dataset).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from e2s_utils.bands import CUBE_SIZE, N_SEASONS
from e2s_utils.data import synthetic as syn
from e2s_utils.data.labels import TASK_TYPES, LabelTask

RESOLUTION = 24
"""Default points per side of the latent maps (the latents' statistics settle from about 24)."""
CHUNK = 512
"""Samples per random stream: what makes a sample prefix-stable."""

_CONC = np.array([conc for _, conc in syn.SCENES.values()])
_CROPS = list(syn.CROP_CLASSES)
_CLOUD_SD = float(np.sqrt(1.0 + 0.3**2))  # sd of the two summed unit-variance cloud fields
_LST_TEXTURE_VAR = (0.8 * 1.2) ** 2  # variance the zero-mean speckle texture adds to the LST map
_MAX_CUTS = 10


def make_sim_ids(n: int, seed: int) -> list[str]:
    """Ids of a simulation: 64 hex characters like the generator's, from their own namespace.

    A simulated sample is not the rendered scene of the same index, so it gets another id.
    """
    return [hashlib.sha256(f"e2s-simulated:{seed}:{i}".encode()).hexdigest() for i in range(n)]


def _fields(rng: np.random.Generator, grids: np.ndarray, count: int, size: int) -> np.ndarray:
    """``count`` smooth fields per sample, (m, count, size²), as ``synthetic.smooth_field``."""
    out = np.empty((len(grids), count, size * size), np.float32)
    for g in np.unique(grids):
        idx = np.flatnonzero(grids == g)
        u = syn._interp_matrix(int(g), size)
        coarse = rng.standard_normal((len(idx), count, int(g), int(g)), dtype=np.float32)
        f = np.matmul(np.matmul(u, coarse), u.T).reshape(len(idx), count, -1)
        f -= f.mean(axis=2, keepdims=True)
        f /= f.std(axis=2, keepdims=True) + 1e-6
        out[idx] = f
    return out


def _cuts(rng: np.random.Generator, k: np.ndarray, coords: np.ndarray) -> tuple:
    """``k - 1`` sorted parcel cuts per sample (inf-padded) and the parcel column of each coord."""
    cuts = rng.integers(8, CUBE_SIZE - 8, size=(len(k), _MAX_CUTS)).astype(np.float64)
    cuts[np.arange(_MAX_CUTS)[None] >= (k - 1)[:, None]] = np.inf
    cuts.sort(axis=1)
    return cuts, (cuts[:, None, :] <= coords[None, :, None]).sum(-1)


def _cloud_opacity(frac: np.ndarray) -> np.ndarray:
    """Mean of ``clip((f - q) * 2.5 + 0.5, 0, 1)``, f a Gaussian field, q its 1 - frac quantile."""
    a, s = 2.5, _CLOUD_SD
    q = s * ndtri(1.0 - np.clip(frac, 1e-6, 1.0))
    lo, hi = (q - 0.5 / a) / s, (q + 0.5 / a) / s
    pdf = np.exp(-0.5 * lo**2) - np.exp(-0.5 * hi**2)
    ramp = s * pdf / np.sqrt(2 * np.pi) - (q - 0.5 / a) * (ndtr(hi) - ndtr(lo))
    return np.where(frac > 0, 1.0 - ndtr(hi) + a * ramp, 0.0)


def _land(rng: np.random.Generator, m: int, res: int) -> dict[str, np.ndarray]:
    """Scene type, class map, parcels and road share of ``m`` scenes (``synthetic._class_map``)."""
    scene = rng.choice(len(syn.SCENE_NAMES), size=m, p=syn._SCENE_P)
    prior = rng.gamma(_CONC[scene])  # a Dirichlet draw, normalised below
    prior = np.maximum(prior / prior.sum(1, keepdims=True), 1e-4)
    grid = rng.integers(5, 14, m)
    fields = _fields(rng, grid, 7, res)
    fields += 0.35 * _fields(rng, 2 * grid, 7, res)
    logp = np.log(prior).astype(np.float32)
    logp[:, syn.CROPLAND] = logp[:, _CROPS].max(1)  # the crop classes share one region field
    best = np.full((m, res * res), -np.inf, np.float32)
    cls = np.zeros((m, res * res), np.int8)
    for slot, c in enumerate((syn.FOREST, syn.CROPLAND, *range(syn.GRASS, len(syn.CLASSES)))):
        logit = logp[:, c, None] + 1.6 * fields[:, slot]
        cls[logit > best] = c
        np.maximum(best, logit, out=best)
    coords = (np.arange(res) + 0.5) * CUBE_SIZE / res
    nx, ny = rng.integers(4, 12, m), rng.integers(4, 12, m)
    (xcuts, px), (ycuts, py) = _cuts(rng, nx, coords), _cuts(rng, ny, coords)
    n_par = (_MAX_CUTS + 1) ** 2
    parcel = (py[:, :, None] * nx[:, None, None] + px[:, None, :]).reshape(m, -1)
    parcel += (np.arange(m) * n_par)[:, None]  # flat index into (m, n_par) tables
    cum = np.cumsum(prior[:, _CROPS] / prior[:, _CROPS].sum(1, keepdims=True), axis=1)
    crop_of = syn.CROPLAND + (rng.random((m, n_par))[..., None] > cum[:, None, :2]).sum(-1)
    is_crop = cls == syn.CROPLAND
    cls[is_crop] = crop_of.ravel()[parcel[is_crop]]
    road = np.zeros(m)
    for cuts, axis in ((xcuts, 1), (ycuts, 2)):  # crop share of the column / row a road follows
        line = is_crop.reshape(m, res, res).mean(axis=axis)
        pos = np.clip((np.nan_to_num(cuts, posinf=0) * res / CUBE_SIZE).astype(int), 0, res - 1)
        on = (rng.random(cuts.shape) < 0.3) & np.isfinite(cuts)
        road += (on * np.take_along_axis(line, pos, 1)).sum(1) * 2.0 / CUBE_SIZE
    return {"scene": scene, "cls": cls, "is_crop": is_crop, "parcel": parcel, "road": road}


def _latent_chunk(rng: np.random.Generator, m: int, res: int) -> dict[str, np.ndarray]:
    """The latents of ``m`` scenes, following ``synthetic._generate_scene`` (module docstring)."""
    n_cls = len(syn.CLASSES)
    land = _land(rng, m, res)
    cls, is_crop, parcel = land["cls"], land["is_crop"], land["parcel"]
    vigor0 = rng.uniform(0.65, 1.2, m).astype(np.float32)
    vigor = _fields(rng, rng.integers(8, 24, m), 1, res)[:, 0]
    vigor = np.clip(vigor0[:, None] + 0.18 * vigor, 0.2, 1.6)
    gain = rng.uniform(0.75, 1.15, size=(m, (_MAX_CUTS + 1) ** 2)).astype(np.float32)
    shift = rng.normal(0.0, 0.06, size=(m, n_cls, N_SEASONS))
    summer = np.clip(syn.PHENOLOGY + shift * (syn.PHENOLOGY > 0), 0.0, 1.05)[:, :, 1]
    flat_cls = cls + (np.arange(m, dtype=np.int32) * n_cls)[:, None]
    green = summer.astype(np.float32).ravel()[flat_cls]  # zero outside vegetation
    green *= np.where(is_crop, gain.ravel()[parcel], vigor)
    herb = np.isin(np.arange(n_cls), (syn.GRASS, *_CROPS)).astype(np.float32) * 4.0
    biomass = np.where(cls == syn.FOREST, 220.0 * vigor**1.6, herb[cls]).astype(np.float64)
    lst_class = np.full(n_cls, 27.0, np.float32)
    lst_class[[syn.URBAN, syn.BARE, syn.WATER]] += (9.0, 6.0, -10.0)
    lst = (lst_class[cls] - 7.0 * green).astype(np.float64)
    frac = np.bincount(flat_cls.ravel(), minlength=m * n_cls).reshape(m, n_cls) / res**2
    crop_frac = frac[:, _CROPS].sum(1)
    road = np.minimum(land["road"], crop_frac)
    frac[:, _CROPS] *= (1 - road / np.maximum(crop_frac, 1e-12))[:, None]
    frac[:, syn.URBAN] += road
    # roads turn a share `road` of all pixels from crop into urban: shift the first two moments
    n_crop = np.maximum(is_crop.sum(1), 1)
    urban = float(lst_class[syn.URBAN])
    lst_1 = lst.mean(1) + road * (urban - (lst * is_crop).sum(1) / n_crop)
    lst_2 = (lst**2).mean(1) + road * (urban**2 - (lst**2 * is_crop).sum(1) / n_crop)
    bio_1, bio_2 = biomass.mean(1) - 4.0 * road, (biomass**2).mean(1) - 16.0 * road
    # snow, clouds and no data per season
    mountain = land["scene"] == syn.SCENE_NAMES.index("mountain")
    snow = np.where(mountain | (rng.random(m) < 0.08), rng.uniform(0.2, 0.9, m), 0.0)
    cloudiness = rng.beta(0.7, 5.0, m)[:, None]
    cloud_frac = np.clip(cloudiness * rng.uniform(0.3, 1.8, (m, N_SEASONS)), 0, 0.95)
    cloud = 100.0 * _cloud_opacity(np.where(rng.random((m, N_SEASONS)) < 0.35, 0.0, cloud_frac))
    u, theta = rng.random(m), rng.uniform(0, 2 * np.pi, m)
    cut = rng.uniform(-0.3, 0.55, m) * CUBE_SIZE
    n_swath, missing = rng.integers(1, 3, m), rng.integers(N_SEASONS, size=m)
    order = np.argsort(rng.random((m, N_SEASONS)), axis=1)
    sub = np.arange(2, CUBE_SIZE, 4) - CUBE_SIZE / 2  # every 4th pixel centre
    proj = (
        np.cos(theta)[:, None, None] * sub[None, None] + np.sin(theta)[:, None, None] * sub[:, None]
    )
    swath = (proj > cut[:, None, None]).mean(axis=(1, 2))
    hit = np.zeros((m, N_SEASONS))
    np.put_along_axis(hit, order, (np.arange(N_SEASONS)[None] < n_swath[:, None]) * 1.0, 1)
    nodata = np.where((u < 0.15)[:, None], hit * swath[:, None], 0.0)
    gap = np.flatnonzero((u >= 0.15) & (u < 0.20))
    nodata[gap, missing[gap]] = 1.0
    return {
        "scene": land["scene"].astype(np.float64),
        **{f"frac_{c}": frac[:, i] for i, c in enumerate(syn.CLASSES)},
        "biomass_mean": bio_1,
        "biomass_std": np.sqrt(np.maximum(bio_2 - bio_1**2, 0.0)),
        "cloud_cover": cloud.mean(1),
        "lst_mean": lst_1,
        "lst_std": np.sqrt(np.maximum(lst_2 - lst_1**2, 0.0) + _LST_TEXTURE_VAR),
        "nodata": nodata.mean(1),
        **{f"cloud_s{t}": cloud[:, t] for t in range(N_SEASONS)},
        **{f"nodata_s{t}": nodata[:, t] for t in range(N_SEASONS)},
        "snow": snow,
        "aerosol": rng.uniform(0.6, 1.4, m),
    }


def sample_latents(n: int, seed: int, resolution: int = RESOLUTION) -> pd.DataFrame:
    """Sample the scene latents of ``n`` simulated samples (vectorised, no cube rendered).

    Args:
        n: number of samples.
        seed: simulation seed.
        resolution: points per side of the class, vigour, biomass and temperature maps.

    Returns:
        One row per sample, index ``id`` (:func:`make_sim_ids`): the generator's latent columns
        (``scene`` indexes ``synthetic.SCENE_NAMES``) plus ``cloud_s<t>``, ``nodata_s<t>``
        (t = 0..3), ``snow`` and ``aerosol``.
    """
    if n < 1 or resolution < 8:
        raise ValueError(f"need n >= 1 and resolution >= 8, got n={n}, resolution={resolution}")
    parts = [
        _latent_chunk(np.random.default_rng([seed, j, 0x51A7E]), CHUNK, resolution)
        for j in range(-(-n // CHUNK))
    ]
    cols = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
    return pd.DataFrame(cols, index=pd.Index(make_sim_ids(n, seed), name="id"))


def tasks_from_latents(latents: pd.DataFrame, seed: int) -> dict[str, LabelTask]:
    """The eleven tasks, labelled from the latents by ``synthetic.compute_labels``."""
    return {
        name: LabelTask(
            name,
            "classification" if TASK_TYPES[name] == "cls" else "regression",
            s.rename_axis("id").rename(name),
        )
        for name, s in sorted(syn.compute_labels(latents, seed).items())
    }
