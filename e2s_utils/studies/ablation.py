"""The ablation study (Table 1): which rows it has and how they are run.

:func:`ablation_runs` declares every row: each foundation model alone, the paper's growing fusions
(DOFA + CROMA, + Copernicus-FM, + Prithvi, all five), all five without dropout, and beyond the paper
the registry's baselines probed directly, PCA of the fused raw embeddings, the raw fused embeddings
probed directly (what compression costs) and the all-five fusion on the other preset's stores.
:func:`~e2s_utils.studies.units.run_ablation` computes (or loads from the cache) every row for every
seed, one unit of work each, so a rerun computes nothing and an interrupted study resumes.
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


class StudyError(E2SError, RuntimeError):
    """A study that cannot run as configured (missing inputs, mixed configurations)."""


@dataclass(frozen=True)
class AblationRun:
    """One row of Table 1.

    Attributes:
        name: unique slug (file names, cache keys), e.g. ``fusion-dofa+croma``.
        label: the row's label in the table and heatmap.
        method: ``fusion`` (a trained compressor), ``baseline`` (a registry baseline's stored
            embeddings probed directly), ``pca`` (PCA of the fused raw embeddings) or ``raw``
            (the fused raw embeddings probed directly).
        models: the foundation models (or the one baseline) whose stores the row reads.
        preset: the input recipe preset of those stores.
        dropout: the compressor's dropout (``fusion`` only).
        group: ``paper`` for the rows of the paper's Table 1, ``beyond`` for the additions.
    """

    name: str
    label: str
    method: Method
    models: tuple[str, ...]
    preset: Preset = "as_intended"
    dropout: float = 0.1
    group: Group = "paper"

    @property
    def seeded(self) -> bool:
        """Whether the row's result depends on a training seed (only trained compressors do)."""
        return self.method == "fusion"


def _fusion_run(models: Sequence[str], preset: Preset, **kw: Any) -> AblationRun:
    models = tuple(models)
    return AblationRun(
        f"fusion-{'+'.join(models)}", display_name(models), "fusion", models, preset, **kw
    )


def ablation_runs(profile: Profile) -> list[AblationRun]:
    """The declarative list of Table 1's rows for a profile.

    The paper's rows come first (each model alone, then the growing fusion in the paper's order
    restricted to the profile's models, all of them without dropout), then the additions.

    Raises:
        StudyError: for a profile without foundation models.
    """
    from e2s_utils.config import foundation_models

    models = profile.extract.foundation
    preset: Preset = profile.extract.preset
    if not models:
        raise StudyError("the ablation needs at least one foundation model")
    ordered = [m for m in FUSION_ORDER if m in models] + [
        m for m in models if m not in FUSION_ORDER
    ]
    unknown = [m for m in models if m not in foundation_models()]
    if unknown:
        raise StudyError(f"{unknown} are not registered foundation models; see `e2s weights`")
    runs = [_fusion_run((m,), preset) for m in foundation_models() if m in models]
    runs += [_fusion_run(ordered[:k], preset) for k in range(2, len(ordered) + 1)]
    full = tuple(ordered)
    if len(full) > 1:
        nodrop = _fusion_run(full, preset, dropout=0.0)
        runs.append(
            replace(
                nodrop, name=nodrop.name + "-nodropout", label=f"{nodrop.label} without dropout"
            )
        )
    for b in profile.extract.all_models[len(models) :]:
        runs.append(
            AblationRun(
                f"baseline-{b}", display_name((b,)), "baseline", (b,), preset, group="beyond"
            )
        )
    config = profile.ablation
    if config.include_pca:
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
    if config.include_raw:
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
    if config.include_presets:
        other: Preset = "as_published_code" if preset == "as_intended" else "as_intended"
        run = _fusion_run(full, other)
        runs.append(
            replace(run, name=f"{run.name}-{other}", label=f"{run.label} ({other})", group="beyond")
        )
    names = [r.name for r in runs]
    if len(names) != len(set(names)):
        raise StudyError(f"ablation rows repeat a name: {names}")
    return runs


def stores_needed(runs: Sequence[AblationRun]) -> list[tuple[str, Preset]]:
    """Every ``(model, preset)`` store the rows read, in first-use order."""
    out: list[tuple[str, Preset]] = []
    for run in runs:
        for m in run.models:
            if (m, run.preset) not in out:
                out.append((m, run.preset))
    return out


def seed_list(profile: Profile) -> list[int]:
    """The compressor seeds of every fusion row: ``seed``, ``seed + 1``, ..."""
    return [profile.seed + i for i in range(profile.ablation.seeds)]
