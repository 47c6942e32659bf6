"""Descents of a validation-MSE curve on the log-epoch axis, and the rate drops that explain them."""

from __future__ import annotations

import pytest

from e2s_utils import studies
from tests.helpers import mse_curve


def test_detector_finds_a_double_descent() -> None:
    e, mse = mse_curve("double")
    a = studies.detect_descents(e, mse)
    assert a.double_descent and len(a.descents) == 2
    assert len(a.maxima) == 1 and 80 < a.maxima[0] < 300
    (s1, e1, d1), (s2, e2, d2) = a.descents
    assert s1 == pytest.approx(1.0) and 8 < e1 < 80 and e2 == pytest.approx(1600, rel=0.01)
    assert s2 == pytest.approx(a.maxima[0]) and d1 > 0 and d2 > 0
    assert list(a.descents_frame().columns) == ["start", "end", "drop"]
    smooth = a.smoothed_frame()
    assert list(smooth.columns) == ["epoch", "val_mse"] and (smooth["val_mse"] > 0).all()


def test_detector_is_robust_to_noise_on_the_log_axis() -> None:
    e, mse = mse_curve("double", noise=0.05, seed=3)
    assert studies.detect_descents(e, mse).double_descent
    e, mse = mse_curve("single", noise=0.05, seed=3)
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and len(a.descents) == 1 and not a.maxima


def test_detector_single_and_u_shapes() -> None:
    e, mse = mse_curve("single")
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and a.descents[0][1] == pytest.approx(1600, rel=0.01)
    e, mse = mse_curve("u")
    a = studies.detect_descents(e, mse)
    assert not a.double_descent and len(a.descents) == 1
    assert 20 < a.descents[0][1] < 60  # the minimum near 10 ** 1.5


def test_detector_on_sparse_log_checkpoints() -> None:
    e, mse = mse_curve("double")
    idx = list(studies.log_spaced_epochs(1600, 30))
    assert studies.detect_descents(e[idx], mse[idx]).double_descent


def test_detector_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        studies.detect_descents([0, 1, 2], [1.0, 0.5, 0.4])
    with pytest.raises(ValueError, match="> 0"):
        studies.detect_descents([1, 2, 3, 4], [1.0, 0.0, 0.4, 0.3])
    with pytest.raises(ValueError, match="epochs but"):
        studies.detect_descents([1, 2, 3], [1.0, 0.5])


def test_rate_drops_that_coincide_with_a_descent() -> None:
    e, mse = mse_curve("double")
    a = studies.detect_descents(e, mse)
    bump = a.maxima[0]
    rows = studies.drop_coincidences(a, [bump * 1.05, 5.0, 0.0])
    assert [r["coincides"] for r in rows] == [True, True]
    assert rows[0]["rate_drops"] == [5.0] and rows[1]["rate_drops"] == [pytest.approx(bump * 1.05)]
    before = studies.drop_coincidences(a, [bump / 10**0.2])  # 0.2 decades before: too early
    assert not before[1]["coincides"]
    assert not any(r["coincides"] for r in studies.drop_coincidences(a, []))
    table = studies.descents_table(a, [960.0, 1440.0])
    assert list(table.columns) == ["start", "end", "drop", "rate_drops", "coincides"]
    assert table.loc[1, "rate_drops"] == "960, 1440" and not table.loc[0, "coincides"]
