"""Tiny, seeded test data shared by the test modules: ids, tasks, fusion inputs, stores, datasets.

Everything here is generated in memory or under a folder the caller passes (a ``tmp_path``); no
network, no real data, no weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from e2s_utils.data.labels import LabelTask, write_task
from e2s_utils.data.splits import Split
from e2s_utils.fusion import FusionConfig
from e2s_utils.store import FusionData, StudyInputs, store_path, write_embeddings

#: Per-model ``(C, T)`` of the small fusion inputs (three registered foundation models).
SHAPES: dict[str, tuple[int, int]] = {"dofa": (6, 4), "croma": (5, 1), "prithvi": (3, 2)}
#: Task names of :func:`random_tasks`: two regressions and a classification.
TASKS: tuple[str, ...] = ("biomass_mean", "crops", "random_cls")
#: Keyword arguments that select the per-fold random stream of the linear probe.
PER_FOLD: dict[str, str] = {"random_stream": "per_fold"}


def make_ids(n: int, offset: int = 0) -> list[str]:
    """``n`` distinct 64-hex-digit sample ids (sorted), starting at ``offset``.

    Args:
        n: number of ids.
        offset: first id number.

    Returns:
        The ids.
    """
    return [f"{i:064x}" for i in range(offset, offset + n)]


def label_task(
    name: str, ids: Sequence[str], values: Sequence[float], kind: str = "regression"
) -> LabelTask:
    """A :class:`LabelTask` with ``values`` indexed by ``ids``.

    Args:
        name: task name.
        ids: sample ids.
        values: one label per id.
        kind: ``regression`` or ``classification``.

    Returns:
        The task.
    """
    labels = pd.Series(
        np.asarray(values, dtype=np.float64), index=pd.Index(list(ids), name="id"), name=name
    )
    return LabelTask(name, kind, labels)  # type: ignore[arg-type]


def random_tasks(
    ids: Sequence[str], names: Iterable[str] = TASKS, seed: int = 1
) -> dict[str, LabelTask]:
    """Seeded random labels for ``ids``: tasks ending in ``cls`` are binary classification.

    Args:
        ids: the labelled ids.
        names: task names.
        seed: random seed.

    Returns:
        Tasks by name.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        kind = "classification" if name.endswith("cls") else "regression"
        values = rng.integers(0, 2, len(ids)) if kind == "classification" else rng.random(len(ids))
        out[name] = label_task(name, ids, values, kind)
    return out


def fusion_data(
    n: int = 40,
    seed: int = 0,
    shapes: Mapping[str, tuple[int, int]] | None = None,
    prefix: str = "id",
) -> FusionData:
    """Low-rank per-model embeddings (the compressor has something to learn), a scale per model.

    Args:
        n: samples.
        seed: random seed.
        shapes: model -> ``(C, T)`` (default :data:`SHAPES`).
        prefix: id prefix; ids are ``f"{prefix}{i:04d}"``.

    Returns:
        The data.
    """
    rng = np.random.default_rng(seed)
    shapes = shapes or SHAPES
    latent = rng.standard_normal((n, 3))
    inputs = {}
    for k, (m, (c, t)) in enumerate(shapes.items()):
        mix = rng.standard_normal((3, c * t))
        x = latent @ mix * (k + 1) + 0.05 * rng.standard_normal((n, c * t))
        inputs[m] = x.reshape(n, c, t).astype(np.float32)
    return FusionData([f"{prefix}{i:04d}" for i in range(n)], inputs)


def train_val(n_train: int = 40, n_val: int = 16) -> tuple[FusionData, FusionData]:
    """Training and validation rows of one :func:`fusion_data` distribution."""
    data = fusion_data(n_train + n_val, 0)
    return data.subset(data.ids[:n_train]), data.subset(data.ids[n_train:])


def small_fusion_config(**changes: object) -> FusionConfig:
    """A small compressor over :data:`SHAPES` (hidden 16, 8-d output, batch 8, 4 epochs)."""
    base: dict[str, object] = {
        "models": tuple(SHAPES),
        "hidden": 16,
        "out_dim": 8,
        "batch_size": 8,
        "epochs": 4,
        "checkpoint_every": 2,
    }
    base.update(changes)
    return FusionConfig(**base)  # type: ignore[arg-type]


def write_stores(
    out_dir: Path,
    ids: Sequence[str],
    shapes: Mapping[str, tuple[int, int]],
    *,
    presets: Iterable[str] = ("as_intended",),
    size: str = "micro",
    seed: int = 0,
) -> None:
    """Write one complete store per model and preset: low-rank embeddings plus noise.

    Args:
        out_dir: the profile folder (stores go to ``out_dir/embeddings/``).
        ids: the store's ids.
        shapes: model -> ``(C, T)``.
        presets: the presets to write.
        size: the model size in the store names.
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((len(ids), 3))
    for preset in presets:
        for k, (model, (c, t)) in enumerate(shapes.items()):
            mix = rng.standard_normal((3, c * t))
            arr = (latent @ mix + 0.3 * rng.standard_normal((len(ids), c * t))) * (1 + k % 3)
            write_embeddings(
                store_path(out_dir, model, preset, size),
                list(ids),
                arr.reshape(len(ids), c, t).astype(np.float32),
                {"model": model, "preset": preset, "seed": seed},
            )


def fake_dataset(
    root: Path,
    ids: Sequence[str],
    tasks: Mapping[str, LabelTask] | None = None,
    *,
    dev: Sequence[str] | None = None,
) -> Path:
    """A dataset root the index and split readers accept, without any cube content.

    Every id gets an empty ``<id>.zarr.zip`` in each modality folder: in ``data/`` (the current
    layout), or, when ``dev`` is given, in ``data_dev/`` for those ids and ``data_eval/`` for the
    rest (the challenge layout). Tasks are written to ``labels/``.

    Args:
        root: the folder to write.
        ids: every id.
        tasks: label tasks to write (default: none).
        dev: the dev-split ids of a challenge-layout dataset.

    Returns:
        ``root``.
    """
    root = Path(root)
    dev_set = set(dev or [])
    for sid in ids:
        base = "data" if dev is None else ("data_dev" if sid in dev_set else "data_eval")
        for modality in ("s1", "s2l1c", "s2l2a"):
            folder = root / base / modality
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{sid}.zarr.zip").write_bytes(b"")
    for task in (tasks or {}).values():
        write_task(root / "labels", task.name, task.kind, task.labels)
    return root


def study_inputs(
    out_dir: Path,
    ids: Sequence[str],
    n_eval: int,
    tasks: Mapping[str, LabelTask],
    *,
    setting: str = "transductive",
    size: str = "micro",
) -> StudyInputs:
    """:class:`StudyInputs` over stores in ``out_dir``: the first ``n_eval`` ids are the eval split.

    Args:
        out_dir: folder holding ``embeddings/``.
        ids: every id (eval split first).
        n_eval: eval-split size.
        tasks: label tasks of the eval ids.
        setting: ``transductive`` or ``inductive``.
        size: model size of the stores.

    Returns:
        The inputs.
    """
    split = Split(tuple(ids[n_eval:]), tuple(ids[:n_eval]), "file", "split.csv")
    return StudyInputs(Path(out_dir), size, split, setting, dict(tasks))  # type: ignore[arg-type]


def probe_loop_reference(
    X: np.ndarray,
    y: np.ndarray,
    is_cls: bool,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int,
    epochs: int,
    batch_size: int = 64,
) -> np.ndarray:
    """The linear probe as a plain per-fold loop (``nn.Linear`` and ``torch.optim.AdamW``).

    Fold ``k`` seeds torch's global generator with ``fold_seed(seed, k)``, builds the probe, then
    draws one permutation of its training rows per epoch: the per-fold random stream.

    Args:
        X: ``(n, d)`` float32 embeddings (already standardised).
        y: ``(n,)`` scaled labels.
        is_cls: binary classification (BCE loss, F1) instead of regression (MSE loss, R²).
        splits: the folds' ``(train, test)`` indices.
        seed: the protocol seed.
        epochs: probe epochs.
        batch_size: mini-batch size.

    Returns:
        ``(epochs, K)`` epoch-end test scores.
    """
    import torch
    from torch import nn

    from e2s_utils.evaluate import fold_scores_from_logits, fold_seed

    Xt, yt = torch.from_numpy(np.asarray(X, dtype=np.float32)), torch.from_numpy(y).float()
    history = np.empty((epochs, len(splits)))
    for k, (tr, te) in enumerate(splits):
        torch.manual_seed(fold_seed(seed, k))
        model = nn.Linear(X.shape[1], 1)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        loss_fn = nn.BCEWithLogitsLoss() if is_cls else nn.MSELoss()
        tr_t, te_t = torch.from_numpy(tr), torch.from_numpy(te)
        for e in range(epochs):
            order = tr_t[torch.randperm(len(tr))]
            for s in range(0, len(tr), batch_size):
                idx = order[s : s + batch_size]
                loss = loss_fn(model(Xt[idx]).view(-1), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                logits = model(Xt[te_t]).view(1, -1, 1)
            target = yt[te_t].view(1, -1, 1)
            history[e, k] = fold_scores_from_logits(logits, target, torch.tensor([is_cls]))[0, 0]
    return history


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes): two stores compare byte for byte."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


#: Registry name of :data:`FAKE_EXTRACTOR_SRC`'s model.
FAKE_EXTRACTOR = "fake_extract"
#: Source of a tiny deterministic extractor (6 x 4 per sample from the season-mean L2A bands),
#: with a per-batch delay a subprocess can be killed in. ``exec`` it to register the model; a
#: child process prepends it to its script.
FAKE_EXTRACTOR_SRC = """
import time
import torch
from e2s_utils.models.registry import (
    PRESETS, BandGroup, Extractor, InputRecipe, ModelSpec, register, shapes_for_all,
)

class FakeExtractor(Extractor):
    delay = 0.0

    def __init__(self, spec, preset, size, seed=0):
        super().__init__(spec, preset, size)
        self.proj = torch.nn.Linear(12, 6)

    def forward(self, cubes):
        if self.delay:
            time.sleep(self.delay)
        x = cubes["s2l2a"].float().mean(dim=(-2, -1)) / 1000.0
        return self.proj(x).transpose(1, 2).contiguous()

FAKE_RECIPE = InputRecipe(
    groups=(BandGroup("s2l2a", ("B02",)),), passes="joint", input_size=264, resize="none",
    seasons="separately", pooling="mean", loads_checkpoint=False,
)

def _build_fake(preset, size, seed=0):
    return FakeExtractor(FAKE_SPEC, preset, size, seed)

FAKE_SPEC = register(
    ModelSpec(
        name="fake_extract", display_name="Fake", kind="baseline",
        recipes={p: FAKE_RECIPE for p in PRESETS}, output_shapes=shapes_for_all((6, 4)),
        loss_weight=1.0, checkpoint=None, default_batch_size=2, builder=_build_fake,
    ),
    replace=True,
)
"""


def register_fake_extractor() -> None:
    """Register :data:`FAKE_EXTRACTOR` in this process (undo with :func:`unregister_fake_extractor`)."""
    exec(FAKE_EXTRACTOR_SRC, {})  # noqa: S102 - the tests' own source


def unregister_fake_extractor() -> None:
    """Remove :data:`FAKE_EXTRACTOR` from the registry."""
    from e2s_utils.models import registry

    registry._REGISTRY.pop(FAKE_EXTRACTOR, None)


#: A ``parameters`` cell declaring ``profile`` and ``fusion_epochs``.
NOTEBOOK_PARAMS = (
    "profile: str | None = None  # the profile\nfusion_epochs: int | None = None  # ep\n"
)


def write_notebook(path: Path, body: Sequence[str], params: str = NOTEBOOK_PARAMS) -> Path:
    """A notebook: a title, an import cell, a tagged ``parameters`` cell, then ``body``'s cells.

    Args:
        path: the ``.ipynb`` to write (folders created).
        body: the source of each code cell after the parameters.
        params: the parameters cell's source.

    Returns:
        ``path``.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Test notebook"),
        nbformat.v4.new_code_cell("from e2s_utils import config"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        *[nbformat.v4.new_code_cell(src) for src in body],
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def two_notebooks(folder: Path) -> Path:
    """``10_first`` (sets up the smoke profile, prints its epochs) and ``30_fusion`` in ``folder``."""
    write_notebook(
        folder / "10_first.ipynb",
        [
            'ctx = config.setup("30_fusion", profile=profile, fusion_epochs=fusion_epochs)',
            "print(ctx.profile.name, ctx.profile.fusion.epochs)",
        ],
    )
    write_notebook(folder / "30_fusion.ipynb", ['print("second", profile)'])
    return folder


def fake_evaluate(ids: Sequence[str], X: np.ndarray, tasks: Mapping[str, LabelTask], **kw: object):
    """A fast stand-in for :func:`e2s_utils.evaluate.evaluate`, deterministic in its input.

    Each task's K fold scores (K from the protocol) are the absolute correlation of the
    embeddings' first principal component with the labels, plus a fixed per-fold wobble; the
    ridge probe scores 0.1 higher. Returns a real :class:`~e2s_utils.evaluate.EvalResult`, so
    everything downstream (caches, tables, statistics) runs unchanged.
    """
    from e2s_utils.evaluate import EvalResult, TaskResult, get_protocol, summarize_folds

    protocol = kw.get("protocol", "paper")
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    probe = str(kw.get("probe", "linear"))
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(0)
    pc = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    row = {str(i): k for k, i in enumerate(ids)}
    results = {}
    for name in sorted(tasks):
        task = tasks[name]
        keep = [i for i in task.labels.index if i in row]
        x = pc[[row[i] for i in keep]]
        y = task.labels[keep].to_numpy(dtype=float)
        base = abs(np.corrcoef(x, y)[0, 1]) if len(keep) > 2 and x.std() and y.std() else 0.0
        base += 0.1 if probe == "ridge" else 0.0
        folds = base + 0.05 * np.sin(np.arange(protocol.k_folds) + len(name))
        mean, std, q = summarize_folds(folds)
        results[name] = TaskResult(name, task.kind, len(keep), mean, std, q, folds)
    q_bar = float(np.mean([t.q for t in results.values()]))
    config = {"probe": probe, "protocol": protocol.to_dict(), "fake": True}
    return EvalResult(probe, q_bar, results, config)


#: Fold-score level of each row of :func:`fake_ablation_results` (by label).
ABLATION_LEVELS: dict[str, float] = {
    "DOFA": 0.30,
    "CROMA": 0.34,
    "DOFA + CROMA": 0.50,
    "DOFA + CROMA without dropout": 0.499,
    "Random embeddings": -0.20,
    "PCA of DOFA + CROMA": 0.36,
    "DOFA + CROMA, raw": 0.60,
}


def fake_ablation_results(seeds: int = 3, k_folds: int = 10, tasks: Sequence[str] = ("t1", "t2")):
    """Ablation results of the smoke profile on DOFA and CROMA without running anything.

    Every row's fold scores are its :data:`ABLATION_LEVELS` level (0.05 lower under
    ``as_published_code``), plus 0.01 per seed index and a fixed fold wobble; Q, Q̄ and the
    selections follow from them as a real unit's would. The best-MSE and last selections score
    1 and 2 Q̄ lower than the best-Q̄ one.

    Returns:
        ``(profile, results)``.
    """
    from e2s_utils import config, studies
    from e2s_utils.evaluate import summarize_folds

    profile = config.get_profile(
        "smoke",
        models=("dofa", "croma"),
        baselines=("random",),
        ablation_seeds=seeds,
        eval_k_folds=k_folds,
    )
    runs = studies.ablation_runs(profile)
    wobble = 0.03 * np.sin(np.arange(k_folds) * 1.7)
    units: dict[str, list[dict]] = {}
    for run in runs:
        level = ABLATION_LEVELS[run.label] - (0.05 if run.preset == "as_published_code" else 0)
        units[run.name] = []
        for k, seed in enumerate(studies.seed_list(profile, run) if run.seeded else [None]):
            folds = {t: level + 0.01 * k + j * 0.002 + wobble for j, t in enumerate(tasks)}
            q = {t: summarize_folds(f)[2] for t, f in folds.items()}
            q_bar = float(np.mean(list(q.values())))
            selections = {}
            for sel, shift in (("best_q", 0.0), ("best_mse", -1.0), ("last", -2.0)):
                selections[sel] = {
                    "epoch": 10 + k if run.seeded else None,
                    "val_mse": 0.1 * (k + 1) if run.seeded else None,
                    "q_bar": q_bar + shift,
                    "q": {t: v + shift for t, v in q.items()},
                    "folds": {t: f.tolist() for t, f in folds.items()},
                    "q_bar_ridge": q_bar + 3,
                    "q_ridge": {t: v + 3 for t, v in q.items()},
                    "folds_ridge": {t: (f + 0.05).tolist() for t, f in folds.items()},
                }
            units[run.name].append({"run": run.name, "seed": seed, "selections": selections})
    results = studies.AblationResults(runs, units, list(tasks), profile.protocol.to_dict())
    return profile, results


def mse_curve(
    kind: str, n: int = 1600, noise: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A validation-MSE curve over epochs ``0 .. n`` of a known shape, on the log-epoch axis.

    Args:
        kind: ``double`` (down to a minimum near epoch 20, a bump near 150, down again to the
            end), ``single`` (one straight descent) or ``u`` (down to epoch ~30, then up).
        n: the last epoch.
        noise: std of Gaussian noise added to ``log10 MSE``.
        seed: noise seed.

    Returns:
        ``(epochs, mse)``.
    """
    e = np.arange(0, n + 1, dtype=float)
    x = np.log10(np.maximum(e, 1))
    if kind == "double":
        y = 0.0 - 1.0 * x + 1.6 * np.exp(-((x - 2.1) ** 2) / (2 * 0.25**2))
    elif kind == "single":
        y = 1.0 - 0.8 * x
    elif kind == "u":
        y = 0.6 * (x - 1.5) ** 2
    else:
        raise ValueError(kind)
    y = y + noise * np.random.default_rng(seed).standard_normal(y.shape)
    return e, 10**y


def fake_evaluate_many(ids: Sequence[str], matrices: Mapping[str, np.ndarray], tasks, **kw: object):
    """:func:`fake_evaluate` of several matrices, as ``evaluate_many`` returns them."""
    return {name: fake_evaluate(ids, X, tasks, **kw) for name, X in matrices.items()}
