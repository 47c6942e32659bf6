"""Embedding simulator: latents like the generator's, blocks with the properties they promise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from e2s_utils.data import is_dev_id, synthetic
from e2s_utils.data import simulator as sim
from e2s_utils.data.labels import load_tasks
from e2s_utils.evaluate import evaluate, evaluate_many
from e2s_utils.store import EmbeddingStore
from e2s_utils.store.simulated import write_simulation

LABEL_LATENTS = [
    "scene",
    *(f"frac_{c}" for c in synthetic.CLASSES),
    *"biomass_mean biomass_std cloud_cover lst_mean lst_std nodata".split(),
]


def _r2_linear(x: np.ndarray, y: np.ndarray) -> float:
    return float(LinearRegression().fit(x, y).score(x, y))


@pytest.fixture(scope="module")
def big() -> sim.Simulation:
    """n = 8,000: a block with the cloud and no-data factors, one with forest, one of nuisance."""
    blocks = [
        sim.BlockSpec("clouds", {"cloud": 1.0, "nodata": 1.0}, channels=16),
        sim.BlockSpec("forest", {"frac_forest": 1.0}, channels=8),
        sim.BlockSpec("nuis", {}, channels=8, nuisance=8),
    ]
    return sim.simulate(blocks, 8000, seed=5)


@pytest.fixture(scope="module")
def rendered() -> pd.DataFrame:
    """Latents of 16 scenes rendered by the generator itself (about 0.25 s each)."""
    return pd.DataFrame([synthetic.generate_scene(9, i).latents for i in range(16)])


# ------------------------------------------------------------------------------------------------
# latents and labels
# ------------------------------------------------------------------------------------------------
def test_latents_are_deterministic_prefix_stable_and_seeded() -> None:
    a, b = sim.sample_latents(700, 2), sim.sample_latents(700, 2)
    pd.testing.assert_frame_equal(a, b)
    longer = sim.sample_latents(1100, 2)  # a third random stream: the first 700 rows unchanged
    pd.testing.assert_frame_equal(a, longer.iloc[:700])
    other = sim.sample_latents(700, 3)
    assert not np.allclose(a["lst_mean"], other["lst_mean"])
    assert list(a.index) == sim.make_sim_ids(700, 2)
    assert all(len(i) == 64 and int(i, 16) >= 0 for i in a.index)
    assert not set(a.index) & set(synthetic.make_ids(700, 2))  # not the rendered scenes' ids


def test_latents_have_valid_ranges_and_consistent_seasons() -> None:
    lat = sim.sample_latents(2048, 4)
    frac = lat[[f"frac_{c}" for c in synthetic.CLASSES]]
    assert frac.to_numpy().min() >= 0 and np.allclose(frac.sum(axis=1), 1.0)
    assert set(lat["scene"].unique()) <= set(range(len(synthetic.SCENE_NAMES)))
    for name in ("cloud", "nodata"):
        per = lat[[f"{name}_s{t}" for t in range(4)]].mean(axis=1)
        np.testing.assert_allclose(per, lat["cloud_cover" if name == "cloud" else "nodata"])
    assert lat["cloud_cover"].between(0, 100).all() and lat["nodata"].between(0, 1).all()
    # forest-free scenes carry only herbaceous biomass (4 per crop or grass pixel at most)
    assert lat.loc[lat["frac_forest"] == 0, "biomass_mean"].max() <= 4.0 + 1e-9
    assert (lat["lst_std"] >= 0.96 - 1e-9).all()  # the speckle texture alone gives 0.96
    shares = lat["scene"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, synthetic._SCENE_P, atol=0.03)


def test_latents_resemble_rendered_scenes(rendered: pd.DataFrame) -> None:
    lat = sim.sample_latents(4096, 1)
    k = len(rendered)
    for col in LABEL_LATENTS:  # marginals (loose: 16 rendered scenes)
        gen, ours = rendered[col].to_numpy(), lat[col].to_numpy()
        assert abs(gen.mean() - ours.mean()) < 3.5 * ours.std() / np.sqrt(k) + 1e-9, col
        assert ks_2samp(gen, ours).pvalue > 1e-3, col
        lo, hi = np.quantile(ours, [0.0, 1.0])
        assert ((gen >= lo - 0.1 * (hi - lo)) & (gen <= hi + 0.1 * (hi - lo))).all(), col
    # biomass and temperature given the class fractions: a much sharper check of the maps
    fracs = [f"frac_{c}" for c in synthetic.CLASSES]
    for col in ("biomass_mean", "biomass_std", "lst_mean", "lst_std"):
        fit = LinearRegression().fit(lat[fracs], lat[col])
        spread = (lat[col] - fit.predict(lat[fracs])).std()
        resid = rendered[col] - fit.predict(rendered[fracs])
        assert abs(resid.mean()) < 3.5 * spread / np.sqrt(k), col
        assert 0.5 * spread < resid.std() < 2.0 * spread, col


def test_labels_are_the_generators(big: sim.Simulation) -> None:
    expected = synthetic.compute_labels(big.latents, big.seed)
    assert sorted(big.tasks) == sorted(expected) and len(big.tasks) == 11
    for name, task in big.tasks.items():
        pd.testing.assert_series_equal(task.labels, expected[name], check_names=False)
        assert task.labels.index.name == "id"
        assert task.kind == ("classification" if name == "random_cls" else "regression")
    assert len(big.tasks["nodata"]) == 8000
    clouds = big.tasks["clouds_reg"].labels.index
    assert clouds.equals(big.tasks["random_cls"].labels.index)
    assert set(sim.TASK_FACTORS) == set(big.tasks)


# ------------------------------------------------------------------------------------------------
# blocks
# ------------------------------------------------------------------------------------------------
def test_blocks_are_deterministic_shaped_and_prefix_stable() -> None:
    specs = sim.preset("duplicated", width=32)
    a, b = sim.simulate(specs, 700, seed=1), sim.simulate(specs, 700, seed=1)
    longer = sim.simulate(specs, 1100, seed=1)
    other = sim.simulate(specs, 700, seed=2)
    for spec in specs:
        arr = a.blocks[spec.name]
        assert arr.dtype == np.float32 and arr.shape == (700, *spec.shape)
        assert spec.channels * spec.seasons == 32 and np.isfinite(arr).all()
        np.testing.assert_array_equal(arr, b.blocks[spec.name])
        np.testing.assert_array_equal(arr, longer.blocks[spec.name][:700])
        assert not np.allclose(arr, other.blocks[spec.name])
    np.testing.assert_array_equal(a.blocks["veg_copy"], a.blocks["veg"])  # same key
    assert not np.allclose(a.blocks["veg"], a.blocks["agri"])
    assert a.flat().shape == (700, 5 * 32)


def test_same_factor_is_the_same_latent_in_every_block() -> None:
    specs = [
        sim.BlockSpec("a", {"frac_forest": 1.0}, channels=4, noise=0.0),
        sim.BlockSpec("b", {"frac_forest": 2.0}, channels=6, noise=0.0),
        sim.BlockSpec("c", {"cloud": 1.0}, channels=4, seasons=4, noise=0.0),
        sim.BlockSpec("s", {"scene": 1.0}, channels=8, noise=0.0),
    ]
    s = sim.simulate(specs, 600, seed=3)
    onehot = np.eye(len(synthetic.SCENE_NAMES))[s.latents["scene"].to_numpy(int)]
    for k in range(onehot.shape[1]):  # the scene type, all eight of its indicators
        assert _r2_linear(s.blocks["s"][:, :, 0], onehot[:, k]) > 0.999
    forest = s.latents["frac_forest"].to_numpy()
    for name in ("a", "b"):
        for ch in s.blocks[name][:, :, 0].T:
            assert abs(np.corrcoef(ch, forest)[0, 1]) > 0.9999
    # a 4-season block carries each season's own cloud cover in that season's column
    clouds = s.latents[[f"cloud_s{t}" for t in range(4)]].to_numpy()
    for t in range(4):
        assert abs(np.corrcoef(s.blocks["c"][:, 0, t], clouds[:, t])[0, 1]) > 0.9999
        assert abs(np.corrcoef(s.blocks["c"][:, 0, t], clouds[:, (t + 1) % 4])[0, 1]) < 0.5


def test_weights_and_noise_set_the_variance_shares() -> None:
    lat = sim.sample_latents(3000, 6)
    spec = sim.BlockSpec("w", {"lst_mean": 3.0, "aerosol": 1.0}, channels=32, noise=0.0)
    x = sim.render_block(spec, lat, seed=6)[:, :, 0]
    np.testing.assert_allclose(x.var(axis=0).mean(), 1.0, rtol=0.1)  # unit signal per channel
    for factor, share in (("lst_mean", 0.9), ("aerosol", 0.1)):  # w² / sum w² (independent)
        z = sim.standardized_factor(lat, factor, 1)[:, 0]
        resid = x - LinearRegression().fit(z, x).predict(z)
        np.testing.assert_allclose(
            1 - resid.var(axis=0).sum() / x.var(axis=0).sum(), share, atol=0.05
        )
    noisy = sim.render_block(sim.BlockSpec("w", spec.factors, channels=32, noise=0.5), lat, seed=6)
    np.testing.assert_allclose(noisy.var(axis=0).mean(), 1.25, rtol=0.1)
    scaled = sim.BlockSpec("w", spec.factors, channels=32, noise=0.0, scale=2.0)
    np.testing.assert_allclose(sim.render_block(scaled, lat, 6), 2 * x[:, :, None], rtol=1e-6)


def test_equal_noise_per_channel_ratio_means_equal_information() -> None:
    lat = sim.sample_latents(4000, 9)
    narrow, wide = sim.preset("access", width=128)[:2]  # 16 vs 128 channels, same noise² / S
    z = sim.standardized_factor(lat, "cloud", 1)[:, 0, 0]  # independent of the other factors
    snr = (1 / len(sim.TASK_GROUP_FACTORS)) * wide.channels / wide.noise**2
    for spec in (narrow, wide):
        x = sim.render_block(spec, lat, seed=9)[:, :, 0]
        r2 = cross_val_score(LinearRegression(), x, z, cv=4).mean()
        assert abs(r2 - snr / (1 + snr)) < 0.03, spec.name  # the documented SNR, either width


def test_nuisance_channels_carry_no_information() -> None:
    lat = sim.sample_latents(4000, 7)
    spec = sim.BlockSpec("n", {"frac_urban": 1.0, "cloud": 1.0}, 12, noise=0.0, nuisance=8)
    x = sim.render_block(spec, lat, seed=7)[:, :, 0]
    views = np.stack(
        [sim.standardized_factor(lat, f, 1)[:, 0, 0] for f in ("frac_urban", "cloud")], 1
    )
    resid = x - LinearRegression().fit(views, x).predict(views)
    nuisance = resid.var(axis=0) > 1.0
    assert nuisance.sum() == 8  # the 4 signal channels are exact functions of the factors
    noise = x[:, nuisance]
    np.testing.assert_allclose(noise.std(axis=0), 3.0, rtol=0.05)
    assert max(_r2_linear(views, ch) for ch in noise.T) < 0.003  # null: about 2 / n
    numeric = lat.select_dtypes("number").to_numpy()
    corr = np.corrcoef(np.c_[noise, numeric].T)[:8, 8:]
    # independent across rows, also across the 512-row random streams
    corr = np.r_[corr.ravel(), np.corrcoef(noise[:512].ravel(), noise[512:1024].ravel())[0, 1]]
    assert np.nanmax(np.abs(corr)) < 5 / np.sqrt(len(lat))


@pytest.mark.parametrize("task", ["clouds_reg", "nodata", "landcover_forest"])
def test_ridge_q_follows_coverage_at_full_size(big: sim.Simulation, task: str) -> None:
    results = {}
    for name, block in big.blocks.items():
        x = block.reshape(len(big.ids), -1)
        res = evaluate(big.ids, x, big.tasks, probe="ridge", task_filter=[task], num_threads=1)
        results[name] = res.tasks[task]
    carrier = "forest" if task == "landcover_forest" else "clouds"
    assert results[carrier].q > 40 and results[carrier].mean > 0.85
    for name, res in results.items():
        if name != carrier:
            assert abs(res.q) < 1.5 and abs(res.mean) < 0.01, name  # the random baseline


@pytest.mark.slow
def test_every_task_is_read_from_its_carrier_block_only_at_full_size() -> None:
    """n = 8,000, ridge probe, each block of the nuisance preset alone on every task."""
    s = sim.simulate(sim.preset("nuisance", width=32), 8000, seed=11)
    mats = {b: s.flat([b]) for b in s.blocks}
    res = evaluate_many(s.ids, mats, s.tasks, probe="ridge", num_threads=1)
    group = {"veg": "vegetation", "agri": "agriculture", "heat": "heat", "atmo": "atmosphere"}
    land = {"vegetation", "agriculture", "heat"}
    for task, factors in sim.TASK_FACTORS.items():
        q = {b: r.tasks[task].q for b, r in res.items()}
        assert abs(q["randvit"]) < 1.5, task  # task-free channels: the random baseline
        carriers = [b for b, g in group.items() if set(factors) <= set(sim.FACTOR_GROUPS[g])]
        if not factors:  # the random controls: no block reads them
            assert max(abs(v) for v in q.values()) < 1.5, task
            continue
        (carrier,) = carriers
        assert q[carrier] > 40, (task, q)  # carried linearly: high Q
        assert q[carrier] > 3 * max(v for b, v in q.items() if b != carrier), (task, q)
        # a block of independent factors (weather against land cover) reads nothing
        independent = [b for b, g in group.items() if (g in land) != (group[carrier] in land)]
        assert max(abs(q[b]) for b in independent) < 1.5, (task, q)


def test_spiral_is_injective_and_fades_linear_access() -> None:
    z = np.random.default_rng(0).standard_normal(100_000)
    r2 = [_r2_linear(sim.spiral(z, s), z) for s in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)]
    assert r2[0] > 0.999 and all(a > b for a, b in zip(r2, r2[1:]))
    np.testing.assert_allclose(r2[1:], [0.97, 0.82, 0.47, 0.16, 0.003], atol=0.02)
    xy = sim.spiral(np.sort(z), 3.0)
    radius = np.hypot(xy[:, 0], xy[:, 1])
    assert (np.diff(radius) >= 0).all()  # the radius grows with z: no two z share a point


def test_nonlinearity_lowers_linear_access_but_keeps_the_information() -> None:
    lat = sim.sample_latents(3000, 8)
    z = sim.standardized_factor(lat, "lst_mean", 1)[:, 0, 0]
    r2, knn = [], []
    for s in (0.0, 1.0, 2.0, 3.0):
        spec = sim.BlockSpec("nl", {"lst_mean": 1.0}, channels=6, noise=0.02, nonlinearity=s)
        x = sim.render_block(spec, lat, seed=8)[:, :, 0]
        r2.append(_r2_linear(x, z))
        knn.append(cross_val_score(KNeighborsRegressor(10), x, z, cv=3).mean())
    assert r2[0] > 0.99 and all(a > b for a, b in zip(r2, r2[1:])) and r2[-1] < 0.2
    assert min(knn) > 0.9  # what a linear probe cannot read is still there


# ------------------------------------------------------------------------------------------------
# writing, splits, presets, validation
# ------------------------------------------------------------------------------------------------
def test_store_writer_round_trips(tmp_path: Path) -> None:
    s = sim.simulate(sim.preset("complementary", width=16), 300, seed=4)
    paths = write_simulation(s, tmp_path, "complementary", size="n300", shard_size=128)
    for name, path in paths.items():
        assert path == tmp_path / "embeddings" / f"{name}__complementary__n300"
        store = EmbeddingStore(path)
        ids, arr = store.read()
        assert ids == s.ids and store.complete and store.shape == s.specs[name].shape
        np.testing.assert_array_equal(arr, s.blocks[name])
        assert store.config["block"] == s.specs[name].to_dict() and store.config["seed"] == 4
    tasks = load_tasks(tmp_path / "labels")
    assert sorted(tasks) == sorted(s.tasks)
    for name, task in tasks.items():
        assert task.kind == s.tasks[name].kind
        pd.testing.assert_series_equal(task.labels, s.tasks[name].labels, check_exact=False)
    # the evaluator reads them unchanged; a rerun finds the same stores and rewrites nothing
    ids, arr = EmbeddingStore(paths["veg"]).read()
    res = evaluate(ids, arr.reshape(len(ids), -1), tasks, probe="ridge", k_folds=3)
    assert len(res.tasks) == 11 and np.isfinite(res.q_bar)
    write_simulation(s, tmp_path, "complementary", size="n300", shard_size=128)


def test_split_follows_the_hash_rule() -> None:
    s = sim.simulate([sim.BlockSpec("x", {"snow": 1.0}, 4)], 3000, seed=2)
    split = s.split()
    assert sorted(split["dev"] + split["eval"]) == sorted(s.ids)
    assert all(is_dev_id(i) for i in split["dev"]) and not any(map(is_dev_id, split["eval"]))
    assert abs(len(split["dev"]) / 3000 - 5149 / 13260) < 0.03


def test_presets() -> None:
    for name in sim.PRESETS:
        specs = sim.preset(name, width=64)
        assert len({s.name for s in specs}) == len(specs)
        if name != "access":
            assert all(s.channels * s.seasons == 64 for s in specs)
    comp, over = sim.preset("complementary"), sim.preset("overlapping")
    assert [s.shape for s in comp] == [s.shape for s in over]
    covered = {f for s in comp for f, _ in s.factors}
    assert covered == set(sim.TASK_GROUP_FACTORS)
    assert all({f for f, _ in s.factors} == covered for s in over)
    for a, b in zip(comp, comp[1:]):
        assert not {f for f, _ in a.factors} & {f for f, _ in b.factors}
    narrow, wide = sim.preset("access", width=256)[:2]
    assert narrow.noise**2 / narrow.channels == pytest.approx(wide.noise**2 / wide.channels)
    randvit = sim.preset("nuisance")[-1]
    assert not randvit.factors and randvit.nuisance == randvit.channels
    with pytest.raises(ValueError, match="unknown preset"):
        sim.preset("nope")
    with pytest.raises(ValueError, match="multiple of 4"):
        sim.preset("complementary", width=30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a__b", "factors": {"snow": 1.0}},
        {"name": "a", "factors": {"nosuch": 1.0}},
        {"name": "a", "factors": {"snow": 0.0}},
        {"name": "a", "factors": {"snow": 1.0}, "seasons": 2},
        {"name": "a", "factors": {"snow": 1.0}, "channels": 4, "nuisance": 4},
        {"name": "a", "factors": {"snow": 1.0}, "noise": -1.0},
    ],
)
def test_block_spec_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        sim.BlockSpec(**kwargs)


def test_block_spec_is_canonical_and_json_able() -> None:
    a = sim.BlockSpec("a", {"cloud": 1.0, "scene": 2.0})
    b = sim.BlockSpec("a", {"scene": 2.0, "cloud": 1.0})
    assert a == b and hash(a) == hash(b) and a.factors[0][0] == "scene"
    assert a.to_dict()["factors"] == {"scene": 2.0, "cloud": 1.0}
    with pytest.raises(ValueError, match="unique"):
        sim.simulate([a, b], 10)
