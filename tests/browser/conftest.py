"""The JupyterLab browser tests: opt-in, as they need Chromium and Playwright.

``test_jupyterlab.py`` is collected only with ``E2S_BROWSER_TEST=1`` (``scripts/browser_test.sh``
sets it); the judge's unit tests (``test_labjudge.py``) always run. Environment of the browser run:

* ``E2S_BROWSER_OUTPUT_DIR`` / ``E2S_BROWSER_FIGURES_DIR``: the output and figures folders the
  notebooks run over (the runner script passes the nbval pass's, so every stage is cached);
  default: the test session's fresh scratch folders (everything is computed);
* ``E2S_BROWSER_ARTIFACTS``: where screenshots go (default: beside the output folder, ``browser/``);
* ``E2S_BROWSER_PROFILE``: the profile (default ``smoke``);
* ``E2S_BROWSER_MODELS``: ``default`` (the extraction notebook once, with its own ``model``) or
  ``all`` (once per model of the runner's plan);
* ``E2S_CHROMIUM``: the Chromium binary (default: ``chromium`` on ``PATH``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2s_utils import paths

ENABLED = os.environ.get("E2S_BROWSER_TEST") == "1"
collect_ignore = [] if ENABLED else ["test_jupyterlab.py"]


def browser_profile() -> str:
    return os.environ.get("E2S_BROWSER_PROFILE", "smoke")


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    """The environment of the JupyterLab server and its kernels."""
    env = dict(os.environ)
    env["E2S_OUTPUT_DIR"] = os.environ.get("E2S_BROWSER_OUTPUT_DIR") or str(paths.output_root())
    env["E2S_FIGURES_DIR"] = os.environ.get("E2S_BROWSER_FIGURES_DIR") or str(paths.figures_dir())
    env["E2S_PROFILE"] = browser_profile()
    env["E2S_WIDGETS"] = "auto"  # live because JupyterLab starts the kernels: the rule under test
    for name in ("E2S_BROWSER_TEST", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def artifacts(lab_env: dict[str, str]) -> Path:
    """Where screenshots go."""
    default = Path(lab_env["E2S_OUTPUT_DIR"]).parent / "browser"
    folder = Path(os.environ.get("E2S_BROWSER_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the source notebooks: JupyterLab runs (and may write) these, never the originals."""
    folder = tmp_path_factory.mktemp("sources")
    for path in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory,
    sources: Path,
    lab_env: dict[str, str],
    artifacts: Path,
) -> Iterator[object]:
    """``e2s lab`` serving the copied sources and the profile's executed copies."""
    from labdriver import LabServer

    server = LabServer(tmp_path_factory.mktemp("lab"), sources, browser_profile(), lab_env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.log_path.exists():
            shutil.copy2(server.log_path, artifacts / "jupyterlab.log")


@pytest.fixture(scope="session")
def lab_browser(lab_server: object, artifacts: Path) -> Iterator[object]:
    """Headless Chromium on the lab."""
    from labdriver import LabBrowser

    browser = LabBrowser(lab_server, artifacts)  # type: ignore[arg-type]
    try:
        yield browser
    finally:
        browser.close()
