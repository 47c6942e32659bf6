"""The ablation study (Table 1, the per-task heatmap) and the long-training (double-descent) study.

Ablation
    :func:`ablation_runs` declares every row of Table 1: each foundation model alone, the paper's
    growing fusions (DOFA + CROMA, + Copernicus-FM, + Prithvi, all five), all five without
    dropout, and beyond the paper the registry's baselines probed directly, PCA of the fused raw
    embeddings, the raw fused embeddings probed directly (what compression costs) and the
    all-five fusion on the ``as_published_code`` stores. :func:`run_ablation` trains every
    compressor for several seeds, evaluates each checkpoint, and keeps for each seed the
    best-Q̄ checkpoint (the paper's choice) beside the best-validation-MSE and last ones.
    Every unit of work (one row, one seed) is cached under a hash of everything that determines
    its result: a rerun computes nothing, an interrupted study resumes where it stopped
    (training itself resumes from its checkpoints, and checkpoint evaluations are cached).
    :func:`table1` turns the results into the table (Q̄ mean and std over seeds, Z, val MSE,
    the ridge-probe Q̄), :func:`compare` calls a difference within the seed spread a tie.

Long training
    :func:`log_spaced_epochs` places checkpoints log-uniformly over a run about 30x longer than
    the best epoch; :func:`run_long` trains it (resumable) and evaluates each checkpoint;
    :func:`detect_descents` finds the descents of the smoothed validation-MSE curve on the log
    axis and decides whether it descends twice; :func:`long_summary` checks whether Q̄ follows.

Both studies are reachable from the command line: ``e2s ablation`` and ``e2s long``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from e2s_utils.config import BASELINES, FOUNDATION_MODELS
from e2s_utils.provenance import atomic_write_bytes

if TYPE_CHECKING:
    from e2s_utils.config import Profile, RunContext
    from e2s_utils.data.labels import LabelTask
    from e2s_utils.fusion import FusionConfig, FusionData

Preset = Literal["as_intended", "as_published_code"]
Method = Literal["fusion", "baseline", "pca", "raw"]
Group = Literal["paper", "beyond"]
Selection = Literal["best_q", "best_mse", "last"]
SELECTIONS: tuple[Selection, ...] = ("best_q", "best_mse", "last")

#: Version of the cached result format; bump it to invalidate every cached unit.
CACHE_VERSION = 1
#: Probes every evaluation runs: the benchmark's linear probe, and a converged ridge probe beside it.
PROBES: tuple[str, ...] = ("linear", "ridge")

DISPLAY_NAMES: dict[str, str] = {
    "copernicusfm": "Copernicus-FM",
    "dofa": "DOFA",
    "croma": "CROMA",
    "prithvi": "Prithvi-EO-2.0",
    "scalemae": "Scale-MAE",
    "engineered": "engineered features",
    "rcf": "random conv. features + PCA",
    "mean_baseline": "mean baseline",
    "random": "random embeddings",
}

#: The order in which the paper grows its fusion (Table 1): DOFA + CROMA, then + Copernicus-FM,
#: + Prithvi, + Scale-MAE (all five).
FUSION_ORDER: tuple[str, ...] = ("dofa", "croma", "copernicusfm", "prithvi", "scalemae")


class StudyError(RuntimeError):
    """A study that cannot run as configured (missing inputs, mixed configurations)."""


# ============================================================================ helpers
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``obj``."""
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def _atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, sort_keys=True, indent=1, default=_json_default) + "\n"
    atomic_write_bytes(path, text.encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def display_name(models: Sequence[str]) -> str:
    """``DOFA + CROMA`` style label of a model combination (``All five`` for the paper's five)."""
    if set(models) == set(FOUNDATION_MODELS) and len(models) == len(FOUNDATION_MODELS):
        return "All five"
    if len(models) == 1:
        return DISPLAY_NAMES.get(models[0], models[0])
    short = {**DISPLAY_NAMES, "prithvi": "Prithvi"}  # the paper's spelling inside a combination
    return " + ".join(short.get(m, m) for m in models)


def _tasks_fingerprint(tasks: Mapping[str, LabelTask]) -> str:
    h = hashlib.sha256()
    for name in sorted(tasks):
        task = tasks[name]
        series = task.labels.sort_index()
        h.update(f"{name}|{task.kind}|{len(series)}|".encode())
        h.update("\n".join(map(str, series.index)).encode())
        h.update(np.ascontiguousarray(series.to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def _ids_fingerprint(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


# ============================================================================ the ablation's runs
@dataclass(frozen=True)
class AblationRun:
    """One row of Table 1.

    Attributes:
        name: unique slug (file names, cache keys), e.g. ``fusion-dofa+croma``.
        label: the row's label in the table and heatmap.
        method: ``fusion`` (a trained compressor), ``baseline`` (a registry baseline's stored
            embeddings probed directly), ``pca`` (PCA of the fused raw embeddings) or ``raw``
            (the fused raw embeddings probed directly).
        models: the foundation models (or the one baseline) whose stores the row reads.
        preset: the input recipe preset of those stores.
        dropout: the compressor's dropout (``fusion`` only).
        group: ``paper`` for the rows of the paper's Table 1, ``beyond`` for the additions.
        paper_label: the matching row of the paper's Table 1 (:func:`paper_table1`), if any.
    """

    name: str
    label: str
    method: Method
    models: tuple[str, ...]
    preset: Preset = "as_intended"
    dropout: float = 0.1
    group: Group = "paper"
    paper_label: str | None = None

    @property
    def seeded(self) -> bool:
        """Whether the row's result depends on a training seed (only trained compressors do)."""
        return self.method == "fusion"


def _fusion_run(models: Sequence[str], preset: Preset, **kw: Any) -> AblationRun:
    models = tuple(models)
    slug = "+".join(models)
    label = display_name(models)
    return AblationRun(name=f"fusion-{slug}", label=label, method="fusion", models=models,
                       preset=preset, paper_label=label, **kw)  # fmt: skip


def ablation_runs(
    models: Sequence[str] = FOUNDATION_MODELS,
    baselines: Sequence[str] = BASELINES,
    *,
    preset: Preset = "as_intended",
    include_pca: bool = True,
    include_raw: bool = True,
    include_presets: bool = True,
) -> list[AblationRun]:
    """The declarative list of Table 1's rows.

    The paper's rows come first (each model alone, then the growing fusion in the paper's order
    restricted to ``models``, all of them without dropout), then the additions.

    Args:
        models: the foundation models available (extracted); rows needing others are left out.
        baselines: the registry baselines to probe directly.
        preset: the preset of the main rows.
        include_pca: add PCA of the fused raw embeddings (classical alternative to the compressor).
        include_raw: add the fused raw embeddings probed directly.
        include_presets: add the all-model fusion on the other preset's stores.

    Returns:
        The rows, names unique.

    Raises:
        ValueError: for an unknown model name or no model at all.
    """
    unknown = [m for m in models if m not in FOUNDATION_MODELS]
    if unknown or not models:
        raise ValueError(
            f"ablation models must be a non-empty subset of {FOUNDATION_MODELS}, got {models!r}"
        )
    ordered = [m for m in FUSION_ORDER if m in models]
    runs: list[AblationRun] = []
    for m in FOUNDATION_MODELS:
        if m in models:
            runs.append(_fusion_run((m,), preset))
    for k in range(2, len(ordered) + 1):
        runs.append(_fusion_run(ordered[:k], preset))
    full = tuple(ordered)
    if len(full) > 1:
        nodrop = _fusion_run(full, preset, dropout=0.0)
        runs.append(replace(nodrop, name=nodrop.name + "-nodropout",
                            label=f"{nodrop.label} without dropout", paper_label=None))  # fmt: skip
    for b in baselines:
        runs.append(AblationRun(name=f"baseline-{b}", label=DISPLAY_NAMES.get(b, b),
                                method="baseline", models=(b,), preset=preset, group="beyond"))  # fmt: skip
    if include_pca:
        runs.append(AblationRun(name="pca-" + "+".join(full), label=f"PCA of {display_name(full)}",
                                method="pca", models=full, preset=preset, group="beyond"))  # fmt: skip
    if include_raw:
        runs.append(AblationRun(name="raw-" + "+".join(full), label=f"{display_name(full)}, raw",
                                method="raw", models=full, preset=preset, group="beyond"))  # fmt: skip
    if include_presets:
        other: Preset = "as_published_code" if preset == "as_intended" else "as_intended"
        run = _fusion_run(full, other)
        runs.append(replace(run, name=f"{run.name}-{other}", label=f"{run.label} ({other})",
                            group="beyond", paper_label=None))  # fmt: skip
    names = [r.name for r in runs]
    assert len(names) == len(set(names)), names
    return runs


@dataclass(frozen=True)
class AblationSettings:
    """Everything the ablation's numbers depend on besides the data.

    Attributes:
        models: foundation models (their stores must exist or be extractable).
        baselines: registry baselines probed directly.
        preset: the preset of the main rows (the other one is compared on the all-model fusion).
        size: model size of the stores (``micro``, ``tiny``, ``full``).
        epochs: training epochs of every compressor (paper: 160).
        checkpoint_every: checkpoint cadence (paper: 5); every checkpoint is evaluated.
        batch_size: compressor batch size (paper: 32).
        seeds: compressor seeds per row (``base_seed``, ``base_seed + 1``, ...).
        base_seed: the first seed (paper: 1337).
        k_folds: probe folds per task.
        probe_epochs: probe epochs per fold.
        pca_components: PCA components of the PCA row (capped by the training samples).
        hidden: the compressor's hidden width (paper: 2048).
        out_dim: the compressor's embedding size (paper: 1024).
        include_pca: add the PCA row.
        include_raw: add the raw-fused row.
        include_presets: add the other preset's all-model fusion.
    """

    models: tuple[str, ...] = FOUNDATION_MODELS
    baselines: tuple[str, ...] = BASELINES
    preset: Preset = "as_intended"
    size: Literal["micro", "tiny", "full"] = "full"
    epochs: int = 160
    checkpoint_every: int = 5
    batch_size: int = 32
    seeds: int = 1
    base_seed: int = 1337
    k_folds: int = 40
    probe_epochs: int = 10
    pca_components: int = 1024
    hidden: int = 2048
    out_dim: int = 1024
    include_pca: bool = True
    include_raw: bool = True
    include_presets: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "checkpoint_every", "batch_size", "seeds", "k_folds",
                     "probe_epochs", "pca_components", "hidden", "out_dim"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"AblationSettings.{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> AblationSettings:
        """The settings a profile implies (its ``ablation_*`` fields), with overrides."""
        base = cls(
            models=tuple(profile.models),
            baselines=tuple(profile.baselines),
            preset=profile.preset,
            size=profile.model_size,
            epochs=profile.ablation_epochs,
            checkpoint_every=profile.ablation_checkpoint_every,
            batch_size=profile.fusion_batch_size,
            seeds=profile.ablation_seeds,
            base_seed=profile.seed,
            k_folds=profile.eval_k_folds,
            probe_epochs=profile.eval_epochs,
        )
        return replace(base, **overrides)

    @property
    def seed_list(self) -> list[int]:
        """The compressor seeds of every fusion row."""
        return [self.base_seed + i for i in range(self.seeds)]

    def runs(self) -> list[AblationRun]:
        """The rows these settings produce (:func:`ablation_runs`)."""
        return ablation_runs(self.models, self.baselines, preset=self.preset,
                             include_pca=self.include_pca, include_raw=self.include_raw,
                             include_presets=self.include_presets)  # fmt: skip

    def stores_needed(self) -> list[tuple[str, Preset]]:
        """Every ``(model, preset)`` store the rows read."""
        out: list[tuple[str, Preset]] = []
        for run in self.runs():
            for m in run.models:
                if (m, run.preset) not in out:
                    out.append((m, run.preset))
        return out


# ============================================================================ study inputs
@dataclass
class StudyInputs:
    """The data one study run reads: the compressor's splits, the probe ids and the tasks.

    The compressor trains on the evaluation split (the samples that are later probed, labels
    never used) and validates its reconstruction on the development split, as the paper did.

    Attributes:
        out_dir: the profile's output folder (holds the embedding stores).
        size: model size of the stores.
        train_ids: evaluation-split ids (compressor training set, probed samples).
        val_ids: development-split ids (compressor validation set).
        tasks: the label tasks.
    """

    out_dir: Path
    size: str
    train_ids: list[str]
    val_ids: list[str]
    tasks: dict[str, LabelTask]
    _cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def _store(self, model: str, preset: str) -> Any:
        from e2s_utils import store

        path = store.store_path(self.out_dir, model, preset, self.size)
        st = store.EmbeddingStore(path)
        if not st.exists():
            raise StudyError(
                f"no embedding store for {model} ({preset}, {self.size}) at {path}; run "
                f"`e2s extract --model {model} --preset {preset} --size {self.size}` or "
                "the 20_extract notebook first (ensure_stores does it for you)"
            )
        return st

    def arrays(self, model: str, preset: str) -> tuple[np.ndarray, np.ndarray]:
        """``(train, val)`` float32 ``(n, C, T)`` arrays of one store, rows in id order (cached)."""
        key = (model, preset)
        if key not in self._cache:
            st = self._store(model, preset)
            _, tr = st.read(self.train_ids)
            _, va = st.read(self.val_ids)
            self._cache[key] = (tr, va)
        return self._cache[key]

    def fingerprint(self, model: str, preset: str) -> dict[str, Any]:
        """What identifies one store's content: its config hash and the ids read from it."""
        st = self._store(model, preset)
        return {"store": st.config_hash, "weights": st.weights_identity}

    def fusion_data(self, models: Sequence[str], preset: str) -> tuple[FusionData, FusionData]:
        """``(train, val)`` :class:`~e2s_utils.fusion.FusionData` of a model combination."""
        from e2s_utils import fusion

        train = {m: self.arrays(m, preset)[0] for m in models}
        val = {m: self.arrays(m, preset)[1] for m in models}
        return (fusion.FusionData(ids=list(self.train_ids), inputs=train),
                fusion.FusionData(ids=list(self.val_ids), inputs=val))  # fmt: skip

    @property
    def tasks_fingerprint(self) -> str:
        """Hash of every task's ids and labels."""
        return _tasks_fingerprint(self.tasks)


def load_inputs(data_root: Path, out_dir: Path, size: str) -> StudyInputs:
    """The splits and tasks of a dataset, for stores under ``out_dir``.

    Args:
        data_root: the dataset root (``data/`` and ``labels/``).
        out_dir: the profile's output folder holding ``embeddings/``.
        size: the stores' model size.

    Raises:
        StudyError: when a split is empty or there are no label tasks.
    """
    from e2s_utils.data import split_ids
    from e2s_utils.data.labels import load_tasks

    splits = split_ids(Path(data_root))
    train_ids, val_ids = list(splits["eval"]), list(splits["dev"])
    if not train_ids or not val_ids:
        raise StudyError(
            f"dataset {data_root} has {len(train_ids)} eval-split and {len(val_ids)} dev-split "
            "samples; the studies need both (regenerate the synthetic set with more samples)"
        )
    tasks = load_tasks(Path(data_root) / "labels")
    if not tasks:
        raise StudyError(f"no label tasks under {Path(data_root) / 'labels'}")
    # the probe scores the evaluation split only (the samples whose embeddings are submitted)
    probed = set(train_ids)
    tasks = {
        name: replace(t, labels=t.labels[t.labels.index.isin(probed)]) for name, t in tasks.items()
    }
    return StudyInputs(Path(out_dir), size, train_ids, val_ids, tasks)


def ensure_stores(
    ctx: RunContext, stores: Iterable[tuple[str, str]], *, progress: bool | None = None
) -> None:
    """Create the synthetic dataset and any missing or unfinished embedding store.

    Both steps are idempotent: a complete dataset and complete stores are reused untouched.

    Args:
        ctx: the run context.
        stores: ``(model, preset)`` pairs to make sure of.
        progress: show progress bars (default: the profile's setting).
    """
    from e2s_utils import extract, store

    prof = ctx.profile
    progress = prof.progress if progress is None else progress
    if prof.synthetic:
        from e2s_utils.data import synthetic

        synthetic.ensure_dataset(ctx.data_root, n=prof.n_samples, seed=prof.data_seed,
                                 progress=progress)  # fmt: skip
    for model, preset in stores:
        st = store.EmbeddingStore(store.store_path(ctx.out_dir, model, preset, prof.model_size))
        if st.exists() and st.complete:
            continue
        extract.extract(model, preset, prof.model_size, ctx.data_root, ctx.out_dir,
                        batch_size=prof.extract_batch_size, num_workers=prof.num_workers,
                        device=ctx.device, seed=prof.seed, progress=progress)  # fmt: skip


# ============================================================================ one unit of work
def fusion_config(run: AblationRun, settings: AblationSettings, seed: int) -> FusionConfig:
    """The compressor configuration of a fusion row and seed (the paper's, scaled epochs)."""
    from e2s_utils import fusion

    return fusion.FusionConfig(
        models=tuple(run.models),
        dropout=run.dropout,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        checkpoint_every=settings.checkpoint_every,
        seed=seed,
        hidden=settings.hidden,
        out_dim=settings.out_dim,
    )


def _unit_key(run: AblationRun, seed: int | None, settings: AblationSettings,
              inputs: StudyInputs) -> dict[str, Any]:  # fmt: skip
    key: dict[str, Any] = {
        "cache_version": CACHE_VERSION,
        "run": asdict(run),
        "seed": seed,
        "probes": list(PROBES),
        "k_folds": settings.k_folds,
        "probe_epochs": settings.probe_epochs,
        "train_ids": _ids_fingerprint(inputs.train_ids),
        "val_ids": _ids_fingerprint(inputs.val_ids),
        "tasks": inputs.tasks_fingerprint,
        "stores": {m: inputs.fingerprint(m, run.preset) for m in run.models},
    }
    if run.method == "fusion":
        assert seed is not None
        key["fusion"] = fusion_config(run, settings, seed).hash()
    if run.method == "pca":
        key["pca_components"] = settings.pca_components
    return key


def _record(epoch: int | None, q_bar: float, q_bar_ridge: float | None, val_mse: float | None,
            q: Mapping[str, float], q_ridge: Mapping[str, float]) -> dict[str, Any]:  # fmt: skip
    return {
        "epoch": None if epoch is None else int(epoch),
        "q_bar": float(q_bar),
        "q_bar_ridge": _finite_or_none(q_bar_ridge),
        "val_mse": _finite_or_none(val_mse),
        "q": {k: float(v) for k, v in q.items()},
        "q_ridge": {k: float(v) for k, v in q_ridge.items()},
    }


def checkpoint_file(run_dir: Path, curve: pd.DataFrame, epoch: int) -> Path:
    """The file an evaluated row of ``epoch`` came from: a snapshot or ``best_val.pt``.

    Uses the table's ``checkpoint`` column (relative to ``run_dir``) when present; otherwise the
    epoch's snapshot.
    """
    from e2s_utils import fusion

    if "checkpoint" in curve.columns:
        rows = curve[curve["epoch"] == epoch]
        if not rows.empty:
            return Path(run_dir) / str(rows["checkpoint"].iloc[0])
    return fusion.checkpoint_path(run_dir, epoch)


def select_checkpoints(curve: pd.DataFrame, tasks: Iterable[str]) -> dict[Selection, dict]:
    """Pick the best-Q̄, best-validation-MSE and last checkpoints of an evaluated run.

    The paper chooses the checkpoint with the highest mean Q (ties: the earliest); the other two
    are reported beside it so that the choice's optimism is visible.

    Args:
        curve: :func:`e2s_utils.fusion.evaluate_checkpoints`'s frame (``epoch``, ``val_mse``,
            ``q_bar``, ``q_bar_ridge``, ``q_<task>``, ``q_ridge_<task>``).
        tasks: the task names.

    Returns:
        ``{"best_q": record, "best_mse": record, "last": record}``.

    Raises:
        StudyError: for an empty curve or a missing column.
    """
    tasks = list(tasks)
    need = ["epoch", "val_mse", "q_bar"] + [f"q_{t}" for t in tasks]
    missing = [c for c in need if c not in curve.columns]
    if curve.empty or missing:
        raise StudyError(f"checkpoint evaluation lacks rows or columns {missing}")
    curve = curve.sort_values("epoch", kind="stable").reset_index(drop=True)
    trained = curve[curve["epoch"] > 0]
    pool = trained if not trained.empty else curve
    idx: dict[Selection, int] = {
        "best_q": int(pool["q_bar"].idxmax()),
        "best_mse": int(pool["val_mse"].idxmin()),
        "last": int(curve.index[-1]),
    }
    out: dict[Selection, dict] = {}
    for sel, i in idx.items():
        row = curve.loc[i]
        out[sel] = _record(
            row["epoch"], row["q_bar"], row.get("q_bar_ridge"), row["val_mse"],
            {t: row[f"q_{t}"] for t in tasks},
            {t: row[f"q_ridge_{t}"] for t in tasks if f"q_ridge_{t}" in row},
        )  # fmt: skip
    return out


def _evaluate_matrix(ids: list[str], X: np.ndarray, inputs: StudyInputs,
                     settings: AblationSettings, *, probes: Sequence[str] = PROBES,
                     seed: int = 42) -> dict[str, Any]:  # fmt: skip
    from e2s_utils import evaluate

    out: dict[str, Any] = {}
    for probe in probes:
        res = evaluate.evaluate(
            ids, X, inputs.tasks, probe=probe, k_folds=settings.k_folds,
            epochs=settings.probe_epochs, seed=seed,
        )  # fmt: skip
        suffix = "" if probe == "linear" else f"_{probe}"
        out[f"q_bar{suffix}"] = float(res.q_bar)
        out[f"q{suffix}"] = {t: float(r.q) for t, r in res.tasks.items()}
    return out


def _flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate ``(n, C, T)`` arrays channel-major (time fastest), as the compressor does."""
    return np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1).astype(np.float32)


def _loss_weights(models: Sequence[str]) -> dict[str, float]:
    from e2s_utils import fusion

    cfg = fusion.FusionConfig(models=tuple(models))
    weights = cfg.loss_weights
    if isinstance(weights, Mapping):
        return {m: float(weights[m]) for m in models}
    return {m: float(w) for m, w in zip(models, weights)}


def pca_embed(
    train: Sequence[np.ndarray], val: Sequence[np.ndarray], n_components: int,
    weights: Sequence[float],
) -> tuple[np.ndarray, float, int]:  # fmt: skip
    """PCA of the fused raw embeddings: the classical alternative to the compressor.

    The concatenated inputs are standardised per sample (the compressor's LayerNorm, without
    affine parameters), projected on the leading principal components fitted on the training
    split, and reconstructed on the validation split by inverting both steps, so that its
    validation MSE (weighted per model, like the compressor's loss) is comparable.

    Args:
        train: per model ``(n_train, C, T)`` raw embeddings.
        val: per model ``(n_val, C, T)`` raw embeddings, same models.
        n_components: components wanted; capped at ``min(n_train, features)``.
        weights: per model loss weights.

    Returns:
        ``(train_scores (n_train, k), val_mse, k)``.
    """
    from sklearn.decomposition import PCA

    x_tr, x_va = _flatten(train).astype(np.float64), _flatten(val).astype(np.float64)
    k = int(min(n_components, x_tr.shape[0], x_tr.shape[1]))

    def norm(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = x.mean(axis=1, keepdims=True)
        sd = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
        return (x - mu) / sd, mu, sd

    z_tr, _, _ = norm(x_tr)
    z_va, mu, sd = norm(x_va)
    pca = PCA(n_components=k, svd_solver="full", random_state=0).fit(z_tr)
    recon = pca.inverse_transform(pca.transform(z_va)) * sd + mu
    val_mse = 0.0
    start = 0
    for w, arr in zip(weights, val):
        width = int(np.prod(arr.shape[1:]))
        err = recon[:, start : start + width] - x_va[:, start : start + width]
        val_mse += float(w) * float(np.mean(err**2))
        start += width
    return pca.transform(z_tr).astype(np.float32), val_mse, k


def run_unit(
    run: AblationRun,
    seed: int | None,
    settings: AblationSettings,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Compute (or load from the cache) one row's result for one seed.

    The result is cached at ``root/results/<name>__<seed>__<hash>.json`` where the hash covers
    the row, the seed, the compressor configuration, the probe settings, the ids, the labels and
    the stores' config hashes; a fusion row trains in ``root/runs/<same stem>/`` (resumable).

    Returns:
        ``{"run", "seed", "hash", "selections": {best_q, best_mse, last}, ...}``.
    """
    key = _unit_key(run, seed, settings, inputs)
    digest = config_hash(key)
    stem = f"{run.name}__{'s' + str(seed) if seed is not None else 'det'}__{digest[:12]}"
    path = root / "results" / f"{stem}.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("hash") == digest:
            return cached
    tasks = sorted(inputs.tasks)
    extra: dict[str, Any] = {}
    if run.method == "fusion":
        from e2s_utils import fusion

        assert seed is not None
        train, val = inputs.fusion_data(run.models, run.preset)
        cfg = fusion_config(run, settings, seed)
        run_dir = root / "runs" / stem
        fusion.train(cfg, train, val, run_dir, device=device, progress=progress)
        curve = fusion.evaluate_checkpoints(
            run_dir, train, inputs.tasks, probes=("linear",), k_folds=settings.k_folds,
            epochs=settings.probe_epochs, device=device, progress=progress,
        )  # fmt: skip
        curve = pd.DataFrame(curve)
        selections = select_checkpoints(curve, tasks)
        # the converged ridge probe beside it, on the chosen checkpoint only (half the cost);
        # the chosen one may be best_val.pt, whose epoch has no snapshot of its own
        best = selections["best_q"]
        X = fusion.embed(checkpoint_file(run_dir, curve, best["epoch"]), train, device=device)
        ridge = _evaluate_matrix(list(train.ids), X, inputs, settings, probes=("ridge",))
        best["q_bar_ridge"], best["q_ridge"] = ridge["q_bar_ridge"], ridge["q_ridge"]
        extra["curve"] = {
            "epoch": [int(e) for e in curve["epoch"]],
            "val_mse": [float(v) for v in curve["val_mse"]],
            "q_bar": [float(v) for v in curve["q_bar"]],
        }
    else:
        pairs = [inputs.arrays(m, run.preset) for m in run.models]
        val_mse: float | None
        if run.method == "baseline":
            X, val_mse = _flatten([p[0] for p in pairs]), None
        elif run.method == "raw":
            X, val_mse = _flatten([p[0] for p in pairs]), 0.0
        elif run.method == "pca":
            w = _loss_weights(run.models)
            X, val_mse, k = pca_embed([p[0] for p in pairs], [p[1] for p in pairs],
                                      settings.pca_components, [w[m] for m in run.models])  # fmt: skip
            extra["pca_components"] = k
        else:  # pragma: no cover - guarded by the Literal
            raise StudyError(f"unknown method {run.method!r} of row {run.name}")
        extra["dim"] = int(X.shape[1])
        ev = _evaluate_matrix(list(inputs.train_ids), X, inputs, settings)
        rec = _record(None, ev["q_bar"], ev["q_bar_ridge"], val_mse, ev["q"], ev["q_ridge"])
        selections = {sel: rec for sel in SELECTIONS}
    result = {"run": run.name, "seed": seed, "hash": digest, "key": key,
              "selections": selections, **extra}  # fmt: skip
    _atomic_write_json(path, result)
    return result


# ============================================================================ the whole study
@dataclass
class AblationResults:
    """Every unit's result of one ablation study.

    Attributes:
        runs: the rows, in table order.
        settings: the settings that produced them.
        units: per row name, the per-seed results (:func:`run_unit`).
        tasks: the task names.
    """

    runs: list[AblationRun]
    settings: AblationSettings
    units: dict[str, list[dict[str, Any]]]
    tasks: list[str]

    def frame(self, selection: Selection = "best_q") -> pd.DataFrame:
        """Long frame: one row per (table row, seed) with ``q_bar``, ``val_mse`` and ``q_<task>``."""
        rows = []
        for run in self.runs:
            for unit in self.units.get(run.name, []):
                rec = unit["selections"][selection]
                row = {"name": run.name, "label": run.label, "method": run.method,
                       "group": run.group, "seed": unit["seed"], "epoch": rec["epoch"],
                       "q_bar": rec["q_bar"], "q_bar_ridge": rec["q_bar_ridge"],
                       "val_mse": rec["val_mse"]}  # fmt: skip
                row.update({f"q_{t}": rec["q"].get(t, np.nan) for t in self.tasks})
                rows.append(row)
        return pd.DataFrame(rows)

    def task_q(self, selection: Selection = "best_q") -> pd.DataFrame:
        """Seed-mean per-task Q: rows = table labels (table order), columns = tasks."""
        df = self.frame(selection)
        q = df.groupby("label", sort=False)[[f"q_{t}" for t in self.tasks]].mean()
        q.columns = self.tasks
        return q.loc[[r.label for r in self.runs if r.label in q.index]]


def run_ablation(
    settings: AblationSettings,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> AblationResults:
    """Run (or resume, or load) every row of the ablation for every seed.

    Args:
        settings: the study's settings.
        inputs: the data (:func:`load_inputs`); every store the rows read must exist.
        root: the study's folder (``<out_dir>/ablation``): cached results and training runs.
        device: torch device of training and probing.
        progress: show a progress bar over the units (and inside them).

    Returns:
        The results; a row whose unit failed raises (nothing half-written is kept).
    """
    from tqdm.auto import tqdm

    runs = settings.runs()
    units = [(r, s) for r in runs for s in (settings.seed_list if r.seeded else [None])]
    out: dict[str, list[dict[str, Any]]] = {r.name: [] for r in runs}
    bar = tqdm(units, desc="ablation", unit="run", disable=not progress)
    for run, seed in bar:
        bar.set_postfix_str(f"{run.name} seed {seed}")
        out[run.name].append(run_unit(run, seed, settings, inputs, Path(root), device=device,
                                      progress=False))  # fmt: skip
    return AblationResults(runs, settings, out, sorted(inputs.tasks))


# ============================================================================ Z, table, comparisons
def z_from_q(q: pd.DataFrame, ddof: int = 0) -> pd.DataFrame:
    """The paper's task-normalised score from a methods x tasks table of Q.

    ``Z_t^m = (Q_t^m - mean_m Q_t^m) / std_m Q_t^m`` across the compared methods (population std
    by default, as :func:`e2s_utils.evaluate.z_scores`); only tasks every method scored are used,
    and a task on which every method scores the same contributes 0. ``Z^m`` is the mean over tasks.

    Args:
        q: rows = methods, columns = tasks.
        ddof: degrees of freedom of the across-method std.

    Returns:
        The per-task Z of each method plus a ``Z`` column (their mean over tasks).
    """
    q = q.astype(float)
    q = q.loc[:, q.notna().all(axis=0)]  # only tasks every method scored
    mean = q.mean(axis=0)
    std = q.std(axis=0, ddof=ddof)
    z = (q - mean) / std.replace(0.0, np.nan)
    z = z.fillna(0.0)
    z["Z"] = z.mean(axis=1)
    return z


#: Table 1's columns, in order.
TABLE1_COLUMNS: tuple[str, ...] = (
    "method", "group", "seeds", "best-Q̄ epoch", "Q̄ mean", "Q̄ std", "Z", "Z (paper rows)",
    "val MSE", "Q̄ ridge probe", "Q̄ at best-MSE epoch", "Q̄ at last epoch",
)  # fmt: skip


def table1(results: AblationResults, selection: Selection = "best_q") -> pd.DataFrame:
    """Table 1: per row Q̄ mean and std over seeds, Z, validation MSE, the ridge-probe Q̄.

    Z is computed from the seed-mean per-task Q across every row of the table; ``Z (paper rows)``
    only across the paper's rows (comparable to the paper's Z; empty for the other rows).
    ``Q̄ std`` is the sample std over seeds; 0 for deterministic rows, empty for a single seed.

    Args:
        results: :func:`run_ablation`'s results.
        selection: which checkpoint defines the main columns (the paper: ``best_q``).

    Returns:
        One row per table row, columns :data:`TABLE1_COLUMNS`.
    """
    df = results.frame(selection)
    q = results.task_q(selection)
    z_all = z_from_q(q)["Z"]
    paper_labels = [r.label for r in results.runs if r.group == "paper" and r.label in q.index]
    z_paper = (
        z_from_q(q.loc[paper_labels])["Z"] if len(paper_labels) > 1 else pd.Series(dtype=float)
    )
    other = {s: results.frame(s) for s in ("best_mse", "last")}
    rows = []
    for run in results.runs:
        sub = df[df["name"] == run.name]
        if sub.empty:
            continue
        qb = sub["q_bar"].astype(float)
        if run.seeded:
            std = float(qb.std(ddof=1)) if len(qb) > 1 else np.nan
            epochs = "/".join(str(int(e)) for e in sub["epoch"])
        else:
            std, epochs = 0.0, ""
        val = pd.to_numeric(sub["val_mse"], errors="coerce")
        ridge = pd.to_numeric(sub["q_bar_ridge"], errors="coerce")
        rows.append({
            "method": run.label,
            "group": run.group,
            "seeds": int(len(sub)) if run.seeded else 0,
            "best-Q̄ epoch": epochs,
            "Q̄ mean": float(qb.mean()),
            "Q̄ std": std,
            "Z": float(z_all[run.label]),
            "Z (paper rows)": float(z_paper[run.label]) if run.label in z_paper else np.nan,
            "val MSE": float(val.mean()) if val.notna().any() else np.nan,
            "Q̄ ridge probe": float(ridge.mean()) if ridge.notna().any() else np.nan,
            "Q̄ at best-MSE epoch": float(other["best_mse"].loc[
                other["best_mse"]["name"] == run.name, "q_bar"].mean()),
            "Q̄ at last epoch": float(other["last"].loc[
                other["last"]["name"] == run.name, "q_bar"].mean()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 (NeuCo-Bench defaults, K = 40, all tasks), for reference."""
    rows = [
        ("Copernicus-FM", 10.82, -0.65, 0.004),
        ("CROMA", 11.51, -0.49, 0.001),
        ("DOFA", 11.61, -0.43, 0.008),
        ("Prithvi-EO-2.0", 9.71, -0.14, 0.843),
        ("Scale-MAE", 9.48, -0.39, 0.617),
        ("DOFA + CROMA", 16.10, 0.05, 0.013),
        ("DOFA + CROMA + Copernicus-FM", 17.23, 0.52, 0.023),
        ("DOFA + CROMA + Copernicus-FM + Prithvi", 18.15, 0.67, 1.139),
        ("All five", 17.43, 0.87, 1.953),
    ]
    return pd.DataFrame(rows, columns=["method", "Q̄", "Z", "val MSE"])


#: The paper's all-five Q̄ without dropout (section 2 of its text): 16.45 against 17.43.
PAPER_NO_DROPOUT_Q_BAR = 16.45


def with_paper_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with the paper's Q̄, Z and val MSE beside each row that has a paper counterpart."""
    paper = paper_table1().rename(columns={"Q̄": "paper Q̄", "Z": "paper Z",
                                           "val MSE": "paper val MSE"})  # fmt: skip
    out = table.merge(paper, on="method", how="left")
    nodrop = out["method"].str.endswith("without dropout") & (out["group"] == "paper")
    out.loc[nodrop, "paper Q̄"] = PAPER_NO_DROPOUT_Q_BAR
    return out


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b``: the difference of Q̄ means and whether it exceeds the seed spread.

    ``spread`` is NaN when a seeded row ran a single seed (its spread is unknown); the verdict
    then only says which is ahead (``ahead`` / ``behind``), never that the gap is real.
    """

    a: str
    b: str
    diff: float
    spread: float
    verdict: Literal["better", "worse", "tie", "ahead", "behind"]


def compare(table: pd.DataFrame, a: str, b: str) -> Comparison:
    """Compare two rows of Table 1 by Q̄, calling a difference within the seed spread a tie.

    The spread is ``sqrt(std_a² + std_b²)``, the std of the difference of two single-seed draws
    (a deterministic row has std 0; a single-seed row's std is unknown, and so is the spread).
    """
    ra = table.loc[table["method"] == a].iloc[0]
    rb = table.loc[table["method"] == b].iloc[0]
    diff = float(ra["Q̄ mean"] - rb["Q̄ mean"])
    spread = math.hypot(float(ra["Q̄ std"]), float(rb["Q̄ std"]))
    verdict: Literal["better", "worse", "tie", "ahead", "behind"]
    if not math.isfinite(spread):
        verdict = "ahead" if diff > 0 else "behind"
    elif abs(diff) <= spread:
        verdict = "tie"
    else:
        verdict = "better" if diff > 0 else "worse"
    return Comparison(a, b, diff, spread, verdict)


def ablation_summary(table: pd.DataFrame, runs: Sequence[AblationRun]) -> dict[str, Any]:
    """The computed conclusions of the ablation.

    Returns:
        A dict with the best fusion row, its Q̄ mean and std, the margin over the runner-up
        fusion and over the best single model (with verdicts), per-baseline comparisons and
        whether it beats every baseline beyond the spread, and where present the cost of
        compression (raw fused), PCA against the compressor, dropout, and the other preset.
    """
    by_label = {r.label: r for r in runs}
    present = set(table["method"])
    fusions = [r.label for r in runs if r.method == "fusion" and r.group == "paper"
               and r.label in present]  # fmt: skip
    multi = [lab for lab in fusions if len(by_label[lab].models) > 1 and by_label[lab].dropout > 0]
    singles = [lab for lab in fusions if len(by_label[lab].models) == 1]
    t = table.set_index("method")
    out: dict[str, Any] = {}
    candidates = multi or fusions
    best = max(candidates, key=lambda lab: t.loc[lab, "Q̄ mean"])
    out["best_fusion"] = best
    out["best_q_bar"] = float(t.loc[best, "Q̄ mean"])
    out["best_q_bar_std"] = float(t.loc[best, "Q̄ std"])
    rest = [lab for lab in candidates if lab != best]
    if rest:
        runner = max(rest, key=lambda lab: t.loc[lab, "Q̄ mean"])
        out["runner_up"] = asdict(compare(table, best, runner))
    if singles:
        best_single = max(singles, key=lambda lab: t.loc[lab, "Q̄ mean"])
        out["best_single"] = asdict(compare(table, best, best_single))
    baselines = [r.label for r in runs if r.method == "baseline" and r.label in present]
    comps = [compare(table, best, b) for b in baselines]
    out["baselines"] = [asdict(c) for c in comps]
    # None: undecidable (a single seed gives no spread)
    out["beats_every_baseline"] = (
        None
        if any(c.verdict in ("ahead", "behind") for c in comps)
        else bool(comps) and all(c.verdict == "better" for c in comps)
    )
    for method, key in (("raw", "vs_raw"), ("pca", "vs_pca")):
        rows = [r.label for r in runs if r.method == method and r.label in present]
        if rows:
            out[key] = asdict(compare(table, best, rows[0]))
    nodrop = [r for r in runs if r.method == "fusion" and r.dropout == 0 and r.label in present]
    if nodrop:
        with_drop = [r.label for r in runs if r.method == "fusion" and r.dropout > 0
                     and r.models == nodrop[0].models and r.group == "paper"]  # fmt: skip
        if with_drop and with_drop[0] in present:
            out["dropout"] = asdict(compare(table, with_drop[0], nodrop[0].label))
    other = [r for r in runs if r.method == "fusion" and r.group == "beyond" and r.dropout > 0
             and r.label in present]  # fmt: skip
    if other:
        main = [r.label for r in runs if r.method == "fusion" and r.group == "paper"
                and r.models == other[0].models and r.dropout > 0]  # fmt: skip
        if main and main[0] in present:
            out["presets"] = asdict(compare(table, main[0], other[0].label))
    return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """Sentences stating :func:`ablation_summary`'s conclusions, with their numbers."""

    def sentence(c: Mapping[str, Any], what: str) -> str:
        word = {"better": "beats", "worse": "loses to", "tie": "ties with",
                "ahead": "is ahead of", "behind": "is behind"}[c["verdict"]]  # fmt: skip
        spread = (f"seed spread {c['spread']:.2f}" if math.isfinite(c["spread"])
                  else "one seed: spread unknown")  # fmt: skip
        return f"{c['a']} {word} {what} {c['b']} by {c['diff']:+.2f} Q̄ ({spread})"

    std = summary["best_q_bar_std"]
    pm = f"± {std:.2f}" if math.isfinite(std) else "(one seed)"
    lines = [f"Best fusion: {summary['best_fusion']}, Q̄ = {summary['best_q_bar']:.2f} {pm}"]
    if "runner_up" in summary:
        lines.append(sentence(summary["runner_up"], "the runner-up fusion"))
    if "best_single" in summary:
        lines.append(sentence(summary["best_single"], "the best single model"))
    for c in summary.get("baselines", []):
        lines.append(sentence(c, "the baseline"))
    beats = summary.get("beats_every_baseline")
    lines.append(
        "It beats every baseline beyond the seed spread: "
        + ("undecided (one seed)" if beats is None else "yes" if beats else "no")
    )
    if "vs_raw" in summary:
        lines.append(sentence(summary["vs_raw"], "the uncompressed"))
    if "vs_pca" in summary:
        lines.append(sentence(summary["vs_pca"], "the classical"))
    if "dropout" in summary:
        lines.append(sentence(summary["dropout"], "its dropout-free twin"))
    if "presets" in summary:
        lines.append(sentence(summary["presets"], "the other preset"))
    return "\n".join(lines)


# ============================================================================ long training
def log_spaced_epochs(total: int, n: int) -> tuple[int, ...]:
    """``n`` checkpoint epochs spaced log-uniformly over ``[1, total]``, with 0 in front.

    The result always starts with 0 (the untrained compressor) and ends with ``total``, is
    strictly increasing and has exactly ``n`` entries: rounding collisions at the dense early end
    are pushed up one epoch at a time, and pushed back down where that would crowd ``total``.

    Args:
        total: the last epoch (>= 1).
        n: number of epochs, 0 and ``total`` included (``2 <= n <= total + 1``).

    Returns:
        The epochs.

    Raises:
        ValueError: for ``total < 1``, ``n < 2`` or ``n > total + 1``.
    """
    total, n = int(total), int(n)
    if total < 1:
        raise ValueError(f"log_spaced_epochs: total must be >= 1, got {total}")
    if n < 2 or n > total + 1:
        raise ValueError(
            f"log_spaced_epochs: n must be between 2 and total + 1 = {total + 1}, got {n}"
        )
    if n == 2:
        return (0, total)
    raw = np.geomspace(1, total, n - 1)
    epochs = [0] + [int(round(v)) for v in raw]
    for i in range(1, n):
        epochs[i] = max(epochs[i], epochs[i - 1] + 1)
    epochs[-1] = total
    for i in range(n - 2, 0, -1):
        epochs[i] = min(epochs[i], epochs[i + 1] - 1)
    return tuple(epochs)


@dataclass(frozen=True)
class LongSettings:
    """The long-training (double-descent) run.

    Attributes:
        models: the fused foundation models.
        preset: their stores' preset.
        size: the stores' model size.
        epochs: training epochs (about 30x the best-Q̄ epoch: 4,800 at the paper's setting).
        n_checkpoints: log-spaced checkpoints (0 and ``epochs`` included).
        batch_size: compressor batch size.
        seed: compressor seed.
        k_folds: probe folds per task.
        probe_epochs: probe epochs per fold.
        hidden: the compressor's hidden width (paper: 2048).
        out_dim: the compressor's embedding size (paper: 1024).
    """

    models: tuple[str, ...] = FOUNDATION_MODELS
    preset: Preset = "as_intended"
    size: Literal["micro", "tiny", "full"] = "full"
    epochs: int = 4800
    n_checkpoints: int = 24
    batch_size: int = 32
    seed: int = 1337
    k_folds: int = 40
    probe_epochs: int = 10
    hidden: int = 2048
    out_dim: int = 1024

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> LongSettings:
        """The settings a profile implies (``long_epochs``, ``long_n_checkpoints``)."""
        base = cls(models=tuple(profile.models), preset=profile.preset, size=profile.model_size,
                   epochs=profile.long_epochs, n_checkpoints=profile.long_n_checkpoints,
                   batch_size=profile.fusion_batch_size, seed=profile.seed,
                   k_folds=profile.eval_k_folds, probe_epochs=profile.eval_epochs)  # fmt: skip
        return replace(base, **overrides)

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        """The log-spaced checkpoint epochs."""
        return log_spaced_epochs(self.epochs, self.n_checkpoints)

    def fusion_config(self) -> FusionConfig:
        """The compressor configuration: the paper's, longer, with log-spaced checkpoints."""
        from e2s_utils import fusion

        return fusion.FusionConfig(models=tuple(self.models), batch_size=self.batch_size,
                                   epochs=self.epochs, checkpoint_epochs=self.checkpoint_epochs,
                                   seed=self.seed, hidden=self.hidden,
                                   out_dim=self.out_dim)  # fmt: skip


@dataclass
class LongResult:
    """The long run's outcome.

    Attributes:
        history: per-epoch training history (``epoch``, ``train_loss``, ``val_mse``, ...).
        curve: per-checkpoint evaluation (``epoch``, ``val_mse``, ``q_bar``, ``q_<task>``, ...).
        run_dir: the run's folder.
    """

    history: pd.DataFrame
    curve: pd.DataFrame
    run_dir: Path


def run_long(
    settings: LongSettings,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> LongResult:
    """Train the long run (resuming any interrupted one) and evaluate each checkpoint.

    The run lives in ``root/<config hash[:12]>``; training resumes from its last checkpoint and
    checkpoint evaluations are cached, so a rerun after any interruption only does what is left.
    """
    from e2s_utils import fusion

    cfg = settings.fusion_config()
    key = {"fusion": cfg.hash(), "preset": settings.preset, "size": settings.size,
           "stores": {m: inputs.fingerprint(m, settings.preset) for m in settings.models},
           "train_ids": _ids_fingerprint(inputs.train_ids),
           "val_ids": _ids_fingerprint(inputs.val_ids)}  # fmt: skip
    run_dir = Path(root) / f"run__{config_hash(key)[:12]}"
    train, val = inputs.fusion_data(settings.models, settings.preset)
    history = fusion.train(cfg, train, val, run_dir, device=device, progress=progress)
    curve = fusion.evaluate_checkpoints(
        run_dir, train, inputs.tasks, probes=PROBES, k_folds=settings.k_folds,
        epochs=settings.probe_epochs, device=device, progress=progress,
    )  # fmt: skip
    return LongResult(pd.DataFrame(history), pd.DataFrame(curve).sort_values("epoch"), run_dir)


@dataclass
class DescentAnalysis:
    """Descents of a validation-MSE curve on the log-epoch axis.

    Attributes:
        minima: epochs of the prominent local minima of the smoothed curve (the curve's last
            point counts when it is still descending).
        maxima: epochs of the prominent interior local maxima (the bumps between descents).
        descents: ``(start epoch, end epoch, drop in log10 MSE)`` of each descent.
        double_descent: whether the curve descends, rises, and descends again.
        grid: the log-axis grid epochs; smoothed: the smoothed log10 MSE on it.
    """

    minima: list[float]
    maxima: list[float]
    descents: list[tuple[float, float, float]]
    double_descent: bool
    grid: np.ndarray
    smoothed: np.ndarray


def detect_descents(
    epochs: Sequence[float],
    mse: Sequence[float],
    *,
    points_per_decade: int = 40,
    sigma_decades: float = 0.08,
    min_prominence: float = 0.02,
) -> DescentAnalysis:
    """Find the descents of a validation-MSE curve, smoothed on the log-epoch axis.

    The curve (``log10 MSE`` against ``log10 epoch``, epochs >= 1) is averaged onto a uniform
    log grid, smoothed with a Gaussian of ``sigma_decades``, and its local extrema kept when
    their prominence (in ``log10 MSE``; 0.02 is a 5 % change) reaches ``min_prominence``. A
    descent runs from the start or a kept maximum down to the next kept minimum (or the end);
    two descents separated by a kept maximum make a double descent.

    Args:
        epochs: epochs of the MSE values (0 is dropped: no log position).
        mse: validation MSE values (> 0).
        points_per_decade: grid density.
        sigma_decades: smoothing width, in decades of epochs.
        min_prominence: smallest prominence of a kept extremum, in decades of MSE.

    Returns:
        The analysis.

    Raises:
        ValueError: for mismatched lengths, fewer than 3 positive epochs or non-positive MSE.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    e = np.asarray(epochs, dtype=float)
    y = np.asarray(mse, dtype=float)
    if e.shape != y.shape:
        raise ValueError(f"detect_descents: {e.shape[0]} epochs but {y.shape[0]} MSE values")
    keep = (e >= 1) & np.isfinite(y)
    e, y = e[keep], y[keep]
    if e.size < 3:
        raise ValueError("detect_descents needs at least 3 finite values at epochs >= 1")
    if np.any(y <= 0):
        raise ValueError("detect_descents: MSE values must be > 0 (log axis)")
    order = np.argsort(e)
    x, ly = np.log10(e[order]), np.log10(y[order])
    n_grid = max(int(math.ceil((x[-1] - x[0]) * points_per_decade)) + 1, 3)
    gx = np.linspace(x[0], x[-1], n_grid)
    # bin-average dense stretches, interpolate sparse ones
    step = gx[1] - gx[0]
    idx = np.clip(np.round((x - gx[0]) / step).astype(int), 0, n_grid - 1)
    sums = np.bincount(idx, weights=ly, minlength=n_grid)
    counts = np.bincount(idx, minlength=n_grid)
    filled = counts > 0
    gy = np.interp(gx, gx[filled], sums[filled] / counts[filled])
    sm = gaussian_filter1d(gy, sigma=max(sigma_decades / step, 1e-6), mode="nearest")
    peaks, _ = find_peaks(sm, prominence=min_prominence)
    troughs, _ = find_peaks(-sm, prominence=min_prominence)
    grid_epochs = 10**gx
    maxima = [float(grid_epochs[i]) for i in peaks]
    # a descent runs from the start, or from each kept maximum, down to the lowest point before
    # the next kept maximum (or the end)
    descents: list[tuple[float, float, float]] = []
    bounds = [0, *peaks.tolist(), n_grid - 1]
    for s, nxt in zip(bounds[:-1], bounds[1:]):
        end = s + int(np.argmin(sm[s : nxt + 1]))
        drop = float(sm[s] - sm[end])
        if end > s and drop >= min_prominence:
            descents.append((float(grid_epochs[s]), float(grid_epochs[end]), drop))
    minima = sorted({float(grid_epochs[i]) for i in troughs} | {d[1] for d in descents})
    double = len(descents) >= 2
    return DescentAnalysis(minima, maxima, descents, double, grid_epochs, sm)


def long_summary(result: LongResult, analysis: DescentAnalysis | None = None) -> dict[str, Any]:
    """Check the paper's claim: MSE descends twice, and Q̄ does not follow.

    Q̄ "follows" the double descent when the best-Q̄ checkpoint lies in the second descent
    (after the first bump) and beats the best Q̄ before the bump; otherwise the second MSE
    descent does not carry over to Q̄. The Spearman correlation of Q̄ with -log MSE over the
    checkpoints is reported beside it.

    Returns:
        A dict of the numbers and the two verdicts (``double_descent``, ``q_follows``).
    """
    from scipy.stats import spearmanr

    hist = result.history
    src = hist if "val_mse" in hist and len(hist) >= 3 else result.curve
    analysis = analysis or detect_descents(src["epoch"], src["val_mse"])
    curve = result.curve.sort_values("epoch")
    best = curve.loc[curve["q_bar"].idxmax()]
    out: dict[str, Any] = {
        "double_descent": analysis.double_descent,
        "n_descents": len(analysis.descents),
        "descents": analysis.descents,
        "bumps": analysis.maxima,
        "best_q_epoch": int(best["epoch"]),
        "best_q_bar": float(best["q_bar"]),
        "final_q_bar": float(curve["q_bar"].iloc[-1]),
        "min_val_mse": float(curve["val_mse"].min()),
        "min_val_mse_epoch": int(curve.loc[curve["val_mse"].idxmin(), "epoch"]),
    }
    trained = curve[curve["epoch"] > 0]
    if len(trained) >= 3:
        rho = spearmanr(trained["q_bar"], -np.log10(trained["val_mse"])).statistic
        out["spearman_q_vs_neg_log_mse"] = float(rho)
    q_follows = False
    if analysis.double_descent and analysis.maxima:
        bump = analysis.maxima[0]
        before = curve[(curve["epoch"] > 0) & (curve["epoch"] <= bump)]
        after = curve[curve["epoch"] > bump]
        if not before.empty and not after.empty:
            out["best_q_bar_before_bump"] = float(before["q_bar"].max())
            out["best_q_bar_after_bump"] = float(after["q_bar"].max())
            q_follows = out["best_q_bar_after_bump"] > out["best_q_bar_before_bump"]
    out["q_follows"] = bool(q_follows)
    return out


def format_long_summary(summary: Mapping[str, Any]) -> str:
    """Sentences stating the long run's claim from its numbers."""
    lines = []
    if summary["double_descent"]:
        d = summary["descents"]
        lines.append(
            f"Validation MSE descends {summary['n_descents']} times: first down to epoch "
            f"{d[0][1]:.0f}, then rises to a bump near epoch {summary['bumps'][0]:.0f} and "
            f"descends again to epoch {d[1][1]:.0f} (drops of {d[0][2]:.2f} and {d[1][2]:.2f} "
            "decades): a double descent."
        )
    else:
        lines.append(
            f"Validation MSE does not descend twice ({summary['n_descents']} descent(s) found): "
            "no double descent at this scale."
        )
    lines.append(
        f"Best Q̄ = {summary['best_q_bar']:.2f} at epoch {summary['best_q_epoch']}; final Q̄ = "
        f"{summary['final_q_bar']:.2f}; lowest val MSE {summary['min_val_mse']:.4g} at epoch "
        f"{summary['min_val_mse_epoch']}."
    )
    if "spearman_q_vs_neg_log_mse" in summary:
        lines.append(
            f"Spearman correlation of Q̄ with -log MSE over checkpoints: "
            f"{summary['spearman_q_vs_neg_log_mse']:+.2f}."
        )
    if summary["double_descent"]:
        lines.append(
            "Q̄ follows the second descent (its best lies after the bump)."
            if summary["q_follows"]
            else "Q̄ does not follow the second descent (the paper's observation)."
        )
    return "\n".join(lines)


# ============================================================================ command line
def _common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--profile", choices=["smoke", "demo", "full"], default=None,
                   help="profile (default: E2S_PROFILE, else by data)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def ablation_main(argv: list[str] | None = None) -> int:
    """``e2s ablation``: run the ablation study, write Table 1 and the per-task heatmap."""
    from e2s_utils import config, provenance
    from e2s_utils.plots import studies as plots

    p = _common_parser("e2s ablation", ablation_main.__doc__ or "")
    p.add_argument("--seeds", type=int, default=None, help="compressor seeds per row")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per compressor")
    p.add_argument("--no-presets", action="store_true",
                   help="skip the as_published_code comparison (saves its extraction)")  # fmt: skip
    args = p.parse_args(argv)
    ctx = config.setup("40_ablation", profile=args.profile, ablation_seeds=args.seeds,
                       ablation_epochs=args.epochs)  # fmt: skip
    progress = ctx.profile.progress and not args.no_progress
    settings = AblationSettings.from_profile(ctx.profile, include_presets=not args.no_presets)
    ensure_stores(ctx, settings.stores_needed(), progress=progress)
    inputs = load_inputs(ctx.data_root, ctx.out_dir, settings.size)
    results = run_ablation(settings, inputs, ctx.out_dir / "ablation", device=ctx.device,
                           progress=progress)  # fmt: skip
    table = table1(results)
    provenance.save_table(with_paper_reference(table), "table1_ablation", ctx)
    provenance.save_table(paper_table1(), "table1_paper", ctx)
    q = results.task_q()
    fig = plots.ablation_heatmap(q, z_from_q(q))
    provenance.save_figure(fig, "ablation_heatmap", ctx)
    print(table.to_string(index=False))
    print(format_summary(ablation_summary(table, results.runs)))
    return 0


def long_main(argv: list[str] | None = None) -> int:
    """``e2s long``: train the long run, evaluate its checkpoints, state the double-descent claim."""
    from e2s_utils import config, provenance
    from e2s_utils.plots import studies as plots

    p = _common_parser("e2s long", long_main.__doc__ or "")
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--checkpoints", type=int, default=None, help="log-spaced checkpoints")
    args = p.parse_args(argv)
    ctx = config.setup("50_long_training", profile=args.profile, long_epochs=args.epochs,
                       long_n_checkpoints=args.checkpoints)  # fmt: skip
    progress = ctx.profile.progress and not args.no_progress
    settings = LongSettings.from_profile(ctx.profile)
    ensure_stores(ctx, [(m, settings.preset) for m in settings.models], progress=progress)
    inputs = load_inputs(ctx.data_root, ctx.out_dir, settings.size)
    result = run_long(settings, inputs, ctx.out_dir / "long_training", device=ctx.device,
                      progress=progress)  # fmt: skip
    analysis = detect_descents(result.history["epoch"], result.history["val_mse"])
    summary = long_summary(result, analysis)
    fig = plots.long_training_curve(result.history, result.curve, analysis)
    provenance.save_figure(fig, "long_training", ctx)
    provenance.save_table(result.curve[["epoch", "val_mse", "q_bar"]], "long_training_curve", ctx)
    print(format_long_summary(summary))
    return 0
