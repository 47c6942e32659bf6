"""``e2s train``: train on the stores through the one loader, score, write the submission."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from e2s_utils import cli, fusion
from e2s_utils import evaluate as ev
from e2s_utils.fusion import FusionConfig
from e2s_utils.store import EmbeddingStore, FusionSplits, load_inputs, store_path
from tests.helpers import fake_dataset, make_ids, random_tasks, write_stores

SHAPES = {"dofa": (6, 4), "croma": (5, 1)}


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    """Complete stores of two models over 30 ids; a dataset with 12 dev and 18 eval ids."""
    ids = make_ids(30)
    root = fake_dataset(tmp_path / "data", ids, random_tasks(ids), dev=ids[:12])
    write_stores(tmp_path / "out", ids, SHAPES)
    return root, tmp_path / "out"


def _argv(out: Path, root: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--out",
        str(out),
        "--models",
        "croma,dofa",
        "--size",
        "micro",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--data-root",
        str(root),
        *extra,
    ]


def _run_dir(out: Path, root: Path, setting: str) -> Path:
    cfg = FusionConfig(models=("dofa", "croma"), epochs=2, batch_size=8, checkpoint_every=1)
    splits = load_inputs(root, out, "micro", setting=setting).splits(cfg.models, "as_intended")
    assert isinstance(splits, FusionSplits)
    return fusion.run_dir_for(out, cfg, splits, "as_intended", "micro")


def test_trains_on_the_eval_split_scores_and_writes_a_submission(stores, capsys, monkeypatch):
    root, out = stores
    real = ev.get_protocol  # the named preset, shrunk to two folds and one epoch for speed
    monkeypatch.setattr(ev, "get_protocol", lambda name, **kw: real(name, k_folds=2, epochs=1))
    sub = out / "sub.csv"
    argv = _argv(out, root, "--evaluate", "--protocol", "neuco_current", "--submission", str(sub))
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "split: dev 12, eval 18 (official, challenge folders)" in text
    assert "protocol neuco_current (K = 2, 1 epochs; overridden: epochs, k_folds): best" in text
    run_dir = _run_dir(out, root, "transductive")
    assert [e for e, _ in fusion.list_checkpoints(run_dir)] == [0, 1, 2]
    key = json.loads((run_dir / "cache.json").read_text())
    assert key["config"]["train"]["n"] == 18 and key["config"]["val"]["n"] == 12
    scores = (run_dir / "checkpoint_scores.csv").read_text().splitlines()
    assert scores[0].startswith("epoch,train_loss,val_mse") and len(scores) == 4
    lines = sub.read_text().splitlines()
    assert lines[0] == "id," + ",".join(str(i) for i in range(1024)) and len(lines) == 19


def test_inductive_trains_on_the_dev_split(stores) -> None:
    root, out = stores
    assert cli.main(_argv(out, root, "--inductive")) == 0
    run_dir = _run_dir(out, root, "inductive")
    key = json.loads((run_dir / "cache.json").read_text())
    assert key["config"]["train"]["n"] == 12 and key["config"]["val"]["n"] == 18


def test_an_incomplete_store_is_one_error_line_naming_it(stores, capsys) -> None:
    root, out = stores
    path = store_path(out, "croma", "as_intended", "micro")
    st = EmbeddingStore(path)
    ids = st.all_ids
    for f in (path / "shards").iterdir():
        f.unlink()
    (path / "manifest.json").unlink()
    st = EmbeddingStore(path)
    st.create({"model": "croma"}, ids, (5, 1), shard_size=10)
    st.write_shard(0, ids[:10], np.zeros((10, 5, 1), np.float32))
    assert cli.main(_argv(out, root)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("e2s train: error: ")
    assert str(path) in err[0] and "not finished shards" in err[0]
    assert "Traceback" not in err[0]


def test_a_missing_store_names_the_extraction_command(stores, capsys) -> None:
    root, out = stores
    argv = _argv(out, root)
    argv[argv.index("croma,dofa")] = "scalemae,dofa"
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "e2s extract --model scalemae --preset as_intended --size micro" in err
