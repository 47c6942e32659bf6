"""The dev/eval split: challenge folders, an official split file, or the stamped hash fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2s_utils.data import DataError, is_dev_id
from e2s_utils.data.splits import Split, load_split, read_split_file, write_split_file
from tests.helpers import fake_dataset, make_ids

IDS = make_ids(12)


def _split_file(path: Path, rows: list[tuple[str, str]], header: str = "id,split") -> Path:
    path.write_text(header + "\n" + "".join(f"{i},{s}\n" for i, s in rows))
    return path


def test_challenge_folders_are_the_official_split(tmp_path: Path) -> None:
    root = fake_dataset(tmp_path / "ds", IDS, dev=IDS[:5])
    split = load_split(root)
    assert split.source == "folders" and split.official and split.stamp is None
    assert split.dev == tuple(IDS[:5]) and split.eval == tuple(IDS[5:])
    assert "official, challenge folders" in split.describe() and "dev 5, eval 7" in split.describe()
    # a split file does not override the folders, which are the official split
    other = _split_file(tmp_path / "s.csv", [(i, "eval") for i in IDS])
    assert load_split(root, other) == split


def test_a_split_file_assigns_every_id(tmp_path: Path, monkeypatch) -> None:
    root = fake_dataset(tmp_path / "ds", IDS)
    rows = [(f" {i}.zarr.zip ", "DEV" if k % 3 == 0 else "eval") for k, i in enumerate(IDS)]
    path = _split_file(tmp_path / "official.csv", rows)
    assert read_split_file(path)[IDS[0]] == "dev"  # ids and values normalised
    split = load_split(root, path)
    assert split.source == "file" and split.file == "official.csv" and split.official
    assert split.dev == tuple(IDS[::3]) and len(split.eval) == 8
    assert "official, file official.csv" in split.describe()
    monkeypatch.setenv("E2S_SPLIT_FILE", str(path))
    assert load_split(root) == split  # from the environment


def test_a_split_file_missing_ids_names_the_file(tmp_path: Path) -> None:
    root = fake_dataset(tmp_path / "ds", IDS)
    path = _split_file(tmp_path / "old_release.csv", [(i, "dev") for i in IDS[:10]])
    with pytest.raises(DataError, match=r"old_release\.csv has no split for 2 id\(s\)") as err:
        load_split(root, path)
    assert IDS[10] in str(err.value) and "split file of this dataset release" in str(err.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,fold\na,dev\n", "needs the columns id and split"),
        ("id,split\na,dev\nb,train\n", "id 'b' has split 'train'"),
        ("id,split\na,dev\na.zarr.zip,eval\n", "lists id 'a' more than once"),
        ("", "is not a CSV"),
    ],
)
def test_bad_split_files_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as err:
        read_split_file(path)
    assert str(path) in str(err.value)
    with pytest.raises(DataError, match=r"nope\.csv not found.*E2S_SPLIT_FILE"):
        read_split_file(tmp_path / "nope.csv")


def test_the_hash_fallback_is_stamped(tmp_path: Path) -> None:
    root = fake_dataset(tmp_path / "ds", IDS)
    split = load_split(root)
    assert split.source == "hash fallback" and not split.official
    assert split.stamp == "split: hash fallback"
    assert "NOT the paper's split" in split.describe()
    assert split.dev == tuple(i for i in IDS if is_dev_id(i))
    assert split.eval == tuple(i for i in IDS if not is_dev_id(i))
    assert split.dev and split.eval


def test_split_identity_and_file_round_trip(tmp_path: Path) -> None:
    folders = load_split(fake_dataset(tmp_path / "ch", IDS, dev=IDS[:4]))
    path = write_split_file(folders, tmp_path / "written.csv")
    assert path.read_text().splitlines()[0] == "id,split"
    flat = fake_dataset(tmp_path / "flat", IDS)
    from_file = load_split(flat, path)
    assert (from_file.dev, from_file.eval) == (folders.dev, folders.eval)
    assert from_file.to_dict()["dev"] == folders.to_dict()["dev"]
    assert from_file.to_dict()["source"] == "file" != folders.to_dict()["source"]
    assert Split((), (), "hash fallback").to_dict() != Split((), (), "folders").to_dict()
