"""The ablation study (Table 1): which rows it has, on which stores, with which seeds.

:func:`ablation_runs` declares every row. The paper's rows, once per preset of
``AblationConfig.presets``: each foundation model alone, the paper's growing fusions (DOFA +
CROMA, + Copernicus-FM, + Prithvi, all five) and all five without dropout. Under
``as_published_code`` they read what the published code ran (L1C, randomly initialised ViT-B/16 in
place of Prithvi and Scale-MAE, Prithvi's bands off by one): the paper's numbers came from there.
Under ``as_intended`` they read what the paper's text describes. Beyond the paper, on the profile's
main preset: the registry's baselines probed directly, PCA of the fused raw embeddings and the raw
fused embeddings probed directly (what compression costs).

Seeds: a fusion row runs ``AblationConfig.seeds`` compressor seeds; a row that reads a network its
preset runs randomly initialised runs at least ``AblationConfig.init_seeds``, seed ``i`` pairing
compressor seed ``seed + i`` with stores of those networks extracted with ``seed + i`` (the
published run was unseeded, so its spread over initialisations is part of its result).
:func:`~e2s_utils.studies.units.run_ablation` computes (or loads from the cache) every unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from e2s_utils.errors import E2SError
from e2s_utils.studies.paper import FUSION_ORDER, display_name

if TYPE_CHECKING:
    from e2s_utils.config import Profile

Preset = Literal["as_intended", "as_published_code"]
Method = Literal["fusion", "baseline", "pca", "raw"]
Group = Literal["paper", "beyond"]
Selection = Literal["best_q", "best_mse", "last"]
SELECTIONS: tuple[Selection, ...] = ("best_q", "best_mse", "last")
#: A store to make sure of: model, preset and its initialisation-seed variant (``None``: default).
StoreRef = tuple[str, str, "int | None"]


class StudyError(E2SError, RuntimeError):
    """A study that cannot run as configured (missing inputs, mixed configurations)."""


@dataclass(frozen=True)
class AblationRun:
    """One row of Table 1.

    Attributes:
        name: unique slug (file names, cache keys), e.g. ``fusion-dofa+croma@as_intended``.
        label: the method's label in the table (``DOFA + CROMA``); with ``preset`` it names a row.
        method: ``fusion`` (a trained compressor), ``baseline`` (a registry baseline's stored
            embeddings probed directly), ``pca`` (PCA of the fused raw embeddings) or ``raw``
            (the fused raw embeddings probed directly).
        models: the foundation models (or the one baseline) whose stores the row reads.
        preset: the input recipe preset of those stores.
        dropout: the compressor's dropout (``fusion`` only).
        group: ``paper`` for the rows of the paper's Table 1, ``beyond`` for the additions.
        in_paper_z: whether the row is one of the nine rows the paper's Z is taken over.
        random_init: the models this preset runs randomly initialised (they get init seeds).
    """

    name: str
    label: str
    method: Method
    models: tuple[str, ...]
    preset: Preset = "as_intended"
    dropout: float = 0.1
    group: Group = "paper"
    in_paper_z: bool = False
    random_init: tuple[str, ...] = ()

    @property
    def seeded(self) -> bool:
        """Whether the row's result depends on a training seed (only trained compressors do)."""
        return self.method == "fusion"

    @property
    def title(self) -> str:
        """The row's name in a table that mixes presets: ``DOFA + CROMA [as_intended]``."""
        return f"{self.label} [{self.preset}]"


def random_init_models(models: Sequence[str], preset: str) -> tuple[str, ...]:
    """The models a preset runs randomly initialised whatever the weights (the registry's recipe)."""
    from e2s_utils.models import get_spec

    return tuple(m for m in models if not get_spec(m).recipe(preset).loads_checkpoint)


def _fusion_run(models: Sequence[str], preset: Preset, **kw: Any) -> AblationRun:
    models = tuple(models)
    return AblationRun(
        f"fusion-{'+'.join(models)}@{preset}",
        display_name(models),
        "fusion",
        models,
        preset,
        random_init=random_init_models(models, preset),
        **kw,
    )


def _paper_rows(models: Sequence[str], preset: Preset) -> list[AblationRun]:
    from e2s_utils.config import foundation_models

    ordered = [m for m in FUSION_ORDER if m in models] + [
        m for m in models if m not in FUSION_ORDER
    ]
    runs = [_fusion_run((m,), preset, in_paper_z=True) for m in foundation_models() if m in models]
    runs += [_fusion_run(ordered[:k], preset, in_paper_z=True) for k in range(2, len(ordered) + 1)]
    if len(ordered) > 1:
        nodrop = _fusion_run(ordered, preset, dropout=0.0)
        runs.append(
            replace(
                nodrop,
                name=nodrop.name.replace("@", "-nodropout@"),
                label=f"{nodrop.label} without dropout",
            )
        )
    return runs


def _beyond_rows(profile: Profile, full: tuple[str, ...], preset: Preset) -> list[AblationRun]:
    runs = [
        AblationRun(f"baseline-{b}", display_name((b,)), "baseline", (b,), preset, group="beyond")
        for b in profile.extract.all_models[len(full) :]
    ]
    if profile.ablation.include_pca:
        runs.append(
            AblationRun(
                "pca-" + "+".join(full),
                f"PCA of {display_name(full)}",
                "pca",
                full,
                preset,
                group="beyond",
            )
        )
    if profile.ablation.include_raw:
        runs.append(
            AblationRun(
                "raw-" + "+".join(full),
                f"{display_name(full)}, raw",
                "raw",
                full,
                preset,
                group="beyond",
            )
        )
    return runs


def ablation_runs(profile: Profile) -> list[AblationRun]:
    """The declarative list of Table 1's rows for a profile (see the module docstring).

    Raises:
        StudyError: for a profile without foundation models, an unregistered model or rows
            that would repeat a name.
    """
    from e2s_utils.config import foundation_models

    models = profile.extract.foundation
    if not models:
        raise StudyError("the ablation needs at least one foundation model")
    unknown = [m for m in models if m not in foundation_models()]
    if unknown:
        raise StudyError(f"{unknown} are not registered foundation models; see `e2s weights`")
    runs: list[AblationRun] = []
    for preset in profile.ablation.presets:
        runs += _paper_rows(models, preset)
    full = tuple(
        [m for m in FUSION_ORDER if m in models] + [m for m in models if m not in FUSION_ORDER]
    )
    runs += _beyond_rows(profile, full, profile.extract.preset)
    names = [r.name for r in runs]
    if len(names) != len(set(names)):
        raise StudyError(f"ablation rows repeat a name: {names}")
    return runs


def seed_list(profile: Profile, run: AblationRun | None = None) -> list[int]:
    """The compressor seeds of a fusion row: ``seed``, ``seed + 1``, ...

    A row reading a randomly initialised network gets at least ``init_seeds`` of them.
    """
    n = profile.ablation.seeds
    if run is not None and run.random_init:
        n = max(n, profile.ablation.init_seeds)
    return [profile.seed + i for i in range(n)]


def init_seeds_of(run: AblationRun, seed: int | None, profile: Profile) -> dict[str, int]:
    """The store variants a unit reads: ``{model: init seed}`` for its randomly initialised
    networks when the unit's seed is not the profile's (whose stores are the default ones)."""
    if seed is None or seed == profile.seed:
        return {}
    return dict.fromkeys(run.random_init, seed)


def stores_needed(runs: Sequence[AblationRun], profile: Profile) -> list[StoreRef]:
    """Every store the rows read, init-seed variants included, in first-use order."""
    out: list[StoreRef] = []
    for run in runs:
        seeds = seed_list(profile, run) if run.seeded else [None]
        for seed in seeds:
            variants = init_seeds_of(run, seed, profile)
            for m in run.models:
                ref = (m, run.preset, variants.get(m))
                if ref not in out:
                    out.append(ref)
    return out
