"""Several stores in one pass: bit-identical to separate extract calls, one read per cube, resume."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from e2s_utils import extract as E
from e2s_utils import store as S
from e2s_utils.bands import MODALITIES
from e2s_utils.data import SampleIndex, synthetic
from e2s_utils.data import dataset as dataset_module
from e2s_utils.data.reader import read_cube
from e2s_utils.extract import many
from e2s_utils.extract.job import normalise_job
from e2s_utils.models import get_spec, registry
from tests.helpers import (
    FAKE_EXTRACTOR,
    register_fake_extractor,
    tree_bytes,
    unregister_fake_extractor,
)

FAKE = FAKE_EXTRACTOR
N = 6
#: The study's kind of store set for one model: both presets and an init-seed variant.
PRITHVI_JOBS: list[Any] = [
    ("prithvi", "as_intended"),
    ("prithvi", "as_published_code"),
    ("prithvi", "as_published_code", 1338),
]
#: Baselines reading different modalities: s2l2a; s1 + s2l2a; all three (fitted); all; none.
BASELINE_JOBS: list[Any] = [
    (FAKE, "as_intended"),
    ("engineered", "as_intended"),
    ("rcf", "as_intended"),
    ("mean_baseline", "as_intended"),
    ("random", "as_intended"),
]
#: A foundation model reading S1 and L2A, in the order L2A, S1.
CROMA = ("croma", "as_intended")
pytestmark = pytest.mark.filterwarnings("ignore:RCF baseline fitted on")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "data", n=N, seed=3, workers=1)


@pytest.fixture(scope="module")
def broken_root(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A copy whose id 1 has a truncated S1 file and whose id 3 lacks its L2A file."""
    root = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(data_root, root)
    index = SampleIndex.from_root(root)
    bad_s1, no_l2a = index.ids[1], index.ids[3]
    path = index.path(bad_s1, "s1")
    path.write_bytes(path.read_bytes()[:200])
    index.path(no_l2a, "s2l2a").unlink()
    return root, bad_s1, no_l2a


@pytest.fixture(autouse=True)
def fake_model() -> Iterator[None]:
    register_fake_extractor()
    yield
    unregister_fake_extractor()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counter[tuple[str, str]]]:
    """Count cube reads: ``pass`` (the shared loader) and ``fit`` (a baseline's fit loader)."""
    counts: dict[str, Counter[tuple[str, str]]] = {"pass": Counter(), "fit": Counter()}

    def counter(kind: str) -> Any:
        def counting(path: Path, modality: str, sample: str | None = None, **kw: Any) -> Any:
            counts[kind][(str(sample), modality)] += 1
            return read_cube(path, modality, sample, **kw)  # type: ignore[arg-type]

        return counting

    monkeypatch.setattr(many, "read_cube", counter("pass"))
    monkeypatch.setattr(dataset_module, "read_cube", counter("fit"))
    return counts


def _kw(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"shard_size": 2, "batch_size": 2, "progress": False, "seed": 7}
    return {**base, **kw}


def _alone(jobs: Sequence[Any], data: Path, out: Path, **kw: Any) -> list[E.ExtractReport]:
    reports = []
    for job in jobs:
        model, preset, init_seed = normalise_job(job)
        reports.append(
            E.extract(model, preset, "micro", data, out, init_seed=init_seed, **_kw(**kw))
        )
    return reports


def _together(jobs: Sequence[Any], data: Path, out: Path, **kw: Any) -> list[E.ExtractReport]:
    return E.extract_many(jobs, "micro", data, out, **_kw(**kw))


def _store(out: Path, job: Sequence[Any]) -> S.EmbeddingStore:
    model, preset, init_seed = normalise_job(job)
    return S.EmbeddingStore(S.store_path(out, model, preset, "micro", init_seed))


def _assert_same_stores(jobs: Sequence[Any], a: Path, b: Path) -> None:
    for job in jobs:
        left, right = tree_bytes(_store(a, job).path), tree_bytes(_store(b, job).path)
        assert left and left.keys() == right.keys(), job
        assert [k for k in left if left[k] != right[k]] == [], job


def _alone_then_together(
    jobs: Sequence[Any], root: Path, out: Path, reads: dict[str, Counter[tuple[str, str]]]
) -> dict[tuple[str, str, bool], E.ExtractReport]:
    """Each job alone, then all in one pass (counting only its reads): the same stores."""
    alone = _alone(jobs, root, out / "alone", on_error="skip")
    reads["pass"].clear()
    reads["fit"].clear()
    together = _together(jobs, root, out / "together", on_error="skip")
    _assert_same_stores(jobs, out / "alone", out / "together")
    for a, t in zip(alone, together, strict=True):
        assert (t.model, t.preset, Path(t.store).name) == (a.model, a.preset, Path(a.store).name)
        assert t.complete and t.skipped == a.skipped and t.n_samples == a.n_samples
        assert t.shards_written == a.shards_written == [0, 1, 2]
    return {(r.model, r.preset, r.store.endswith("1338")): r for r in together}


def test_baseline_stores_match_separate_extract_calls_with_skips(
    broken_root: tuple[Path, str, str],
    tmp_path: Path,
    reads: dict[str, Counter[tuple[str, str]]],
) -> None:
    root, bad_s1, no_l2a = broken_root
    by = _alone_then_together(BASELINE_JOBS, root, tmp_path, reads)
    # a sample is skipped only by the jobs reading its broken modality; a job reading L2A alone
    # never lists the id without an L2A file (its stores hold other ids than the rest of the pass)
    assert by[(FAKE, "as_intended", False)].skipped == {}
    assert by[(FAKE, "as_intended", False)].n_ids == N - 1
    assert set(by[("engineered", "as_intended", False)].skipped) == {bad_s1, no_l2a}
    assert set(by[("rcf", "as_intended", False)].skipped) == {bad_s1, no_l2a}
    assert by[("random", "as_intended", False)].n_samples == N
    # the shared pass read every readable file once; the rcf fit read its subset again
    assert max(reads["pass"].values()) == 1
    assert len(reads["pass"]) == N * len(MODALITIES) - 1  # the missing L2A file is never opened
    assert reads["fit"] and by[("rcf", "as_intended", False)].fit_seconds > 0
    assert _store(tmp_path / "together", ("rcf", "as_intended")).fitted_state_path.is_file()


def test_foundation_stores_match_separate_extract_calls_with_skips(
    broken_root: tuple[Path, str, str],
    tmp_path: Path,
    reads: dict[str, Counter[tuple[str, str]]],
) -> None:
    """Prithvi's study stores (two presets, an init-seed variant) and CROMA (L2A then S1)."""
    root, bad_s1, no_l2a = broken_root
    by = _alone_then_together([*PRITHVI_JOBS, CROMA], root, tmp_path, reads)
    assert by[("prithvi", "as_intended", False)].skipped == {}
    assert by[("prithvi", "as_intended", False)].n_ids == N - 1
    assert by[("prithvi", "as_published_code", False)].skipped == {}
    assert by[("prithvi", "as_published_code", True)].skipped == {}
    assert set(by[("croma", "as_intended", False)].skipped) == {bad_s1, no_l2a}
    assert max(reads["pass"].values()) == 1 and not reads["fit"]
    assert len(reads["pass"]) == N * len(MODALITIES) - 1


def test_one_read_per_cube_for_several_jobs_and_their_own_batch_sizes(
    data_root: Path, tmp_path: Path, reads: dict[str, Counter[tuple[str, str]]]
) -> None:
    """Per-model default batch sizes (2, 4, 2, 2, 16) cut the loader's batches into pieces."""
    jobs = [(FAKE, "as_intended"), CROMA, *PRITHVI_JOBS[1:], ("mean_baseline", "as_intended")]
    _alone(jobs, data_root, tmp_path / "alone", batch_size=None, shard_size=3)
    alone_reads = sum(reads["pass"].values())
    reads["pass"].clear()
    _together(jobs, data_root, tmp_path / "together", batch_size=None, shard_size=3)
    _assert_same_stores(jobs, tmp_path / "alone", tmp_path / "together")
    ids = SampleIndex.from_root(data_root).ids
    assert reads["pass"] == Counter({(i, m): 1 for i in ids for m in MODALITIES})
    per_job = sum(len(get_spec(j[0]).recipe(j[1]).modalities) for j in jobs)
    assert alone_reads == N * per_job == 8 * N


def test_an_interrupted_pass_resumes_every_store(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reads: dict[str, Counter[tuple[str, str]]],
) -> None:
    jobs = [CROMA, ("prithvi", "as_published_code"), (FAKE, "as_intended")]
    out = tmp_path / "run"
    fake_cls = type(registry.build_extractor(FAKE, "as_intended", "micro"))
    forward = fake_cls.forward
    calls = []

    def failing(self: Any, cubes: dict[str, Any]) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed in the middle of the pass")
        return forward(self, cubes)

    monkeypatch.setattr(fake_cls, "forward", failing)
    with pytest.raises(RuntimeError, match="killed in the middle"):
        _together(jobs, data_root, out)
    done = {j[0]: _store(out, j).finished_shards() for j in jobs}
    assert done == {"croma": [0, 1], "prithvi": [0, 1], FAKE: [0]}
    stats = {(j[0], k): os.stat(_store(out, j).shard_file(k)) for j in jobs for k in done[j[0]]}
    monkeypatch.setattr(fake_cls, "forward", forward)
    reads["pass"].clear()
    reports = _together(jobs, data_root, out)
    assert [r.shards_reused for r in reports] == [[0, 1], [0, 1], [0]]
    assert [r.shards_written for r in reports] == [[2], [2], [1, 2]]
    assert all(r.complete for r in reports)
    for (model, k), stat in stats.items():
        now = os.stat(_store(out, next(j for j in jobs if j[0] == model)).shard_file(k))
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    ids = SampleIndex.from_root(data_root).ids
    expected = {(i, "s2l2a") for i in ids[2:]} | {(i, m) for i in ids[4:] for m in ("s1", "s2l1c")}
    assert set(reads["pass"]) == expected and max(reads["pass"].values()) == 1
    _alone(jobs, data_root, tmp_path / "alone")
    _assert_same_stores(jobs, out, tmp_path / "alone")


def test_a_stale_store_is_refused_before_any_read(
    data_root: Path, tmp_path: Path, reads: dict[str, Counter[tuple[str, str]]]
) -> None:
    E.extract(FAKE, "as_intended", "micro", data_root, tmp_path, **_kw(seed=1))
    reads["pass"].clear()
    jobs = [CROMA, (FAKE, "as_intended")]
    with pytest.raises(S.StoreConfigError, match="seed"):
        _together(jobs, data_root, tmp_path, seed=0)
    assert not reads["pass"]
    assert _store(tmp_path, jobs[0]).finished_shards() == []


def test_a_complete_store_costs_only_its_check(
    data_root: Path, tmp_path: Path, reads: dict[str, Counter[tuple[str, str]]]
) -> None:
    jobs = [("mean_baseline", "as_intended"), (FAKE, "as_intended")]
    _alone(jobs[:1], data_root, tmp_path)
    reads["pass"].clear()
    first, second = _together(jobs, data_root, tmp_path)
    assert first.complete and first.shards_written == [] and first.shards_reused == [0, 1, 2]
    assert second.complete and second.shards_written == [0, 1, 2]
    assert set(reads["pass"]) == {(i, "s2l2a") for i in SampleIndex.from_root(data_root).ids}
    assert len(E.read_resources(tmp_path)) == 2  # one row per run that computed something
    again = _together(jobs, data_root, tmp_path)
    assert [r.shards_written for r in again] == [[], []] and sum(reads["pass"].values()) == N


def test_init_seed_variants_are_their_own_stores(data_root: Path, tmp_path: Path) -> None:
    jobs = PRITHVI_JOBS[1:]
    reports = _together(jobs, data_root, tmp_path)
    default, variant = (_store(tmp_path, j) for j in jobs)
    assert variant.path.name.endswith("__init1338") and variant.config["seed"] == 1338
    assert default.config["seed"] == 7 and "seed 1338" in reports[1].weights_identity
    assert not (default.read()[1] == variant.read()[1]).all()
    _alone(jobs, data_root, tmp_path / "alone")
    _assert_same_stores(jobs, tmp_path, tmp_path / "alone")


def test_groups_bound_the_models_in_memory(
    data_root: Path, tmp_path: Path, reads: dict[str, Counter[tuple[str, str]]]
) -> None:
    """Two groups: the L2A files both groups need are read once per group, the rest once."""
    jobs = [(FAKE, "as_intended"), CROMA, ("prithvi", "as_intended")]
    _together(jobs, data_root, tmp_path / "grouped", max_models_at_once=2)
    ids = SampleIndex.from_root(data_root).ids
    assert reads["pass"] == Counter(
        {**{(i, "s2l2a"): 2 for i in ids}, **{(i, "s1"): 1 for i in ids}}
    )
    _alone(jobs, data_root, tmp_path / "alone")
    _assert_same_stores(jobs, tmp_path / "grouped", tmp_path / "alone")


def test_worker_processes_give_the_same_stores(data_root: Path, tmp_path: Path) -> None:
    jobs = [(FAKE, "as_intended"), CROMA]
    _together(jobs, data_root, tmp_path / "workers", num_workers=2)
    _alone(jobs, data_root, tmp_path / "alone")
    _assert_same_stores(jobs, tmp_path / "workers", tmp_path / "alone")


def test_bad_jobs_are_refused(data_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeat"):
        _together([(FAKE, "as_intended"), (FAKE, "as_intended", None)], data_root, tmp_path)
    with pytest.raises(ValueError, match="max_models_at_once"):
        _together([(FAKE, "as_intended")], data_root, tmp_path, max_models_at_once=0)
    with pytest.raises(ValueError, match="a job is"):
        _together([(FAKE,)], data_root, tmp_path)
    assert not (tmp_path / "embeddings").exists()
