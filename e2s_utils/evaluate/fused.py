"""The probe's CPU computation: every unit's epoch in one compiled pass, rows read once per visit.

A unit (one fold of one task, or of tasks sharing every draw) visits its mini-batch rows in
order, four at a time; for each it takes the dot products with its ``T`` weight rows, the
residuals, and adds the rows times the residuals to its gradient while the rows are still in the
first-level cache. The
batched torch computations (:mod:`~e2s_utils.evaluate.linear`) copy every mini-batch row out and
read it twice more; on the CPU that traffic is most of their time. After each mini-batch the unit
takes ``torch.optim.AdamW``'s single-tensor update, operation for operation in float32. Units are
independent, so a few threads each run a share of them with the interpreter lock released.

Written by hand (compiled with numba) because no library trains thousands of tiny independent
linear probes without materialising their mini-batches; ``tests/test_evaluate_fused.py`` checks
it against the torch computation and the per-fold reference loop.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from e2s_utils.evaluate.protocol import ADAM_BETAS, ADAM_EPS
from e2s_utils.runtime import cpu_threads

if TYPE_CHECKING:
    from e2s_utils.evaluate.probe import Units


_FAST = {"reassoc", "contract"}  # reassociated sums, so that they vectorise


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST)
def _dot(Xa: np.ndarray, row: int, w: np.ndarray) -> np.float32:  # pragma: no cover
    """``Xa[row] . w`` in float32."""
    acc = np.float32(0.0)
    for i in range(w.shape[0]):
        acc += Xa[row, i] * w[i]
    return acc


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST)
def _dot4(Xa: np.ndarray, rows: tuple, w: np.ndarray) -> tuple:  # pragma: no cover
    """``Xa[r] . w`` for four rows ``r``: each weight read once for all four."""
    r1, r2, r3, r4 = rows
    a1, a2, a3, a4 = np.float32(0.0), np.float32(0.0), np.float32(0.0), np.float32(0.0)
    for i in range(w.shape[0]):
        wi = w[i]
        a1 += Xa[r1, i] * wi
        a2 += Xa[r2, i] * wi
        a3 += Xa[r3, i] * wi
        a4 += Xa[r4, i] * wi
    return a1, a2, a3, a4


@njit(nogil=True, cache=True, error_model="numpy", fastmath=_FAST)
def _residual(out: np.float32, y: np.float32, cls: bool) -> np.float32:  # pragma: no cover
    """d(loss)/d(output) times the batch size: ``sigmoid(out) - y`` (BCE), ``2 (out - y)`` (MSE)."""
    if cls:
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-out)) - y
    return np.float32(2.0) * (out - y)


@njit(nogil=True, cache=True, error_model="numpy")
def _epoch(  # noqa: PLR0913  (a compiled kernel takes its arrays one by one)
    Xa: np.ndarray,
    Yt: np.ndarray,
    cols: np.ndarray,
    kinds: np.ndarray,
    slot: np.ndarray,
    offset: np.ndarray,
    train: np.ndarray,
    perm: np.ndarray,
    test: np.ndarray,
    state: np.ndarray,
    scalars: np.ndarray,
    bsz: int,
    lo: int,
    hi: int,
    logits: np.ndarray,
) -> None:  # pragma: no cover  (compiled; covered through train_units_fused)
    """One epoch of units ``lo .. hi``: their mini-batch steps, then their test outputs.

    ``state`` is ``(3, U, T, d + 1)`` float32 (weights, first and second moments); ``scalars``
    holds ``count, lr, decay, beta1, beta2, eps`` (the step count before this epoch first).
    """
    n_cols, da = state.shape[2], state.shape[3]
    n_train, n_test = perm.shape[1], test.shape[1]
    count0, lr, decay = int(scalars[0]), scalars[1], np.float32(scalars[2])
    beta1, beta2, eps = scalars[3], scalars[4], np.float32(scalars[5])
    w1, b2, w2 = np.float32(1.0 - beta1), np.float32(beta2), np.float32(1.0 - beta2)
    zero = np.float32(0.0)
    grad = np.empty((n_cols, da), dtype=np.float32)
    for u in range(lo, hi):
        s, off = slot[u], offset[u]
        W, M, V = state[0, u], state[1, u], state[2, u]
        count = count0
        for start in range(0, n_train, bsz):
            stop = min(start + bsz, n_train)
            grad[:] = 0.0
            j = start
            while j < stop:  # four rows at a time: each weight and gradient entry touched once
                n_in = min(4, stop - j)  # the last group of a batch may be short: its missing
                y1 = train[s, perm[s, j]]  # rows repeat the first with a zero residual
                y2 = train[s, perm[s, j + 1]] if n_in > 1 else y1
                y3 = train[s, perm[s, j + 2]] if n_in > 2 else y1
                y4 = train[s, perm[s, j + 3]] if n_in > 3 else y1
                r1, r2, r3, r4 = y1 + off, y2 + off, y3 + off, y4 + off  # the rows in Xa
                for t in range(n_cols):
                    c, cls = cols[u, t], kinds[u, t]
                    o1, o2, o3, o4 = _dot4(Xa, (r1, r2, r3, r4), W[t])
                    e1 = _residual(o1, Yt[c, y1], cls)
                    e2 = _residual(o2, Yt[c, y2], cls) if n_in > 1 else zero
                    e3 = _residual(o3, Yt[c, y3], cls) if n_in > 2 else zero
                    e4 = _residual(o4, Yt[c, y4], cls) if n_in > 3 else zero
                    acc = grad[t]
                    for i in range(da):
                        acc[i] += (e1 * Xa[r1, i] + e2 * Xa[r2, i]) + (
                            e3 * Xa[r3, i] + e4 * Xa[r4, i]
                        )
                j += 4
            count += 1
            size = np.float32(stop - start)
            step = np.float32(-(lr / (1.0 - beta1**count)))
            bc2 = np.float32((1.0 - beta2**count) ** 0.5)
            for t in range(n_cols):
                for i in range(da):
                    gi = grad[t, i] / size
                    W[t, i] = W[t, i] * decay
                    M[t, i] = M[t, i] + w1 * (gi - M[t, i])
                    V[t, i] = V[t, i] * b2 + w2 * gi * gi
                    W[t, i] = W[t, i] + step * M[t, i] / (np.sqrt(V[t, i]) / bc2 + eps)
        for j in range(n_test):
            row = test[s, j] + off
            for t in range(n_cols):
                logits[u, j, t] = _dot(Xa, row, W[t])


def train_units_fused(
    u: Units,
    lr: float,
    weight_decay: float,
    batch_size: int,
    on_epoch: Callable[[int, np.ndarray], None],
    threads: int | None = None,
) -> None:
    """Train every unit on the CPU, a share of the units per thread.

    Args:
        u: the probes (:class:`~e2s_utils.evaluate.probe.Units`).
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        on_epoch: called after each epoch with its index and the test outputs ``(U, m, T)``
            (a buffer reused by the next epoch).
        threads: CPU threads (:func:`~e2s_utils.runtime.cpu_threads`).
    """
    n_units, n_cols = u.cols.shape
    epochs, _, n_train = u.perms.shape
    da = u.Xa.shape[1]
    state = np.zeros((3, n_units, n_cols, da), dtype=np.float32)
    state[0] = u.init[u.slot][:, None, :]
    logits = np.empty((n_units, u.test.shape[1], n_cols), dtype=np.float32)
    workers = min(cpu_threads(threads), n_units)
    bounds = np.linspace(0, n_units, workers + 1).astype(int)
    steps = -(-n_train // batch_size)
    kinds = np.ascontiguousarray(u.is_cls[u.cols])
    with ThreadPoolExecutor(workers) as pool:
        for epoch in range(epochs):
            scalars = np.array(
                [epoch * steps, lr, 1 - lr * weight_decay, *ADAM_BETAS, ADAM_EPS], dtype=np.float64
            )
            args = (u.Xa, u.Yt, u.cols, kinds, u.slot, u.offset, u.train, u.perms[epoch], u.test)
            jobs = [
                pool.submit(_epoch, *args, state, scalars, batch_size, lo, hi, logits)
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
                if hi > lo
            ]
            for job in jobs:
                job.result()
            on_epoch(epoch, logits)
