"""Table 1's rows: the paper's rows once per preset, the additions, seeds and the stores they read."""

from __future__ import annotations

import dataclasses

import pytest

from e2s_utils import config, studies
from e2s_utils.models import catalog


def test_the_full_profile_has_the_papers_rows_under_both_presets_and_beyond() -> None:
    profile = config.get_profile("full")
    runs = studies.ablation_runs(profile)
    paper = studies.paper_table1()["method"].tolist()
    for preset in ("as_published_code", "as_intended"):
        rows = [r for r in runs if r.preset == preset and r.group == "paper"]
        nine = [r.label for r in rows if r.in_paper_z]
        assert sorted(nine) == sorted(paper)  # the paper's nine rows
        assert nine[5:] == paper[5:]  # the growing fusion in the paper's order
        nodrop = [r for r in rows if r.dropout == 0.0]
        assert [r.label for r in nodrop] == ["All five without dropout"] and not nodrop[
            0
        ].in_paper_z
    assert [r.preset for r in runs[:10]] == ["as_published_code"] * 10
    beyond = [r for r in runs if r.group == "beyond"]
    assert {r.preset for r in beyond} == {"as_intended"}
    assert {r.models[0] for r in beyond if r.method == "baseline"} == set(catalog.baselines())
    assert [r.method for r in beyond].count("pca") == 1 and [r.method for r in beyond].count(
        "raw"
    ) == 1
    assert len({r.name for r in runs}) == len(runs) == 26
    assert all(not r.seeded for r in runs if r.method != "fusion")
    by_title = {r.title: r for r in runs}
    assert by_title["All five [as_intended]"].dropout == 0.1
    assert by_title["Prithvi-EO-2.0 [as_published_code]"].random_init == ("prithvi",)
    assert by_title["Prithvi-EO-2.0 [as_intended]"].random_init == ()


def test_restricted_models_and_switches() -> None:
    base = config.get_profile("smoke", models=("croma", "dofa"), baselines=())
    profile = dataclasses.replace(
        base,
        ablation=dataclasses.replace(base.ablation, presets=("as_intended",), include_pca=False),
    )
    runs = studies.ablation_runs(profile)
    assert [r.label for r in runs] == [
        "DOFA",
        "CROMA",
        "DOFA + CROMA",
        "DOFA + CROMA without dropout",
        "DOFA + CROMA, raw",
    ]
    assert runs[2].name == "fusion-dofa+croma@as_intended"
    assert runs[3].name == "fusion-dofa+croma-nodropout@as_intended"
    with pytest.raises(studies.StudyError, match="not registered foundation models"):
        studies.ablation_runs(config.get_profile("smoke", models=("dofa", "nonsense")))


def test_seeds_and_init_seed_variants() -> None:
    profile = config.get_profile("demo")
    runs = {r.title: r for r in studies.ablation_runs(profile)}
    dofa = runs["DOFA [as_published_code]"]
    prithvi = runs["Prithvi-EO-2.0 [as_published_code]"]
    assert studies.seed_list(profile) == [1337, 1338, 1339]
    assert studies.seed_list(profile, dofa) == [1337, 1338, 1339]
    one = dataclasses.replace(profile, ablation=dataclasses.replace(profile.ablation, seeds=1))
    assert studies.seed_list(one, dofa) == [1337]
    assert studies.seed_list(one, prithvi) == [1337, 1338, 1339]  # at least init_seeds
    assert studies.init_seeds_of(prithvi, 1337, one) == {}  # the profile's seed: default stores
    assert studies.init_seeds_of(prithvi, 1338, one) == {"prithvi": 1338}
    assert studies.init_seeds_of(dofa, 1338, one) == {}
    assert studies.init_seeds_of(prithvi, None, one) == {}
    assert studies.random_init_models(["dofa", "prithvi", "scalemae"], "as_published_code") == (
        "prithvi",
        "scalemae",
    )


def test_stores_needed_lists_every_store_once() -> None:
    profile = config.get_profile("full")
    needed = studies.stores_needed(studies.ablation_runs(profile), profile)
    assert len(needed) == len(set(needed)) == 5 + 4 + 5 + 4
    assert ("prithvi", "as_published_code", 1338) in needed
    assert ("scalemae", "as_published_code", 1339) in needed
    assert ("rcf", "as_intended", None) in needed and (
        "rcf",
        "as_published_code",
        None,
    ) not in needed
    assert needed[0] == ("copernicusfm", "as_published_code", None)
