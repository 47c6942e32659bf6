"""The model registry: one :class:`ModelSpec` per foundation model or baseline.

A spec names a model, says how its input is prepared in each preset (:class:`InputRecipe`), what
it returns (``(C, T)`` per sample), where its official checkpoint comes from
(:class:`CheckpointInfo`) and how to build it. :func:`build_extractor` turns a name into a ready
:class:`Extractor`: seeded random initialisation, then, where a checkpoint applies, strict loading.

Foundation models live in one module each (``copernicusfm``, ``dofa``, ``croma``, ``prithvi``,
``scalemae``) and register themselves on import; the baselines register from
``e2s_utils.models.baselines``. Both are imported lazily the first time the registry is queried.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from e2s_utils import paths
from e2s_utils.bands import Modality

Preset = Literal["as_intended", "as_published_code"]
Size = Literal["micro", "tiny", "full"]
Kind = Literal["foundation", "baseline"]
StatsName = Literal["v1.1", "downstream", "prithvi"]
Passes = Literal["joint", "separate", "paired"]
Seasons = Literal["separately", "clip"]

PRESETS: tuple[Preset, ...] = get_args(Preset)
SIZES: tuple[Size, ...] = get_args(Size)

#: Modules holding one foundation model each; importing one registers its spec.
#: Adding a model: write ``e2s_utils/models/<name>.py`` calling :func:`register`, list it here.
FOUNDATION_MODULES: tuple[str, ...] = ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")
#: The module holding the baselines (registers them on import).
BASELINE_MODULE: str = "e2s_utils.models.baselines"


@dataclass(frozen=True)
class BandGroup:
    """One block of input channels: bands of one modality and how they are normalised.

    Attributes:
        modality: cube entry the bands are read from (``s1``, ``s2l1c`` or ``s2l2a``).
        bands: band names in the order the network receives them (repeats allowed).
        offset: added to the raw values before normalisation (+1000 pairs with ``v1.1``).
        stats: statistics table used for ``(x - mean) / std``; ``None`` leaves values as they are.
        wavelengths: per-band wavelengths handed to a wavelength-aware network (unit in ``unit``).
        bandwidths: per-band bandwidths, same unit, where the network takes them.
        unit: unit of ``wavelengths`` / ``bandwidths`` (``"nm"`` or ``"um"``), empty when unused.
    """

    modality: Modality
    bands: tuple[str, ...]
    offset: float = 0.0
    stats: StatsName | None = None
    wavelengths: tuple[float, ...] | None = None
    bandwidths: tuple[float, ...] | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        for name in ("wavelengths", "bandwidths"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.bands):
                raise ValueError(
                    f"{name} has {len(values)} entries for {len(self.bands)} bands {self.bands}"
                )


@dataclass(frozen=True)
class InputRecipe:
    """How one model's input is made from a raw cube in one preset (SPEC 6.2).

    Attributes:
        groups: the band groups, in the order the network (or its passes) receives them.
        passes: ``joint``: groups stacked into one image, one forward pass; ``separate``: one
            forward pass per group, embeddings concatenated in group order; ``paired``: groups go
            to the network's separate modality inputs in one call (CROMA: SAR + optical).
        input_size: pixels per side the network sees at ``full`` size (264 means no resize).
        resize: ``antialiased_bilinear`` from 264 px to ``input_size``, or ``none``.
        seasons: ``separately`` (one embedding per season, T = 4) or ``clip`` (the four seasons
            as one temporal input, T = 1).
        pooling: how token outputs become the per-pass embedding, in words.
        network: the network this preset runs, in words (e.g. random-init ViT-B/16).
        loads_checkpoint: whether the official checkpoint is loaded in this preset.
        res: ground sampling distance (m) handed to networks that take it (Scale-MAE).
        notes: anything else a reader must know (fidelity traps, deviations).
    """

    groups: tuple[BandGroup, ...]
    passes: Passes
    input_size: int
    resize: Literal["antialiased_bilinear", "none"]
    seasons: Seasons
    pooling: str
    network: str = ""
    loads_checkpoint: bool = True
    res: float | None = None
    notes: str = ""

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """Cube entries this recipe reads, in first-use order."""
        seen: list[Modality] = []
        for g in self.groups:
            if g.modality not in seen:
                seen.append(g.modality)
        return tuple(seen)


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a model's official checkpoint comes from and what it looks like on disk.

    Attributes:
        filename: the official file name, looked up inside the weights folder.
        url: direct download address of the official release.
        source: the project page / authors that publish it.
        layout: the key layout of the file, in words.
        size_mb: approximate file size (MB), for the ``e2s weights`` listing.
        sha256: the digest of the official file when pinned, else ``None``.
    """

    filename: str
    url: str
    source: str
    layout: str = ""
    size_mb: float | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ArchConfig:
    """The network dimensions of one (preset, size): what ``full`` / ``tiny`` / ``micro`` mean."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    input_size: int
    description: str = ""


Builder = Callable[..., "Extractor"]


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry.

    Attributes:
        name: registry key (``dofa``, ``croma``, ...).
        display_name: name used in tables and figures.
        kind: ``foundation`` or ``baseline``.
        recipes: input recipe per preset.
        output_shapes: ``(C, T)`` per ``(preset, size)``; see :func:`shapes_for_all`.
        loss_weight: the compressor's loss weight for this model (SPEC 2).
        checkpoint: the official checkpoint, or ``None`` (baselines).
        default_batch_size: cubes per forward pass the extraction uses by default.
        builder: ``builder(preset=..., size=..., seed=...) -> Extractor`` (random init; the
            registry seeds torch before calling it and loads checkpoints afterwards).
        needs_fit: the extractor must be fitted on data before use (e.g. RCF + PCA).
        architectures: network dimensions per ``(preset, size)`` (foundation models).
        description: one paragraph on the model.
    """

    name: str
    display_name: str
    kind: Kind
    recipes: Mapping[str, InputRecipe]
    output_shapes: Mapping[tuple[str, str], tuple[int, int]]
    loss_weight: float
    checkpoint: CheckpointInfo | None
    default_batch_size: int
    builder: Builder
    needs_fit: bool = False
    architectures: Mapping[tuple[str, str], ArchConfig] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        # Freeze the mappings so a spec cannot be mutated after registration.
        object.__setattr__(self, "recipes", MappingProxyType(dict(self.recipes)))
        object.__setattr__(self, "output_shapes", MappingProxyType(dict(self.output_shapes)))
        object.__setattr__(self, "architectures", MappingProxyType(dict(self.architectures)))

    def __hash__(self) -> int:
        return hash((self.name, self.kind))

    def output_shape(self, preset: str = "as_intended", size: str = "full") -> tuple[int, int]:
        """``(C, T)`` of one sample's embedding in this preset and size.

        Raises:
            KeyError: for a preset or size the model does not have.
        """
        _check_choice(preset, PRESETS, "preset")
        _check_choice(size, SIZES, "size")
        try:
            return self.output_shapes[(preset, size)]
        except KeyError:
            raise KeyError(
                f"model {self.name!r} declares no output shape for preset {preset!r}, size "
                f"{size!r}; it has {sorted(self.output_shapes)}"
            ) from None

    def recipe(self, preset: str = "as_intended") -> InputRecipe:
        """The input recipe of one preset.

        Raises:
            KeyError: for a preset the model does not have.
        """
        _check_choice(preset, PRESETS, "preset")
        try:
            return self.recipes[preset]
        except KeyError:
            raise KeyError(
                f"model {self.name!r} has no recipe for preset {preset!r}; it has "
                f"{sorted(self.recipes)}"
            ) from None


def shapes_for_all(shape: tuple[int, int]) -> dict[tuple[str, str], tuple[int, int]]:
    """The same ``(C, T)`` for every preset and size (convenience for baselines)."""
    return {(p, s): shape for p in PRESETS for s in SIZES}


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
            ``"random init, seed <s>"``.
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
    for preset in spec.recipes:
        _check_choice(preset, PRESETS, f"preset of {spec.name!r}")
    for preset, size in spec.output_shapes:
        _check_choice(preset, PRESETS, f"preset of {spec.name!r}")
        _check_choice(size, SIZES, f"size of {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def _load_all() -> None:
    """Import the model modules once (each registers itself); tolerate a missing baselines module."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    modules = [f"e2s_utils.models.{m}" for m in FOUNDATION_MODULES] + [BASELINE_MODULE]
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            warnings.warn(f"{module} is not available; its models are not registered", stacklevel=3)


def list_models(kind: Kind | None = None) -> list[str]:
    """Registered model names (foundation models in the paper's order, then baselines).

    Args:
        kind: ``foundation``, ``baseline`` or ``None`` for both.
    """
    _load_all()
    if kind is not None:
        _check_choice(kind, get_args(Kind), "kind")
    order = {name: i for i, name in enumerate(FOUNDATION_MODULES)}
    names = sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].kind != "foundation", order.get(n, 99)))
    return [n for n in names if kind is None or _REGISTRY[n].kind == kind]


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


def checkpoint_path(
    name: str, preset: str = "as_intended", size: str = "full", weights_dir: Path | None = None
) -> Path | None:
    """Which checkpoint file :func:`build_extractor` loads for a model, or ``None`` (random init).

    Rules: nothing for models without a checkpoint or for presets that run the network randomly
    initialised (``as_published_code`` Prithvi and Scale-MAE, as the published code effectively
    did). An explicit ``weights_dir`` applies to every size (tests write micro-sized checkpoints);
    ``E2S_WEIGHTS_DIR`` applies to ``full`` size only, since the official files are full size.

    Raises:
        FileNotFoundError: when a weights folder applies but lacks the official file.
    """
    spec = get_spec(name)
    if spec.checkpoint is None or not spec.recipe(preset).loads_checkpoint:
        return None
    if weights_dir is not None:
        folder, origin = Path(weights_dir), "weights_dir"
    else:
        env = paths.weights_dir()
        if env is None or size != "full":
            return None
        folder, origin = env, "E2S_WEIGHTS_DIR"
    path = folder / spec.checkpoint.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{origin} {folder} has no {spec.checkpoint.filename} for model {name!r} "
            f"(source: {spec.checkpoint.url}); download it (see `e2s weights`), or unset "
            f"{origin} to run with random initialisation"
        )
    return path


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
    finds one. ``weights_identity`` records which of the two happened.

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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        extractor = spec.builder(preset=preset, size=size, seed=seed)
    extractor.weights_identity = f"random init, seed {seed}"
    if path is not None:
        extractor.load_checkpoint(path)
    return extractor.eval()


def _check_choice(value: Any, choices: Iterable[Any], what: str) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise KeyError(f"unknown {what} {value!r}; choose one of {choices}")
