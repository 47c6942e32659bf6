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
        [{"notebook": "10_x", "seconds": 12.5, "figures and tables": 2}], "demo", out_dir=figures
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
