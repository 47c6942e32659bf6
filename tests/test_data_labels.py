"""The NeuCo-Bench label folder: reading, writing, the long frame of every label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils.data import DataError, labels
from e2s_utils.data.labels import LabelError, labels_frame, load_tasks, read_task, write_task


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [
        ("regr", "regression"),
        ("regression", "regression"),
        ("reg", "regression"),
        ("cls", "classification"),
        ("classification", "classification"),
    ],
)
def test_suffix_rules(tmp_path: Path, suffix: str, kind: str) -> None:
    _write(tmp_path / f"task_a__{suffix}.csv", "id,label\na,1\nb,0\n")
    tasks = load_tasks(tmp_path)
    assert list(tasks) == ["task_a"]
    assert tasks["task_a"].kind == kind


def test_unknown_suffix_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "crops__ordinal.csv", "id,label\na,1\n")
    with pytest.raises(LabelError, match=r"crops__ordinal\.csv.*unknown type suffix 'ordinal'"):
        load_tasks(tmp_path)
    assert issubclass(LabelError, DataError)


def test_file_without_type_separator(tmp_path: Path) -> None:
    _write(tmp_path / "crops.csv", "id,label\na,1\n")
    with pytest.raises(LabelError, match=r"crops\.csv.*<task>__<type>"):
        load_tasks(tmp_path)


def test_extra_columns_empty_labels_and_id_normalisation(tmp_path: Path) -> None:
    _write(
        tmp_path / "biomass_mean__regr.csv",
        "lon,id,label,note\n"
        "1, aa.zarr.zip ,1.5,x\n"
        "2,bb,,empty label\n"
        "3,cc.zarr.zip,-2,\n"
        "4, dd ,  3e2 ,\n",
    )
    task = read_task(tmp_path / "biomass_mean__regr.csv")
    assert task.name == "biomass_mean"
    assert task.labels.name == "biomass_mean"
    assert task.labels.index.name == "id"
    assert list(task.labels.index) == ["aa", "cc", "dd"]
    np.testing.assert_array_equal(task.labels.to_numpy(), [1.5, -2.0, 300.0])
    assert task.labels.dtype == np.float64
    assert len(task) == 3


@pytest.mark.parametrize("header", ["id,value", "sample,label"])
def test_missing_columns(tmp_path: Path, header: str) -> None:
    _write(tmp_path / "crops__regr.csv", f"{header}\na,1\n")
    with pytest.raises(LabelError, match=r"crops__regr\.csv lacks column"):
        load_tasks(tmp_path)


def test_non_numeric_label(tmp_path: Path) -> None:
    _write(tmp_path / "crops__regr.csv", "id,label\na,1\nb,forest\n")
    with pytest.raises(LabelError, match=r"'forest' of id 'b' is not a number"):
        load_tasks(tmp_path)


def test_duplicate_ids(tmp_path: Path) -> None:
    _write(tmp_path / "crops__regr.csv", "id,label\na,1\na.zarr.zip,2\n")
    with pytest.raises(LabelError, match="more than once"):
        load_tasks(tmp_path)


def test_task_filter_and_errors(tmp_path: Path) -> None:
    _write(tmp_path / "a__regr.csv", "id,label\nx,1\n")
    _write(tmp_path / "b__cls.csv", "id,label\nx,1\n")
    assert list(load_tasks(tmp_path, ["b"])) == ["b"]
    with pytest.raises(LabelError, match=r"\['zz'\] not found.*available: \['a', 'b'\]"):
        load_tasks(tmp_path, ["zz"])
    with pytest.raises(LabelError, match="does not exist"):
        load_tasks(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match="holds no"):
        load_tasks(tmp_path / "empty")
    _write(tmp_path / "a__regression.csv", "id,label\nx,1\n")
    with pytest.raises(LabelError, match="two label files"):
        load_tasks(tmp_path)


def test_task_types_table() -> None:
    assert len(labels.TASK_TYPES) == 11
    assert labels.TASK_TYPES["random_cls"] == "cls"
    assert labels.TASK_TYPES["landcover_aggriculture"] == "regr"
    regression = [k for k, v in labels.TASK_TYPES.items() if v == "regr"]
    assert len(regression) == 10
    assert set(labels.CHALLENGE_EXCLUDED) <= set(labels.TASK_TYPES)


def test_write_task_round_trip(tmp_path: Path) -> None:
    series = pd.Series([0.125, np.nan, 7.0], index=["s1.zarr.zip", "s2", "s3"])
    path = write_task(tmp_path / "labels", "random_cls", "classification", series)
    assert path.name == "random_cls__cls.csv"
    other = write_task(tmp_path / "labels", "my_task", "regression", pd.Series([1.0], index=["q"]))
    assert other.name == "my_task__regr.csv"
    tasks = load_tasks(tmp_path / "labels")
    assert tasks["random_cls"].kind == "classification"
    assert list(tasks["random_cls"].labels.index) == ["s1", "s3"]  # NaN written empty, skipped
    np.testing.assert_array_equal(tasks["random_cls"].labels.to_numpy(), [0.125, 7.0])
    assert not list((tmp_path / "labels").glob(".*tmp"))
    with pytest.raises(LabelError, match="regression task"):
        write_task(tmp_path, "crops", "classification", series)


def test_nan_text_labels_are_skipped_but_listed(tmp_path: Path) -> None:
    _write(tmp_path / "crops__regr.csv", "id,label\na,1\nb,nan\nc,\nd,2\n")
    task = read_task(tmp_path / "crops__regr.csv")
    assert list(task.labels.index) == ["a", "d"]
    assert list(task.listed_ids) == ["a", "b", "d"]  # the benchmark counts "nan" cells as listed


def test_labels_frame_is_long_form(tmp_path: Path) -> None:
    write_task(tmp_path, "crops", "regression", pd.Series([0.5, 2.0], index=["a", "b"]))
    write_task(tmp_path, "random_cls", "classification", pd.Series([1.0], index=["a"]))
    frame = labels_frame(load_tasks(tmp_path))
    assert list(frame.columns) == ["task", "kind", "id", "label"]
    assert frame.to_dict("records") == [
        {"task": "crops", "kind": "regression", "id": "a", "label": 0.5},
        {"task": "crops", "kind": "regression", "id": "b", "label": 2.0},
        {"task": "random_cls", "kind": "classification", "id": "a", "label": 1.0},
    ]
    empty = labels_frame({})
    assert empty.empty and list(empty.columns) == ["task", "kind", "id", "label"]


def test_plain_array_labels_equal_the_pandas_task(tmp_path: Path) -> None:
    _write(
        tmp_path / "crops__regr.csv", "id,label,extra\na.zarr.zip,1.5,x\nb,nan,y\nc,,z\nd,-2e3,w\n"
    )
    plain = labels.load_task_labels(tmp_path)["crops"]
    task = load_tasks(tmp_path)["crops"]
    assert isinstance(plain, labels.TaskLabels) and plain.kind == task.kind == "regression"
    assert plain.ids == task.ids == ["a", "d"]
    np.testing.assert_array_equal(plain.values, task.values)
    assert plain.listed_ids == list(task.listed_ids) == ["a", "b", "d"]
    assert len(plain) == len(task) == 2
