"""The torch CPU generator replayed from NumPy: every draw the probe takes, bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from e2s_utils.evaluate.torch_rng import RANDPERM_LIMIT, TorchCPUGenerator


@pytest.mark.parametrize("seed", [0, 42, 2**31 + 7, (123456789 << 31) ^ 987654321])
def test_randperm_and_loader_seed_draws_equal_torch(seed: int) -> None:
    gen, ours = torch.Generator().manual_seed(seed), TorchCPUGenerator(seed)
    base = torch.empty((), dtype=torch.int64)
    for n in (0, 1, 2, 7, 64, 1800, 70_001):
        base.random_(generator=gen)  # the data loader's base seed: two words
        ours.skip(2)
        np.testing.assert_array_equal(torch.randperm(n, generator=gen).numpy(), ours.randperm(n))
    out = np.empty(33, dtype=np.int64)
    ours.randperm(33, out=out)
    np.testing.assert_array_equal(torch.randperm(33, generator=gen).numpy(), out)


@pytest.mark.parametrize("d", [0, 1, 5, 1024])
def test_linear_init_equals_nn_linear_bit_for_bit(d: int) -> None:
    torch.manual_seed(9)
    ours = TorchCPUGenerator(9)
    for _ in range(3):  # consecutive draws stay aligned
        with torch.no_grad(), np.errstate(all="ignore"):
            layer = nn.Linear(d, 1) if d else None
        got = ours.linear_init(d)
        if layer is None:  # nn.Linear(0, 1) warns; draw the same way by hand
            continue
        want = torch.cat([layer.weight.detach()[0], layer.bias.detach()]).numpy()
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_uniform_bounds_rounded_to_float32_and_equal_bounds() -> None:
    gen, ours = torch.Generator().manual_seed(5), TorchCPUGenerator(5)
    lo, hi = -1 / math.sqrt(3), 0.1
    want = torch.empty(100).uniform_(lo, hi, generator=gen).numpy()
    np.testing.assert_array_equal(ours.uniform(100, lo, hi), want)
    same = torch.empty(3).uniform_(-0.0, 0.0, generator=gen).numpy()
    np.testing.assert_array_equal(ours.uniform(3, -0.0, 0.0).view(np.uint32), same.view(np.uint32))


def test_randperm_beyond_the_replayed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="n < "):
        TorchCPUGenerator(0).randperm(RANDPERM_LIMIT)


def test_loader_epochs_equal_loader_draws_epoch_by_epoch() -> None:
    gen, ours = torch.Generator().manual_seed(11), TorchCPUGenerator(11)
    train, test = np.empty((3, 50), dtype=np.int64), np.empty((3, 1), dtype=np.int64)
    ours.loader_epochs(train, test)
    base = torch.empty((), dtype=torch.int64)
    for e in range(3):
        for out, n in ((train[e], 50), (test[e], 1)):
            base.random_(generator=gen)
            np.testing.assert_array_equal(out, torch.randperm(n, generator=gen).numpy())
    np.testing.assert_array_equal(ours.randperm(9), torch.randperm(9, generator=gen).numpy())
