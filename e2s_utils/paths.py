"""Where things live: repository root, data, weights and output roots (env overrides), nothing else.

Every path in the package resolves from here, never from the kernel's working directory.

Environment variables:
    E2S_DATA_DIR: root of the real SSL4EO-S12-downstream dataset (holds ``data/`` and ``labels/``,
        or the challenge-era ``data_dev/`` / ``data_eval/``).
    E2S_WEIGHTS_DIR: folder holding the official checkpoints under their official file names.
    E2S_OUTPUT_DIR: where stages write their artifacts (default ``<repo>/outputs``).
    E2S_FIGURES_DIR: where figures, tables and ``MANIFEST.json`` go (default ``<repo>/figures``).
    E2S_SPLIT_FILE: a CSV ``id,split`` with the official dev/eval assignment of the dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR: Path = Path(__file__).resolve().parent
REPO_ROOT: Path = PACKAGE_DIR.parent
NOTEBOOKS_DIR: Path = REPO_ROOT / "notebooks"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def data_dir() -> Path | None:
    """The real dataset root from ``E2S_DATA_DIR``, or ``None`` when it is not configured."""
    return _env_path("E2S_DATA_DIR")


def weights_dir() -> Path | None:
    """The checkpoint folder from ``E2S_WEIGHTS_DIR``, or ``None`` when it is not configured."""
    return _env_path("E2S_WEIGHTS_DIR")


def split_file() -> Path | None:
    """The official dev/eval split file from ``E2S_SPLIT_FILE``, or ``None``."""
    return _env_path("E2S_SPLIT_FILE")


def output_root() -> Path:
    """Root of every stage's artifacts (``E2S_OUTPUT_DIR``, default ``<repo>/outputs``)."""
    return _env_path("E2S_OUTPUT_DIR") or REPO_ROOT / "outputs"


def figures_dir() -> Path:
    """Folder of figures, tables and ``MANIFEST.json`` (``E2S_FIGURES_DIR``, default ``<repo>/figures``)."""
    return _env_path("E2S_FIGURES_DIR") or REPO_ROOT / "figures"


def profile_dir(profile: str) -> Path:
    """Artifacts of one profile: ``<output_root>/<profile>``."""
    return output_root() / profile


def executed_dir() -> Path:
    """Where the runner writes executed notebook copies (never over a source notebook)."""
    return output_root() / "executed"
