"""Comparing methods: the methods x tasks table of Q, the paper's Z and the benchmark's leaderboard.

Z is computed in one place, :func:`z_from_q`, from a plain methods x tasks DataFrame of Q, so the
ablation's tables and :func:`z_scores` of evaluation results agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from e2s_utils.evaluate.results import EvalResult


def q_table(results: Mapping[str, EvalResult]) -> pd.DataFrame:
    """Methods x tasks table of Q (union of tasks)."""
    table = pd.DataFrame({m: {t: r.q for t, r in res.tasks.items()} for m, res in results.items()})
    return table.T.rename_axis(index="method", columns="task")


def z_from_q(q: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """The paper's task-normalised score from a methods x tasks table of Q.

    ``Z_t^m = (Q_t^m - mean_m Q_t^m) / std_m Q_t^m`` across the compared methods (population std by
    default); only tasks every method scored are used, and a task on which every method scores the
    same contributes 0. ``Z^m`` is the mean over tasks.

    Args:
        q: rows = methods, columns = tasks.
        ddof: degrees of freedom of the across-method std.

    Returns:
        The per-task Z of each method plus a ``Z`` column (their mean over tasks).
    """
    q = q.astype(float)
    q = q.loc[:, q.notna().all(axis=0)]
    std = q.std(axis=0, ddof=ddof)
    z = (q - q.mean(axis=0)) / std.replace(0.0, np.nan)
    z = z.fillna(0.0)
    z["Z"] = z.mean(axis=1) if z.shape[1] else np.nan
    return z


def z_scores(results: Mapping[str, EvalResult], ddof: int = 0) -> pd.DataFrame:
    """:func:`z_from_q` of the results' :func:`q_table`."""
    return z_from_q(q_table(results), ddof=ddof)


def leaderboard(results: Mapping[str, EvalResult]) -> pd.DataFrame:
    """The benchmark's leaderboard.

    Methods with a NaN task are dropped; each task ranks the methods by Q (1 = best, ties get the
    lowest rank); tasks are weighted by the across-method std (ddof 1) of Q, normalised to sum 1
    (uniform with a single method); the weighted rank sum is ranked again.

    Args:
        results: method name -> result.

    Returns:
        One row per method, best first: ``method``, ``mean_score`` (Q̄), ``weighted_score``,
        ``aggregated_rank`` and the per-task Q.
    """
    from scipy.stats import rankdata

    q = q_table(results)
    tasks = list(q.columns)
    q = q[q.notna().all(axis=1)]
    columns = ["method", "mean_score", "weighted_score", "aggregated_rank", *tasks]
    if q.empty:
        return pd.DataFrame(columns=columns)
    scores = q.to_numpy(dtype=np.float64)
    ranks = rankdata(-scores, axis=0, method="min")
    if len(q) > 1:
        stds = np.std(scores, axis=0, ddof=1)
        weights = stds / stds.sum() if stds.sum() > 0 else np.full(len(tasks), 1 / len(tasks))
    else:
        weights = np.full(len(tasks), 1.0 / len(tasks))
    board = q.reset_index()
    board["mean_score"] = scores.mean(axis=1)
    board["weighted_score"] = (ranks * weights).sum(axis=1)
    board["aggregated_rank"] = rankdata(board["weighted_score"].to_numpy(), method="min")
    return board.sort_values("weighted_score", kind="stable")[columns].reset_index(drop=True)
