"""Judge what JupyterLab showed for one notebook: errors, figures, widgets, the summary, the kernel.

The browser driver (``labdriver.py``) collects a :class:`NotebookSnapshot` from the running page:
per cell the notebook model's outputs (what the kernel sent) and the rendered DOM (what the reader
sees). :func:`problems` turns a snapshot into human-readable problems, each naming the notebook and
the cell (0-based index in the notebook, as the runner counts, and the cell's first line). It needs
no browser, so its rules are unit tested on hand-made snapshots.

Rules:

* the kernel the notebook names must be one JupyterLab offers, started without a kernel dialog;
* no cell shows an error, and every code cell ran (unless an earlier cell failed);
* a cell that saves ``k`` figures (``save_figure(`` calls) shows at least ``k`` loaded images, and
  no figure is shown as ``<Figure size ...>`` text;
* every widget output (``application/vnd.jupyter.widget-view+json``) is rendered by the widget
  manager, not replaced by its text fallback (a missing ``jupyterlab_widgets`` extension);
* every cell tagged ``explorer`` renders a live explorer without error, and changing its pickers
  changes its figures;
* the code cell after the ``## Summary`` heading prints something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDOUT_MIME = "application/vnd.jupyter.stdout"
FIGURE_TEXT = re.compile(r"<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>")
WIDGET_ERRORS = ("Error displaying widget", "Loading widget...")
EXPLORER_TAG = "explorer"


@dataclass
class CellSnapshot:
    """One cell as JupyterLab holds and shows it.

    Attributes:
        index: position in the notebook (0-based).
        cell_type: ``code``, ``markdown`` or ``raw``.
        source: the cell's source.
        tags: the cell's metadata tags.
        execution_count: the model's execution count (``None``: never ran).
        outputs: the model's outputs in nbformat shape (image data replaced by its length).
        dom_mimes: the mime type each rendered output element carries.
        dom_texts: the visible text of each rendered output element (truncated).
        dom_images: loaded ``<img>`` elements in the cell's output area.
        dom_widgets: rendered output elements holding a widget view (``.jupyter-widgets``).
        explorers: rendered explorer boxes in the cell.
        explorer_errors: texts of explorer status lines that show an error.
        interactions: picker changes made by the driver: ``picker``, ``changed``, ``error``.
    """

    index: int
    cell_type: str
    source: str
    tags: list[str] = field(default_factory=list)
    execution_count: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    dom_mimes: list[str] = field(default_factory=list)
    dom_texts: list[str] = field(default_factory=list)
    dom_images: int = 0
    dom_widgets: int = 0
    explorers: int = 0
    explorer_errors: list[str] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def head(self) -> str:
        """The first non-empty source line, shortened."""
        lines = [ln for ln in self.source.strip().splitlines() if ln.strip()]
        return lines[0][:60] if lines else ""

    @property
    def where(self) -> str:
        return f"cell {self.index} ({self.head!r})"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellSnapshot:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class NotebookSnapshot:
    """A notebook after "Run All Cells" in JupyterLab.

    Attributes:
        name: the notebook's name (for messages).
        kernel_wanted: the kernel name in the notebook's metadata.
        kernel_started: the kernel name of the running session (``None``: none started).
        kernels_offered: the kernel names JupyterLab offers.
        dialog: the text of a dialog JupyterLab showed on opening (a kernel picker), if any.
        finished: whether the run finished (kernel idle, no cell pending) within the time limit.
        dialog_after: the text of a dialog JupyterLab showed during the run (a dead kernel).
        cells: the cells in order.
    """

    name: str
    kernel_wanted: str
    kernel_started: str | None
    kernels_offered: list[str]
    dialog: str | None = None
    finished: bool = True
    dialog_after: str | None = None
    cells: list[CellSnapshot] = field(default_factory=list)


def _errors(cell: CellSnapshot) -> list[str]:
    out = []
    for o in cell.outputs:
        if o.get("output_type") == "error":
            out.append(f"{o.get('ename', 'Error')}: {o.get('evalue', '')}".strip())
    return out


def _has_data(cell: CellSnapshot, mime: str) -> int:
    return sum(1 for o in cell.outputs if mime in (o.get("data") or {}))


def summary_cell(cells: list[CellSnapshot]) -> CellSnapshot | None:
    """The first code cell after the last markdown cell with a ``## Summary`` heading."""
    heads = [
        c.index
        for c in cells
        if c.cell_type == "markdown" and re.search(r"^##\s+Summary\b", c.source, re.M)
    ]
    if not heads:
        return None
    return next((c for c in cells if c.index > heads[-1] and c.cell_type == "code"), None)


def problems(nb: NotebookSnapshot) -> list[str]:
    """Every problem of a snapshot, each as ``"<notebook>: <where>: <what>"``."""
    found: list[str] = []

    def say(where: str, what: str) -> None:
        found.append(f"{nb.name}: {where}: {what}")

    if nb.dialog or nb.kernel_started != nb.kernel_wanted:
        offered = ", ".join(nb.kernels_offered) or "none"
        say(
            "kernel",
            f"the notebook's kernel {nb.kernel_wanted!r} is not offered by this JupyterLab "
            f"(offers: {offered}; started: {nb.kernel_started}; dialog: {nb.dialog!r})",
        )
        return found
    if nb.dialog_after:
        say("run", f"JupyterLab interrupted the run with a dialog: {nb.dialog_after[:200]!r}")
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    failed = bool(nb.dialog_after)
    for cell in code:
        errors = _errors(cell)
        for error in errors:
            say(cell.where, error)
        if errors:
            failed = True
            continue
        if cell.execution_count is None:
            if not failed:
                say(cell.where, "never ran")
            continue
        saved = len(re.findall(r"\bsave_figure\(", cell.source))
        if saved and cell.dom_images < saved:
            say(cell.where, f"saves {saved} figure(s) but shows {cell.dom_images} image(s)")
        as_text = [t for t in cell.dom_texts if FIGURE_TEXT.search(t)]
        if as_text:
            say(cell.where, f"a figure is shown as text, not as an image: {as_text[0][:60]!r}")
        widgets = _has_data(cell, WIDGET_MIME)
        rendered = cell.dom_widgets
        broken = [t for t in cell.dom_texts if any(e in t for e in WIDGET_ERRORS)]
        if widgets and (rendered < widgets or broken):
            say(
                cell.where,
                f"{widgets} widget output(s), {rendered} rendered as widgets"
                + (f" ({broken[0][:60]!r})" if broken else "")
                + ": is the ipywidgets JupyterLab extension (jupyterlab_widgets) installed?",
            )
        if EXPLORER_TAG in cell.tags and not cell.explorers:
            say(cell.where, "an explorer cell shows no live explorer")
        for text in cell.explorer_errors:
            say(cell.where, f"the explorer shows an error: {text[:120]}")
        for act in cell.interactions:
            if act.get("error"):
                say(cell.where, f"changing {act.get('picker')!r} failed: {act['error']}")
            elif not act.get("changed"):
                say(cell.where, f"changing {act.get('picker')!r} did not change the figures")
    if not nb.finished:
        say("run", "did not finish (kernel still busy or cells pending) within the time limit")
    if not failed:
        summary = summary_cell(nb.cells)
        if summary is None:
            say("summary", "no code cell after a '## Summary' heading")
        else:
            printed = [
                t
                for m, t in zip(summary.dom_mimes, summary.dom_texts)
                if m == STDOUT_MIME and t.strip()
            ]
            if not printed:
                say(summary.where, "the summary cell printed nothing")
    return found
