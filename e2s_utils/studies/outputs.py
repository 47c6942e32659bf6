"""The studies' artifacts: tables, figures and summaries written with their provenance.

One function per study builds what the notebook shows and the command line prints, so the two
never drift apart: :func:`save_ablation` writes Table 1 (both presets, intervals, the paper's
numbers beside the ``as_published_code`` rows), the per-task intervals, the heatmap of the main
preset and the summary; :func:`save_long` the long run's figure (rate drops marked, the
constant-rate twin beside it), its curve and descents tables and its summary. Each results table
names its protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from e2s_utils import provenance
from e2s_utils.evaluate import stats
from e2s_utils.evaluate.compare import z_from_q
from e2s_utils.io import atomic_write_json
from e2s_utils.studies.descents import DescentAnalysis, descents_table, detect_descents
from e2s_utils.studies.long_training import LongResult, format_long_summary, long_summary
from e2s_utils.studies.paper import paper_table1
from e2s_utils.studies.table import (
    AblationResults,
    present_table1,
    table1,
    with_intervals,
    with_paper_reference,
)
from e2s_utils.studies.verdicts import ablation_summary, format_summary

if TYPE_CHECKING:
    from e2s_utils.config import RunContext


@dataclass
class AblationOutputs:
    """What :func:`save_ablation` computed (besides the files it wrote).

    Attributes:
        table: Table 1 with plain column names, intervals and the paper's numbers.
        shown: the same with reader-facing headers (what was saved).
        intervals: every Q and Q̄ interval (per task, per row).
        task_q: the heatmap's rows (main preset and beyond), seed-mean Q per task.
        summary: :func:`~e2s_utils.studies.verdicts.ablation_summary` of the main preset.
        heatmap: the saved heatmap (a notebook displays it as its PNG).
        resolution: :func:`resolution_table`: what the data can resolve, now and at 8,100.
    """

    table: pd.DataFrame
    shown: pd.DataFrame
    intervals: stats.ScoreIntervals
    task_q: pd.DataFrame
    summary: dict[str, Any]
    heatmap: provenance.SavedFigure
    resolution: pd.DataFrame

    @property
    def text(self) -> str:
        """The summary as sentences."""
        return format_summary(self.summary)


def heatmap_mask(iv: stats.ScoreIntervals, titles: dict[str, str]) -> pd.DataFrame:
    """The heatmap's mask for the shown rows: True where the Q interval holds the task's mean.

    Args:
        iv: intervals of every row (keyed by row title).
        titles: shown label -> row title, in the heatmap's order.
    """
    shown = tuple(titles.values())
    sub = stats.ScoreIntervals(
        methods=shown,
        tasks=iv.tasks,
        q={t: iv.q[t] for t in shown},
        q_bar={t: iv.q_bar[t] for t in shown},
    )
    mask = stats.mean_inside_mask(sub)
    return mask.rename(index={t: lab for lab, t in titles.items()})


#: The paper's own closest comparison of two fusions: 18.15 (four models) against 17.43 (five).
PAPER_DELTA = 0.72
#: Probed samples of the real evaluation split (about 8,100).
REAL_PROBED = 8100


def resolution_table(
    results: AblationResults, summary: dict[str, Any], n_probe: int
) -> pd.DataFrame:
    """What the data can resolve: per key comparison, the resolvable ΔQ̄ now and at 8,100 samples.

    From the converged (ridge) probe's fold scores, as the power analysis requires. Adds the seeds
    per row a difference of the paper's size (:data:`PAPER_DELTA`) needs at each size.
    """
    from e2s_utils.evaluate import power

    ridge = results.scores(probe="ridge")
    wanted = ("the runner-up fusion", "the best single model")
    pairs = [
        (f["comparison"]["a"], f["comparison"]["b"])
        for f in summary["findings"]
        if f["what"] in wanted
    ]
    if not pairs:
        return pd.DataFrame()
    frame = power.resolution_frame(power.resolution(ridge, pairs, n_probe, (REAL_PROBED,)))
    seeds = []
    for n in frame["n"]:
        data = ridge if n == n_probe else power.project_scores(ridge, n_probe, int(n))
        a, b = pairs[0]
        seeds.append(power.seeds_for(data, a, b, PAPER_DELTA))
    frame["seeds_for_paper_delta"] = seeds
    return frame


def save_ablation(ctx: RunContext, results: AblationResults, n_probe: int) -> AblationOutputs:
    """Write Table 1, the task intervals, the paper's table, the heatmap, the summary and what
    the data can resolve.

    Args:
        ctx: the run context (profile, figure provenance).
        results: :func:`~e2s_utils.studies.units.run_ablation`'s results.
        n_probe: probed samples (the eval split), for the power analysis.
    """
    from e2s_utils.plots import studies as plots

    protocol, preset = ctx.profile.protocol, ctx.profile.extract.preset
    table, iv = with_intervals(table1(results), results)
    table = with_paper_reference(table)
    shown = present_table1(table)
    provenance.save_table(shown, "table1_ablation", ctx, protocol=protocol)
    provenance.save_table(stats.task_frame(iv), "table1_task_intervals", ctx, protocol=protocol)
    provenance.save_table(paper_table1(), "table1_paper", ctx)
    atomic_write_json(ctx.out_dir / "ablation" / "intervals.json", iv.to_dict())
    task_q = results.task_q(preset=preset)
    titles = {r.label: r.title for r in results.rows(preset)}
    fig = plots.ablation_heatmap(
        task_q,
        z_from_q(task_q),
        mask=heatmap_mask(iv, titles),
        title=f"Ablation, preset {preset}: colour Z, text Q; hatched: not separated from "
        "the task's mean",
    )
    heatmap = provenance.save_figure(fig, "ablation_heatmap", ctx)
    summary = ablation_summary(results, table, preset)
    atomic_write_json(ctx.out_dir / "ablation" / "summary.json", summary)
    provenance.save_findings(format_summary(summary), "ablation_findings", ctx, protocol=protocol)
    resolution = resolution_table(results, summary, n_probe)
    provenance.save_table(resolution, "table1_resolution", ctx, protocol=protocol)
    return AblationOutputs(table, shown, iv, task_q, summary, heatmap, resolution)


@dataclass
class LongOutputs:
    """What :func:`save_long` computed.

    Attributes:
        analysis: the descents of the run's validation MSE.
        descents: one row per descent, with the rate drops that coincide with it.
        summary: :func:`~e2s_utils.studies.long_training.long_summary`.
        figure: the saved figure (a notebook displays it as its PNG).
    """

    analysis: DescentAnalysis
    descents: pd.DataFrame
    summary: dict[str, Any]
    figure: provenance.SavedFigure

    @property
    def text(self) -> str:
        """The summary as sentences."""
        return format_long_summary(self.summary)


def save_long(ctx: RunContext, result: LongResult) -> LongOutputs:
    """Write the long run's figure (drops marked, twin beside), its curve table and summary."""
    from e2s_utils.plots import studies as plots

    analysis = detect_descents(result.history["epoch"], result.history["val_mse"])
    fig = plots.long_training_curve(
        result.history,
        result.curve,
        smoothed=analysis.smoothed_frame(),
        descents=analysis.descents_frame(),
        bumps=analysis.maxima,
        drops=result.drops,
        twin_history=result.twin_history,
        twin_curve=result.twin_curve,
    )
    figure = provenance.save_figure(fig, "long_training", ctx)
    twin = result.twin_curve[["epoch", "val_mse", "q_bar"]].rename(
        columns={"val_mse": "twin_val_mse", "q_bar": "twin_q_bar"}
    )
    cols = ["epoch", "val_mse", "q_bar", "q_bar_lo", "q_bar_hi", "q_bar_ridge"]
    curve = result.curve[cols].merge(twin, how="left")
    provenance.save_table(curve, "long_training_curve", ctx, protocol=ctx.profile.protocol)
    descents = descents_table(analysis, result.drops)
    provenance.save_table(descents, "long_training_descents", ctx)
    summary = long_summary(result, analysis)
    atomic_write_json(ctx.out_dir / "long_training" / "summary.json", summary)
    provenance.save_findings(
        format_long_summary(summary), "long_training_findings", ctx, protocol=ctx.profile.protocol
    )
    return LongOutputs(analysis, descents, summary, figure)
