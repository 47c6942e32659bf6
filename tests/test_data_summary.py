"""Dataset summaries of the data tour: cube anatomy, sampled values, no data, label coverage."""

from __future__ import annotations

import numpy as np
import pytest

from e2s_utils.bands import BANDS
from e2s_utils.data import SampleIndex, summary, write_cube
from tests.helpers import label_task, make_ids

IDS = make_ids(3)
SIZE = 264
NIR, RED = BANDS["s2l2a"].index("B08"), BANDS["s2l2a"].index("B04")


def _l2a(k: int) -> np.ndarray:
    """Sample ``k``: band ``b`` holds ``100 * (b + 1)``, NIR ``1000 * (k + 1)``, k/4 of rows 0."""
    cube = np.empty((4, 12, SIZE, SIZE), np.uint16)
    cube[:] = (100 * np.arange(1, 13, dtype=np.uint16))[None, :, None, None]
    cube[:, NIR] = 1000 * (k + 1)
    cube[:, :, : SIZE * k // 4] = 0  # no data
    return cube


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> SampleIndex:
    root = tmp_path_factory.mktemp("summary")
    for k, sid in enumerate(IDS):
        write_cube(root / "data" / "s2l2a" / f"{sid}.zarr.zip", _l2a(k))
        s1 = np.full((4, 2, SIZE, SIZE), -10.0 - k, np.float32)
        write_cube(root / "data" / "s1" / f"{sid}.zarr.zip", s1)
        (root / "data" / "s2l1c").mkdir(parents=True, exist_ok=True)
        (root / "data" / "s2l1c" / f"{sid}.zarr.zip").write_bytes(b"")
    return SampleIndex.from_root(root)


def test_cube_table_one_row_per_modality() -> None:
    cube = {"s2l2a": _l2a(2), "s1": np.zeros((4, 2, 3, 3), np.float32)}
    table = summary.cube_table(cube)
    assert table["modality"].tolist() == ["s1", "s2l2a"]  # the modalities' own order
    row = table.set_index("modality").loc["s2l2a"]
    assert row["shape"] == f"4x12x{SIZE}x{SIZE}" and row["dtype"] == "uint16"
    assert row["bands"].split() == list(BANDS["s2l2a"])
    assert row["zeros"] == pytest.approx(0.5) and row["max"] == 3000.0
    assert table.set_index("modality").loc["s1", "zeros"] == 1.0


def test_sample_values_on_a_pixel_grid(index: SampleIndex) -> None:
    values = summary.sample_values(index, IDS[:2], ("s2l2a", "s1"), stride=33)
    per_sample = 4 * 8 * 8  # seasons x (264 / 33) ** 2
    assert values["s2l2a"].shape == (12, 2 * per_sample) and values["s1"].shape == (
        2,
        2 * per_sample,
    )
    np.testing.assert_array_equal(np.unique(values["s1"]), [-11.0, -10.0])
    medians = summary.band_medians(values)
    assert medians["B02"] == 200.0  # no-data zeros of sample 1 are left out
    assert summary.band_medians(values, "s1")["VV"] == pytest.approx(-10.5)


def test_nodata_fractions_and_greenest(index: SampleIndex) -> None:
    fractions = summary.nodata_fractions(index, IDS)
    assert fractions.name == "nodata" and fractions.index.tolist() == IDS
    np.testing.assert_allclose(fractions.to_numpy(), [0.0, 0.25, 0.5])
    # the median over every pixel: sample 2's higher NIR is outweighed by its half of no data
    assert summary.greenest(index, IDS) == IDS[1]
    assert summary.greenest(index, [IDS[0], IDS[2]]) == IDS[0]


def test_label_coverage_counts_known_and_unknown_ids() -> None:
    tasks = {
        "b": label_task("b", [*IDS[:2], "elsewhere"], [1.0, 3.0, 5.0]),
        "a": label_task("a", IDS, [0.0, 1.0, 1.0], "classification"),
    }
    table = summary.label_coverage(tasks, IDS).set_index("task")
    assert table.index.tolist() == ["a", "b"]
    assert table.loc["a", "coverage"] == 1.0 and table.loc["a", "kind"] == "classification"
    assert table.loc["b", "n"] == 3 and table.loc["b", "unknown_ids"] == 1
    assert table.loc["b", "coverage"] == pytest.approx(2 / 3)
    assert (table.loc["b", "min"], table.loc["b", "mean"], table.loc["b", "max"]) == (1, 3, 5)
    assert summary.label_coverage(tasks, []).loc[0, "coverage"] == 0.0
