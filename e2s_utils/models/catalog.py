"""Facts about sets of models, derived from the registry (use these instead of local constants).

Every function reads the :class:`~e2s_utils.models.registry.ModelSpec` entries, so a model added
to the registry is covered everywhere at once::

    from e2s_utils.models import catalog

    catalog.paper_models()                     # the paper's five, canonical order
    catalog.canonical_order(["croma", "dofa"])  # ('dofa', 'croma')
    catalog.loss_weights(catalog.paper_models())
    catalog.input_width(catalog.paper_models(), "as_published_code", "full")   # 20992
    catalog.combination_label(["dofa", "croma", "prithvi"])  # 'DOFA + CROMA + Prithvi'
    catalog.footprint("prithvi", "as_intended", "full")      # checkpoint file, size, params
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from e2s_utils.models.registry import PAPER_MODELS, PRESETS, SIZES, get_spec, list_models

if TYPE_CHECKING:
    import pandas as pd

#: Label of the paper's five together (the last row of its Table 1).
ALL_FIVE_LABEL: str = "All five"


def paper_models() -> tuple[str, ...]:
    """The paper's five foundation models in the canonical order."""
    return PAPER_MODELS


def foundation_models(*, include_variants: bool = False) -> tuple[str, ...]:
    """Every registered foundation model (the paper's five first), canonical order."""
    return tuple(list_models("foundation", include_variants=include_variants))


def baselines() -> tuple[str, ...]:
    """Every registered baseline, canonical order (engineered, rcf, mean_baseline, random)."""
    return tuple(list_models("baseline"))


def canonical_order(names: Iterable[str]) -> tuple[str, ...]:
    """Sort model names into the canonical order (:func:`~e2s_utils.models.list_models`).

    Registered names come in registry order (variants right after their base); names the
    registry does not know come last, alphabetically.

    Raises:
        ValueError: if a name is repeated.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise ValueError(f"model list {names} repeats a name; list each model once")
    rank = {n: i for i, n in enumerate(list_models(include_variants=True))}
    return tuple(sorted(names, key=lambda n: (rank.get(n, len(rank)), n)))


def loss_weights(names: Iterable[str]) -> dict[str, float]:
    """The compressor's loss weight of each model (paper: 1.0, 1.0, 0.5, 2.0, 0.75)."""
    return {n: get_spec(n).loss_weight for n in names}


def output_shapes(
    names: Iterable[str], preset: str = "as_intended", size: str = "full"
) -> dict[str, tuple[int, int]]:
    """``(C, T)`` per sample of each model in one preset and size."""
    return {n: get_spec(n).output_shape(preset, size) for n in names}


def input_width(
    names: Iterable[str] | None = None, preset: str = "as_intended", size: str = "full"
) -> int:
    """Floats per sample the compressor receives from a model set: ``sum(C * T)``.

    Args:
        names: the models (default: the paper's five).
        preset: ``as_intended`` or ``as_published_code``.
        size: ``full``, ``tiny`` or ``micro``.
    """
    names = paper_models() if names is None else tuple(names)
    return sum(get_spec(n).input_width(preset, size) for n in names)


def display_names(names: Iterable[str]) -> dict[str, str]:
    """Table names of the models (``Prithvi-EO-2.0``, ``Scale-MAE``, ...)."""
    return {n: get_spec(n).display_name for n in names}


def combination_label(names: Sequence[str]) -> str:
    """The label of a model combination, in the order given (the paper's Table 1 spelling).

    One model: its display name. The paper's five: ``All five``. Otherwise the short names
    joined by `` + `` (``DOFA + CROMA + Copernicus-FM + Prithvi``).
    """
    names = list(names)
    if not names:
        raise ValueError("a combination needs at least one model")
    if len(names) == len(PAPER_MODELS) and set(names) == set(PAPER_MODELS):
        return ALL_FIVE_LABEL
    if len(names) == 1:
        return get_spec(names[0]).display_name
    return " + ".join(get_spec(n).short_name for n in names)


@dataclass(frozen=True)
class Footprint:
    """What one model costs on disk and in memory in one preset and size.

    Attributes:
        model: registry name.
        preset: the preset.
        size: the size.
        params: exact parameter count of the network (``None`` where undeclared, e.g. baselines).
        checkpoint: the official file this preset loads at this size (``None``: random init).
        checkpoint_mb: its approximate size in MB, as published.
        params_mb: the parameters' size in float32 (MB).
    """

    model: str
    preset: str
    size: str
    params: int | None
    checkpoint: str | None
    checkpoint_mb: float | None

    @property
    def params_mb(self) -> float | None:
        """float32 size of the parameters in MB."""
        return None if self.params is None else self.params * 4 / 1e6


def footprint(name: str, preset: str = "as_intended", size: str = "full") -> Footprint:
    """Parameter count and checkpoint file (with its size) of a model in one preset and size.

    Official checkpoints are full-size files: at ``tiny`` / ``micro`` size none applies.
    """
    spec = get_spec(name)
    params = spec.param_count(preset, size)
    info = spec.checkpoint_for(preset)
    loads = info is not None and spec.recipe(preset).loads_checkpoint and size == "full"
    return Footprint(
        model=name,
        preset=preset,
        size=size,
        params=params,
        checkpoint=info.filename if loads and info else None,
        checkpoint_mb=info.size_mb if loads and info else None,
    )


def footprint_table(
    names: Iterable[str] | None = None,
    presets: Iterable[str] = PRESETS,
    sizes: Iterable[str] = SIZES,
) -> pd.DataFrame:
    """:func:`footprint` of every model (default: the foundation models with variants), preset
    and size the model declares, as one table."""
    import pandas as pd

    names = foundation_models(include_variants=True) if names is None else tuple(names)
    rows = []
    for name in names:
        spec = get_spec(name)
        for preset in presets:
            for size in sizes:
                if (preset, size) not in spec.output_shapes:
                    continue
                fp = footprint(name, preset, size)
                rows.append({**fp.__dict__, "params_mb": fp.params_mb})
    return pd.DataFrame(rows)
