"""NeuCo-Bench's own random stream and scoring rules, for the ``exact`` protocol mode.

With ``random_stream="per_fold"`` each fold draws from its own generator: the fold scores follow the
benchmark's distribution but not its numbers. The benchmark (every release from May 2025 to v1.1)
instead seeds the global streams once per run (``torch.manual_seed(42)`` among them) and takes every
draw from torch's global CPU generator, in this order (``docs/neucobench_differences.md`` cites
file and line):

* tasks in sorted name order (the benchmark groups its merged table by task name, which sorts);
  a task removed by the task filter, and a task sharing no id with the embeddings, draw nothing;
* per task, folds ``k = 0 .. K-1`` of ``ShuffleSplit`` (its own ``RandomState``, not the stream);
* per fold: ``nn.Linear(d, 1)`` draws its weight, then its bias;
* per fold and epoch: iterating the training loader draws a base seed (one int64, unused without
  workers) and its sampler one ``randperm(n_train)``: mini-batches are ``train_idx[perm]`` cut
  into consecutive batches of 64; the test loader then draws the same pair (base seed,
  ``randperm(n_test)``).

:func:`benchmark_stream` replays that order on a CPU generator and returns, per task, the layout of
:func:`~e2s_utils.evaluate.protocol.fold_randomness`, which the batched probe consumes unchanged.
:func:`benchmark_fold_scores` scores folds as the benchmark's metric library does (R² in float32
with its near-zero rules, F1 with NaN outputs counted as negative). Recording every draw of an
unmodified benchmark run (``benchmarks/neucobench_record_stream.py``) matched this stream draw for
draw; ``tests/test_evaluate_golden.py`` checks the resulting fold scores against the benchmark's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from e2s_utils.evaluate.protocol import TEST_SIZE, sigmoid32
from e2s_utils.evaluate.torch_rng import TorchCPUGenerator

#: The benchmark's seed: its global seeding and ShuffleSplit's ``random_state``.
BENCHMARK_SEED = 42
#: The metric library's R² rule: ``rss`` or ``tss`` within this of 0 counts as 0.
R2_ATOL = 1e-4


class StreamTask(NamedTuple):
    """One task as the stream sees it: its name and its fold sizes."""

    name: str
    n_train: int
    n_test: int


@dataclass
class TaskDraws:
    """Every random number the benchmark draws for one task.

    Attributes:
        name: task name.
        init: ``(K, d + 1)`` float32, each fold's initial weight row followed by its bias.
        perms: ``(epochs, K, n_train)`` int64, each epoch's training visit order as positions
            into the fold's training indices.
        test_perms: ``(epochs, K, n_test)`` int64, the test loader's visit order (drawn to keep
            the stream aligned; the scores do not depend on it beyond float rounding).
    """

    name: str
    init: np.ndarray
    perms: np.ndarray
    test_perms: np.ndarray


def split_sizes(n: int, test_size: float = TEST_SIZE) -> tuple[int, int]:
    """``(n_train, n_test)`` of ``ShuffleSplit(test_size=...)`` over ``n`` rows."""
    n_test = math.ceil(test_size * n)
    return n - n_test, n_test


def benchmark_stream(
    tasks: Sequence[StreamTask], d: int, k_folds: int, epochs: int, seed: int = BENCHMARK_SEED
) -> dict[str, TaskDraws]:
    """Draw every random number of a benchmark run, in the benchmark's order.

    Args:
        tasks: the evaluated tasks in the benchmark's order (sorted names, only tasks sharing an
            id with the embeddings) with their fold sizes (:func:`split_sizes`).
        d: embedding dimension (after any zero padding).
        k_folds: folds per task.
        epochs: epochs per fold.
        seed: the seed of the global stream (the benchmark hard-codes 42).

    Returns:
        Task name -> :class:`TaskDraws`, in task order.
    """
    gen = TorchCPUGenerator(int(seed))
    out: dict[str, TaskDraws] = {}
    for task in tasks:
        init = np.empty((k_folds, d + 1), dtype=np.float32)
        perms = np.empty((epochs, k_folds, task.n_train), dtype=np.int64)
        test_perms = np.empty((epochs, k_folds, task.n_test), dtype=np.int64)
        for k in range(k_folds):
            init[k] = gen.linear_init(d)
            gen.loader_epochs(perms[:, k], test_perms[:, k])
        out[task.name] = TaskDraws(task.name, init, perms, test_perms)
    return out


def benchmark_fold_scores(logits: Any, targets: Any, is_cls: Any) -> np.ndarray:
    """Test scores per fold and task as the benchmark's metric library computes them.

    R² in float32 with ``tss = sum(y^2) - sum(y)^2 / m``; ``|rss| <= 1e-4`` scores 1 and
    ``|tss| <= 1e-4`` scores 0. Binary F1 at 0.5 after a sigmoid (unless every output already lies
    in [0, 1]); a NaN output counts as a negative prediction. A drop-in ``score_fn`` for
    :func:`~e2s_utils.evaluate.probe.train_linear_folds`.

    Args:
        logits: ``(K, m, T)`` probe outputs on each fold's test rows.
        targets: ``(K, m, T)`` scaled labels.
        is_cls: ``(T,)`` bool, classification tasks.

    Returns:
        ``(K, T)`` float64 scores.
    """
    logits = np.asarray(logits, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    out = np.empty(logits.shape[::2], dtype=np.float64)
    reg = ~np.asarray(is_cls, dtype=bool)
    if reg.any():
        y, p = targets[:, :, reg], logits[:, :, reg]
        m = np.float32(y.shape[1])
        sum_obs = y.sum(axis=1)
        rss = ((y - p) ** 2).sum(axis=1)
        tss = (y * y).sum(axis=1) - sum_obs * (sum_obs / m)
        rss_big = ~(np.abs(rss) <= R2_ATOL)  # NaN counts as big, as torch.isclose does
        tss_big = ~(np.abs(tss) <= R2_ATOL)
        r2 = np.ones_like(rss)
        both = rss_big & tss_big
        r2[both] = 1 - rss[both] / tss[both]
        r2[rss_big & ~tss_big] = 0.0
        out[:, reg] = r2
    cls = ~reg
    if cls.any():
        z, truth = logits[:, :, cls], targets[:, :, cls] == 1
        in_unit = ((z >= 0) & (z <= 1)).all(axis=1, keepdims=True)
        pred = np.where(in_unit, z, sigmoid32(z)) > 0.5  # NaN -> False
        tp = (pred & truth).sum(axis=1).astype(np.float32)
        fp = (pred & ~truth).sum(axis=1).astype(np.float32)
        fn = (~pred & truth).sum(axis=1).astype(np.float32)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.float32(0.0))
        out[:, cls] = f1
    return out
