"""Test-wide settings: no network, no real data or weights, and no writes into the repository."""

from __future__ import annotations

import os
import tempfile

# Set before any test module imports the package, so every path helper sees them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
for _name in ("E2S_DATA_DIR", "E2S_WEIGHTS_DIR"):
    os.environ.pop(_name, None)
_scratch = tempfile.mkdtemp(prefix="e2s-tests-")
os.environ["E2S_OUTPUT_DIR"] = os.path.join(_scratch, "outputs")
os.environ["E2S_FIGURES_DIR"] = os.path.join(_scratch, "figures")
