"""What the ablation concludes, with the uncertainty the data carry.

Every comparison is paired: all rows are probed on the same folds (same ids, same split seed), so
:func:`~e2s_utils.evaluate.stats.compare` resamples the same folds for both rows (and seeds where
a row has seeds) and gives the interval of ΔQ̄ and P(A > B). A sentence states an order only when
that interval excludes zero; otherwise it says that the data do not separate the two rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from e2s_utils.evaluate import stats
from e2s_utils.studies.ablation import AblationRun
from e2s_utils.studies.table import AblationResults


@dataclass(frozen=True)
class Finding:
    """One comparison of the summary: what is compared, its interval, and the sentence."""

    what: str
    comparison: stats.Comparison
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"what": self.what, "comparison": self.comparison.to_dict(), "text": self.text}


def _pairs(
    runs: Sequence[AblationRun], table: pd.DataFrame, preset: str
) -> list[tuple[str, AblationRun, AblationRun]]:
    mean = dict(
        zip(zip(table["method"], table["preset"], strict=True), table["q_bar_mean"], strict=True)
    )
    q = {r.name: mean.get((r.label, r.preset), np.nan) for r in runs}
    paper = [r for r in runs if r.group == "paper" and r.preset == preset and r.dropout > 0]
    multi = [r for r in paper if len(r.models) > 1] or paper
    best = max(multi, key=lambda r: q[r.name])
    out: list[tuple[str, AblationRun, AblationRun]] = []
    rest = [r for r in multi if r is not best]
    if rest:
        out.append(("the runner-up fusion", best, max(rest, key=lambda r: q[r.name])))
    singles = [r for r in paper if len(r.models) == 1]
    if singles:
        out.append(("the best single model", best, max(singles, key=lambda r: q[r.name])))
    out += [("the baseline", best, r) for r in runs if r.method == "baseline"]
    out += [(f"the {r.method} row", best, r) for r in runs if r.method in ("raw", "pca")]
    for r in runs:
        if r.method == "fusion" and r.dropout == 0 and r.preset == preset:
            twin = [t for t in paper if t.models == r.models]
            out += [("its dropout-free twin", t, r) for t in twin]
    full = [r for r in runs if r.method == "fusion" and r.dropout > 0 and r.models == best.models]
    out += [("the other preset", best, r) for r in full if r.preset != preset]
    return out


def ablation_summary(
    results: AblationResults,
    table: pd.DataFrame,
    preset: str,
    settings: stats.BootstrapSettings | None = None,
) -> dict[str, Any]:
    """The ablation's conclusions on one preset's rows, each with its paired interval.

    Args:
        results: :func:`~e2s_utils.studies.units.run_ablation`'s results (with fold scores).
        table: :func:`~e2s_utils.studies.table.table1` of them (point estimates).
        preset: the preset whose paper rows are summarised (the table holds both).
        settings: bootstrap settings (default: 95 %, studentized, 2,000 resamples).

    Returns:
        ``preset``, ``best`` (the best multi-model fusion by point estimate), its ``best_q_bar``
        interval, ``findings`` (one per comparison) and ``beats_every_baseline`` (every baseline
        comparison separated in its favour), plus the bootstrap settings.
    """
    settings = settings or stats.BootstrapSettings()
    scores = results.scores()
    pairs = _pairs(results.runs, table, preset)
    comps = stats.compare_many(scores, [(a.title, b.title) for _, a, b in pairs], settings)
    findings = [
        Finding(what, c, stats.sentence(c, a.title, b.title))
        for (what, a, b), c in zip(pairs, comps, strict=True)
    ]
    best = pairs[0][1] if pairs else None
    iv = stats.score_intervals({best.title: scores[best.title]}, settings) if best else None
    baselines = [f for f in findings if f.what == "the baseline"]
    return {
        "preset": preset,
        "best": None if best is None else best.title,
        "best_q_bar": None if iv is None else iv.q_bar[best.title].to_dict(),  # type: ignore[union-attr]
        "findings": [f.to_dict() for f in findings],
        "beats_every_baseline": bool(baselines)
        and all(f.comparison.verdict == "A > B" for f in baselines),
        "settings": {
            "level": settings.level,
            "method": settings.method,
            "n_resamples": settings.n_resamples,
            "seed": settings.seed,
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as sentences: which preset, the best row with its interval, each finding."""
    lines = [f"Preset shown: {summary['preset']} (the paper's rows on its stores)."]
    if summary["best"] is not None:
        q = summary["best_q_bar"]
        lo, hi = (f"{v:.2f}" if v is not None else "undefined" for v in (q["lo"], q["hi"]))
        est = f"{q['estimate']:.2f}" if q["estimate"] is not None else "undefined"
        lines.append(
            f"Best multi-model fusion by point estimate: {summary['best']}, Q̄ = {est} "
            f"({100 * q['level']:g} % CI {lo} to {hi})."
        )
    for f in summary["findings"]:
        lines.append(f"Against {f['what']}: {f['text']}.")
    lines.append(
        "It beats every baseline (each paired interval above zero): "
        + ("yes" if summary["beats_every_baseline"] else "no, or not separated")
    )
    s = summary["settings"]
    lines.append(
        f"Intervals: {s['method']} bootstrap, {s['n_resamples']} resamples, "
        f"{100 * s['level']:g} % confidence (scipy.stats.bootstrap)."
    )
    return "\n".join(lines)
