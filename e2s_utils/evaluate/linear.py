"""The probe's torch computations (``gather`` and ``dense``): all units, batched, on any device.

The units of :mod:`~e2s_utils.evaluate.probe` advance together, a few batched matrix products per
step, with a hand-written AdamW that performs ``torch.optim.AdamW``'s single-tensor update
operation for operation. The default on a GPU; on the CPU the compiled ``fused`` computation
(:mod:`~e2s_utils.evaluate.fused`) is several times faster. Written by hand because no library
trains thousands of tiny independent probes in one batched computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from e2s_utils.evaluate.protocol import ADAM_BETAS, ADAM_EPS

if TYPE_CHECKING:
    from e2s_utils.evaluate.probe import Units

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


def train_units_torch(
    units: Units,
    lr: float,
    weight_decay: float,
    batch_size: int,
    method: str,
    on_epoch: Callable[[int, np.ndarray], None],
    device: str | torch.device = "cpu",
) -> None:
    """Train every unit with batched torch products on ``device`` (``gather`` or ``dense``).

    The arguments are those of :func:`~e2s_utils.evaluate.fused.train_units_fused`, with
    ``method`` (``gather``, ``dense`` or ``auto``: :func:`pick_method`) and ``device`` in place of
    its thread count.
    """
    dev = torch.device(device)
    u = units

    def put(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    expanded = _Units(
        Xa=put(u.Xa),
        Y=put(np.tile(u.Yt.T, (u.n_mat, 1))),
        is_cls=put(u.is_cls),
        cols=put(u.cols),
        train=put(u.train[u.slot] + u.offset[:, None]),
        test=put(u.test[u.slot] + u.offset[:, None]),
        init=put(u.init[u.slot]),
        perms=torch.from_numpy(np.ascontiguousarray(u.perms[:, u.slot])),
        n_mat=u.n_mat,
    )
    _train_units(expanded, lr, weight_decay, batch_size, method, on_epoch)


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
    on_epoch: Callable[[int, np.ndarray], None],
) -> None:
    """Every unit's training, each epoch's test outputs handed to ``on_epoch``."""
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
    test_outputs = _TestOutputs(u, n_cols)
    Yt = u.Y.T.contiguous()  # (C, M * n)
    for epoch in range(epochs):
        rows = torch.gather(u.train, 1, u.perms[epoch].to(device))  # (U, n_train), visit order
        y_rows = Yt[u.cols[:, :, None], rows[:, None, :]]  # (U, T, n_train)
        for start in range(0, n_train, batch_size):
            stop = start + batch_size
            adamw.step(step(params, rows[:, start:stop], y_rows[:, :, start:stop]))
        on_epoch(epoch, test_outputs(params).cpu().numpy())


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


class _TestOutputs:
    """Every unit's outputs on its test rows ``(U, m, T)`` for the current parameters."""

    def __init__(self, u: _Units, n_cols: int) -> None:
        n_units, n_test = u.test.shape
        da, device = u.Xa.shape[1], u.Xa.device
        self.Xa, self.test = u.Xa, u.test
        self.chunk = max(1, min(n_units, TEST_CHUNK_BYTES // (4 * max(1, n_test) * da)))
        # kept across epochs when every unit's test rows fit, gathered each epoch otherwise
        self.x_test = u.Xa[u.test] if self.chunk == n_units else None
        self.logits = torch.empty(n_units, n_test, n_cols, dtype=u.Xa.dtype, device=device)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """``(U, m, T)`` test outputs."""
        n_units = params.shape[0]
        for lo in range(0, n_units, self.chunk):
            hi = min(lo + self.chunk, n_units)
            xt = self.x_test if self.x_test is not None else self.Xa[self.test[lo:hi]]
            torch.bmm(xt, params[lo:hi].transpose(1, 2), out=self.logits[lo:hi])  # (c, m, T)
        return self.logits
