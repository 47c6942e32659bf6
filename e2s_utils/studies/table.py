"""Table 1 from the ablation's results: Q̄ over seeds, Z, validation MSE, the ridge-probe Q̄.

Tables are computed with plain column names (``q_bar_mean``, ``z`` ...); :func:`present_table1`
renames them to the headers a reader sees (``Q̄ mean``, ``Z`` ...) only for display and saving,
so no logic ever depends on a display header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from e2s_utils.evaluate.compare import z_from_q
from e2s_utils.studies.ablation import AblationRun, Selection
from e2s_utils.studies.paper import PAPER_NO_DROPOUT_Q_BAR, paper_table1

#: Table 1's columns, in order, with the header each is shown under.
TABLE1_HEADERS: dict[str, str] = {
    "method": "method",
    "group": "group",
    "seeds": "seeds",
    "best_q_epochs": "best-Q̄ epoch",
    "q_bar_mean": "Q̄ mean",
    "q_bar_std": "Q̄ std",
    "z": "Z",
    "z_paper": "Z (paper rows)",
    "val_mse": "val MSE",
    "q_bar_ridge": "Q̄ ridge probe",
    "q_bar_best_mse": "Q̄ at best-MSE epoch",
    "q_bar_last": "Q̄ at last epoch",
    "paper_q_bar": "paper Q̄",
    "paper_z": "paper Z",
    "paper_val_mse": "paper val MSE",
}


@dataclass
class AblationResults:
    """Every unit's result of one ablation study.

    Attributes:
        runs: the rows, in table order.
        units: per row name, the per-seed results (:func:`~e2s_utils.studies.units.run_unit`).
        tasks: the task names.
        protocol: the protocol every evaluation ran under.
    """

    runs: list[AblationRun]
    units: dict[str, list[dict[str, Any]]]
    tasks: list[str]
    protocol: dict[str, Any]

    def frame(self, selection: Selection = "best_q") -> pd.DataFrame:
        """Long frame: one row per (table row, seed) with ``q_bar``, ``val_mse`` and ``q_<task>``."""
        rows = []
        for run in self.runs:
            for unit in self.units.get(run.name, []):
                rec = unit["selections"][selection]
                row = {
                    "name": run.name,
                    "label": run.label,
                    "method": run.method,
                    "group": run.group,
                    "seed": unit["seed"],
                    "epoch": rec["epoch"],
                    "q_bar": rec["q_bar"],
                    "q_bar_ridge": rec["q_bar_ridge"],
                    "val_mse": rec["val_mse"],
                }
                row.update({f"q_{t}": rec["q"].get(t, np.nan) for t in self.tasks})
                rows.append(row)
        return pd.DataFrame(rows)

    def task_q(self, selection: Selection = "best_q") -> pd.DataFrame:
        """Seed-mean per-task Q: rows = table labels (table order), columns = tasks."""
        df = self.frame(selection)
        q = df.groupby("label", sort=False)[[f"q_{t}" for t in self.tasks]].mean()
        q.columns = self.tasks
        return q.loc[[r.label for r in self.runs if r.label in q.index]]

    def folds(self, selection: Selection = "best_q", probe: str = "linear") -> pd.DataFrame:
        """Every fold score behind the table: columns ``method, task, seed, fold, score``."""
        key = "folds" if probe == "linear" else f"folds_{probe}"
        rows = []
        for run in self.runs:
            for unit in self.units.get(run.name, []):
                for task, scores in unit["selections"][selection].get(key, {}).items():
                    rows += [
                        (run.label, task, unit["seed"], k, np.nan if v is None else v)
                        for k, v in enumerate(scores)
                    ]
        return pd.DataFrame(rows, columns=["method", "task", "seed", "fold", "score"])


def _mean_of(frame: pd.DataFrame, name: str, column: str) -> float:
    values = pd.to_numeric(frame.loc[frame["name"] == name, column], errors="coerce")
    return float(values.mean()) if values.notna().any() else np.nan


def table1(results: AblationResults, selection: Selection = "best_q") -> pd.DataFrame:
    """Table 1: per row Q̄ mean and std over seeds, Z, validation MSE, the ridge-probe Q̄.

    Z is computed from the seed-mean per-task Q across every row of the table; ``z_paper`` only
    across the paper's rows (comparable to the paper's Z; NaN for the other rows). ``q_bar_std``
    is the sample std over seeds; 0 for deterministic rows, NaN for a single seed.

    Returns:
        One row per table row, the columns of :data:`TABLE1_HEADERS` up to ``q_bar_last``.
    """
    df = results.frame(selection)
    q = results.task_q(selection)
    z_all = z_from_q(q)["Z"]
    paper_labels = [r.label for r in results.runs if r.group == "paper" and r.label in q.index]
    z_paper = z_from_q(q.loc[paper_labels])["Z"] if len(paper_labels) > 1 else pd.Series()
    other = {s: results.frame(s) for s in ("best_mse", "last")}
    rows = []
    for run in results.runs:
        sub = df[df["name"] == run.name]
        if sub.empty:
            continue
        qb = sub["q_bar"].astype(float)
        seeded = run.seeded
        rows.append(
            {
                "method": run.label,
                "group": run.group,
                "seeds": int(len(sub)) if seeded else 0,
                "best_q_epochs": "/".join(str(int(e)) for e in sub["epoch"]) if seeded else "",
                "q_bar_mean": float(qb.mean()),
                "q_bar_std": (float(qb.std(ddof=1)) if len(qb) > 1 else np.nan) if seeded else 0.0,
                "z": float(z_all[run.label]),
                "z_paper": float(z_paper[run.label]) if run.label in z_paper else np.nan,
                "val_mse": _mean_of(df, run.name, "val_mse"),
                "q_bar_ridge": _mean_of(df, run.name, "q_bar_ridge"),
                "q_bar_best_mse": _mean_of(other["best_mse"], run.name, "q_bar"),
                "q_bar_last": _mean_of(other["last"], run.name, "q_bar"),
            }
        )
    columns = list(TABLE1_HEADERS)[: list(TABLE1_HEADERS).index("q_bar_last") + 1]
    return pd.DataFrame(rows, columns=columns)


def with_paper_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with the paper's Q̄, Z and val MSE beside each row that has a paper counterpart."""
    paper = paper_table1().rename(
        columns={"Q̄": "paper_q_bar", "Z": "paper_z", "val MSE": "paper_val_mse"}
    )
    out = table.merge(paper, on="method", how="left")
    nodrop = out["method"].str.endswith("without dropout") & (out["group"] == "paper")
    out.loc[nodrop, "paper_q_bar"] = PAPER_NO_DROPOUT_Q_BAR
    return out


def present_table1(table: pd.DataFrame) -> pd.DataFrame:
    """The table with reader-facing headers (for display and saving only)."""
    return table.rename(columns=TABLE1_HEADERS)
