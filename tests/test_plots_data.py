"""Figures of the data tour: composites, the band catalogue, seasons, label distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from e2s_utils.bands import BANDS
from e2s_utils.data.labels import labels_frame
from e2s_utils.plots import data as D
from tests.helpers import label_task, make_ids


def test_composites_scale_and_clip() -> None:
    image = np.zeros((12, 2, 2), np.float32)
    image[BANDS["s2l2a"].index("B04")] = D.RGB_SCALE * 2  # saturated red
    image[BANDS["s2l2a"].index("B03")] = D.RGB_SCALE
    rgb = D.composite(image, "s2l2a")
    assert rgb.shape == (2, 2, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(rgb[0, 0], [1.0, 1.0, 0.0])
    sar = D.sar_composite(np.stack([np.full((2, 2), -25.0), np.full((2, 2), -7.0)]))
    np.testing.assert_allclose(sar[0, 0], [0.0, 1.0, 0.0])


def test_band_catalogue_and_seasons() -> None:
    fig = D.band_catalogue()
    assert len(fig.axes) == 1 and "Sentinel-2 bands" in fig.axes[0].get_title()
    cube = {
        "s2l2a": np.full((4, 12, 8, 8), 1000, np.uint16),
        "s1": np.full((4, 2, 8, 8), -10.0, np.float32),
    }
    fig = D.seasons(cube, title="one sample")
    # rows: L2A true colour, L2A false colour, S1; one column per season
    assert len(fig.axes) == 3 * 4 and fig.axes[0].get_title() == "spring"


def test_label_distributions_from_the_long_frame() -> None:
    ids = make_ids(10)
    tasks = {
        "crops": label_task("crops", ids[:5], np.linspace(0, 1, 5)),
        "random_cls": label_task("random_cls", ids, [0.0, 1.0] * 5, "classification"),
    }
    frame = labels_frame(tasks)
    fig = D.label_distributions(frame, n_samples=10, max_cols=4)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in visible]
    assert titles == ["crops (reg.)\n5 ids, 50%", "random_cls (cla.)\n10 ids, 100%"]
    assert sum(p.get_height() for p in visible[1].patches) == 10
    more = pd.concat([frame.assign(task=frame["task"] + f"_{k}") for k in range(3)])
    fig = D.label_distributions(more, n_samples=10, max_cols=4)
    assert len(fig.axes) == 8 and sum(ax.get_visible() for ax in fig.axes) == 6
