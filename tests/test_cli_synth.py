"""``e2s synth``: a synthetic dataset in the challenge layout, split by folders."""

from __future__ import annotations

from pathlib import Path

from e2s_utils import cli
from e2s_utils.data import split_ids, synthetic


def test_writes_the_challenge_layout(tmp_path: Path, capsys) -> None:
    root = tmp_path / "ch"
    argv = ["synth", "--root", str(root), "--n", "4", "--seed", "2", "--layout", "challenge"]
    assert cli.main([*argv, "--workers", "1", "--no-progress"]) == 0
    assert (root / "data_dev").is_dir() or (root / "data_eval").is_dir()
    splits = split_ids(root)
    assert sorted(splits["dev"] + splits["eval"]) == sorted(synthetic.make_ids(4, 2))
    assert not (root / "data").exists()
    assert f"synthetic dataset ready: {root} (4 samples, seed 2)" in capsys.readouterr().out
