"""Exploration widgets for the notebooks: a cube viewer, a fusion-checkpoint and an ablation explorer.

Each explorer is a small function returning an :class:`Explorer`; as the last expression of a cell
it shows live ipywidgets pickers in JupyterLab and, under papermill or nbval, the figures of its
default state as static PNG images (byte-stable executed copies). The rule, in
:func:`widget_mode`: ``E2S_WIDGETS=live|static`` forces the mode; otherwise an explorer is live
only in a kernel that a Jupyter server started for a notebook session (``JPY_SESSION_NAME`` set).

``e2s lab`` (:mod:`e2s_utils.explore.lab`) opens the study in JupyterLab.
"""

from __future__ import annotations

from e2s_utils.explore.ablation import ablation_explorer, ablation_fold_scores
from e2s_utils.explore.base import MODE_ENV, Choice, Explorer, widget_mode
from e2s_utils.explore.cube import cube_viewer
from e2s_utils.explore.fusion import checkpoint_embedder, fusion_explorer

__all__ = [
    "MODE_ENV",
    "Choice",
    "Explorer",
    "ablation_explorer",
    "ablation_fold_scores",
    "checkpoint_embedder",
    "cube_viewer",
    "fusion_explorer",
    "widget_mode",
]
