"""The data tour's cube viewer: one sample, one season, one sensor, one band combination."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from e2s_utils.bands import SEASONS, Modality
from e2s_utils.data import CubeDataset, SampleIndex, read_cube
from e2s_utils.explore.base import Choice, Explorer, WidgetMode
from e2s_utils.plots import data as data_plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Sensors the viewer offers: label -> modality.
SENSORS: dict[str, Modality] = {"S2 L2A": "s2l2a", "S2 L1C": "s2l1c", "S1": "s1"}
#: Sentinel-2 band combinations (R, G, B), valid for L1C and L2A alike.
S2_COMBINATIONS: dict[str, tuple[str, str, str]] = {
    "true colour (B04, B03, B02)": data_plots.TRUE_COLOUR,
    "false colour (B08, B04, B03)": data_plots.FALSE_COLOUR,
    "SWIR (B12, B8A, B04)": ("B12", "B8A", "B04"),
    "agriculture (B11, B08, B02)": ("B11", "B08", "B02"),
}
#: Sentinel-1 views: one polarisation in dB, their ratio, or the false-colour composite.
S1_VIEWS: tuple[str, ...] = (
    "VV (dB)",
    "VH (dB)",
    "VV/VH ratio (dB)",
    "composite (VV, VH, VV-VH)",
)
#: Display ranges (dB) of the single-channel S1 views.
S1_RANGES: dict[str, tuple[float, float]] = {
    "VV (dB)": (-25.0, 0.0),
    "VH (dB)": (-32.0, -5.0),
    "VV/VH ratio (dB)": (0.0, 15.0),
}


def view_options(modality: Modality) -> list[tuple[str, str]]:
    """The band combinations offered for a sensor, as ``(label, value)`` pairs."""
    names = S1_VIEWS if modality == "s1" else tuple(S2_COMBINATIONS)
    return [(n, n) for n in names]


def render_view(image: np.ndarray, modality: Modality, view: str) -> tuple[np.ndarray, bool]:
    """The display array of one season ``(C, H, W)``: ``(H, W, 3)`` in [0, 1], or ``(H, W)`` in dB.

    Args:
        image: one season of a raw cube (S2 digital numbers, S1 dB).
        modality: ``s1``, ``s2l1c`` or ``s2l2a``.
        view: a label of :func:`view_options` for that modality.

    Returns:
        The array and whether it is a single channel (drawn with a colour bar).

    Raises:
        ValueError: for a view the modality does not offer.
    """
    if modality == "s1":
        vv, vh = image[0], image[1]
        if view == "VV (dB)":
            return vv, True
        if view == "VH (dB)":
            return vh, True
        if view == "VV/VH ratio (dB)":
            return vv - vh, True
        if view == "composite (VV, VH, VV-VH)":
            return data_plots.sar_composite(image), False
    elif view in S2_COMBINATIONS:
        return data_plots.composite(image, modality, S2_COMBINATIONS[view]), False
    offered = [v for v, _ in view_options(modality)]
    raise ValueError(f"view {view!r} is not offered for {modality}; choose from {offered}")


class CubeSource:
    """Reads one modality of one sample through the data package, keeping the last few in memory.

    Args:
        data: a dataset root, a :class:`~e2s_utils.data.SampleIndex` or a
            :class:`~e2s_utils.data.CubeDataset`.
        cache: how many ``(sample, modality)`` cubes to keep.
    """

    def __init__(self, data: Path | str | SampleIndex | CubeDataset, cache: int = 8) -> None:
        if isinstance(data, CubeDataset):
            self.index, self.ids = data.index, list(data.ids)
        else:
            self.index = data if isinstance(data, SampleIndex) else SampleIndex.from_root(data)
            self.ids = list(self.index.ids)
        if not self.ids:
            raise ValueError(f"no samples under {self.index.root}; generate or point to a dataset")
        self.read = functools.lru_cache(maxsize=cache)(self._read)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """The modalities the index holds."""
        return tuple(self.index.modalities)

    def _read(self, sample: str, modality: Modality) -> np.ndarray:
        return read_cube(self.index.path(sample, modality), modality, sample)


def cube_figure(cube: np.ndarray, modality: Modality, season: str, view: str, title: str) -> Figure:
    """One season of one modality in one view, as a figure with a title (and a dB colour bar)."""
    from matplotlib.figure import Figure

    t = SEASONS.index(season)
    shown, single = render_view(cube[t], modality, view)
    fig = Figure(figsize=(4.6 if single else 4.0, 4.2), layout="constrained")
    ax = fig.subplots()
    if single:
        lo, hi = S1_RANGES[view]
        points = ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(points, ax=ax, shrink=0.8, label="dB")
    else:
        ax.imshow(shown, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=8)
    return fig


def cube_viewer(
    data: Path | str | SampleIndex | CubeDataset,
    ids: Sequence[str] | None = None,
    *,
    sample: str | None = None,
    season: str = "summer",
    sensor: str = "S2 L2A",
    max_samples: int = 64,
    mode: WidgetMode | None = None,
) -> Explorer:
    """Browse the cubes: pick a sample, a season, a sensor (S2 L2A, S2 L1C, S1) and a view.

    Sentinel-2 views are band combinations (true colour, false colour, SWIR, agriculture) drawn
    with :func:`e2s_utils.plots.data.composite`; Sentinel-1 views are VV or VH in dB, their ratio,
    or the VV / VH / VV-VH composite.

    Args:
        data: the dataset (root folder, index or cube dataset).
        ids: the samples offered (default: the first ``max_samples`` of the dataset).
        sample: the sample shown first (default: the first offered).
        season: the season shown first.
        sensor: the sensor shown first (a key of :data:`SENSORS`).
        max_samples: how many samples the picker lists when ``ids`` is not given.
        mode: ``live`` or ``static`` (default: :func:`e2s_utils.explore.widget_mode`).

    Returns:
        The explorer (displays itself as the last expression of a cell).

    Raises:
        ValueError: for an unknown sensor or season, or ids the dataset does not hold.
    """
    source = CubeSource(data)
    offered = list(ids) if ids is not None else source.ids[:max_samples]
    unknown = [i for i in offered if i not in source.index]
    if unknown:
        raise ValueError(
            f"{len(unknown)} id(s) not in the dataset under {source.index.root}, e.g. {unknown[0]}"
        )
    sensors = {k: m for k, m in SENSORS.items() if m in source.modalities}
    if sensor not in sensors:
        raise ValueError(f"sensor {sensor!r} not available; choose from {list(sensors)}")
    if season not in SEASONS:
        raise ValueError(f"season {season!r}; choose from {list(SEASONS)}")

    def views(state: Mapping[str, Any]) -> list[tuple[str, str]]:
        return view_options(sensors[state["sensor"]])

    def render(state: Mapping[str, Any]) -> list[Figure]:
        modality = sensors[state["sensor"]]
        cube = source.read(state["sample"], modality)
        title = f"{state['sample'][:20]}  {state['season']}, {state['sensor']} {state['view']}"
        return [cube_figure(cube, modality, state["season"], state["view"], title)]

    choices = [
        Choice("sample", "sample", [(s[:24], s) for s in offered], sample),
        Choice("season", "season", [(s, s) for s in SEASONS], season, kind="toggle"),
        Choice("sensor", "sensor", [(k, k) for k in sensors], sensor, kind="toggle"),
        Choice("view", "view", views),
    ]
    return Explorer(choices, render, title="Cube viewer", mode=mode)
