"""The NeuCo-Bench protocol: its named presets and its elements (splits, scaling, metric, Q).

A :class:`Protocol` holds every value that shapes a score. Three presets, chosen by one name:

* ``paper``: K = 40 folds, 20 probe epochs, all 11 tasks; the benchmark's defaults from its first
  release (May 2025) until early 2026, so the values behind the paper's Table 1;
* ``challenge``: K = 200, 20 epochs, the cloud and no-data tasks excluded (the challenge ranking:
  the paper's 15.44, the leaderboard's 15.225);
* ``neuco_current``: K = 40, 10 epochs (a sample configuration of the benchmark from mid-2026).

A protocol's name and every one of its values go into each result's ``config``, into every cache
key (:mod:`e2s_utils.cache`) and into every results table, so a change of protocol can never reuse a
score computed under another.

Protocol elements: embeddings standardised with one global scalar mean and population std;
labels min-max scaled to [0, 1] per task; ``ShuffleSplit(K, test_size=0.1, random_state=seed)``;
per fold a ``Linear(d, 1)`` probe (AdamW lr 1e-3, weight decay 0.01, batch 64); the fold score is
the best epoch-end test R² (regression) or binary F1 (classification); per task
``Q = 2 * mean / (0.02 + std)`` over the K fold scores (population std); Q̄ is the mean of task Q.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from e2s_utils.evaluate.torch_rng import TorchCPUGenerator

ProtocolName = Literal["paper", "challenge", "neuco_current"]
PROTOCOL_NAMES: tuple[ProtocolName, ...] = get_args(ProtocolName)
RandomStream = Literal["exact", "per_fold"]
Probe = Literal["linear", "ridge"]
PROBES: tuple[Probe, ...] = ("linear", "ridge")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
TEST_SIZE = 0.1


@dataclass(frozen=True)
class Protocol:
    """Every value of the benchmark protocol that changes a score.

    Attributes:
        name: the preset it was derived from (``paper``, ``challenge``, ``neuco_current``).
        k_folds: ShuffleSplit folds per task.
        epochs: linear-probe epochs per fold.
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        seed: ShuffleSplit ``random_state`` and the root of the probe's random numbers.
        exclude_tasks: tasks left out of the evaluation (and of Q̄).
        random_stream: ``exact``: every random number drawn in the benchmark's own order from one
            global stream (scores equal the benchmark's for the same seed); ``per_fold``: each fold
            draws from its own generator (a task's score does not depend on the other tasks).
        standardize_embeddings: global scalar standardisation (on in the benchmark).
        normalize_labels: per-task min-max label scaling (on in the benchmark).
        overrides: names of the fields changed from the named preset (recorded, not compared).
    """

    name: str
    k_folds: int
    epochs: int
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    seed: int = 42
    exclude_tasks: tuple[str, ...] = ()
    random_stream: RandomStream = "exact"
    standardize_embeddings: bool = True
    normalize_labels: bool = True
    overrides: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.k_folds < 1 or self.epochs < 0 or self.batch_size < 1:
            raise ValueError(
                f"protocol {self.name!r}: k_folds and batch_size must be >= 1 and epochs >= 0"
            )
        if self.random_stream not in get_args(RandomStream):
            raise ValueError(f"random_stream must be one of {get_args(RandomStream)}")
        object.__setattr__(self, "exclude_tasks", tuple(sorted(self.exclude_tasks)))

    def to_dict(self) -> dict[str, Any]:
        """Every value, JSON-able (what results, manifests and cache keys record)."""
        out = dataclasses.asdict(self)
        out["exclude_tasks"] = list(self.exclude_tasks)
        out["overrides"] = list(self.overrides)
        return out

    def label(self) -> str:
        """``paper (K = 40, 20 epochs)``, with overridden fields named."""
        text = f"{self.name} (K = {self.k_folds}, {self.epochs} epochs"
        if self.overrides:
            text += f"; overridden: {', '.join(self.overrides)}"
        return text + ")"

    def with_overrides(self, **changes: Any) -> Protocol:
        """A copy with fields changed (``None`` values ignored); the changed names are recorded."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)} - {"name"})
        if unknown:
            raise ValueError(f"unknown protocol field(s) {unknown}")
        changed = [k for k, v in changes.items() if getattr(self, k) != v]
        if not changed:
            return self
        overrides = tuple(sorted(set(self.overrides) | set(changed)))
        return dataclasses.replace(self, **changes, overrides=overrides)


#: The named presets.
PROTOCOLS: dict[str, Protocol] = {
    "paper": Protocol("paper", k_folds=40, epochs=20),
    "challenge": Protocol(
        "challenge", k_folds=200, epochs=20, exclude_tasks=("clouds_reg", "nodata")
    ),
    "neuco_current": Protocol("neuco_current", k_folds=40, epochs=10),
}


def get_protocol(name: str, **overrides: Any) -> Protocol:
    """The named preset with optional overrides (``None`` means "the preset's value").

    Raises:
        ValueError: for an unknown name or field.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {PROTOCOL_NAMES}")
    return PROTOCOLS[name].with_overrides(**overrides)


# ---------------------------------------------------------------------------------- elements
def quality(mean: float, std: float) -> float:
    """The benchmark's quality ``Q = 2 * mean / (0.02 + std)`` (at most 100; NaN in, NaN out)."""
    return float(2.0 * mean / (0.02 + std))


def summarize_folds(folds: np.ndarray) -> tuple[float, float, float]:
    """Mean, population std and Q of fold scores, NaN folds ignored (as the benchmark does).

    Returns:
        ``(mean, std, q)``; all NaN when no fold is finite.
    """
    folds = np.asarray(folds, dtype=np.float64)
    if folds.size == 0 or np.all(np.isnan(folds)):
        return float("nan"), float("nan"), float("nan")
    mean = float(np.nanmean(folds))
    std = float(np.nanstd(folds))
    return mean, std, quality(mean, std)


def shuffle_splits(
    n: int, k_folds: int, seed: int, test_size: float = TEST_SIZE
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The benchmark's folds: ``ShuffleSplit(k_folds, test_size=0.1, random_state=seed)``.

    The same indices as scikit-learn's ``ShuffleSplit`` (tested against it), drawn by hand
    because importing ``sklearn.model_selection`` costs about a second of every ``e2s evaluate``
    start-up (it pulls in scipy) for a few lines of NumPy: scikit-learn takes fold ``k`` from the
    ``k``-th ``permutation(n)`` of one ``RandomState(seed)``, its first ``ceil(test_size * n)``
    entries as the test rows and the rest as the training rows.

    Args:
        n: number of rows.
        k_folds: number of folds.
        seed: ``random_state``.
        test_size: test share of the rows, in (0, 1).

    Returns:
        ``k_folds`` pairs ``(train_idx, test_idx)`` of int64 row indices.

    Raises:
        ValueError: when ``test_size`` is not in (0, 1) or the training rows would be empty
            (scikit-learn's conditions).
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size={test_size} should be a float in the (0, 1) range")
    n_test = math.ceil(test_size * n)
    if n - n_test <= 0:
        raise ValueError(
            f"with n_samples={n} and test_size={test_size} the training rows would be empty"
        )
    rng = np.random.RandomState(seed)
    splits = []
    for _ in range(k_folds):
        permutation = rng.permutation(n)
        splits.append((permutation[n_test:], permutation[:n_test]))
    return splits


def standardize_global(
    X: np.ndarray, rows: np.ndarray | None = None, dtype: type = np.float64
) -> np.ndarray:
    """Standardise with one global scalar mean and population std (not per dimension).

    Args:
        X: ``(n, d)`` embeddings.
        rows: boolean mask of the rows the statistics are taken over (default: all).
        dtype: accumulation type of the statistics (the benchmark: float32, NumPy's pairwise
            sums over the float32 matrix).

    Returns:
        float32 ``(X - mean) / std`` (std 0 is replaced by 1, as the benchmark does).
    """
    X = np.asarray(X, dtype=np.float32)
    ref = X if rows is None else X[rows]
    mu = float(ref.mean(dtype=dtype))
    sigma = float(ref.std(dtype=dtype))
    if sigma == 0.0 or not np.isfinite(sigma):
        sigma = 1.0
    return ((X - np.float32(mu)) / np.float32(sigma)).astype(np.float32)


def minmax_scale(values: np.ndarray) -> np.ndarray:
    """Min-max scale labels to [0, 1]; a constant column gives NaN (undefined scaling)."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.min(values), np.max(values)
    if hi == lo:
        return np.full_like(values, np.nan)
    return (values - lo) / (hi - lo)


def sigmoid32(z: np.ndarray) -> np.ndarray:
    """float32 logistic function (``torch.sigmoid``'s formula; overflow gives 0 or 1)."""
    z = np.asarray(z, dtype=np.float32)
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-z))


def fold_scores_from_logits(logits: Any, targets: Any, is_cls: Any) -> np.ndarray:
    """Test scores per fold and task: R² (regression) or binary F1 (classification).

    F1 thresholds exactly as the benchmark's metric does: sigmoid, then > 0.5, unless every test
    logit already lies in [0, 1], then the raw value > 0.5.

    Args:
        logits: ``(K, m, T)`` probe outputs on each fold's test rows.
        targets: ``(K, m, T)`` scaled labels.
        is_cls: ``(T,)`` bool, True for classification tasks.

    Returns:
        ``(K, T)`` float64 scores. R² is NaN where the test labels are constant; F1 is 0 where
        there is no positive prediction and no positive label (as the benchmark's metric).
    """
    logits, targets = np.asarray(logits), np.asarray(targets)
    is_cls = np.asarray(is_cls, dtype=bool)
    out = np.full(logits.shape[::2], np.nan, dtype=np.float64)
    reg = ~is_cls
    if reg.any():
        p = logits[:, :, reg].astype(np.float64)
        y = targets[:, :, reg].astype(np.float64)
        rss = ((y - p) ** 2).sum(axis=1)
        tss = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, reg] = np.where(tss > 0, 1.0 - rss / tss, np.nan)
    if is_cls.any():
        z = logits[:, :, is_cls]
        y = targets[:, :, is_cls] > 0.5
        in_unit = ((z >= 0) & (z <= 1)).all(axis=1, keepdims=True)
        pred = np.where(in_unit, z, sigmoid32(z)) > 0.5
        tp = (pred & y).sum(axis=1).astype(np.float64)
        fp = (pred & ~y).sum(axis=1).astype(np.float64)
        fn = (~pred & y).sum(axis=1).astype(np.float64)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        out[:, is_cls] = np.where(np.isnan(z).any(axis=1), np.nan, f1)
    return out


# ---------------------------------------------------------------------------------- per-fold stream
def fold_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s own generator in the ``per_fold`` random stream.

    Returns:
        A 63-bit seed derived with ``numpy.random.SeedSequence([seed, fold])``.
    """
    state = np.random.SeedSequence([int(seed), int(fold)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def linear_init(d: int, generator: TorchCPUGenerator) -> np.ndarray:
    """Draw a ``Linear(d, 1)`` initialisation exactly as ``nn.Linear`` does from ``generator``.

    Returns:
        ``(d + 1,)`` float32: the weight row followed by the bias (weight drawn first).
    """
    return generator.linear_init(d)


def fold_randomness(
    d: int, n_train: int, k_folds: int, epochs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every fold's initialisation and per-epoch mini-batch orders in the ``per_fold`` stream.

    Fold ``k`` seeds its own generator (torch's CPU generator, replayed by
    :class:`~e2s_utils.evaluate.torch_rng.TorchCPUGenerator`) with :func:`fold_seed` ``(seed, k)``
    and draws, in this order, the probe's weight and bias, then one ``randperm`` of its training
    rows per epoch.

    Returns:
        ``init`` ``(K, d + 1)`` float32 and ``perms`` ``(epochs, K, n_train)`` int64, the
        permutations being positions into each fold's training indices.
    """
    init = np.empty((k_folds, d + 1), dtype=np.float32)
    perms = np.empty((epochs, k_folds, n_train), dtype=np.int64)
    for k in range(k_folds):
        gen = TorchCPUGenerator(fold_seed(seed, k))
        init[k] = gen.linear_init(d)
        for e in range(epochs):
            gen.randperm(n_train, out=perms[e, k])
    return init, perms
