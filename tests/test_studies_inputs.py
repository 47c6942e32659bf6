"""What a study needs first: the dataset, every store (one model's stores listed and filled in one
pass, every store in one call), the inputs stamped with their split."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from e2s_utils import config, extract, store, studies
from e2s_utils.data import synthetic
from e2s_utils.data.reader import read_cube
from e2s_utils.extract import many
from tests.helpers import fake_dataset, make_ids, random_tasks, write_stores

SMOKE = config.profiles()["smoke"]
N = 4


def _ctx(out_dir: Path) -> config.RunContext:
    """The smoke profile on a four-sample synthetic dataset under ``out_dir``."""
    profile = dataclasses.replace(SMOKE, data=dataclasses.replace(SMOKE.data, n_samples=N))
    return config.RunContext("20_extract", profile, {}, "cpu", out_dir)


def test_model_stores_list_what_the_study_reads_main_first() -> None:
    prithvi = studies.model_stores(SMOKE, "prithvi")
    assert prithvi[0] == ("prithvi", SMOKE.extract.preset, None)
    assert set(prithvi) == {
        ("prithvi", "as_intended", None),
        ("prithvi", "as_published_code", None),
        ("prithvi", "as_published_code", SMOKE.seed + 1),
        ("prithvi", "as_published_code", SMOKE.seed + 2),
    }
    assert studies.model_stores(SMOKE, "dofa") == [
        ("dofa", "as_intended", None),
        ("dofa", "as_published_code", None),
    ]
    assert studies.model_stores(SMOKE, "rcf") == [("rcf", "as_intended", None)]
    # every store of the ablation belongs to exactly one model's list
    every = [ref for m in SMOKE.extract.all_models for ref in studies.model_stores(SMOKE, m)]
    needed = studies.stores_needed(studies.ablation_runs(SMOKE), SMOKE)
    assert sorted(every, key=str) == sorted(needed, key=str)
    published = dataclasses.replace(
        SMOKE, extract=dataclasses.replace(SMOKE.extract, preset="as_published_code")
    )
    # the baselines' rows follow the main preset; a foundation model's main store comes first
    assert studies.model_stores(published, "rcf") == [("rcf", "as_published_code", None)]
    assert studies.model_stores(published, "dofa") == [
        ("dofa", "as_published_code", None),
        ("dofa", "as_intended", None),
    ]


def test_ensure_stores_makes_one_call_for_every_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[Any]] = []

    def spy(jobs: list[Any], *args: Any, **kw: Any) -> list[str]:
        calls.append([*jobs, kw["max_models_at_once"]])
        return [f"report {j}" for j in jobs]

    monkeypatch.setattr(extract, "extract_many", spy)
    monkeypatch.setattr(studies.inputs, "ensure_dataset", lambda ctx, progress=None: None)
    refs = [("dofa", "as_intended"), ("prithvi", "as_published_code", 1338)]
    reports = studies.ensure_stores(
        _ctx(tmp_path), [*refs, ("dofa", "as_intended", None)], max_models_at_once=1
    )
    assert calls == [[("dofa", "as_intended", None), ("prithvi", "as_published_code", 1338), 1]]
    assert reports == [
        "report ('dofa', 'as_intended', None)",
        "report ('prithvi', 'as_published_code', 1338)",
        "report ('dofa', 'as_intended', None)",
    ]


def test_ensure_model_stores_fills_them_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: Counter[tuple[str, str]] = Counter()

    def counting(path: Path, modality: str, sample: str | None = None, **kw: Any) -> Any:
        reads[(str(sample), modality)] += 1
        return read_cube(path, modality, sample, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(many, "read_cube", counting)
    ctx = _ctx(tmp_path)
    reports = studies.ensure_model_stores(ctx, "prithvi", progress=False)
    refs = studies.model_stores(ctx.profile, "prithvi")
    assert len(reports) == len(refs) == 4 and all(r.complete for r in reports)
    for (model, preset, seed), report in zip(refs, reports, strict=True):
        where = store.store_path(ctx.out_dir, model, preset, "micro", seed)
        assert Path(report.store) == where and report.n_samples == N
    # L2A for the main preset, L1C for the published code's three initialisations: once each
    assert sorted(Counter(m for _, m in reads).items()) == [("s2l1c", N), ("s2l2a", N)]
    assert max(reads.values()) == 1
    again = studies.ensure_model_stores(ctx, "prithvi", progress=False)
    assert [r.shards_written for r in again] == [[]] * 4 and sum(reads.values()) == 2 * N


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

    def fake_extract_many(jobs, *args, **kw):
        seen["extract"].extend(jobs)
        return [f"report {job}" for job in jobs]

    monkeypatch.setattr(synthetic, "ensure_dataset", ensure_dataset)
    monkeypatch.setattr(extract, "extract_many", fake_extract_many)
    return seen


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
