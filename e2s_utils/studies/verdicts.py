"""What the ablation concludes, stated from its numbers.

:func:`compare` sets two rows of Table 1 against each other; :func:`ablation_summary` collects the
study's comparisons (best fusion against the runner-up, the best single model, each baseline, the
uncompressed and PCA rows, dropout, the other preset) and :func:`format_summary` states them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from e2s_utils.studies.ablation import AblationRun


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b``: the difference of Q̄ means and whether it exceeds the seed spread.

    ``spread`` is NaN when a seeded row ran a single seed (its spread is unknown); the verdict
    then only says which is ahead (``ahead`` / ``behind``), never that the gap is real.
    """

    a: str
    b: str
    diff: float
    spread: float
    verdict: Literal["better", "worse", "tie", "ahead", "behind"]


def compare(table: pd.DataFrame, a: str, b: str) -> Comparison:
    """Compare two rows of Table 1 by Q̄, calling a difference within the seed spread a tie.

    The spread is ``sqrt(std_a² + std_b²)``, the std of the difference of two single-seed draws
    (a deterministic row has std 0; a single-seed row's std is unknown, and so is the spread).
    """
    ra = table.loc[table["method"] == a].iloc[0]
    rb = table.loc[table["method"] == b].iloc[0]
    diff = float(ra["q_bar_mean"] - rb["q_bar_mean"])
    spread = math.hypot(float(ra["q_bar_std"]), float(rb["q_bar_std"]))
    verdict: Literal["better", "worse", "tie", "ahead", "behind"]
    if not math.isfinite(spread):
        verdict = "ahead" if diff > 0 else "behind"
    elif abs(diff) <= spread:
        verdict = "tie"
    else:
        verdict = "better" if diff > 0 else "worse"
    return Comparison(a, b, diff, spread, verdict)


def ablation_summary(table: pd.DataFrame, runs: Sequence[AblationRun]) -> dict[str, Any]:
    """The computed conclusions of the ablation.

    Returns:
        A dict with the best fusion row, its Q̄ mean and std, the margin over the runner-up
        fusion and over the best single model (with verdicts), per-baseline comparisons and
        whether it beats every baseline beyond the spread, and where present the cost of
        compression (raw fused), PCA against the compressor, dropout, and the other preset.
    """
    by_label = {r.label: r for r in runs}
    present = set(table["method"])
    fusions = [
        r.label for r in runs if r.method == "fusion" and r.group == "paper" and r.label in present
    ]
    multi = [lab for lab in fusions if len(by_label[lab].models) > 1 and by_label[lab].dropout > 0]
    singles = [lab for lab in fusions if len(by_label[lab].models) == 1]
    t = table.set_index("method")
    out: dict[str, Any] = {}
    candidates = multi or fusions
    best = max(candidates, key=lambda lab: t.loc[lab, "q_bar_mean"])
    out["best_fusion"] = best
    out["best_q_bar"] = float(t.loc[best, "q_bar_mean"])
    out["best_q_bar_std"] = float(t.loc[best, "q_bar_std"])
    rest = [lab for lab in candidates if lab != best]
    if rest:
        runner = max(rest, key=lambda lab: t.loc[lab, "q_bar_mean"])
        out["runner_up"] = asdict(compare(table, best, runner))
    if singles:
        best_single = max(singles, key=lambda lab: t.loc[lab, "q_bar_mean"])
        out["best_single"] = asdict(compare(table, best, best_single))
    baselines = [r.label for r in runs if r.method == "baseline" and r.label in present]
    comps = [compare(table, best, b) for b in baselines]
    out["baselines"] = [asdict(c) for c in comps]
    # None: undecidable (a single seed gives no spread)
    out["beats_every_baseline"] = (
        None
        if any(c.verdict in ("ahead", "behind") for c in comps)
        else bool(comps) and all(c.verdict == "better" for c in comps)
    )
    for method, key in (("raw", "vs_raw"), ("pca", "vs_pca")):
        rows = [r.label for r in runs if r.method == method and r.label in present]
        if rows:
            out[key] = asdict(compare(table, best, rows[0]))
    nodrop = [r for r in runs if r.method == "fusion" and r.dropout == 0 and r.label in present]
    if nodrop:
        with_drop = [
            r.label
            for r in runs
            if r.method == "fusion"
            and r.dropout > 0
            and r.models == nodrop[0].models
            and r.group == "paper"
        ]
        if with_drop and with_drop[0] in present:
            out["dropout"] = asdict(compare(table, with_drop[0], nodrop[0].label))
    other = [
        r
        for r in runs
        if r.method == "fusion" and r.group == "beyond" and r.dropout > 0 and r.label in present
    ]
    if other:
        main = [
            r.label
            for r in runs
            if r.method == "fusion"
            and r.group == "paper"
            and r.models == other[0].models
            and r.dropout > 0
        ]
        if main and main[0] in present:
            out["presets"] = asdict(compare(table, main[0], other[0].label))
    return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """Sentences stating :func:`ablation_summary`'s conclusions, with their numbers."""

    def sentence(c: Mapping[str, Any], what: str) -> str:
        word = {
            "better": "beats",
            "worse": "loses to",
            "tie": "ties with",
            "ahead": "is ahead of",
            "behind": "is behind",
        }[c["verdict"]]
        spread = (
            f"seed spread {c['spread']:.2f}"
            if math.isfinite(c["spread"])
            else "one seed: spread unknown"
        )
        return f"{c['a']} {word} {what} {c['b']} by {c['diff']:+.2f} Q̄ ({spread})"

    std = summary["best_q_bar_std"]
    pm = f"± {std:.2f}" if math.isfinite(std) else "(one seed)"
    lines = [f"Best fusion: {summary['best_fusion']}, Q̄ = {summary['best_q_bar']:.2f} {pm}"]
    if "runner_up" in summary:
        lines.append(sentence(summary["runner_up"], "the runner-up fusion"))
    if "best_single" in summary:
        lines.append(sentence(summary["best_single"], "the best single model"))
    for c in summary.get("baselines", []):
        lines.append(sentence(c, "the baseline"))
    beats = summary.get("beats_every_baseline")
    lines.append(
        "It beats every baseline beyond the seed spread: "
        + ("undecided (one seed)" if beats is None else "yes" if beats else "no")
    )
    if "vs_raw" in summary:
        lines.append(sentence(summary["vs_raw"], "the uncompressed"))
    if "vs_pca" in summary:
        lines.append(sentence(summary["vs_pca"], "the classical"))
    if "dropout" in summary:
        lines.append(sentence(summary["dropout"], "its dropout-free twin"))
    if "presets" in summary:
        lines.append(sentence(summary["presets"], "the other preset"))
    return "\n".join(lines)
