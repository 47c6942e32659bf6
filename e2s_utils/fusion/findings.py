"""What a compressor run shows, with intervals: every checkpoint's Q̄ and the paired comparisons.

:func:`with_intervals` adds each checkpoint's Q̄ interval to the checkpoint table (a bootstrap over
its fold scores); :func:`run_findings` compares the best-Q̄ checkpoint (the paper's choice) with the
best-validation-MSE one, the untrained compressor and random embeddings of the same ids, each
paired over the same folds, and words each comparison so that it states an order only where the
paired interval excludes zero. The best-Q̄ checkpoint is chosen on the folds it is scored on, so
its advantage over the others is optimistic; the sentences say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from e2s_utils.evaluate import stats
from e2s_utils.fusion.curve import best_checkpoints, probe_columns

if TYPE_CHECKING:
    from e2s_utils.evaluate import EvalResult


def _folds(results: Mapping[str, Mapping[str, EvalResult]], probe: str) -> stats.Scores:
    return {ckpt: by_probe[probe].fold_scores() for ckpt, by_probe in results.items()}


def with_intervals(
    table: pd.DataFrame,
    results: Mapping[str, Mapping[str, EvalResult]],
    settings: stats.BootstrapSettings | None = None,
) -> pd.DataFrame:
    """The checkpoint table with ``q_bar_lo`` / ``q_bar_hi`` (and ``_ridge``) per checkpoint.

    Args:
        table: :func:`~e2s_utils.fusion.curve.evaluate_checkpoints`'s table.
        results: the ``results`` it filled (every fold score per checkpoint and probe).
        settings: bootstrap settings (default: 95 %, studentized, 2,000 resamples).
    """
    out = table.copy()
    probes = {p for by_probe in results.values() for p in by_probe}
    for probe in sorted(probes):
        iv = stats.score_intervals(_folds(results, probe), settings)
        qcol = probe_columns(probe)[0]
        out[f"{qcol}_lo"] = [iv.q_bar[c].lo for c in out["checkpoint"]]
        out[f"{qcol}_hi"] = [iv.q_bar[c].hi for c in out["checkpoint"]]
        position = list(out.columns).index(qcol) + 1
        cols = [c for c in out.columns if c not in (f"{qcol}_lo", f"{qcol}_hi")]
        out = out[cols[:position] + [f"{qcol}_lo", f"{qcol}_hi"] + cols[position:]]
    return out


def run_findings(
    table: pd.DataFrame,
    results: Mapping[str, Mapping[str, EvalResult]],
    random: EvalResult,
    settings: stats.BootstrapSettings | None = None,
) -> list[dict[str, Any]]:
    """The run's paired comparisons (linear probe): best-Q̄ against best-MSE, untrained, random.

    Returns:
        One dict per comparison: ``what``, ``comparison`` (the
        :class:`~e2s_utils.evaluate.stats.Comparison` as a dict) and ``text``.
    """
    best = best_checkpoints(table)
    bq, bm = best["best_q"], best["best_mse"]
    first = table.sort_values("epoch").iloc[0]
    names = {
        "best-Q̄": (bq["checkpoint"], f"the best-Q̄ checkpoint (epoch {bq['epoch']})"),
        "best-MSE": (bm["checkpoint"], f"the best-MSE checkpoint (epoch {bm['epoch']})"),
        "untrained": (str(first["checkpoint"]), "the untrained compressor (epoch 0)"),
    }
    scores = _folds(results, "linear")
    scores["random"] = random.fold_scores()
    pairs = [("best-Q̄", "best-MSE"), ("best-Q̄", "untrained"), ("best-Q̄", "random")]
    label = {**{k: v[1] for k, v in names.items()}, "random": "random N(0, 1) embeddings"}
    key = {**{k: v[0] for k, v in names.items()}, "random": "random"}
    distinct = [(a, b) for a, b in pairs if key[a] != key[b]]
    comps = stats.compare_many(scores, [(key[a], key[b]) for a, b in distinct], settings)
    out = []
    for (a, b), comp in zip(distinct, comps, strict=True):
        text = stats.sentence(comp, label[a], label[b])
        if b == "best-MSE":
            text += "; the best-Q̄ checkpoint is chosen on these folds, so this favours it"
        out.append({"what": f"{a} vs {b}", "comparison": comp.to_dict(), "text": text})
    return out
