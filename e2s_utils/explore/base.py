"""The explorer machinery: declarative pickers, a render function, live widgets or static images.

An :class:`Explorer` holds a few :class:`Choice` pickers and a function that draws the figures of
one state (one value per picker). Displayed in a notebook it shows either

* **live** (JupyterLab): ipywidgets pickers above the figures, rendered as PNG images that are
  redrawn whenever a picker changes; or
* **static** (papermill, nbval, a plain IPython): the figures of the default state as PNG images,
  and no widget at all, so an executed copy stays byte-stable (widget models carry random ids).

:func:`widget_mode` decides, from the environment variable ``E2S_WIDGETS``:

* ``static`` or ``live`` forces the mode (the runner and ``scripts/test.sh`` set ``static``);
* unset, empty or ``auto``: ``live`` when the kernel was started by a Jupyter server for a
  notebook session (Jupyter Server puts ``JPY_SESSION_NAME`` into every such kernel's
  environment: JupyterLab, Notebook 7) and ``static`` otherwise.

Figures are drawn with object-oriented matplotlib under a local style (:func:`study_style`), turned
into PNG bytes and closed (:func:`figure_png`); nothing touches pyplot's global state.
"""

from __future__ import annotations

import html
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WidgetMode = Literal["live", "static"]
#: The environment variable that forces the mode (``live``, ``static`` or ``auto``).
MODE_ENV = "E2S_WIDGETS"
#: Set by Jupyter Server in the environment of every kernel it starts for a notebook session.
SESSION_ENV = "JPY_SESSION_NAME"
#: CSS class of an explorer's outer box (the browser test looks for it).
EXPLORER_CLASS = "e2s-explorer"
#: CSS class of the status line that shows an error raised while redrawing.
ERROR_CLASS = "e2s-explorer-error"
#: Resolution of the PNG images an explorer shows.
DPI = 90

log = logging.getLogger(__name__)

Options = Sequence[tuple[str, Any]]


def widget_mode(environ: Mapping[str, str] | None = None) -> WidgetMode:
    """Whether explorers render as live widgets or as static images (see the module docstring).

    Args:
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``"live"`` or ``"static"``.

    Raises:
        ValueError: when ``E2S_WIDGETS`` holds anything but ``live``, ``static``, ``auto`` or nothing.
    """
    env = os.environ if environ is None else environ
    value = env.get(MODE_ENV, "").strip().lower()
    if value in ("live", "static"):
        return value  # type: ignore[return-value]
    if value not in ("", "auto"):
        raise ValueError(
            f"{MODE_ENV}={value!r}: use 'live', 'static' or 'auto' (or leave it unset)"
        )
    return "live" if env.get(SESSION_ENV) else "static"


@contextmanager
def study_style() -> Iterator[None]:
    """Apply the study's matplotlib style inside the block only; rcParams are restored after."""
    from e2s_utils.plots.style import STYLE

    with matplotlib.rc_context(STYLE):
        yield


def close_figure(fig: Figure) -> None:
    """Release a figure: pyplot-managed figures are closed there, plain ``Figure`` objects cleared."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    else:
        fig.clear()


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes without a software tag (byte-stable), then closed.

    Args:
        fig: the figure (closed afterwards, whether pyplot manages it or not).
        dpi: resolution of the image.
    """
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    finally:
        close_figure(fig)
    return buf.getvalue()


def message_figure(text: str, size: tuple[float, float] = (5.0, 1.2)) -> Figure:
    """A small figure that only says ``text`` (what an explorer shows when it has nothing to draw)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True, color="0.3")
    return fig


@dataclass
class Choice:
    """One picker of an explorer.

    Attributes:
        name: the key of its value in the explorer's state.
        label: the text shown beside the picker.
        options: ``(label, value)`` pairs, or a function of the current state returning them
            (for a picker whose options depend on another picker listed before it).
        value: the default value (``None``: the first option's).
        kind: ``dropdown`` or ``toggle`` (a row of buttons, for a few short options).
    """

    name: str
    label: str
    options: Options | Callable[[Mapping[str, Any]], Options]
    value: Any = None
    kind: Literal["dropdown", "toggle"] = "dropdown"

    def options_for(self, state: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The options in a given state.

        Raises:
            ValueError: when there is no option.
        """
        opts = list(self.options(state) if callable(self.options) else self.options)
        if not opts:
            raise ValueError(f"picker {self.name!r} has no options")
        return opts


Render = Callable[[Mapping[str, Any]], Sequence["Figure"]]
Caption = Callable[[Mapping[str, Any]], str]


class Explorer:
    """Pickers and the figures they select; displays live (widgets) or static (images).

    Args:
        choices: the pickers, in display order.
        render: draws the figures of a state (``{choice name: value}``); called again whenever a
            picker changes. The figures are converted to PNG and closed by the explorer.
        caption: an optional one-line text for a state, shown above the figures.
        title: a heading shown above the pickers.
        mode: ``live`` or ``static`` (default: :func:`widget_mode`).

    Attributes:
        state: the current value of every picker.
        widget: the ipywidgets box (built on first use; only in live mode).
    """

    def __init__(
        self,
        choices: Sequence[Choice],
        render: Render,
        *,
        caption: Caption | None = None,
        title: str = "",
        mode: WidgetMode | None = None,
    ) -> None:
        names = [c.name for c in choices]
        if len(set(names)) != len(names):
            raise ValueError(f"picker names must be unique, got {names}")
        self.choices = list(choices)
        self.render = render
        self.caption = caption
        self.title = title
        self.mode: WidgetMode = mode or widget_mode()
        if self.mode not in ("live", "static"):
            raise ValueError(f"mode must be 'live' or 'static', not {self.mode!r}")
        self.state: dict[str, Any] = {}
        for choice in self.choices:
            self.state[choice.name] = self._valid(choice, choice.value)
        self._widget: Any = None
        self._pickers: dict[str, Any] = {}
        self._images: list[Any] = []
        self._status: Any = None
        self._syncing = False

    # ------------------------------------------------------------------ state
    def _valid(self, choice: Choice, value: Any) -> Any:
        values = [v for _, v in choice.options_for(self.state)]
        if value is None or value not in values:
            return values[0]
        return value

    def images(self, state: Mapping[str, Any] | None = None) -> list[bytes]:
        """PNG images of a state (default: the current one), drawn under the study's style."""
        with study_style():
            figures = list(self.render(dict(self.state if state is None else state)))
            return [figure_png(fig) for fig in figures]

    def text(self, state: Mapping[str, Any] | None = None) -> str:
        """The caption of a state (empty without a caption function)."""
        return self.caption(dict(self.state if state is None else state)) if self.caption else ""

    # ------------------------------------------------------------------ live mode
    @property
    def widget(self) -> Any:
        """The live widget: a box of pickers, a status line and one image per figure."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    @property
    def pickers(self) -> dict[str, Any]:
        """The picker widgets by choice name (builds the widget)."""
        _ = self.widget
        return self._pickers

    @property
    def image_widgets(self) -> list[Any]:
        """The image widgets, one per figure (builds the widget)."""
        _ = self.widget
        return self._images

    @property
    def status(self) -> Any:
        """The HTML status line: the caption, or the error of the last redraw (builds the widget)."""
        _ = self.widget
        return self._status

    def _build(self) -> Any:
        import ipywidgets as widgets

        for choice in self.choices:
            opts = choice.options_for(self.state)
            cls = widgets.ToggleButtons if choice.kind == "toggle" else widgets.Dropdown
            picker = cls(
                options=opts,
                value=self.state[choice.name],
                description=choice.label,
                style={"description_width": "initial"},
            )
            picker.observe(self._on_change(choice.name), names="value")
            self._pickers[choice.name] = picker
        self._status = widgets.HTML()
        self._status.add_class("e2s-explorer-status")
        pngs = self._safe_images()
        self._images = [widgets.Image(value=png, format="png") for png in pngs]
        for image in self._images:
            image.layout.max_width = "100%"
        head = [widgets.HTML(f"<b>{html.escape(self.title)}</b>")] if self.title else []
        controls = widgets.HBox(list(self._pickers.values()), layout={"flex_flow": "row wrap"})
        figures = widgets.HBox(self._images, layout={"flex_flow": "row wrap"})
        box = widgets.VBox([*head, controls, self._status, figures])
        box.add_class(EXPLORER_CLASS)
        return box

    def _on_change(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if self._syncing:
                return
            self.state[name] = change["new"]
            self._sync_options()
            self.refresh()

        return handler

    def _sync_options(self) -> None:
        """Recompute dependent options; keep each value if still offered, else take the first."""
        self._syncing = True
        try:
            for choice in self.choices:
                if not callable(choice.options):
                    continue
                opts = choice.options_for(self.state)
                value = self._valid(choice, self.state[choice.name])
                picker = self._pickers.get(choice.name)
                if picker is not None and list(picker.options) != opts:
                    picker.options = opts
                    picker.value = value
                self.state[choice.name] = value
        finally:
            self._syncing = False

    def _safe_images(self) -> list[bytes]:
        """Images of the current state; an error is shown in the status line and logged."""
        try:
            pngs = self.images()
        except Exception as err:  # noqa: BLE001 - a widget callback has no caller to raise to
            log.exception("explorer redraw failed for %s", self.state)
            self._status.value = f"redraw failed: {html.escape(f'{type(err).__name__}: {err}')}"
            self._status.add_class(ERROR_CLASS)
            return []
        self._status.remove_class(ERROR_CLASS)
        self._status.value = html.escape(self.text())
        return pngs

    def refresh(self) -> None:
        """Redraw the figures of the current state into the image widgets."""
        if self._widget is None:
            return
        pngs = self._safe_images()
        for image, png in zip(self._images, pngs):
            image.value = png

    def select(self, **values: Any) -> None:
        """Set pickers by name (as a reader would) and redraw; live or static."""
        unknown = [k for k in values if k not in self.state]
        if unknown:
            raise KeyError(f"no picker {unknown}; pickers are {list(self.state)}")
        for name, value in values.items():
            choice = next(c for c in self.choices if c.name == name)
            if value not in [v for _, v in choice.options_for(self.state)]:
                raise ValueError(f"{value!r} is not an option of picker {name!r}")
            if self._widget is not None:
                self._pickers[name].value = value  # fires the observer, which redraws
            else:
                self.state[name] = value
                self._sync_options()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import Image, display

        if self.mode == "live":
            display(self.widget)
            return
        caption = self.text()
        if caption:
            print(caption)
        for png in self.images():
            display(Image(data=png, format="png"))
