"""The one loader: stores, split and labels in; the same aligned data out for every stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2s_utils.data.labels import LabelError
from e2s_utils.store import (
    FusionData,
    InputError,
    StoreError,
    canonical_order,
    flatten,
    load_inputs,
    restrict_tasks,
    store_path,
    write_embeddings,
)
from tests.helpers import SHAPES, fake_dataset, fusion_data, make_ids, random_tasks, write_stores

N = 30
STORE_SHAPES = {"dofa": (4, 2), "croma": (3, 1)}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    """A challenge-layout dataset (10 dev, 20 eval ids), its labels and stores of two models."""
    ids = make_ids(N)
    dev, ev = ids[:10], ids[10:]
    root = fake_dataset(tmp_path / "data", ids, random_tasks(ids, seed=2), dev=dev)
    out = tmp_path / "out"
    write_stores(out, ids, STORE_SHAPES)
    return root, out, dev, ev


# ---------------------------------------------------------------- order and layout


def test_canonical_order_is_the_registrys() -> None:
    assert canonical_order(["prithvi", "croma", "dofa"]) == ("dofa", "croma", "prithvi")
    assert canonical_order(["zeta", "dofa", "alpha"]) == ("dofa", "alpha", "zeta")
    with pytest.raises(InputError, match="repeats"):
        canonical_order(["dofa", "dofa"])
    with pytest.raises(InputError, match="at least one model"):
        canonical_order([])


def test_flatten_is_channel_major_time_fastest() -> None:
    a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    b = np.arange(2 * 2 * 1).reshape(2, 2, 1) + 100
    flat = flatten([a, b])
    assert flat.dtype == np.float32 and flat.shape == (2, 12 + 2)
    assert flat[1, 1 * 4 + 3] == a[1, 1, 3] and flat[0, 12 + 1] == b[0, 1, 0]


def test_fusion_data_layout_in_canonical_order() -> None:
    data = FusionData(
        ["a", "b", "c"], {m: fusion_data(3).inputs[m] for m in ("prithvi", "croma", "dofa")}
    )
    assert data.models == ("dofa", "croma", "prithvi")
    assert data.shapes == {"dofa": (6, 4), "croma": (5, 1), "prithvi": (3, 2)}
    flat = data.flat()
    assert flat.shape == (3, 24 + 5 + 6)
    assert flat[1, 1 * 4 + 3] == data.inputs["dofa"][1, 1, 3]
    assert flat[2, 24 + 4] == data.inputs["croma"][2, 4, 0]
    assert flat[0, 29 + 2 * 2 + 1] == data.inputs["prithvi"][0, 2, 1]
    np.testing.assert_array_equal(data.flat(["croma"]), data.inputs["croma"].reshape(3, 5))


def test_fusion_data_validation_subset_select_fingerprint() -> None:
    data = fusion_data(n=5)
    with pytest.raises(InputError, match="5 rows for 4 ids"):
        FusionData(data.ids[:4], data.inputs)
    bad = {m: a.copy() for m, a in data.inputs.items()}
    bad["croma"][2, 0, 0] = np.nan
    with pytest.raises(InputError, match="id0002"):
        FusionData(data.ids, bad)
    with pytest.raises(InputError, match="repeat"):
        FusionData(["a", "a", "b", "c", "d"], data.inputs)
    with pytest.raises(InputError, match=r"expected \(n, C, T\)"):
        FusionData(data.ids, {"dofa": np.zeros((5, 3))})
    with pytest.raises(InputError, match="at least one"):
        FusionData(data.ids, {})
    sub = data.subset(["id0003", "id0001"])
    assert sub.ids == ["id0003", "id0001"]
    np.testing.assert_array_equal(sub.inputs["dofa"][0], data.inputs["dofa"][3])
    with pytest.raises(InputError, match="not in this data"):
        data.subset(["nope"])
    assert data.select(["croma"]).models == ("croma",)
    with pytest.raises(InputError, match="scalemae"):
        data.select(["scalemae"])
    assert data.fingerprint() == fusion_data(n=5).fingerprint()
    assert data.fingerprint() != fusion_data(n=5, seed=1).fingerprint()
    assert data.fingerprint() != sub.fingerprint()


def test_restrict_tasks_keeps_only_the_probed_ids() -> None:
    ids = make_ids(6)
    tasks = random_tasks(ids[:4], names=("a",)) | random_tasks(ids[4:], names=("b",))
    kept = restrict_tasks(tasks, ids[:3])
    assert list(kept) == ["a"]  # b has no label among the ids: dropped
    assert list(kept["a"].labels.index) == ids[:3]
    assert len(tasks["a"].labels) == 4  # the input is not changed


# ---------------------------------------------------------------- load_inputs and settings


def test_transductive_trains_on_the_probed_eval_split(dataset) -> None:
    root, out, dev, ev = dataset
    inputs = load_inputs(root, out, "micro")
    assert inputs.split.source == "folders" and inputs.split.official
    assert inputs.train_ids == ev and inputs.val_ids == dev and inputs.probe_ids == ev
    assert all(set(t.labels.index) <= set(ev) for t in inputs.tasks.values())
    splits = inputs.splits(["croma", "dofa"], "as_intended")
    assert splits.setting == "transductive" and splits.probe is splits.train
    assert splits.train.models == ("dofa", "croma") and splits.val.ids == dev
    assert inputs.identity()["setting"] == "transductive"


def test_inductive_probes_samples_never_trained_on(dataset) -> None:
    root, out, dev, ev = dataset
    inputs = load_inputs(root, out, "micro", setting="inductive")
    assert inputs.train_ids == dev and inputs.val_ids == ev and inputs.probe_ids == ev
    splits = inputs.splits(["dofa"], "as_intended")
    assert splits.probe is splits.val and not set(splits.train.ids) & set(splits.probe.ids)
    assert inputs.digest() != load_inputs(root, out, "micro").digest()
    with pytest.raises(InputError, match="setting"):
        load_inputs(root, out, "micro", setting="semi")  # type: ignore[arg-type]


def test_rows_are_aligned_by_id_whatever_the_store_order(tmp_path: Path) -> None:
    ids = make_ids(12)
    data = fusion_data(12, 0)
    for m, arr in data.inputs.items():
        order = np.random.default_rng(len(m)).permutation(12)
        write_embeddings(
            store_path(tmp_path / "out", m, "as_intended", "micro"),
            [ids[i] for i in order],
            arr[order],
            {"model": m},
            shard_size=5,
        )
    root = fake_dataset(tmp_path / "data", ids, random_tasks(ids), dev=ids[:4])
    inputs = load_inputs(root, tmp_path / "out", "micro")
    train = inputs.splits(list(SHAPES), "as_intended").train
    assert train.ids == ids[4:]
    for m in SHAPES:
        np.testing.assert_array_equal(train.inputs[m], data.inputs[m][4:])


def test_missing_store_and_empty_split_name_the_fix(dataset, tmp_path: Path) -> None:
    root, out, dev, ev = dataset
    inputs = load_inputs(root, out, "micro")
    with pytest.raises(StoreError, match="e2s extract --model scalemae --preset as_intended"):
        inputs.arrays("scalemae", "as_intended")
    only_eval = fake_dataset(tmp_path / "eval_only", ev, random_tasks(ev), dev=[])
    with pytest.raises(InputError, match="0 dev-split"):
        load_inputs(only_eval, out, "micro")
    no_labels = fake_dataset(tmp_path / "no_labels", make_ids(4), None, dev=make_ids(2))
    (no_labels / "labels").mkdir()
    with pytest.raises(LabelError, match="holds no"):
        load_inputs(no_labels, out, "micro")


class _Stop(Exception):
    """Raised by the stand-in trainer once it has seen its inputs."""


def test_every_stage_reads_the_same_data_through_the_loader(dataset, monkeypatch) -> None:
    """``e2s train``, an ablation fusion row and the long run train on identical arrays."""
    from e2s_utils import config, fusion, studies
    from e2s_utils.cli import train as cli_train

    root, out, dev, ev = dataset
    seen: dict[str, tuple[str, str]] = {}
    stage = {"name": ""}

    def capture(cfg, train, val, run_dir, **kw):
        seen[stage["name"]] = (train.fingerprint(), val.fingerprint())
        raise _Stop

    monkeypatch.setattr(fusion, "train", capture)
    stage["name"] = "cli"
    argv = ["--out", str(out), "--models", "croma,dofa", "--size", "micro", "--epochs", "1"]
    with pytest.raises(_Stop):
        cli_train.main([*argv, "--data-root", str(root), "--device", "cpu", "--no-progress"])
    profile = config.get_profile("smoke", models=("dofa", "croma"))
    inputs = load_inputs(root, out, "micro")
    stage["name"] = "ablation"
    run = next(
        r
        for r in studies.ablation_runs(profile)
        if r.method == "fusion" and len(r.models) == 2 and r.preset == "as_intended"
    )
    with pytest.raises(_Stop):
        studies.run_unit(run, profile.seed, profile, inputs, out / "ablation")
    stage["name"] = "long"
    with pytest.raises(_Stop):
        studies.run_long(profile, inputs, out / "long", progress=False)
    expected = inputs.splits(["dofa", "croma"], "as_intended")
    ref = (expected.train.fingerprint(), expected.val.fingerprint())
    assert seen == {"cli": ref, "ablation": ref, "long": ref}
