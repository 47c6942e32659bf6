"""The resampling engine behind :mod:`stats`: a vectorised statistic over resampled indices.

:func:`scipy.stats.bootstrap` draws every resample. The data handed to it are *indices*: one
sample of fold indices per task (so tasks are resampled independently: stratified) and one sample
of seed indices per method with several seeds; :class:`IndexStatistic` gathers the fold scores of
every method and seed with the same fold indices (paired) and computes the protocol's Q, its
delta-method variance (for the studentized interval) and whatever the caller's ``output`` needs.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from scipy import stats as sps

Q_OFFSET = 0.02
"""The constant in the denominator of ``Q = 2 * mean / (0.02 + std)``."""


def quality(folds: np.ndarray, axis: int = -1) -> np.ndarray:
    """The protocol's Q of fold scores along ``axis`` (population std; NaN folds ignored)."""
    x = np.moveaxis(np.asarray(folds, dtype=np.float64), axis, -1)
    return q_influence(x, bool(np.isnan(x).any()))[0]


@dataclass
class Parts:
    """One call's resampled quantities; ``L`` = leading (resample) shape, R = (method, seed) rows.

    Attributes:
        q: seed-mean task Q ``(*L, M, T)``.
        v_fold: fold (delta-method) variance of ``q`` ``(*L, M, T)``.
        fold_if: per task, the method-level influence of each fold on ``q`` ``(*L, M, K)``.
        dev: per row, its seed's task Q minus its method's ``q`` ``(*L, R, T)``.
        gathered: per task, the resampled fold scores ``(*L, R, K)``.
        starts: first row of each method.
        counts: rows (seeds) of each method.
        resampled: whether each method's seeds are resampled.
    """

    q: np.ndarray
    v_fold: np.ndarray
    fold_if: list[np.ndarray]
    dev: np.ndarray
    gathered: list[np.ndarray]
    starts: np.ndarray
    counts: np.ndarray
    resampled: np.ndarray

    def rows(self, g: np.ndarray, i: int) -> np.ndarray:
        """Method ``i``'s seed rows of gathered scores ``(*L, R, K)``."""
        return g[..., self.starts[i] : self.starts[i] + self.counts[i], :]

    def seed_var(self, dev: np.ndarray, per_task: bool = False) -> np.ndarray:
        """Seed variance of method means from row deviations ``(*L, R)`` (``(*L, R, T)``).

        ``sum_s dev_s² / S²`` per method (the plug-in variance of a mean of S seeds), 0 for a
        method whose seeds are not resampled; ``(*L, M)`` (``(*L, M, T)`` per task).
        """
        cnt, mask = (
            (self.counts[:, None], self.resampled[:, None])
            if per_task
            else (self.counts, self.resampled)
        )
        return np.add.reduceat(dev**2, self.starts, axis=-2 if per_task else -1) / cnt**2 * mask


def q_influence(x: np.ndarray, nan: bool) -> tuple[np.ndarray, np.ndarray]:
    """Q along the last axis and each fold's influence on it (scaled to K folds).

    The influence of fold k is ``a d_k + b (d_k² - var)`` with ``d_k = x_k - mean``,
    ``a = 2 / (0.02 + sd)`` and ``b = -Q / (2 sd (0.02 + sd))`` (the delta method for the
    mean and the population std); ``sum_k infl_k² / K²`` estimates the variance of Q.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ok: Any = ~np.isnan(x) if nan else None
        n = ok.sum(axis=-1) if nan else x.shape[-1]
        mean = (np.where(ok, x, 0.0).sum(axis=-1) / n) if nan else x.mean(axis=-1)
        d = x - mean[..., None]
        if nan:
            d[~ok] = 0.0
        var = np.einsum("...k,...k->...", d, d) / n
        sd = np.sqrt(var)
        den = Q_OFFSET + sd
        q = 2.0 * mean / den
        b = np.where(sd > 0, -q / (2.0 * np.where(sd > 0, sd, 1.0) * den), 0.0)
        infl = d * b[..., None]  # d (a + b d) - b var, in place
        infl += (2.0 / den)[..., None]
        infl *= d
        infl -= (b * var)[..., None]
        return q, (infl * (x.shape[-1] / n)[..., None]) if nan else infl


class IndexStatistic:
    """Vectorised statistic over resampled *indices* (folds per task, seeds per method).

    :func:`scipy.stats.bootstrap` calls it with one index array per task (``(*L, K_t)``) and one
    per seed-resampled method (``(*L, S_m)``; a jackknife call may hold one seed less). ``output``
    maps :class:`Parts` to ``(values (*L, n), variances (*L, n_lin))``: the first ``n_lin``
    values are linear in the task Q and get a delta-method variance (for studentizing).
    """

    def __init__(
        self,
        scores: Mapping[str, Mapping[str, np.ndarray]],
        methods: Sequence[str],
        resample_seeds: bool,
    ) -> None:
        self.methods = list(methods)
        self.tasks = list(scores[self.methods[0]])
        self.n_seeds = np.array([scores[m][self.tasks[0]].shape[0] for m in self.methods])
        self.offsets = np.cumsum(self.n_seeds) - self.n_seeds
        self.arrays = [np.concatenate([scores[m][t] for m in self.methods]) for t in self.tasks]
        self.has_nan = any(np.isnan(a).any() for a in self.arrays)
        self.resampled = np.array([bool(resample_seeds) and s >= 2 for s in self.n_seeds])
        self.seeded = list(np.flatnonzero(self.resampled))
        self.output: Any = None
        self.theta0: np.ndarray | None = None  # set: return studentized values too

    def samples(self) -> list[np.ndarray]:
        """The index samples handed to scipy: fold indices per task, then seed indices."""
        folds = [np.arange(a.shape[1]) for a in self.arrays]
        return folds + [np.arange(self.n_seeds[i]) for i in self.seeded]

    def parts(self, idx: Sequence[np.ndarray]) -> Parts:
        """Gather the resampled folds and seeds and compute Q, its influences and deviations."""
        fold_idx = idx[: len(self.tasks)]
        seed_idx: dict[Any, np.ndarray] = dict(zip(self.seeded, idx[len(self.tasks) :]))
        lead = fold_idx[0].shape[:-1]
        counts, parts = self.n_seeds.copy(), []
        for i, off in enumerate(self.offsets):
            if i in seed_idx:
                counts[i] = seed_idx[i].shape[-1]
                parts.append(off + seed_idx[i])
            else:
                parts.append(np.broadcast_to(off + np.arange(counts[i]), (*lead, counts[i])))
        rows = np.concatenate(parts, axis=-1)[..., None]  # (*L, R, 1)
        starts = np.cumsum(counts) - counts
        q, v_fold, fold_if, dev, gathered = [], [], [], [], []
        for arr, fidx in zip(self.arrays, fold_idx):
            g = np.take(arr.reshape(-1), rows * arr.shape[1] + fidx[..., None, :])
            q_rows, infl = q_influence(g, self.has_nan)
            q_m = np.add.reduceat(q_rows, starts, axis=-1) / counts
            if_m = np.add.reduceat(infl, starts, axis=-2) / counts[:, None]
            q.append(q_m)
            fold_if.append(if_m)
            v_fold.append(np.einsum("...k,...k->...", if_m, if_m) / g.shape[-1] ** 2)
            dev.append(q_rows - np.repeat(q_m, counts, axis=-1))
            gathered.append(g)
        st = partial(np.stack, axis=-1)
        return Parts(st(q), st(v_fold), fold_if, st(dev), gathered, starts, counts, self.resampled)

    def __call__(self, *idx: np.ndarray, axis: int = -1) -> np.ndarray:
        values, var = self.output(self.parts(idx))
        if self.theta0 is not None:
            se, diff = np.sqrt(var), values[..., : var.shape[-1]] - self.theta0
            t = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.sign(diff) * np.inf)
            values = np.concatenate([values, np.where(diff == 0, 0.0, t)], axis=-1)
        return np.moveaxis(values, -1, 0)


def bootstrap_arrays(
    stat: IndexStatistic, level: float, method: str, n_resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bootstrap ``stat``: point values, bounds, standard errors and the method of each.

    ``studentized``: the first ``n_lin`` values (those with a variance) get the bootstrap-t
    interval ``[v - t_hi se, v - t_lo se]`` from the percentiles of ``(v* - v) / se*``; the others
    BCa from the same resamples. A bound that cannot be computed (a degenerate bootstrap
    distribution) falls back to the percentile interval of the same resamples.

    Returns:
        ``(point, lo, hi, se, method names)``, each of length ``n``.
    """
    samples = stat.samples()
    kw = dict(vectorized=True, axis=-1, confidence_level=level, paired=False, batch=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point, var0 = stat.output(stat.parts(samples))
        n, n_lin = point.size, var0.size
        stud = method == "studentized"
        stat.theta0 = point[:n_lin] if stud else None
        first = "percentile" if stud else method
        res = sps.bootstrap(
            samples,
            stat,
            n_resamples=n_resamples,
            method=first,
            rng=np.random.default_rng(seed),
            **kw,
        )
        ci = [np.array(np.atleast_1d(v), dtype=float) for v in res.confidence_interval]
        lo, hi, names = ci[0][:n].copy(), ci[1][:n].copy(), np.full(n, first, dtype=object)
        if stud:
            se0 = np.sqrt(var0)
            lo[:n_lin], hi[:n_lin] = (
                point[:n_lin] - ci[1][n:] * se0,
                point[:n_lin] - ci[0][n:] * se0,
            )
            names[:n_lin] = "studentized"
            if n > n_lin:
                bca = sps.bootstrap(
                    samples, stat, n_resamples=0, bootstrap_result=res, method="BCa", **kw
                ).confidence_interval
                lo[n_lin:], hi[n_lin:] = bca.low[n_lin:n], bca.high[n_lin:n]
                names[n_lin:] = "BCa"
    bad = ~(np.isfinite(lo) & np.isfinite(hi)) & np.isfinite(point)
    fb_lo, fb_hi = _nan_percentiles(res.bootstrap_distribution, n, level)
    lo, hi = np.where(bad, fb_lo, lo), np.where(bad, fb_hi, hi)
    names[bad] = [
        m if m.startswith("percentile") else f"percentile ({m} degenerate)" for m in names[bad]
    ]
    return point, lo, hi, np.atleast_1d(res.standard_error)[:n], names


def _nan_percentiles(
    distribution: np.ndarray, n: int, level: float, min_finite: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds of scipy's bootstrap distribution ignoring undefined resamples.

    A resample can leave a task without a finite fold (every drawn fold NaN); such resamples are
    left out, as long as at least ``min_finite`` of them are finite (else the bound is NaN).
    """
    dist = np.atleast_2d(np.asarray(distribution, dtype=float))[:n]
    alpha = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo = np.nanpercentile(dist, 100 * alpha, axis=-1)
        hi = np.nanpercentile(dist, 100 * (1 - alpha), axis=-1)
    enough = np.isfinite(dist).mean(axis=-1) >= min_finite
    return np.where(enough, lo, np.nan), np.where(enough, hi, np.nan)


def task_z(q: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    """Z per method from task Q ``(*L, M, T)`` on the given tasks (population std)."""
    q = q[..., tasks]
    sd = q.std(axis=-2, keepdims=True)
    z = np.where(sd > 0, (q - q.mean(axis=-2, keepdims=True)) / np.where(sd > 0, sd, 1.0), 0.0)
    return z.mean(axis=-1)
