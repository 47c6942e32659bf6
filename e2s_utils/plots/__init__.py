"""Every figure of the study: one function per figure, DataFrames and arrays in, figures out.

Figure functions live in ``e2s_utils/plots/<area>.py``, take plain DataFrames or arrays (never a
result object of another stage), build an object-oriented figure inside the study's style
(:mod:`e2s_utils.plots.style`, applied locally) and return it unsaved. Notebooks save through
:func:`e2s_utils.provenance.save_figure`, which stamps synthetic or randomly initialised runs,
records provenance and returns something a notebook displays as the saved PNG.
"""

from __future__ import annotations

from e2s_utils.plots.style import MSE_COLOR, PALETTE, Q_COLOR, STYLE, new_figure, styled

__all__ = ["MSE_COLOR", "PALETTE", "Q_COLOR", "STYLE", "new_figure", "styled"]
