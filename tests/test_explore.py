"""Exploration widgets, driven without a browser: pickers change the figures, static mode is stable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from e2s_utils import explore
from e2s_utils.data import synthetic
from e2s_utils.data.labels import LabelTask
from e2s_utils.explore import base, cube
from e2s_utils.explore import fusion as fusion_explore

PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ the mode rule
@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, "static"),  # papermill, nbval, a plain IPython
        ({"JPY_SESSION_NAME": "notebooks/10_data_tour.ipynb"}, "live"),  # JupyterLab's kernels
        ({"JPY_SESSION_NAME": "x.ipynb", "E2S_WIDGETS": "static"}, "static"),
        ({"E2S_WIDGETS": "live"}, "live"),
        ({"E2S_WIDGETS": " Auto "}, "static"),
        ({"E2S_WIDGETS": "", "JPY_SESSION_NAME": "x.ipynb"}, "live"),
    ],
)
def test_widget_mode_rule(environ: dict[str, str], mode: str) -> None:
    assert explore.widget_mode(environ) == mode


def test_widget_mode_rejects_a_typo() -> None:
    with pytest.raises(ValueError, match="E2S_WIDGETS='stati'"):
        explore.widget_mode({"E2S_WIDGETS": "stati"})


# ------------------------------------------------------------------ the explorer machinery
def _toy(mode: str, calls: list[dict[str, Any]] | None = None) -> explore.Explorer:
    def letters(state: dict[str, Any]) -> list[tuple[str, str]]:
        return [(c, c) for c in ("ab" if state["case"] == "lower" else "AB")]

    def render(state: dict[str, Any]) -> list[Figure]:
        if calls is not None:
            calls.append(dict(state))
        fig = Figure(figsize=(1, 1))
        fig.text(0.5, 0.5, f"{state['case']} {state['letter']}")
        return [fig]

    choices = [
        explore.Choice("case", "case", [("lower", "lower"), ("upper", "upper")], kind="toggle"),
        explore.Choice("letter", "letter", letters, "b"),
    ]
    return explore.Explorer(choices, render, caption=lambda s: f"{s['letter']}!", mode=mode)  # type: ignore[arg-type]


def test_live_pickers_redraw_and_dependent_options_follow() -> None:
    calls: list[dict[str, Any]] = []
    ex = _toy("live", calls)
    first = ex.image_widgets[0].value
    assert bytes(first).startswith(PNG) and ex.state == {"case": "lower", "letter": "b"}
    assert "e2s-explorer" in ex.widget._dom_classes
    ex.pickers["case"].value = "upper"  # what a click does
    assert list(ex.pickers["letter"].options) == [("A", "A"), ("B", "B")]
    assert ex.state == {"case": "upper", "letter": "A"}
    assert ex.image_widgets[0].value != first
    assert ex.status.value == "A!"
    assert calls[-1] == {"case": "upper", "letter": "A"} and len(calls) == 2  # one redraw a change


def test_static_mode_builds_no_widget_and_displays_images(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Any] = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    ex = _toy("static")
    ex._ipython_display_()
    assert ex._widget is None
    assert len(shown) == 1 and shown[0].data.startswith(PNG)
    ex.select(case="upper")
    assert ex.state == {"case": "upper", "letter": "A"}


def test_static_images_are_byte_stable() -> None:
    assert _toy("static").images() == _toy("static").images()


def test_select_rejects_unknown_pickers_and_values() -> None:
    ex = _toy("static")
    with pytest.raises(KeyError, match="no picker"):
        ex.select(colour="red")
    with pytest.raises(ValueError, match="not an option"):
        ex.select(letter="z")


def test_a_failing_redraw_shows_its_error_in_the_widget() -> None:
    def render(state: dict[str, Any]) -> list[Figure]:
        if state["n"] == 2:
            raise RuntimeError("no data for 2")
        return [Figure(figsize=(1, 1))]

    ex = explore.Explorer([explore.Choice("n", "n", [("1", 1), ("2", 2)])], render, mode="live")
    ex.select(n=2)
    assert "RuntimeError: no data for 2" in ex.status.value
    assert base.ERROR_CLASS in ex.status._dom_classes
    ex.select(n=1)
    assert base.ERROR_CLASS not in ex.status._dom_classes


def test_rendering_leaves_global_style_and_pyplot_alone() -> None:
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    q = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=["A", "B"], columns=["t1", "t2"])
    explore.ablation_explorer(q, q - 2.5, mode="static").images()
    assert dict(matplotlib.rcParams) == before
    assert plt.get_fignums() == []


# ------------------------------------------------------------------ the cube viewer
@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.ensure_dataset(tmp_path_factory.mktemp("cubes") / "synthetic", 3, 0, workers=1)


def test_cube_viewer_reacts_to_every_picker(dataset: Path) -> None:
    viewer = explore.cube_viewer(dataset, mode="live")
    assert viewer.state["season"] == "summer" and viewer.state["sensor"] == "S2 L2A"
    seen = {viewer.image_widgets[0].value}
    for change in (
        {"sample": viewer.pickers["sample"].options[1][1]},
        {"season": "winter"},
        {"view": "SWIR (B12, B8A, B04)"},
        {"sensor": "S2 L1C"},
    ):
        viewer.select(**change)
        seen.add(viewer.image_widgets[0].value)
    assert len(seen) == 5
    viewer.select(sensor="S1")
    assert [v for _, v in viewer.pickers["view"].options] == list(cube.S1_VIEWS)
    assert viewer.state["view"] == "VV (dB)"
    viewer.select(view="VV/VH ratio (dB)")
    assert viewer.image_widgets[0].value not in seen


def test_cube_views_match_the_data_plots(dataset: Path) -> None:
    source = cube.CubeSource(dataset)
    s2 = source.read(source.ids[0], "s2l2a")[1]
    shown, single = cube.render_view(s2, "s2l2a", "true colour (B04, B03, B02)")
    assert not single and np.array_equal(shown, explore.cube.data_plots.composite(s2, "s2l2a"))
    s1 = source.read(source.ids[0], "s1")[1]
    ratio, single = cube.render_view(s1, "s1", "VV/VH ratio (dB)")
    assert single and np.allclose(ratio, s1[0] - s1[1])
    with pytest.raises(ValueError, match="not offered for s1"):
        cube.render_view(s1, "s1", "SWIR (B12, B8A, B04)")


def test_cube_viewer_checks_its_arguments(dataset: Path) -> None:
    with pytest.raises(ValueError, match="not in the dataset"):
        explore.cube_viewer(dataset, ["no-such-id"], mode="static")
    with pytest.raises(ValueError, match="sensor"):
        explore.cube_viewer(dataset, sensor="S3", mode="static")


# ------------------------------------------------------------------ the fusion explorer
TASKS = ["biomass_mean", "landcover_forest", "random_cls"]


def _checkpoint_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for epoch in (0, 2, 4, 6):
        row: dict[str, Any] = {
            "epoch": epoch,
            "val_mse": 1.0 / (epoch + 1),
            "q_bar": 0.0,
            "q_bar_ridge": 0.0,
            "checkpoint": f"checkpoints/epoch_{epoch:05d}.pt",
            "best_val": epoch == 6,
        }
        for t in TASKS:
            row[f"q_{t}"], row[f"q_ridge_{t}"] = rng.normal(), rng.normal()
        row["q_bar"] = np.mean([row[f"q_{t}"] for t in TASKS])
        row["q_bar_ridge"] = np.mean([row[f"q_ridge_{t}"] for t in TASKS])
        rows.append(row)
    return pd.DataFrame(rows)


def _labels(ids: list[str]) -> dict[str, LabelTask]:
    rng = np.random.default_rng(1)
    out = {}
    for t in TASKS:
        kind = "classification" if t.endswith("cls") else "regression"
        values = (
            rng.integers(0, 2, len(ids)) if kind == "classification" else rng.normal(size=len(ids))
        )
        out[t] = LabelTask(t, kind, pd.Series(values, index=ids, name="label"))  # type: ignore[arg-type]
    return out


def test_task_q_reads_both_probes() -> None:
    table = _checkpoint_table()
    q = fusion_explore.task_q(table, 2)
    assert list(q.index) == TASKS and list(q.columns) == ["linear", "ridge"]
    assert q.loc["landcover_forest", "ridge"] == pytest.approx(
        table.loc[2, "q_ridge_landcover_forest"]
    )
    assert q.loc["biomass_mean", "linear"] == pytest.approx(table.loc[2, "q_biomass_mean"])
    with pytest.raises(ValueError, match="per-task Q"):
        fusion_explore.task_q(table[["epoch", "val_mse", "q_bar"]], 0)


def test_fusion_explorer_embeds_each_checkpoint_once_and_follows_the_picker() -> None:
    table = _checkpoint_table()
    ids = [f"id{i:02d}" for i in range(30)]
    embedded: list[int] = []

    def embed(row: pd.Series) -> tuple[list[str], np.ndarray]:
        embedded.append(int(row["epoch"]))
        return ids, np.random.default_rng(int(row["epoch"])).normal(size=(len(ids), 8))

    ex = explore.fusion_explorer(table, embed, _labels(ids), mode="live")
    best = int(table["q_bar"].to_numpy().argmax())
    assert ex.state == {"checkpoint": best, "task": "landcover_forest"}
    assert len(ex.image_widgets) == 3 and embedded == [table["epoch"][best]]
    before = [w.value for w in ex.image_widgets]
    other = (best + 1) % len(table)
    ex.select(checkpoint=other)
    after = [w.value for w in ex.image_widgets]
    assert all(a != b for a, b in zip(before, after))  # curve mark, per-task Q, projection
    assert ex.status.value == f"checkpoint {table['checkpoint'][other]}"
    ex.select(task="random_cls")
    assert [w.value for w in ex.image_widgets][:2] == after[:2]  # only the projection changes
    ex.select(checkpoint=best)
    assert embedded == [table["epoch"][best], table["epoch"][other]]
    assert "(best val)" in ex.pickers["checkpoint"].options[3][0]


def test_fusion_explorer_checks_its_arguments() -> None:
    table, ids = _checkpoint_table(), ["a", "b", "c"]
    with pytest.raises(ValueError, match="task 'crops' not in the labels"):
        explore.fusion_explorer(
            table, lambda r: (ids, np.zeros((3, 2))), _labels(ids), task="crops", mode="static"
        )
    with pytest.raises(ValueError, match="empty"):
        explore.fusion_explorer(table.iloc[:0], lambda r: (ids, np.zeros((3, 2))), _labels(ids))


# ------------------------------------------------------------------ the ablation explorer
def _ablation() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(2)
    methods, tasks = ["DOFA", "CROMA", "DOFA + CROMA"], ["crops", "nodata"]
    q = pd.DataFrame(rng.normal(size=(3, 2)), index=methods, columns=tasks)
    z = (q - q.mean()) / q.std(ddof=0)
    folds = pd.DataFrame(
        [
            {"method": m, "task": t, "seed": s, "fold": f, "score": rng.normal()}
            for m in methods
            for t in tasks
            for s in (0, 1)
            for f in range(5)
        ]
    )
    return q, z, folds


def test_ablation_explorer_follows_method_and_task() -> None:
    q, z, folds = _ablation()
    ex = explore.ablation_explorer(q, z, folds, mode="live")
    assert ex.state == {"method": "DOFA", "task": "crops"}
    heat, dist = (w.value for w in ex.image_widgets)
    ex.select(method="CROMA")
    assert all(a != b.value for a, b in zip((heat, dist), ex.image_widgets))
    ex.select(task="nodata")
    assert (
        ex.status.value
        == f"CROMA on nodata: Q {q.loc['CROMA', 'nodata']:.2f}, Z {z.loc['CROMA', 'nodata']:+.2f}"
    )


def test_ablation_explorer_without_fold_scores_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    q, z, _ = _ablation()
    texts: list[str] = []
    real = base.message_figure
    monkeypatch.setattr(
        "e2s_utils.explore.ablation.message_figure",
        lambda text, **kw: texts.append(text) or real(text),
    )
    assert len(explore.ablation_explorer(q, z, None, mode="static").images()) == 2
    assert texts == [explore.ablation.NO_FOLD_SCORES]


def test_fold_score_contract() -> None:
    q, z, folds = _ablation()
    with pytest.raises(ValueError, match=r"lack columns \['seed'\]"):
        explore.ablation_explorer(q, z, folds.drop(columns="seed"))

    class Results:  # the ablation's results: fold scores of both presets, with titles
        def folds(self) -> pd.DataFrame:
            both = [folds.assign(preset="as_intended"), folds.assign(preset="as_published_code")]
            return pd.concat(both, ignore_index=True).assign(title="t")

    shown = explore.ablation_fold_scores(Results(), "as_intended")
    assert shown is not None and list(shown.columns) == ["method", "task", "seed", "fold", "score"]
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), folds.reset_index(drop=True))
    assert explore.ablation_fold_scores(Results(), "no_such_preset") is None


def test_the_runner_kernels_get_static_explorers(monkeypatch: pytest.MonkeyPatch) -> None:
    from e2s_utils import run

    monkeypatch.setenv("E2S_WIDGETS", "live")
    with run.kernel_environment():
        assert explore.widget_mode() == "static"
    assert explore.widget_mode() == "live"
    monkeypatch.delenv("E2S_WIDGETS")
    with run.kernel_environment():
        assert explore.widget_mode({**os.environ, "JPY_SESSION_NAME": "x"}) == "static"
    assert "E2S_WIDGETS" not in os.environ
