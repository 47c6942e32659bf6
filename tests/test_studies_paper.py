"""The paper's own numbers and names, kept apart from every computation."""

from __future__ import annotations

from e2s_utils import studies


def test_paper_table1_numbers() -> None:
    p = studies.paper_table1().set_index("method")
    assert list(p.columns) == ["Q̄", "Z", "val MSE"] and len(p) == 9
    assert p.loc["All five", "Q̄"] == 17.43 and p.loc["Prithvi-EO-2.0", "val MSE"] == 0.843
    assert p.loc["DOFA + CROMA + Copernicus-FM + Prithvi", "Z"] == 0.67
    assert studies.PAPER_NO_DROPOUT_Q_BAR == 16.45
    assert studies.FUSION_ORDER == ("dofa", "croma", "copernicusfm", "prithvi", "scalemae")


def test_display_names_of_combinations() -> None:
    assert studies.display_name(["prithvi"]) == "Prithvi-EO-2.0"
    assert studies.display_name(["dofa", "croma", "prithvi"]) == "DOFA + CROMA + Prithvi"
    assert studies.display_name(list(studies.FUSION_ORDER)) == "All five"
