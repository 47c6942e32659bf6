"""The study's figure style: applied inside each figure function, never to global settings."""

from __future__ import annotations

import matplotlib
from matplotlib.figure import Figure

from e2s_utils.plots import PALETTE, STYLE, new_figure, styled


def test_styled_applies_the_style_only_inside() -> None:
    seen = {}

    @styled
    def figure() -> Figure:
        seen.update({k: matplotlib.rcParams[k] for k in STYLE})
        return new_figure(figsize=(2, 2))

    before = dict(matplotlib.rcParams)
    fig = figure()
    assert isinstance(fig, Figure) and fig.get_size_inches().tolist() == [2.0, 2.0]
    assert seen == {k: matplotlib.rcParams.validate[k](v) for k, v in STYLE.items()}
    assert dict(matplotlib.rcParams) == before
    assert figure.__name__ == "figure"


def test_every_model_has_a_colour() -> None:
    from e2s_utils.config import baselines, foundation_models

    assert set(foundation_models()) | set(baselines()) <= set(PALETTE)
    assert len(set(PALETTE.values())) == len(PALETTE)
