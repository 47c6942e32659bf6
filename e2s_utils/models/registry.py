"""The model registry: one :class:`ModelSpec` per foundation model or baseline.

A spec names a model, says how its input is prepared in each preset (:class:`InputRecipe`), what
it returns (``(C, T)`` per sample), where its official checkpoint comes from
(:class:`CheckpointInfo`) and how to build it. :func:`build_extractor` turns a name into a ready
:class:`Extractor`: seeded random initialisation, then, where a checkpoint applies, strict loading.

Foundation models live in one module each (``copernicusfm``, ``dofa``, ``croma``, ``prithvi``,
``scalemae``) and register themselves on import; the baselines register from
``e2s_utils.models.baselines``. Every module of the ``e2s_utils.models`` package (apart from the
support modules in :data:`SUPPORT_MODULES`) is imported lazily the first time the registry is
queried, so a new model is one module holding one :func:`register` call.

The registry is the one home of every model fact: the canonical order (:func:`list_models`), the
paper's five (:data:`PAPER_MODELS`), display and short names, loss weights, output shapes,
checkpoints and parameter counts live on the :class:`ModelSpec` entries; set-level helpers
(loss weights, input width, labels of a combination) are in :mod:`e2s_utils.models.catalog`.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from pathlib import Path
from typing import get_args

import torch
from torch import Tensor, nn

from e2s_utils import paths
from e2s_utils.models.specs import (
    PAPER_MODELS,
    PRESETS,
    SIZES,
    ArchConfig,
    BandGroup,
    Builder,
    CheckpointInfo,
    InputRecipe,
    Kind,
    ModelSpec,
    Passes,
    PatchEmbedVariant,
    Preset,
    Seasons,
    Size,
    StatsName,
    _check_choice,
    shapes_for_all,
)

__all__ = [
    "BASELINE_MODULE",
    "FOUNDATION_MODULES",
    "PAPER_MODELS",
    "PRESETS",
    "SIZES",
    "ArchConfig",
    "BandGroup",
    "Builder",
    "CheckpointInfo",
    "CheckpointNotLoadedWarning",
    "Extractor",
    "InputRecipe",
    "Kind",
    "ModelSpec",
    "Passes",
    "PatchEmbedVariant",
    "Preset",
    "Seasons",
    "Size",
    "StatsName",
    "SUPPORT_MODULES",
    "build_extractor",
    "checkpoint_path",
    "get_spec",
    "list_models",
    "model_modules",
    "register",
    "shapes_for_all",
    "unused_checkpoint_path",
]

#: Modules holding the paper's five (imported first). Any other module of the package that is not
#: a support module is imported as well, so a sixth model needs no entry here.
FOUNDATION_MODULES: tuple[str, ...] = PAPER_MODELS
#: The module holding the baselines (registers them on import, in their canonical order).
BASELINE_MODULE: str = "e2s_utils.models.baselines"
#: Modules of the package that define no model (never imported by the registry's discovery).
SUPPORT_MODULES: frozenset[str] = frozenset(
    {"registry", "specs", "common", "catalog", "weights", "baselines"}
)


class Extractor(nn.Module):
    """Base class of every embedding extractor.

    ``forward`` takes RAW cubes ``{"s1": (B, 4, 2, 264, 264), "s2l1c": ..., "s2l2a": ...}``
    (only the modalities the recipe reads are required) and returns ``(B, C, T)`` float32.
    Preprocessing (band selection by name, offset, statistics, resize, seasons) happens inside.

    Attributes:
        spec: the registry entry.
        preset: the input recipe preset.
        size: ``micro`` / ``tiny`` / ``full``.
        output_shape: ``(C, T)`` per sample.
        weights_identity: ``"sha256:<hex> <file>"`` when a checkpoint was loaded, else
            ``"random init, seed <s>"``, followed by ``" (<preset>: <file> present but not
            loaded, as the published code ran)"`` when the weights folder held a file the preset
            does not load (see :func:`build_extractor`).
    """

    def __init__(self, spec: ModelSpec, preset: str, size: str) -> None:
        super().__init__()
        self.spec = spec
        self.preset = preset
        self.size = size
        self.output_shape: tuple[int, int] = spec.output_shape(preset, size)
        self.weights_identity: str = "random init"

    @property
    def recipe(self) -> InputRecipe | None:
        """This extractor's input recipe (``None`` if the spec has none for its preset)."""
        return self.spec.recipes.get(self.preset)

    def load_checkpoint(self, path: Path) -> str:
        """Load an official checkpoint strictly; return and record its identity.

        Raises:
            NotImplementedError: for extractors without checkpoints.
        """
        raise NotImplementedError(f"{self.spec.name} has no checkpoint to load")

    def forward(self, cubes: dict[str, Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"model={self.spec.name}, preset={self.preset}, size={self.size}, "
            f"output_shape={self.output_shape}, weights={self.weights_identity!r}"
        )


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED: bool = False


class CheckpointNotLoadedWarning(UserWarning):
    """An official checkpoint sits in the weights folder but this preset runs without it."""


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a spec to the registry (modules call this at import time).

    Args:
        spec: the entry.
        replace: allow overwriting an entry of the same name (tests, notebooks).

    Returns:
        The spec, so it can be used as ``SPEC = register(ModelSpec(...))``.

    Raises:
        ValueError: if the name is taken and ``replace`` is false, or the spec is inconsistent.
    """
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    for preset in (*spec.recipes, *spec.checkpoints):
        _check_choice(preset, PRESETS, f"preset of {spec.name!r}")
    for preset, size in (*spec.output_shapes, *spec.architectures):
        _check_choice(preset, PRESETS, f"preset of {spec.name!r}")
        _check_choice(size, SIZES, f"size of {spec.name!r}")
    if not spec.loss_weight > 0:
        raise ValueError(
            f"model {spec.name!r} needs a positive loss weight, got {spec.loss_weight}"
        )
    if spec.variant_of == spec.name:
        raise ValueError(f"model {spec.name!r} cannot be a variant of itself")
    _REGISTRY[spec.name] = spec
    return spec


def model_modules() -> list[str]:
    """The modules the registry imports: the paper's five, any other model module, the baselines."""
    package = __name__.rpartition(".")[0]
    found = sorted(
        info.name
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
        if info.name not in SUPPORT_MODULES and info.name not in FOUNDATION_MODULES
    )
    return [f"{package}.{m}" for m in (*FOUNDATION_MODULES, *found)] + [BASELINE_MODULE]


def _load_all() -> None:
    """Import the model modules once (each registers itself); tolerate a missing baselines module."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module in model_modules():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            warnings.warn(f"{module} is not available; its models are not registered", stacklevel=3)


def _order_key(spec: ModelSpec, position: int) -> tuple[int, int, str, int]:
    """Canonical order: the paper's five (in their order), other foundation models by name, then
    baselines in registration order; a variant sits right after the entry it varies."""
    base = _REGISTRY.get(spec.variant_of or "", spec)
    if base.kind == "foundation":
        paper = PAPER_MODELS.index(base.name) if base.name in PAPER_MODELS else len(PAPER_MODELS)
        return (0, paper, base.name if paper == len(PAPER_MODELS) else "", spec is not base)
    return (1, 0, "", position)


def list_models(kind: Kind | None = None, *, include_variants: bool = False) -> list[str]:
    """Registered model names in the canonical order.

    The order is the compressor's concatenation order and the order of every table: the paper's
    five foundation models (Copernicus-FM, DOFA, CROMA, Prithvi-EO-2.0, Scale-MAE), any other
    foundation model by name, then the baselines (engineered, rcf, mean_baseline, random, then any
    registered later).

    Args:
        kind: ``foundation``, ``baseline`` or ``None`` for both.
        include_variants: also list variants of other entries (e.g. ``prithvi_300m``), each right
            after the entry it varies.
    """
    _load_all()
    if kind is not None:
        _check_choice(kind, get_args(Kind), "kind")
    position = {name: i for i, name in enumerate(_REGISTRY)}
    names = sorted(_REGISTRY, key=lambda n: (*_order_key(_REGISTRY[n], position[n]), n))
    return [
        n
        for n in names
        if (kind is None or _REGISTRY[n].kind == kind)
        and (include_variants or _REGISTRY[n].variant_of is None)
    ]


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model.

    Raises:
        KeyError: naming the unknown model and the registered ones.
    """
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {list(_REGISTRY)}") from None


def _weights_folder(size: str, weights_dir: Path | None) -> tuple[Path, str] | None:
    """The folder that applies to a build: an explicit one (every size), else the environment's
    (``full`` only, since the official files are full size), else none."""
    if weights_dir is not None:
        return Path(weights_dir), "weights_dir"
    env = paths.weights_dir()
    if env is None or size != "full":
        return None
    return env, "E2S_WEIGHTS_DIR"


def checkpoint_path(
    name: str, preset: str = "as_intended", size: str = "full", weights_dir: Path | None = None
) -> Path | None:
    """Which checkpoint file :func:`build_extractor` loads for a model, or ``None`` (random init).

    Rules: nothing for models without a checkpoint or for presets that run the network randomly
    initialised (``as_published_code`` Prithvi and Scale-MAE, as the published code effectively
    did). An explicit ``weights_dir`` applies to every size (tests write micro-sized checkpoints);
    ``E2S_WEIGHTS_DIR`` applies to ``full`` size only, since the official files are full size.
    The file is the preset's own (:meth:`ModelSpec.checkpoint_for`).

    Raises:
        FileNotFoundError: when a weights folder applies but lacks the official file.
    """
    spec = get_spec(name)
    info = spec.checkpoint_for(preset)
    if info is None or not spec.recipe(preset).loads_checkpoint:
        return None
    where = _weights_folder(size, weights_dir)
    if where is None:
        return None
    folder, origin = where
    path = folder / info.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{origin} {folder} has no {info.filename} for model {name!r}, preset {preset!r} "
            f"(source: {info.url}); download it (see `e2s weights`), or unset {origin} to run "
            f"with random initialisation"
        )
    return path


def unused_checkpoint_path(
    name: str, preset: str = "as_intended", size: str = "full", weights_dir: Path | None = None
) -> Path | None:
    """The official file present in the applicable weights folder that this preset does not load.

    ``as_published_code`` runs Prithvi and Scale-MAE randomly initialised, as the published code
    effectively did; when their file is nevertheless present, :func:`build_extractor` says so.

    Returns:
        The present but unused file, or ``None``.
    """
    spec = get_spec(name)
    info = spec.checkpoint_for(preset)
    if info is None or spec.recipe(preset).loads_checkpoint:
        return None
    where = _weights_folder(size, weights_dir)
    if where is None or not (where[0] / info.filename).is_file():
        return None
    return where[0] / info.filename


def build_extractor(
    name: str,
    preset: Preset = "as_intended",
    size: Size = "full",
    weights_dir: Path | None = None,
    seed: int = 0,
) -> Extractor:
    """Build a ready-to-use extractor (eval mode) for a registered model.

    The network is randomly initialised under ``torch.manual_seed(seed)`` (the global RNG is left
    untouched), then the official checkpoint is loaded strictly where :func:`checkpoint_path`
    finds one. ``weights_identity`` records which of the two happened; when the preset runs
    without a checkpoint that the weights folder holds (:func:`unused_checkpoint_path`), a
    :class:`CheckpointNotLoadedWarning` names the file and ``weights_identity`` says so.

    Args:
        name: registered model name.
        preset: ``as_intended`` (the paper's text) or ``as_published_code``.
        size: ``full`` (the paper's networks), ``tiny`` or ``micro``.
        weights_dir: folder holding official checkpoints (default ``E2S_WEIGHTS_DIR``).
        seed: seed of the random initialisation.

    Raises:
        KeyError: unknown model, preset or size.
        FileNotFoundError: a weights folder applies but lacks the official file.
        CheckpointError: the checkpoint's keys or shapes do not match the network.
    """
    spec = get_spec(name)
    spec.output_shape(preset, size)  # validates preset and size
    path = checkpoint_path(name, preset, size, weights_dir)
    unused = unused_checkpoint_path(name, preset, size, weights_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        extractor = spec.builder(preset=preset, size=size, seed=seed)
    extractor.weights_identity = f"random init, seed {seed}"
    if unused is not None:
        note = f"{preset}: {unused.name} present but not loaded, as the published code ran"
        extractor.weights_identity += f" ({note})"
        warnings.warn(
            f"{name}: {unused} is present but the {preset!r} preset runs the network randomly "
            f"initialised (seed {seed}), as the published code did; use preset 'as_intended' "
            f"to load it",
            CheckpointNotLoadedWarning,
            stacklevel=2,
        )
    if path is not None:
        extractor.load_checkpoint(path)
    return extractor.eval()
