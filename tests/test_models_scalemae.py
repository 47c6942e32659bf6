"""Scale-MAE's ``res``: pinned per preset, handed to the network, recorded, and its effect measured."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from e2s_utils.models import build_extractor, get_spec
from e2s_utils.models.scalemae import RES, RES_CANDIDATES, gsd_after_resize, res_sensitivity

G = torch.Generator().manual_seed(11)
CUBES = {
    "s1": -15 + 4 * torch.randn(3, 4, 2, 264, 264, generator=G),
    "s2l1c": 3000 * torch.rand(3, 4, 13, 264, 264, generator=G),
    "s2l2a": 3000 * torch.rand(3, 4, 12, 264, 264, generator=G),
}


def test_res_is_pinned_per_preset_and_recorded_with_the_recipe() -> None:
    assert RES == {"as_intended": 1.0, "as_published_code": 1.0}
    for preset, value in RES.items():
        recipe = get_spec("scalemae").recipe(preset)
        assert recipe.res == value
        # the store manifest records the recipe as a dict: res travels with it
        assert dataclasses.asdict(recipe)["res"] == value
    assert RES_CANDIDATES == (1.0, 2.5, round(gsd_after_resize(224), 4))
    assert RES_CANDIDATES[-1] == pytest.approx(11.7857, abs=1e-4)


def test_res_sensitivity_measures_the_change_in_z_units() -> None:
    model = build_extractor("scalemae", size="micro", seed=1)
    table = res_sensitivity(model, CUBES, candidates=(1.0, 2.5, 11.79))
    assert isinstance(table, pd.DataFrame) and list(table["res"]) == [1.0, 2.5, 11.79]
    assert set(table.columns) >= {"res", "reference_res", "max_abs_z", "mean_abs_z", "rms_z"}
    assert (table["reference_res"] == 1.0).all()
    ref = table.iloc[0]
    assert ref["max_abs_z"] == 0 and ref["mean_cosine"] == pytest.approx(1.0)
    assert (table["max_abs_z"].iloc[1:] > 0.01).all()
    assert (table["max_abs_z"] >= table["mean_abs_z"]).all()
    assert model.net.res == 1.0  # restored
    # independent computation of one row: global-std z units of the reference embedding
    with torch.inference_mode():
        a = model(CUBES).flatten(1).double()
        with model.using_res(11.79):
            b = model(CUBES).flatten(1).double()
    z = (b - a) / a.std()
    assert table.iloc[2]["max_abs_z"] == pytest.approx(z.abs().max().item(), rel=1e-6)
    assert table.iloc[2]["mean_abs_z"] == pytest.approx(z.abs().mean().item(), rel=1e-6)


def test_res_sensitivity_builds_from_a_name_and_takes_batches() -> None:
    halves = [{k: v[:2] for k, v in CUBES.items()}, {k: v[2:] for k, v in CUBES.items()}]
    by_name = res_sensitivity("scalemae", halves, candidates=(2.5,), reference=1.0, seed=1)
    built = res_sensitivity(build_extractor("scalemae", size="micro", seed=1), CUBES, (2.5,))
    pd.testing.assert_frame_equal(by_name, built, rtol=1e-6)
    other = res_sensitivity(get_spec("scalemae"), CUBES, (1.0,), reference=2.5, seed=1)
    assert other.iloc[0]["reference_res"] == 2.5 and other.iloc[0]["max_abs_z"] > 0


def test_res_sensitivity_refuses_other_models() -> None:
    with pytest.raises(TypeError, match="Scale-MAE"):
        res_sensitivity("dofa", CUBES, (1.0,))
