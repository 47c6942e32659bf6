"""The controlled study's statistics, findings and artifacts.

Every probe of the study scores the same probed ids under the same protocol, so a task's K fold
scores are paired across all conditions (the same ShuffleSplit folds). Each experiment's
conditions form one :data:`~e2s_utils.evaluate.stats.Scores` (``condition -> task -> folds``):
:func:`~e2s_utils.evaluate.stats.score_intervals` gives every Q̄ its interval and
:func:`~e2s_utils.evaluate.stats.compare_many` every contrast its paired interval and probability
of improvement (stratified fold bootstrap; one simulation seed and one compressor seed per
condition, so the intervals cover the probe's split randomness only). :func:`findings` states the
four answers, each with its interval; :func:`save_controlled` writes the tables, the figures and
the ``controlled_findings`` the README shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2s_utils.evaluate import stats
from e2s_utils.studies.controlled import ControlledResult, LongUnit

if TYPE_CHECKING:
    from e2s_utils import provenance
    from e2s_utils.config import RunContext

#: The line every artifact of the study carries.
STAMP = (
    "CONTROLLED SIMULATION: simulated embedding blocks with known content - a model of the "
    "mechanism, not the paper's foundation models"
)
EXPERIMENTS: dict[str, str] = {
    "E1": "diversity vs width",
    "E2": "MSE vs Q̄",
    "E3": "long training",
    "E4": "the probe",
}


def _folds(rec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {t: np.array([np.nan if v is None else v for v in f]) for t, f in rec["folds"].items()}


def conditions(result: ControlledResult) -> pd.DataFrame:
    """One row per probed condition: ``experiment, condition, run, probe, epoch, val_mse, q_bar``
    and a ``record`` column holding its fold scores (see :func:`scores`)."""
    rows = []
    for unit in result.units:
        res, exp = result.results[unit.name], unit.name[:2].upper()
        if isinstance(unit, LongUnit):
            parts = [
                (f"{unit.name} {role}", res[role]["evals"]) for role in ("stepped", "constant")
            ]
        else:
            parts = [(unit.name, res["evals"])]
        for run, evals in parts:
            for key, rec in evals.items():
                probe = rec["probe"]
                if exp == "E4":
                    label = f"{key}, {probe}" + (
                        f" {rec['probe_epochs']} ep" if probe == "linear" else ""
                    )
                else:
                    label = f"{run.removeprefix(unit.name[:3])} @{rec['epoch']}" + (
                        " ridge" if probe == "ridge" else ""
                    )
                rows.append(
                    {
                        "experiment": exp,
                        "condition": label,
                        "run": run,
                        "key": key,
                        "probe": probe,
                        "epoch": rec.get("epoch"),
                        "val_mse": rec.get("val_mse"),
                        "q_bar": rec["q_bar"],
                        "record": rec,
                    }
                )
    return pd.DataFrame(rows)


def scores(frame: pd.DataFrame) -> stats.Scores:
    """``condition -> task -> folds`` of some rows of :func:`conditions`."""
    return {r.condition: _folds(r.record) for r in frame.itertuples()}


def intervals(frame: pd.DataFrame, settings: stats.BootstrapSettings) -> pd.DataFrame:
    """:func:`conditions` without the fold scores, with ``Q̄ lo`` and ``Q̄ hi`` per experiment."""
    parts = []
    for _, sub in frame.groupby("experiment", sort=False):
        iv = stats.score_intervals(scores(sub), settings)
        lo = [iv.q_bar[c].lo for c in sub["condition"]]
        hi = [iv.q_bar[c].hi for c in sub["condition"]]
        parts.append(sub.drop(columns="record").assign(q_bar_lo=lo, q_bar_hi=hi))
    return pd.concat(parts, ignore_index=True)


def _pick(frame: pd.DataFrame, run: str, epoch: int | None = None, probe: str = "linear") -> str:
    sub = frame[(frame["run"] == run) & (frame["probe"] == probe)]
    if epoch is not None:
        sub = sub[sub["epoch"] == epoch]
    return str(sub.sort_values("epoch")["condition"].iloc[-1])


Pair = tuple[str, str, str, str]
"""``(experiment, role, a, b)``: one contrast, ``a`` against ``b``."""


def contrasts(result: ControlledResult, frame: pd.DataFrame) -> list[Pair]:
    """The contrasts of the four experiments, each named by its role in the findings."""
    out: list[Pair] = []
    for probe, tag in (("linear", ""), ("ridge", " ridge")):
        comp = _pick(frame, "e1-complementary", probe=probe)
        out.append(("E1", f"overlapping{tag}", comp, _pick(frame, "e1-overlapping", probe=probe)))
        out.append(("E1", f"duplicated{tag}", comp, _pick(frame, "e1-duplicated", probe=probe)))
    e2 = frame[frame["experiment"] == "E2"]
    runs = list(dict.fromkeys(e2["run"]))
    out.append(("E2", "nuisance", _pick(frame, "e1-complementary"), _pick(frame, runs[0])))
    best_q, best_mse = _best(e2[e2["run"] == runs[0]])
    if best_q != best_mse:
        out.append(("E2", "best_q_vs_best_mse", best_q, best_mse))
    out += [("E2", "weight", _pick(frame, r), _pick(frame, runs[0])) for r in runs[1:]]
    for unit in (u for u in result.units if isinstance(u, LongUnit)):
        for role in ("stepped", "constant"):
            run = frame[frame["run"] == f"{unit.name} {role}"].sort_values("epoch")
            if len(run) == 2:  # its lowest-MSE epoch against its last
                out.append(("E3", "min_mse_vs_last", *run["condition"].iloc[:2]))
        stepped, constant = (_pick(frame, f"{unit.name} {r}") for r in ("stepped", "constant"))
        out.append(("E3", "stepped_vs_constant", stepped, constant))
    e4 = frame[frame["experiment"] == "E4"]
    cond = {(r.run, r.key): r.condition for r in e4.itertuples()}
    blocks = list(dict.fromkeys(e4["key"]))
    wide = "wide" if "wide" in blocks else blocks[-1]
    ridge, linear = cond[("e4-ridge", wide)], cond[("e4-linear", wide)]
    out.append(("E4", "ridge_vs_linear", ridge, linear))
    out.append(("E4", "epochs", linear, cond[("e4-linear-short", wide)]))
    for other in (b for b in blocks if b != wide):
        out.append(("E4", "access ridge", ridge, cond[("e4-ridge", other)]))
        out.append(("E4", "access linear", linear, cond[("e4-linear", other)]))
    return out


def _best(run: pd.DataFrame) -> tuple[str, str]:
    """The best-Q̄ and best-validation-MSE trained checkpoints of one run's linear probes."""
    lin = run[(run["probe"] == "linear") & (run["epoch"] > 0)]
    return (
        str(lin.loc[lin["q_bar"].idxmax(), "condition"]),
        str(lin.loc[lin["val_mse"].idxmin(), "condition"]),
    )


def comparisons(
    result: ControlledResult, frame: pd.DataFrame, settings: stats.BootstrapSettings
) -> pd.DataFrame:
    """Every contrast with its paired ΔQ̄ interval, P(a > b) and verdict (one row each)."""
    pairs = contrasts(result, frame)
    rows = []
    for exp in dict.fromkeys(p[0] for p in pairs):
        mine = [p for p in pairs if p[0] == exp]
        sub = frame[frame["experiment"].isin(["E1", "E2"] if exp == "E2" else [exp])]
        found = stats.compare_many(scores(sub), [(a, b) for _, _, a, b in mine], settings)
        for (_, role, _, _), c in zip(mine, found, strict=True):
            rows.append(
                {
                    "experiment": exp,
                    "role": role,
                    "a": c.a,
                    "b": c.b,
                    "delta_q_bar": c.diff.estimate,
                    "lo": c.diff.lo,
                    "hi": c.diff.hi,
                    "p_a_better": c.p_improve.estimate,
                    "verdict": c.verdict,
                    "text": stats.sentence(c),
                }
            )
    return pd.DataFrame(rows)


def _say(comps: pd.DataFrame, role: str, empty: str = "not measured") -> str:
    """The sentences of every contrast of a role, joined."""
    texts = comps.loc[comps["role"] == role, "text"]
    return "; ".join(texts) if len(texts) else empty


def _spearman(frame: pd.DataFrame) -> float:
    from scipy.stats import spearmanr

    runs = frame.loc[frame["experiment"] == "E2", "run"]
    e2 = frame[(frame["run"] == runs.iloc[0]) & (frame["probe"] == "linear")]
    e2 = e2.dropna(subset=["val_mse", "q_bar"])
    if len(e2) < 3 or e2["val_mse"].nunique() < 2:
        return math.nan
    return float(spearmanr(-e2["val_mse"], e2["q_bar"]).statistic)


def _descents(result: ControlledResult) -> str:
    from e2s_utils.studies.descents import detect_descents

    out = []
    for unit in (u for u in result.units if isinstance(u, LongUnit)):
        for role in ("stepped", "constant"):
            h = result.results[unit.name][role]["history"]
            a = detect_descents(h["epoch"][1:], h["val_mse"][1:])
            dd = " (a double descent)" if a.double_descent else ""
            out.append(
                f"{len(a.descents)} descent(s){dd} at a {role} rate on {unit.train_n} samples"
            )
    return "; ".join(out)


def _verdict(comps: pd.DataFrame, role: str) -> str | None:
    rows = comps.loc[comps["role"] == role, "verdict"]
    return str(rows.iloc[0]) if len(rows) else None


_ORDER = {"A > B": "higher", "A < B": "lower", "not separated": "not separated", None: "unmeasured"}


def conclusions(result: ControlledResult, frame: pd.DataFrame, comps: pd.DataFrame) -> list[str]:
    """One plain answer per experiment, read off the verdicts (an order only where the paired
    interval excludes zero)."""
    ov, dup = _verdict(comps, "overlapping"), _verdict(comps, "duplicated")  # complementary: A
    e1 = {
        "A > B": "Q̄ follows diversity: complementary blocks beat overlapping ones",
        "A < B": "Q̄ does not follow diversity here: at equal width and information, "
        "overlapping (redundant) blocks beat complementary ones",
    }.get(str(ov), "diversity alone is not separated at equal width and information")
    twice = {"A > B": "lower", "A < B": "higher"}.get(str(dup), _ORDER[dup])
    e1 += f"; the same block twice scores {twice} than the complementary set"
    sep = _verdict(comps, "best_q_vs_best_mse")
    e2 = {
        None: "among the probed checkpoints the best-Q̄ one is also the best-MSE one",
        "A > B": "MSE stops tracking Q̄ with a task-free block: longer training lowers MSE "
        "while Q̄ falls",
    }.get(sep, "the best-Q̄ and best-MSE checkpoints differ but are not separated")
    for row in comps[comps["role"] == "weight"].itertuples():
        w = str(row.a).split("-w", 1)[1].split(" ")[0]
        e2 += f"; loss weight {w} on that block gives {_ORDER[row.verdict]} Q̄ than weight 1"
    e3 = (
        "a double descent appears" if "double descent" in _descents(result) else "no double descent"
    )
    for row in comps[comps["role"] == "stepped_vs_constant"].itertuples():
        n = str(row.a).split("-n", 1)[1].split(" ")[0]
        e3 += f"; on {n} samples the stepped rate ends {_ORDER[row.verdict]} in Q̄ than the constant"
    e4 = frame[frame["experiment"] == "E4"].set_index(["run", "key"])["q_bar"]
    wide = "wide" if ("e4-ridge", "wide") in e4.index else e4.index[-1][1]
    ridge, linear = e4[("e4-ridge", wide)], e4[("e4-linear", wide)]
    share = 100 * (ridge - linear) / ridge if ridge > 0 else math.nan
    e4_text = (
        f"{share:.0f} % of the ridge probe's Q̄ on the {wide} block is beyond the protocol's "
        f"linear probe (ease of optimisation, not information)"
    )
    return [e1, e2, e3, e4_text]


def findings(result: ControlledResult, frame: pd.DataFrame, comps: pd.DataFrame) -> str:
    """The four findings as sentences, each with its paired interval, and what this is."""
    r = _spearman(frame)
    rho = f"; Spearman of -MSE and Q̄ over its checkpoints {r:+.2f}" if math.isfinite(r) else ""
    c = conclusions(result, frame, comps)
    lines = [
        f"E1 diversity vs width: {c[0]} ({result.n_probe:,} probed samples, folds paired). "
        f"Complementary against overlapping blocks of equal width: {_say(comps, 'overlapping')};"
        f" against the complementary set with one block twice: {_say(comps, 'duplicated')}; "
        f"with the ridge probe: {_say(comps, 'overlapping ridge')}; "
        f"{_say(comps, 'duplicated ridge')}.",
        f"E2 why MSE stops tracking Q̄: {c[1]}. Without against with a task-free high-variance "
        f"block: {_say(comps, 'nuisance')}; best-Q̄ against best-MSE checkpoint of that run: "
        f"{_say(comps, 'best_q_vs_best_mse', 'the same checkpoint')}{rho}; other loss weights "
        f"of the block (2 = the paper's Prithvi weight) against equal weights: "
        f"{_say(comps, 'weight')}.",
        f"E3 double descent: {c[2]}. Validation MSE shows {_descents(result)}; Q̄ at the lowest "
        f"validation MSE against the last epoch: "
        f"{_say(comps, 'min_mse_vs_last', 'the same checkpoint')}; stepped against constant "
        f"rate at the end: {_say(comps, 'stepped_vs_constant')}.",
        f"E4 the probe: {c[3]}. The converged ridge probe against the protocol's linear probe "
        f"on the same block: {_say(comps, 'ridge_vs_linear')}; more against fewer probe epochs: "
        f"{_say(comps, 'epochs')}; the same information narrow or behind a nonlinearity: "
        f"{_say(comps, 'access ridge')}; {_say(comps, 'access linear')}.",
        "This is a controlled simulation, a model of the mechanism with the answer known by "
        "construction, not the paper's foundation models; intervals cover the probe's fold "
        "randomness (one simulation and one compressor seed per condition).",
    ]
    return "\n".join(lines)


@dataclass
class ControlledOutputs:
    """What :func:`save_controlled` computed (besides the files it wrote).

    Attributes:
        conditions: every probed condition with its Q̄ interval.
        comparisons: every contrast with its paired interval.
        text: the findings (one line per experiment, then what this is).
        figures: the saved figures (a notebook displays them as PNGs).
    """

    conditions: pd.DataFrame
    comparisons: pd.DataFrame
    text: str
    figures: dict[str, provenance.SavedFigure]


def histories(result: ControlledResult) -> pd.DataFrame:
    """Per-epoch validation MSE of every trained run (``run, epoch, val_mse, lr``)."""
    parts = []
    for unit in result.units:
        res = result.results[unit.name]
        for run, h in (
            [(f"{unit.name} {r}", res[r]["history"]) for r in ("stepped", "constant")]
            if isinstance(unit, LongUnit)
            else [(unit.name, res.get("history"))]
        ):
            if h:
                parts.append(pd.DataFrame(h)[["epoch", "val_mse"]].assign(run=run))
    return pd.concat(parts, ignore_index=True)


def save_controlled(ctx: RunContext, result: ControlledResult) -> ControlledOutputs:
    """Write the conditions and comparisons tables, the two figures and the findings."""
    from e2s_utils import provenance
    from e2s_utils.plots import controlled as plots

    ctx.add_stamp(STAMP)
    protocol, cfg = ctx.profile.protocol, ctx.profile.controlled
    settings = stats.BootstrapSettings(n_resamples=cfg.n_resamples)
    frame = conditions(result)
    shown = intervals(frame, settings)
    comps = comparisons(result, frame, settings)
    text = findings(result, frame, comps)
    provenance.save_table(shown, "controlled_conditions", ctx, protocol=protocol)
    provenance.save_table(
        comps.drop(columns="text"), "controlled_comparisons", ctx, protocol=protocol
    )
    provenance.save_findings(text, "controlled_findings", ctx, protocol=protocol)
    figs = {
        "controlled_q_bar": plots.condition_intervals(shown),
        "controlled_mse_vs_q": plots.mse_and_q(histories(result), shown),
    }
    saved = {name: provenance.save_figure(fig, name, ctx) for name, fig in figs.items()}
    return ControlledOutputs(shown, comps, text, saved)
