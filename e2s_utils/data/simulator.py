"""Controlled embeddings: simulated "foundation-model" blocks built from synthetic scene latents.

What each block knows about each task is set by construction, so fusion experiments run at the
real dataset's size in seconds:

* **Latents**: :func:`~e2s_utils.data.scene_latents.sample_latents` draws the latent variables
  the synthetic generator derives its eleven labels from, vectorised, without rendering cubes
  (its module docstring lists the approximations); the labels are the generator's own
  (:func:`~e2s_utils.data.scene_latents.tasks_from_latents`).
* **Blocks** (:class:`BlockSpec`, :func:`render_block`): an embedding ``(n, C, T)`` carrying
  chosen factors (:data:`FACTORS`) with chosen weights, optionally through an
  information-preserving nonlinearity (:func:`spiral`) of set strength, plus noise and task-free
  nuisance channels.
* **Simulations** (:func:`simulate`, :func:`preset`; :func:`e2s_utils.store.simulated.write_simulation`): ids in the
  generator's style, the blocks, the eleven :class:`~e2s_utils.data.labels.LabelTask`, the
  dev/eval split of :func:`~e2s_utils.data.reader.is_dev_id`, and a writer into the
  embedding-store format, so the compressor, the evaluator and the studies read them unchanged.

Everything is deterministic per seed and prefix-stable: sample ``i``'s latents and block values
do not depend on ``n`` (labels do, as the generator's). Factors are standardised with the fixed
statistics of a reference sample, so the same factor in two blocks is the same latent on the same
scale, and a block's randomness (mixing, phases, noise) is keyed by its name or ``key``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from e2s_utils.bands import N_SEASONS
from e2s_utils.data import synthetic as syn
from e2s_utils.data.labels import LabelTask
from e2s_utils.data.reader import is_dev_id
from e2s_utils.data.scene_latents import (
    CHUNK,
    RESOLUTION,
    make_sim_ids,
    sample_latents,
    tasks_from_latents,
)

__all__ = [
    "FACTORS",
    "FACTOR_GROUPS",
    "PRESETS",
    "TASK_FACTORS",
    "TASK_GROUP_FACTORS",
    "BlockSpec",
    "Simulation",
    "factor_values",
    "make_sim_ids",
    "preset",
    "render_block",
    "sample_latents",
    "simulate",
    "spiral",
    "standardized_factor",
    "tasks_from_latents",
]

SIMULATOR_VERSION = "1"
REF_N, REF_SEED = 2048, 20_250_601
"""Size and seed of the reference sample whose statistics standardise every factor."""

STATIC_FACTORS: tuple[str, ...] = (
    *(f"frac_{c}" for c in syn.CLASSES),
    *"biomass_mean biomass_std lst_mean lst_std snow aerosol".split(),
)
SEASONAL_FACTORS: tuple[str, ...] = ("cloud", "nodata")
FACTORS: tuple[str, ...] = ("scene", *STATIC_FACTORS, *SEASONAL_FACTORS)
"""Factors a block can carry: ``scene`` (one-hot, eight dims), static scalars, and seasonal ones
(season ``t``'s value in a 4-season block, the 4-season mean, i.e. the label's latent, in a
1-season block; ``cloud`` in %, ``nodata`` as a fraction)."""
FACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "vegetation": ("frac_forest", "biomass_mean", "biomass_std"),
    "agriculture": ("frac_cropland", "frac_soybean", "frac_corn"),
    "heat": ("lst_mean", "lst_std", "frac_urban", "frac_water", "frac_bare"),
    "atmosphere": SEASONAL_FACTORS,
    "context": ("scene", "frac_grassland", "frac_snow", "snow", "aerosol"),
}
"""Factors grouped by the tasks they serve (``context`` serves none directly)."""
TASK_FACTORS: dict[str, tuple[str, ...]] = {
    "biomass_mean": ("biomass_mean",),
    "biomass_std": ("biomass_std",),
    "crops": ("frac_soybean", "frac_corn"),
    "landcover_aggriculture": ("frac_cropland", "frac_soybean", "frac_corn"),
    "landcover_forest": ("frac_forest",),
    "clouds_reg": ("cloud",),
    "heatisland_mean": ("lst_mean",),
    "heatisland_std": ("lst_std",),
    "nodata": ("nodata",),
    "random_reg": (),
    "random_cls": (),
}
"""The factors each task's label is a noisy linear function of (the random controls: none)."""
TASK_GROUP_FACTORS: tuple[str, ...] = tuple(
    f for g in ("vegetation", "agriculture", "heat", "atmosphere") for f in FACTOR_GROUPS[g]
)

_SPIRAL_OFFSET = 4.0


def _hash_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


@lru_cache(maxsize=4)
def _reference(resolution: int) -> pd.DataFrame:
    return sample_latents(REF_N, REF_SEED, resolution)


def factor_values(latents: pd.DataFrame, factor: str, seasons: int) -> np.ndarray:
    """A factor's raw values, ``(n, dims, seasons)`` (see :data:`FACTORS`)."""
    if factor == "scene":
        onehot = np.eye(len(syn.SCENE_NAMES))[latents["scene"].to_numpy(int)]
        return np.repeat(onehot[:, :, None], seasons, axis=2)
    if factor in SEASONAL_FACTORS:
        per = np.stack([latents[f"{factor}_s{t}"].to_numpy() for t in range(N_SEASONS)], axis=1)
        return (per if seasons == N_SEASONS else per.mean(1, keepdims=True))[:, None, :]
    if factor not in STATIC_FACTORS:
        raise ValueError(f"unknown factor {factor!r}; known factors: {FACTORS}")
    return np.repeat(latents[factor].to_numpy()[:, None, None], seasons, axis=2)


def standardized_factor(
    latents: pd.DataFrame, factor: str, seasons: int, resolution: int = RESOLUTION
) -> np.ndarray:
    """:func:`factor_values` standardised per dimension by the reference sample's mean and std."""
    ref = factor_values(_reference(resolution), factor, seasons)
    mu, sd = ref.mean(axis=(0, 2), keepdims=True), ref.std(axis=(0, 2), keepdims=True)
    return (factor_values(latents, factor, seasons) - mu) / (sd + 1e-12)


def spiral(z: np.ndarray, strength: float, phase: np.ndarray | float = 0.0) -> np.ndarray:
    """The nonlinearity: ``(r cos a, r sin a)`` with ``r = max(z + 4, 0.1)``, ``a = s z + phase``.

    Injective in ``z`` (the radius grows with it), so no information is lost; at strength 0 both
    coordinates are affine in ``z``; strength ``s`` turns the factor by ``s`` radians per standard
    deviation round a spiral whose linear read-out fades: for a Gaussian ``z`` the best linear R²
    is about 0.97, 0.82, 0.47, 0.16 and 0.003 at strengths 0.5, 1, 1.5, 2 and 3.

    Returns:
        ``z``'s shape plus a last axis of 2.
    """
    r = np.maximum(z + _SPIRAL_OFFSET, 0.1)
    a = strength * z + phase
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=-1)


# ------------------------------------------------------------------------------------------------
# blocks
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockSpec:
    """One simulated embedding ``(n, C, T)`` and what it knows, by construction.

    Values: ``scale * P [M v + noise * e ; nuisance_scale * e']``. ``v`` stacks the carried
    factors: each standardised (reference statistics), passed through :func:`spiral` if
    ``nonlinearity > 0`` (two coordinates, centred, unit total variance; a fixed random phase per
    factor dimension), times its weight (weights rescaled to a unit sum of squares and split
    evenly over a factor's dimensions). ``M`` maps ``v`` into the ``S = channels - nuisance``
    signal channels, a fixed random isometry scaled to unit variance per channel (lossless when
    ``S`` is at least the number of views, else a projection that loses information); seasons
    share it. ``e``, ``e'`` are N(0, 1) per sample, channel and season; ``P`` is a fixed random
    channel order. For ``nonlinearity = 0`` and enough channels, a factor of rescaled weight ``w``
    is seen with signal-to-noise ratio ``w² S T / noise²`` (T counts a static factor's repeats):
    blocks with equal ``noise² / S`` carry the same information in different widths.

    Attributes:
        name: block name (the store's model name): letters, digits, ``_`` and ``-``, no ``__``.
        factors: factor (:data:`FACTORS`) -> weight > 0; stored as pairs in :data:`FACTORS` order.
        channels: ``C``, signal plus nuisance channels.
        seasons: ``T``, 1 or 4.
        nonlinearity: :func:`spiral` strength; 0 = linear.
        noise: noise std per signal channel relative to the signal's.
        nuisance: channels of task-free noise (a randomly initialised network's stand-in).
        nuisance_scale: their std relative to a signal channel's.
        scale: multiplier of all values (changes reconstruction losses, not probe scores).
        key: identity of the block's randomness (``None``: ``name``); specs that differ only in
            ``name`` and share a key give identical arrays.
    """

    name: str
    factors: Mapping[str, float] | tuple[tuple[str, float], ...]
    channels: int = 128
    seasons: int = 1
    nonlinearity: float = 0.0
    noise: float = 1.0
    nuisance: int = 0
    nuisance_scale: float = 3.0
    scale: float = 1.0
    key: str | None = None

    def __post_init__(self) -> None:
        name = self.name
        if not name or "__" in name or not all(c.isalnum() or c in "_-" for c in name):
            raise ValueError(f"block name {name!r}: use letters, digits, '_' or '-', not '__'")
        factors = self.weights
        unknown = sorted(set(factors) - set(FACTORS))
        if unknown:
            raise ValueError(f"block {name!r}: unknown factor(s) {unknown}; known: {FACTORS}")
        if not all(np.isfinite(w) and w > 0 for w in factors.values()):
            raise ValueError(f"block {name!r}: factor weights must be finite and > 0: {factors}")
        object.__setattr__(
            self, "factors", tuple((f, float(factors[f])) for f in FACTORS if f in factors)
        )
        if self.seasons not in (1, N_SEASONS):
            raise ValueError(f"block {name!r}: seasons must be 1 or {N_SEASONS}")
        if self.channels < 1 or not 0 <= self.nuisance <= self.channels - bool(factors):
            raise ValueError(f"block {name!r}: need 0 <= nuisance < channels (= if no factor)")
        for attr in ("nonlinearity", "noise", "nuisance_scale", "scale"):
            if not (np.isfinite(getattr(self, attr)) and getattr(self, attr) >= 0):
                raise ValueError(f"block {name!r}: {attr} must be finite and >= 0")

    @property
    def weights(self) -> dict[str, float]:
        """Factor -> weight, in :data:`FACTORS` order."""
        pairs = self.factors
        return dict(pairs.items() if isinstance(pairs, Mapping) else pairs)

    @property
    def shape(self) -> tuple[int, int]:
        """Per-sample ``(C, T)``."""
        return self.channels, self.seasons

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (factors as a dict)."""
        return {**asdict(self), "factors": self.weights}


def _views(
    spec: BlockSpec, latents: pd.DataFrame, rng: np.random.Generator, res: int
) -> np.ndarray:
    """The weighted factor views of one block, ``(n, V, T)``."""
    norm = np.sqrt(sum(w * w for w in spec.weights.values()))
    views = []
    for f, w in spec.weights.items():
        z = standardized_factor(latents, f, spec.seasons, res)
        d, s = z.shape[1], spec.nonlinearity
        if s > 0:
            phase = rng.uniform(0, 2 * np.pi, size=(1, d, 1))
            ref = spiral(standardized_factor(_reference(res), f, spec.seasons, res), s, phase)
            mu = ref.mean(axis=(0, 2), keepdims=True)
            sd = np.sqrt(((ref - mu) ** 2).sum(-1).mean(axis=(0, 2)))[None, :, None, None]
            z = ((spiral(z, s, phase) - mu) / sd).transpose(0, 1, 3, 2).reshape(len(z), 2 * d, -1)
        views.append(z * (w / norm / np.sqrt(d)))
    return np.concatenate(views, axis=1)


def render_block(
    spec: BlockSpec, latents: pd.DataFrame, seed: int, resolution: int = RESOLUTION
) -> np.ndarray:
    """The float32 embeddings ``(n, C, T)`` of one block (:class:`BlockSpec`) for these latents.

    ``latents`` must be a simulation's rows from its first on (noise streams follow the row
    position); ``resolution`` selects the reference statistics and should be the latents'.
    """
    n, (c, t) = len(latents), (spec.channels, spec.seasons)
    key = _hash_int("block", spec.name if spec.key is None else spec.key)
    rng = np.random.default_rng([seed, key, 0xB10C])
    n_sig = c - spec.nuisance
    out = np.empty((n, c, t), np.float32)
    for j in range(-(-n // CHUNK)):  # one noise stream per CHUNK rows: prefix-stable
        e = np.random.default_rng([seed, key, 0x0015E, j]).standard_normal(
            (CHUNK, c, t), np.float32
        )
        rows = slice(j * CHUNK, min(n, (j + 1) * CHUNK))
        e = e[: rows.stop - rows.start]
        out[rows, :n_sig] = spec.noise * e[:, :n_sig]
        out[rows, n_sig:] = spec.nuisance_scale * e[:, n_sig:]
    if spec.factors:
        views = _views(spec, latents, rng, resolution)
        g = rng.standard_normal((n_sig, views.shape[1]))
        if n_sig >= views.shape[1]:
            mix = np.linalg.qr(g)[0] * np.sqrt(n_sig)
        else:
            mix = np.linalg.qr(g.T)[0].T * np.sqrt(views.shape[1])
        out[:, :n_sig] += np.einsum("nvt,sv->nst", views, mix, optimize=True).astype(np.float32)
    out = out[:, rng.permutation(c)]
    return out * np.float32(spec.scale) if spec.scale != 1.0 else out


# ------------------------------------------------------------------------------------------------
# simulations
# ------------------------------------------------------------------------------------------------
@dataclass
class Simulation:
    """A simulated dataset: the latents (index = ids), each block's spec and float32 ``(n, C, T)``
    array (rows in id order), and the eleven tasks, with the seed and resolution that made them."""

    seed: int
    resolution: int
    latents: pd.DataFrame
    specs: dict[str, BlockSpec]
    blocks: dict[str, np.ndarray]
    tasks: dict[str, LabelTask]

    @property
    def ids(self) -> list[str]:
        """Sample ids, in row order."""
        return list(self.latents.index)

    def split(self) -> dict[str, list[str]]:
        """Dev and eval ids by :func:`~e2s_utils.data.reader.is_dev_id` (as ``split_ids``)."""
        dev = {i: is_dev_id(i) for i in self.ids}
        return {"dev": [i for i in self.ids if dev[i]], "eval": [i for i in self.ids if not dev[i]]}

    def flat(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Blocks flattened channel-major (time fastest) and concatenated, ``(n, sum C*T)``."""
        names = list(self.blocks) if names is None else list(names)
        return np.concatenate([self.blocks[b].reshape(len(self.ids), -1) for b in names], axis=1)


def simulate(
    blocks: str | Sequence[BlockSpec], n: int, seed: int = 0, resolution: int = RESOLUTION
) -> Simulation:
    """Simulate ``n`` samples: latents, every block and the eleven tasks.

    Args:
        blocks: a preset name (:func:`preset` with its defaults) or specs with unique names.
        n: number of samples (the real release has 13,260).
        seed: simulation seed.
        resolution: latent sampler resolution (:func:`sample_latents`).
    """
    specs = preset(blocks) if isinstance(blocks, str) else tuple(blocks)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"block names must be unique, got {names}")
    latents = sample_latents(n, seed, resolution)
    return Simulation(
        seed=seed,
        resolution=resolution,
        latents=latents,
        specs={s.name: s for s in specs},
        blocks={s.name: render_block(s, latents, seed, resolution) for s in specs},
        tasks=tasks_from_latents(latents, seed),
    )


# ------------------------------------------------------------------------------------------------
# presets
# ------------------------------------------------------------------------------------------------
PRESETS: dict[str, str] = {
    "complementary": "veg, agri, heat (C = width), atmo (C = width / 4, T = 4): one group each",
    "overlapping": "ov1-ov3, ov4: complementary's shapes, every block with all four groups",
    "duplicated": "complementary plus veg_copy, an exact copy of veg",
    "nuisance": "complementary plus randvit: width task-free channels of std 3",
    "access": "all four groups in narrow (16 channels, wide's information), wide (C = width), "
    "warped and scrambled (spiral strength 1.5 and 3)",
}
"""Named block sets for the controlled fusion experiments (``width``: floats per block)."""


def preset(name: str, width: int = 512, noise: float = 1.0) -> tuple[BlockSpec, ...]:
    """The blocks of a preset (:data:`PRESETS`).

    Args:
        name: preset name.
        width: floats per sample of each block (``C * T``), a multiple of 4 and at least 16.
        noise: noise std per signal channel (``narrow`` scales it to keep wide's information).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if width < 16 or width % N_SEASONS:
        raise ValueError(f"width must be a multiple of {N_SEASONS} and >= 16, got {width}")
    task_all = dict.fromkeys(TASK_GROUP_FACTORS, 1.0)
    quarter = width // N_SEASONS
    if name == "access":
        return (
            BlockSpec("narrow", task_all, 16, noise=noise * np.sqrt(16 / width)),
            BlockSpec("wide", task_all, width, noise=noise),
            BlockSpec("warped", task_all, width, noise=noise, nonlinearity=1.5),
            BlockSpec("scrambled", task_all, width, noise=noise, nonlinearity=3.0),
        )
    if name == "overlapping":
        return (
            *(BlockSpec(f"ov{i}", task_all, width, noise=noise) for i in (1, 2, 3)),
            BlockSpec("ov4", task_all, quarter, N_SEASONS, noise=noise),
        )
    groups = {g: dict.fromkeys(FACTOR_GROUPS[g], 1.0) for g in FACTOR_GROUPS}
    base = (
        BlockSpec("veg", groups["vegetation"], width, noise=noise),
        BlockSpec("agri", groups["agriculture"], width, noise=noise),
        BlockSpec("heat", groups["heat"], width, noise=noise),
        BlockSpec("atmo", groups["atmosphere"], quarter, N_SEASONS, noise=noise),
    )
    if name == "duplicated":
        return (*base, BlockSpec("veg_copy", groups["vegetation"], width, noise=noise, key="veg"))
    if name == "nuisance":
        return (*base, BlockSpec("randvit", {}, width, noise=noise, nuisance=width))
    return base
