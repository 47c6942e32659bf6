"""The papermill runner: checks before running, executed copies, failures named with their cell."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from e2s_utils import run

PARAMS = "profile: str | None = None  # the profile\nfusion_epochs: int | None = None  # epochs\n"


def _write_notebook(path: Path, body: list[str], params: str = PARAMS) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Test notebook"),
        nbformat.v4.new_code_cell("from e2s_utils import config"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        *[nbformat.v4.new_code_cell(src) for src in body],
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    _write_notebook(
        folder / "10_first.ipynb",
        ['ctx = config.setup("30_fusion", profile=profile, fusion_epochs=fusion_epochs)',
         "print(ctx.profile.name, ctx.profile.fusion_epochs)"],
    )  # fmt: skip
    _write_notebook(folder / "30_fusion.ipynb", ['print("second", profile)'])
    return folder


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
    _write_notebook(
        notebooks / "30_fusion.ipynb", ["pass"], params="profile: str | None = None  # p\n"
    )
    jobs = run.plan("smoke", overrides={"fusion_epochs": 2}, notebooks_dir=notebooks)
    assert jobs[0].parameters == {"profile": "smoke", "fusion_epochs": 2}
    assert jobs[1].parameters == {"profile": "smoke"}


def test_misspelled_parameter_is_refused_before_running(notebooks: Path, capsys) -> None:
    with pytest.raises(run.RunnerError, match="unknown parameter.*fusion_epoch"):
        run.plan("smoke", overrides={"fusion_epoch": 2}, notebooks_dir=notebooks)
    code = run.main(
        ["--profile", "smoke", "--notebooks-dir", str(notebooks), "-p", "fusion_epoch", "2"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "fusion_epoch" in err and "10_first" in err


def test_sweep_over_registry_models(tmp_path: Path) -> None:
    folder = tmp_path / "nbs"
    _write_notebook(folder / "20_extract.ipynb", ["pass"],
                    params='profile: str | None = None  # p\nmodel: str = "dofa"  # m\n')  # fmt: skip
    jobs = run.plan("smoke", notebooks_dir=folder, executed_dir=tmp_path / "ex")
    from e2s_utils import config

    expected = list(config.PROFILES["smoke"].models) + list(config.PROFILES["smoke"].baselines)
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
    _write_notebook(tmp_path / "Fusion.ipynb", ["pass"])
    with pytest.raises(run.RunnerError, match="NN_topic"):
        run.list_notebooks(tmp_path)


def test_verify_executed_names_the_cell(tmp_path: Path) -> None:
    path = _write_notebook(tmp_path / "10_x.ipynb", ["print(1)"])
    nb = json.loads(path.read_text())
    for cell in nb["cells"][:3]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
    path.write_text(json.dumps(nb))
    with pytest.raises(run.RunnerError, match="code cell 3 never executed"):
        run.verify_executed(path)


def test_end_to_end_run_writes_copies_and_leaves_sources(notebooks: Path, tmp_path: Path, capsys):
    before = {p: p.read_bytes() for p in notebooks.glob("*.ipynb")}
    executed = tmp_path / "executed"
    code = run.main(["--profile", "smoke", "--notebooks-dir", str(notebooks),
                     "--executed-dir", str(executed), "-p", "fusion_epochs", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert {p: p.read_bytes() for p in notebooks.glob("*.ipynb")} == before
    copy = executed / "smoke" / "10_first.ipynb"
    text = json.dumps(json.loads(copy.read_text()))
    assert "smoke 3" in text
    assert "10_first" in out and "30_fusion" in out and "wall time" in out


def test_failing_notebook_exits_nonzero_naming_notebook_and_cell(notebooks, tmp_path, capsys):
    _write_notebook(notebooks / "30_fusion.ipynb", ["x = 1", "raise ValueError('boom')", "y = 2"])
    code = run.main(["--profile", "smoke", "--notebooks-dir", str(notebooks),
                     "--executed-dir", str(tmp_path / "ex")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "30_fusion failed at cell 4" in err and "boom" in err


def test_misspelled_parameter_inside_a_notebook_fails_at_its_cell(tmp_path, capsys):
    folder = tmp_path / "nbs"
    _write_notebook(folder / "10_typo.ipynb",
                    ['ctx = config.setup("30_fusion", profile=profile, fusion_epoch=fusion_epochs)'])  # fmt: skip
    code = run.main(["--profile", "smoke", "--notebooks-dir", str(folder),
                     "--executed-dir", str(tmp_path / "ex")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "10_typo failed at cell 3" in err and "fusion_epoch" in err


def test_report_rewrites_only_the_marked_section(tmp_path: Path) -> None:
    from e2s_utils import report

    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "fusion_summary.md").write_text("_SYNTHETIC banner_\n\n| a |\n|---|\n| 1 |\n")
    report.write_run_times([{"notebook": "10_x", "seconds": 12.5, "figures and tables": 2}],
                           "demo", out_dir=figures)  # fmt: skip
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{report.START}\nSTALE-RESULTS\n{report.END}\n\nafter\n")
    assert report.update_readme(readme, figures)
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro") and text.endswith("after\n")
    assert "STALE-RESULTS" not in text and "| 1 |" in text and "10_x" in text and "12.5" in text
    assert not report.update_readme(readme, figures)
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(readme, figures)
