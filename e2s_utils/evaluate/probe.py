"""The benchmark's linear probe, every fold, task and matrix of one set of rows trained at once.

A *unit* is one independent ``Linear(d, 1)`` probe: one fold of one task on one embedding matrix
(or one fold of several tasks that share every random number, which then share the unit's rows:
one weight row per task). Unit ``u`` starts from its own initialisation, visits its training
rows in its own order each epoch and keeps its own AdamW moments; all units advance together.
Three computations of the same steps, equal to float rounding:

* ``fused`` (:mod:`~e2s_utils.evaluate.fused`, the CPU default): each unit reads each of its
  mini-batch rows once per visit, compiled, a few threads sharing the units;
* ``gather`` and ``dense`` (:mod:`~e2s_utils.evaluate.linear`, torch, any device): batched matrix
  products over all units, with a hand-written AdamW that performs ``torch.optim.AdamW``'s
  single-tensor update operation for operation (``gather`` is the GPU default).

A plain per-fold loop of the same protocol (``benchmarks/evaluate_speed.py``) agrees with all
three to float tolerance. This module imports torch only when a torch computation is asked for, so
that ``e2s evaluate`` on the CPU never loads it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from e2s_utils.evaluate.protocol import fold_scores_from_logits

ScoreFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""Epoch-end scoring: ``(logits (U, m, T), targets (U, m, T), is_cls (T,)) -> (U, T)`` float64."""

Method = Literal["auto", "fused", "gather", "dense"]


@dataclass
class Units:
    """The independent probes of one computation, as NumPy arrays.

    Unit ``u`` trains ``T`` weight rows (one per label column ``cols[u]``) from the draws of its
    *slot* ``slot[u]`` (a fold, or a fold of one task under the exact stream) on the rows of
    matrix ``u // (U / M)``, which start at row ``offset[u]`` of ``Xa``.

    Attributes:
        Xa: ``(M * n, d + 1)`` float32 rows of every matrix with a ones column (bias).
        Yt: ``(C, n)`` float32 label columns (the rows of one matrix).
        is_cls: ``(C,)`` bool, classification columns.
        cols: ``(U, T)`` label columns of each unit.
        slot: ``(U,)`` the slot of each unit.
        offset: ``(U,)`` the first row of each unit's matrix in ``Xa``.
        train: ``(S, n_train)`` training rows of each slot (rows of one matrix).
        test: ``(S, n_test)`` test rows of each slot.
        init: ``(S, d + 1)`` initial weight and bias of each slot (shared by its ``T`` rows).
        perms: ``(epochs, S, n_train)`` each epoch's visit order, positions into ``train[s]``.
    """

    Xa: np.ndarray
    Yt: np.ndarray
    is_cls: np.ndarray
    cols: np.ndarray
    slot: np.ndarray
    offset: np.ndarray
    train: np.ndarray
    test: np.ndarray
    init: np.ndarray
    perms: np.ndarray

    @property
    def n_mat(self) -> int:
        """Number of matrices ``M``."""
        return self.Xa.shape[0] // self.Yt.shape[1]


def _numpy(value: Any, dtype: Any) -> np.ndarray:
    """A NumPy copy-free view of an array or a (CPU or device) torch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value, dtype=dtype)


def build_units(
    X: np.ndarray,
    Y: np.ndarray,
    is_cls: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    init: np.ndarray,
    perms: np.ndarray,
) -> Units:
    """The units of :func:`train_linear_folds` (its arguments, as NumPy arrays).

    Raises:
        ValueError: for ``init`` / ``perms`` shapes that do not fit the folds and tasks.
    """
    X3 = X if X.ndim == 3 else X[None]
    n_mat, n, d = X3.shape
    k_folds, n_tasks = len(splits), Y.shape[1]
    per_task = init.ndim == 3
    if per_task != (perms.ndim == 4) or (per_task and init.shape[0] != n_tasks):
        raise ValueError(
            f"init {tuple(init.shape)} and perms {tuple(perms.shape)}: expected (K, d + 1) and "
            f"(epochs, K, n_train), or (T, K, d + 1) and (epochs, T, K, n_train) with T = {n_tasks}"
        )
    Xa = np.empty((n_mat, n, d + 1), dtype=np.float32)
    Xa[:, :, :d], Xa[:, :, d] = X3, 1.0
    train = np.stack([np.asarray(s[0], dtype=np.int64) for s in splits])
    test = np.stack([np.asarray(s[1], dtype=np.int64) for s in splits])
    reps = n_tasks if per_task else 1
    slots = reps * k_folds
    if per_task:  # slots in (task, fold) order, one label column each
        cols = np.repeat(np.arange(n_tasks), k_folds)[:, None]
    else:  # slots are folds; every unit trains all tasks
        cols = np.broadcast_to(np.arange(n_tasks), (k_folds, n_tasks))
    epochs = perms.shape[0]
    return Units(
        Xa=Xa.reshape(n_mat * n, d + 1),
        Yt=np.ascontiguousarray(Y.T, dtype=np.float32),
        is_cls=np.asarray(is_cls, dtype=bool),
        cols=np.ascontiguousarray(np.tile(cols, (n_mat, 1)), dtype=np.int64),
        slot=np.tile(np.arange(slots), n_mat).astype(np.int64),
        offset=np.repeat(np.arange(n_mat) * n, slots).astype(np.int64),
        train=np.tile(train, (reps, 1)),
        test=np.tile(test, (reps, 1)),
        init=np.ascontiguousarray(init.reshape(slots, d + 1), dtype=np.float32),
        perms=np.ascontiguousarray(perms.reshape(epochs, slots, perms.shape[-1]), dtype=np.int64),
    )


def train_linear_folds(
    X: Any,
    Y: Any,
    is_cls: Any,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    init: Any,
    perms: Any,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    batch_size: int = 64,
    method: Method = "auto",
    score_fn: ScoreFn | None = None,
    device: Any = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train every fold of every task (and every matrix) of the probe on the same rows at once.

    Fold ``k`` of task ``t`` is an independent ``Linear(d, 1)``. Its initialisation and
    mini-batch orders are either shared by all tasks (``init`` ``(K, d + 1)``, ``perms``
    ``(epochs, K, n_train)``: the ``per_fold`` stream, where tasks on the same rows draw the same
    numbers; the tasks then also share each fold's mini-batch rows) or the task's own (``init``
    ``(T, K, d + 1)``, ``perms`` ``(epochs, T, K, n_train)``: the ``exact`` stream, where every
    task draws its own). Each probe has its own AdamW moments, its own labels and its own scores.
    ``X`` may hold ``M`` embedding matrices of the same rows (every checkpoint of a run, say):
    each is probed with the same folds and random numbers, as separate evaluations of it would
    be, in one computation.

    Args:
        X: ``(n, d)`` or ``(M, n, d)`` float32 standardised embeddings of the task rows (NumPy or
            torch; a torch tensor's device is the default ``device``).
        Y: ``(n, T)`` float32 scaled labels.
        is_cls: ``(T,)`` bool, classification tasks.
        splits: K ``(train_idx, test_idx)`` pairs, all with the same sizes.
        init: ``(K, d + 1)`` (shared) or ``(T, K, d + 1)`` (per task) initial weight and bias.
        perms: ``(epochs, K, n_train)`` (shared) or ``(epochs, T, K, n_train)`` (per task)
            mini-batch orders: positions into each fold's ``train_idx``.
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        method: ``fused``, ``gather``, ``dense`` or ``auto`` (``fused`` on the CPU, else torch's
            :func:`~e2s_utils.evaluate.linear.pick_method`).
        score_fn: epoch-end scoring (default :func:`fold_scores_from_logits`; the ``exact``
            protocol mode passes the benchmark's own rules).
        device: the computation's device (``cpu`` unless ``X`` is a tensor elsewhere).
        threads: CPU threads of the ``fused`` computation (default
            :func:`~e2s_utils.runtime.cpu_threads`).

    Returns:
        ``best`` ``(K, T)`` (``(M, K, T)`` for several matrices) best epoch-end test score per
        fold and task (NaN where no epoch scored), and ``history`` ``(epochs, K, T)`` (``(epochs,
        M, K, T)``) every epoch-end test score.

    Raises:
        ValueError: for ``init`` / ``perms`` shapes that do not fit the folds and tasks.
    """
    if device is None:
        device = getattr(X, "device", "cpu")
    on_cpu = str(device).split(":")[0] == "cpu"
    X_np = _numpy(X, np.float32)
    init_np, perms_np = _numpy(init, np.float32), _numpy(perms, np.int64)
    units = build_units(
        X_np, _numpy(Y, np.float32), _numpy(is_cls, bool), splits, init_np, perms_np
    )
    history = _train(units, lr, weight_decay, batch_size, method, score_fn, device, on_cpu, threads)
    epochs, n_mat, k_folds, n_tasks = perms_np.shape[0], units.n_mat, len(splits), units.Yt.shape[0]
    if init_np.ndim == 3:  # (epochs, M * T * K, 1) -> (epochs, M, K, T)
        hist = history.reshape(epochs, n_mat, n_tasks, k_folds).transpose(0, 1, 3, 2)
    else:
        hist = history.reshape(epochs, n_mat, k_folds, n_tasks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(hist, axis=0) if len(hist) else np.full(hist.shape[1:], np.nan)
    if X_np.ndim == 2:
        return best[0], hist[:, 0]
    return best, hist


def _train(
    units: Units,
    lr: float,
    weight_decay: float,
    batch_size: int,
    method: Method,
    score_fn: ScoreFn | None,
    device: Any,
    on_cpu: bool,
    threads: int | None,
) -> np.ndarray:
    """Every unit's epoch-end test scores ``(epochs, U, T)`` by the chosen computation."""
    scores = EpochScores(units, score_fn or fold_scores_from_logits)
    history = np.empty((units.perms.shape[0], *units.cols.shape), dtype=np.float64)

    def on_epoch(epoch: int, logits: np.ndarray) -> None:
        history[epoch] = scores(logits)

    if method == "fused" or (method == "auto" and on_cpu):
        from e2s_utils.evaluate.fused import train_units_fused

        train_units_fused(units, lr, weight_decay, batch_size, on_epoch, threads)
    else:
        from e2s_utils.evaluate.linear import train_units_torch

        train_units_torch(units, lr, weight_decay, batch_size, method, on_epoch, device)
    return history


class EpochScores:
    """Every unit's test score from its epoch-end test outputs, by the rule of its columns' kinds."""

    def __init__(self, u: Units, score_fn: ScoreFn) -> None:
        test_rows = u.test[u.slot]  # (U, m)
        self.y_test = u.Yt[u.cols[:, None, :], test_rows[:, :, None]]  # (U, m, T)
        self.score_fn = score_fn
        kinds = u.is_cls[u.cols]  # (U, T)
        patterns, which = np.unique(kinds, axis=0, return_inverse=True)
        which = which.reshape(-1)
        if len(patterns) == 1:  # one kind: scored on the whole array, as alone
            self.groups: list[tuple[Any, np.ndarray]] = [(slice(None), patterns[0])]
        else:
            self.groups = [(np.flatnonzero(which == i), p) for i, p in enumerate(patterns)]

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """``(U, T)`` float64 scores of ``(U, m, T)`` test outputs."""
        scores = np.empty(logits.shape[::2], dtype=np.float64)
        for sel, is_cls in self.groups:
            scores[sel] = self.score_fn(logits[sel], self.y_test[sel], is_cls)
        return scores
