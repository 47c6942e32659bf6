"""Every checkpoint of a run through the benchmark: the Q̄-versus-MSE curve and its picks.

:func:`evaluate_checkpoints` embeds the probed samples with each snapshot (and with
``best_val.pt`` when its epoch lies between snapshots) and scores them with the protocol's probes.
Each result is cached (:mod:`e2s_utils.cache`) under a key holding the run, the checkpoint, the
probed data, the labels, the protocol (name and every value), the probe and the evaluator's code
version, so a rerun reuses exactly what is still valid and an interrupted evaluation resumes.
Each checkpoint's embeddings of the probed samples are kept beside the run (``embeddings/``): a
checkpoint stays on the curve, and can be evaluated again, after its snapshot was pruned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from e2s_utils.cache import CacheKey, read_result, write_result
from e2s_utils.fusion import checkpoints as ck
from e2s_utils.fusion.config import FusionError
from e2s_utils.io import atomic_write_bytes, npy_bytes
from e2s_utils.store.loader import FusionData, restrict_tasks

if TYPE_CHECKING:
    from e2s_utils.data.labels import LabelTask
    from e2s_utils.evaluate import EvalResult, Protocol

EMBED_BATCH = 512
#: Checkpoints probed in one batched computation (bounds the memory of the stacked embeddings).
CHECKPOINTS_PER_BATCH = 8
#: Folder of a run holding each checkpoint's embeddings of the probed samples.
EMBEDDINGS_DIR = "embeddings"


@torch.no_grad()
def embed(
    checkpoint: Path | Mapping[str, Any], data: FusionData, device: str = "cpu"
) -> np.ndarray:
    """The checkpoint's embeddings of ``data`` (eval mode, float32 ``(n, out_dim)``).

    Raises:
        FusionError: when ``data`` lacks a model of the checkpoint or a shape differs.
    """
    model = ck.model_from_checkpoint(checkpoint, device)
    missing = [m for m in model.models if m not in data.inputs]
    if missing:
        raise FusionError(f"data lacks models {missing} that checkpoint {checkpoint} needs")
    data = data.select(model.models)
    if data.shapes != model.shapes:
        raise FusionError(f"data shapes {data.shapes} differ from the checkpoint's {model.shapes}")
    x = torch.from_numpy(data.flat(model.models))
    out = [
        model.encode(x[s : s + EMBED_BATCH].to(device)).float().cpu()
        for s in range(0, data.n, EMBED_BATCH)
    ]
    if not out:
        return np.zeros((0, model.encoder[-1].out_features), dtype=np.float32)
    return torch.cat(out).numpy()


def probe_columns(probe: str) -> tuple[str, str]:
    """Column name of Q̄ and prefix of per-task Q for a probe (``linear`` is unsuffixed)."""
    return ("q_bar", "q_") if probe == "linear" else (f"q_bar_{probe}", f"q_{probe}_")


def entry_name(checkpoint: str, epoch: int) -> str:
    """The name of a table row's checkpoint (``epoch_XXXXX`` or ``best_val_epoch_XXXXX``)."""
    if checkpoint == ck.BEST_VAL:
        return f"best_val_epoch_{int(epoch):05d}"
    return Path(checkpoint).stem


def _checkpoint_of(name: str) -> str:
    """The snapshot file (relative to the run) that an entry name stands for."""
    if name.startswith("best_val_epoch_"):
        return ck.BEST_VAL
    return ck.checkpoint_path(Path(), int(name.removeprefix("epoch_"))).as_posix()


def embeddings_path(run_dir: Path, name: str, data: FusionData) -> Path:
    """``run_dir/embeddings/<name>__<data fingerprint>.npy``: a checkpoint's kept embeddings."""
    return Path(run_dir) / EMBEDDINGS_DIR / f"{name}__{data.fingerprint()[:16]}.npy"


def _entries(
    run_dir: Path, include_best_val: bool, data: FusionData
) -> tuple[list[tuple[int, str, str]], int | None]:
    """``(epoch, checkpoint file relative to the run, name)`` of every evaluable checkpoint.

    A checkpoint is evaluable while its snapshot is on disk or its embeddings of ``data`` are kept
    (a pruned snapshot: :func:`~e2s_utils.fusion.snapshots.prune_snapshots`).
    """
    names = {f"epoch_{epoch:05d}": epoch for epoch, _ in ck.list_checkpoints(run_dir)}
    suffix = f"__{data.fingerprint()[:16]}"
    folder = Path(run_dir) / EMBEDDINGS_DIR
    for path in folder.glob(f"epoch_*{suffix}.npy") if folder.is_dir() else ():
        stem = path.name.removesuffix(f"{suffix}.npy").removeprefix("epoch_")
        if stem.isdigit():
            names.setdefault(f"epoch_{stem}", int(stem))
    entries = [(epoch, _checkpoint_of(name), name) for name, epoch in names.items()]
    best_path = Path(run_dir) / ck.BEST_VAL
    best_epoch: int | None = None
    if include_best_val and best_path.is_file():
        best_epoch = int(ck.load_checkpoint(best_path)["epoch"])
        if best_epoch not in names.values():
            entries.append((best_epoch, ck.BEST_VAL, f"best_val_epoch_{best_epoch:05d}"))
    return sorted(entries), best_epoch


def checkpoint_embeddings(
    run_dir: Path, checkpoint: str, epoch: int, data: FusionData, device: str = "cpu"
) -> np.ndarray:
    """A table row's checkpoint applied to ``data``, kept beside the run and reused.

    The embeddings are written once per checkpoint and data (``embeddings/``), so a checkpoint can
    be evaluated again (another protocol, the explorer) after its snapshot was pruned.

    Args:
        run_dir: the run directory.
        checkpoint: the snapshot file relative to the run (a table's ``checkpoint`` column).
        epoch: its epoch (names ``best_val.pt``'s entry).
        data: the samples to embed.
        device: torch device of the embedding.

    Raises:
        FusionError: when neither the embeddings nor the snapshot are there.
    """
    run_dir = Path(run_dir)
    kept = embeddings_path(run_dir, entry_name(checkpoint, epoch), data)
    if kept.is_file():
        return np.load(kept)
    snapshot = run_dir / checkpoint
    if not snapshot.is_file():
        raise FusionError(
            f"{snapshot} was pruned and its embeddings of these samples were not kept; rerun the "
            "training with prune_snapshots=False to keep every snapshot"
        )
    X = embed(snapshot, data, device=device)
    atomic_write_bytes(kept, npy_bytes(X))
    return X


def _run_identity(run_dir: Path) -> str:
    from e2s_utils.cache import CACHE_FILE
    from e2s_utils.io import sha256_file

    path = run_dir / CACHE_FILE
    if not path.is_file():
        raise FusionError(f"{run_dir} is not a compressor run (no {CACHE_FILE}); train it first")
    return sha256_file(path)


def _cache_file(run_dir: Path, name: str, probe: str, key: CacheKey) -> Path:
    return run_dir / "evaluation" / f"{name}__{probe}__{key.short()}.json"


def _cached(
    entries: list[tuple[int, str, str]],
    run_id: str,
    data: FusionData,
    tasks_fp: str,
    protocol: Protocol,
    probes: Sequence[str],
    run_dir: Path,
) -> dict[tuple[str, str], Any]:
    """Every (checkpoint, probe) evaluation already cached (``None`` where it is not)."""
    from e2s_utils.evaluate import EvalResult

    found: dict[tuple[str, str], Any] = {}
    for _, _, name in entries:
        for probe in probes:
            key = evaluation_key(run_id, name, data, tasks_fp, protocol, probe)
            cached = read_result(_cache_file(run_dir, name, probe, key), key)
            found[(name, probe)] = None if cached is None else EvalResult.from_dict(cached)
    return found


def evaluation_key(
    run_id: str, name: str, data: FusionData, tasks_fp: str, protocol: Protocol, probe: str
) -> CacheKey:
    """The cache key of one checkpoint's evaluation."""
    return CacheKey(
        "evaluation",
        {
            "run": run_id,
            "checkpoint": name,
            "data": data.fingerprint(),
            "tasks": tasks_fp,
            "protocol": protocol.to_dict(),
            "probe": probe,
        },
    )


def evaluate_checkpoints(
    run_dir: Path,
    data: FusionData,
    tasks: Mapping[str, LabelTask],
    protocol: Protocol,
    *,
    probes: Sequence[str] = ("linear", "ridge"),
    device: str = "cpu",
    progress: bool = True,
    include_best_val: bool = True,
    include_untrained: bool = True,
    results: dict[str, dict[str, EvalResult]] | None = None,
) -> pd.DataFrame:
    """Evaluate every checkpoint's embeddings of ``data`` under ``protocol`` (cached).

    Args:
        run_dir: a run directory written by :func:`~e2s_utils.fusion.train.train`.
        data: the probed samples.
        tasks: the label tasks (restricted here to ``data``'s ids).
        protocol: the benchmark protocol.
        probes: which probes to run (``linear``: the benchmark's; ``ridge``: the converged one).
        device: torch device of embedding and probing.
        progress: show a bar over checkpoints.
        include_best_val: also evaluate ``best_val.pt`` when its epoch has no snapshot.
        include_untrained: also evaluate the untrained model (epoch 0); a study that never picks
            it saves that evaluation.
        results: if given, filled with ``{checkpoint: {probe: EvalResult}}`` (every fold score),
            keyed like the table's ``checkpoint`` column.

    Returns:
        One row per checkpoint, sorted by epoch: ``epoch``, ``train_loss``, ``val_mse``,
        ``val_mse_<model>``, ``q_bar``, ``q_bar_ridge``, ``q_<task>``, ``q_ridge_<task>``,
        ``checkpoint`` (the file, relative to ``run_dir``) and ``best_val``.

    Raises:
        FusionError: when the run has no checkpoints.
    """
    from e2s_utils.evaluate import evaluate_many
    from e2s_utils.store.loader import _tasks_fingerprint

    run_dir = Path(run_dir)
    entries, best_epoch = _entries(run_dir, include_best_val, data)
    entries = [e for e in entries if include_untrained or e[0] > 0]
    if not entries:
        raise FusionError(f"{run_dir} holds no checkpoints; train the compressor first")
    tasks = restrict_tasks(tasks, data.ids)
    run_id, tasks_fp = _run_identity(run_dir), _tasks_fingerprint(tasks)
    history = ck.read_history(run_dir)
    history = history.set_index("epoch") if len(history) else None
    found = _cached(entries, run_id, data, tasks_fp, protocol, probes, run_dir)
    missing = [(e, p, n) for e, p, n in entries if any(found[(n, pr)] is None for pr in probes)]
    for lo in range(0, len(missing), CHECKPOINTS_PER_BATCH):  # several checkpoints at once
        batch = missing[lo : lo + CHECKPOINTS_PER_BATCH]
        X = {
            n: checkpoint_embeddings(run_dir, p, e, data, device)
            for e, p, n in tqdm(batch, disable=not progress, desc="embed checkpoints", unit="ckpt")
        }
        for probe in probes:
            todo = {n: x for n, x in X.items() if found[(n, probe)] is None}
            scored = (
                evaluate_many(
                    data.ids,
                    todo,
                    tasks,
                    protocol=protocol,
                    probe=probe,  # type: ignore[arg-type]
                    device=device,
                )
                if todo
                else {}
            )
            for name, result in scored.items():
                key = evaluation_key(run_id, name, data, tasks_fp, protocol, probe)
                write_result(_cache_file(run_dir, name, probe, key), key, result.to_dict())
                found[(name, probe)] = result
    rows = []
    for epoch, path, name in entries:
        row: dict[str, Any] = {"epoch": epoch}
        if history is not None and epoch in history.index:
            h = history.loc[epoch]
            row["train_loss"] = h["train_loss"]
            row.update({c: h[c] for c in history.columns if c.startswith("val_mse")})
        for probe in probes:
            result = found[(name, probe)]
            if results is not None:
                results.setdefault(path, {})[probe] = result
            qcol, prefix = probe_columns(probe)
            row[qcol] = float(result.q_bar)
            row.update({f"{prefix}{t}": float(result.tasks[t].q) for t in sorted(result.tasks)})
        row["checkpoint"] = path
        row["best_val"] = epoch == best_epoch
        rows.append(row)
    table = pd.DataFrame(rows)
    lead = [c for c in ("epoch", "train_loss", "val_mse") if c in table]
    lead += [c for c in table.columns if c.startswith("val_mse_")]
    qbars = [probe_columns(p)[0] for p in probes]
    rest = [c for c in table.columns if c not in lead and c not in qbars]
    return table[lead + qbars + rest]


def best_checkpoints(table: pd.DataFrame, probe: str = "linear") -> dict[str, dict[str, Any]]:
    """The best-Q̄ and best-validation-MSE rows of an :func:`evaluate_checkpoints` table.

    Returns:
        ``{"best_q": {...}, "best_mse": {...}}``, each with ``epoch``, ``q_bar``, ``val_mse`` and
        ``checkpoint`` (the file relative to the run directory); ties go to the earliest epoch.
    """
    qcol = probe_columns(probe)[0]
    iq = int(table[qcol].to_numpy().argmax())
    im = int(np.nan_to_num(table["val_mse"].to_numpy(), nan=np.inf).argmin())

    def pick(i: int) -> dict[str, Any]:
        return {
            "epoch": int(table["epoch"].iloc[i]),
            "q_bar": float(table[qcol].iloc[i]),
            "val_mse": float(table["val_mse"].iloc[i]),
            "checkpoint": str(table["checkpoint"].iloc[i]) if "checkpoint" in table else "",
        }

    return {"best_q": pick(iq), "best_mse": pick(im)}


def summary_frame(table: pd.DataFrame, random_q: Mapping[str, float]) -> pd.DataFrame:
    """Untrained, best-Q̄, best-MSE and last checkpoints, and random embeddings, at a glance.

    Args:
        table: an :func:`evaluate_checkpoints` table (``epoch``, ``val_mse``, ``q_bar``,
            ``q_bar_ridge``).
        random_q: Q̄ of N(0, 1) embeddings of the same ids, keyed by probe.

    Returns:
        One row per reference point with its epoch, validation MSE and both probes' Q̄.
    """
    best = best_checkpoints(table)
    ordered = table.sort_values("epoch", kind="stable")
    picks = {
        "untrained (epoch 0)": int(ordered.index[0]),
        "best Q-bar (the paper's choice)": int(
            table.index[table["epoch"] == best["best_q"]["epoch"]][0]
        ),
        "best validation MSE": int(table.index[table["epoch"] == best["best_mse"]["epoch"]][0]),
        "last epoch": int(ordered.index[-1]),
    }
    rows = [
        {
            "checkpoint": label,
            "epoch": int(table.loc[i, "epoch"]),
            "val MSE": float(table.loc[i, "val_mse"]),
            "Q-bar (linear probe)": float(table.loc[i, "q_bar"]),
            "Q-bar (ridge probe)": float(table.loc[i, "q_bar_ridge"]),
        }
        for label, i in picks.items()
    ]
    rows.append(
        {
            "checkpoint": "random N(0, 1) embeddings",
            "epoch": None,
            "val MSE": float("nan"),
            "Q-bar (linear probe)": float(random_q.get("linear", float("nan"))),
            "Q-bar (ridge probe)": float(random_q.get("ridge", float("nan"))),
        }
    )
    return pd.DataFrame(rows)


def random_embeddings(n: int, dim: int = 1024, seed: int = 0) -> np.ndarray:
    """N(0, 1) embeddings ``(n, dim)`` float32: the random reference row of the benchmark."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
