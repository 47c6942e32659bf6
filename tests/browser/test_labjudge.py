"""The browser test's judge on hand-made snapshots (no browser): each problem is named, and only it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labdriver import with_parameters
from labjudge import STDOUT_MIME, WIDGET_MIME, CellSnapshot, NotebookSnapshot, problems

from e2s_utils import paths


def _md(i: int, text: str) -> CellSnapshot:
    return CellSnapshot(i, "markdown", text)


def _code(i: int, source: str, **kw: Any) -> CellSnapshot:
    kw.setdefault("execution_count", i)
    return CellSnapshot(i, "code", source, **kw)


def _good() -> list[CellSnapshot]:
    return [
        _md(0, "# Title"),
        _code(1, "x = 1"),
        _code(
            2,
            "fig = plot()\nprovenance.save_figure(fig, 'a', ctx)\nfig",
            outputs=[{"output_type": "display_data", "data": {"image/png": 1234}}],
            dom_mimes=["image/png"],
            dom_texts=[""],
            dom_images=1,
        ),
        _code(
            3,
            "explore.cube_viewer(index)",
            tags=["explorer"],
            outputs=[
                {"output_type": "execute_result", "data": {WIDGET_MIME: {}, "text/plain": "E"}}
            ],
            dom_mimes=[""],
            dom_texts=["Cube viewer"],
            dom_images=1,
            dom_widgets=1,
            explorers=1,
            interactions=[{"picker": "select sample", "changed": True, "error": None}],
        ),
        _md(4, "## Summary"),
        _code(
            5,
            "print(summary)",
            outputs=[{"output_type": "stream", "name": "stdout", "text": "Q 1\n"}],
            dom_mimes=[STDOUT_MIME],
            dom_texts=["Q 1"],
        ),
        _code(6, "# Sanity checks\nassert True"),
    ]


def _nb(cells: list[CellSnapshot], **kw: Any) -> NotebookSnapshot:
    base = {
        "name": "nb",
        "kernel_wanted": "python3",
        "kernel_started": "python3",
        "kernels_offered": ["python3"],
    }
    return NotebookSnapshot(**{**base, **kw}, cells=cells)


def test_a_clean_notebook_has_no_problem() -> None:
    assert problems(_nb(_good())) == []


def test_an_error_is_named_with_its_cell_and_later_cells_are_not_blamed() -> None:
    cells = _good()
    cells[1].outputs = [{"output_type": "error", "ename": "ValueError", "evalue": "bad value"}]
    for c in cells[2:]:
        if c.cell_type == "code":
            c.execution_count = None
    assert problems(_nb(cells)) == ["nb: cell 1 ('x = 1'): ValueError: bad value"]


def test_a_cell_that_never_ran() -> None:
    cells = _good()
    cells[6].execution_count = None
    assert problems(_nb(cells)) == ["nb: cell 6 ('# Sanity checks'): never ran"]


def test_a_figure_saved_but_not_shown() -> None:
    cells = _good()
    cells[2].dom_images, cells[2].outputs, cells[2].dom_mimes = 0, [], []
    assert problems(_nb(cells)) == [
        "nb: cell 2 ('fig = plot()'): saves 1 figure(s) but shows 0 image(s)"
    ]


def test_a_figure_shown_as_text() -> None:
    cells = _good()
    cells[1].dom_texts = ["<Figure size 640x480 with 1 Axes>"]
    assert problems(_nb(cells)) == [
        "nb: cell 1 ('x = 1'): a figure is shown as text, not as an image: "
        "'<Figure size 640x480 with 1 Axes>'"
    ]


def test_a_widget_without_its_extension() -> None:
    cells = _good()
    cells[3].dom_widgets, cells[3].explorers, cells[3].interactions = 0, 0, []
    cells[3].dom_texts = ["Explorer(...)"]
    found = problems(_nb(cells))
    assert len(found) == 2
    assert found[0].startswith(
        "nb: cell 3 ('explore.cube_viewer(index)'): 1 widget output(s), 0 rendered"
    )
    assert "jupyterlab_widgets" in found[0]
    assert (
        found[1]
        == "nb: cell 3 ('explore.cube_viewer(index)'): an explorer cell shows no live explorer"
    )


def test_a_widget_that_failed_to_display() -> None:
    cells = _good()
    cells[3].dom_texts = ["Error displaying widget: model not found"]
    assert "Error displaying widget" in problems(_nb(cells))[0]


def test_an_explorer_that_does_not_react_or_fails() -> None:
    cells = _good()
    cells[3].interactions = [{"picker": "select sample", "changed": False, "error": None}]
    cells[3].explorer_errors = ["redraw failed: KeyError: 'x'"]
    assert problems(_nb(cells)) == [
        "nb: cell 3 ('explore.cube_viewer(index)'): the explorer shows an error: redraw failed: KeyError: 'x'",
        "nb: cell 3 ('explore.cube_viewer(index)'): changing 'select sample' did not change the figures",
    ]


def test_a_silent_or_missing_summary() -> None:
    cells = _good()
    cells[5].dom_mimes, cells[5].dom_texts = [], []
    assert problems(_nb(cells)) == [
        "nb: cell 5 ('print(summary)'): the summary cell printed nothing"
    ]
    assert problems(_nb([c for c in _good() if c.index != 4])) == [
        "nb: summary: no code cell after a '## Summary' heading"
    ]


@pytest.mark.parametrize(("started", "dialog"), [("python3", None), (None, "Select Kernel")])
def test_a_kernel_jupyterlab_does_not_offer(started: str | None, dialog: str | None) -> None:
    found = problems(_nb(_good(), kernel_wanted="venv-e2s", kernel_started=started, dialog=dialog))
    assert len(found) == 1
    assert found[0].startswith("nb: kernel: the notebook's kernel 'venv-e2s' is not offered")


def test_an_unfinished_run() -> None:
    assert problems(_nb(_good(), finished=False)) == [
        "nb: run: did not finish (kernel still busy or cells pending) within the time limit"
    ]


def test_with_parameters_writes_literals_into_the_parameters_cell() -> None:
    nb = json.loads((paths.NOTEBOOKS_DIR / "20_extract.ipynb").read_text())
    out = with_parameters(nb, {"model": "croma", "extract_batch_size": 4})
    cell = next(c for c in out["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    assert "model: str = 'croma'  # registry name" in source
    assert "extract_batch_size: int | None = 4  # cubes per forward pass" in source
    assert out["cells"][3] == nb["cells"][3]  # nothing else changes, nothing is injected
    assert len(out["cells"]) == len(nb["cells"])
    with pytest.raises(KeyError, match="'epochs'"):
        with_parameters(nb, {"epochs": 3})


def test_a_dead_kernel_dialog() -> None:
    cells = _good()
    for c in cells[3:]:
        c.execution_count = None
    found = problems(_nb(cells, dialog_after="Kernel Restarting\nThe kernel appears to have died."))
    assert found == [
        "nb: run: JupyterLab interrupted the run with a dialog: "
        "'Kernel Restarting\\nThe kernel appears to have died.'"
    ]
