"""``e2s split``: a dataset's split and its source; the official split file from folders."""

from __future__ import annotations

from pathlib import Path

from e2s_utils import cli
from e2s_utils.data.splits import load_split, read_split_file
from tests.helpers import fake_dataset, make_ids


def test_shows_the_split_and_writes_the_file(tmp_path: Path, capsys) -> None:
    ids = make_ids(6)
    root = fake_dataset(tmp_path / "ds", ids, dev=ids[:2])
    out = tmp_path / "split.csv"
    assert cli.main(["split", "--data", str(root), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "dev 2, eval 4 (official, challenge folders)" in text and "6 ids" in text
    assert read_split_file(out) == {i: "dev" if i in ids[:2] else "eval" for i in ids}
    flat = fake_dataset(tmp_path / "flat", ids)
    assert cli.main(["split", "--data", str(flat), "--split-file", str(out)]) == 0
    assert "official, file split.csv" in capsys.readouterr().out
    assert cli.main(["split", "--data", str(flat)]) == 0
    assert "hash fallback, NOT the paper's split" in capsys.readouterr().out
    assert load_split(flat, out).dev == tuple(ids[:2])


def test_errors_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("E2S_DATA_DIR", raising=False)
    assert cli.main(["split"]) == 2
    assert capsys.readouterr().err.strip() == (
        "e2s split: error: no dataset: pass --data DIR or set E2S_DATA_DIR"
    )
    flat = fake_dataset(tmp_path / "flat", make_ids(3))
    short = tmp_path / "short.csv"
    short.write_text(f"id,split\n{make_ids(1)[0]},dev\n")
    assert cli.main(["split", "--data", str(flat), "--split-file", str(short)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"split file {short} has no split for 2 id(s)" in err[0]
