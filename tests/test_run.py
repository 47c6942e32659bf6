"""The papermill runner: checks before running, executed copies, failures named with their cell."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from e2s_utils import run
from tests.helpers import two_notebooks, write_notebook


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    return two_notebooks(tmp_path / "notebooks")


def test_plan_orders_and_selects(notebooks: Path, tmp_path: Path) -> None:
    jobs = run.plan("smoke", notebooks_dir=notebooks, executed_dir=tmp_path / "ex")
    assert [j.label for j in jobs] == ["10_first", "30_fusion"]
    assert all(j.parameters["profile"] == "smoke" for j in jobs)
    assert jobs[0].output == tmp_path / "ex" / "smoke" / "10_first.ipynb"
    assert [j.label for j in run.plan("smoke", only=["30"], notebooks_dir=notebooks)] == [
        "30_fusion"
    ]
    assert [
        j.label for j in run.plan("smoke", start_from="30_fusion", notebooks_dir=notebooks)
    ] == ["30_fusion"]
    with pytest.raises(run.RunnerError, match="no notebook '99'"):
        run.plan("smoke", only=["99"], notebooks_dir=notebooks)


def test_parameters_go_only_where_declared(notebooks: Path) -> None:
    write_notebook(
        notebooks / "30_fusion.ipynb", ["pass"], params="profile: str | None = None  # p\n"
    )
    jobs = run.plan("smoke", overrides={"fusion_epochs": 2}, notebooks_dir=notebooks)
    assert jobs[0].parameters == {"profile": "smoke", "fusion_epochs": 2}
    assert jobs[1].parameters == {"profile": "smoke"}


def test_sweep_over_registry_models(tmp_path: Path) -> None:
    folder = tmp_path / "nbs"
    write_notebook(
        folder / "20_extract.ipynb",
        ["pass"],
        params='profile: str | None = None  # p\nmodel: str = "dofa"  # m\n',
    )
    jobs = run.plan("smoke", notebooks_dir=folder, executed_dir=tmp_path / "ex")
    from e2s_utils import config

    expected = list(config.get_profile("smoke").extract.all_models)
    assert [j.parameters["model"] for j in jobs] == expected
    assert len({j.output for j in jobs}) == len(expected)
    assert jobs[0].output.name == f"20_extract__{expected[0]}.ipynb"
    only_one = run.plan("smoke", overrides={"model": "croma"}, notebooks_dir=folder)
    assert [j.parameters["model"] for j in only_one] == ["croma"]


def test_notebook_without_single_parameters_cell_is_refused(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    (tmp_path / "10_bad.ipynb").write_text(nbformat.writes(nb))
    with pytest.raises(run.RunnerError, match="exactly one cell tagged 'parameters'"):
        run.plan("smoke", notebooks_dir=tmp_path)


def test_badly_named_notebook_is_refused(tmp_path: Path) -> None:
    write_notebook(tmp_path / "Fusion.ipynb", ["pass"])
    with pytest.raises(run.RunnerError, match="NN_topic"):
        run.list_notebooks(tmp_path)


def test_verify_executed_names_the_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "10_x.ipynb", ["print(1)"])
    nb = json.loads(path.read_text())
    for cell in nb["cells"][:3]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
    path.write_text(json.dumps(nb))
    with pytest.raises(run.RunnerError, match="code cell 3 never executed"):
        run.verify_executed(path)


def test_misspelled_parameter_is_refused_before_running(notebooks: Path) -> None:
    with pytest.raises(run.RunnerError, match="unknown parameter.*fusion_epoch"):
        run.plan("smoke", overrides={"fusion_epoch": 2}, notebooks_dir=notebooks)


def test_parse_value_and_summary_table() -> None:
    assert run.parse_value("3") == 3 and run.parse_value("[1, 2]") == [1, 2]
    assert run.parse_value("dofa") == "dofa" and run.parse_value("None") is None
    summary = run.RunSummary(
        [run.JobResult("10_x", "ok", 1.5, 2), run.JobResult("20_y", "FAILED", 3.0)]
    )
    table = summary.table()
    assert not summary.ok and "10_x" in table and "FAILED" in table
    assert table.splitlines()[-1] == "total wall time 4.5 s"
