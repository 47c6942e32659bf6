"""The README's results section, written from a run's artifacts between its markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2s_utils import report


def test_report_rewrites_only_the_marked_section(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "fusion_summary.md").write_text("_SYNTHETIC banner_\n\n| a |\n|---|\n| 1 |\n")
    report.write_run_times(
        [{"notebook": "10_x", "seconds": 12.5, "figures and tables": 2}],
        report.RunRecord("demo", cold=True, kernel_starts=1, outputs_mb=2500.0),
        out_dir=figures,
    )
    assert (figures / "run_times.csv").read_text().splitlines()[
        0
    ] == "notebook,seconds,figures and tables"
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{report.START}\nSTALE-RESULTS\n{report.END}\n\nafter\n")
    assert report.update_readme(readme, figures)
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro") and text.endswith("after\n")
    assert "STALE-RESULTS" not in text and "| 1 |" in text and "10_x" in text and "12.5" in text
    assert "_SYNTHETIC banner_" not in text  # the table's banner line is left out
    assert not report.update_readme(readme, figures)
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(readme, figures)


def test_results_markdown_names_banners_profiles_and_figures(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    manifest = {
        "fusion_q_mse_curve": {
            "banner": "SYNTHETIC data",
            "profile": "smoke",
            "git": {"sha": "a" * 40},
        },
        "table1_ablation": {"profile": "smoke", "git": {"sha": None}},
    }
    (figures / "MANIFEST.json").write_text(json.dumps(manifest))
    (figures / "fusion_q_mse_curve.png").write_bytes(b"png")
    text = report.results_markdown(figures)
    assert text.startswith("> **SYNTHETIC data**")
    assert "profile smoke" in text and "aaaaaaaaaa" in text and "unknown" in text
    assert (
        "![Q̄ and validation MSE over training (the paper's Figure 1)](fusion_q_mse_curve.png)"
        in text
    )
    assert "Table 1" not in text  # no table file, no heading


def test_results_markdown_shows_findings_before_their_table_without_the_banner(
    tmp_path: Path,
) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "ablation_findings.md").write_text("_SYNTHETIC_\n\n- A beats B.\n")
    (figures / "table1_ablation.md").write_text("_SYNTHETIC_\n\n| a |\n|---|\n| 1 |\n")
    text = report.results_markdown(figures)
    assert "What the ablation supports" in text and "- A beats B." in text
    assert text.index("- A beats B.") < text.index("| a |")
    assert "_SYNTHETIC_" not in text


def test_the_last_cold_run_stays_in_the_section_after_a_warm_one(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    cold = report.RunRecord("demo", cold=True, kernel_starts=1, outputs_mb=2800.0)
    warm = report.RunRecord("demo", cold=False, kernel_starts=1, outputs_mb=2800.0)
    report.write_run_times([{"notebook": "10_x", "seconds": 590.0}], cold, out_dir=figures)
    text = report.results_markdown(figures)
    assert text.count("10_x") == 1 and "last cold run" in text and "9.8 min" in text
    report.write_run_times([{"notebook": "10_x", "seconds": 75.0}], warm, out_dir=figures)
    text = report.results_markdown(figures)
    assert "9.8 min" in text and "1.2 min" in text  # the cold record and the warm one
    assert text.index("last cold run") < text.index("the run that wrote this section")


def test_a_simulated_notebooks_banner_heads_its_own_tables_only(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    figures.mkdir()
    manifest = {
        "table1_ablation": {"banner": "SYNTHETIC data", "notebook": "40_ablation"},
        "controlled_findings": {"banner": "SIMULATED", "notebook": "60_controlled_fusion"},
    }
    (figures / "MANIFEST.json").write_text(json.dumps(manifest))
    (figures / "table1_ablation.md").write_text("| a |\n|---|\n| 1 |\n")
    (figures / "controlled_findings.md").write_text("- E1: something.\n")
    text = report.results_markdown(figures)
    assert text.startswith("> **SYNTHETIC data**") and text.count("SIMULATED") == 1
    assert text.index("> **SIMULATED**") < text.index("- E1: something.")
    assert text.index("> **SIMULATED**") > text.index("| a |")


def test_the_end_to_end_record_rewrites_its_own_section_only(tmp_path: Path) -> None:
    path = tmp_path / "end_to_end_demo.md"
    rows = [{"notebook": "10_x", "seconds": 60.0, "peak memory (MB)": 900}]
    report.update_end_to_end(rows, report.RunRecord("demo", cold=True, outputs_mb=2900.0), path)
    text = path.read_text()
    assert text.startswith(report.END_TO_END_HEADER) and "<!-- cold:start -->" in text
    assert "cold (nothing cached)" in text and "2.90 GB" in text and "1.0 min" in text
    assert "cores" in text and "torch" in text  # the machine is named
    path.write_text(text + "\nA hand-written note.\n")
    warm = [{"notebook": "10_x", "seconds": 6.0, "peak memory (MB)": 500}]
    report.update_end_to_end(warm, report.RunRecord("demo", cold=False, outputs_mb=2900.0), path)
    cold_again = [{"notebook": "10_x", "seconds": 42.0, "peak memory (MB)": 800}]
    report.update_end_to_end(cold_again, report.RunRecord("demo", cold=True), path)
    text = path.read_text()
    assert "A hand-written note." in text and "<!-- warm:start -->" in text
    assert " 42.0 |" in text and " 60.0 |" not in text and " 6.0 |" in text
