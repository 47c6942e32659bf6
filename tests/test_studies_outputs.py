"""The studies' artifacts: what the notebooks show and the command line prints, with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2s_utils import config, provenance, studies
from tests.helpers import fake_ablation_results, mse_curve


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("E2S_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("E2S_FIGURES_DIR", str(tmp_path / "figures"))
    return tmp_path / "out", tmp_path / "figures"


def test_save_ablation_writes_table_heatmap_summary_and_findings(folders) -> None:
    out, figures = folders
    profile, results = fake_ablation_results()
    ctx = config.setup(
        "40_ablation",
        profile="smoke",
        models=["dofa", "croma"],
        baselines=["random"],
        ablation_seeds=3,
        eval_k_folds=10,
        device="cpu",
    )
    assert ctx.profile.protocol == profile.protocol
    saved = studies.save_ablation(ctx, results, n_probe=40)
    table = pd.read_csv(figures / "table1_ablation.csv")
    assert {"Q̄ mean", "Q̄ lo", "Q̄ hi", "Z (all rows)", "paper Q̄", "protocol"} <= set(table)
    assert (table["protocol"] == profile.protocol.label()).all() and len(table) == len(results.runs)
    assert (saved.table["q_bar_lo"] <= saved.table["q_bar_mean"] + 1e-9).all()
    assert list(saved.task_q.index) == [r.label for r in results.rows("as_intended")]
    assert saved.heatmap.png == figures / "ablation_heatmap.png" and saved.heatmap.png.is_file()
    summary = json.loads((out / "smoke" / "ablation" / "summary.json").read_text())
    assert summary["best"] == "DOFA + CROMA [as_intended]" and summary == saved.summary
    findings = (figures / "ablation_findings.md").read_text()
    assert f"Protocol: {profile.protocol.label()}" in findings
    assert "- Best multi-model fusion by point estimate: DOFA + CROMA [as_intended]" in findings
    assert saved.text == studies.format_summary(saved.summary)
    assert (out / "smoke" / "ablation" / "intervals.json").is_file()
    manifest = provenance.read_manifest(figures)
    assert {"table1_ablation", "table1_paper", "ablation_heatmap", "ablation_findings"} <= set(
        manifest
    )
    assert manifest["table1_ablation"]["protocol"] == profile.protocol.to_dict()


def test_save_long_writes_figure_curve_descents_and_findings(folders) -> None:
    out, figures = folders
    ctx = config.setup("50_long_training", profile="smoke", device="cpu")
    e, mse = mse_curve("double")
    history = pd.DataFrame({"epoch": e.astype(int), "val_mse": mse})
    ck = np.array(studies.log_spaced_epochs(1600, 12))
    wobble = 0.02 * np.sin(np.arange(5) * 1.3)
    folds = {int(c): {"t": 0.5 - 1e-4 * c + wobble} for c in ck}
    q = 10 - np.log10(np.maximum(ck, 1))
    curve = pd.DataFrame(
        {
            "epoch": ck,
            "val_mse": mse[ck],
            "q_bar": q,
            "q_bar_lo": q - 1,
            "q_bar_hi": q + 1,
            "q_bar_ridge": q + 2,
        }
    )
    result = studies.LongResult(
        history, curve, out, history, curve, [960.0], 959, {"run": folds, "twin": folds}
    )
    saved = studies.save_long(ctx, result)
    assert saved.figure.png == figures / "long_training.png" and saved.figure.png.is_file()
    table = pd.read_csv(figures / "long_training_curve.csv")
    assert list(table.columns) == [
        "epoch",
        "val_mse",
        "q_bar",
        "q_bar_lo",
        "q_bar_hi",
        "q_bar_ridge",
        "twin_val_mse",
        "twin_q_bar",
        "protocol",
    ]
    descents = pd.read_csv(figures / "long_training_descents.csv")
    assert len(descents) == len(saved.analysis.descents) == 2
    summary = json.loads((out / "smoke" / "long_training" / "summary.json").read_text())
    assert summary["double_descent"] and summary["drops"] == [960.0]
    findings = (figures / "long_training_findings.md").read_text()
    assert findings.count("\n- ") >= 2 and "Validation MSE descends 2 times" in findings
    assert saved.text == studies.format_long_summary(saved.summary)
