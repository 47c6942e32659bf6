"""Where a computation runs and how it is seeded."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from e2s_utils import runtime


def test_seed_everything_seeds_every_generator() -> None:
    runtime.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    runtime.seed_everything(2**40)  # larger than NumPy's 32-bit seeds


def test_cuda_request_without_gpu_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.pick_device("auto") == "cpu"
    assert runtime.pick_device("cpu") == "cpu"
    with pytest.raises(runtime.DeviceError, match="no CUDA device"):
        runtime.pick_device("cuda")
    with pytest.raises(runtime.DeviceError, match="not a torch device"):
        runtime.pick_device("gpu0")


def test_torchrun_rank_picks_the_local_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert runtime.resolve_device("auto") == "cuda:2"
    assert runtime.resolve_device("cpu") == "cpu"
    monkeypatch.delenv("LOCAL_RANK")
    assert runtime.resolve_device("auto") == "cuda"
