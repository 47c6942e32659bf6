"""One unit of the ablation: one row of Table 1 for one seed, computed once and cached.

A unit's result is cached (:mod:`e2s_utils.cache`) under a key holding the row, the seed, the
compressor's configuration, the protocol, the split, the labels and the stores' identities; a fusion
row trains in ``<root>/runs/<stem>/`` (resumable) and evaluates every checkpoint (cached). For each
unit three checkpoints are kept: the best-Q̄ one (the paper's choice, made on the probed labels),
the best-validation-MSE one and the last one, each with its per-task Q and every fold score. Once
the result is cached, the run's weights are deleted (the profile's ``prune_snapshots``); its history
and cached evaluations stay. With the profile's ``workers`` > 1 (CPU only) the units missing from the
cache are computed side by side in that many processes (:mod:`~e2s_utils.studies.side_by_side`),
then read back in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2s_utils.cache import CacheKey, read_result, write_result
from e2s_utils.io import finite_or_none
from e2s_utils.store.loader import flatten
from e2s_utils.studies.ablation import (
    SELECTIONS,
    AblationRun,
    Selection,
    StudyError,
    ablation_runs,
    init_seeds_of,
    seed_list,
)
from e2s_utils.studies.table import AblationResults

if TYPE_CHECKING:
    from e2s_utils.config import Profile
    from e2s_utils.evaluate import EvalResult
    from e2s_utils.fusion import FusionConfig
    from e2s_utils.store.loader import StudyInputs

#: Probes every evaluation runs: the benchmark's linear probe and the converged ridge probe.
PROBES: tuple[str, ...] = ("linear", "ridge")


def fusion_config(run: AblationRun, profile: Profile, seed: int) -> FusionConfig:
    """The compressor configuration of a fusion row and seed: the profile's, row and seed applied."""
    return dataclasses.replace(
        profile.fusion,
        models=tuple(run.models),
        dropout=run.dropout,
        loss_weights=None,
        epochs=profile.ablation.epochs,
        checkpoint_every=profile.ablation.checkpoint_every,
        seed=seed,
    )


def unit_key(run: AblationRun, seed: int | None, profile: Profile, inputs: StudyInputs) -> CacheKey:
    """The cache key of one unit."""
    variants = init_seeds_of(run, seed, profile)
    config: dict[str, Any] = {
        "run": dataclasses.asdict(run),
        "seed": seed,
        "probes": list(PROBES),
        "protocol": profile.protocol.to_dict(),
        "inputs": inputs.identity(),
        "stores": {m: inputs.fingerprint(m, run.preset, variants.get(m)) for m in run.models},
    }
    if run.method == "fusion":
        if seed is None:
            raise StudyError(f"fusion row {run.name} needs a seed")
        config["fusion"] = fusion_config(run, profile, seed).to_dict()
    if run.method == "pca":
        config["pca_components"] = profile.ablation.pca_components
    return CacheKey("ablation", config)


def record(
    epoch: int | None, val_mse: float | None, linear: EvalResult, ridge: EvalResult | None
) -> dict[str, Any]:
    """One selection's numbers: Q̄, per-task Q and fold scores of both probes, val MSE."""
    out: dict[str, Any] = {
        "epoch": None if epoch is None else int(epoch),
        "val_mse": finite_or_none(val_mse),
        "q_bar": float(linear.q_bar),
        "q": {t: float(r.q) for t, r in linear.tasks.items()},
        "folds": {t: [finite_or_none(v) for v in r.folds] for t, r in linear.tasks.items()},
        "q_bar_ridge": None,
        "q_ridge": {},
        "folds_ridge": {},
    }
    if ridge is not None:
        out["q_bar_ridge"] = finite_or_none(ridge.q_bar)
        out["q_ridge"] = {t: float(r.q) for t, r in ridge.tasks.items()}
        out["folds_ridge"] = {
            t: [finite_or_none(v) for v in r.folds] for t, r in ridge.tasks.items()
        }
    return out


def select_checkpoints(curve: pd.DataFrame, tasks: Iterable[str]) -> dict[Selection, int]:
    """Row positions of the best-Q̄, best-validation-MSE and last checkpoints of a sorted curve.

    The paper chooses the checkpoint with the highest mean Q (ties: the earliest); the other two
    are kept beside it so that the choice's optimism is visible. Epoch 0 is not a candidate.

    Raises:
        StudyError: for an empty curve or a missing column.
    """
    need = ["epoch", "val_mse", "q_bar"] + [f"q_{t}" for t in tasks]
    missing = [c for c in need if c not in curve.columns]
    if curve.empty or missing:
        raise StudyError(f"checkpoint evaluation lacks rows or columns {missing}")
    trained = curve[curve["epoch"] > 0]
    pool = trained if not trained.empty else curve
    return {
        "best_q": int(pool["q_bar"].idxmax()),
        "best_mse": int(pool["val_mse"].idxmin()),
        "last": int(curve.index[-1]),
    }


def _fusion_unit(
    run: AblationRun, seed: int, profile: Profile, inputs: StudyInputs, run_dir: Path, device: str
) -> tuple[dict[Any, Any], dict[str, Any]]:
    from e2s_utils import fusion
    from e2s_utils.evaluate import evaluate

    data = inputs.splits(run.models, run.preset, init_seeds_of(run, seed, profile))
    cfg = fusion_config(run, profile, seed)
    fusion.train(cfg, data.train, data.val, run_dir, device=device, progress=False)
    results: dict[str, dict[str, EvalResult]] = {}
    curve = fusion.evaluate_checkpoints(
        run_dir,
        data.probe,
        inputs.tasks,
        profile.protocol,
        probes=("linear",),
        device=device,
        progress=False,
        include_untrained=False,  # epoch 0 is never a candidate (select_checkpoints)
        results=results,
    )
    curve = curve.sort_values("epoch", kind="stable").reset_index(drop=True)
    picks = select_checkpoints(curve, sorted(inputs.tasks))
    best_file = str(curve.loc[picks["best_q"], "checkpoint"])
    # the converged ridge probe beside it, on the chosen checkpoint only (half the cost)
    best_epoch = int(curve.loc[picks["best_q"], "epoch"])
    X = fusion.checkpoint_embeddings(run_dir, best_file, best_epoch, data.probe, device)
    ridge = evaluate(data.probe.ids, X, inputs.tasks, protocol=profile.protocol, probe="ridge")
    selections = {}
    for sel, i in picks.items():
        row = curve.loc[i]
        linear = results[str(row["checkpoint"])]["linear"]
        selections[sel] = record(
            int(row["epoch"]), row["val_mse"], linear, ridge if sel == "best_q" else None
        )
    extra = {
        "curve": {
            "epoch": [int(e) for e in curve["epoch"]],
            "val_mse": [float(v) for v in curve["val_mse"]],
            "q_bar": [float(v) for v in curve["q_bar"]],
        }
    }
    return selections, extra


def pca_embed(
    train: Sequence[np.ndarray],
    val: Sequence[np.ndarray],
    n_components: int,
    weights: Sequence[float],
) -> tuple[np.ndarray, float, int]:
    """PCA of the fused raw embeddings: the classical alternative to the compressor.

    The concatenated inputs are standardised per sample (the compressor's LayerNorm without
    affine parameters), projected on the leading principal components fitted on the training split
    (scikit-learn), and reconstructed on the validation split by inverting both steps, so that its
    validation MSE (weighted per model, like the compressor's loss) is comparable.

    Returns:
        ``(train_scores (n_train, k), val_mse, k)``; ``k`` is capped at ``min(n_train, features)``.
    """
    from sklearn.decomposition import PCA

    x_tr, x_va = flatten(train).astype(np.float64), flatten(val).astype(np.float64)
    k = int(min(n_components, x_tr.shape[0], x_tr.shape[1]))

    def norm(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = x.mean(axis=1, keepdims=True)
        sd = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
        return (x - mu) / sd, mu, sd

    z_tr, _, _ = norm(x_tr)
    z_va, mu, sd = norm(x_va)
    pca = PCA(n_components=k, svd_solver="full", random_state=0).fit(z_tr)
    recon = pca.inverse_transform(pca.transform(z_va)) * sd + mu
    val_mse, start = 0.0, 0
    for w, arr in zip(weights, val, strict=True):
        width = int(np.prod(arr.shape[1:]))
        err = recon[:, start : start + width] - x_va[:, start : start + width]
        val_mse += float(w) * float(np.mean(err**2))
        start += width
    return pca.transform(z_tr).astype(np.float32), val_mse, k


def _direct_unit(
    run: AblationRun, profile: Profile, inputs: StudyInputs
) -> tuple[dict[str, Any], dict[str, Any]]:
    from e2s_utils.evaluate import evaluate
    from e2s_utils.fusion import default_loss_weight

    pairs = [inputs.arrays(m, run.preset) for m in run.models]
    probed = 0 if inputs.setting == "transductive" else 1  # the eval split's arrays
    extra: dict[str, Any] = {}
    val_mse: float | None
    if run.method in ("baseline", "raw"):
        X = flatten([p[probed] for p in pairs])
        val_mse = None if run.method == "baseline" else 0.0
    elif run.method == "pca":
        if inputs.setting != "transductive":
            raise StudyError("the PCA row is defined for the transductive setting only")
        weights = [default_loss_weight(m) for m in run.models]
        X, val_mse, k = pca_embed(
            [p[0] for p in pairs], [p[1] for p in pairs], profile.ablation.pca_components, weights
        )
        extra["pca_components"] = k
    else:
        raise StudyError(f"unknown method {run.method!r} of row {run.name}")
    extra["dim"] = int(X.shape[1])
    linear = evaluate(inputs.probe_ids, X, inputs.tasks, protocol=profile.protocol, probe="linear")
    ridge = evaluate(inputs.probe_ids, X, inputs.tasks, protocol=profile.protocol, probe="ridge")
    rec = record(None, val_mse, linear, ridge)
    return {sel: rec for sel in SELECTIONS}, extra


def _stem(run: AblationRun, seed: int | None, key: CacheKey) -> str:
    """A unit's file and folder name."""
    return f"{run.name}__{'s' + str(seed) if seed is not None else 'det'}__{key.short()}"


def run_unit(
    run: AblationRun,
    seed: int | None,
    profile: Profile,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
) -> dict[str, Any]:
    """Compute (or load from the cache) one row's result for one seed.

    Returns:
        ``{"run", "seed", "selections": {best_q, best_mse, last}, ...}``.
    """
    key = unit_key(run, seed, profile, inputs)
    stem = _stem(run, seed, key)
    path = Path(root) / "results" / f"{stem}.json"
    cached = read_result(path, key)
    if cached is not None:
        return dict(cached)
    if run.method == "fusion":
        if seed is None:
            raise StudyError(f"fusion row {run.name} needs a seed")
        run_dir = Path(root) / "runs" / stem
        selections, extra = _fusion_unit(run, seed, profile, inputs, run_dir, device)
    else:
        selections, extra = _direct_unit(run, profile, inputs)
    result = {"run": run.name, "seed": seed, "selections": selections, **extra}
    write_result(path, key, result)
    if run.method == "fusion" and profile.prune_snapshots:  # every number is in the result
        from e2s_utils.fusion import prune_snapshots

        prune_snapshots(run_dir, keep=())
    return result


def run_ablation(
    profile: Profile,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> AblationResults:
    """Run (or resume, or load) every row of the ablation for every seed.

    Args:
        profile: the profile (its ablation, fusion, protocol and extract configurations).
        inputs: the data (:func:`e2s_utils.store.load_inputs`); every store must exist.
        root: the study's folder (``<out_dir>/ablation``): cached results and training runs.
        device: torch device of training and probing.
        progress: show a progress bar over the units.

    Returns:
        The results; a unit that fails raises (nothing half-written is kept).
    """
    from tqdm.auto import tqdm

    runs = ablation_runs(profile)
    units = [(r, s) for r in runs for s in (seed_list(profile, r) if r.seeded else [None])]
    workers = profile.workers if device == "cpu" else 1
    if workers > 1:
        _compute_side_by_side(units, profile, inputs, Path(root), progress)
    out: dict[str, list[dict[str, Any]]] = {r.name: [] for r in runs}
    bar = tqdm(units, desc="ablation", unit="run", disable=not progress or workers > 1)
    for run, seed in bar:
        bar.set_postfix_str(f"{run.name} seed {seed}")
        out[run.name].append(run_unit(run, seed, profile, inputs, Path(root), device=device))
    return AblationResults(runs, out, sorted(inputs.tasks), profile.protocol.to_dict())


#: What a worker process computes units for (set once per process by :func:`_start_worker`).
_WORKER: dict[str, Any] = {}


def _start_worker(profile: Profile, inputs: StudyInputs, root: Path) -> None:
    _WORKER.update(profile=profile, inputs=inputs, root=root)


def _unit_in_worker(run: AblationRun, seed: int | None) -> str:
    """One unit in a worker process; its result goes to the cache."""
    run_unit(run, seed, _WORKER["profile"], _WORKER["inputs"], _WORKER["root"], device="cpu")
    return f"{run.name} seed {seed}"


def _compute_side_by_side(
    units: Sequence[tuple[AblationRun, int | None]],
    profile: Profile,
    inputs: StudyInputs,
    root: Path,
    progress: bool,
) -> None:
    """Compute the units missing from the cache in ``profile.workers`` processes, rows of the
    most models first (:mod:`~e2s_utils.studies.side_by_side`)."""
    from e2s_utils.studies.side_by_side import compute_side_by_side

    missing = [(r, s) for r, s in units if not _is_cached(r, s, profile, inputs, root)]
    if len(missing) < 2:
        return
    missing.sort(key=lambda unit: -len(unit[0].models))
    compute_side_by_side(
        _unit_in_worker,
        missing,
        workers=profile.workers,
        init=_start_worker,
        initargs=(profile, dataclasses.replace(inputs, _cache={}), root),  # workers read stores
        desc="ablation",
        progress=progress,
    )


def _is_cached(
    run: AblationRun, seed: int | None, profile: Profile, inputs: StudyInputs, root: Path
) -> bool:
    """Whether a unit's result is in the cache."""
    key = unit_key(run, seed, profile, inputs)
    return read_result(root / "results" / f"{_stem(run, seed, key)}.json", key) is not None
