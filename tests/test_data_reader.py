"""Reader tests: every layout, the Zarr v2 format, every validation error under both policies."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from e2s_utils.bands import BANDS, MODALITIES
from e2s_utils.data import (
    CubeDataset,
    DataError,
    SampleIndex,
    collate_cubes,
    is_dev_id,
    make_loader,
    read_cube,
    split_ids,
    synthetic,
    write_cube,
    zarr_metadata,
)

N = 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ds"
    return synthetic.generate(root, N, seed=3, workers=1)


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a tree with hard links (cheap); corrupting a file must replace it, not edit it."""
    shutil.copytree(src, dst, copy_function=os.link)


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.zarr.zip"))


def _relayout(src: Path, dst: Path, layout: str) -> None:
    """Re-arrange a current-layout dataset into another published layout."""
    for f in _files(src / "data"):
        modality, sid = f.parent.parent.name, f.name.removesuffix(".zarr.zip")
        if layout == "challenge_flat":
            target = dst / ("data_dev" if is_dev_id(sid) else "data_eval") / modality / f.name
        elif layout == "challenge_parts":
            split = "data_dev" if is_dev_id(sid) else "data_eval"
            target = dst / split / modality / "part-000000" / f.name
        elif layout == "example":
            target = dst / "data_example" / modality / f.name
        elif layout == "bare":
            target = dst / modality / "part-000000" / f.name
        else:
            raise ValueError(layout)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(f, target)


def test_current_layout_and_ids(dataset: Path) -> None:
    index = SampleIndex.from_root(dataset)
    assert len(index) == N and index.ids == sorted(index.ids)
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in index.ids)
    for m in MODALITIES:
        p = index.path(index.ids[0], m)
        assert p.parent.name == "part-000000" and p.parent.parent.name == m
        assert p.parent.parent.parent == dataset / "data"


@pytest.mark.parametrize("layout", ["challenge_flat", "challenge_parts", "example", "bare"])
def test_every_layout(dataset: Path, tmp_path: Path, layout: str) -> None:
    _relayout(dataset, tmp_path, layout)
    ref = SampleIndex.from_root(dataset)
    index = SampleIndex.from_root(tmp_path)
    assert index.ids == ref.ids
    sid = index.ids[0]
    np.testing.assert_array_equal(
        read_cube(index.path(sid, "s2l2a"), "s2l2a"), read_cube(ref.path(sid, "s2l2a"), "s2l2a")
    )
    splits = split_ids(tmp_path)
    assert sorted(splits["dev"] + splits["eval"]) == ref.ids
    assert all(is_dev_id(s) for s in splits["dev"]) and not any(
        is_dev_id(s) for s in splits["eval"]
    )
    if layout.startswith("challenge"):
        dev = SampleIndex.from_root(tmp_path, split="dev")
        assert dev.ids == splits["dev"]
        assert all("data_dev" in str(dev.path(s, "s1")) for s in dev.ids)


def test_challenge_split_comes_from_folders(dataset: Path, tmp_path: Path) -> None:
    # put every sample into data_eval: the folders, not the hash rule, decide
    for f in _files(dataset / "data"):
        target = tmp_path / "data_eval" / f.parent.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(f, target)
    assert split_ids(tmp_path) == {"dev": [], "eval": SampleIndex.from_root(dataset).ids}


def test_hash_split_fraction_is_documented_share() -> None:
    ids = [f"{i:064x}" for i in range(20000)]
    frac = np.mean([is_dev_id(s) for s in ids])
    assert abs(frac - 5149 / 13260) < 0.015
    assert is_dev_id(ids[5]) == is_dev_id(ids[5])  # pure function of the id


def test_zarr_v2_format(dataset: Path) -> None:
    index = SampleIndex.from_root(dataset)
    for m, dtype in (("s1", "<f4"), ("s2l1c", "<u2"), ("s2l2a", "<u2")):
        meta = zarr_metadata(index.path(index.ids[0], m))
        assert meta[".zgroup"]["zarr_format"] == 2
        zarray = meta["bands/.zarray"]
        assert zarray["zarr_format"] == 2
        assert zarray["shape"] == [1, 4, len(BANDS[m]), 264, 264]
        assert zarray["dtype"] == dtype
        assert meta["bands/.zattrs"]["_ARRAY_DIMENSIONS"] == ["sample", "time", "band", "y", "x"]
        assert ".zmetadata" in meta


def test_zip_members_are_relative_to_store_root(dataset: Path) -> None:
    import zipfile

    path = SampleIndex.from_root(dataset).path(SampleIndex.from_root(dataset).ids[0], "s1")
    names = zipfile.ZipFile(path).namelist()
    assert len(names) == len(set(names)), "duplicate zip members"
    assert ".zgroup" in names and "bands/.zarray" in names
    assert all(not n.startswith("/") and ".zarr/" not in n for n in names)


def test_xarray_reads_the_store(dataset: Path) -> None:
    import xarray as xr
    import zarr

    index = SampleIndex.from_root(dataset)
    path = index.path(index.ids[1], "s2l1c")
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        ds = xr.open_zarr(store)
        assert ds["bands"].dims == ("sample", "time", "band", "y", "x")
        values = ds["bands"].values
    finally:
        store.close()
    assert values.dtype == np.uint16  # no fill-value masking turns DN 0 into NaN
    np.testing.assert_array_equal(values[0].astype(np.float32), read_cube(path, "s2l1c"))


def test_read_cube_returns_float32_cubes(dataset: Path) -> None:
    index = SampleIndex.from_root(dataset)
    for m in MODALITIES:
        cube = read_cube(index.path(index.ids[0], m), m)
        assert cube.dtype == np.float32 and cube.shape == (4, len(BANDS[m]), 264, 264)
        assert np.isfinite(cube).all()


def test_dataset_and_loader_with_workers(dataset: Path) -> None:
    ds = CubeDataset(dataset)
    item = ds[0]
    assert item["id"] == ds.ids[0]
    assert item["s2l1c"].shape == (4, 13, 264, 264) and item["s1"].dtype == torch.float32
    loader = make_loader(ds, batch_size=3, num_workers=2)
    ids = []
    for batch in loader:
        b = len(batch["id"])
        assert batch["s1"].shape == (b, 4, 2, 264, 264)
        assert batch["s2l2a"].shape == (b, 4, 12, 264, 264)
        assert batch["skipped"] == []
        ids += batch["id"]
    assert ids == ds.ids


def test_dataset_subset_of_modalities_and_ids(dataset: Path) -> None:
    index = SampleIndex.from_root(dataset, modalities=("s2l2a",))
    ds = CubeDataset(index, ids=index.ids[2:4], modalities=("s2l2a",))
    assert len(ds) == 2 and set(ds[1]) == {"id", "s2l2a"}


# ---- validation errors -------------------------------------------------------------------------
def _victim(root: Path, modality: str) -> tuple[str, Path]:
    index = SampleIndex.from_root(root)
    sid = index.ids[2]
    return sid, index.path(sid, modality)


def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # break the hard link before writing
    path.write_bytes(data)


def _corrupt(root: Path, kind: str) -> tuple[str, str]:
    """Damage one sample in one way; return its id and the expected message fragment."""
    if kind == "missing_modality":
        sid, path = _victim(root, "s1")
        path.unlink()
        return sid, "no ['s1'] store"
    if kind == "band_count":
        sid, path = _victim(root, "s2l1c")
        path.unlink()
        write_cube(path, np.ones((4, 12, 264, 264), np.uint16))
        return sid, "wrong band count"
    if kind == "shape":
        sid, path = _victim(root, "s2l2a")
        path.unlink()
        write_cube(path, np.ones((4, 12, 128, 128), np.uint16))
        return sid, "wrong shape"
    if kind == "truncated":
        sid, path = _victim(root, "s2l2a")
        data = path.read_bytes()
        _replace(path, data[: len(data) // 2])
        return sid, "truncated or corrupt"
    if kind == "unreadable":
        sid, path = _victim(root, "s1")
        _replace(path, b"this is not a zip file" * 10)
        return sid, "not a readable zip file"
    if kind == "damaged_chunk":  # a chunk that decodes (valid zip CRC) to garbage
        sid, path = _victim(root, "s2l2a")
        cube = read_cube(path, "s2l2a")
        garbage = np.random.default_rng(0).integers(0, 65535, size=(8, 8))
        cube[2, 3, 100:108, 100:108] = garbage
        path.unlink()
        write_cube(path, cube.astype(np.uint16))
        return sid, "outside the physically possible range"
    if kind == "s1_out_of_range":
        sid, path = _victim(root, "s1")
        cube = read_cube(path, "s1")
        cube[0, 1, 7, 7] = 3.0e4  # float32 garbage that is finite
        path.unlink()
        write_cube(path, cube)
        return sid, "outside the physically possible range"
    if kind in ("nan", "inf"):
        sid, path = _victim(root, "s1")
        cube = read_cube(path, "s1")
        cube[1, 0, 5, 5] = np.nan if kind == "nan" else np.inf
        path.unlink()
        write_cube(path, cube)
        return sid, "NaN/inf"
    raise ValueError(kind)


KINDS = [
    "missing_modality",
    "band_count",
    "shape",
    "truncated",
    "unreadable",
    "nan",
    "inf",
    "damaged_chunk",
    "s1_out_of_range",
]


@pytest.mark.parametrize("kind", KINDS)
def test_validation_error_raise(dataset: Path, tmp_path: Path, kind: str) -> None:
    root = tmp_path / "ds"
    _link_tree(dataset, root)
    sid, fragment = _corrupt(root, kind)
    with pytest.raises(DataError) as info:
        ds = CubeDataset(root)
        for i in range(len(ds)):
            ds[i]
    msg = str(info.value)
    assert sid in msg and fragment in msg
    if kind != "missing_modality":
        assert ".zarr.zip" in msg and "on_error='skip'" in msg
    if kind in ("truncated", "unreadable"):  # the real cause, not zarr's follow-up error
        assert "BadZipFile" in msg and "_zf" not in msg


@pytest.mark.parametrize("kind", KINDS)
def test_validation_error_skip(dataset: Path, tmp_path: Path, kind: str) -> None:
    root = tmp_path / "ds"
    _link_tree(dataset, root)
    sid, fragment = _corrupt(root, kind)
    ds = CubeDataset(root, on_error="skip")
    seen: list[str] = []
    for batch in make_loader(ds, batch_size=3, num_workers=0):
        seen += batch["id"]
    assert sid not in seen and len(seen) == N - 1
    assert ds.report.ids == [sid]
    assert fragment in ds.report.skipped[0][1] or kind == "missing_modality"
    assert sid in str(ds.report)


def test_skips_made_in_worker_processes_reach_the_batch(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _link_tree(dataset, root)
    sid, _ = _corrupt(root, "truncated")
    ds = CubeDataset(root, on_error="skip")
    collected = type(ds.report)()
    for batch in make_loader(ds, batch_size=4, num_workers=2):
        collected.update(batch)
    assert collected.ids == [sid]


def test_all_skipped_batch_is_empty() -> None:
    batch = collate_cubes([{"id": "a", "error": "bad", "modalities": ("s1", "s2l2a")}])
    assert batch["id"] == [] and batch["skipped"] == [("a", "bad")]
    assert batch["s1"].shape == (0, 4, 2, 264, 264) and batch["s2l2a"].shape[0] == 0


def test_missing_modality_error_names_the_folder(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _link_tree(dataset, root)
    sid, _ = _corrupt(root, "missing_modality")
    with pytest.raises(DataError, match=re.escape(str(root / "data" / "s1"))):
        SampleIndex.from_root(root)
    index = SampleIndex.from_root(root, on_error="skip")
    assert index.incomplete == {sid: ["s1"]} and sid not in index.ids


def test_unknown_ids_and_empty_roots(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        CubeDataset(dataset, ids=["f" * 64])
    ds = CubeDataset(dataset, ids=["f" * 64], on_error="skip")
    assert ds[0]["error"] and ds.report.ids == ["f" * 64]
    with pytest.raises(DataError, match="E2S_DATA_DIR"):
        SampleIndex.from_root(tmp_path)
    with pytest.raises(DataError, match="file not found"):
        read_cube(tmp_path / "nope.zarr.zip", "s1")


def test_duplicate_ids_are_refused(dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _link_tree(dataset, root)
    f = _files(root / "data" / "s1")[0]
    dup = root / "data" / "s1" / "part-000001" / f.name
    dup.parent.mkdir()
    os.link(f, dup)
    with pytest.raises(DataError, match="appears twice"):
        SampleIndex.from_root(root)


def test_float16_s1_is_read_as_float32(tmp_path: Path) -> None:
    cube = np.full((4, 2, 264, 264), -12.5, np.float16)
    path = write_cube(tmp_path / ("a" * 64 + ".zarr.zip"), cube)
    assert zarr_metadata(path)["bands/.zarray"]["dtype"] == "<f2"
    out = read_cube(path, "s1")
    assert out.dtype == np.float32 and float(out.mean()) == -12.5


def test_saturated_s2_pixels_are_accepted(tmp_path: Path) -> None:
    cube = np.full((4, 12, 264, 264), 1200, np.uint16)
    cube[0, 0, :2, :2] = 65535  # the products' saturation marker
    path = write_cube(tmp_path / "x.zarr.zip", cube)
    assert read_cube(path, "s2l2a")[0, 0, 0, 0] == 65535.0
    cube[0, 0, :2, :2] = 30000  # not a marker and beyond any reflectance
    path.unlink()
    write_cube(path, cube)
    with pytest.raises(DataError, match="physically possible"):
        read_cube(path, "s2l2a")
