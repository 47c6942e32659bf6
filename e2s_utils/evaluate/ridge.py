"""The converged probe: closed-form ridge per fold, its penalty by exact leave-one-out CV.

Fitted on each fold's training part with a free intercept; the penalty is chosen from a grid
relative to the mean eigenvalue by exact leave-one-out cross-validation on that training part (one
eigendecomposition per fold, in the dual when there are fewer rows than dimensions), then scored on
the same folds with the same metric and the same Q as the linear probe. Classification: ridge on
the 0/1 labels, prediction thresholded at 0.5. Written by hand rather than with scikit-learn's
``RidgeCV`` so that all tasks of a fold share one decomposition and the folds share one Gram matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from e2s_utils.evaluate.protocol import fold_scores_from_logits

RIDGE_ALPHA_GRID = tuple(float(a) for a in np.logspace(-6, 3, 19))
"""Ridge penalties, as multiples of the mean non-zero eigenvalue of the centred training Gram."""


def ridge_folds(
    X: torch.Tensor,
    Y: torch.Tensor,
    is_cls: torch.Tensor,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    alpha_grid: Sequence[float] = RIDGE_ALPHA_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge per fold, penalty by exact leave-one-out CV on the fold's training part.

    Args:
        X: ``(n, d)`` standardised embeddings (any float dtype; computed in float64).
        Y: ``(n, T)`` scaled labels.
        is_cls: ``(T,)`` bool, classification tasks (fit on 0/1, threshold at 0.5).
        splits: K ``(train_idx, test_idx)`` pairs.
        alpha_grid: penalties relative to the mean non-zero eigenvalue of the centred Gram.

    Returns:
        ``scores`` ``(K, T)`` test R² / F1 and ``alphas`` ``(K, T)`` the chosen absolute penalty.
    """
    device = X.device
    X = X.double()
    Y = Y.double()
    is_cls = is_cls.to(device)
    n, d = X.shape
    k_folds, n_tasks = len(splits), Y.shape[1]
    scores = np.full((k_folds, n_tasks), np.nan)
    chosen = np.full((k_folds, n_tasks), np.nan)
    rel = torch.as_tensor(list(alpha_grid), dtype=torch.float64, device=device)
    n_train = len(splits[0][0]) if k_folds else 0
    dual = n_train <= d
    gram = X @ X.T if dual else X.T @ X  # (n, n) or (d, d), shared by every fold
    for k, (tr, te) in enumerate(splits):
        tr_t = torch.as_tensor(tr, device=device)
        te_t = torch.as_tensor(te, device=device)
        ytr = Y[tr_t]
        m = len(tr)
        ymu = ytr.mean(0)
        yc = ytr - ymu
        if dual:
            # centred train Gram (x_i - mu).(x_j - mu) from the shared Gram, no pass over X
            g_tr = gram[tr_t][:, tr_t]
            row = g_tr.mean(1)
            total = row.mean()
            evals, vecs = torch.linalg.eigh(g_tr - row[:, None] - row[None, :] + total)
            proj = vecs  # fitted values: vecs diag(evals / (evals + alpha)) vecs^T y
            coef = vecs.T @ yc  # (m, T)
        else:
            xtr = X[tr_t]
            mu = xtr.mean(0)
            xte = X[te_t]
            cov = gram - xte.T @ xte - m * torch.outer(mu, mu)
            evals, vecs = torch.linalg.eigh(cov)
            proj = (xtr - mu) @ vecs  # (m, d)
            coef = proj.T @ yc  # (d, T)
        evals = evals.clamp(min=0)
        positive = evals > evals.max() * 1e-10
        scale = evals[positive].mean() if bool(positive.any()) else evals.new_tensor(1.0)
        alphas = rel * scale  # (A,)
        if dual:
            filt = evals[None, :] / (evals[None, :] + alphas[:, None])  # (A, m)
        else:
            filt = 1.0 / (evals[None, :] + alphas[:, None])  # (A, d)
        fitted = torch.matmul(proj, filt[:, :, None] * coef[None])  # (A, m, T)
        hat = (proj**2) @ filt.T + 1.0 / m  # (m, A), the intercept adds 1/m
        loo = (yc[None] - fitted) / (1.0 - hat.T)[:, :, None]
        best = torch.argmin((loo**2).mean(dim=1), dim=0)  # (T,)
        alpha_t = alphas[best]  # (T,)
        solve = coef / (evals[:, None] + alpha_t[None, :])  # (r, T)
        if dual:
            g_te = gram[te_t][:, tr_t]
            kernel = g_te - g_te.mean(1, keepdim=True) - row[None, :] + total
            pred = kernel @ (vecs @ solve) + ymu  # (m_te, T)
        else:
            pred = (xte - mu) @ (vecs @ solve) + ymu
        logits = pred[None]
        # classification: threshold the ridge output at 0.5 (passed on as a 0/1 probability)
        if bool(is_cls.any()):
            logits = torch.where(is_cls, (logits > 0.5).double(), logits)
        scores[k] = fold_scores_from_logits(
            logits.cpu().numpy(), Y[te_t][None].cpu().numpy(), is_cls.cpu().numpy()
        )[0]
        chosen[k] = alpha_t.cpu().numpy()
    return scores, chosen
