"""What a study needs first: the dataset, every store (checked against the configuration), inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2s_utils import config, extract, studies
from e2s_utils.data import synthetic
from tests.helpers import fake_dataset, make_ids, random_tasks, write_stores


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, list]:
    """Stand-ins for the dataset generator and the extraction, recording their calls."""
    seen: dict[str, list] = {"dataset": [], "extract": []}
    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path))

    def ensure_dataset(root, n, seed, **kw):
        seen["dataset"].append((Path(root), n, seed, kw.get("layout")))
        if not Path(root).exists():
            ids = make_ids(24)
            fake_dataset(root, ids, random_tasks(ids), dev=seen.get("dev"))

    def fake_extract(model, preset, size, data_root, out_dir, **kw):
        seen["extract"].append((model, preset, size, kw["init_seed"], kw["seed"]))

    monkeypatch.setattr(synthetic, "ensure_dataset", ensure_dataset)
    monkeypatch.setattr(extract, "extract", fake_extract)
    return seen


def test_ensure_stores_checks_every_store_and_the_dataset(calls) -> None:
    ctx = config.setup("40_ablation", profile="smoke", device="cpu")
    refs = [("dofa", "as_intended"), ("prithvi", "as_published_code", 1338)]
    studies.ensure_stores(ctx, refs, progress=False)
    assert calls["dataset"] == [(ctx.data_root, 48, 0, "challenge")]
    assert calls["extract"] == [
        ("dofa", "as_intended", "micro", None, 1337),
        ("prithvi", "as_published_code", "micro", 1338, 1337),
    ]


def test_a_real_data_profile_generates_nothing(calls, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("E2S_DATA_DIR", str(tmp_path / "real"))
    ctx = config.setup("40_ablation", profile="full", device="cpu")
    studies.ensure_dataset(ctx)
    assert calls["dataset"] == []


def test_prepare_inputs_stamps_the_hash_fallback(calls) -> None:
    ctx = config.setup("40_ablation", profile="smoke", device="cpu")
    ids = make_ids(24)
    write_stores(ctx.out_dir, ids, {"dofa": (4, 2)})
    inputs = studies.prepare_inputs(ctx, [("dofa", "as_intended")], progress=False)
    assert inputs.split.source == "hash fallback" and inputs.size == "micro"
    assert inputs.setting == "transductive" and set(inputs.probe_ids) <= set(ids)
    assert ctx.stamps == ["split: hash fallback"]
    assert ctx.banner is not None and ctx.banner.endswith("; split: hash fallback")


def test_an_official_split_is_not_stamped(calls) -> None:
    calls["dev"] = make_ids(24)[:8]
    ctx = config.setup("40_ablation", profile="smoke", device="cpu")
    write_stores(ctx.out_dir, make_ids(24), {"dofa": (4, 2)})
    inputs = studies.prepare_inputs(ctx, [("dofa", "as_intended")], progress=False)
    assert inputs.split.source == "folders" and ctx.stamps == []
    assert inputs.train_ids == make_ids(24)[8:]
