"""Where a computation runs and how it is seeded: the device choice and global seeding."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

from e2s_utils.errors import E2SError


class DeviceError(E2SError, ValueError):
    """A device that is not available here."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(device: str = "auto") -> str:
    """Resolve ``auto`` to ``cuda`` when a GPU is visible, else ``cpu``; validate anything else.

    Raises:
        DeviceError: for a CUDA device without a visible GPU or a malformed name.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but no CUDA device is visible; use 'cpu'")
    try:
        torch.device(device)
    except RuntimeError as err:
        raise DeviceError(f"{device!r} is not a torch device name ({err})") from None
    return device


def resolve_device(device: str) -> str:
    """:func:`pick_device`, with ``auto`` -> ``cuda:<LOCAL_RANK>`` under ``torchrun``."""
    resolved = pick_device(device)
    if device == "auto" and resolved == "cuda" and "LOCAL_RANK" in os.environ:
        resolved = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return resolved


def cpu_threads(requested: int | None = None) -> int:
    """Threads for compiled CPU work (the probe, the CSV reader): ``requested``, else torch's setting when torch is in use
    (a worker process that set one torch thread keeps to one), else ``OMP_NUM_THREADS``, else
    every core."""
    if requested:
        return max(1, int(requested))
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    env = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, int(env)) if env.isdigit() and int(env) > 0 else max(1, os.cpu_count() or 1)
