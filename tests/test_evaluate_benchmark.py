"""The benchmark's random stream (checked against torch's own DataLoader) and its metric rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.model_selection import ShuffleSplit
from torch import nn
from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

from e2s_utils import evaluate as ev
from e2s_utils.evaluate import benchmark as es


def _benchmark_like_loop(
    sizes: list[tuple[str, int]], d: int, k_folds: int, epochs: int, batch_size: int = 16
) -> dict[str, tuple[torch.Tensor, list[list[list[int]]], list[list[list[int]]]]]:
    """Draw with torch's own classes in the benchmark's order on the global stream.

    Per task and fold: two DataLoaders over SubsetRandomSampler(train/test indices), then
    nn.Linear(d, 1), then per epoch a full pass over the training loader and the test loader.
    Returns per task the initial weights and the visited indices of every epoch.
    """
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(es.BENCHMARK_SEED)
        for name, n in sizes:
            dataset = TensorDataset(torch.arange(n))
            splits = ShuffleSplit(k_folds, test_size=0.1, random_state=42).split(np.zeros(n))
            inits, train_seen, test_seen = [], [], []
            for train_idx, test_idx in splits:
                train = DataLoader(
                    dataset, batch_size=batch_size, sampler=SubsetRandomSampler(train_idx)
                )
                test = DataLoader(
                    dataset, batch_size=batch_size, sampler=SubsetRandomSampler(test_idx)
                )
                model = nn.Linear(d, 1)
                inits.append(torch.cat([model.weight.detach()[0], model.bias.detach()]))
                tr_epochs, te_epochs = [], []
                for _ in range(epochs):
                    tr_epochs.append([int(i) for (batch,) in train for i in batch])
                    te_epochs.append([int(i) for (batch,) in test for i in batch])
                train_seen.append(tr_epochs)
                test_seen.append(te_epochs)
            out[name] = (torch.stack(inits), train_seen, test_seen)
    return out


def test_stream_equals_torch_dataloader_order_on_the_global_generator() -> None:
    sizes = [("a_task", 57), ("b_task", 40)]
    d, k_folds, epochs = 5, 3, 4
    reference = _benchmark_like_loop(sizes, d, k_folds, epochs)
    tasks = [es.StreamTask(name, *es.split_sizes(n)) for name, n in sizes]
    draws = es.benchmark_stream(tasks, d, k_folds, epochs)
    for name, n in sizes:
        init, train_seen, test_seen = reference[name]
        got = draws[name]
        assert got.init.dtype == np.float32 and got.init.shape == (k_folds, d + 1)
        assert got.perms.dtype == np.int64
        assert got.perms.shape == (epochs, k_folds, es.split_sizes(n)[0])
        np.testing.assert_array_equal(got.init.view(np.uint32), init.numpy().view(np.uint32))
        splits = ev.shuffle_splits(n, k_folds, es.BENCHMARK_SEED)
        for k, (train_idx, test_idx) in enumerate(splits):
            for e in range(epochs):
                assert train_seen[k][e] == train_idx[got.perms[e, k]].tolist()
                assert test_seen[k][e] == test_idx[got.test_perms[e, k]].tolist()


def test_stream_depends_on_the_tasks_before() -> None:
    d, k_folds, epochs = 4, 2, 2
    alone = es.benchmark_stream([es.StreamTask("b", 30, 4)], d, k_folds, epochs)
    after = es.benchmark_stream([es.StreamTask("a", 20, 3), es.StreamTask("b", 30, 4)], d, 2, 2)
    assert not np.array_equal(alone["b"].init, after["b"].init)
    first = es.benchmark_stream([es.StreamTask("a", 20, 3)], d, k_folds, epochs)
    np.testing.assert_array_equal(first["a"].perms, after["a"].perms)


def test_split_sizes_match_shuffle_split() -> None:
    for n in (10, 11, 19, 57, 315, 2000):
        train, test = next(ShuffleSplit(1, test_size=0.1, random_state=0).split(np.zeros(n)))
        assert es.split_sizes(n) == (len(train), len(test))


def test_benchmark_fold_scores_equal_torchmetrics() -> None:
    import torchmetrics as tm  # installed with terratorch

    gen = torch.Generator().manual_seed(0)
    m = 33
    y = torch.rand(m, generator=gen)
    cases = {
        "random": (torch.randn(m, generator=gen), y),
        "near perfect": (y + 1e-3 * torch.randn(m, generator=gen), y),
        "constant target": (torch.randn(m, generator=gen), torch.zeros(m)),
        "nearly constant": (
            torch.randn(m, generator=gen),
            torch.cat([torch.zeros(m - 1), torch.tensor([0.01])]),
        ),
    }
    for label, (pred, target) in cases.items():
        want = tm.regression.R2Score()(pred, target).item()
        got = es.benchmark_fold_scores(
            pred.view(1, -1, 1), target.view(1, -1, 1), torch.tensor([False])
        )
        assert got[0, 0].item() == pytest.approx(want, rel=1e-5, abs=1e-6), label
    labels = (torch.rand(m, generator=gen) > 0.5).float()
    logit_cases = {
        "logits": torch.randn(m, generator=gen),
        "in unit": torch.rand(m, generator=gen),
        "nan": torch.where(torch.arange(m) % 3 == 0, float("nan"), torch.randn(m, generator=gen)),
        "all negative": -torch.rand(m, generator=gen) - 1,
    }
    for label, z in logit_cases.items():
        want = tm.classification.BinaryF1Score()(z, labels).item()
        got = es.benchmark_fold_scores(
            z.view(1, -1, 1), labels.view(1, -1, 1), torch.tensor([True])
        )
        assert got[0, 0].item() == pytest.approx(want, abs=1e-7), label
    # our protocol scores differ exactly where the benchmark's library is special
    ours = ev.fold_scores_from_logits(
        torch.randn(1, m, 1, generator=gen), torch.zeros(1, m, 1), torch.tensor([False])
    )
    assert math.isnan(ours[0, 0].item())
