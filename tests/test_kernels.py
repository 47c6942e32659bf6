"""The runner's kernels: one shared kernel with a cleared namespace, or a fresh one per notebook."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2s_utils import config, run
from e2s_utils.kernels import Kernels, peak_memory_mb
from tests.helpers import write_notebook

PARAMS = "profile: str | None = None  # the profile\n"


def _notebooks(folder: Path, record: Path) -> list[run.Job]:
    first = write_notebook(
        folder / "10_first.ipynb",
        [
            "import os",
            f"open({str(record)!r}, 'a').write(f'{{os.getpid()}} {{os.getcwd()}}\\n')",
            "leak = 42",
            "blob = bytearray(300 * 2**20)  # 300 MB resident: the peak must see it",
            "del blob",
        ],
        params=PARAMS,
    )
    second = write_notebook(
        folder / "20_second.ipynb",
        [
            "import os",
            f"open({str(record)!r}, 'a').write(f'{{os.getpid()}} {{os.getcwd()}}\\n')",
            "assert 'leak' not in globals(), 'the previous notebook leaked its variables'",
            "assert 'e2s_utils.config' in __import__('sys').modules",
        ],
        params=PARAMS,
    )
    out = folder / "executed"
    return [
        run.Job(first, out / "a" / first.name, {"profile": "smoke"}),
        run.Job(second, out / "b" / second.name, {"profile": "smoke"}),
    ]


@pytest.mark.parametrize("shared", [True, False])
def test_kernels_are_shared_or_fresh_and_namespaces_never_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("E2S_FIGURES_DIR", str(tmp_path / "figures"))
    record = tmp_path / "pids.txt"
    jobs = _notebooks(tmp_path / "nbs", record)
    summary = run.execute(jobs, config.get_profile("smoke"), shared_kernel=shared)
    assert summary.ok, [r.message for r in summary.results]
    (pid1, cwd1), (pid2, cwd2) = (line.split(" ", 1) for line in record.read_text().splitlines())
    assert (pid1 == pid2) is shared and summary.kernel_starts == (1 if shared else 2)
    # each notebook runs in its executed copy's folder, also in a reused kernel
    assert Path(cwd1).resolve() == jobs[0].output.parent.resolve()
    assert Path(cwd2).resolve() == jobs[1].output.parent.resolve()
    first, second = summary.results
    assert first.peak_memory_mb is not None and second.peak_memory_mb is not None
    assert first.peak_memory_mb > 300 and first.peak_memory_mb > second.peak_memory_mb + 200
    assert summary.cold and first.load_start >= 0


def test_a_failure_is_named_and_the_shared_kernel_closed(tmp_path: Path) -> None:
    bad = write_notebook(tmp_path / "10_bad.ipynb", ["raise ValueError('boom')"], params=PARAMS)
    job = run.Job(bad, tmp_path / "ex" / bad.name, {"profile": "smoke"})
    summary = run.execute([job], config.get_profile("smoke"))
    assert not summary.ok and "boom" in summary.results[0].message
    assert "10_bad failed at cell 3" in summary.results[0].message


def test_peak_memory_of_a_missing_process_is_unknown() -> None:
    assert peak_memory_mb(None) is None and peak_memory_mb(2**31 - 7) is None
    with Kernels(shared=True) as kernels:
        assert kernels.starts == 0  # nothing starts before a notebook asks
