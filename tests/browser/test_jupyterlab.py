"""Every notebook of the runner's plan, run through JupyterLab's own UI in headless Chromium.

``e2s lab`` serves a copy of the source notebooks; each notebook is opened, run with
Run > Run All Cells, and judged (``labjudge.problems``): no error, every figure cell shows its
images, every widget renders and reacts, the summary cell prints. Deliberately broken copies
(a failing cell, an undisplayed figure, parameters only papermill would set, a kernel JupyterLab
does not offer, a missing widget extension) must each be reported with the notebook and the cell.

The extraction notebook is swept over models by the runner (papermill injects ``model``). A
reader opening it in JupyterLab runs it with the literal ``model`` of its parameters cell, so by
default it runs once, as is (the runner's job whose parameters are the notebook's own); with
``E2S_BROWSER_MODELS=all`` every job of the plan runs, its parameters written into the parameters
cell of a copy (not injected), as a reader would edit them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from labdriver import with_parameters
from labjudge import problems

from e2s_utils import run

PROFILE = os.environ.get("E2S_BROWSER_PROFILE", "smoke")
ALL_MODELS = os.environ.get("E2S_BROWSER_MODELS", "default") == "all"
SOURCE_DIR = "notebooks_source"


def browser_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, notebook file name, parameters to write)`` of every notebook the test runs."""
    out = []
    for job in run.plan(PROFILE, executed_dir=Path("unused")):
        defaults = run.notebook_parameters(job.source)
        changed = {
            k: v for k, v in job.parameters.items() if k != "profile" and defaults.get(k) != v
        }
        if not changed:
            out.append((job.source.stem, job.source.name, {}))
        elif ALL_MODELS:
            out.append((job.label, f"{job.label}.ipynb", changed))
    return out


JOBS = browser_jobs()


def test_the_plan_covers_every_notebook() -> None:
    stems = {p.stem for p in run.list_notebooks()}
    assert {label.split("__")[0] for label, _, _ in JOBS} == stems


def test_lab_opens_sources_beside_executed_copies(lab_browser: Any) -> None:
    names = lab_browser.listing()
    assert SOURCE_DIR in names and f"notebooks_executed_{PROFILE}" in names, names
    assert "README.md" in names
    specs = lab_browser.page.evaluate(
        "() => Object.entries(window.jupyterapp.serviceManager.kernelspecs.specs.kernelspecs)"
        ".map(([k, v]) => [k, v.display_name])"
    )
    assert ["python3", "Python 3 (e2s)"] in specs, specs
    lab_browser.screenshot("lab_folder")


@pytest.mark.parametrize(("label", "filename", "params"), JOBS, ids=[j[0] for j in JOBS])
def test_notebook_in_jupyterlab(
    lab_browser: Any, sources: Path, label: str, filename: str, params: dict[str, Any]
) -> None:
    if params:
        source = json.loads((sources / f"{label.split('__')[0]}.ipynb").read_text())
        (sources / filename).write_text(json.dumps(with_parameters(source, params)))
    lab_browser.open(f"{SOURCE_DIR}/{filename}", via_file_browser=label == JOBS[0][0])
    try:
        snapshot = lab_browser.run_all(label)
    finally:
        lab_browser.close_notebook()
    found = problems(snapshot)
    assert not found, "\n".join(found)
    if (
        label == "30_fusion"
    ):  # the documentation's screenshot (docs/img/jupyterlab.png), 256 colours
        from PIL import Image

        with Image.open(lab_browser.artifacts / f"{label}.png") as shot:
            shot.convert("RGB").quantize(256).save(
                lab_browser.artifacts / "docs.png", optimize=True
            )


def _broken_copy(sources: Path, stem: str, name: str, edit: Any) -> str:
    nb = json.loads((sources / f"{stem}.ipynb").read_text())
    nb = edit(nb)
    (sources / f"{name}.ipynb").write_text(json.dumps(nb))
    return f"{SOURCE_DIR}/{name}.ipynb"


def _code(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _run(lab_browser: Any, path: str, name: str) -> list[str]:
    lab_browser.open(path)
    try:
        return problems(lab_browser.run_all(name))
    finally:
        lab_browser.close_notebook()


def test_a_failing_cell_and_an_undisplayed_figure_are_named(
    lab_browser: Any, sources: Path
) -> None:
    figure = (
        "from e2s_utils import provenance\nfrom e2s_utils.plots import data as data_plots\n\n"
        "fig = data_plots.band_catalogue()\n"
        "saved = provenance.save_figure(fig, 'undisplayed', ctx, out_dir=ctx.out_dir / 'browser_test')"
    )

    def edit(nb: dict[str, Any]) -> dict[str, Any]:
        nb["cells"][4:4] = [_code(figure), _code("raise RuntimeError('deliberately broken cell')")]
        return nb

    path = _broken_copy(sources, "50_long_training", "50_broken", edit)
    found = _run(lab_browser, path, "50_broken")
    assert found == [
        "50_broken: cell 4 ('from e2s_utils import provenance'): saves 1 figure(s) "
        "but shows 0 image(s)",
        "50_broken: cell 5 (\"raise RuntimeError('deliberately broken cell')\"): "
        "RuntimeError: deliberately broken cell",
    ]


def test_parameters_only_papermill_sets_are_caught(lab_browser: Any, sources: Path) -> None:
    def edit(nb: dict[str, Any]) -> dict[str, Any]:
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        src = "".join(cell["source"])
        cell["source"] = re.sub(r'^model: str = "\w+"', "model: str | None = None", src, flags=re.M)
        return nb

    path = _broken_copy(sources, "20_extract", "20_extract_no_model", edit)
    found = _run(lab_browser, path, "20_extract_no_model")
    assert len(found) == 1 and found[0].startswith("20_extract_no_model: cell 3 ("), found


def test_a_kernel_jupyterlab_does_not_offer_is_caught(lab_browser: Any, sources: Path) -> None:
    def edit(nb: dict[str, Any]) -> dict[str, Any]:
        nb["metadata"]["kernelspec"] = {
            "name": "e2s-no-such-kernel",
            "display_name": "Python 3",
            "language": "python",
        }
        return nb

    path = _broken_copy(sources, "50_long_training", "50_unknown_kernel", edit)
    found = _run(lab_browser, path, "50_unknown_kernel")
    assert len(found) == 1 and "kernel 'e2s-no-such-kernel' is not offered" in found[0], found


def test_a_missing_widget_extension_is_caught(lab_browser: Any, sources: Path) -> None:
    nb = {
        "cells": [_code("import ipywidgets\n\nipywidgets.IntSlider(value=3, description='k')")],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (sources / "widget_only.ipynb").write_text(json.dumps(nb))
    browser = lab_browser.fork(block=("**/@jupyter-widgets/**",), workspace="no-widgets")
    try:
        browser.open(f"{SOURCE_DIR}/widget_only.ipynb")
        snapshot = browser.run_all("widget_without_extension")
        browser.close_notebook()
    finally:
        browser.close()
    found = [p for p in problems(snapshot) if "summary" not in p]
    assert len(found) == 1 and "jupyterlab_widgets" in found[0], found
    assert found[0].startswith("widget_without_extension: cell 0 ('import ipywidgets')")
