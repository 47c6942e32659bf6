"""Training the compressor: resumable, bit-identical to an uninterrupted run on the same device.

Epoch 0 is the untrained model (its snapshot is written before the first step). After every epoch
the validation MSE is computed (eval mode); ``best_val.pt`` keeps the model with the lowest one,
written at the scheduled epochs. Shuffling uses a dedicated ``torch.Generator`` seeded from
``config.seed`` (the role of a DataLoader generator); dropout uses the global torch generator,
seeded likewise. Each scheduled epoch writes a weights-only snapshot; ``resume.pt`` (the full
training state, three times a snapshot's size) is rewritten at a scheduled epoch once
``resume_every_s`` seconds have passed since the last one (:mod:`e2s_utils.fusion.checkpoints`).
An interruption therefore loses at most that much training: the run resumes from the last state
and replays the epochs after it, bit-identically, rewriting the same snapshots and ``best_val.pt``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from e2s_utils.fusion import checkpoints as ck
from e2s_utils.fusion.config import FusionConfig, FusionError
from e2s_utils.fusion.model import (
    FusionCompressor,
    build_model,
    make_optimizer,
    reconstruction_losses,
)
from e2s_utils.store.loader import FusionData

EVAL_BATCH = 512
#: Seconds of training between two writes of ``resume.pt`` (at most this much is lost on a kill).
RESUME_EVERY_S = 30.0


@torch.no_grad()
def validate(
    model: FusionCompressor, x: torch.Tensor, weights: Mapping[str, float]
) -> tuple[float, dict[str, float]]:
    """Weighted and per-model reconstruction MSE over all rows (eval mode, element means)."""
    was_training = model.training
    model.eval()
    n = x.shape[0]
    sums = {m: 0.0 for m in model.models}
    for start in range(0, n, EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        _, recon = model(xb)
        _, per = reconstruction_losses(model, recon, xb, weights)
        for m, v in per.items():
            sums[m] += float(v) * xb.shape[0]
    model.train(was_training)
    per_model = {m: s / n for m, s in sums.items()}
    return sum(float(weights[m]) * v for m, v in per_model.items()), per_model


@dataclass
class _Run:
    """The live state of one training run."""

    config: FusionConfig
    run_dir: Path
    device: torch.device
    data: FusionData
    x_train: torch.Tensor
    x_val: torch.Tensor | None
    model: FusionCompressor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    shuffle: torch.Generator
    steps_per_epoch: int
    resume_every_s: float = RESUME_EVERY_S
    last_resume: float = -math.inf

    def validation(self) -> tuple[float, dict[str, float]]:
        if self.x_val is None:
            return math.nan, {m: math.nan for m in self.config.models}
        return validate(self.model, self.x_val, self.config.loss_weights or {})

    def row(self, epoch: int, train_loss: float) -> dict[str, Any]:
        val, per = self.validation()
        return {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_mse": val,
            **{f"val_mse_{m}": v for m, v in per.items()},
            "lr": self.optimizer.param_groups[0]["lr"],
        }

    def save_scheduled(self, epoch: int, keep: bool = False, force: bool = False) -> None:
        """The epoch's snapshot; the resume state too when it is due (or ``force``)."""
        due = time.monotonic() - self.last_resume >= self.resume_every_s
        resume = force or (due and epoch < self.config.epochs)  # a finished run needs none
        if resume:
            self.last_resume = time.monotonic()
        ck.save_scheduled(
            self.run_dir,
            epoch,
            self.model,
            self.optimizer,
            self.scheduler,
            self.shuffle,
            self.device,
            self.config,
            self.data,
            keep=keep,
            resume=resume,
        )

    def best_state(self, epoch: int, val: float) -> dict[str, Any]:
        state = ck.weights_state(self.model, self.config, self.data, epoch, copy=True)
        state["val_mse"] = float(val)
        return state


def _check_inputs(config: FusionConfig, train: FusionData, val: FusionData | None) -> int:
    if train.models != config.models:
        raise FusionError(
            f"training data holds models {train.models} but the config fuses {config.models}"
        )
    if val is not None and val.shapes != train.shapes:
        raise FusionError(f"validation shapes {val.shapes} differ from training {train.shapes}")
    steps = train.n // config.batch_size
    if steps < 1 and config.epochs > 0:
        raise FusionError(
            f"{train.n} training samples make no full batch of {config.batch_size}; lower "
            "batch_size or extract more samples"
        )
    return steps


def _build(
    config: FusionConfig,
    train: FusionData,
    val: FusionData | None,
    run_dir: Path,
    device: torch.device,
    steps: int,
) -> _Run:
    x_train = torch.from_numpy(train.flat(config.models)).to(device)
    x_val = None if val is None else torch.from_numpy(val.flat(config.models)).to(device)
    model = build_model(config, train.shapes).to(device)
    optimizer = make_optimizer(model, config, device)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=config.milestone_steps(steps), gamma=config.gamma
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    return _Run(
        config, run_dir, device, train, x_train, x_val, model, optimizer, scheduler, shuffle, steps
    )


def _start(run: _Run) -> pd.DataFrame:
    """Seed every generator, record and snapshot the untrained model (epoch 0)."""
    seed = run.config.seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if run.device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    row = run.row(0, math.nan)
    row["lr"] = run.config.lr
    history = pd.DataFrame([row])
    ck.save_best(run.run_dir, run.best_state(0, row["val_mse"]))
    run.save_scheduled(0)
    ck.write_history(run.run_dir, history)
    return history


@dataclass(frozen=True)
class Fork:
    """Where a run starts instead of from scratch: another run's kept state.

    Valid when both runs share every setting and data and differ only in their learning-rate
    schedule after the fork (a constant-rate twin of a stepped run forked before its first drop):
    the forked run is then bit-identical to one trained from scratch.

    Attributes:
        state: the other run's kept state (:func:`~e2s_utils.fusion.checkpoints.state_path`).
        best: its ``best_val.pt`` as it was at that state.
        history: its history (rows up to the fork epoch are taken over).
    """

    state: Path
    best: Path
    history: pd.DataFrame


def _lr_at(config: FusionConfig, step: int, steps: int) -> float:
    drops = sum(1 for m in config.milestone_steps(steps) if m <= step)
    return config.lr * config.gamma**drops


def _start_from_fork(run: _Run, fork: Fork) -> tuple[int, pd.DataFrame]:
    """Start from another run's kept state (see :class:`Fork`); refuse where it would differ."""
    state = ck.load_checkpoint(fork.state, map_location=run.device)
    epoch, step = int(state["epoch"]), int(state["epoch"]) * run.steps_per_epoch
    theirs = FusionConfig.from_dict(state["config"])
    same = {k: v for k, v in theirs.to_dict().items() if k not in ("milestones", "gamma")}
    ours = {k: v for k, v in run.config.to_dict().items() if k not in ("milestones", "gamma")}
    early = all(m >= step for m in theirs.milestone_steps(run.steps_per_epoch))
    if same != ours or not early or _lr_at(run.config, step - 1, run.steps_per_epoch) != theirs.lr:
        raise FusionError(
            f"cannot fork from {fork.state}: the runs must differ only in their learning-rate "
            "drops, all of them after the fork; train this run from scratch instead"
        )
    run.model.load_state_dict(state["model"], strict=True)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.last_epoch = step
    for group in run.optimizer.param_groups:
        group["lr"] = _lr_at(run.config, step, run.steps_per_epoch)
    ck.set_rng_state(state["rng"], run.shuffle, run.device)
    history = fork.history[fork.history["epoch"] <= epoch].reset_index(drop=True).copy()
    history.loc[history.index[-1], "lr"] = run.optimizer.param_groups[0]["lr"]
    if fork.best.is_file():
        ck.save_best(run.run_dir, ck.load_checkpoint(fork.best))
    run.save_scheduled(epoch)
    ck.write_history(run.run_dir, history)
    return epoch, history


def _resume(run: _Run, history: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """Restore model, optimiser, scheduler and RNG state from ``resume.pt``."""
    path = ck.resume_path(run.run_dir)
    state = ck.load_checkpoint(path, map_location=run.device)
    if state["config_hash"] != run.config.hash() or "optimizer" not in state:
        raise FusionError(f"{path} is not this configuration's training state; delete the run")
    start = int(state["epoch"])
    run.model.load_state_dict(state["model"], strict=True)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    ck.set_rng_state(state["rng"], run.shuffle, run.device)
    history = history[history["epoch"] <= start].reset_index(drop=True)
    if len(history) != start + 1:
        raise FusionError(
            f"{run.run_dir / 'history.csv'} lacks rows up to epoch {start}; delete the run "
            "directory and train again"
        )
    return start, history


def _train_epoch(run: _Run, epoch: int) -> float:
    """One epoch of optimiser steps in a fresh shuffled order; the mean weighted loss."""
    config = run.config
    run.model.train()
    perm = torch.randperm(run.data.n, generator=run.shuffle)
    total = torch.zeros((), dtype=torch.float64, device=run.device)  # no per-step host sync
    for step in range(run.steps_per_epoch):
        idx = perm[step * config.batch_size : (step + 1) * config.batch_size].to(run.device)
        xb = run.x_train.index_select(0, idx)
        _, recon = run.model(xb)
        loss, _ = reconstruction_losses(run.model, recon, xb, config.loss_weights or {})
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.detach()
    train_loss = float(total) / run.steps_per_epoch
    if not math.isfinite(train_loss):
        raise FusionError(
            f"training loss became {train_loss} at epoch {epoch}; check the embeddings' scale "
            "or lower the learning rate"
        )
    return train_loss


def train(
    config: FusionConfig,
    train_data: FusionData,
    val_data: FusionData | None,
    run_dir: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
    keep_states: tuple[int, ...] = (),
    fork: Fork | None = None,
    resume_every_s: float = RESUME_EVERY_S,
) -> pd.DataFrame:
    """Train the compressor on the config's checkpoint schedule; resume from ``run_dir``.

    Args:
        config: the run's configuration.
        train_data: the samples the compressor trains on (models must equal ``config.models``).
        val_data: the samples whose reconstruction MSE is tracked (``None``: not tracked).
        run_dir: the run directory; created, or resumed when it holds the same run.
        device: torch device.
        progress: show a tqdm bar over epochs.
        stop_after: stop (as if interrupted) after this epoch; a later call resumes.
        keep_states: scheduled epochs whose full state is kept for another run to fork from.
        fork: start from another run's kept state instead of from scratch (:class:`Fork`).
        resume_every_s: seconds of training between two writes of ``resume.pt`` (``0``: at every
            scheduled epoch); ``stop_after`` always writes it.

    Returns:
        The history, one row per epoch: ``epoch``, ``train_loss`` (NaN at epoch 0), ``val_mse``
        (the weighted objective on the validation data), ``val_mse_<model>`` (unweighted),
        ``lr`` (at the end of the epoch).

    Raises:
        FusionError: for mismatched models or shapes, too few samples for one batch, or a
            non-finite loss.
        CacheMismatch: for a run directory holding another configuration or data.
    """
    run_dir, dev = Path(run_dir), torch.device(device)
    steps = _check_inputs(config, train_data, val_data)
    ck.claim_run(run_dir, ck.run_key(config, train_data, val_data))
    schedule = set(config.checkpoint_schedule())
    if not set(keep_states) <= schedule:
        raise FusionError(f"keep_states {keep_states} must be checkpoint epochs of the run")
    final = config.epochs if stop_after is None else min(config.epochs, stop_after)
    run = _build(config, train_data, val_data, run_dir, dev, steps)
    run.resume_every_s = resume_every_s
    history = ck.read_history(run_dir)
    if ck.finished(run_dir, config, history):
        return history
    if ck.resume_path(run_dir).is_file():
        start, history = _resume(run, history)
    elif fork is not None:
        start, history = _start_from_fork(run, fork)
    else:
        start, history = 0, _start(run)
    best: dict[str, Any] | None = None  # the best model since the last scheduled epoch
    bar = tqdm(
        total=config.epochs, initial=start, disable=not progress, desc="fusion", unit="epoch"
    )
    try:
        for epoch in range(start + 1, final + 1):
            row = run.row(epoch, _train_epoch(run, epoch))
            best_so_far = history["val_mse"].min(skipna=True)
            history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
            if math.isfinite(row["val_mse"]) and not (row["val_mse"] >= best_so_far):
                best = run.best_state(epoch, row["val_mse"])
            if epoch in schedule:
                if best is not None:  # best_val.pt moves with the resume state
                    ck.save_best(run_dir, best)
                    best = None
                stopping = stop_after is not None and epoch == final
                run.save_scheduled(epoch, keep=epoch in keep_states, force=stopping)
            ck.write_history(run_dir, history)
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_loss']:.4g}", val=f"{row['val_mse']:.4g}")
    finally:
        bar.close()
    history = ck.read_history(run_dir)
    if ck.finished(run_dir, config, history):
        ck.resume_path(run_dir).unlink(missing_ok=True)  # a finished run needs no optimiser state
    return history
