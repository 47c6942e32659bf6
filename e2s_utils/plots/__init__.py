"""Every figure of the study: one function per figure, one shared style.

Figure functions live in ``e2s_utils/plots/<area>.py`` and return a matplotlib ``Figure``; they never
save it. Notebooks save through :func:`e2s_utils.provenance.save_figure`, which stamps synthetic or
randomly initialised runs and records provenance.
"""

from __future__ import annotations

import matplotlib

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


def apply_style() -> None:
    """Apply the study's matplotlib style (readable sizes, no clutter, stable file output)."""
    matplotlib.rcParams.update(
        {
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
    )
