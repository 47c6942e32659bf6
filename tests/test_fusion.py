"""Tests of the fusion compressor: layout, loss, schedule, checkpoints, resume, evaluation, CSV."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import e2s_utils
from e2s_utils import fusion
from e2s_utils.fusion import (
    FusionCompressor,
    FusionConfig,
    FusionData,
    FusionError,
)

SHAPES = {"dofa": (6, 4), "croma": (5, 1), "prithvi": (3, 2)}


def make_data(
    n: int = 40, seed: int = 0, shapes: dict | None = None, prefix: str = "id"
) -> FusionData:
    """Low-rank embeddings (so the compressor has something to learn), different scale per model."""
    rng = np.random.default_rng(seed)
    shapes = shapes or SHAPES
    latent = rng.standard_normal((n, 3))
    inputs = {}
    for k, (m, (c, t)) in enumerate(shapes.items()):
        mix = rng.standard_normal((3, c * t))
        x = latent @ mix * (k + 1) + 0.05 * rng.standard_normal((n, c * t))
        inputs[m] = x.reshape(n, c, t).astype(np.float32)
    return FusionData([f"{prefix}{i:04d}" for i in range(n)], inputs)


def split(n_train: int = 40, n_val: int = 16) -> tuple[FusionData, FusionData]:
    """Training and validation rows of one distribution."""
    d = make_data(n_train + n_val, 0)
    return d.subset(d.ids[:n_train]), d.subset(d.ids[n_train:])


def small_config(**kw) -> FusionConfig:
    base = dict(
        models=tuple(SHAPES), hidden=16, out_dim=8, batch_size=8, epochs=4, checkpoint_every=2
    )
    base.update(kw)
    return FusionConfig(**base)


# ----------------------------------------------------------------------------------------- model


def test_paper_parameter_count():
    model = FusionCompressor(fusion.PAPER_SHAPES)
    assert model.in_dim == 20_992
    assert fusion.count_parameters(model) == 66_650_624


def test_architecture_order_and_dropout():
    model = FusionCompressor(SHAPES, hidden=16, out_dim=8, dropout=0.1)
    kinds = [type(m).__name__ for m in model.encoder]
    assert kinds == ["LayerNorm", "Dropout", "Linear", "GELU", "Dropout", "Linear"]
    assert model.encoder[0].weight is not None  # affine LayerNorm over all inputs
    assert model.encoder[0].normalized_shape == (6 * 4 + 5 + 3 * 2,)
    assert model.encoder[1].p == 0.1 and model.encoder[4].p == 0.1
    assert model.decoder.in_features == 8 and model.decoder.out_features == model.in_dim


def test_canonical_order_and_flatten_layout():
    # whatever order the caller uses, inputs concatenate as dofa, croma, prithvi (canonical)
    model = FusionCompressor({"prithvi": (3, 2), "croma": (5, 1), "dofa": (6, 4)})
    assert model.models == ("dofa", "croma", "prithvi")
    data = make_data(n=3)
    flat = data.flat()
    assert flat.shape == (3, 24 + 5 + 6)
    # channel-major, time fastest: flat[c * T + t] == emb[c, t]
    assert flat[1, 1 * 4 + 3] == data.inputs["dofa"][1, 1, 3]
    assert flat[2, 24 + 4] == data.inputs["croma"][2, 4, 0]
    assert flat[0, 29 + 2 * 2 + 1] == data.inputs["prithvi"][0, 2, 1]
    tensors = {m: torch.from_numpy(a) for m, a in data.inputs.items()}
    assert torch.equal(model.flatten(tensors), torch.from_numpy(flat))
    back = model.split(torch.from_numpy(flat))
    for m, a in data.inputs.items():
        assert torch.equal(back[m], torch.from_numpy(a))
    with pytest.raises(FusionError, match="croma"):
        model.flatten({**tensors, "croma": torch.zeros(3, 4, 1)})


def test_loss_weights_defaults_and_override():
    cfg = FusionConfig(models=("scalemae", "dofa", "croma", "prithvi", "copernicusfm", "rcf"))
    assert cfg.models == ("copernicusfm", "dofa", "croma", "prithvi", "scalemae", "rcf")
    assert cfg.loss_weights == {
        "copernicusfm": 1.0, "dofa": 1.0, "croma": 0.5, "prithvi": 2.0, "scalemae": 0.75, "rcf": 1.0
    }  # fmt: skip
    cfg2 = FusionConfig(models=("dofa", "croma"), loss_weights={"croma": 3.0})
    assert cfg2.loss_weights == {"dofa": 1.0, "croma": 3.0}
    with pytest.raises(FusionError, match="not among models"):
        FusionConfig(models=("dofa",), loss_weights={"croma": 1.0})
    with pytest.raises(FusionError, match="finite"):
        FusionConfig(models=("dofa",), loss_weights={"dofa": -1.0})
    with pytest.raises(FusionError, match="repeats"):
        FusionConfig(models=("dofa", "dofa"))


def test_weighted_loss_and_per_model_split():
    model = FusionCompressor(SHAPES)
    weights = {"dofa": 1.0, "croma": 0.5, "prithvi": 2.0}
    target = torch.zeros(4, model.in_dim)
    recon = target.clone()
    recon[:, 24:29] = 2.0  # error only in croma's slice: MSE_croma = 4
    total, per = fusion.reconstruction_losses(model, recon, target, weights)
    assert per["dofa"].item() == 0 and per["prithvi"].item() == 0
    assert per["croma"].item() == pytest.approx(4.0)
    assert total.item() == pytest.approx(0.5 * 4.0)
    recon[:, 29:] = 1.0  # prithvi MSE 1, weight 2
    total, per = fusion.reconstruction_losses(model, recon, target, weights)
    assert total.item() == pytest.approx(0.5 * 4.0 + 2.0 * 1.0)
    # equals the explicit formula on random tensors
    r, t = torch.randn(5, model.in_dim), torch.randn(5, model.in_dim)
    total, _ = fusion.reconstruction_losses(model, r, t, weights)
    manual = (
        1.0 * ((r[:, :24] - t[:, :24]) ** 2).mean()
        + 0.5 * ((r[:, 24:29] - t[:, 24:29]) ** 2).mean()
        + 2.0 * ((r[:, 29:] - t[:, 29:]) ** 2).mean()
    )
    assert total.item() == pytest.approx(manual.item(), rel=1e-6)


# ---------------------------------------------------------------------------------------- config


def test_config_hash_and_schedule():
    a = FusionConfig(models=("croma", "dofa"))
    b = FusionConfig(models=("dofa", "croma"))
    assert a.hash() == b.hash() and len(a.hash()) == 16
    assert FusionConfig(models=("dofa", "croma"), seed=1).hash() != a.hash()
    assert FusionConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    # the paper: decay at epochs 96 and 144 of 160
    assert a.milestone_steps(10) == [960, 1440]
    assert a.checkpoint_schedule() == list(range(0, 161, 5))
    c = FusionConfig(models=("dofa",), epochs=7, checkpoint_every=3)
    assert c.checkpoint_schedule() == [0, 3, 6, 7]
    d = FusionConfig(models=("dofa",), epochs=100, checkpoint_epochs=(50, 1, 10, 3))
    assert d.checkpoint_schedule() == [0, 1, 3, 10, 50, 100]
    with pytest.raises(FusionError, match="checkpoint_epochs"):
        FusionConfig(models=("dofa",), epochs=10, checkpoint_epochs=(20,))


def test_fusion_data_validation():
    data = make_data(n=5)
    with pytest.raises(FusionError, match="rows"):
        FusionData(data.ids[:4], data.inputs)
    bad = {m: a.copy() for m, a in data.inputs.items()}
    bad["croma"][2, 0, 0] = np.nan
    with pytest.raises(FusionError, match="id0002"):
        FusionData(data.ids, bad)
    with pytest.raises(FusionError, match="repeat"):
        FusionData(["a", "a", "b", "c", "d"], data.inputs)
    sub = data.subset(["id0003", "id0001"])
    assert sub.ids == ["id0003", "id0001"]
    assert np.array_equal(sub.inputs["dofa"][0], data.inputs["dofa"][3])
    assert data.fingerprint() == make_data(n=5).fingerprint()
    assert data.fingerprint() != make_data(n=5, seed=1).fingerprint()


# -------------------------------------------------------------------------------------- training


def _params(path: Path) -> dict[str, torch.Tensor]:
    return fusion.load_checkpoint(path)["model"]


def test_checkpoint_cadence_contents_and_best(tmp_path):
    cfg = small_config(epochs=5, checkpoint_every=2)
    train_d, val_d = split()
    hist = fusion.train(cfg, train_d, val_d, tmp_path / "run", progress=False)
    assert [e for e, _ in fusion.list_checkpoints(tmp_path / "run")] == [0, 2, 4, 5]
    assert list(hist["epoch"]) == [0, 1, 2, 3, 4, 5]
    assert list(hist.columns) == [
        "epoch", "train_loss", "val_mse", "val_mse_dofa", "val_mse_croma", "val_mse_prithvi", "lr"
    ]  # fmt: skip
    assert np.isnan(hist["train_loss"].iloc[0]) and np.isfinite(hist["train_loss"].iloc[1:]).all()
    # val_mse is the weighted sum of the per-model MSEs
    w = cfg.loss_weights
    recomputed = sum(w[m] * hist[f"val_mse_{m}"] for m in cfg.models)
    np.testing.assert_allclose(hist["val_mse"], recomputed, rtol=1e-6)
    ckpt = fusion.load_checkpoint(fusion.checkpoint_path(tmp_path / "run", 2))
    assert ckpt["epoch"] == 2 and ckpt["config_hash"] == cfg.hash()
    assert "model" in ckpt and not {"optimizer", "scheduler", "rng"} & set(ckpt)  # weights only
    # a finished run keeps no optimiser state: its final snapshot marks it finished
    assert not fusion.resume_path(tmp_path / "run").exists()
    # epoch 0 is the untrained model: exactly the seeded initialisation
    init = fusion.build_model(cfg, train_d.shapes).state_dict()
    for k, v in _params(fusion.checkpoint_path(tmp_path / "run", 0)).items():
        assert torch.equal(v, init[k])
    best = fusion.load_checkpoint(tmp_path / "run" / "best_val.pt")
    assert best["epoch"] == int(hist["epoch"].iloc[hist["val_mse"].idxmin()])
    assert best["val_mse"] == pytest.approx(hist["val_mse"].min())
    assert (tmp_path / "run" / "history.csv").exists()
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_training_learns_and_lr_decays(tmp_path):
    cfg = small_config(epochs=10, checkpoint_every=5, lr=1e-2, milestones=(0.5, 0.8))
    hist = fusion.train(cfg, *split(), tmp_path / "r", progress=False)
    assert hist["val_mse"].iloc[-1] < 0.5 * hist["val_mse"].iloc[0]
    # 5 steps per epoch, 50 steps: decays after step 25 (epoch 5) and step 40 (epoch 8)
    lrs = hist.set_index("epoch")["lr"]
    assert lrs[4] == pytest.approx(1e-2) and lrs[5] == pytest.approx(1e-3)
    assert lrs[7] == pytest.approx(1e-3) and lrs[8] == pytest.approx(1e-4)


def test_resume_is_bit_identical(tmp_path):
    cfg = small_config(epochs=4, checkpoint_every=2)
    train_d, val_d = split()
    straight = fusion.train(cfg, train_d, val_d, tmp_path / "a", progress=False)
    part = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False, stop_after=2)
    assert list(part["epoch"]) == [0, 1, 2]
    state = fusion.load_checkpoint(fusion.resume_path(tmp_path / "b"))
    assert state["epoch"] == 2 and {"optimizer", "scheduler", "rng"} <= set(state)
    assert {"torch", "numpy", "python", "shuffle"} <= set(state["rng"])
    assert state["optimizer"]["state"], "the optimiser's moments are kept for the resume"
    torch.manual_seed(999)  # disturb the global generators: the checkpoint must restore them
    np.random.seed(999)
    resumed = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, resumed, check_exact=True)
    for (ea, pa), (eb, pb) in zip(
        fusion.list_checkpoints(tmp_path / "a"),
        fusion.list_checkpoints(tmp_path / "b"),
        strict=True,
    ):
        assert ea == eb
        a, b = fusion.load_checkpoint(pa), fusion.load_checkpoint(pb)
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), (ea, k)
    assert not fusion.resume_path(tmp_path / "b").exists()


def test_resume_after_crash_between_checkpoints(tmp_path, monkeypatch):
    cfg = small_config(epochs=4, checkpoint_every=2)
    train_d, val_d = split()
    straight = fusion.train(cfg, train_d, val_d, tmp_path / "a", progress=False)

    real_validate = fusion._validate
    calls = {"n": 0}

    def crashing_validate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # epochs 0-3 validated; crash while validating epoch 4
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(fusion, "_validate", crashing_validate)
    with pytest.raises(KeyboardInterrupt):
        fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    monkeypatch.setattr(fusion, "_validate", real_validate)
    assert [e for e, _ in fusion.list_checkpoints(tmp_path / "b")] == [0, 2]
    assert fusion.load_checkpoint(fusion.resume_path(tmp_path / "b"))["epoch"] == 2
    # epoch 3 validated better, but best_val.pt never runs ahead of the resume state
    hist_a = fusion.read_history(tmp_path / "a")
    assert hist_a["val_mse"].iloc[3] < hist_a["val_mse"].iloc[:3].min()
    assert fusion.load_checkpoint(tmp_path / "b" / "best_val.pt")["epoch"] == 2
    resumed = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, resumed, check_exact=True)
    a = _params(fusion.checkpoint_path(tmp_path / "a", 4))
    b = _params(fusion.checkpoint_path(tmp_path / "b", 4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a finished run returns its history without training again
    again = fusion.train(cfg, train_d, val_d, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(straight, again, check_exact=True)


def test_run_dir_refuses_to_mix(tmp_path):
    cfg = small_config(epochs=1)
    train_d, val_d = split()
    fusion.train(cfg, train_d, val_d, tmp_path / "r", progress=False)
    with pytest.raises(FusionError, match="different configuration"):
        fusion.train(small_config(epochs=1, seed=7), train_d, val_d, tmp_path / "r", progress=False)
    with pytest.raises(FusionError, match="different training data"):
        fusion.train(cfg, make_data(40, 5), val_d, tmp_path / "r", progress=False)
    with pytest.raises(FusionError, match="no full batch"):
        fusion.train(cfg, make_data(4, 0), val_d, tmp_path / "s", progress=False)
    with pytest.raises(FusionError, match="fuses"):
        fusion.train(FusionConfig(models=("dofa",)), train_d, val_d, tmp_path / "t", progress=False)
    d = fusion.run_dir_for(tmp_path, cfg, "as_intended", "micro")
    assert d.parent == tmp_path / "fusion" and d.name.endswith(cfg.hash())
    assert "dofa+croma+prithvi" in d.name


def test_embed(tmp_path):
    cfg = small_config(epochs=2)
    train_d, val_d = split()
    fusion.train(cfg, train_d, val_d, tmp_path / "r", progress=False)
    ckpt = fusion.checkpoint_path(tmp_path / "r", 2)
    x = fusion.embed(ckpt, train_d)
    assert x.shape == (40, 8) and x.dtype == np.float32
    assert np.array_equal(x, fusion.embed(ckpt, train_d))  # eval mode: no dropout
    # extra models in the data are ignored; a missing one is an error
    extra = FusionData(train_d.ids, {**train_d.inputs, "scalemae": np.zeros((40, 2, 2), "f4")})
    assert np.array_equal(x, fusion.embed(ckpt, extra))
    with pytest.raises(FusionError, match="croma"):
        fusion.embed(ckpt, train_d.select(["dofa", "prithvi"]))
    assert not np.array_equal(x, fusion.embed(fusion.checkpoint_path(tmp_path / "r", 0), train_d))


# ------------------------------------------------------------------------ evaluation (faked probe)


@dataclass
class _Task:
    name: str
    kind: str
    labels: pd.Series


@pytest.fixture
def fake_evaluate(monkeypatch):
    """A stand-in evaluation module: Q-bar = mean |corr| of the first dimension with the labels."""
    calls = []

    @dataclass
    class TaskResult:
        name: str
        q: float

    @dataclass
    class EvalResult:
        probe: str
        q_bar: float
        tasks: dict

        def save(self, out_dir):
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            payload = {"q_bar": self.q_bar, "probe": self.probe,
                       "tasks": {k: {"q": v.q} for k, v in self.tasks.items()}}  # fmt: skip
            (Path(out_dir) / "summary.json").write_text(json.dumps(payload))

        @classmethod
        def load(cls, out_dir):
            p = json.loads((Path(out_dir) / "summary.json").read_text())
            tasks = {k: TaskResult(k, v["q"]) for k, v in p["tasks"].items()}
            return cls(p["probe"], p["q_bar"], tasks)

    def evaluate(ids, X, tasks, *, probe="linear", k_folds=40, epochs=10, device="cpu", **_):
        calls.append((probe, X.shape))
        res = {}
        for name, t in tasks.items():
            y = t.labels.reindex(ids).to_numpy()
            res[name] = TaskResult(name, float(abs(np.corrcoef(X[:, 0], y)[0, 1])) * 10)
        return EvalResult(probe, float(np.mean([r.q for r in res.values()])), res)

    mod = types.ModuleType("e2s_utils.evaluate")
    mod.EvalResult, mod.evaluate = EvalResult, evaluate
    monkeypatch.setitem(sys.modules, "e2s_utils.evaluate", mod)
    monkeypatch.setattr(e2s_utils, "evaluate", mod, raising=False)
    return calls


def test_evaluate_checkpoints_table_and_cache(tmp_path, fake_evaluate):
    cfg = small_config(epochs=4, checkpoint_every=2)
    train_d, val_d = split()
    fusion.train(cfg, train_d, val_d, tmp_path / "r", progress=False)
    rng = np.random.default_rng(3)
    tasks = {
        "a": _Task("a", "regression", pd.Series(rng.random(40), index=train_d.ids)),
        "b": _Task("b", "regression", pd.Series(rng.random(40), index=train_d.ids)),
    }
    table = fusion.evaluate_checkpoints(tmp_path / "r", train_d, tasks, k_folds=3, epochs=2,
                                        progress=False)  # fmt: skip
    best_ep = fusion.load_checkpoint(tmp_path / "r" / "best_val.pt")["epoch"]
    epochs = sorted({0, 2, 4, best_ep})
    assert list(table["epoch"]) == epochs
    assert table["best_val"].sum() == 1 and table.loc[table["best_val"], "epoch"].item() == best_ep
    expect = "best_val.pt" if best_ep % 2 else f"checkpoints/epoch_{best_ep:05d}.pt"
    assert table.loc[table["best_val"], "checkpoint"].item() == expect
    assert list(table.columns[:7]) == [
        "epoch", "train_loss", "val_mse", "val_mse_dofa", "val_mse_croma", "val_mse_prithvi",
        "q_bar",
    ]  # fmt: skip
    assert {"q_bar_ridge", "q_a", "q_b", "q_ridge_a", "q_ridge_b"} <= set(table.columns)
    n_eval = 2 * len(epochs)
    assert len(fake_evaluate) == n_eval and all(shape == (40, 8) for _, shape in fake_evaluate)
    np.testing.assert_allclose(table["q_bar"], (table["q_a"] + table["q_b"]) / 2)
    # cached: a rerun evaluates nothing and returns the same table
    again = fusion.evaluate_checkpoints(tmp_path / "r", train_d, tasks, k_folds=3, epochs=2,
                                        progress=False)  # fmt: skip
    assert len(fake_evaluate) == n_eval
    pd.testing.assert_frame_equal(table, again)
    # other settings are another cache entry
    fusion.evaluate_checkpoints(tmp_path / "r", train_d, tasks, probes=("linear",), k_folds=4,
                                epochs=2, progress=False)  # fmt: skip
    assert len(fake_evaluate) == n_eval + len(epochs)
    best = fusion.best_checkpoints(table)
    assert best["best_q"]["q_bar"] == table["q_bar"].max()
    assert best["best_mse"]["val_mse"] == table["val_mse"].min()
    assert best["best_mse"]["epoch"] == best_ep and best["best_mse"]["checkpoint"] == expect


# ------------------------------------------------------------------------------------ stores, CSV


def test_load_fusion_data_from_stores(tmp_path):
    from e2s_utils import store

    data = make_data(12, 0)
    for m, arr in data.inputs.items():
        path = store.store_path(tmp_path, m, "as_intended", "micro")
        # store order differs between models: the loader aligns rows by id
        order = np.random.default_rng(len(m)).permutation(12)
        store.write_embeddings(path, [data.ids[i] for i in order], arr[order], {"model": m},
                               shard_size=5)  # fmt: skip
    loaded = fusion.load_fusion_data(tmp_path, list(SHAPES), "as_intended", "micro")
    assert loaded.models == ("dofa", "croma", "prithvi")
    ref = data.subset(loaded.ids)
    for m in SHAPES:
        assert np.array_equal(loaded.inputs[m], ref.inputs[m])
    some = fusion.load_fusion_data(tmp_path, ["croma"], "as_intended", "micro", ids=["id0005"])
    assert some.ids == ["id0005"] and np.array_equal(
        some.inputs["croma"][0], data.inputs["croma"][5]
    )
    with pytest.raises(FusionError, match="e2s extract --model scalemae"):
        fusion.load_fusion_data(tmp_path, ["scalemae"], "as_intended", "micro")


def test_write_submission_csv(tmp_path):
    ev = pytest.importorskip("e2s_utils.evaluate")
    if not hasattr(ev, "read_embeddings_csv"):
        pytest.skip("evaluation module has no CSV reader yet")
    cfg = small_config(epochs=1, out_dim=8)
    data = make_data(40, 0)
    fusion.train(cfg, data, None, tmp_path / "r", progress=False)
    ckpt = fusion.checkpoint_path(tmp_path / "r", 1)
    out = fusion.write_submission(ckpt, data, tmp_path / "sub.csv")
    header = out.read_text().splitlines()[0].split(",")
    assert header == ["id"] + [str(i) for i in range(8)]
    ids, X = ev.read_embeddings_csv(out)
    assert list(ids) == data.ids
    np.testing.assert_allclose(X, fusion.embed(ckpt, data), rtol=1e-6, atol=1e-7)
    out16 = fusion.write_submission(ckpt, data, tmp_path / "sub16.csv", float16=True)
    _, X16 = ev.read_embeddings_csv(out16)
    np.testing.assert_allclose(X16, fusion.embed(ckpt, data).astype(np.float16), rtol=1e-3)


# ------------------------------------------------------------------------------------------- CLI


def test_main_trains_and_writes_submission(tmp_path, monkeypatch):
    from e2s_utils import data as data_mod
    from e2s_utils import store

    d = make_data(30, 0, shapes={"dofa": (6, 4), "croma": (5, 1)})
    for m, arr in d.inputs.items():
        store.write_embeddings(store.store_path(tmp_path, m, "as_intended", "micro"), d.ids, arr,
                               {"model": m})  # fmt: skip
    split = {"dev": d.ids[:12], "eval": d.ids[12:]}
    monkeypatch.setattr(data_mod, "split_ids", lambda root: split)
    sub = tmp_path / "sub.csv"
    argv = ["--out", str(tmp_path), "--models", "croma,dofa", "--size", "micro", "--epochs", "2",
            "--batch-size", "8", "--checkpoint-every", "1", "--device", "cpu", "--no-progress",
            "--data-root", str(tmp_path), "--submission", str(sub)]  # fmt: skip
    assert fusion.main(argv) == 0
    cfg = FusionConfig(models=("dofa", "croma"), epochs=2, batch_size=8, checkpoint_every=1)
    run_dir = fusion.run_dir_for(tmp_path, cfg, "as_intended", "micro", "transductive")
    assert [e for e, _ in fusion.list_checkpoints(run_dir)] == [0, 1, 2]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["train"]["n"] == 18 and manifest["val"]["n"] == 12  # trained on eval split
    lines = sub.read_text().splitlines()
    assert lines[0] == "id," + ",".join(str(i) for i in range(1024)) and len(lines) == 19
    assert fusion.main([*argv[:-2], "--inductive"]) == 0
    ind = fusion.run_dir_for(tmp_path, cfg, "as_intended", "micro", "inductive")
    assert json.loads((ind / "manifest.json").read_text())["train"]["n"] == 12


def test_summary_frame_picks_the_reference_checkpoints() -> None:
    import pandas as pd

    table = pd.DataFrame(
        {
            "epoch": [0, 5, 10, 15],
            "val_mse": [1.0, 0.5, 0.2, 0.3],
            "q_bar": [1.0, 4.0, 3.0, 2.0],
            "q_bar_ridge": [9.0, 9.5, 9.7, 9.6],
        }
    )
    summary = fusion.summary_frame(table, {"linear": -3.0, "ridge": -1.0})
    assert summary["epoch"].tolist()[:4] == [0, 5, 10, 15]
    assert summary.loc[1, "Q-bar (linear probe)"] == 4.0 and summary.loc[2, "val MSE"] == 0.2
    assert summary.loc[4, "Q-bar (ridge probe)"] == -1.0 and len(summary) == 5


def test_a_full_disk_names_the_file_and_the_fix(tmp_path, monkeypatch):
    cfg = small_config(epochs=2, checkpoint_every=1)
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        if "epoch_00001" in str(f):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(fusion.FusionError, match=r"epoch_00001\.pt .*MiB free.*E2S_OUTPUT_DIR"):
        fusion.train(cfg, *split(), tmp_path / "run", progress=False)
    assert not list((tmp_path / "run").rglob("*.tmp")), "the partial file is removed"
    monkeypatch.setattr(torch, "save", real_save)
    hist = fusion.train(cfg, *split(), tmp_path / "run", progress=False)  # resumes from epoch 0
    assert list(hist["epoch"]) == [0, 1, 2]
