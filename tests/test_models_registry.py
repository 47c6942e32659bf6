"""The registry as the one home of every model fact: order, names, loss weights, shapes, footprints."""

from __future__ import annotations

import pkgutil

import pytest

from e2s_utils.models import PAPER_MODELS, catalog, get_spec, list_models, registry
from e2s_utils.models.registry import PRESETS, SIZES

FIVE = ("copernicusfm", "dofa", "croma", "prithvi", "scalemae")
BASELINES = ("engineered", "rcf", "mean_baseline", "random")


def test_canonical_order_is_the_papers_five_then_the_baselines() -> None:
    assert list_models() == [*FIVE, *BASELINES]
    assert list_models("foundation") == list(FIVE) == list(PAPER_MODELS)
    assert catalog.paper_models() == FIVE
    assert list_models("baseline") == list(BASELINES) == list(catalog.baselines())
    # variants only on request, right after the entry they vary
    with_variants = list_models(include_variants=True)
    assert with_variants[with_variants.index("prithvi") + 1] == "prithvi_300m"
    assert catalog.foundation_models(include_variants=True) == (
        "copernicusfm",
        "dofa",
        "croma",
        "prithvi",
        "prithvi_300m",
        "scalemae",
    )
    with pytest.raises(KeyError, match="kind"):
        list_models("encoder")  # type: ignore[arg-type]


def test_canonical_order_of_a_subset_and_of_unknown_names() -> None:
    assert catalog.canonical_order(["random", "croma", "dofa"]) == ("dofa", "croma", "random")
    assert catalog.canonical_order(["zeta", "alpha", "scalemae"]) == ("scalemae", "alpha", "zeta")
    assert catalog.canonical_order(["prithvi_300m", "dofa"]) == ("dofa", "prithvi_300m")
    with pytest.raises(ValueError, match="repeats"):
        catalog.canonical_order(["dofa", "dofa"])


def test_display_and_short_names() -> None:
    names = {n: (get_spec(n).display_name, get_spec(n).short_name) for n in FIVE}
    assert names == {
        "copernicusfm": ("Copernicus-FM", "Copernicus-FM"),
        "dofa": ("DOFA", "DOFA"),
        "croma": ("CROMA", "CROMA"),
        "prithvi": ("Prithvi-EO-2.0", "Prithvi"),
        "scalemae": ("Scale-MAE", "Scale-MAE"),
    }
    for name in list_models(include_variants=True):
        spec = get_spec(name)
        assert spec.display_name and spec.short_name
    assert catalog.display_names(["prithvi"]) == {"prithvi": "Prithvi-EO-2.0"}


def test_combination_labels_follow_the_papers_table() -> None:
    assert catalog.combination_label(["prithvi"]) == "Prithvi-EO-2.0"
    assert catalog.combination_label(["dofa", "croma"]) == "DOFA + CROMA"
    assert (
        catalog.combination_label(["dofa", "croma", "copernicusfm", "prithvi"])
        == "DOFA + CROMA + Copernicus-FM + Prithvi"
    )
    assert catalog.combination_label(["scalemae", "dofa", "croma", "copernicusfm", "prithvi"]) == (
        "All five"
    )
    assert catalog.combination_label(["dofa", "rcf"]) == "DOFA + RCF + PCA"
    with pytest.raises(ValueError, match="at least one"):
        catalog.combination_label([])


def test_loss_weights_of_every_entry() -> None:
    # SPEC 2: Copernicus-FM 1.0, DOFA 1.0, CROMA 0.5, Prithvi 2.0, Scale-MAE 0.75; baselines 1.0
    assert catalog.loss_weights(FIVE) == {
        "copernicusfm": 1.0,
        "dofa": 1.0,
        "croma": 0.5,
        "prithvi": 2.0,
        "scalemae": 0.75,
    }
    assert catalog.loss_weights(BASELINES) == dict.fromkeys(BASELINES, 1.0)
    assert get_spec("prithvi_300m").loss_weight == get_spec("prithvi").loss_weight
    for name in list_models(include_variants=True):
        assert get_spec(name).loss_weight > 0


def test_output_shapes_and_input_widths() -> None:
    published = catalog.output_shapes(FIVE, "as_published_code", "full")
    assert published == {
        "copernicusfm": (768, 4),
        "dofa": (1536, 4),
        "croma": (1024, 4),
        "prithvi": (1536, 1),
        "scalemae": (1536, 4),
    }
    intended = catalog.output_shapes(FIVE, "as_intended", "full")
    assert intended["prithvi"] == (2560, 1) and intended["scalemae"] == (2048, 4)
    assert catalog.input_width(FIVE, "as_published_code", "full") == 20_992
    assert catalog.input_width(FIVE, "as_intended", "full") == 24_064
    assert catalog.input_width(["dofa", "croma"], "as_intended", "full") == 1536 * 4 + 1024 * 4
    assert get_spec("dofa").input_width("as_intended", "micro") == 128 * 4
    for name in list_models():
        spec = get_spec(name)
        for preset in PRESETS:
            for size in SIZES:
                c, t = spec.output_shape(preset, size)
                assert spec.input_width(preset, size) == c * t


def test_footprints() -> None:
    fp = catalog.footprint("prithvi", "as_intended", "full")
    assert fp.checkpoint == "Prithvi_EO_V2_600M.pt" and fp.checkpoint_mb == pytest.approx(2640)
    assert fp.params == 631_188_480 and fp.params_mb == pytest.approx(2524.75, abs=0.01)
    published = catalog.footprint("prithvi", "as_published_code", "full")
    assert published.checkpoint is None and published.params == 86_237_184  # random ViT-B/16
    assert catalog.footprint("dofa", "as_published_code", "full").checkpoint == (
        "DOFA_ViT_base_e100.pth"
    )
    assert catalog.footprint("dofa", "as_intended", "micro").checkpoint is None  # full files only
    assert catalog.footprint("rcf", "as_intended", "full").params is None
    table = catalog.footprint_table()
    assert set(table["model"]) == set(catalog.foundation_models(include_variants=True))
    assert len(table) == 5 * 6 + 3  # five models x 2 presets x 3 sizes + the 300M variant
    assert table["params"].notna().all()


def test_register_validates_entries() -> None:
    spec = get_spec("dofa")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.ModelSpec(**{**_fields(spec), "description": "other"}))
    with pytest.raises(ValueError, match="positive loss weight"):
        registry.register(
            registry.ModelSpec(**{**_fields(spec), "name": "bad_weight", "loss_weight": 0.0})
        )
    assert "bad_weight" not in registry._REGISTRY
    with pytest.raises(KeyError, match="preset"):
        registry.register(
            registry.ModelSpec(
                **{**_fields(spec), "name": "bad_preset", "checkpoints": {"as_written": None}}
            )
        )


def _fields(spec: registry.ModelSpec) -> dict:
    import dataclasses

    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


def test_model_modules_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sixth model is one module: the registry finds any non-support module of the package."""
    modules = registry.model_modules()
    assert modules[:5] == [f"e2s_utils.models.{m}" for m in FIVE]
    assert modules[-1] == "e2s_utils.models.baselines"
    assert not any(
        m.rsplit(".", 1)[-1] in registry.SUPPORT_MODULES - {"baselines"} for m in modules
    )
    real = pkgutil.iter_modules

    def with_extra(path):  # type: ignore[no-untyped-def]
        yield from real(path)
        yield pkgutil.ModuleInfo(None, "rgbvit", False)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.pkgutil, "iter_modules", with_extra)
    assert "e2s_utils.models.rgbvit" in registry.model_modules()


def test_a_sixth_model_sits_after_the_five_with_its_own_facts() -> None:
    sixth = registry.ModelSpec(
        **{
            **_fields(get_spec("dofa")),
            "name": "aaa_sixth",
            "display_name": "Sixth",
            "short_name": "6th",
            "loss_weight": 0.25,
            "checkpoints": {},
        }
    )
    registry.register(sixth)
    try:
        assert list_models() == [*FIVE, "aaa_sixth", *BASELINES]
        assert catalog.paper_models() == FIVE  # the paper's five do not change
        assert catalog.canonical_order(["random", "aaa_sixth", "croma"]) == (
            "croma",
            "aaa_sixth",
            "random",
        )
        assert catalog.loss_weights(["aaa_sixth"]) == {"aaa_sixth": 0.25}
        assert catalog.combination_label(["dofa", "aaa_sixth"]) == "DOFA + 6th"
        assert not get_spec("aaa_sixth").in_paper and get_spec("dofa").in_paper
    finally:
        registry._REGISTRY.pop("aaa_sixth")
