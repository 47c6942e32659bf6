"""Confidence intervals and paired comparisons of NeuCo-Bench scores (Q per task, Q̄, Z).

Data contract (one, as in rliable): :data:`Scores` maps ``method -> task -> (S, K)`` fold scores,
``S`` seeds of the method (1 for a deterministic one; a ``(K,)`` array means ``S = 1``) by the
``K`` ShuffleSplit folds of the task. Fold ``k`` of a task is the same split for every method and
every seed (same ids, same split seed), so folds are *paired*. :func:`scores_from_frame` and
:func:`scores_to_frame` convert from and to the long frame ``method, task, seed, fold, score``.

Point estimates are the protocol's: per seed and task ``Q = 2 * mean / (0.02 + std)`` over the
folds (population std, NaN folds ignored), then the mean over seeds (the study's seed mean), and
``Q̄`` the mean over tasks; ``Z`` the paper's task-normalised score across the compared methods.

Resampling (:func:`scipy.stats.bootstrap` draws every resample; the statistic only gathers):

* folds: within each task, K fold indices drawn with replacement, independently across tasks
  (stratified over tasks) and shared by every method and seed of that task (paired);
* seeds: where a method has ``S >= 2`` seeds, S seed indices drawn with replacement once per
  resample and method and shared by all its tasks (a seed is one trained embedding scored on
  every task). Seeds and folds are crossed (fold k is the same split for every seed), so the
  two are drawn independently (the two-way "pigeonhole" bootstrap); seeds of different
  methods are not paired.

The intervals describe the protocol's split and seed noise on a fixed dataset: what another draw
of K splits (and S seeds) would give, not another draw of the samples.

Interval method. The default is the studentized bootstrap (bootstrap-t) for every value linear in
the task Q (Q, Q̄, ΔQ̄): percentiles of ``(v* - v) / se*``, ``se`` the delta-method standard error
of each resample (:mod:`resampling`); Z and P(A > B) get BCa. Q's fold std in the denominator
makes Q biased upwards at K = 40 (the std of 40 folds is underestimated), skewed, and its standard
error grows with Q. Coverage of nominal 95 % intervals, 1000 simulated studies, K = 40
(studentized / BCa / basic / percentile): one task, normal fold scores 94.0 / 91.6 / 92.1 /
87.5 %; left-skewed (skewness -1.4) 90.6 / 86.2 / 86.9 / 81.8 %; Q̄ over 11 tasks 93.7 / 88.5 /
91.5 / 61.5 % (the bias adds up over tasks and the percentile interval doubles it instead of
removing it). A bound that cannot be computed falls back to the percentile interval of the same
resamples and says so in its ``method``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .resampling import Q_OFFSET as Q_OFFSET  # re-exported
from .resampling import IndexStatistic, Parts, bootstrap_arrays, task_z
from .resampling import quality as quality  # re-exported

Scores = dict[str, dict[str, np.ndarray]]
"""``method -> task -> (S, K)`` fold scores (seeds by folds)."""

Verdict = Literal["A > B", "A < B", "not separated"]
BootMethod = Literal["studentized", "BCa", "percentile", "basic"]


# ============================================================================ data contract
def as_scores(scores: Mapping[str, Mapping[str, Any]]) -> Scores:
    """Validate fold scores and bring them to the contract's ``(S, K)`` float arrays.

    Args:
        scores: ``method -> task -> (K,) or (S, K)`` fold scores.

    Returns:
        A new :data:`Scores`, tasks in the first method's order.

    Raises:
        ValueError: no method, methods with different task sets, a method whose seed count
            differs between tasks, a task whose fold count differs between methods (the folds
            must be paired) or is below 2.
    """
    if not scores:
        raise ValueError("no method in the scores")
    out: Scores = {}
    tasks = list(next(iter(scores.values())))
    for method, per_task in scores.items():
        if set(per_task) != set(tasks):
            raise ValueError(f"method {method!r} has tasks {sorted(per_task)}, expected {tasks}")
        out[method] = {}
        for task in tasks:
            arr = np.asarray(per_task[task], dtype=np.float64)
            arr = arr[None, :] if arr.ndim == 1 else arr
            if arr.ndim != 2 or arr.shape[0] < 1:
                raise ValueError(f"{method!r}/{task!r}: need (K,) or (S, K), got {arr.shape}")
            out[method][task] = arr
    for method, per_task in out.items():
        if len({a.shape[0] for a in per_task.values()}) != 1:
            raise ValueError(f"method {method!r}: seed counts differ between tasks")
    for task in tasks:
        ks = {m: out[m][task].shape[1] for m in out}
        if len(set(ks.values())) != 1 or min(ks.values()) < 2:
            raise ValueError(f"task {task!r}: fold counts {ks}; need the same K >= 2 everywhere")
    return out


def scores_from_frame(frame: pd.DataFrame) -> Scores:
    """:data:`Scores` from a long frame with columns ``method, task, seed, fold, score``.

    A missing or all-null ``seed`` column means one seed per method. Seeds are ordered by value,
    folds by index; every (method, task, seed) must carry folds ``0 .. K-1``.
    """
    df = frame.copy()
    if "seed" not in df or df["seed"].isna().all():
        df["seed"] = 0
    out: dict[str, dict[str, np.ndarray]] = {}
    for (method, task), sub in df.groupby(["method", "task"], sort=False):
        wide = sub.pivot(index="seed", columns="fold", values="score").sort_index()
        folds = wide.columns.to_numpy()
        if not np.array_equal(folds, np.arange(len(folds))) or wide.isna().all(axis=1).any():
            raise ValueError(f"{method!r}/{task!r}: folds must be 0..K-1 for every seed")
        out.setdefault(str(method), {})[str(task)] = wide.to_numpy(np.float64)
    return as_scores(out)


def scores_to_frame(scores: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The long frame ``method, task, seed, fold, score`` (seed = row index) of fold scores."""
    rows = [
        (m, t, s, k, float(v))
        for m, per_task in as_scores(scores).items()
        for t, arr in per_task.items()
        for (s, k), v in np.ndenumerate(arr)
    ]
    return pd.DataFrame(rows, columns=["method", "task", "seed", "fold", "score"])


# ============================================================================ result objects
@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are computed.

    Attributes:
        level: two-sided confidence level.
        method: scipy's interval method (``BCa``, ``percentile`` or ``basic``).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator (same seed, same intervals).
        resample_seeds: also resample the seeds of a method that has several; ``False``
            conditions on the seeds that ran (only the fold noise).
    """

    level: float = 0.95
    method: BootMethod = "studentized"
    n_resamples: int = 2000
    seed: int = 0
    resample_seeds: bool = True


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval and how it was obtained.

    Attributes:
        estimate: the protocol's value on the data.
        lo: lower bound.
        hi: upper bound.
        se: bootstrap standard error.
        level: confidence level.
        method: interval method actually used.
        n_resamples: resamples.
        seed: seed of the resampling generator.
        resampling: what was resampled, in words.
    """

    estimate: float
    lo: float
    hi: float
    se: float
    level: float
    method: str
    n_resamples: int
    seed: int
    resampling: str

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies strictly outside the interval (False for a NaN interval)."""
        return bool(self.lo > value or self.hi < value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as ``None``)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        """Inverse of :meth:`to_dict`."""
        floats = ("estimate", "lo", "hi", "se", "level")
        values: dict[str, Any] = {
            k: (math.nan if d[k] is None else float(d[k])) if k in floats else d[k]
            for k in cls.__dataclass_fields__
        }
        return cls(**values)


@dataclass(frozen=True)
class ScoreIntervals:
    """Intervals of every score of several methods.

    Attributes:
        methods: method names, in input order.
        tasks: task names, in input order.
        q: ``method -> task -> Interval`` of the (seed-mean) task Q.
        q_bar: ``method -> Interval`` of Q̄.
        z: ``method -> Interval`` of Z (empty with fewer than two methods).
    """

    methods: tuple[str, ...]
    tasks: tuple[str, ...]
    q: dict[str, dict[str, Interval]]
    q_bar: dict[str, Interval]
    z: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "methods": list(self.methods),
            "tasks": list(self.tasks),
            "q_bar": {m: i.to_dict() for m, i in self.q_bar.items()},
            "z": {m: i.to_dict() for m, i in self.z.items()},
            "q": {m: {t: i.to_dict() for t, i in d.items()} for m, d in self.q.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreIntervals:
        """Inverse of :meth:`to_dict`."""
        iv = Interval.from_dict
        return cls(
            tuple(d["methods"]),
            tuple(d["tasks"]),
            {m: {t: iv(i) for t, i in q.items()} for m, q in d["q"].items()},
            {m: iv(i) for m, i in d["q_bar"].items()},
            {m: iv(i) for m, i in d["z"].items()},
        )

    def to_json(self) -> str:
        """Strict JSON text (no NaN)."""
        return json.dumps(self.to_dict(), allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ScoreIntervals:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against ``b``: paired interval of ΔQ̄ = Q̄_a - Q̄_b and P(a > b).

    Attributes:
        a: first method.
        b: second method.
        diff: interval of Q̄_a - Q̄_b.
        p_improve: interval of P(a > b) (see :func:`compare_many`).
        verdict: :func:`verdict` of ``diff``.
    """

    a: str
    b: str
    diff: Interval
    p_improve: Interval
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "a": self.a,
            "b": self.b,
            "diff": self.diff.to_dict(),
            "p_improve": self.p_improve.to_dict(),
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Comparison:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["a"],
            d["b"],
            Interval.from_dict(d["diff"]),
            Interval.from_dict(d["p_improve"]),
            d["verdict"],
        )


# ============================================================================ intervals
def _intervals(
    stat: IndexStatistic, settings: BootstrapSettings, what: str, seeded: Sequence[bool]
) -> list[Interval]:
    """Bootstrap ``stat``: one :class:`Interval` per statistic (``seeded``: seeds resampled)."""
    s = settings
    point, lo, hi, se, names = bootstrap_arrays(stat, s.level, s.method, s.n_resamples, s.seed)
    text = f"{what} over folds (within task, stratified over tasks)"
    out = []
    for j, v in enumerate(point):
        ok = math.isfinite(v)
        out.append(
            Interval(
                float(v),
                float(lo[j]) if ok else math.nan,
                float(hi[j]) if ok else math.nan,
                float(se[j]) if ok else math.nan,
                s.level,
                str(names[j]),
                s.n_resamples,
                s.seed,
                text + (" and seeds (within method)" if seeded[j] else ""),
            )
        )
    return out


def score_intervals(
    scores: Mapping[str, Mapping[str, Any]], settings: BootstrapSettings | None = None
) -> ScoreIntervals:
    """Intervals of every method's task Q, Q̄ and (two or more methods) Z, from one bootstrap.

    Args:
        scores: fold scores (:data:`Scores`).
        settings: interval settings (default: 95 % studentized, 2000 resamples, seed 0).

    Returns:
        The intervals; Z uses the tasks every method scored (finite Q) and BCa.
    """
    settings = settings or BootstrapSettings()
    sc = as_scores(scores)
    stat = IndexStatistic(sc, list(sc), settings.resample_seeds)
    n_m, n_t = len(stat.methods), len(stat.tasks)
    q0 = stat.parts(stat.samples()).q
    common = np.flatnonzero(np.isfinite(q0).all(axis=0)) if n_m >= 2 else np.array([], int)

    def output(p: Parts) -> tuple[np.ndarray, np.ndarray]:
        lead = p.q.shape[:-2]
        values = [p.q.reshape(*lead, -1), p.q.mean(axis=-1)]
        values += [task_z(p.q, common)] if common.size else []
        var_q = p.v_fold + p.seed_var(p.dev, per_task=True)
        var_bar = p.v_fold.sum(axis=-1) / n_t**2 + p.seed_var(p.dev.mean(axis=-1))
        return np.concatenate(values, axis=-1), np.concatenate(
            [var_q.reshape(*lead, -1), var_bar], axis=-1
        )

    stat.output = output
    flags = list(stat.resampled)
    iv = _intervals(
        stat,
        settings,
        "bootstrap",
        [f for f in flags for _ in range(n_t)] + flags + [bool(stat.seeded)] * n_m,
    )
    q = {
        m: {t: iv[i * n_t + j] for j, t in enumerate(stat.tasks)}
        for i, m in enumerate(stat.methods)
    }
    bar = n_m * n_t
    q_bar = {m: iv[bar + i] for i, m in enumerate(stat.methods)}
    z = {m: iv[bar + n_m + i] for i, m in enumerate(stat.methods)} if common.size else {}
    return ScoreIntervals(tuple(stat.methods), tuple(stat.tasks), q, q_bar, z)


def compare_many(
    scores: Mapping[str, Mapping[str, Any]],
    pairs: Sequence[tuple[str, str]],
    settings: BootstrapSettings | None = None,
) -> list[Comparison]:
    """Paired comparisons of Q̄ (one bootstrap for all pairs).

    ΔQ̄ = Q̄_a - Q̄_b is resampled with the same fold indices for both methods (paired), drawn
    independently per task (stratified); seeds of the two methods are resampled independently.
    P(a > b) is, per task, the probability that on a random fold (the same split for both) a
    random seed of ``a`` scores higher than a random seed of ``b`` (ties count half: rliable's
    probability of improvement with the fold pairing kept), averaged over tasks with equal
    weight; 0.5 means no tendency. Its interval is BCa.

    Args:
        scores: fold scores (:data:`Scores`).
        pairs: ``(a, b)`` method pairs.
        settings: interval settings.

    Returns:
        One :class:`Comparison` per pair, in order.
    """
    settings = settings or BootstrapSettings()
    sc = as_scores(scores)
    methods = list(dict.fromkeys(m for p in pairs for m in p))
    if missing := [m for m in methods if m not in sc]:
        raise KeyError(f"no fold scores for {missing}; have {list(sc)}")
    stat = IndexStatistic(sc, methods, settings.resample_seeds)
    pos = {m: i for i, m in enumerate(methods)}
    ia, ib = np.array([pos[a] for a, _ in pairs]), np.array([pos[b] for _, b in pairs])
    mean = np.nanmean if stat.has_nan else np.mean
    n_t = len(stat.tasks)

    def output(p: Parts) -> tuple[np.ndarray, np.ndarray]:
        q_bar = p.q.mean(axis=-1)
        prob = []
        for g in p.gathered:
            sign = [
                np.sign(p.rows(g, a)[..., :, None, :] - p.rows(g, b)[..., None, :, :])
                for a, b in zip(ia, ib)
            ]
            prob.append(np.stack([mean(x, axis=(-3, -2, -1)) for x in sign], axis=-1))
        v_fold = (
            sum(
                np.einsum(
                    "...pk,...pk->...p",
                    f[..., ia, :] - f[..., ib, :],
                    f[..., ia, :] - f[..., ib, :],
                )
                / f.shape[-1] ** 2
                for f in p.fold_if
            )
            / n_t**2
        )
        v_seed = p.seed_var(p.dev.mean(axis=-1))
        values = [q_bar[..., ia] - q_bar[..., ib], 0.5 + 0.5 * np.mean(prob, axis=0)]
        return np.concatenate(values, axis=-1), v_fold + v_seed[..., ia] + v_seed[..., ib]

    stat.output = output
    flags = [bool(stat.resampled[pos[a]] or stat.resampled[pos[b]]) for a, b in pairs]
    iv = _intervals(stat, settings, "paired bootstrap", flags * 2)
    n = len(pairs)
    return [Comparison(a, b, iv[i], iv[n + i], verdict(iv[i])) for i, (a, b) in enumerate(pairs)]


def compare(
    scores: Mapping[str, Mapping[str, Any]],
    a: str,
    b: str,
    settings: BootstrapSettings | None = None,
) -> Comparison:
    """Paired comparison of methods ``a`` and ``b`` (see :func:`compare_many`)."""
    return compare_many(scores, [(a, b)], settings)[0]


# ============================================================================ wording and tables
def verdict(diff: Interval) -> Verdict:
    """``"A > B"`` / ``"A < B"`` only when the interval of ΔQ̄ = Q̄_A - Q̄_B excludes zero."""
    if diff.lo > 0:
        return "A > B"
    if diff.hi < 0:
        return "A < B"
    return "not separated"


def _fmt(values: Sequence[float]) -> list[str]:
    """Format with two decimals, more (up to four) until no non-zero value prints as zero."""
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
    nd = 2
    while finite and nd < 4 and min(finite) < 0.5 * 10**-nd:
        nd += 1
    return [f"{v:+.{nd}f}" for v in values]


def sentence(c: Comparison, a: str | None = None, b: str | None = None) -> str:
    """The summary's wording of a comparison; it never states an order the interval lacks.

    Args:
        c: the comparison.
        a: display name of ``c.a`` (default: its name).
        b: display name of ``c.b``.

    Returns:
        e.g. ``"X beats Y by +1.23 Q̄ (95 % CI +0.40 to +2.10, paired bootstrap over folds,
        P(X > Y) = 0.71)"`` or ``"the data do not separate X and Y (ΔQ̄ +0.20, 95 % CI -0.90 to
        +1.30, ...)"``.
    """
    a, b = a or c.a, b or c.b
    d = c.diff
    if not math.isfinite(d.estimate):
        return f"{a} and {b} cannot be compared (Q̄ undefined: a task without a finite Q)"
    est, lo, hi = (v if "nan" not in v else "undefined" for v in _fmt([d.estimate, d.lo, d.hi]))
    how = "paired bootstrap over folds" + (" and seeds" if "seeds" in d.resampling else "")
    ci = f"{100 * d.level:g} % CI {lo} to {hi}, {how}, P({a} > {b}) = {c.p_improve.estimate:.2f}"
    if c.verdict == "A > B":
        return f"{a} beats {b} by {est} Q̄ ({ci})"
    if c.verdict == "A < B":
        return f"{a} loses to {b} by {est} Q̄ ({ci})"
    return f"the data do not separate {a} and {b} (ΔQ̄ {est}, {ci})"


def interval_columns(iv: ScoreIntervals) -> pd.DataFrame:
    """Per method ``Q̄``, ``Q̄ lo``, ``Q̄ hi`` (and ``Z``, ``Z lo``, ``Z hi``), index = method."""
    cols: dict[str, dict[str, float]] = {}
    for name, d in (("Q̄", iv.q_bar), ("Z", iv.z)):
        for m, i in d.items():
            cols.setdefault(name, {})[m] = i.estimate
            cols.setdefault(f"{name} lo", {})[m] = i.lo
            cols.setdefault(f"{name} hi", {})[m] = i.hi
    return pd.DataFrame(cols, index=pd.Index(iv.methods, name="method"))


def task_frame(iv: ScoreIntervals) -> pd.DataFrame:
    """Long frame of the task intervals: ``method, task, Q, Q lo, Q hi, Q se``."""
    rows = [(m, t, i.estimate, i.lo, i.hi, i.se) for m in iv.methods for t, i in iv.q[m].items()]
    return pd.DataFrame(rows, columns=["method", "task", "Q", "Q lo", "Q hi", "Q se"])


def mean_inside_mask(iv: ScoreIntervals) -> pd.DataFrame:
    """Heatmap mask (methods x tasks): True where the task Q interval holds the task's mean Q.

    The mean is over the methods' point estimates of that task; a True cell is not separated
    from the average method on that task (a NaN interval counts as True: nothing is shown).
    """
    f = task_frame(iv)
    mean = f.groupby("task", sort=False)["Q"].transform("mean")
    inside = ~((f["Q lo"] > mean) | (f["Q hi"] < mean))
    return (
        inside.set_axis(pd.MultiIndex.from_frame(f[["method", "task"]]))
        .unstack("task")
        .loc[list(iv.methods), list(iv.tasks)]
    )
