"""What the ablation concludes: paired comparisons, an order stated only where the data show one."""

from __future__ import annotations

import pytest

from e2s_utils import studies
from e2s_utils.evaluate import stats
from tests.helpers import fake_ablation_results

SETTINGS = stats.BootstrapSettings(n_resamples=300)


@pytest.fixture(scope="module")
def summary() -> dict:
    _, results = fake_ablation_results()
    return studies.ablation_summary(results, studies.table1(results), "as_intended", SETTINGS)


def test_the_comparisons_of_the_main_preset(summary) -> None:
    assert summary["preset"] == "as_intended" and summary["best"] == "DOFA + CROMA [as_intended]"
    q = summary["best_q_bar"]
    assert q["lo"] <= q["estimate"] <= q["hi"]
    by_what = {f["what"]: f["comparison"] for f in summary["findings"]}
    assert set(by_what) == {
        "the best single model",
        "the baseline",
        "the pca row",
        "the raw row",
        "its dropout-free twin",
        "the other preset",
    }
    assert by_what["the best single model"]["b"] == "CROMA [as_intended]"
    assert by_what["the best single model"]["verdict"] == "A > B"
    assert by_what["the baseline"]["verdict"] == "A > B"
    assert by_what["the raw row"]["verdict"] == "A < B"
    assert by_what["its dropout-free twin"]["verdict"] == "not separated"  # 0.001 apart
    assert by_what["the other preset"]["b"] == "DOFA + CROMA [as_published_code]"
    assert summary["beats_every_baseline"] is True
    assert summary["settings"]["n_resamples"] == 300


def test_the_summary_states_an_order_only_where_the_interval_excludes_zero(summary) -> None:
    text = studies.format_summary(summary)
    assert text.splitlines()[0] == "Preset shown: as_intended (the paper's rows on its stores)."
    assert "Best multi-model fusion by point estimate: DOFA + CROMA [as_intended]" in text
    assert "the data do not separate DOFA + CROMA [as_intended] and DOFA + CROMA without" in text
    assert "beats Random embeddings [as_intended]" in text
    assert "It beats every baseline (each paired interval above zero): yes" in text
    assert "300 resamples" in text


def test_the_best_single_model_follows_the_tables_point_estimates() -> None:
    _, results = fake_ablation_results()
    table = studies.table1(results)
    table.loc[table["method"] == "CROMA", "q_bar_mean"] = 0.0  # the order of the point estimates
    out = studies.ablation_summary(results, table, "as_published_code", SETTINGS)
    assert out["best"] == "DOFA + CROMA [as_published_code]"
    singles = [f for f in out["findings"] if f["what"] == "the best single model"]
    assert singles[0]["comparison"]["b"] == "DOFA [as_published_code]"
