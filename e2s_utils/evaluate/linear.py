"""The benchmark's linear probe, every fold (and every task on the same rows) trained at once.

Fold ``k`` of task ``t`` is an independent ``Linear(d, 1)`` starting from ``init[k]``, visiting its
training rows in the order ``perms[e, k]`` in epoch ``e``, with its own AdamW moments; all of them
advance together in a few batched matrix products per step, with a hand-written AdamW that performs
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
"""Epoch-end scoring: ``(logits (K, m, T), targets (K, m, T), is_cls (T,)) -> (K, T)``."""


def _residual(
    out: torch.Tensor, target: torch.Tensor, is_cls: torch.Tensor, any_cls: bool, all_cls: bool
) -> torch.Tensor:
    """d(loss)/d(output) times the batch size: 2 (out - y) for MSE, sigmoid(out) - y for BCE."""
    if all_cls:
        return torch.sigmoid(out).sub_(target)
    if not any_cls:
        return out.sub_(target).mul_(2.0)
    cls = is_cls[None, :, None]
    return torch.where(cls, torch.sigmoid(out) - target, 2.0 * (out - target))


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
    method: Literal["auto", "gather", "dense"] = "auto",
    score_fn: ScoreFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train every fold (and every task sharing these rows, and every matrix) of the probe at once.

    Fold ``k`` of task ``t`` is an independent ``Linear(d, 1)`` starting from ``init[k]``,
    visiting its training rows in the order ``perms[e, k]`` in epoch ``e``, with its own AdamW
    moments; all of them advance together, a few batched matrix products per step. ``X`` may hold
    ``M`` embedding matrices of the same rows (every checkpoint of a run, say): each is probed with
    the same folds and random numbers, as separate evaluations of it would be, in one computation.

    Two equivalent ways to compute a step's outputs and gradients: ``gather`` copies each
    fold's mini-batch rows, ``(K, B, d)``, and multiplies batch-wise (cost ~ K·B·d, best when
    there are many rows or several matrices); ``dense`` multiplies all rows by all folds' weights
    and scatters the residuals back (two ``(n, d) x (d, K·T)`` products, no copy; best for small
    ``n`` and one matrix).

    Args:
        X: ``(n, d)`` or ``(M, n, d)`` float32 standardised embeddings of the task rows.
        Y: ``(n, T)`` float32 scaled labels (same device).
        is_cls: ``(T,)`` bool, classification tasks.
        splits: K ``(train_idx, test_idx)`` pairs, all with the same sizes.
        init: ``(K, d + 1)`` initial weight and bias per fold.
        perms: ``(epochs, K, n_train)`` mini-batch orders (positions into each fold's train_idx).
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        method: ``gather``, ``dense`` or ``auto`` (pick by a cost estimate).
        score_fn: epoch-end scoring (default :func:`fold_scores_from_logits`; the ``exact``
            protocol mode passes the benchmark's own rules).

    Returns:
        ``best`` ``(K, T)`` (``(M, K, T)`` for several matrices) best epoch-end test score per
        fold and task (NaN where no epoch scored), and ``history`` ``(epochs, K, T)`` (``(epochs,
        M, K, T)``) every epoch-end test score.
    """
    device = X.device
    X3 = X if X.dim() == 3 else X[None]
    n_mat, n, d = X3.shape
    k_folds, n_tasks = len(splits), Y.shape[1]
    if method == "auto":
        # measured on CPU: the dense products win while n * T is below about K * B
        small = device.type == "cpu" and n * n_tasks <= k_folds * batch_size
        method = "dense" if small else "gather"
    ones = torch.ones(n_mat, n, 1, dtype=X.dtype, device=device)
    Xa = torch.cat([X3, ones], dim=2).reshape(n_mat * n, d + 1).contiguous()
    offsets = (torch.arange(n_mat, device=device) * n)[:, None, None]
    train = torch.as_tensor(np.stack([s[0] for s in splits]), dtype=torch.int64, device=device)
    test = torch.as_tensor(np.stack([s[1] for s in splits]), dtype=torch.int64, device=device)
    units = _Units(
        Xa=Xa,
        Y=Y.repeat(n_mat, 1),
        is_cls=is_cls.to(device),
        train=(train[None] + offsets).reshape(n_mat * k_folds, -1),
        test=(test[None] + offsets).reshape(n_mat * k_folds, -1),
        init=init.to(device=device, dtype=X.dtype).repeat(n_mat, 1),
        perms=perms.repeat(1, n_mat, 1),
        n_mat=n_mat,
    )
    history = _train_units(units, lr, weight_decay, batch_size, method, score_fn)
    hist = history.reshape(history.shape[0], n_mat, k_folds, n_tasks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(hist, axis=0) if len(hist) else np.full(hist.shape[1:], np.nan)
    if X.dim() == 2:
        return best[0], hist[:, 0]
    return best, hist


@dataclass
class _Units:
    """The independent probes of one computation: unit ``u`` is a fold of one matrix.

    ``Xa`` stacks every matrix's rows with a column of ones (bias); ``train`` / ``test`` index
    into it per unit; ``init`` and ``perms`` are per unit.
    """

    Xa: torch.Tensor
    Y: torch.Tensor
    is_cls: torch.Tensor
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
    Xa, device = u.Xa, u.Xa.device
    n, da = Xa.shape
    n_units, n_train = u.train.shape
    n_tasks, epochs = u.Y.shape[1], u.perms.shape[0]
    x_test, y_test = Xa[u.test], u.Y[u.test]  # (U, m, d + 1), (U, m, T)
    any_cls, all_cls = bool(u.is_cls.any()), bool(u.is_cls.all())
    params = u.init[:, None, :].repeat(1, n_tasks, 1).contiguous()
    exp_avg, exp_avg_sq = torch.zeros_like(params), torch.zeros_like(params)
    beta1, beta2 = ADAM_BETAS
    decay = 1 - lr * weight_decay
    history = torch.empty(epochs, n_units, n_tasks, dtype=torch.float64, device=device)
    Yt = u.Y.T.contiguous()  # (T, n)
    if method == "gather":
        # CPU: a few units at a time so that their mini-batch rows stay in cache (~1 MiB)
        chunk = n_units if device.type != "cpu" else max(1, 2**20 // (4 * batch_size * da))
        chunk = min(chunk, n_units)
        xbuf = torch.empty(chunk * min(batch_size, n_train), da, dtype=Xa.dtype, device=device)
        grad = torch.empty_like(params)
    else:  # per matrix: its rows times its folds' weights
        n_mat, n_rows, k_folds = u.n_mat, n // u.n_mat, n_units // u.n_mat
        Xm = Xa.view(n_mat, n_rows, da)
        mat_of = torch.arange(n_units, device=device) // k_folds
        fold_of = torch.arange(n_units, device=device) % k_folds
        resid_full = torch.zeros(n_mat, n_rows, k_folds, n_tasks, dtype=Xa.dtype, device=device)
    step = 0
    for epoch in range(epochs):
        rows = torch.gather(u.train, 1, u.perms[epoch].to(device))
        for start in range(0, n_train, batch_size):
            idx = rows[:, start : start + batch_size]  # (U, b)
            bsz = idx.shape[1]
            if method == "gather":
                for lo in range(0, n_units, chunk):
                    hi = min(lo + chunk, n_units)
                    sub = idx[lo:hi]
                    xb = torch.index_select(Xa, 0, sub.reshape(-1), out=xbuf[: (hi - lo) * bsz])
                    xb = xb.view(hi - lo, bsz, da)
                    out = torch.bmm(params[lo:hi], xb.transpose(1, 2))  # (c, T, b)
                    resid = _residual(out, Yt[:, sub].permute(1, 0, 2), u.is_cls, any_cls, all_cls)
                    torch.bmm(resid, xb, out=grad[lo:hi])  # (c, T, d + 1)
                grad.div_(bsz)
            else:
                w = params.view(n_mat, k_folds * n_tasks, da)
                full = torch.bmm(Xm, w.transpose(1, 2)).view(n_mat, n_rows, k_folds, n_tasks)
                local = idx - (mat_of * n_rows)[:, None]  # rows within each unit's matrix
                at = (mat_of[:, None], local, fold_of[:, None])
                out = full[at].transpose(1, 2)  # (U, T, b)
                resid = _residual(out, Yt[:, idx].permute(1, 0, 2), u.is_cls, any_cls, all_cls)
                resid_full[at] = resid.transpose(1, 2)
                flat = resid_full.view(n_mat, n_rows, k_folds * n_tasks).transpose(1, 2)
                grad = torch.bmm(flat, Xm).view(n_units, n_tasks, da).div_(bsz)
                resid_full[at] = 0.0
            # torch.optim.AdamW (single-tensor path), operation for operation
            step += 1
            params.mul_(decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(ADAM_EPS)
            params.addcdiv_(exp_avg, denom, value=-step_size)
        logits = torch.bmm(x_test, params.transpose(1, 2))  # (U, m, T)
        history[epoch] = (score_fn or fold_scores_from_logits)(logits, y_test, u.is_cls)
    return history.cpu().numpy()
