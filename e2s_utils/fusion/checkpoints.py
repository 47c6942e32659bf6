"""A compressor run on disk: its folder, snapshots, resume state and history.

A run directory holds ``cache.json`` (the run's :class:`~e2s_utils.cache.CacheKey`: configuration,
input shapes and the fingerprints of the training and validation data; a run refuses to continue on
anything else), ``history.csv`` (one row per epoch, epoch 0 being the untrained model),
``checkpoints/epoch_XXXXX.pt`` (the weights at each scheduled epoch: what the probes evaluate),
``resume.pt`` (the full training state at a recent scheduled epoch: model, optimiser, scheduler,
every RNG state; rewritten at most every half minute, deleted once the run is finished) and ``best_val.pt`` (the model with
the lowest validation MSE up to the latest scheduled epoch), all written atomically. Keeping the
optimiser state once rather than in every snapshot makes a run a third of the size on disk.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2s_utils.cache import CacheKey, claim
from e2s_utils.fusion.config import FusionConfig, FusionError
from e2s_utils.fusion.model import FusionCompressor
from e2s_utils.io import atomic_torch_save, atomic_write_bytes, atomic_write_text
from e2s_utils.store.loader import FusionData, FusionSplits

CHECKPOINT_FORMAT = 2
BEST_VAL = "best_val.pt"


def run_key(config: FusionConfig, train: FusionData, val: FusionData | None) -> CacheKey:
    """The cache key of a run: its configuration, input shapes and data fingerprints."""
    return CacheKey(
        "fusion",
        {
            "config": config.to_dict(),
            "shapes": {m: list(s) for m, s in train.shapes.items()},
            "train": {"n": train.n, "fingerprint": train.fingerprint()},
            "val": None if val is None else {"n": val.n, "fingerprint": val.fingerprint()},
        },
    )


def run_dir_for(
    out_dir: Path, config: FusionConfig, splits: FusionSplits, preset: str, size: str
) -> Path:
    """The conventional run directory of a configuration and its data.

    ``out_dir/fusion/<models joined by +>__<preset>__<size>__<setting>__<run key[:12]>``.
    """
    key = run_key(config, splits.train, splits.val)
    name = f"{'+'.join(config.models)}__{preset}__{size}__{splits.setting}__{key.short()}"
    return Path(out_dir) / "fusion" / name


def claim_run(run_dir: Path, key: CacheKey) -> None:
    """Claim ``run_dir`` for a run, or check that it holds this run (refusing to mix)."""
    claim(run_dir, key)


def resume_path(run_dir: Path) -> Path:
    """``run_dir/resume.pt``: the full training state at the latest scheduled epoch."""
    return Path(run_dir) / "resume.pt"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    """``run_dir/checkpoints/epoch_XXXXX.pt``."""
    return Path(run_dir) / "checkpoints" / f"epoch_{epoch:05d}.pt"


def state_path(run_dir: Path, epoch: int) -> Path:
    """``run_dir/states/epoch_XXXXX.pt``: a kept full training state (another run forks from it)."""
    return Path(run_dir) / "states" / f"epoch_{epoch:05d}.pt"


def kept_best_path(run_dir: Path, epoch: int) -> Path:
    """``run_dir/states/best_val_epoch_XXXXX.pt``: ``best_val.pt`` as it was at a kept state."""
    return Path(run_dir) / "states" / f"best_val_epoch_{epoch:05d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's snapshots as ``(epoch, path)``, sorted by epoch (``best_val.pt`` excluded)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("epoch_*.pt"):
        stem = p.stem.removeprefix("epoch_")
        if stem.isdigit():
            out.append((int(stem), p))
    return sorted(out)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`~e2s_utils.fusion.train.train` (tensors, plain Python).

    Raises:
        FusionError: when the file is missing or is not a fusion checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FusionError(f"checkpoint {path} does not exist; list a run's with list_checkpoints()")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise FusionError(f"{path} is not a fusion checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def model_from_checkpoint(
    checkpoint: Path | Mapping[str, Any], device: str | torch.device = "cpu"
) -> FusionCompressor:
    """Rebuild the compressor of a checkpoint (strict load, eval mode, on ``device``)."""
    ckpt = load_checkpoint(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    config = FusionConfig.from_dict(ckpt["config"])
    shapes = {m: (int(s[0]), int(s[1])) for m, s in ckpt["shapes"].items()}
    model = FusionCompressor(shapes, config.hidden, config.out_dim, config.dropout)
    model.load_state_dict(ckpt["model"], strict=True)
    return model.to(device).eval()


def read_history(run_dir: Path) -> pd.DataFrame:
    """The run's ``history.csv`` (empty frame when absent), every float read back exactly.

    pandas' default float parser may change the last digit of a 17-digit value; the round-trip
    parser keeps a resumed run's history identical to an uninterrupted one.
    """
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, float_precision="round_trip")


def write_history(run_dir: Path, history: pd.DataFrame) -> None:
    """Write ``history.csv`` atomically."""
    atomic_write_text(Path(run_dir) / "history.csv", history.to_csv(index=False))


def finished(run_dir: Path, config: FusionConfig, history: pd.DataFrame) -> bool:
    """Whether the run's final snapshot and every history row up to the last epoch are on disk."""
    return (
        checkpoint_path(run_dir, config.epochs).is_file()
        and len(history) == config.epochs + 1
        and int(history["epoch"].iloc[-1]) == config.epochs
    )


# ---------------------------------------------------------------------------------- RNG state
def rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every RNG state a run depends on: torch, CUDA, NumPy, Python and the shuffling generator."""
    np_state: Any = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any], shuffle: torch.Generator, device: torch.device) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------- writing
def weights_state(
    model: FusionCompressor, config: FusionConfig, data: FusionData, epoch: int, *, copy: bool
) -> dict[str, Any]:
    """A weights-only checkpoint of the model as it is now (``copy``: tensors cloned)."""
    tensors = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if copy:
        tensors = {k: v.clone() for k, v in tensors.items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "shapes": {m: list(s) for m, s in model.shapes.items()},
        "train_fingerprint": data.fingerprint(),
        "model": tensors,
    }


def save_scheduled(
    run_dir: Path,
    epoch: int,
    model: FusionCompressor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    device: torch.device,
    config: FusionConfig,
    data: FusionData,
    *,
    keep: bool = False,
    resume: bool = True,
) -> None:
    """Write the epoch's weights-only snapshot, then (``resume``) rewrite ``resume.pt``.

    The snapshot goes first: a crash in between resumes from the previous state and rewrites it.
    With ``keep`` the full state (and ``best_val.pt`` as it is now) is also kept under ``states/``
    for another run to fork from.
    """
    ckpt = weights_state(model, config, data, epoch, copy=False)
    atomic_torch_save(ckpt, checkpoint_path(run_dir, epoch))
    if not (keep or resume):
        return
    ckpt["optimizer"] = optimizer.state_dict()
    ckpt["scheduler"] = scheduler.state_dict()
    ckpt["rng"] = rng_state(shuffle, device)
    if keep:
        atomic_torch_save(ckpt, state_path(run_dir, epoch))
        best = Path(run_dir) / BEST_VAL
        if best.is_file():
            atomic_write_bytes(kept_best_path(run_dir, epoch), best.read_bytes())
    if resume:
        atomic_torch_save(ckpt, resume_path(run_dir))


def save_best(run_dir: Path, best: dict[str, Any]) -> None:
    """Write ``best_val.pt`` (a :func:`weights_state` with its ``val_mse``)."""
    atomic_torch_save(best, Path(run_dir) / BEST_VAL)
