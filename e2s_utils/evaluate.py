"""The NeuCo-Bench evaluation protocol, exact and fast, plus a converged ridge probe beside it.

Protocol (the benchmark's linear probe, ``probe="linear"``):

* embeddings standardised with **one global scalar** mean and (population) std over the whole
  matrix, restricted as in the benchmark to the rows whose id carries a label in at least one of
  the evaluated tasks; zero-padded first when an ``embedding_dim`` larger than the matrix is set;
* per task: the ids present in both the labels and the embeddings, in label-file order; labels
  min-max scaled to [0, 1] over those ids;
* ``ShuffleSplit(n_splits=K, test_size=0.1, random_state=seed)`` over the task's rows;
* per fold a fresh ``Linear(d, 1)`` with bias (PyTorch's default initialisation), AdamW
  (lr 1e-3, weight decay 0.01, betas (0.9, 0.999), eps 1e-8), batch 64, random mini-batches
  (a fresh permutation of the training rows every epoch, last batch smaller), ``epochs`` epochs;
  MSE loss and R² for regression, BCE-with-logits and binary F1 for classification (the F1
  thresholds exactly as the benchmark's metric does: sigmoid, then > 0.5, unless every test
  logit already lies in [0, 1], then the raw value > 0.5);
* the fold score is the best epoch-end test score; per task mean and population std of the K
  fold scores, ``Q = 2 * mean / (0.02 + std)``; ``Q̄`` is the mean of the task Q.

Randomness: fold ``k`` seeds its own generator with :func:`fold_seed` ``(seed, k)`` and draws from
it, in this order, the probe's initial weight and bias exactly as ``torch.manual_seed(s);
nn.Linear(d, 1)`` would, then one ``torch.randperm`` of the training rows per epoch. (The
benchmark instead seeds one global stream once, so a fold's initialisation depends on every task
evaluated before it; per-fold seeding keeps a task's score independent of which other tasks run,
with the same distribution.) The fast path trains all K folds of a task, and every task that has
exactly the same rows, as one batched computation (weights ``(K, T, d + 1)``, batched matrix
products over per-fold mini-batch index tensors, a hand-written AdamW that performs
``torch.optim.AdamW``'s single-tensor update operation for operation). A plain per-fold loop of the
same protocol lives in ``benchmarks/evaluate_speed.py`` and agrees with it to float tolerance.

NaN handling, as the benchmark does: an epoch whose score is NaN never becomes the best; the task's
mean and std ignore NaN folds (``nanmean`` / ``nanstd``); Q̄ is the plain mean and so NaN when a
task's Q is NaN. Departures, each to keep undefined numbers from turning into ``-inf``: a fold
with no finite epoch score is NaN (the benchmark leaves ``-inf``); R² on a test fold whose labels
are constant is NaN (the benchmark's metric divides by zero); a task whose labels are constant is
all NaN with a warning (the benchmark's min-max scaling divides by zero); a task with no common id
is reported with ``n = 0`` and NaN and left out of Q̄ (the benchmark silently drops it).

The converged probe (``probe="ridge"``, labelled ``ridge`` everywhere): closed-form ridge
regression with a free intercept, fitted on each fold's training part with its penalty chosen by
exact leave-one-out cross-validation on that training part (from one eigendecomposition per fold,
the penalty grid relative to the mean eigenvalue), scored on the same folds with the same metric
and the same Q. Classification: ridge fitted on the 0/1 labels, prediction thresholded at 0.5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import ShuffleSplit

from e2s_utils.data.labels import LabelTask, load_tasks, normalize_id

Probe = Literal["linear", "ridge"]
PROBES: tuple[Probe, ...] = ("linear", "ridge")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
TEST_SIZE = 0.1
RIDGE_ALPHA_GRID = tuple(float(a) for a in np.logspace(-6, 3, 19))
"""Ridge penalties, as multiples of the mean non-zero eigenvalue of the centred training Gram."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class TaskResult:
    """One task's score.

    Attributes:
        name: task name.
        kind: ``regression`` or ``classification``.
        n: number of samples (ids in both labels and embeddings).
        mean: mean fold score (NaN folds ignored).
        std: population std of the fold scores (NaN folds ignored).
        q: ``2 * mean / (0.02 + std)``.
        folds: the K fold scores (best epoch-end test R² or F1; the ridge fit's test score).
    """

    name: str
    kind: str
    n: int
    mean: float
    std: float
    q: float
    folds: np.ndarray


@dataclass
class EvalResult:
    """Scores of one embedding matrix on a set of tasks.

    Attributes:
        probe: ``linear`` (the benchmark's probe) or ``ridge`` (the converged probe).
        q_bar: mean of the task Q over the non-empty tasks.
        tasks: per-task results, by name.
        config: the protocol settings that produced it.
    """

    probe: str
    q_bar: float
    tasks: dict[str, TaskResult]
    config: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per task (index ``task``): kind, n, mean, std, q, probe."""
        rows = [
            {"task": t.name, "kind": t.kind, "n": t.n, "mean": t.mean, "std": t.std, "q": t.q}
            for t in self.tasks.values()
        ]
        frame = pd.DataFrame(rows, columns=["task", "kind", "n", "mean", "std", "q"])
        frame["probe"] = self.probe
        return frame.set_index("task")

    def save(self, out_dir: Path) -> None:
        """Write ``summary.json`` and ``tasks.csv`` into ``out_dir`` (atomically).

        ``summary.json`` holds ``q_bar``, ``probe``, ``config`` and ``tasks`` mapping each task
        to its ``q``, ``mean``, ``std``, ``n``, ``kind`` and ``folds`` (NaN written as null).
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = {
            "q_bar": _json_float(self.q_bar),
            "probe": self.probe,
            "config": self.config,
            "tasks": {
                t.name: {
                    "q": _json_float(t.q),
                    "mean": _json_float(t.mean),
                    "std": _json_float(t.std),
                    "n": t.n,
                    "kind": t.kind,
                    "folds": [_json_float(v) for v in t.folds],
                }
                for t in self.tasks.values()
            },
        }
        _atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        _atomic_write_text(out_dir / "tasks.csv", self.to_frame().to_csv(float_format="%.10g"))

    @classmethod
    def load(cls, out_dir: Path) -> EvalResult:
        """Read a result written by :meth:`save`."""
        path = Path(out_dir) / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no evaluation summary at {path}; run the evaluation first")
        data = json.loads(path.read_text())
        tasks = {
            name: TaskResult(
                name=name,
                kind=entry.get("kind", ""),
                n=int(entry.get("n", 0)),
                mean=_from_json(entry["mean"]),
                std=_from_json(entry["std"]),
                q=_from_json(entry["q"]),
                folds=np.array([_from_json(v) for v in entry.get("folds", [])], dtype=np.float64),
            )
            for name, entry in data["tasks"].items()
        }
        return cls(
            probe=data["probe"],
            q_bar=_from_json(data["q_bar"]),
            tasks=tasks,
            config=data.get("config", {}),
        )


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _from_json(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Protocol elements
# --------------------------------------------------------------------------------------------


def quality(mean: float, std: float) -> float:
    """The benchmark's quality ``Q = 2 * mean / (0.02 + std)`` (at most 100).

    Args:
        mean: mean fold score.
        std: population std of the fold scores.

    Returns:
        Q (NaN if either input is NaN).
    """
    return float(2.0 * mean / (0.02 + std))


def summarize_folds(folds: np.ndarray) -> tuple[float, float, float]:
    """Mean, population std and Q of fold scores, NaN folds ignored (as the benchmark does).

    Args:
        folds: the fold scores.

    Returns:
        ``(mean, std, q)``; all NaN when no fold is finite.
    """
    folds = np.asarray(folds, dtype=np.float64)
    if folds.size == 0 or np.all(np.isnan(folds)):
        return float("nan"), float("nan"), float("nan")
    mean = float(np.nanmean(folds))
    std = float(np.nanstd(folds))
    return mean, std, quality(mean, std)


def fold_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s generator (initialisation and mini-batch order).

    Args:
        seed: the evaluation seed (also the ShuffleSplit ``random_state``).
        fold: fold index.

    Returns:
        A 63-bit seed derived with ``numpy.random.SeedSequence([seed, fold])``.
    """
    state = np.random.SeedSequence([int(seed), int(fold)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def shuffle_splits(n: int, k_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The benchmark's folds: ``ShuffleSplit(k_folds, test_size=0.1, random_state=seed)``.

    Args:
        n: number of rows.
        k_folds: number of folds.
        seed: ``random_state``.

    Returns:
        ``(train_idx, test_idx)`` per fold.
    """
    splitter = ShuffleSplit(n_splits=k_folds, test_size=TEST_SIZE, random_state=seed)
    return list(splitter.split(np.zeros((n, 1))))


def linear_init(d: int, generator: torch.Generator) -> torch.Tensor:
    """Draw a ``Linear(d, 1)`` initialisation exactly as ``nn.Linear`` does from ``generator``.

    Args:
        d: input dimension.
        generator: the fold's generator (consumed: weight first, then bias).

    Returns:
        ``(d + 1,)`` float32: the weight row followed by the bias.
    """
    weight = torch.empty(1, d)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    bound = 1.0 / math.sqrt(d) if d > 0 else 0.0
    bias = torch.empty(1).uniform_(-bound, bound, generator=generator)
    return torch.cat([weight[0], bias])


def fold_randomness(
    d: int, n_train: int, k_folds: int, epochs: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every fold's initialisation and per-epoch mini-batch permutations.

    Args:
        d: embedding dimension.
        n_train: training rows per fold.
        k_folds: number of folds.
        epochs: number of epochs.
        seed: evaluation seed.

    Returns:
        ``init`` ``(K, d + 1)`` float32 and ``perms`` ``(epochs, K, n_train)`` int64 (CPU).
    """
    init = torch.empty(k_folds, d + 1)
    perms = torch.empty(epochs, k_folds, n_train, dtype=torch.int64)
    for k in range(k_folds):
        gen = torch.Generator().manual_seed(fold_seed(seed, k))
        init[k] = linear_init(d, gen)
        for e in range(epochs):
            perms[e, k] = torch.randperm(n_train, generator=gen)
    return init, perms


def standardize_global(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Standardise with one global scalar mean and population std (not per dimension).

    Args:
        X: ``(n, d)`` embeddings.
        rows: boolean mask of the rows the statistics are taken over (default: all).

    Returns:
        float32 ``(X - mean) / std`` (std 0 is replaced by 1, as the benchmark does).
    """
    X = np.asarray(X, dtype=np.float32)
    ref = X if rows is None else X[rows]
    mu = float(ref.mean(dtype=np.float64))
    sigma = float(ref.std(dtype=np.float64))
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


def fold_scores_from_logits(
    logits: torch.Tensor, targets: torch.Tensor, is_cls: torch.Tensor
) -> torch.Tensor:
    """Test scores per fold and task: R² (regression) or binary F1 (classification).

    Args:
        logits: ``(K, m, T)`` probe outputs on each fold's test rows.
        targets: ``(K, m, T)`` scaled labels.
        is_cls: ``(T,)`` bool, True for classification tasks.

    Returns:
        ``(K, T)`` float64 scores. R² is NaN where the test labels are constant; F1 is 0 where
        there is no positive prediction and no positive label (as the benchmark's metric).
    """
    out = torch.full(logits.shape[::2], float("nan"), dtype=torch.float64, device=logits.device)
    reg = ~is_cls
    if bool(reg.any()):
        p = logits[:, :, reg].double()
        y = targets[:, :, reg].double()
        rss = ((y - p) ** 2).sum(dim=1)
        tss = ((y - y.mean(dim=1, keepdim=True)) ** 2).sum(dim=1)
        r2 = 1.0 - rss / tss
        r2 = torch.where(tss > 0, r2, torch.full_like(r2, float("nan")))
        out[:, reg] = r2
    if bool(is_cls.any()):
        z = logits[:, :, is_cls]
        y = targets[:, :, is_cls] > 0.5
        in_unit = ((z >= 0) & (z <= 1)).all(dim=1, keepdim=True)
        prob = torch.where(in_unit, z, torch.sigmoid(z))
        pred = prob > 0.5
        tp = (pred & y).sum(dim=1).double()
        fp = (pred & ~y).sum(dim=1).double()
        fn = (~pred & y).sum(dim=1).double()
        denom = 2 * tp + fp + fn
        f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(denom))
        nan_rows = torch.isnan(z).any(dim=1)
        out[:, is_cls] = torch.where(nan_rows, torch.full_like(f1, float("nan")), f1)
    return out


# --------------------------------------------------------------------------------------------
# The batched linear probe
# --------------------------------------------------------------------------------------------


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
) -> tuple[np.ndarray, np.ndarray]:
    """Train every fold (and every task sharing these rows) of the linear probe at once.

    Fold ``k`` of task ``t`` is an independent ``Linear(d, 1)`` starting from ``init[k]``,
    visiting its training rows in the order ``perms[e, k]`` in epoch ``e``, with its own AdamW
    moments; all of them advance together, a few batched matrix products per step.

    Two equivalent ways to compute a step's outputs and gradients: ``gather`` copies each
    fold's mini-batch rows, ``(K, B, d)``, and multiplies batch-wise (cost ~ K·B·d, best when
    there are many rows); ``dense`` multiplies all rows by all folds' weights and scatters the
    residuals back (two ``(n, d) x (d, K·T)`` products, no copy; best for small ``n``).

    Args:
        X: ``(n, d)`` float32 standardised embeddings of the task rows (on the compute device).
        Y: ``(n, T)`` float32 scaled labels (same device).
        is_cls: ``(T,)`` bool, classification tasks.
        splits: K ``(train_idx, test_idx)`` pairs, all with the same sizes.
        init: ``(K, d + 1)`` initial weight and bias per fold.
        perms: ``(epochs, K, n_train)`` mini-batch orders (positions into each fold's train_idx).
        lr: AdamW learning rate.
        weight_decay: AdamW (decoupled) weight decay.
        batch_size: mini-batch size (the last batch of an epoch is smaller).
        method: ``gather``, ``dense`` or ``auto`` (pick by a cost estimate).

    Returns:
        ``best`` ``(K, T)`` best epoch-end test score per fold and task (NaN where no epoch
        scored), and ``history`` ``(epochs, K, T)`` every epoch-end test score.
    """
    device = X.device
    n, d = X.shape
    k_folds = len(splits)
    n_tasks = Y.shape[1]
    epochs = perms.shape[0]
    if method == "auto":
        # measured on CPU: the dense products win while n * T is below about K * B
        dense = device.type == "cpu" and n * n_tasks <= k_folds * batch_size
        method = "dense" if dense else "gather"
    Xa = torch.cat([X, torch.ones(n, 1, dtype=X.dtype, device=device)], dim=1).contiguous()
    da = d + 1
    train = torch.as_tensor(np.stack([s[0] for s in splits]), dtype=torch.int64, device=device)
    test = torch.as_tensor(np.stack([s[1] for s in splits]), dtype=torch.int64, device=device)
    n_train = train.shape[1]
    x_test = Xa[test]  # (K, m, d + 1)
    y_test = Y[test]  # (K, m, T)
    is_cls = is_cls.to(device)
    any_cls, all_cls = bool(is_cls.any()), bool(is_cls.all())
    params = init.to(device=device, dtype=X.dtype)[:, None, :].repeat(1, n_tasks, 1).contiguous()
    exp_avg = torch.zeros_like(params)
    exp_avg_sq = torch.zeros_like(params)
    beta1, beta2 = ADAM_BETAS
    decay = 1 - lr * weight_decay
    history = torch.empty(epochs, k_folds, n_tasks, dtype=torch.float64, device=device)
    fold_col = torch.arange(k_folds, device=device)[:, None]
    Yt = Y.T.contiguous()  # (T, n)
    if method == "gather":
        # CPU: a few folds at a time so that their mini-batch rows stay in cache (~1 MiB)
        chunk = k_folds if device.type != "cpu" else max(1, 2**20 // (4 * batch_size * da))
        chunk = min(chunk, k_folds)
        xbuf = torch.empty(chunk * min(batch_size, n_train), da, dtype=X.dtype, device=device)
        grad = torch.empty_like(params)
    else:
        resid_full = torch.zeros(n, k_folds, n_tasks, dtype=X.dtype, device=device)
    step = 0
    for epoch in range(epochs):
        rows = torch.gather(train, 1, perms[epoch].to(device))
        for start in range(0, n_train, batch_size):
            idx = rows[:, start : start + batch_size]  # (K, b)
            bsz = idx.shape[1]
            if method == "gather":
                for lo in range(0, k_folds, chunk):
                    hi = min(lo + chunk, k_folds)
                    sub = idx[lo:hi]
                    xb = torch.index_select(Xa, 0, sub.reshape(-1), out=xbuf[: (hi - lo) * bsz])
                    xb = xb.view(hi - lo, bsz, da)
                    out = torch.bmm(params[lo:hi], xb.transpose(1, 2))  # (c, T, b)
                    resid = _residual(out, Yt[:, sub].permute(1, 0, 2), is_cls, any_cls, all_cls)
                    torch.bmm(resid, xb, out=grad[lo:hi])  # (c, T, d + 1)
                grad.div_(bsz)
            else:
                full = (Xa @ params.view(-1, da).T).view(n, k_folds, n_tasks)
                out = full[idx, fold_col].transpose(1, 2)  # (K, T, b)
                resid = _residual(out, Yt[:, idx].permute(1, 0, 2), is_cls, any_cls, all_cls)
                resid_full[idx, fold_col] = resid.transpose(1, 2)
                grad = (resid_full.view(n, -1).T @ Xa).view(k_folds, n_tasks, da).div_(bsz)
                resid_full[idx, fold_col] = 0.0
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
        logits = torch.bmm(x_test, params.transpose(1, 2))  # (K, m, T)
        history[epoch] = fold_scores_from_logits(logits, y_test, is_cls)
    hist = history.cpu().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(hist, axis=0) if epochs else np.full((k_folds, n_tasks), np.nan)
    return best, hist


# --------------------------------------------------------------------------------------------
# The ridge probe
# --------------------------------------------------------------------------------------------


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
        scores[k] = fold_scores_from_logits(logits, Y[te_t][None], is_cls)[0].cpu().numpy()
        chosen[k] = alpha_t.cpu().numpy()
    return scores, chosen


# --------------------------------------------------------------------------------------------
# evaluate()
# --------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    name: str
    kind: str
    rows: np.ndarray
    y: np.ndarray
    n_missing: int


def _prepare_matrix(
    ids: Sequence[str], X: np.ndarray, embedding_dim: int | None
) -> tuple[list[str], np.ndarray]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (n, d) matrix, got shape {X.shape}")
    if len(ids) != X.shape[0]:
        raise ValueError(f"{len(ids)} ids for {X.shape[0]} embedding rows; give one id per row")
    norm = [normalize_id(i) for i in ids]
    seen: set[str] = set()
    dups = [i for i in norm if i in seen or seen.add(i)]
    if dups:
        raise ValueError(
            f"{len(dups)} duplicated embedding id(s), first {dups[0]!r}; ids must be unique"
        )
    X = X.astype(np.float32, copy=True)
    bad = ~np.isfinite(X)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} non-finite embedding value(s) replaced by 0 (as NeuCo-Bench does)",
            stacklevel=3,
        )
        X[bad] = 0.0
    if embedding_dim is not None:
        if X.shape[1] > embedding_dim:
            raise ValueError(
                f"embeddings have {X.shape[1]} dimensions, more than embedding_dim={embedding_dim}"
            )
        if X.shape[1] < embedding_dim:
            X = np.pad(X, ((0, 0), (0, embedding_dim - X.shape[1])))
    return norm, X


def _prepare_task(task: LabelTask, row_of: dict[str, int], normalize_labels: bool) -> _Prepared:
    labels = task.labels.dropna()
    present = np.fromiter((i in row_of for i in labels.index), dtype=bool, count=len(labels))
    kept = labels[present]
    rows = np.array([row_of[i] for i in kept.index], dtype=np.int64)
    y = kept.to_numpy(dtype=np.float64)
    if len(y) and normalize_labels:
        y = minmax_scale(y)
        if np.isnan(y).all():
            warnings.warn(
                f"task {task.name!r}: all {len(y)} labels are equal; min-max scaling is "
                "undefined, so the task scores NaN",
                stacklevel=3,
            )
    if task.kind == "classification" and len(y) and not np.isnan(y).all():
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(
                f"classification task {task.name!r} has labels other than two classes "
                f"(scaled values {np.unique(y)[:5]}...); classification labels must be binary"
            )
    return _Prepared(task.name, task.kind, rows, y, int((~present).sum()))


def evaluate(
    ids: Sequence[str],
    X: np.ndarray,
    tasks: dict[str, LabelTask],
    *,
    probe: Probe = "linear",
    k_folds: int = 40,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    batch_size: int = 64,
    seed: int = 42,
    standardize_embeddings: bool = True,
    normalize_labels: bool = True,
    embedding_dim: int | None = None,
    device: str | torch.device = "cpu",
    task_filter: Sequence[str] | None = None,
    progress: bool = False,
    num_threads: int | None = None,
) -> EvalResult:
    """Score an embedding matrix on downstream tasks with the NeuCo-Bench protocol.

    Args:
        ids: one sample id per row of ``X`` (a trailing ``.zarr.zip`` is ignored).
        X: ``(n, d)`` embeddings.
        tasks: the tasks (see :func:`e2s_utils.data.labels.load_tasks`).
        probe: ``linear`` (the benchmark's probe) or ``ridge`` (the converged probe).
        k_folds: ShuffleSplit folds per task.
        epochs: linear-probe epochs per fold.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: mini-batch size.
        seed: ShuffleSplit ``random_state`` and the root of every fold's generator.
        standardize_embeddings: global scalar standardisation (on in the benchmark).
        normalize_labels: per-task min-max label scaling (on in the benchmark).
        embedding_dim: expected dimension: more columns is an error, fewer are zero-padded.
        device: torch device of the computation (``cpu``, ``cuda``...).
        task_filter: evaluate only these tasks.
        progress: show a progress bar over task groups.
        num_threads: torch CPU threads for this call (restored afterwards); ``None`` leaves the
            setting alone. On a machine shared with other busy processes, 1 avoids thread
            oversubscription, which can slow the small batched operations down many times.

    Returns:
        The :class:`EvalResult`.

    Raises:
        ValueError: malformed inputs, an unknown probe or task, no id shared with any task.
    """
    if num_threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(num_threads)
        try:
            return evaluate(
                ids,
                X,
                tasks,
                probe=probe,
                k_folds=k_folds,
                epochs=epochs,
                lr=lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
                seed=seed,
                standardize_embeddings=standardize_embeddings,
                normalize_labels=normalize_labels,
                embedding_dim=embedding_dim,
                device=device,
                task_filter=task_filter,
                progress=progress,
                num_threads=None,
            )
        finally:
            torch.set_num_threads(previous)
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, not {probe!r}")
    if k_folds < 1 or epochs < 0 or batch_size < 1:
        raise ValueError("k_folds and batch_size must be >= 1 and epochs >= 0")
    if task_filter is not None:
        missing = sorted(set(task_filter) - set(tasks))
        if missing:
            raise ValueError(f"task(s) {missing} not among the tasks given: {sorted(tasks)}")
        tasks = {name: tasks[name] for name in task_filter}
    norm_ids, X = _prepare_matrix(ids, X, embedding_dim)
    row_of = {i: r for r, i in enumerate(norm_ids)}
    labelled = np.zeros(len(norm_ids), dtype=bool)
    prepared = []
    for name in sorted(tasks):
        prep = _prepare_task(tasks[name], row_of, normalize_labels)
        labelled[prep.rows] = True
        prepared.append(prep)
        if prep.n_missing:
            warnings.warn(
                f"task {name!r}: {prep.n_missing} labelled id(s) have no embedding and are skipped",
                stacklevel=2,
            )
    if tasks and not labelled.any():
        raise ValueError(
            "no embedding id matches any label id; ids must be the bare sample ids "
            f"(embedding ids look like {norm_ids[:2]}, label ids like "
            f"{[list(t.labels.index[:2]) for t in tasks.values()][:1]})"
        )
    if standardize_embeddings and labelled.any():
        X = standardize_global(X, labelled)
    device = torch.device(device)
    Xt = torch.from_numpy(X).to(device)

    results: dict[str, TaskResult] = {}
    groups: dict[tuple[int, ...], list[_Prepared]] = {}
    for prep in prepared:
        if len(prep.rows) < 2 or np.isnan(prep.y).all():
            if len(prep.rows) == 0:
                warnings.warn(f"task {prep.name!r} shares no id with the embeddings", stacklevel=2)
            results[prep.name] = TaskResult(
                prep.name,
                prep.kind,
                len(prep.rows),
                *([float("nan")] * 3),
                folds=np.full(k_folds if len(prep.rows) else 0, np.nan),
            )
            continue
        groups.setdefault(tuple(prep.rows.tolist()), []).append(prep)

    from tqdm.auto import tqdm

    randomness: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for key, members in tqdm(groups.items(), desc=f"{probe} probe", disable=not progress):
        rows = np.asarray(key, dtype=np.int64)
        splits = shuffle_splits(len(rows), k_folds, seed)
        xg = Xt[torch.from_numpy(rows).to(device)]
        yg = torch.from_numpy(np.stack([m.y for m in members], axis=1)).float().to(device)
        is_cls = torch.tensor([m.kind == "classification" for m in members])
        if probe == "linear":
            n_train = len(splits[0][0])
            if n_train not in randomness:
                randomness[n_train] = fold_randomness(X.shape[1], n_train, k_folds, epochs, seed)
            init, perms = randomness[n_train]
            folds, _ = train_linear_folds(
                xg,
                yg,
                is_cls,
                splits,
                init,
                perms,
                lr=lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
            )
        else:
            folds, _ = ridge_folds(xg, yg, is_cls, splits)
        for j, m in enumerate(members):
            mean, std, q = summarize_folds(folds[:, j])
            results[m.name] = TaskResult(m.name, m.kind, len(rows), mean, std, q, folds[:, j])

    results = dict(sorted(results.items()))
    scored = [t.q for t in results.values() if t.n > 0]
    q_bar = float(np.mean(scored)) if scored else float("nan")
    config = {
        "probe": probe,
        "k_folds": k_folds,
        "epochs": epochs if probe == "linear" else None,
        "lr": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "seed": seed,
        "standardize_embeddings": standardize_embeddings,
        "normalize_labels": normalize_labels,
        "embedding_dim": int(X.shape[1]),
        "n_embeddings": len(norm_ids),
    }
    return EvalResult(probe=probe, q_bar=q_bar, tasks=results, config=config)


# --------------------------------------------------------------------------------------------
# Comparing methods
# --------------------------------------------------------------------------------------------


def q_table(results: dict[str, EvalResult]) -> pd.DataFrame:
    """Methods x tasks table of Q (tasks in the first result's order; union of tasks)."""
    table = pd.DataFrame({m: {t: r.q for t, r in res.tasks.items()} for m, res in results.items()})
    return table.T.rename_axis(index="method", columns="task")


def z_scores(results: dict[str, EvalResult], ddof: int = 0) -> pd.DataFrame:
    """The paper's task-normalised score.

    Per task, ``(Q_t^m - mean_m Q_t^m) / std_m Q_t^m`` across the compared methods; the ``Z``
    column is the mean over tasks. Only tasks every method scored (finite Q) are used; a task on
    which all methods tie contributes 0.

    Args:
        results: method name -> result.
        ddof: degrees of freedom of the across-method std (0: population).

    Returns:
        Methods x tasks Z plus a ``Z`` column.
    """
    q = q_table(results)
    q = q.loc[:, q.notna().all(axis=0)]
    std = q.std(axis=0, ddof=ddof)
    z = (q - q.mean(axis=0)) / std.where(std > 0)
    z = z.fillna(0.0)
    z["Z"] = z.mean(axis=1) if z.shape[1] else np.nan
    return z


def leaderboard(results: dict[str, EvalResult]) -> pd.DataFrame:
    """The benchmark's leaderboard.

    Methods with a NaN task are dropped; each task ranks the methods by Q (1 = best, ties get the
    lowest rank); tasks are weighted by the across-method std (ddof 1) of Q, normalised to sum 1
    (uniform with a single method); the weighted rank sum is ranked again.

    Args:
        results: method name -> result.

    Returns:
        One row per method, best first: ``method``, ``mean_score`` (Q̄), ``weighted_score``,
        ``aggregated_rank`` and the per-task Q.
    """
    from scipy.stats import rankdata

    q = q_table(results)
    tasks = list(q.columns)
    q = q[q.notna().all(axis=1)]
    columns = ["method", "mean_score", "weighted_score", "aggregated_rank", *tasks]
    if q.empty:
        return pd.DataFrame(columns=columns)
    scores = q.to_numpy(dtype=np.float64)
    ranks = rankdata(-scores, axis=0, method="min")
    if len(q) > 1:
        stds = np.std(scores, axis=0, ddof=1)
        weights = stds / stds.sum() if stds.sum() > 0 else np.full(len(tasks), 1 / len(tasks))
    else:
        weights = np.full(len(tasks), 1.0 / len(tasks))
    board = q.reset_index()
    board["mean_score"] = scores.mean(axis=1)
    board["weighted_score"] = (ranks * weights).sum(axis=1)
    board["aggregated_rank"] = rankdata(board["weighted_score"].to_numpy(), method="min")
    return board.sort_values("weighted_score", kind="stable")[columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Embedding CSV files
# --------------------------------------------------------------------------------------------


def write_embeddings_csv(
    path: Path, ids: Sequence[str], X: np.ndarray, float16: bool = False
) -> Path:
    """Write the NeuCo-Bench CSV: header ``id,0,...,D-1``, one row per id (atomically).

    Args:
        path: destination file.
        ids: sample ids (a trailing ``.zarr.zip`` is removed).
        X: ``(n, D)`` embeddings.
        float16: round the values to float16 first, as the challenge submissions did.

    Returns:
        The path.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != len(ids):
        raise ValueError(f"need one row per id: {len(ids)} ids, matrix of shape {X.shape}")
    values = X.astype(np.float16) if float16 else X.astype(np.float32)
    frame = pd.DataFrame(values.astype(np.float64), columns=[str(i) for i in range(X.shape[1])])
    frame.insert(0, "id", [normalize_id(i) for i in ids])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False, float_format="%.5g" if float16 else "%.9g")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_embeddings_csv(
    path: Path, embedding_dim: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Read and validate a NeuCo-Bench embedding CSV.

    Embedding columns are the all-digit column names in numeric order (other columns are
    ignored); ids lose a trailing ``.zarr.zip``; empty / NaN cells become 0 with a warning.

    Args:
        path: the CSV.
        embedding_dim: expected dimension: more columns is an error, fewer are zero-padded.

    Returns:
        ``(ids, X)`` with ``X`` float32 ``(n, D)``.

    Raises:
        ValueError: no ``id`` column, no embedding column, duplicated ids, a non-numeric cell,
            or more dimensions than ``embedding_dim``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embedding file {path} not found")
    frame = pd.read_csv(path, dtype={"id": str}, low_memory=False)
    if "id" not in frame.columns:
        raise ValueError(f"embedding file {path} has no 'id' column; the header must be id,0,1,...")
    cols = sorted((c for c in frame.columns if str(c).isdigit()), key=int)
    if not cols:
        raise ValueError(f"embedding file {path} has no embedding column named 0, 1, ...")
    if embedding_dim is not None and len(cols) > embedding_dim:
        raise ValueError(
            f"embedding file {path} has {len(cols)} dimensions, more than the expected "
            f"{embedding_dim}; write at most {embedding_dim} columns"
        )
    ids = [normalize_id(i) for i in frame["id"].astype(str)]
    series = pd.Series(ids)
    dup = series[series.duplicated()].unique()
    if len(dup):
        raise ValueError(
            f"embedding file {path} lists {len(dup)} id(s) more than once (first: {dup[0]!r}); "
            "keep one row per id"
        )
    block = frame[cols]
    for c in cols:
        if not pd.api.types.is_numeric_dtype(block[c]):
            coerced = pd.to_numeric(block[c], errors="coerce")
            bad = coerced.isna() & block[c].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"embedding file {path}: value {block[c].iloc[row]!r} in column {c} of id "
                f"{ids[row]!r} is not a number"
            )
    X = block.to_numpy(dtype=np.float32)
    nan = ~np.isfinite(X)
    if nan.any():
        warnings.warn(
            f"embedding file {path}: {int(nan.sum())} empty/NaN/inf value(s) set to 0",
            stacklevel=2,
        )
        X[nan] = 0.0
    if embedding_dim is not None and X.shape[1] < embedding_dim:
        X = np.pad(X, ((0, 0), (0, embedding_dim - X.shape[1])))
    return ids, X


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@dataclass
class EvaluateArgs:
    """Parsed ``e2s evaluate`` options."""

    embeddings: Path
    labels: Path
    out: Path
    probe: Probe = "linear"
    k_folds: int = 40
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    seed: int = 42
    embedding_dim: int | None = None
    tasks: list[str] | None = None
    device: str = "cpu"
    standardize_embeddings: bool = True
    normalize_labels: bool = True
    plots: bool = False
    num_threads: int | None = None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="e2s evaluate",
        description="Score a NeuCo-Bench embedding CSV on a labels folder (linear probe or ridge).",
    )
    p.add_argument("--embeddings", type=Path, required=True, help="CSV with header id,0,...,D-1")
    p.add_argument("--labels", type=Path, required=True, help="folder of <task>__<type>.csv")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--probe",
        choices=PROBES,
        default="linear",
        help="linear: the benchmark's probe (default); ridge: the converged probe",
    )
    p.add_argument("--k-folds", type=int, default=40)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--embedding-dim", type=int, default=None)
    p.add_argument("--tasks", nargs="+", default=None, help="evaluate only these tasks")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        dest="num_threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's own setting)",
    )
    p.add_argument("--no-standardize", dest="standardize_embeddings", action="store_false")
    p.add_argument("--no-normalize-labels", dest="normalize_labels", action="store_false")
    p.add_argument("--plots", action="store_true", help="also save a fold-score figure (PNG)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``e2s evaluate``: read the CSV and labels, evaluate, write summary.json and tasks.csv.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status (0 on success, 2 on bad input).
    """
    ns = _parser().parse_args(argv)
    args = EvaluateArgs(**vars(ns))
    try:
        tasks = load_tasks(args.labels, args.tasks)
        ids, X = read_embeddings_csv(args.embeddings, args.embedding_dim)
        result = evaluate(
            ids,
            X,
            tasks,
            probe=args.probe,
            k_folds=args.k_folds,
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            batch_size=args.batch_size,
            seed=args.seed,
            standardize_embeddings=args.standardize_embeddings,
            normalize_labels=args.normalize_labels,
            embedding_dim=args.embedding_dim,
            device=args.device,
            progress=True,
            num_threads=args.num_threads,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"e2s evaluate: error: {err}", file=sys.stderr)
        return 2
    result.config.update({"embeddings": args.embeddings.name, "labels": str(args.labels.name)})
    result.save(args.out)
    if args.plots:
        from e2s_utils.plots.evaluation import plot_fold_scores

        fig = plot_fold_scores(result)
        fig.savefig(Path(args.out) / "fold_scores.png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
    frame = result.to_frame()
    print(frame.to_string(float_format=lambda v: f"{v:.3f}"))
    label = "Q-bar" if args.probe == "linear" else "Q-bar (ridge)"
    print(f"{label} = {result.q_bar:.3f}  ->  {Path(args.out) / 'summary.json'}")
    return 0


__all__ = [
    "EvalResult",
    "TaskResult",
    "evaluate",
    "fold_randomness",
    "fold_scores_from_logits",
    "fold_seed",
    "leaderboard",
    "linear_init",
    "main",
    "minmax_scale",
    "q_table",
    "quality",
    "read_embeddings_csv",
    "ridge_folds",
    "shuffle_splits",
    "standardize_global",
    "summarize_folds",
    "train_linear_folds",
    "write_embeddings_csv",
    "z_scores",
]
