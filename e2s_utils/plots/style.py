"""The study's figure style, applied locally: never by rewriting global ``rcParams``.

Figure functions are decorated with :func:`styled`, which builds the figure inside
``matplotlib.rc_context(STYLE)``; :func:`e2s_utils.provenance.save_figure` renders it inside the
same context, so the files look the same whatever the caller's own matplotlib settings are.
Figures are object-oriented (:class:`matplotlib.figure.Figure`, not pyplot), so nothing keeps them
alive after they are saved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import matplotlib
from matplotlib.figure import Figure

#: The rcParams every figure is built and rendered with.
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "svg.hashsalt": "e2s",
    "pdf.fonttype": 42,
}
#: Colours shared by every figure: one per foundation model, then baselines and the fusion.
PALETTE: dict[str, str] = {
    "copernicusfm": "#1b9e77",
    "dofa": "#d95f02",
    "croma": "#7570b3",
    "prithvi": "#e7298a",
    "scalemae": "#66a61e",
    "fusion": "#000000",
    "engineered": "#a6761d",
    "rcf": "#666666",
    "mean_baseline": "#999999",
    "random": "#cccccc",
}
Q_COLOR = "#2166ac"
MSE_COLOR = "#b2182b"

P = ParamSpec("P")
R = TypeVar("R")


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Run a figure function inside ``matplotlib.rc_context(STYLE)``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(**kwargs: Any) -> Figure:
    """An object-oriented figure (no pyplot state); call inside a :func:`styled` function."""
    return Figure(**kwargs)
