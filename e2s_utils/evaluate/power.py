"""How much data a conclusion needs: the Q̄ difference the protocol resolves, now and at other n.

Model. For one task and one embedding the K fold scores are independent draws (ShuffleSplit draws
every split afresh) with mean ``mu``, std ``sigma``, skewness ``g`` and kurtosis ``kappa``. The
delta method gives the standard error of ``Q = 2 mu / (c + sigma)`` (``c = 0.02``)::

    se(Q) = sigma / ((c + sigma) sqrt(K)) * sqrt(4 + Q² (kappa - 1) / 4 - 2 Q g)

Scaling assumption. With a test size of 0.1 the fold score's spread comes from the ``0.1 n`` test
rows (and the ``0.9 n`` training rows) drawn, so ``sigma(n) = sigma(n0) (n0 / n) ** 0.5`` while
``mu``, ``g`` and ``kappa`` stay (a converged probe; the benchmark's 10-20 epoch probe also
improves ``mu`` with n, which this ignores). Consequences:

* ``Q(n) = 2 mu / (c + sigma(n))`` grows like ``sqrt(n)`` while ``sigma(n) >> c`` and saturates
  at ``2 mu / c = 100 mu`` once ``sigma(n) << c``;
* while ``sigma(n) >> c``, ``se(Q) ~ Q sqrt((kappa - 1) / (4 K))``: the *relative* precision of Q
  is set by K alone (about 11 % of Q at K = 40 for normal fold scores), so the resolvable
  *absolute* difference grows with n like Q does; only once ``sigma(n)`` approaches ``c`` does
  it shrink, like ``sigma(n)``. More folds help as ``1 / sqrt(K)`` at any n.

The exponent, measured with the protocol on synthetic embeddings (d = 64, two regression tasks,
n = 1,000 to 16,000, three datasets per n, K = 40): 0.47 and 0.47 with the converged ridge probe;
0.47 and 0.59 with the linear probe at 20 epochs from n = 4,000. With 10 epochs and n below about
8,000 the linear probe is optimisation-limited and its spread falls far faster (exponent about
2): project only from the fold scores of a converged probe (the ridge probe, or the linear probe
where the two agree).

:func:`project_scores` applies the assumption to fold scores (each row's deviations from its
fold mean shrink by ``(n0 / n) ** 0.5``; shape, fold pairing and seed offsets are kept), so every
interval of :mod:`stats` can be recomputed at another n. A difference is *resolvable* when its
paired interval excludes zero: the half-width of that interval is the smallest such difference,
and ``(z_{1 - alpha / 2} + z_{power}) * se`` the minimum detectable difference at that power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .stats import Q_OFFSET, BootstrapSettings, Scores, as_scores, compare, compare_many, quality


def q_se(
    mean: float | np.ndarray,
    std: float | np.ndarray,
    k: int,
    skew: float | np.ndarray = 0.0,
    kurtosis: float | np.ndarray = 3.0,
) -> np.ndarray:
    """Delta-method standard error of the protocol's Q from ``k`` folds.

    Args:
        mean: mean fold score.
        std: population std of the fold scores.
        k: number of folds.
        skew: skewness of the fold scores.
        kurtosis: kurtosis (3 for normal).

    Returns:
        The standard error (array-broadcast over the inputs).
    """
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    q = 2.0 * mean / (Q_OFFSET + std)
    inner = 4.0 + q**2 * (np.asarray(kurtosis) - 1.0) / 4.0 - 2.0 * q * np.asarray(skew)
    return std / ((Q_OFFSET + std) * math.sqrt(k)) * np.sqrt(np.maximum(inner, 0.0))


def _ratio(n_from: int | Mapping[str, int], n_to: int | Mapping[str, int], task: str) -> float:
    a = n_from[task] if isinstance(n_from, Mapping) else n_from
    b = n_to[task] if isinstance(n_to, Mapping) else n_to
    return float(a) / float(b)


def project_scores(
    scores: Mapping[str, Mapping[str, Any]],
    n_from: int | Mapping[str, int],
    n_to: int | Mapping[str, int],
    exponent: float = 0.5,
) -> Scores:
    """Fold scores as they would look with ``n_to`` probed samples per task instead of ``n_from``.

    Each (method, task, seed) row keeps its fold mean; its deviations from it are multiplied by
    ``(n_from / n_to) ** exponent`` (the scaling assumption of this module).

    Args:
        scores: fold scores.
        n_from: probed samples per task now (one number, or per task).
        n_to: probed samples per task to project to.
        exponent: the power of ``1 / n`` the fold std scales with.

    Returns:
        Projected :data:`Scores`.
    """
    out: Scores = {}
    for m, per_task in as_scores(scores).items():
        out[m] = {}
        for t, arr in per_task.items():
            mean = np.nanmean(arr, axis=-1, keepdims=True)
            out[m][t] = mean + (arr - mean) * _ratio(n_from, n_to, t) ** exponent
    return out


def q_bar_se(
    folds: Mapping[str, Any],
    n_from: int | Mapping[str, int] | None = None,
    n_to: int | Mapping[str, int] | None = None,
    k: int | None = None,
) -> float:
    """Delta-method standard error of one embedding's Q̄ (fold noise), optionally projected.

    Args:
        folds: ``task -> (K,)`` fold scores of one embedding (one seed).
        n_from: probed samples per task now (needed to project).
        n_to: probed samples per task to project to (default: no projection).
        k: folds to project to (default: the data's K).

    Returns:
        ``sqrt(sum_t se_t²) / T`` with each task's :func:`q_se` from its fold moments.
    """
    var = []
    for t, x in folds.items():
        x = np.asarray(x, dtype=float).ravel()
        x = x[np.isfinite(x)]
        mean, std = x.mean(), x.std()
        g = float(sps.skew(x)) if std > 0 else 0.0
        kap = float(sps.kurtosis(x, fisher=False)) if std > 0 else 3.0
        if n_to is not None:
            if n_from is None:
                raise ValueError("projecting needs n_from (the probed samples now) with n_to")
            std = std * _ratio(n_from, n_to, t) ** 0.5
        var.append(float(q_se(mean, std, k or x.size, g, kap)) ** 2)
    return math.sqrt(sum(var)) / len(var)


def mdd_factor(level: float = 0.95, power: float = 0.8) -> float:
    """``z_{1 - alpha / 2} + z_{power}``: minimum detectable difference per standard error."""
    return float(sps.norm.ppf(0.5 + level / 2) + sps.norm.ppf(power))


@dataclass(frozen=True)
class Resolution:
    """What the protocol resolves for one pair of methods at one n.

    Attributes:
        a: first method.
        b: second method.
        n: probed samples per task (as given; a mapping is reported by its mean).
        k: folds per task.
        diff: ΔQ̄ = Q̄_a - Q̄_b (point estimate).
        se: bootstrap standard error of ΔQ̄.
        half_width: half the width of the paired interval: differences smaller than this are
            never separated.
        mdd: minimum detectable difference at ``power`` (``mdd_factor * se``).
        verdict: the verdict at this n (projected: if the fold means stay as observed).
        level: confidence level.
        power: power of ``mdd``.
    """

    a: str
    b: str
    n: float
    k: int
    diff: float
    se: float
    half_width: float
    mdd: float
    verdict: str
    level: float
    power: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def resolution(
    scores: Mapping[str, Mapping[str, Any]],
    pairs: Sequence[tuple[str, str]],
    n_now: int | Mapping[str, int],
    n_to: Sequence[int] = (8100,),
    *,
    k_to: int | None = None,
    power: float = 0.8,
    settings: BootstrapSettings | None = None,
) -> list[Resolution]:
    """Resolvable ΔQ̄ per pair on the data (``n_now``) and projected to each of ``n_to``.

    Args:
        scores: fold scores.
        pairs: ``(a, b)`` method pairs.
        n_now: probed samples per task of the data (one number or per task).
        n_to: sample sizes to project to (the real evaluation split: about 8,100).
        k_to: folds to project to (widths scale with ``sqrt(K / k_to)``); default: the data's.
        power: power of the minimum detectable difference.
        settings: interval settings.

    Returns:
        For every n (the data's first) and pair, a :class:`Resolution`.
    """
    settings = settings or BootstrapSettings()
    sc = as_scores(scores)
    k = next(iter(next(iter(sc.values())).values())).shape[1]
    shrink = math.sqrt(k / k_to) if k_to else 1.0
    factor = mdd_factor(settings.level, power)
    n0 = float(np.mean(list(n_now.values()))) if isinstance(n_now, Mapping) else float(n_now)
    out = []
    for n in [None, *n_to]:
        data = sc if n is None else project_scores(sc, n_now, n)
        for c in compare_many(data, pairs, settings):
            d = c.diff
            out.append(
                Resolution(
                    c.a,
                    c.b,
                    n0 if n is None else float(n),
                    k_to or k,
                    d.estimate,
                    d.se * shrink,
                    (d.hi - d.lo) / 2 * shrink,
                    factor * d.se * shrink,
                    c.verdict,
                    settings.level,
                    power,
                )
            )
    return out


def resolution_frame(resolutions: Sequence[Resolution]) -> pd.DataFrame:
    """Table of :func:`resolution`: one row per (n, pair)."""
    return pd.DataFrame([r.to_dict() for r in resolutions])


def seed_spread(scores: Mapping[str, Mapping[str, Any]], method: str) -> float:
    """Sample std (ddof 1) over seeds of a method's per-seed Q̄ (NaN with one seed)."""
    per_task = as_scores(scores)[method]
    q = np.mean([quality(arr) for arr in per_task.values()], axis=0)  # (S,)
    return float(np.std(q, ddof=1)) if q.size > 1 else math.nan


def seeds_needed(
    delta: float,
    fold_se: float,
    seed_sd_a: float,
    seed_sd_b: float = 0.0,
    level: float = 0.95,
    power: float = 0.8,
) -> float:
    """Seeds per method needed to detect a ΔQ̄ of ``delta`` at ``power``.

    ``se(S)² = fold_se² + (seed_sd_a² + seed_sd_b²) / S`` (the fold noise is shared by all seeds
    of a method, since every seed is probed on the same splits); the smallest S with
    ``mdd_factor * se(S) <= |delta|``.

    Args:
        delta: the difference to detect.
        fold_se: standard error of ΔQ̄ from the folds alone (seeds held fixed:
            ``BootstrapSettings(resample_seeds=False)``).
        seed_sd_a: seed-to-seed std of Q̄ of the first method (:func:`seed_spread`).
        seed_sd_b: the same for the second (0 for a deterministic method).
        level: confidence level.
        power: wanted power.

    Returns:
        The number of seeds (at least 1), ``inf`` when the fold noise alone is too large
        (more folds or samples are needed, not seeds), NaN when the noise is undefined.
    """
    budget = (abs(delta) / mdd_factor(level, power)) ** 2 - fold_se**2
    seed_var = seed_sd_a**2 + seed_sd_b**2
    if not (math.isfinite(budget) and math.isfinite(seed_var)):
        return math.nan  # the fold noise could not be measured
    if budget <= 0:
        return math.inf
    return float(max(1, math.ceil(seed_var / budget)))


def seeds_for(
    scores: Mapping[str, Mapping[str, Any]],
    a: str,
    b: str,
    delta: float,
    *,
    power: float = 0.8,
    settings: BootstrapSettings | None = None,
) -> float:
    """:func:`seeds_needed` with its inputs measured on fold scores.

    The fold standard error is the paired bootstrap's with the seeds held fixed; each seed spread
    is :func:`seed_spread` (a method with one seed counts as deterministic: spread 0).

    Args:
        scores: fold scores of both methods.
        a: first method.
        b: second method.
        delta: the ΔQ̄ to detect.
        power: wanted power.
        settings: interval settings (``resample_seeds`` is switched off here).

    Returns:
        Seeds per method, or ``inf`` when more seeds cannot help.
    """
    s = settings or BootstrapSettings()
    fixed = BootstrapSettings(s.level, s.method, s.n_resamples, s.seed, resample_seeds=False)
    fold_se = compare(scores, a, b, fixed).diff.se
    spread = [seed_spread(scores, m) for m in (a, b)]
    sd_a, sd_b = (0.0 if math.isnan(x) else x for x in spread)
    return seeds_needed(delta, fold_se, sd_a, sd_b, s.level, power)
