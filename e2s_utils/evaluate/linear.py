"""The benchmark's linear probe, every fold, task and matrix of one set of rows trained at once.

A *unit* is one independent ``Linear(d, 1)`` probe: one fold of one task on one embedding matrix
(or one fold of several tasks that share every random number, which then share the unit's rows:
one weight row per task). Unit ``u`` starts from its own initialisation, visits its training
rows in its own order each epoch and keeps its own AdamW moments; all units advance together, a
few batched matrix products per step, with a hand-written AdamW that performs
``torch.optim.AdamW``'s single-tensor update operation for operation. A plain per-fold loop of the
same protocol (``benchmarks/evaluate_speed.py``) agrees with it to float tolerance. Written by hand
because no library trains thousands of tiny independent probes in one batched computation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from e2s_utils.evaluate.protocol import ADAM_BETAS, ADAM_EPS, fold_scores_from_logits

ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""Epoch-end scoring: ``(logits (U, m, T), targets (U, m, T), is_cls (T,)) -> (U, T)``."""

Method = Literal["auto", "gather", "dense"]

#: Bytes of mini-batch rows the ``gather`` computation copies per inner iteration on the CPU: a
#: few units at a time, so that the rows are still in cache for the backward product. Measured
#: (1 thread, AMD EPYC with AVX-512, n = 2,000, d = 1,024, B = 64, 120 units, least of 4 runs):
#: 2-4 MiB (8-16 units) fastest, within 4 %; 1 MiB 17 % and 0.25 MiB 48 % slower (more Python
#: iterations); 8 MiB 10 %, 16 MiB 67 % and all units at once (30 MiB) 110 % slower (rows fall
#: out of cache).
GATHER_CHUNK_BYTES = 4 * 2**20
#: Bytes of test rows gathered at once for the epoch-end scores (kept across epochs when all
#: units fit, gathered again each epoch otherwise, so that many matrices stay within memory).
TEST_CHUNK_BYTES = 256 * 2**20


def pick_method(n_rows: int, batch_size: int, tasks_per_unit: int, device: torch.device) -> str:
    """The faster mini-batch computation, ``dense`` or ``gather``, by a measured cost rule.

    Per step and unit, ``dense`` multiplies all ``n_rows`` rows (of the unit's matrix) by the
    unit's ``T`` weight rows and back: cost ~ ``n_rows * T * d`` in two large, efficient products;
    ``gather`` copies the unit's ``B`` mini-batch rows and multiplies them in small batched
    products: cost ~ ``B * (T + c) * d`` (c: the copy) at a lower rate. The ratio depends on
    ``n_rows / B`` and ``T``, not on the number of units (folds x tasks x matrices), which
    multiplies both. Measured (``benchmarks/results/evaluate_methods.md``: 1 thread, AMD EPYC with
    AVX-512, d = 1,024, B = 64, K = 40; 1, 3 and 11 tasks in one computation, 1 and 4 matrices),
    dense's time over gather's for one task per unit (the exact stream): n = 200: 0.6-0.7,
    n = 300: 0.8-0.9, n = 400: 0.9-1.1 (a tie), n = 500: 1.1-1.3, n = 1,000: 2.0-2.2,
    n = 2,000: 2.8-4.0; for three tasks sharing every draw (the per-fold stream), whose gathered
    rows serve all three: n = 200: 0.9, n = 300: 1.4. Hence ``dense`` up to ``6 B`` rows for one
    task per unit and up to ``4 B`` for several (within 15 % of the faster method in every
    measured case). On a GPU always ``gather`` (copies are cheap there).

    Args:
        n_rows: rows of one matrix in the computation.
        batch_size: mini-batch size ``B``.
        tasks_per_unit: weight rows per unit ``T`` (tasks sharing every random number).
        device: the computation's device.

    Returns:
        ``dense`` or ``gather``.
    """
    if device.type != "cpu":
        return "gather"
    limit = 6 * batch_size if tasks_per_unit == 1 else 4 * batch_size
    return "dense" if n_rows <= limit else "gather"


def train_linear_folds(
    X: torch.Tensor,
    Y: torch.Tensor,
    is_cls: torch.Tensor,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    init: torch.Tensor,
    perms: torch.Tensor,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    batch_size: int = 64,
    method: Method = "auto",
    score_fn: ScoreFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train every fold of every task (and every matrix) of the probe on the same rows at once.

    Fold ``k`` of task ``t`` is an independent ``Linear(d, 1)``. Its initialisation and
    mini-batch orders are either shared by all tasks (``init`` ``(K, d + 1)``, ``perms``
    ``(epochs, K, n_train)``: the ``per_fold`` stream, where tasks on the same rows draw the same
    numbers; the tasks then also share each fold's mini-batch rows) or the task's own (``init``
    ``(T, K, d + 1)``, ``perms`` ``(epochs, T, K, n_train)``: the ``exact`` stream, where every
    task draws its own). Each probe has its own AdamW moments, its own labels and its own scores;
    all advance together, a few batched matrix products per step. ``X`` may hold ``M`` embedding
    matrices of the same rows (every checkpoint of a run, say): each is probed with the same folds
    and random numbers, as separate evaluations of it would be, in one computation.

    Two equivalent ways to compute a step's outputs and gradients: ``gather`` copies each
    probe's mini-batch rows and multiplies batch-wise (cost ~ B·d per probe, best for many rows);
    ``dense`` multiplies all rows by all probes' weights and scatters the residuals back (two
    ``(n, d) x (d, probes)`` products, no copy; best for few rows). ``auto`` picks by
    :func:`pick_method`. The two agree to float rounding.

    Args:
        X: ``(n, d)`` or ``(M, n, d)`` float32 standardised embeddings of the task rows.
        Y: ``(n, T)`` float32 scaled labels (same device).
        is_cls: ``(T,)`` bool, classification tasks.
        splits: K ``(train_idx, test_idx)`` pairs, all with the same sizes.
        init: ``(K, d + 1)`` (shared) or ``(T, K, d + 1)`` (per task) initial weight and bias.
        perms: ``(epochs, K, n_train)`` (shared) or ``(epochs, T, K, n_train)`` (per task)
            mini-batch orders: positions into each fold's ``train_idx``.
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        method: ``gather``, ``dense`` or ``auto``.
        score_fn: epoch-end scoring (default :func:`fold_scores_from_logits`; the ``exact``
            protocol mode passes the benchmark's own rules).

    Returns:
        ``best`` ``(K, T)`` (``(M, K, T)`` for several matrices) best epoch-end test score per
        fold and task (NaN where no epoch scored), and ``history`` ``(epochs, K, T)`` (``(epochs,
        M, K, T)``) every epoch-end test score.

    Raises:
        ValueError: for ``init`` / ``perms`` shapes that do not fit the folds and tasks.
    """
    device = X.device
    X3 = X if X.dim() == 3 else X[None]
    n_mat, n, d = X3.shape
    k_folds, n_tasks = len(splits), Y.shape[1]
    per_task = init.dim() == 3
    if per_task != (perms.dim() == 4) or (per_task and init.shape[0] != n_tasks):
        raise ValueError(
            f"init {tuple(init.shape)} and perms {tuple(perms.shape)}: expected (K, d + 1) and "
            f"(epochs, K, n_train), or (T, K, d + 1) and (epochs, T, K, n_train) with T = {n_tasks}"
        )
    epochs = perms.shape[0]
    ones = torch.ones(n_mat, n, 1, dtype=X.dtype, device=device)
    Xa = torch.cat([X3, ones], dim=2).reshape(n_mat * n, d + 1).contiguous()
    train = torch.as_tensor(np.stack([s[0] for s in splits]), dtype=torch.int64, device=device)
    test = torch.as_tensor(np.stack([s[1] for s in splits]), dtype=torch.int64, device=device)
    # units in (matrix, task, fold) order (per task) or (matrix, fold) order (shared draws)
    slots = n_tasks * k_folds if per_task else k_folds
    offsets = (torch.arange(n_mat, device=device) * n)[:, None, None]
    reps = n_tasks if per_task else 1
    if per_task:
        cols = torch.arange(n_tasks, device=device).repeat_interleave(k_folds)[:, None]
    else:
        cols = torch.arange(n_tasks, device=device)[None].expand(k_folds, n_tasks)
    units = _Units(
        Xa=Xa,
        Y=Y.repeat(n_mat, 1),
        is_cls=is_cls.to(device),
        cols=cols.repeat(n_mat, 1),
        train=(train.repeat(reps, 1)[None] + offsets).reshape(n_mat * slots, -1),
        test=(test.repeat(reps, 1)[None] + offsets).reshape(n_mat * slots, -1),
        init=init.to(device=device, dtype=X.dtype).reshape(slots, d + 1).repeat(n_mat, 1),
        perms=perms.reshape(epochs, slots, perms.shape[-1]).repeat(1, n_mat, 1),
        n_mat=n_mat,
    )
    history = _train_units(units, lr, weight_decay, batch_size, method, score_fn)
    if per_task:  # (epochs, M * T * K, 1) -> (epochs, M, K, T)
        hist = history.reshape(epochs, n_mat, n_tasks, k_folds).transpose(0, 1, 3, 2)
    else:
        hist = history.reshape(epochs, n_mat, k_folds, n_tasks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(hist, axis=0) if len(hist) else np.full(hist.shape[1:], np.nan)
    if X.dim() == 2:
        return best[0], hist[:, 0]
    return best, hist


@dataclass
class _Units:
    """The independent probes of one computation.

    Unit ``u`` trains ``T`` weight rows (one per label column ``cols[u]``: ``T`` = 1 when every
    task draws its own numbers) on the rows ``train[u]`` of ``Xa``, which stacks every matrix's
    rows with a column of ones (bias); ``init`` and ``perms`` are per unit. Units are in matrix
    order: the ``U / n_mat`` units of matrix ``m`` index only its rows.

    Attributes:
        Xa: ``(M * n, d + 1)`` rows of every matrix with a ones column.
        Y: ``(M * n, C)`` label columns, rows as ``Xa``.
        is_cls: ``(C,)`` bool, classification columns.
        cols: ``(U, T)`` label columns of each unit.
        train: ``(U, n_train)`` rows of ``Xa`` each unit trains on.
        test: ``(U, n_test)`` rows of ``Xa`` each unit is scored on.
        init: ``(U, d + 1)`` initial weight and bias (shared by the unit's ``T`` rows).
        perms: ``(epochs, U, n_train)`` each epoch's visit order, positions into ``train[u]``.
        n_mat: number of matrices ``M``.
    """

    Xa: torch.Tensor
    Y: torch.Tensor
    is_cls: torch.Tensor
    cols: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor
    init: torch.Tensor
    perms: torch.Tensor
    n_mat: int = 1


def _train_units(
    u: _Units,
    lr: float,
    weight_decay: float,
    batch_size: int,
    method: str,
    score_fn: ScoreFn | None,
) -> np.ndarray:
    """Every unit's epoch-end test scores ``(epochs, U, T)``; see :func:`train_linear_folds`."""
    device = u.Xa.device
    n_units, n_train = u.train.shape
    n_cols, epochs = u.cols.shape[1], u.perms.shape[0]
    if method == "auto":
        method = pick_method(u.Xa.shape[0] // u.n_mat, batch_size, n_cols, device)
    kinds = u.is_cls[u.cols]  # (U, T)
    params = u.init[:, None, :].repeat(1, n_cols, 1).contiguous()  # (U, T, d + 1)
    adamw = _AdamW(params, lr, weight_decay)
    step: _GatherStep | _DenseStep
    step = _GatherStep(u, kinds, batch_size) if method == "gather" else _DenseStep(u, kinds)
    scores = _EpochScores(u, kinds, score_fn or fold_scores_from_logits)
    Yt = u.Y.T.contiguous()  # (C, M * n)
    history = torch.empty(epochs, n_units, n_cols, dtype=torch.float64, device=device)
    for epoch in range(epochs):
        rows = torch.gather(u.train, 1, u.perms[epoch].to(device))  # (U, n_train), visit order
        y_rows = Yt[u.cols[:, :, None], rows[:, None, :]]  # (U, T, n_train)
        for start in range(0, n_train, batch_size):
            stop = start + batch_size
            adamw.step(step(params, rows[:, start:stop], y_rows[:, :, start:stop]))
        history[epoch] = scores(params)
    return history.cpu().numpy()


class _AdamW:
    """``torch.optim.AdamW``'s single-tensor update, operation for operation, on all units."""

    def __init__(self, params: torch.Tensor, lr: float, weight_decay: float) -> None:
        self.params, self.lr, self.decay = params, lr, 1 - lr * weight_decay
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(params), torch.zeros_like(params)
        self.count = 0

    def step(self, grad: torch.Tensor) -> None:
        """One update of every unit's parameters (in place) with its gradient."""
        beta1, beta2 = ADAM_BETAS
        self.count += 1
        self.params.mul_(self.decay)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**self.count
        bias_correction2 = 1 - beta2**self.count
        step_size = self.lr / bias_correction1
        denom = (self.exp_avg_sq.sqrt() / bias_correction2**0.5).add_(ADAM_EPS)
        self.params.addcdiv_(self.exp_avg, denom, value=-step_size)


def _residual(out: torch.Tensor, target: torch.Tensor, cls: torch.Tensor | bool) -> torch.Tensor:
    """d(loss)/d(output) times the batch size: 2 (out - y) for MSE, sigmoid(out) - y for BCE.

    ``cls`` is ``True`` / ``False`` when every unit and task is of one kind, else a bool tensor
    broadcasting against ``out`` (both formulas are then computed and selected).
    """
    if cls is True:
        return torch.sigmoid(out).sub_(target)
    if cls is False:
        return out.sub_(target).mul_(2.0)
    return torch.where(cls, torch.sigmoid(out) - target, 2.0 * (out - target))


def _kind_of(kinds: torch.Tensor) -> torch.Tensor | bool:
    """The ``cls`` argument of :func:`_residual` for these units' ``(U, T)`` kinds."""
    if bool(kinds.all()):
        return True
    if not bool(kinds.any()):
        return False
    return kinds[:, :, None]


class _GatherStep:
    """One step's gradients from copies of each unit's mini-batch rows, a few units at a time."""

    def __init__(self, u: _Units, kinds: torch.Tensor, batch_size: int) -> None:
        n_units, n_train = u.train.shape
        da, device = u.Xa.shape[1], u.Xa.device
        rows = min(batch_size, n_train)
        chunk = n_units
        if device.type == "cpu":  # a few units at a time, so that their rows stay in cache
            chunk = min(n_units, max(1, GATHER_CHUNK_BYTES // (4 * rows * da)))
        self.Xa = u.Xa
        self.bounds = [(lo, min(lo + chunk, n_units)) for lo in range(0, n_units, chunk)]
        self.kinds = [_kind_of(kinds[lo:hi]) for lo, hi in self.bounds]
        self.xbuf = torch.empty(chunk * rows, da, dtype=u.Xa.dtype, device=device)
        self.grad = torch.empty(n_units, kinds.shape[1], da, dtype=u.Xa.dtype, device=device)

    def __call__(self, params: torch.Tensor, idx: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Mean gradients ``(U, T, d + 1)`` for mini-batch rows ``idx`` ``(U, b)``, labels ``yb``."""
        bsz, da = idx.shape[1], self.Xa.shape[1]
        for (lo, hi), cls in zip(self.bounds, self.kinds, strict=True):
            xb = torch.index_select(
                self.Xa, 0, idx[lo:hi].reshape(-1), out=self.xbuf[: (hi - lo) * bsz]
            )
            xb = xb.view(hi - lo, bsz, da)
            out = torch.bmm(params[lo:hi], xb.transpose(1, 2))  # (c, T, b)
            torch.bmm(_residual(out, yb[lo:hi], cls), xb, out=self.grad[lo:hi])
        return self.grad.div_(bsz)


class _DenseStep:
    """One step's gradients from all rows of each matrix times all its units' weights."""

    def __init__(self, u: _Units, kinds: torch.Tensor) -> None:
        n, da = u.Xa.shape
        n_units, device = u.train.shape[0], u.Xa.device
        self.n_mat, self.n_rows, self.per_mat = u.n_mat, n // u.n_mat, n_units // u.n_mat
        self.n_units, self.n_cols, self.da = n_units, kinds.shape[1], da
        self.Xm = u.Xa.view(self.n_mat, self.n_rows, da)
        units = torch.arange(n_units, device=device)
        self.mat_of, self.slot_of = units // self.per_mat, units % self.per_mat
        self.row0 = (self.mat_of * self.n_rows)[:, None]
        self.kind = _kind_of(kinds)
        shape = (self.n_mat, self.n_rows, self.per_mat, self.n_cols)
        self.resid = torch.zeros(shape, dtype=u.Xa.dtype, device=device)

    def __call__(self, params: torch.Tensor, idx: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Mean gradients ``(U, T, d + 1)`` for mini-batch rows ``idx`` ``(U, b)``, labels ``yb``."""
        width = self.per_mat * self.n_cols
        w = params.view(self.n_mat, width, self.da)
        full = torch.bmm(self.Xm, w.transpose(1, 2)).view(self.resid.shape)
        at = (self.mat_of[:, None], idx - self.row0, self.slot_of[:, None])  # rows in the matrix
        out = full[at].transpose(1, 2)  # (U, T, b)
        self.resid[at] = _residual(out, yb, self.kind).transpose(1, 2)
        flat = self.resid.view(self.n_mat, self.n_rows, width).transpose(1, 2)
        grad = torch.bmm(flat, self.Xm).view(self.n_units, self.n_cols, self.da).div_(idx.shape[1])
        self.resid[at] = 0.0
        return grad


class _EpochScores:
    """Every unit's test score after an epoch, by the scoring rule of its columns' kinds."""

    def __init__(self, u: _Units, kinds: torch.Tensor, score_fn: ScoreFn) -> None:
        n_units, n_test = u.test.shape
        da, device = u.Xa.shape[1], u.Xa.device
        self.Xa, self.test, self.score_fn = u.Xa, u.test, score_fn
        self.y_test = u.Y[u.test[:, :, None], u.cols[:, None, :]]  # (U, m, T)
        self.chunk = max(1, min(n_units, TEST_CHUNK_BYTES // (4 * max(1, n_test) * da)))
        # kept across epochs when every unit's test rows fit, gathered each epoch otherwise
        self.x_test = u.Xa[u.test] if self.chunk == n_units else None
        self.logits = torch.empty(n_units, n_test, kinds.shape[1], dtype=u.Xa.dtype, device=device)
        self.groups = _kind_groups(kinds)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """``(U, T)`` float64 scores of the current parameters."""
        n_units = params.shape[0]
        for lo in range(0, n_units, self.chunk):
            hi = min(lo + self.chunk, n_units)
            xt = self.x_test if self.x_test is not None else self.Xa[self.test[lo:hi]]
            torch.bmm(xt, params[lo:hi].transpose(1, 2), out=self.logits[lo:hi])  # (c, m, T)
        scores = torch.empty(params.shape[:2], dtype=torch.float64, device=params.device)
        for sel, is_cls in self.groups:
            scores[sel] = self.score_fn(self.logits[sel], self.y_test[sel], is_cls)
        return scores


def _kind_groups(kinds: torch.Tensor) -> list[tuple[torch.Tensor | slice, torch.Tensor]]:
    """Units grouped by the kinds of their columns: ``(units, is_cls (T,))`` per distinct kind row.

    A group covering every unit is a plain slice, so the scoring of a computation of one kind
    runs on the whole logits tensor, as a computation of that kind alone would.
    """
    patterns, which = torch.unique(kinds.cpu(), dim=0, return_inverse=True)
    if len(patterns) == 1:
        return [(slice(None), patterns[0].to(kinds.device))]
    return [
        (torch.nonzero(which == i).flatten().to(kinds.device), p.to(kinds.device))
        for i, p in enumerate(patterns)
    ]
