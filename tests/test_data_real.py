"""Real BigEarthNet example patches, and the synthetic generator's values measured against them."""

from __future__ import annotations

import numpy as np
import pytest

from e2s_utils.bands import BANDS
from e2s_utils.data import real, synthetic


@pytest.fixture(scope="module")
def patches() -> tuple[real.RealPatch, ...]:
    return real.load_patches()


def test_six_paired_patches(patches: tuple[real.RealPatch, ...]) -> None:
    assert len(patches) == 6
    for p in patches:
        assert p.s2l2a.shape == (12, 120, 120) and p.s2l2a.dtype == np.float32
        assert p.s1.shape == (2, 120, 120) and np.isfinite(p.s1).all()
        assert p.labels and p.season in ("spring", "summer", "fall", "winter")
        # the pair is from (nearly) the same day: the S1 name carries the date
        assert p.s1_name.split("_")[4][:6] == p.name.split("_")[2][:6]
    # 20 m bands were stored at 60 x 60 and are repeated onto the 10 m grid
    b05 = patches[0].s2l2a[BANDS["s2l2a"].index("B05")]
    assert (b05[::2, ::2] == b05[1::2, 1::2]).all()
    summer = [p for p in patches if p.season == "summer"]
    nir = np.median([np.median(p.s2l2a[BANDS["s2l2a"].index("B08")]) for p in summer])
    red = np.median([np.median(p.s2l2a[BANDS["s2l2a"].index("B04")]) for p in summer])
    assert nir > 3 * red  # real summer vegetation


def test_synthetic_distributions_match_real(patches: tuple[real.RealPatch, ...]) -> None:
    scenes = [synthetic.generate_scene(0, i) for i in range(8)]
    l2a = np.stack([s.s2l2a for s in scenes]).astype(np.float32)  # (n, 4, 12, H, W)
    real_med = real.band_medians(patches)
    for i, band in enumerate(BANDS["s2l2a"]):
        values = l2a[:, :, i]
        synth_med = float(np.median(values[values > 0]))
        ratio = synth_med / real_med[band]
        assert 0.5 < ratio < 2.0, (band, synth_med, real_med[band])
    s1 = np.stack([s.s1 for s in scenes])
    real_s1 = real.s1_means(patches)
    for i, pol in enumerate(BANDS["s1"]):
        assert abs(float(s1[:, :, i].mean()) - real_s1[pol]) < 3.0, pol
