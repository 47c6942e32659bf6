"""Profiles (``smoke``, ``demo``, ``full``): small frozen configurations, one per stage, nested.

A :class:`Profile` holds a :class:`DataConfig`, an :class:`ExtractConfig`, the compressor's
:class:`~e2s_utils.fusion.FusionConfig`, the benchmark :class:`~e2s_utils.evaluate.Protocol`, an
:class:`AblationConfig`, a :class:`LongConfig` and a :class:`ControlledConfig`; the studies derive
their runs from these objects (never from loose fields). Notebooks and the runner speak flat
parameter names (papermill passes literals); :data:`PARAMETERS` maps each to its place in the
profile, and :func:`get_profile` applies them with type checks. A notebook's ``parameters`` cell
holds literals only (``None``: "the profile's value"); the next cell calls :func:`setup`, which
resolves the profile, validates names and types, seeds, picks the device and makes the folders.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from e2s_utils import paths
from e2s_utils.errors import E2SError
from e2s_utils.evaluate.protocol import PROTOCOL_NAMES, Protocol, get_protocol
from e2s_utils.fusion.config import FusionConfig
from e2s_utils.runtime import pick_device, seed_everything

ProfileName = Literal["smoke", "demo", "full"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("smoke", "demo", "full")
Preset = Literal["as_intended", "as_published_code"]
Size = Literal["micro", "tiny", "full"]
Setting = Literal["transductive", "inductive"]


class ConfigError(E2SError, ValueError):
    """A parameter name, type or value that does not fit."""


def foundation_models() -> tuple[str, ...]:
    """The registry's foundation models, in canonical order (variants left out)."""
    from e2s_utils.models import catalog

    return catalog.foundation_models()


def baselines() -> tuple[str, ...]:
    """The registry's baselines, in canonical order."""
    from e2s_utils.models import catalog

    return catalog.baselines()


@dataclass(frozen=True)
class DataConfig:
    """The dataset.

    Attributes:
        synthetic: use the synthetic dataset (the real format) instead of ``E2S_DATA_DIR``.
        n_samples: synthetic dataset size (ignored on real data).
        seed: seed of the synthetic generator.
        setting: ``transductive`` (the paper: train on the probed eval split) or ``inductive``.
    """

    synthetic: bool
    n_samples: int
    seed: int = 0
    setting: Setting = "transductive"


@dataclass(frozen=True)
class ExtractConfig:
    """The models and how their embeddings are extracted.

    Attributes:
        size: ``micro`` / ``tiny`` (small configs of the same architectures) or ``full``.
        preset: the main input-recipe preset (``as_intended``: the paper's text).
        models: the foundation models extracted and fused (``None``: the registry's).
        baselines: the baselines extracted beside them (``None``: the registry's).
        batch_size: cubes per forward pass.
        num_workers: DataLoader workers.
    """

    size: Size
    preset: Preset = "as_intended"
    models: tuple[str, ...] | None = None
    baselines: tuple[str, ...] | None = None
    batch_size: int = 8
    num_workers: int = 0

    @property
    def foundation(self) -> tuple[str, ...]:
        """The foundation models (the registry's when not set)."""
        return tuple(self.models) if self.models is not None else foundation_models()

    @property
    def all_models(self) -> tuple[str, ...]:
        """Foundation models, then baselines: what the extraction notebook is swept over."""
        base = tuple(self.baselines) if self.baselines is not None else baselines()
        return self.foundation + base


@dataclass(frozen=True)
class AblationConfig:
    """The ablation study (Table 1).

    Attributes:
        seeds: compressor seeds per fusion row (``seed``, ``seed + 1``, ...).
        epochs: training epochs of each compressor (paper: 160).
        checkpoint_every: checkpoint (and evaluation) cadence in epochs.
        presets: the presets whose stores the paper's rows run on, each row once per preset
            (``as_published_code``: what the paper's numbers came from; ``as_intended``: its text).
        init_seeds: at least this many seeds for rows reading a network the preset leaves random
            (Prithvi, Scale-MAE ``as_published_code``, run unseeded): seed ``i`` uses ``seed + i``.
        pca_components: components of the PCA row (capped by the training samples).
        include_pca, include_raw: add PCA of the fused raw embeddings; the raw ones probed directly.
    """

    seeds: int
    epochs: int
    checkpoint_every: int
    presets: tuple[Preset, ...] = ("as_published_code", "as_intended")
    init_seeds: int = 3
    pca_components: int = 1024
    include_pca: bool = True
    include_raw: bool = True


@dataclass(frozen=True)
class LongConfig:
    """The long-training (double-descent) study.

    Attributes:
        epochs: training epochs (about 30x the best-Q̄ epoch: 4,800 at the paper's setting).
        n_checkpoints: log-spaced checkpoints (epoch 0 and the last included).
    """

    epochs: int
    n_checkpoints: int


@dataclass(frozen=True)
class ControlledConfig:
    """The controlled study on simulated embeddings (:mod:`~e2s_utils.studies.controlled`).

    Attributes:
        n: simulated samples (the release has 13,260: about 8,150 eval ids are probed).
        width: floats per simulated block (E1, E2, E3).
        out_dim, hidden: compressor outputs and hidden width (paper: 1,024, which costs 10x more
            to probe, and 2,048).
        train_n, val_n: eval ids the compressor trains on (E1, E2); dev ids of its validation MSE.
        epochs: training epochs of E1 and E2.
        mse_epochs: E2's probed checkpoints besides the last (MSE against Q̄).
        nuisance_weights: E2's loss weights of the task-free block (2: the paper's Prithvi's).
        long_train_n, long_epochs, long_lr, long_n_checkpoints: E3's training-set sizes (eval
            ids), epochs, learning rate (no dropout) and log-spaced checkpoints (0 and the last).
        access_width, access_blocks, short_epochs: E4's width, blocks (the ``access`` preset's)
            and short linear probe's epochs (the protocol's are the long one).
        seed: simulation seed.
        n_resamples: bootstrap resamples of every interval.
        threads: torch CPU threads per unit (``None``: leave torch's setting).
    """

    n: int
    width: int = 128
    out_dim: int = 64
    hidden: int = 2048
    train_n: int = 2048
    val_n: int = 1024
    epochs: int = 6
    mse_epochs: tuple[int, ...] = (2,)
    nuisance_weights: tuple[float, ...] = (1.0, 2.0, 0.25)
    long_train_n: tuple[int, ...] = (128,)
    long_epochs: int = 200
    long_lr: float = 1e-3
    long_n_checkpoints: int = 6
    access_width: int = 128
    access_blocks: tuple[str, ...] = ("narrow", "wide", "warped", "scrambled")
    short_epochs: int = 10
    seed: int = 0
    n_resamples: int = 2000
    threads: int | None = 1


@dataclass(frozen=True)
class Profile:
    """Every knob a stage reads, as one frozen configuration per profile name.

    Attributes:
        name: the profile's name.
        data: the dataset.
        extract: the models and their extraction.
        fusion: the compressor (its ``models`` are the profile's foundation models).
        protocol: the benchmark protocol every evaluation runs under.
        ablation: the ablation study.
        long: the long-training study.
        controlled: the controlled study on simulated embeddings.
        seed: the global seed (paper: 1337): extraction, compressor, seeding.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:i]``.
        cell_timeout_s: the runner's per-cell timeout.
        progress: show progress bars.
        workers: processes computing a study's independent units side by side on the CPU.
        prune_snapshots: delete a finished run's snapshots once evaluated, keeping best-Q̄, best-MSE,
            last and every checkpoint's embeddings (:func:`~e2s_utils.fusion.prune_snapshots`);
            an ablation unit keeps none, its numbers being cached. ``False`` keeps every one.
    """

    name: ProfileName
    data: DataConfig
    extract: ExtractConfig
    fusion: FusionConfig
    protocol: Protocol
    ablation: AblationConfig
    long: LongConfig
    controlled: ControlledConfig
    seed: int = 1337
    device: str = "auto"
    cell_timeout_s: int = 3600
    progress: bool = True
    prune_snapshots: bool = True
    workers: int = 1


def _fusion(epochs: int, batch_size: int, checkpoint_every: int) -> FusionConfig:
    return FusionConfig(
        models=foundation_models(),
        epochs=epochs,
        batch_size=batch_size,
        checkpoint_every=checkpoint_every,
        seed=1337,
    )


def _profiles() -> dict[str, Profile]:
    return {
        "smoke": Profile(
            name="smoke",
            data=DataConfig(synthetic=True, n_samples=48),
            extract=ExtractConfig(size="micro"),
            fusion=_fusion(epochs=4, batch_size=8, checkpoint_every=2),
            protocol=get_protocol("paper", k_folds=5),
            ablation=AblationConfig(seeds=1, epochs=2, checkpoint_every=1),
            long=LongConfig(epochs=16, n_checkpoints=5),
            controlled=ControlledConfig(
                n=640,
                width=32,
                out_dim=16,
                hidden=64,
                train_n=128,
                val_n=64,
                epochs=2,
                mse_epochs=(1,),
                nuisance_weights=(1.0, 2.0),
                long_train_n=(32,),
                long_epochs=12,
                long_n_checkpoints=4,
                access_width=32,
                access_blocks=("narrow", "wide", "warped"),
                n_resamples=200,
            ),
            cell_timeout_s=600,
            progress=False,
        ),
        "demo": Profile(
            name="demo",
            data=DataConfig(synthetic=True, n_samples=320),
            extract=ExtractConfig(size="micro"),
            fusion=_fusion(epochs=160, batch_size=32, checkpoint_every=10),
            protocol=get_protocol("paper"),
            ablation=AblationConfig(seeds=3, epochs=16, checkpoint_every=8),
            long=LongConfig(epochs=480, n_checkpoints=12),
            controlled=ControlledConfig(
                n=13260,
                train_n=1024,
                val_n=512,
                epochs=6,
                mse_epochs=(2,),
                nuisance_weights=(1.0, 2.0),
                long_epochs=60,
                long_n_checkpoints=5,
                access_width=64,
                access_blocks=("narrow", "wide", "warped"),
            ),
            workers=2,
        ),
        "full": Profile(
            name="full",
            data=DataConfig(synthetic=False, n_samples=0),
            extract=ExtractConfig(size="full", batch_size=32, num_workers=8),
            fusion=_fusion(epochs=160, batch_size=32, checkpoint_every=5),
            protocol=get_protocol("paper"),
            ablation=AblationConfig(seeds=1, epochs=160, checkpoint_every=5),
            long=LongConfig(epochs=4800, n_checkpoints=24),
            controlled=ControlledConfig(n=13260, long_train_n=(128, 512), long_epochs=400),
            cell_timeout_s=7 * 24 * 3600,
        ),
    }


#: Flat parameter name -> (section, field) of the profile; section ``""`` is the profile itself.
PARAMETERS: dict[str, tuple[str, str]] = {
    "synthetic": ("data", "synthetic"),
    "n_samples": ("data", "n_samples"),
    "data_seed": ("data", "seed"),
    "setting": ("data", "setting"),
    "model_size": ("extract", "size"),
    "preset": ("extract", "preset"),
    "models": ("extract", "models"),
    "baselines": ("extract", "baselines"),
    "extract_batch_size": ("extract", "batch_size"),
    "num_workers": ("extract", "num_workers"),
    "fusion_epochs": ("fusion", "epochs"),
    "fusion_batch_size": ("fusion", "batch_size"),
    "checkpoint_every": ("fusion", "checkpoint_every"),
    "protocol": ("protocol", "name"),
    "eval_k_folds": ("protocol", "k_folds"),
    "eval_epochs": ("protocol", "epochs"),
    "ablation_seeds": ("ablation", "seeds"),
    "ablation_epochs": ("ablation", "epochs"),
    "ablation_checkpoint_every": ("ablation", "checkpoint_every"),
    "long_epochs": ("long", "epochs"),
    "long_n_checkpoints": ("long", "n_checkpoints"),
    "controlled_n": ("controlled", "n"),
    "controlled_epochs": ("controlled", "epochs"),
    "controlled_long_epochs": ("controlled", "long_epochs"),
    "controlled_seed": ("controlled", "seed"),
    "seed": ("", "seed"),
    "device": ("", "device"),
    "cell_timeout_s": ("", "cell_timeout_s"),
    "progress": ("", "progress"),
    "prune_snapshots": ("", "prune_snapshots"),
}
_SECTIONS: dict[str, Any] = {
    "data": DataConfig,
    "extract": ExtractConfig,
    "fusion": FusionConfig,
    "protocol": Protocol,
    "ablation": AblationConfig,
    "long": LongConfig,
    "controlled": ControlledConfig,
    "": Profile,
}

#: Parameters a notebook may take beside the profile's, with their types.
NOTEBOOK_EXTRAS: dict[str, dict[str, Any]] = {
    "10_data_tour": {},
    "20_extract": {"model": str},
    "30_fusion": {},
    "40_ablation": {},
    "50_long_training": {},
    "60_controlled_fusion": {},
}

_PROFILES: dict[str, Profile] | None = None


def profiles() -> dict[str, Profile]:
    """The three presets, built once (they read the registry's model list)."""
    global _PROFILES
    if _PROFILES is None:
        _PROFILES = _profiles()
    return _PROFILES


def default_profile_name() -> ProfileName:
    """``E2S_PROFILE`` if set, else ``full`` when ``E2S_DATA_DIR`` is configured, else ``demo``."""
    env = os.environ.get("E2S_PROFILE", "").strip()
    if env:
        if env not in PROFILE_NAMES:
            raise ConfigError(
                f"E2S_PROFILE={env!r} is not a profile; choose one of {PROFILE_NAMES}"
            )
        return env
    return "full" if paths.data_dir() is not None else "demo"


def parameter_type(name: str) -> Any:
    """The type annotation a flat parameter must fit.

    Raises:
        ConfigError: for an unknown parameter.
    """
    if name not in PARAMETERS:
        raise ConfigError(f"unknown parameter {name!r}; known: {sorted(PARAMETERS)}")
    if name == "protocol":
        return Literal[PROTOCOL_NAMES]
    section, field_name = PARAMETERS[name]
    return typing.get_type_hints(_SECTIONS[section])[field_name]


def get_profile(name: str | None = None, **overrides: Any) -> Profile:
    """The named profile (``None``: :func:`default_profile_name`) with validated overrides.

    Overrides use the flat names of :data:`PARAMETERS`; ``None`` values are ignored. ``protocol``
    switches the benchmark preset (the profile's own protocol overrides, e.g. the smoke profile's
    fewer folds, are kept); ``seed`` also seeds the compressor; ``models`` is also what it fuses.

    Raises:
        ConfigError: for an unknown profile or parameter, or a value of the wrong type.
    """
    name = default_profile_name() if name is None else name
    if name not in PROFILE_NAMES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {PROFILE_NAMES}")
    base = profiles()[name]
    sections: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    for key, value in overrides.items():
        expected = parameter_type(key)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        check_type(key, value, expected)
        section, field_name = PARAMETERS[key]
        sections[section][field_name] = value
    return _apply(base, sections)


def _apply(base: Profile, sections: dict[str, dict[str, Any]]) -> Profile:
    top = dict(sections[""])
    for section in ("data", "extract", "ablation", "long", "controlled"):
        if sections[section]:
            top[section] = dataclasses.replace(getattr(base, section), **sections[section])
    proto_changes = dict(sections["protocol"])
    protocol = base.protocol
    if "name" in proto_changes:
        kept = {f: getattr(protocol, f) for f in protocol.overrides}
        protocol = get_protocol(proto_changes.pop("name"), **kept)
    top["protocol"] = protocol.with_overrides(**proto_changes)
    extract = top.get("extract", base.extract)
    fusion_changes = dict(sections["fusion"])
    fusion_changes["models"] = extract.foundation
    fusion_changes["seed"] = top.get("seed", base.seed)
    if fusion_changes["models"] != base.fusion.models:
        fusion_changes["loss_weights"] = None  # the registry's weights of the new models
    top["fusion"] = dataclasses.replace(base.fusion, **fusion_changes)
    return dataclasses.replace(base, **top)


def flat_parameters(profile: Profile) -> dict[str, Any]:
    """Every flat parameter's resolved value (what provenance records), plus the protocol."""
    out: dict[str, Any] = {"profile": profile.name}
    for key, (section, field_name) in PARAMETERS.items():
        owner = profile if section == "" else getattr(profile, section)
        out[key] = getattr(owner, field_name)
    out["protocol"] = profile.protocol.to_dict()
    out["models"] = list(profile.extract.foundation)
    out["baselines"] = [m for m in profile.extract.all_models if m not in out["models"]]
    return out


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


#: Notebooks whose embeddings are simulated blocks (:mod:`e2s_utils.data.simulator`).
SIMULATED_NOTEBOOKS: frozenset[str] = frozenset({"60_controlled_fusion"})


@dataclass
class RunContext:
    """What one notebook (or command-line stage) run knows after :func:`setup`.

    Attributes:
        notebook: the notebook's stem, e.g. ``30_fusion``.
        profile: the resolved profile, overrides applied.
        params: every resolved parameter (flat names, notebook extras), for provenance.
        device: the torch device string in use.
        out_dir: ``<output_root>/<profile>``, where stages of this profile write.
    """

    notebook: str
    profile: Profile
    params: dict[str, Any]
    device: str
    out_dir: Path
    stamps: list[str] = dataclasses.field(default_factory=list)

    def add_stamp(self, text: str | None) -> None:
        """Add a line every later figure and table of this run carries (e.g. the split's)."""
        if text and text not in self.stamps:
            self.stamps.append(text)

    @property
    def data_root(self) -> Path:
        """The dataset root: the synthetic one of this profile, or ``E2S_DATA_DIR``."""
        if self.profile.data.synthetic:
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
        """The label every figure of a synthetic or randomly initialised run carries (a notebook
        of :data:`SIMULATED_NOTEBOOKS` reads neither dataset nor models: its stamps label it)."""
        parts = []
        real = self.notebook not in SIMULATED_NOTEBOOKS
        if real and self.profile.data.synthetic:
            parts.append("SYNTHETIC data")
        if real and (self.profile.extract.size != "full" or paths.weights_dir() is None):
            parts.append("randomly initialised models")
        text = None
        if parts:
            text = f"{' + '.join(parts)} (profile '{self.profile.name}') - not the paper's numbers"
        return "; ".join([t for t in [text, *self.stamps] if t]) or None


def setup(notebook: str, profile: str | None = None, **params: Any) -> RunContext:
    """Resolve and validate a notebook's parameters, seed, pick the device, make output folders.

    Args:
        notebook: the notebook's stem (``NN_topic``).
        profile: the profile name, or ``None`` for :func:`default_profile_name`.
        **params: the notebook's other parameters (flat names); ``None`` means "the profile's".

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
    resolved = {**flat_parameters(prof), **extras}
    return RunContext(notebook, prof, resolved, device, out_dir)
