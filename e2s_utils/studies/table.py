"""Table 1 from the ablation's results: Q̄ over seeds, Z, validation MSE, the ridge-probe Q̄.

The paper's rows appear once per preset. The paper's own Q̄, Z and MSE stand beside the
``as_published_code`` rows only (the code that produced them); ``z_paper`` is computed, per preset,
over the paper's nine rows exactly as the paper's Z is; ``z`` over every row of the table.
Tables are computed with plain column names (``q_bar_mean``, ``z`` ...); :func:`present_table1`
renames them to the headers a reader sees (``Q̄ mean``, ``Z`` ...) only for display and saving,
so no logic depends on a display header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from e2s_utils.evaluate import stats
from e2s_utils.evaluate.compare import z_from_q
from e2s_utils.studies.ablation import AblationRun, Selection
from e2s_utils.studies.paper import PAPER_NO_DROPOUT_Q_BAR, paper_table1

#: The preset whose rows the paper's numbers came from.
PAPER_PRESET = "as_published_code"

#: Table 1's columns, in order, with the header each is shown under.
TABLE1_HEADERS: dict[str, str] = {
    "method": "method",
    "preset": "preset",
    "group": "group",
    "seeds": "seeds",
    "best_q_epochs": "best-Q̄ epoch",
    "q_bar_mean": "Q̄ mean",
    "q_bar_lo": "Q̄ lo",
    "q_bar_hi": "Q̄ hi",
    "q_bar_std": "Q̄ std",
    "z": "Z (all rows)",
    "z_lo": "Z lo",
    "z_hi": "Z hi",
    "z_paper": "Z (paper's nine rows)",
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
                    "title": run.title,
                    "preset": run.preset,
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

    def rows(self, preset: str | None = None) -> list[AblationRun]:
        """The rows of one preset's paper rows plus the beyond rows (``None``: every row)."""
        if preset is None:
            return list(self.runs)
        return [r for r in self.runs if r.group == "beyond" or r.preset == preset]

    def task_q(self, selection: Selection = "best_q", preset: str | None = None) -> pd.DataFrame:
        """Seed-mean per-task Q: rows = table rows (table order), columns = tasks.

        With ``preset``, that preset's paper rows and the beyond rows, indexed by label;
        without, every row, indexed by :attr:`AblationRun.title`.
        """
        df = self.frame(selection)
        key = "label" if preset is not None else "title"
        runs = self.rows(preset)
        df = df[df["name"].isin([r.name for r in runs])]
        q = df.groupby(key, sort=False)[[f"q_{t}" for t in self.tasks]].mean()
        q.columns = self.tasks
        order = [r.label if preset is not None else r.title for r in runs]
        return q.loc[[o for o in order if o in q.index]]

    def folds(self, selection: Selection = "best_q", probe: str = "linear") -> pd.DataFrame:
        """Every fold score behind the table: ``method, preset, title, task, seed, fold, score``."""
        key = "folds" if probe == "linear" else f"folds_{probe}"
        rows = []
        for run in self.runs:
            for unit in self.units.get(run.name, []):
                for task, scores in unit["selections"][selection].get(key, {}).items():
                    rows += [
                        (
                            run.label,
                            run.preset,
                            run.title,
                            task,
                            unit["seed"],
                            k,
                            np.nan if v is None else v,
                        )
                        for k, v in enumerate(scores)
                    ]
        columns = ["method", "preset", "title", "task", "seed", "fold", "score"]
        return pd.DataFrame(rows, columns=columns)

    def scores(self, selection: Selection = "best_q", probe: str = "linear") -> stats.Scores:
        """The statistics' data contract: row title -> task -> ``(seeds, folds)`` fold scores."""
        frame = (
            self.folds(selection, probe).drop(columns="method").rename(columns={"title": "method"})
        )
        frame["seed"] = frame["seed"].fillna(-1)
        return stats.scores_from_frame(frame[["method", "task", "seed", "fold", "score"]])


def with_intervals(
    table: pd.DataFrame, results: AblationResults, settings: stats.BootstrapSettings | None = None
) -> tuple[pd.DataFrame, stats.ScoreIntervals]:
    """Table 1 with the interval of every Q̄ and Z (over folds, and seeds where there are seeds).

    Returns:
        The table with ``q_bar_lo``, ``q_bar_hi``, ``z_lo``, ``z_hi`` (in
        :data:`TABLE1_HEADERS` order) and the :class:`~e2s_utils.evaluate.stats.ScoreIntervals`
        (per-task Q intervals included; its JSON records method, level and resample count).
    """
    iv = stats.score_intervals(results.scores(), settings or stats.BootstrapSettings())
    titles = [f"{m} [{p}]" for m, p in zip(table["method"], table["preset"], strict=True)]
    out = table.copy()
    out["q_bar_lo"] = [iv.q_bar[t].lo for t in titles]
    out["q_bar_hi"] = [iv.q_bar[t].hi for t in titles]
    out["z_lo"] = [iv.z[t].lo for t in titles]
    out["z_hi"] = [iv.z[t].hi for t in titles]
    order = [c for c in TABLE1_HEADERS if c in out.columns]
    return out[order], iv


def _mean_of(frame: pd.DataFrame, name: str, column: str) -> float:
    values = pd.to_numeric(frame.loc[frame["name"] == name, column], errors="coerce")
    return float(values.mean()) if values.notna().any() else np.nan


def _z_paper(results: AblationResults, q_all: pd.DataFrame) -> dict[str, float]:
    """Per preset, Z over that preset's nine paper rows (the paper's definition)."""
    out: dict[str, float] = {}
    for preset in dict.fromkeys(r.preset for r in results.runs if r.in_paper_z):
        titles = [r.title for r in results.runs if r.in_paper_z and r.preset == preset]
        titles = [t for t in titles if t in q_all.index]
        if len(titles) > 1:
            out.update(z_from_q(q_all.loc[titles])["Z"].to_dict())
    return out


def table1(results: AblationResults, selection: Selection = "best_q") -> pd.DataFrame:
    """Table 1: per row Q̄ mean and std over seeds, Z, validation MSE, the ridge-probe Q̄.

    ``q_bar_std`` is the sample std over seeds; 0 for deterministic rows, NaN for a single seed.

    Returns:
        One row per table row, the columns of :data:`TABLE1_HEADERS` up to ``q_bar_last``.
    """
    df = results.frame(selection)
    q_all = results.task_q(selection)
    z_all = z_from_q(q_all)["Z"]
    z_paper = _z_paper(results, q_all)
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
                "preset": run.preset,
                "group": run.group,
                "seeds": int(len(sub)) if seeded else 0,
                "best_q_epochs": "/".join(str(int(e)) for e in sub["epoch"]) if seeded else "",
                "q_bar_mean": float(qb.mean()),
                "q_bar_std": (float(qb.std(ddof=1)) if len(qb) > 1 else np.nan) if seeded else 0.0,
                "z": float(z_all[run.title]),
                "z_paper": z_paper.get(run.title, np.nan),
                "val_mse": _mean_of(df, run.name, "val_mse"),
                "q_bar_ridge": _mean_of(df, run.name, "q_bar_ridge"),
                "q_bar_best_mse": _mean_of(other["best_mse"], run.name, "q_bar"),
                "q_bar_last": _mean_of(other["last"], run.name, "q_bar"),
            }
        )
    columns = list(TABLE1_HEADERS)[: list(TABLE1_HEADERS).index("q_bar_last") + 1]
    return pd.DataFrame(rows, columns=columns)


def with_paper_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with the paper's Q̄, Z and val MSE beside the ``as_published_code`` paper rows."""
    paper = paper_table1().rename(
        columns={"Q̄": "paper_q_bar", "Z": "paper_z", "val MSE": "paper_val_mse"}
    )
    out = table.merge(paper, on="method", how="left")
    beside = (out["preset"] == PAPER_PRESET) & (out["group"] == "paper")
    out.loc[~beside, ["paper_q_bar", "paper_z", "paper_val_mse"]] = np.nan
    nodrop = out["method"].str.endswith("without dropout") & beside
    out.loc[nodrop, "paper_q_bar"] = PAPER_NO_DROPOUT_Q_BAR
    return out


def present_table1(table: pd.DataFrame) -> pd.DataFrame:
    """The table with reader-facing headers (for display and saving only)."""
    return table.rename(columns=TABLE1_HEADERS)
