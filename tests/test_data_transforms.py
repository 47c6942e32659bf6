"""Transforms by band name: selection, +1000 shift, both statistics tables, resize, seasons."""

from __future__ import annotations

import pytest
import torch

from e2s_utils.bands import BANDS, PRITHVI_STATS, STATS
from e2s_utils.data import transforms as T


def _cube(modality: str, batch: bool = False, size: int = 16) -> torch.Tensor:
    c = len(BANDS[modality])
    # value = 100 * band index + season, so selections are easy to check
    x = (torch.arange(c).view(1, c, 1, 1) * 100.0 + torch.arange(4).view(4, 1, 1, 1)).expand(
        4, c, size, size
    )
    x = x.clone()
    return x.unsqueeze(0).repeat(2, 1, 1, 1, 1) if batch else x


@pytest.mark.parametrize("batch", [False, True])
def test_select_bands_by_name_in_given_order(batch: bool) -> None:
    x = _cube("s2l1c", batch)
    out = T.select_bands(x, "s2l1c", ["B8A", "B02", "B10"])
    assert out.shape[-3] == 3 and out.ndim == x.ndim
    assert out[..., 0, 0, 0].flatten()[0] == 800  # B8A is index 8 in L1C
    assert out[..., 1, 0, 0].flatten()[0] == 100
    assert out[..., 2, 0, 0].flatten()[0] == 1000
    # L2A has no B10 and B11 sits at index 10
    y = T.select_bands(_cube("s2l2a", batch), "s2l2a", ["B11"])
    assert y[..., 0, 0, 0].flatten()[0] == 1000
    with pytest.raises(KeyError, match="B10"):
        T.select_bands(_cube("s2l2a"), "s2l2a", ["B10"])
    with pytest.raises(ValueError, match="13 bands"):
        T.select_bands(_cube("s2l2a"), "s2l1c", ["B02"])


def test_shift_and_normalise_with_both_tables() -> None:
    x = _cube("s2l2a")
    bands = ["B04", "B08"]
    sel = T.select_bands(x, "s2l2a", bands)
    v11 = T.normalize(T.shift_s2(sel), "s2l2a", bands, "v1.1")
    raw = T.normalize(sel, "s2l2a", bands, "downstream")
    m, s = STATS["v1.1"]["s2l2a"].select(bands)
    assert torch.allclose(v11[0, 0], (sel[0, 0] + 1000 - m[0]) / s[0])
    m, s = STATS["downstream"]["s2l2a"].select(bands)
    assert torch.allclose(raw[2, 1], (sel[2, 1] - m[1]) / s[1])
    p = T.normalize(
        sel,
        "s2l2a",
        bands,
        PRITHVI_STATS.__class__({"B04": 10.0, "B08": 0.0}, {"B04": 2.0, "B08": 1.0}),
    )
    assert torch.allclose(p[0, 0], (sel[0, 0] - 10.0) / 2.0)
    s1 = T.normalize(_cube("s1"), "s1", None, "downstream")
    assert torch.allclose(s1[0, 0, 0, 0], torch.tensor((0 - -11.834) / 4.305))
    with pytest.raises(ValueError, match="channels"):
        T.normalize(sel, "s2l2a", ["B04"], "v1.1")


def test_resize_is_antialiased_and_keeps_rank() -> None:
    x = torch.zeros(2, 4, 3, 264, 264)
    x[..., ::2, :] = 1.0  # one-pixel stripes: aliasing would keep them at 0/1
    out = T.resize(x, 100)
    assert out.shape == (2, 4, 3, 100, 100)
    assert out.min() > 0.4 and out.max() < 0.6
    plain = T.resize(x, 100, antialias=False)
    assert plain.max() - plain.min() > 0.9
    assert T.resize(x, 224).shape == (2, 4, 3, 224, 224)
    assert T.resize(x[0], (256, 128)).shape == (4, 3, 256, 128)
    assert T.resize(x, 264) is x


def test_select_seasons_by_name_or_index() -> None:
    x = _cube("s1", batch=True)
    out = T.select_seasons(x, ["winter", "spring"])
    assert out.shape == (2, 2, 2, 16, 16)
    assert out[0, 0, 0, 0, 0] == 3 and out[0, 1, 0, 0, 0] == 0
    assert torch.equal(T.select_seasons(x, [1]), x[:, 1:2])
    with pytest.raises(KeyError, match="autumn"):
        T.select_seasons(x, ["autumn"])
    with pytest.raises(IndexError):
        T.select_seasons(x, [4])


def test_prepare_chains_the_steps() -> None:
    x = _cube("s2l1c", batch=True, size=32)
    out = T.prepare(
        x, "s2l1c", ["B04", "B03", "B02"], shift=True, stats="v1.1", size=16, seasons=["summer"]
    )
    assert out.shape == (2, 1, 3, 16, 16)
    m, s = STATS["v1.1"]["s2l1c"].select(["B04"])
    assert torch.allclose(out[0, 0, 0], torch.full((16, 16), (301 + 1000 - m[0]) / s[0]))
    with pytest.raises(ValueError, match="S1"):
        T.prepare(_cube("s1"), "s1", shift=True)
    with pytest.raises(ValueError, match="expected"):
        T.select_seasons(torch.zeros(3, 3, 3), None)
