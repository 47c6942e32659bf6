"""Cube transforms addressed by band name: selection, +1000 shift, normalisation, resize, seasons.

Every function takes a float tensor whose last four dims are ``(T, C, H, W)`` (seasons, bands,
rows, columns), i.e. a single cube ``(T, C, H, W)`` or a batch ``(B, T, C, H, W)``, and returns
a new tensor of the same rank. Bands are named as in :data:`e2s_utils.bands.BANDS`; the
modality fixes how names map to channel indices and which statistics apply.

The two valid normalisation pairings of SPEC 1.4 are ``shift_s2`` + ``stats="v1.1"`` (the
SSL4EO-S12 v1.1 pretraining convention) and no shift + ``stats="downstream"``.
:func:`prepare` chains the steps in the order a model recipe needs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from e2s_utils.bands import (
    BANDS,
    S2_OFFSET_V11,
    SEASONS,
    STATS,
    BandStats,
    Modality,
    StatsTable,
    band_indices,
)


def _check(x: torch.Tensor) -> None:
    if x.ndim not in (4, 5):
        raise ValueError(f"expected (T, C, H, W) or (B, T, C, H, W), got shape {tuple(x.shape)}")


def select_bands(
    x: torch.Tensor, modality: Modality, bands: Sequence[str] | None = None
) -> torch.Tensor:
    """Keep the named bands of a modality's cube, in the order given.

    Args:
        x: ``(..., T, C, H, W)`` with all of ``modality``'s bands in file order.
        modality: ``s1``, ``s2l1c`` or ``s2l2a``.
        bands: band names (``None``: all, unchanged).

    Returns:
        ``(..., T, len(bands), H, W)``.

    Raises:
        KeyError: for a band the modality does not have.
        ValueError: if ``x`` does not have the modality's band count.
    """
    _check(x)
    if x.shape[-3] != len(BANDS[modality]):
        raise ValueError(
            f"{modality} cube must have {len(BANDS[modality])} bands on dim -3, got {x.shape[-3]}"
        )
    if bands is None:
        return x
    idx = torch.as_tensor(band_indices(modality, list(bands)), device=x.device)
    return x.index_select(-3, idx)


def shift_s2(x: torch.Tensor, offset: float = S2_OFFSET_V11) -> torch.Tensor:
    """Add the SSL4EO-S12 v1.1 offset (+1000) to S2 digital numbers (never apply to S1)."""
    _check(x)
    return x + offset


def normalize(
    x: torch.Tensor,
    modality: Modality,
    bands: Sequence[str] | None = None,
    stats: StatsTable | BandStats = "downstream",
    eps: float = 1e-6,
) -> torch.Tensor:
    """Standardise each band with a statistics table: ``(x - mean) / std``.

    Args:
        x: ``(..., T, len(bands), H, W)``: the bands already selected.
        modality: the modality the bands come from.
        bands: the names of ``x``'s channels (``None``: all of the modality's bands).
        stats: ``"v1.1"`` (pair with :func:`shift_s2`), ``"downstream"`` (raw values), or an
            explicit :class:`~e2s_utils.bands.BandStats` (e.g. Prithvi's own statistics).
        eps: floor of the standard deviation.

    Returns:
        The standardised tensor.
    """
    _check(x)
    names = list(BANDS[modality] if bands is None else bands)
    if x.shape[-3] != len(names):
        raise ValueError(f"x has {x.shape[-3]} channels but {len(names)} band names were given")
    table = STATS[stats][modality] if isinstance(stats, str) else stats
    mean, std = table.select(names)
    shape = (len(names), 1, 1)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape).clamp_min(eps)
    return (x - m) / s


def resize(x: torch.Tensor, size: int | tuple[int, int], antialias: bool = True) -> torch.Tensor:
    """Bilinear resize of the two spatial dims, antialiased when shrinking.

    Args:
        x: ``(..., T, C, H, W)``.
        size: output size ``S`` or ``(H', W')``.
        antialias: low-pass before shrinking (as ``torchvision`` / PIL do).

    Returns:
        ``(..., T, C, H', W')`` (``x`` itself when the size already matches).
    """
    _check(x)
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == hw:
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, x.shape[-3], *x.shape[-2:])
    out = F.interpolate(flat, size=hw, mode="bilinear", align_corners=False, antialias=antialias)
    return out.reshape(*lead, *hw)


def season_indices(seasons: Sequence[str | int]) -> list[int]:
    """Map season names (``spring``, ``summer``, ``fall``, ``winter``) or indices to indices."""
    out = []
    for s in seasons:
        if isinstance(s, int):
            if not 0 <= s < len(SEASONS):
                raise IndexError(f"season index {s} out of range 0..{len(SEASONS) - 1}")
            out.append(s)
        elif s in SEASONS:
            out.append(SEASONS.index(s))
        else:
            raise KeyError(f"unknown season {s!r}; seasons are {SEASONS}")
    return out


def select_seasons(x: torch.Tensor, seasons: Sequence[str | int] | None = None) -> torch.Tensor:
    """Keep the named seasons (time dim -4), in the order given (``None``: all)."""
    _check(x)
    if seasons is None:
        return x
    idx = torch.as_tensor(season_indices(seasons), device=x.device)
    return x.index_select(-4, idx)


def prepare(
    x: torch.Tensor,
    modality: Modality,
    bands: Sequence[str] | None = None,
    shift: bool = False,
    stats: StatsTable | BandStats | None = "downstream",
    size: int | tuple[int, int] | None = None,
    seasons: Sequence[str | int] | None = None,
) -> torch.Tensor:
    """Band selection, optional +1000 shift (S2 only), normalisation, resize and season selection.

    Args:
        x: a raw cube or batch of one modality (``(..., T, C, H, W)``, float).
        modality: its modality.
        bands: band names to keep (``None``: all).
        shift: add the +1000 offset first (pair with ``stats="v1.1"``).
        stats: statistics table for :func:`normalize` (``None``: no normalisation).
        size: output spatial size (``None``: unchanged).
        seasons: seasons to keep (``None``: all four).

    Returns:
        The model-ready tensor.
    """
    if shift and modality == "s1":
        raise ValueError("the +1000 shift applies to S2 digital numbers, not to S1 dB")
    x = select_seasons(x.float(), seasons)
    x = select_bands(x, modality, bands)
    if shift:
        x = shift_s2(x)
    if stats is not None:
        x = normalize(x, modality, bands, stats)
    if size is not None:
        x = resize(x, size)
    return x
