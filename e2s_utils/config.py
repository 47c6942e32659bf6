"""Profiles (``smoke``, ``demo``, ``full``) and per-notebook parameter resolution and validation.

A notebook's ``parameters`` cell holds literals only; ``None`` means "take the profile's value".
The cell after it calls :func:`setup`, which resolves the profile, validates every name and type,
seeds every generator, picks the device and makes the output folders.
"""

from __future__ import annotations

import dataclasses
import os
import random
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from e2s_utils import paths

ProfileName = Literal["smoke", "demo", "full"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("smoke", "demo", "full")
FOUNDATION_MODELS: tuple[str, ...] = ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")
BASELINES: tuple[str, ...] = ("engineered", "rcf", "mean_baseline", "random")


@dataclass(frozen=True)
class Profile:
    """Every knob a stage reads; one frozen preset per profile name.

    Attributes:
        name: the profile's name.
        synthetic: use the synthetic dataset (written in the real format) instead of ``E2S_DATA_DIR``.
        n_samples: synthetic dataset size (ignored on real data; 0 there means "all samples").
        data_seed: seed of the synthetic generator.
        model_size: ``micro`` / ``tiny`` (small configs of the same architectures) or ``full``.
        preset: input recipe preset, ``as_intended`` (the paper's text) or ``as_published_code``.
        models: the foundation models extracted and fused.
        baselines: the baselines extracted beside them.
        extract_batch_size: cubes per forward pass during extraction.
        num_workers: DataLoader workers.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:i]``.
        fusion_epochs: compressor training epochs (paper: 160).
        fusion_batch_size: compressor batch size (paper: 32, drop_last).
        checkpoint_every: checkpoint cadence in epochs (paper: 5; epoch 0 included).
        eval_k_folds: NeuCo-Bench folds per task (benchmark default 40).
        eval_epochs: probe epochs per fold (benchmark default 10).
        ablation_seeds: compressor seeds per ablation row.
        ablation_epochs: training epochs of each ablation run.
        ablation_checkpoint_every: checkpoint cadence of ablation runs.
        long_epochs: epochs of the long-training (double-descent) run.
        long_n_checkpoints: log-spaced checkpoints of the long run.
        seed: global seed (paper: 1337).
        cell_timeout_s: the runner's per-cell timeout.
        progress: show progress bars.
    """

    name: ProfileName
    synthetic: bool
    n_samples: int
    data_seed: int
    model_size: Literal["micro", "tiny", "full"]
    preset: Literal["as_intended", "as_published_code"]
    models: tuple[str, ...]
    baselines: tuple[str, ...]
    extract_batch_size: int
    num_workers: int
    device: str
    fusion_epochs: int
    fusion_batch_size: int
    checkpoint_every: int
    eval_k_folds: int
    eval_epochs: int
    ablation_seeds: int
    ablation_epochs: int
    ablation_checkpoint_every: int
    long_epochs: int
    long_n_checkpoints: int
    seed: int
    cell_timeout_s: int
    progress: bool = field(default=True)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        synthetic=True,
        n_samples=48,
        data_seed=0,
        model_size="micro",
        preset="as_intended",
        models=FOUNDATION_MODELS,
        baselines=BASELINES,
        extract_batch_size=8,
        num_workers=0,
        device="auto",
        fusion_epochs=4,
        fusion_batch_size=8,
        checkpoint_every=2,
        eval_k_folds=5,
        eval_epochs=10,
        ablation_seeds=1,
        ablation_epochs=2,
        ablation_checkpoint_every=1,
        long_epochs=16,
        long_n_checkpoints=5,
        seed=1337,
        cell_timeout_s=600,
        progress=False,
    ),
    "demo": Profile(
        name="demo",
        synthetic=True,
        n_samples=320,
        data_seed=0,
        model_size="tiny",
        preset="as_intended",
        models=FOUNDATION_MODELS,
        baselines=BASELINES,
        extract_batch_size=8,
        num_workers=0,
        device="auto",
        fusion_epochs=160,
        fusion_batch_size=32,
        checkpoint_every=10,
        eval_k_folds=40,
        eval_epochs=10,
        ablation_seeds=3,
        ablation_epochs=16,
        ablation_checkpoint_every=8,
        long_epochs=480,
        long_n_checkpoints=12,
        seed=1337,
        cell_timeout_s=3600,
        progress=True,
    ),
    "full": Profile(
        name="full",
        synthetic=False,
        n_samples=0,
        data_seed=0,
        model_size="full",
        preset="as_intended",
        models=FOUNDATION_MODELS,
        baselines=BASELINES,
        extract_batch_size=32,
        num_workers=8,
        device="auto",
        fusion_epochs=160,
        fusion_batch_size=32,
        checkpoint_every=5,
        eval_k_folds=40,
        eval_epochs=10,
        ablation_seeds=1,
        ablation_epochs=160,
        ablation_checkpoint_every=5,
        long_epochs=4800,
        long_n_checkpoints=24,
        seed=1337,
        cell_timeout_s=7 * 24 * 3600,
        progress=True,
    ),
}

#: Parameters a notebook may take beside ``profile`` and the profile's fields, with their types.
NOTEBOOK_EXTRAS: dict[str, dict[str, Any]] = {
    "10_data_tour": {},
    "20_extract": {"model": str},
    "30_fusion": {},
    "40_ablation": {},
    "50_long_training": {},
}


class ConfigError(ValueError):
    """A parameter name, type or value that does not fit."""


def default_profile_name() -> ProfileName:
    """``E2S_PROFILE`` if set, else ``full`` when ``E2S_DATA_DIR`` is configured, else ``demo``."""
    env = os.environ.get("E2S_PROFILE", "").strip()
    if env:
        if env not in PROFILES:
            raise ConfigError(
                f"E2S_PROFILE={env!r} is not a profile; choose one of {PROFILE_NAMES}"
            )
        return env  # type: ignore[return-value]
    return "full" if paths.data_dir() is not None else "demo"


def get_profile(name: str | None = None, **overrides: Any) -> Profile:
    """Return the named profile (``None``: :func:`default_profile_name`) with validated overrides.

    Overrides whose value is ``None`` are ignored (they mean "the profile's value").

    Raises:
        ConfigError: for an unknown profile, an unknown field or a value of the wrong type.
    """
    name = default_profile_name() if name is None else name
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {PROFILE_NAMES}")
    base = PROFILES[name]
    hints = typing.get_type_hints(Profile)
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in hints:
            raise ConfigError(f"unknown parameter {key!r}; profile fields are {sorted(hints)}")
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(value)
        check_type(key, value, hints[key])
        changes[key] = value
    return dataclasses.replace(base, **changes)


def check_type(name: str, value: Any, expected: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` fits the annotation ``expected``."""
    if not _fits(value, expected):
        raise ConfigError(f"parameter {name!r} = {value!r} does not fit type {expected}")


def _fits(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args))
    if expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(device: str = "auto") -> str:
    """Resolve ``auto`` to ``cuda`` when a GPU is visible, else ``cpu``; validate anything else."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA device is visible; use 'cpu'")
    torch.device(device)  # raises on a malformed name
    return device


@dataclass
class RunContext:
    """What one notebook (or CLI stage) run knows after :func:`setup`.

    Attributes:
        notebook: the notebook's stem, e.g. ``30_fusion``.
        profile: the resolved profile, overrides applied.
        params: every resolved parameter (profile fields plus notebook extras), for provenance.
        device: the torch device string in use.
        out_dir: ``<output_root>/<profile>``, where stages of this profile write.
    """

    notebook: str
    profile: Profile
    params: dict[str, Any]
    device: str
    out_dir: Path

    @property
    def data_root(self) -> Path:
        """The dataset root: the synthetic one of this profile, or ``E2S_DATA_DIR``."""
        if self.profile.synthetic:
            return self.out_dir / "synthetic"
        root = paths.data_dir()
        if root is None:
            raise ConfigError(
                f"profile {self.profile.name!r} needs the real data: set E2S_DATA_DIR to the "
                "SSL4EO-S12-downstream root (see data/README.md), or run with profile='demo'"
            )
        return root

    @property
    def banner(self) -> str | None:
        """The label every figure of a synthetic or randomly initialised run carries."""
        parts = []
        if self.profile.synthetic:
            parts.append("SYNTHETIC data")
        if self.profile.model_size != "full" or paths.weights_dir() is None:
            parts.append("randomly initialised models")
        if not parts:
            return None
        return f"{' + '.join(parts)} (profile '{self.profile.name}') - not the paper's numbers"


def setup(notebook: str, profile: str | None = None, **params: Any) -> RunContext:
    """Resolve and validate a notebook's parameters, seed, pick the device, make output folders.

    Args:
        notebook: the notebook's stem (``NN_topic``).
        profile: the profile name, or ``None`` for :func:`default_profile_name`.
        **params: the notebook's other parameters; ``None`` means "the profile's value".

    Returns:
        The run context.

    Raises:
        ConfigError: for an unknown notebook, parameter name, type or profile.
    """
    if notebook not in NOTEBOOK_EXTRAS:
        raise ConfigError(f"unknown notebook {notebook!r}; known: {sorted(NOTEBOOK_EXTRAS)}")
    extras_types = NOTEBOOK_EXTRAS[notebook]
    extras = {k: v for k, v in params.items() if k in extras_types}
    for key, value in extras.items():
        check_type(key, value, extras_types[key])
    prof = get_profile(profile, **{k: v for k, v in params.items() if k not in extras_types})
    device = pick_device(prof.device)
    seed_everything(prof.seed)
    out_dir = paths.profile_dir(prof.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = {**dataclasses.asdict(prof), **extras}
    return RunContext(
        notebook=notebook, profile=prof, params=resolved, device=device, out_dir=out_dir
    )
