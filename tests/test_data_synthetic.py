"""Synthetic generator: physics of the cubes, labels of all tasks, determinism, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils.bands import BANDS
from e2s_utils.data import DataError, SampleIndex, read_cube, synthetic
from e2s_utils.data import labels as label_io

N = 6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "ds", N, seed=11, workers=2)


@pytest.fixture(scope="module")
def scenes() -> list[synthetic.Scene]:
    return [synthetic.generate_scene(5, i) for i in range(6)]


def _band(cube: np.ndarray, modality: str, band: str) -> np.ndarray:
    return cube[:, BANDS[modality].index(band)]


def test_scene_is_deterministic_per_seed() -> None:
    a, b = synthetic.generate_scene(1, 4), synthetic.generate_scene(1, 4)
    for m in ("s1", "s2l1c", "s2l2a"):
        np.testing.assert_array_equal(getattr(a, m), getattr(b, m))
    assert a.latents == b.latents
    c = synthetic.generate_scene(2, 4)
    assert not np.array_equal(a.s2l2a, c.s2l2a)


def test_dtypes_and_shapes(scenes: list[synthetic.Scene]) -> None:
    s = scenes[0]
    assert s.s2l1c.dtype == np.uint16 and s.s2l1c.shape == (4, 13, 264, 264)
    assert s.s2l2a.dtype == np.uint16 and s.s2l2a.shape == (4, 12, 264, 264)
    assert s.s1.dtype == np.float32 and s.s1.shape == (4, 2, 264, 264)
    assert np.isfinite(s.s1).all()


def test_spectra_follow_the_spec(scenes: list[synthetic.Scene]) -> None:
    veg = []
    for s in scenes:
        mask = np.isin(s.classes, synthetic.VEG_CLASSES) & (s.cloud[1] < 0.05)
        mask &= s.s2l2a[1, 1] > 0
        veg.append(s.s2l2a[1][:, mask].astype(float))
    v = np.concatenate(veg, axis=1)
    med = dict(zip(BANDS["s2l2a"], np.median(v, axis=1)))
    # red edge and NIR plateau, summer vegetation NIR vs red, SWIR order, L2A B09 near B8A
    assert med["B05"] < med["B06"] < med["B07"] <= med["B08"] * 1.05
    assert 2500 < med["B08"] < 5000 and 250 < med["B04"] < 900
    assert med["B11"] > med["B12"]
    assert abs(med["B09"] / med["B8A"] - 1) < 0.1
    l1c = np.stack([s.s2l1c for s in scenes]).astype(float)
    l2a = np.stack([s.s2l2a for s in scenes]).astype(float)
    valid = l2a[:, :, 1] > 0
    for band in ("B01", "B02"):
        assert _band(l1c.reshape(-1, 13, 264, 264), "s2l1c", band)[
            valid.reshape(-1, 264, 264)
        ].mean() > (
            _band(l2a.reshape(-1, 12, 264, 264), "s2l2a", band)[valid.reshape(-1, 264, 264)].mean()
        )
    b10 = _band(l1c.reshape(-1, 13, 264, 264), "s2l1c", "B10")[valid.reshape(-1, 264, 264)]
    assert 10 < np.median(b10) < 40


def test_snow_and_clouds_are_bright_in_visible(scenes: list[synthetic.Scene]) -> None:
    s = max(scenes, key=lambda sc: sc.cloud.max())
    t = int(np.argmax(s.cloud.reshape(4, -1).max(1)))
    opaque = s.cloud[t] > 0.99
    assert opaque.any()
    assert np.median(s.s2l2a[t, BANDS["s2l2a"].index("B02")][opaque]) > 5000


def test_coarse_bands_are_blocky(scenes: list[synthetic.Scene]) -> None:
    s = scenes[1]
    b05 = s.s2l2a[0, BANDS["s2l2a"].index("B05")]
    b01 = s.s2l2a[0, BANDS["s2l2a"].index("B01")]
    b02 = s.s2l2a[0, BANDS["s2l2a"].index("B02")]
    assert (b05[::2, ::2] == b05[1::2, 1::2]).mean() > 0.95
    assert (b01[::6, ::6] == b01[5::6, 5::6]).mean() > 0.95
    assert (b02[::2, ::2] == b02[1::2, 1::2]).mean() < 0.5


def test_sar_behaviour(scenes: list[synthetic.Scene]) -> None:
    s1 = np.stack([s.s1 for s in scenes])
    diff = (s1[:, :, 1] - s1[:, :, 0]).mean()
    assert -8.5 < diff < -6.5
    water = np.concatenate([s.s1[:, 0][:, s.classes == synthetic.WATER] for s in scenes], axis=1)
    urban = np.concatenate([s.s1[:, 0][:, s.classes == synthetic.URBAN] for s in scenes], axis=1)
    if water.size:
        assert -26 < np.median(water) < -18
    if urban.size:
        assert np.median(urban) > -2
    # speckle: pixel-to-pixel dB spread of a homogeneous class is about 5.6 dB (ENL 4.5)
    forest = np.concatenate([s.s1[0, 0][s.classes == synthetic.FOREST] for s in scenes])
    assert 2.0 < forest.std() < 6.0


def test_dataset_layout_labels_and_coverage(dataset: Path) -> None:
    index = SampleIndex.from_root(dataset)
    assert len(index.ids) == N
    manifest = json.loads((dataset / synthetic.MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["config"]["n"] == N
    tasks = label_io.load_tasks(dataset / "labels")
    assert set(tasks) == set(label_io.TASK_TYPES)
    for name, task in tasks.items():
        assert set(task.labels.index) <= set(index.ids), name
        assert np.isfinite(task.labels).all()
    assert set(tasks["nodata"].labels.index) == set(index.ids)
    assert tasks["random_cls"].kind == "classification"
    # the nodata label is what the files hold
    for sid in index.ids:
        cube = read_cube(index.path(sid, "s2l2a"), "s2l2a")
        assert tasks["nodata"].labels[sid] == pytest.approx((cube == 0).mean())


def test_task_subsets_on_a_larger_latent_table() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frac = rng.dirichlet(np.ones(len(synthetic.CLASSES)), n)
    lat = pd.DataFrame(frac, columns=[f"frac_{c}" for c in synthetic.CLASSES])
    lat["scene"] = rng.integers(0, len(synthetic.SCENE_NAMES), n).astype(float)
    for col in ("biomass_mean", "biomass_std", "cloud_cover", "lst_mean", "lst_std"):
        lat[col] = rng.random(n) * 10
    lat["nodata"] = np.where(rng.random(n) < 0.8, 0.0, rng.random(n))
    lat.index = pd.Index(synthetic.make_ids(n, 0), name="id")
    labels = synthetic.compute_labels(lat, seed=0)
    again = synthetic.compute_labels(lat, seed=0)
    assert set(labels) == set(label_io.TASK_TYPES)
    for name, series in labels.items():
        pd.testing.assert_series_equal(series, again[name])
        assert len(series) >= synthetic.MIN_TASK_SAMPLES, name
        assert series.std() > 0, name
    assert len(labels["nodata"]) == n
    assert list(labels["clouds_reg"].index) == list(labels["random_reg"].index)
    assert list(labels["random_cls"].index) == list(labels["random_reg"].index)
    assert (labels["random_reg"] == 0).mean() > 0.5
    assert ((labels["random_reg"] > 10) == (labels["random_cls"] == 1)).all()
    subsets = {
        frozenset(labels[t].index)
        for t in ("biomass_mean", "crops", "landcover_forest", "clouds_reg", "heatisland_mean")
    }
    assert len(subsets) == 5, "each task family covers its own subset of ids"
    assert 0.3 < len(labels["biomass_mean"]) / n < 0.7
    # labels are smooth functions of the latents (plus modest noise)
    r = np.corrcoef(
        labels["landcover_forest"], lat.loc[labels["landcover_forest"].index, "frac_forest"]
    )[0, 1]
    assert r > 0.95


def test_generation_is_bit_identical_and_worker_independent(dataset: Path, tmp_path: Path) -> None:
    other = synthetic.generate(tmp_path / "again", N, seed=11, workers=1)
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    for rel in files:
        assert (dataset / rel).read_bytes() == (other / rel).read_bytes(), rel


def test_ensure_dataset_is_idempotent_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    synthetic.ensure_dataset(root, 3, 0, workers=1)
    files = sorted(root.rglob("*.zarr.zip"))
    stamps = [p.stat().st_mtime_ns for p in files]
    synthetic.ensure_dataset(root, 3, 0, workers=1)
    assert [p.stat().st_mtime_ns for p in files] == stamps
    # an interrupted run resumes: a lost file is rewritten identically
    content = files[0].read_bytes()
    files[0].unlink()
    manifest = json.loads((root / synthetic.MANIFEST_NAME).read_text())
    manifest["complete"] = False
    (root / synthetic.MANIFEST_NAME).write_text(json.dumps(manifest))
    synthetic.ensure_dataset(root, 3, 0, workers=1)
    assert files[0].read_bytes() == content
    # a different configuration replaces the dataset
    synthetic.ensure_dataset(root, 2, 0, workers=1)
    assert len(SampleIndex.from_root(root).ids) == 2
    with pytest.raises(DataError, match="different synthetic dataset"):
        synthetic.generate(root, 4, 0, workers=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        synthetic.ensure_dataset(foreign, 2, 0)
