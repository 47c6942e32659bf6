"""The registry's data model: what a model entry declares (no registry state, no imports of models).

:class:`ModelSpec` holds every fact about one model: its names, kind, input recipes
(:class:`InputRecipe` of :class:`BandGroup`), output shapes, loss weight, architectures
(:class:`ArchConfig`) and official checkpoints (:class:`CheckpointInfo`). The registry
(:mod:`e2s_utils.models.registry`) keeps the entries and builds extractors from them; everything
here is re-exported there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from e2s_utils.bands import Modality

if TYPE_CHECKING:
    from e2s_utils.models.registry import Extractor

Preset = Literal["as_intended", "as_published_code"]
Size = Literal["micro", "tiny", "full"]
Kind = Literal["foundation", "baseline"]
StatsName = Literal["v1.1", "downstream", "prithvi"]
Passes = Literal["joint", "separate", "paired"]
Seasons = Literal["separately", "clip"]
PatchEmbedVariant = Literal["hub", "corrected"]

PRESETS: tuple[Preset, ...] = get_args(Preset)
SIZES: tuple[Size, ...] = get_args(Size)

#: The paper's five foundation models in the canonical order (the compressor's concatenation
#: order and the order of every table): Copernicus-FM, DOFA, CROMA, Prithvi-EO-2.0, Scale-MAE.
PAPER_MODELS: tuple[str, ...] = ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")


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
        res: the value handed to a network that takes a resolution input (Scale-MAE's ``res``,
            a relative scale factor; see ``e2s_utils.models.scalemae``), at every size.
        patch_embed_variant: which of two implementations of a dynamic patch embedding the
            network runs (DOFA: ``hub`` = the zhu-xlab/DOFA torch.hub code, ``corrected`` =
            torchgeo's fixed one); ``None`` for networks with one implementation.
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
    patch_embed_variant: PatchEmbedVariant | None = None
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
    """The network dimensions of one (preset, size): what ``full`` / ``tiny`` / ``micro`` mean.

    Attributes:
        embed_dim: token width.
        depth: number of transformer blocks.
        num_heads: attention heads.
        patch_size: pixels per patch side.
        input_size: pixels per side the network is built for (its position table's grid).
        description: the network in words.
        params: the exact number of parameters of the built network (``None`` if not declared;
            ``tests/test_models.py`` checks every declared count against a build).
    """

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    input_size: int
    description: str = ""
    params: int | None = None


Builder = Callable[..., "Extractor"]


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: everything the study knows about one model.

    Attributes:
        name: registry key (``dofa``, ``croma``, ...).
        display_name: name used in tables and figures (``Prithvi-EO-2.0``).
        kind: ``foundation`` or ``baseline``.
        recipes: input recipe per preset.
        output_shapes: ``(C, T)`` per ``(preset, size)``; see :func:`shapes_for_all`.
        loss_weight: the compressor's loss weight for this model (SPEC 2; 1.0 unless the paper
            says otherwise).
        checkpoint: the official checkpoint (of ``as_intended``), or ``None`` (baselines).
        default_batch_size: cubes per forward pass the extraction uses by default.
        builder: ``builder(preset=..., size=..., seed=...) -> Extractor`` (random init; the
            registry seeds torch before calling it and loads checkpoints afterwards).
        needs_fit: the extractor must be fitted on data before use (e.g. RCF + PCA).
        architectures: network dimensions per ``(preset, size)`` (foundation models).
        description: one paragraph on the model.
        short_name: the label inside a combination (``DOFA + CROMA + Prithvi``); defaults to
            ``display_name``.
        variant_of: for an alternative configuration of another entry (e.g. ``prithvi_300m``
            of ``prithvi``), that entry's name; variants are left out of :func:`list_models`
            unless asked for.
        checkpoints: per-preset checkpoints that differ from ``checkpoint`` (e.g. DOFA's
            ``as_published_code`` file); see :meth:`checkpoint_for`.
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
    short_name: str = ""
    variant_of: str | None = None
    checkpoints: Mapping[str, CheckpointInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Freeze the mappings so a spec cannot be mutated after registration.
        object.__setattr__(self, "recipes", MappingProxyType(dict(self.recipes)))
        object.__setattr__(self, "output_shapes", MappingProxyType(dict(self.output_shapes)))
        object.__setattr__(self, "architectures", MappingProxyType(dict(self.architectures)))
        object.__setattr__(self, "checkpoints", MappingProxyType(dict(self.checkpoints)))
        if not self.short_name:
            object.__setattr__(self, "short_name", self.display_name)

    def __hash__(self) -> int:
        return hash((self.name, self.kind))

    @property
    def in_paper(self) -> bool:
        """Whether this is one of the paper's five foundation models (:data:`PAPER_MODELS`)."""
        return self.name in PAPER_MODELS

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

    def input_width(self, preset: str = "as_intended", size: str = "full") -> int:
        """Floats per sample this model adds to the compressor's input (``C * T``)."""
        c, t = self.output_shape(preset, size)
        return c * t

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

    def checkpoint_for(self, preset: str = "as_intended") -> CheckpointInfo | None:
        """The official checkpoint that belongs to a preset (whether or not the preset loads it).

        ``as_published_code`` presets that run the network randomly initialised still name the
        file the published code tried to load (so a present file can be reported as unused).
        """
        _check_choice(preset, PRESETS, "preset")
        return self.checkpoints.get(preset, self.checkpoint)

    def param_count(self, preset: str = "as_intended", size: str = "full") -> int | None:
        """Exact parameter count of the network in one preset and size (``None``: undeclared)."""
        self.output_shape(preset, size)  # validates preset and size
        arch = self.architectures.get((preset, size))
        return arch.params if arch is not None else None


def shapes_for_all(shape: tuple[int, int]) -> dict[tuple[str, str], tuple[int, int]]:
    """The same ``(C, T)`` for every preset and size (convenience for baselines)."""
    return {(p, s): shape for p in PRESETS for s in SIZES}


def _check_choice(value: Any, choices: Iterable[Any], what: str) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise KeyError(f"unknown {what} {value!r}; choose one of {choices}")
