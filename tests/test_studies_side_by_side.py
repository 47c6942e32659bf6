"""Units side by side: spawned workers fill the cache, also from a kernel whose namespace was reset."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from e2s_utils.studies.side_by_side import compute_side_by_side

_STATE: dict[str, Path] = {}


def _init(folder: Path) -> None:
    _STATE["folder"] = folder


def _unit(name: str) -> str:
    import torch

    (_STATE["folder"] / f"{name}.txt").write_text(f"{os.getpid()} {torch.get_num_threads()}")
    return name


def _failing(name: str) -> str:
    raise ValueError(f"unit {name} failed")


@pytest.mark.slow
def test_workers_compute_every_unit_after_a_namespace_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = sys.modules["__main__"]
    if hasattr(main, "__spec__"):  # what the runner's `%reset -f` leaves in a kernel
        monkeypatch.delattr(main, "__spec__")
    jobs = [(f"u{i}",) for i in range(4)]
    compute_side_by_side(
        _unit, jobs, workers=2, init=_init, initargs=(tmp_path,), desc="t", progress=False
    )
    written = {p.stem: p.read_text().split() for p in tmp_path.glob("*.txt")}
    assert sorted(written) == ["u0", "u1", "u2", "u3"]
    pids = {pid for pid, _ in written.values()}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
    assert {threads for _, threads in written.values()} == {"1"}
    with pytest.raises(ValueError, match="unit x failed"):
        compute_side_by_side(
            _failing, [("x",), ("y",)], workers=2, init=_init, initargs=(tmp_path,), desc="t"
        )
