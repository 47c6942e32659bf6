"""Test-wide settings: no network, no real data or weights, no writes into the repository.

Tests marked ``slow`` (more than about 20 s on 2 CPU cores) are skipped unless ``E2S_RUN_SLOW=1``
is set (CI sets it); the default local run stays within a minute or two. Under pytest-xdist each
worker runs torch on one thread.
"""

from __future__ import annotations

import os
import tempfile

import pytest

# Set before any test module imports the package, so every path helper sees them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
for _name in ("E2S_DATA_DIR", "E2S_WEIGHTS_DIR", "E2S_SPLIT_FILE"):
    os.environ.pop(_name, None)
_scratch = tempfile.mkdtemp(prefix="e2s-tests-")
os.environ["E2S_OUTPUT_DIR"] = os.path.join(_scratch, "outputs")
os.environ["E2S_FIGURES_DIR"] = os.path.join(_scratch, "figures")

RUN_SLOW = os.environ.get("E2S_RUN_SLOW", "").strip() == "1"

# Under pytest-xdist every worker is one process on a shared machine: one torch thread each, so two
# workers on two cores do not oversubscribe them (tiny tensor operations with contended threads
# run many times slower); subprocesses inherit the setting.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``slow`` unless ``E2S_RUN_SLOW=1``."""
    if RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow test: set E2S_RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
