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
from typing import NamedTuple

import torch

from e2s_utils.evaluate.protocol import TEST_SIZE, linear_init

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
    init: torch.Tensor
    perms: torch.Tensor
    test_perms: torch.Tensor


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
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    # the loader's base seed, ``torch.empty((), dtype=torch.int64).random_()``, drawn into one
    # reused tensor and each permutation written in place: the same draws with a third of the
    # per-draw Python overhead (tens of thousands of draws for 11 tasks)
    base_seed = torch.empty((), dtype=torch.int64)
    out: dict[str, TaskDraws] = {}
    for task in tasks:
        init = torch.empty(k_folds, d + 1)
        perms = torch.empty(k_folds, epochs, task.n_train, dtype=torch.int64)
        test_perms = torch.empty(k_folds, epochs, task.n_test, dtype=torch.int64)
        for k in range(k_folds):
            init[k] = linear_init(d, gen)
            train_k, test_k = perms[k], test_perms[k]
            for e in range(epochs):
                base_seed.random_(generator=gen)
                torch.randperm(task.n_train, generator=gen, out=train_k[e])
                base_seed.random_(generator=gen)
                torch.randperm(task.n_test, generator=gen, out=test_k[e])
        out[task.name] = TaskDraws(
            task.name, init, perms.transpose(0, 1), test_perms.transpose(0, 1)
        )
    return out


def benchmark_fold_scores(
    logits: torch.Tensor, targets: torch.Tensor, is_cls: torch.Tensor
) -> torch.Tensor:
    """Test scores per fold and task as the benchmark's metric library computes them.

    R² in float32 with ``tss = sum(y^2) - sum(y)^2 / m``; ``|rss| <= 1e-4`` scores 1 and
    ``|tss| <= 1e-4`` scores 0. Binary F1 at 0.5 after a sigmoid (unless every output already lies
    in [0, 1]); a NaN output counts as a negative prediction. A drop-in ``score_fn`` for
    :func:`~e2s_utils.evaluate.linear.train_linear_folds`.

    Args:
        logits: ``(K, m, T)`` probe outputs on each fold's test rows.
        targets: ``(K, m, T)`` scaled labels.
        is_cls: ``(T,)`` bool, classification tasks.

    Returns:
        ``(K, T)`` float64 scores.
    """
    logits, targets = logits.float(), targets.float()
    out = torch.empty(logits.shape[::2], dtype=torch.float64, device=logits.device)
    reg = ~is_cls.to(logits.device)
    if bool(reg.any()):
        y, p = targets[:, :, reg], logits[:, :, reg]
        m = y.shape[1]
        sum_obs = y.sum(dim=1)
        rss = ((y - p) ** 2).sum(dim=1)
        tss = (y * y).sum(dim=1) - sum_obs * (sum_obs / m)
        zero = torch.zeros_like(rss)
        rss_big = ~torch.isclose(rss, zero, atol=R2_ATOL)
        tss_big = ~torch.isclose(tss, zero, atol=R2_ATOL)
        r2 = torch.ones_like(rss)
        both = rss_big & tss_big
        r2[both] = 1 - rss[both] / tss[both]
        r2[rss_big & ~tss_big] = 0.0
        out[:, reg] = r2.double()
    cls = ~reg
    if bool(cls.any()):
        z, truth = logits[:, :, cls], targets[:, :, cls] == 1
        in_unit = ((z >= 0) & (z <= 1)).all(dim=1, keepdim=True)
        pred = torch.where(in_unit, z, torch.sigmoid(z)) > 0.5  # NaN -> False
        tp = (pred & truth).sum(dim=1).float()
        fp = (pred & ~truth).sum(dim=1).float()
        fn = (~pred & truth).sum(dim=1).float()
        denom = 2 * tp + fp + fn
        f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(denom))
        out[:, cls] = f1.double()
    return out
