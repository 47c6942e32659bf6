"""The benchmark protocol: the named presets, overrides, and each protocol element (Q, folds ...)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import ShuffleSplit
from torch import nn

from e2s_utils.evaluate import protocol as P
from e2s_utils.evaluate.torch_rng import TorchCPUGenerator

# ---------------------------------------------------------------- the presets


def test_each_preset_holds_its_values() -> None:
    assert P.PROTOCOL_NAMES == ("paper", "challenge", "neuco_current")
    paper, challenge, current = (P.get_protocol(n) for n in P.PROTOCOL_NAMES)
    assert (paper.k_folds, paper.epochs, paper.exclude_tasks) == (40, 20, ())
    assert (challenge.k_folds, challenge.epochs) == (200, 20)
    assert challenge.exclude_tasks == ("clouds_reg", "nodata")
    assert (current.k_folds, current.epochs, current.exclude_tasks) == (40, 10, ())
    for proto in (paper, challenge, current):
        assert (proto.lr, proto.weight_decay, proto.batch_size, proto.seed) == (
            1e-3,
            0.01,
            64,
            42,
        )
        assert proto.standardize_embeddings and proto.normalize_labels
        assert proto.random_stream == "exact" and proto.overrides == ()
    assert paper.name == "paper" and challenge.name == "challenge"


def test_get_protocol_refuses_unknown_names_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'neuco'"):
        P.get_protocol("neuco")
    with pytest.raises(ValueError, match=r"unknown protocol field\(s\) \['k'\]"):
        P.get_protocol("paper", k=5)


def test_with_overrides_records_the_changed_names() -> None:
    paper = P.get_protocol("paper")
    changed = paper.with_overrides(k_folds=5, epochs=20, seed=None)
    assert changed.k_folds == 5 and changed.epochs == 20
    assert changed.overrides == ("k_folds",)  # same value and None are not overrides
    again = changed.with_overrides(epochs=3)
    assert again.overrides == ("epochs", "k_folds") and again.name == "paper"
    assert paper.with_overrides(k_folds=40) is paper
    assert "overridden: epochs, k_folds" in again.label()
    assert paper.label() == "paper (K = 40, 20 epochs)"
    # the record of overrides does not change what a protocol is
    assert dataclasses.replace(changed, overrides=()) == changed
    assert P.get_protocol("paper", k_folds=5).overrides == ("k_folds",)


def test_protocol_validates_and_serialises() -> None:
    with pytest.raises(ValueError, match="k_folds"):
        P.Protocol("x", k_folds=0, epochs=1)
    with pytest.raises(ValueError, match="random_stream"):
        P.Protocol("x", k_folds=2, epochs=1, random_stream="global")  # type: ignore[arg-type]
    proto = P.Protocol("x", k_folds=2, epochs=1, exclude_tasks=("b", "a"))
    assert proto.exclude_tasks == ("a", "b")
    d = P.get_protocol("challenge", k_folds=3).to_dict()
    assert d["name"] == "challenge" and d["k_folds"] == 3 and d["epochs"] == 20
    assert d["exclude_tasks"] == ["clouds_reg", "nodata"] and d["overrides"] == ["k_folds"]
    assert set(d) == {f.name for f in dataclasses.fields(P.Protocol)}


# ---------------------------------------------------------------- Q and its edge cases


def test_quality_formula() -> None:
    assert P.quality(1.0, 0.0) == pytest.approx(100.0)  # the maximum
    assert P.quality(0.5, 0.0) == pytest.approx(50.0)  # std 0
    assert P.quality(0.6, 0.1) == pytest.approx(2 * 0.6 / 0.12)
    assert P.quality(-0.3, 0.2) < 0  # negative when mean R2 < 0
    assert math.isnan(P.quality(float("nan"), 0.1))


def test_summarize_folds_population_std_and_nan_folds() -> None:
    folds = np.array([0.2, 0.4, np.nan, 0.9])
    mean, std, q = P.summarize_folds(folds)
    assert mean == pytest.approx(np.mean([0.2, 0.4, 0.9]))
    assert std == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=0))
    assert q == pytest.approx(2 * mean / (0.02 + std))
    assert all(math.isnan(v) for v in P.summarize_folds(np.array([np.nan, np.nan])))
    assert all(math.isnan(v) for v in P.summarize_folds(np.array([])))
    assert P.summarize_folds(np.full(5, 0.7))[1] == 0.0


# ---------------------------------------------------------------- folds, scaling, metric


@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 1 / 3, 0.5, 0.9])
def test_splits_are_sklearn_shufflesplit(test_size: float) -> None:
    # sizes where ceil(test_size * n) meets float rounding (0.1 * 30 = 3.0000000000000004)
    sizes = [2, 3, 7, 9, 10, 11, 29, 30, 31, 70, 99, 100, 101, 137, 1000, 2001]
    for n in sizes:
        for k, seed in [(1, 0), (7, 42), (40, 42), (3, 2**32 - 1), (5, 12345)]:
            splitter = ShuffleSplit(n_splits=k, test_size=test_size, random_state=seed)
            if math.ceil(test_size * n) >= n:  # no training row: both refuse
                with pytest.raises(ValueError):
                    list(splitter.split(np.zeros(n)))
                with pytest.raises(ValueError, match="training rows would be empty"):
                    P.shuffle_splits(n, k, seed, test_size)
                continue
            ours = P.shuffle_splits(n, k, seed, test_size)
            theirs = list(splitter.split(np.zeros(n)))
            assert len(ours) == k
            for (a, b), (c, d) in zip(ours, theirs, strict=True):
                assert a.dtype == c.dtype and b.dtype == d.dtype
                np.testing.assert_array_equal(a, c)
                np.testing.assert_array_equal(b, d)
    assert len(P.shuffle_splits(137, 7, 42)[0][1]) == 14  # ceil(0.1 * 137)
    with pytest.raises(ValueError, match="range"):
        P.shuffle_splits(10, 2, 0, test_size=1.0)


def test_e2s_evaluate_runs_without_torch_pandas_or_sklearn(tmp_path: Path) -> None:
    """A whole ``e2s evaluate`` run imports none of them (each costs a large share of a run)."""
    from e2s_utils.data.labels import write_task
    from e2s_utils.store.csv import write_embeddings_csv

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(60)]
    write_embeddings_csv(tmp_path / "emb.csv", ids, rng.standard_normal((60, 8)))
    for name, kind in (("reg", "regression"), ("cls", "classification")):
        values = rng.random(60) if kind == "regression" else (rng.random(60) > 0.5) * 1.0
        write_task(tmp_path / "labels", name, kind, pd.Series(values, index=ids))
    args = [
        "evaluate",
        "--embeddings",
        str(tmp_path / "emb.csv"),
        "--labels",
        str(tmp_path / "labels"),
        "--out",
        str(tmp_path / "out"),
        "--k-folds",
        "3",
        "--epochs",
        "2",
    ]
    code = (
        "import sys; from e2s_utils.cli import main; rc = main(sys.argv[1:]); "
        "heavy = ('sklearn', 'torch', 'pandas', 'scipy.stats', 'scipy.sparse', 'scipy.linalg'); "
        "bad = sorted(m for m in sys.modules if m.startswith(heavy)); "
        "print('IMPORTED', bad[:8]); sys.exit(rc or (1 if bad else 0))"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IMPORTED []" in done.stdout
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["tasks"].keys() == {
        "cls",
        "reg",
    }


def test_global_scalar_standardisation() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) * np.array([1, 10, 100, 1, 1, 1]) + np.arange(6)
    Z = P.standardize_global(X)
    assert Z.dtype == np.float32
    assert Z.mean() == pytest.approx(0.0, abs=1e-5)
    assert Z.std() == pytest.approx(1.0, abs=1e-5)
    # one scalar: ratios between dimensions survive (per-dimension scaling would erase them)
    assert Z[:, 2].std() / Z[:, 0].std() == pytest.approx(X[:, 2].std() / X[:, 0].std(), rel=1e-4)
    assert Z[:, 2].std() > 10 * Z[:, 0].std()
    # statistics over the labelled rows only
    mask = np.zeros(50, dtype=bool)
    mask[:10] = True
    Zm = P.standardize_global(X, mask)
    assert Zm[:10].mean() == pytest.approx(0.0, abs=1e-5)
    assert Zm[:10].std() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(P.standardize_global(np.ones((3, 2))), np.zeros((3, 2)))


def test_label_minmax_scaling() -> None:
    np.testing.assert_allclose(P.minmax_scale(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert np.isnan(P.minmax_scale(np.array([5.0, 5.0]))).all()


def test_fold_scores_r2_f1_and_nan() -> None:
    y = torch.tensor([0.0, 0.5, 1.0, 0.25]).view(1, 4, 1)
    p = torch.tensor([0.1, 0.4, 0.8, 0.3]).view(1, 4, 1)
    r2 = P.fold_scores_from_logits(p, y, torch.tensor([False]))[0, 0].item()
    yn, pn = y.view(-1).numpy(), p.view(-1).numpy()
    ref = 1 - ((yn - pn) ** 2).sum() / ((yn - yn.mean()) ** 2).sum()
    assert r2 == pytest.approx(float(ref), rel=1e-6)
    const = torch.full((1, 4, 1), 0.3)
    assert math.isnan(P.fold_scores_from_logits(p, const, torch.tensor([False]))[0, 0].item())
    # F1: logits outside [0, 1] -> sigmoid then > 0.5, i.e. logit > 0
    t = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 4, 1)
    z = torch.tensor([2.0, -0.1, 0.3, -3.0]).view(1, 4, 1)
    f1 = P.fold_scores_from_logits(z, t, torch.tensor([True]))[0, 0].item()
    assert f1 == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))  # tp 1, fp 1, fn 1
    # every logit inside [0, 1]: the raw value is thresholded at 0.5 (the benchmark's metric)
    z01 = torch.tensor([0.9, 0.4, 0.3, 0.2]).view(1, 4, 1)
    f1b = P.fold_scores_from_logits(z01, t, torch.tensor([True]))[0, 0].item()
    assert f1b == pytest.approx(2 * 1 / (2 * 1 + 0 + 1))
    nothing = P.fold_scores_from_logits(-z.abs() - 1, torch.zeros(1, 4, 1), torch.tensor([True]))
    assert nothing[0, 0].item() == 0.0


# ---------------------------------------------------------------- the per-fold random stream


def test_linear_init_reproduces_nn_linear() -> None:
    seed = P.fold_seed(42, 3)
    torch.manual_seed(seed)
    ref = nn.Linear(33, 1)
    init = P.linear_init(33, TorchCPUGenerator(seed))
    np.testing.assert_array_equal(init[:33], ref.weight.detach()[0].numpy())
    np.testing.assert_array_equal(init[33:], ref.bias.detach().numpy())
    assert P.fold_seed(42, 3) == seed
    assert len({P.fold_seed(s, k) for s in (42, 43) for k in range(50)}) == 100


def test_fold_randomness_matches_global_stream_order() -> None:
    init, perms = P.fold_randomness(5, 20, k_folds=3, epochs=2, seed=7)
    assert init.shape == (3, 6) and perms.shape == (2, 3, 20)
    torch.manual_seed(P.fold_seed(7, 1))
    lin = nn.Linear(5, 1)
    first, second = torch.randperm(20), torch.randperm(20)
    np.testing.assert_array_equal(init[1, :5], lin.weight.detach()[0].numpy())
    np.testing.assert_array_equal(perms[0, 1], first.numpy())
    np.testing.assert_array_equal(perms[1, 1], second.numpy())
