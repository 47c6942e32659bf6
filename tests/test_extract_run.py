"""Extraction: resume after kill -9, shard merging, bit-identical reruns, bad cubes, baselines."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from e2s_utils import extract as E
from e2s_utils import paths
from e2s_utils import store as S
from e2s_utils.data import DataError, SampleIndex, synthetic
from e2s_utils.models import registry
from tests.helpers import (
    FAKE_EXTRACTOR,
    FAKE_EXTRACTOR_SRC,
    register_fake_extractor,
    tree_bytes,
    unregister_fake_extractor,
)

FAKE = FAKE_EXTRACTOR
N = 6


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "data", n=N, seed=3, workers=1)


@pytest.fixture(scope="module")
def corrupt_root(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("corrupt") / "data"
    shutil.copytree(data_root, root)
    index = SampleIndex.from_root(root)
    bad = index.ids[2]
    path = index.path(bad, "s2l2a")
    path.write_bytes(path.read_bytes()[:200])  # truncated zip
    return root, bad


@pytest.fixture(autouse=True)
def fake_model() -> Iterator[None]:
    register_fake_extractor()
    yield
    unregister_fake_extractor()


def _run(data: Path, out: Path, model: str = FAKE, **kw: object) -> E.ExtractReport:
    kw.setdefault("shard_size", 2)
    kw.setdefault("batch_size", 2)
    return E.extract(model, "as_intended", "micro", data, out, progress=False, **kw)  # type: ignore[arg-type]


def _store(out: Path, model: str = FAKE) -> S.EmbeddingStore:
    return S.EmbeddingStore(S.store_path(out, model, "as_intended", "micro"))


def test_extract_writes_a_complete_store(data_root: Path, tmp_path: Path) -> None:
    report = _run(data_root, tmp_path)
    st = _store(tmp_path)
    assert report.complete and st.complete
    assert report.n_samples == N and report.shards_written == [0, 1, 2]
    ids, x = st.read()
    assert ids == SampleIndex.from_root(data_root).ids
    assert x.shape == (N, 6, 4) and x.dtype == np.float32 and np.isfinite(x).all()
    cfg = st.config
    assert cfg["model"] == FAKE and cfg["weights_identity"] == "random init, seed 0"
    assert cfg["modalities"] == ["s2l2a"] and cfg["data"]["n_ids"] == N
    assert report.samples_per_s > 0 and report.peak_memory_mb > 0
    assert report.peak_memory_kind == "cpu_maxrss"
    table = E.read_resources(tmp_path)
    assert len(table) == 1 and table.loc[0, "model"] == FAKE and table.loc[0, "n_samples"] == N
    # a second run computes nothing and adds no row
    again = _run(data_root, tmp_path)
    assert again.shards_written == [] and again.shards_reused == [0, 1, 2]
    assert len(E.read_resources(tmp_path)) == 1


def test_rerun_is_bit_identical(data_root: Path, tmp_path: Path) -> None:
    _run(data_root, tmp_path / "a")
    _run(data_root, tmp_path / "b")
    a, b = _store(tmp_path / "a"), _store(tmp_path / "b")
    assert tree_bytes(a.path) == tree_bytes(b.path)


def test_two_shards_merge_to_the_one_run_store(data_root: Path, tmp_path: Path) -> None:
    _run(data_root, tmp_path / "one")
    first = _run(data_root, tmp_path / "split", shard=(0, 2))
    assert first.shards_written == [0, 2] and not first.complete
    with pytest.raises(S.StoreError, match="incomplete"):
        _store(tmp_path / "split").read()
    second = _run(data_root, tmp_path / "split", shard=(1, 2))
    assert second.shards_written == [1] and second.complete
    assert tree_bytes(_store(tmp_path / "one").path) == tree_bytes(_store(tmp_path / "split").path)


def test_resume_does_not_recompute_finished_shards(data_root: Path, tmp_path: Path) -> None:
    _run(data_root, tmp_path, shard=(0, 2))
    st = _store(tmp_path)
    before = {j: os.stat(st.shard_file(j)) for j in st.finished_shards()}
    report = _run(data_root, tmp_path)
    assert report.shards_reused == [0, 2] and report.shards_written == [1]
    for j, stat in before.items():
        now = os.stat(st.shard_file(j))
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_kill_9_then_resume_gives_the_same_store(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    script = FAKE_EXTRACTOR_SRC + textwrap.dedent(
        f"""
        import sys
        from e2s_utils.cli import main
        FakeExtractor.delay = 0.6
        sys.exit(main(["extract", "--model", "{FAKE}", "--size", "micro", "--data", r"{data_root}",
                       "--out", r"{out}", "--batch-size", "1", "--shard-size", "1",
                       "--device", "cpu", "--no-progress"]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=paths.REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = S.store_path(out, FAKE, "as_intended", "micro") / "shards" / "shard-00000.json"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert first.exists(), err.decode()[-2000:]
    st = _store(out)
    done = st.finished_shards()
    assert 1 <= len(done) < N, "the run was not interrupted in the middle"
    stats = {j: os.stat(st.shard_file(j)) for j in done}
    report = E.extract(
        FAKE, "as_intended", "micro", data_root, out, batch_size=1, shard_size=1, progress=False
    )
    assert report.complete
    assert report.shards_reused == done
    assert sorted(report.shards_written) == [j for j in range(N) if j not in done]
    for j, stat in stats.items():
        now = os.stat(st.shard_file(j))
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    E.extract(
        FAKE,
        "as_intended",
        "micro",
        data_root,
        tmp_path / "ref",
        batch_size=1,
        shard_size=1,
        progress=False,
    )
    ref = tree_bytes(_store(tmp_path / "ref").path)
    resumed = tree_bytes(st.path)
    assert not [k for k in resumed if ".tmp-" in k]
    assert resumed == ref


def test_corrupt_cube_raise_names_the_id(corrupt_root: tuple[Path, str], tmp_path: Path) -> None:
    root, bad = corrupt_root
    with pytest.raises(DataError, match=bad):
        _run(root, tmp_path)


def test_corrupt_cube_skip_records_the_id(corrupt_root: tuple[Path, str], tmp_path: Path) -> None:
    root, bad = corrupt_root
    report = _run(root, tmp_path, on_error="skip")
    assert list(report.skipped) == [bad] and report.n_skipped == 1
    assert report.n_samples == N - 1 and report.complete
    st = _store(tmp_path)
    assert list(st.manifest["skipped"]) == [bad] and "corrupt" in st.manifest["skipped"][bad]
    ids, x = st.read()
    assert bad not in ids and x.shape == (N - 1, 6, 4)
    with pytest.raises(S.StoreError, match=bad):
        st.read([bad])
    assert E.read_resources(tmp_path).loc[0, "n_skipped"] == 1


def test_refuses_to_mix_configs(data_root: Path, tmp_path: Path) -> None:
    _run(data_root, tmp_path, seed=0)
    with pytest.raises(S.StoreConfigError, match="seed"):
        _run(data_root, tmp_path, seed=1)
    with pytest.raises(S.StoreConfigError, match="amp"):
        _run(data_root, tmp_path, amp=True)


def test_ids_subset_and_unknown_ids(data_root: Path, tmp_path: Path) -> None:
    ids = SampleIndex.from_root(data_root).ids
    report = _run(data_root, tmp_path, ids=ids[1:4])
    assert report.n_ids == 3 and _store(tmp_path).read()[0] == ids[1:4]
    with pytest.raises(DataError, match="nope"):
        _run(data_root, tmp_path / "x", ids=["nope"])


def test_shard_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert E.shard_from_env() == (0, 1)
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert E.shard_from_env() == (2, 3)
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ValueError):
        E.shard_from_env()


def test_fit_subset_is_even_and_deterministic() -> None:
    ids = [str(i) for i in range(10)]
    assert E.fit_subset(ids, 0) == ids and E.fit_subset(ids, 20) == ids
    assert E.fit_subset(ids, 4) == ["0", "3", "6", "9"]


@pytest.mark.filterwarnings("ignore:RCF baseline fitted on")
def test_needs_fit_baseline_keeps_its_fitted_state(data_root: Path, tmp_path: Path) -> None:
    ids = SampleIndex.from_root(data_root).ids[:4]
    first = _run(data_root, tmp_path, model="rcf", shard=(0, 2), ids=ids)
    st = _store(tmp_path, "rcf")
    assert first.fit_seconds > 0 and st.fitted_state_path.is_file()
    stat = os.stat(st.fitted_state_path)
    second = _run(data_root, tmp_path, model="rcf", shard=(1, 2), ids=ids)
    assert second.fit_seconds == 0 and second.complete
    assert os.stat(st.fitted_state_path).st_mtime_ns == stat.st_mtime_ns
    _run(data_root, tmp_path / "one", model="rcf", ids=ids)
    assert tree_bytes(st.path) == tree_bytes(_store(tmp_path / "one", "rcf").path)
    assert st.read()[1].shape == (4, 32, 1)
    assert st.config["fit"]["samples"] == E.DEFAULT_FIT_SAMPLES


def test_random_baseline_does_not_read_cubes(data_root: Path, tmp_path: Path) -> None:
    report = _run(data_root, tmp_path, model="random")
    ids, x = _store(tmp_path, "random").read()
    assert (
        report.complete and x.shape == (N, 1024, 1) and ids == SampleIndex.from_root(data_root).ids
    )
    assert _store(tmp_path, "random").config["modalities"] == []


def test_foundation_micro_model_is_bit_identical_and_shardable(
    data_root: Path, tmp_path: Path
) -> None:
    _run(data_root, tmp_path / "a", model="dofa", batch_size=3, shard_size=3)
    _run(data_root, tmp_path / "b", model="dofa", batch_size=3, shard_size=3, shard=(1, 2))
    _run(data_root, tmp_path / "b", model="dofa", batch_size=3, shard_size=3, shard=(0, 2))
    a, b = _store(tmp_path / "a", "dofa"), _store(tmp_path / "b", "dofa")
    assert a.complete and tree_bytes(a.path) == tree_bytes(b.path)
    assert a.read()[1].shape == (N, *registry.get_spec("dofa").output_shape("as_intended", "micro"))
