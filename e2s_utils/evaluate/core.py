"""``evaluate()``: score an embedding matrix on the downstream tasks under a benchmark protocol.

Steps, as the benchmark takes them: validate the matrix (NaN and inf become 0, as the benchmark
does); standardise it with one global scalar over the rows that carry a label in any of the given
label files (also when a task filter or the protocol leaves some of those tasks out, as the
benchmark does); per task keep the ids present in both files, in label-file order, min-max scale the
labels; draw the folds; train the probe on every fold; summarise the fold scores into Q; average Q
into Q̄. Tasks with exactly the same rows share one batched computation (each task with its own
random numbers under the exact stream).

NaN handling, as the benchmark does: an epoch whose score is NaN never becomes the best; a task's
mean and std ignore NaN folds; Q̄ is the plain mean, so NaN when a task's Q is NaN. Departures, each
to keep undefined numbers from turning into ``-inf``: a fold with no finite epoch score is NaN (the
benchmark leaves ``-inf``); R² on a test fold with constant labels is NaN (the benchmark divides by
zero); a task with constant labels is all NaN with a warning; a task with no common id is reported
with ``n = 0`` and NaN and left out of Q̄ (the benchmark drops it silently).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from e2s_utils.data.labels import LabelTask, TaskLabels, embedding_id
from e2s_utils.errors import E2SError
from e2s_utils.evaluate.benchmark import (
    StreamTask,
    benchmark_fold_scores,
    benchmark_stream,
    split_sizes,
)
from e2s_utils.evaluate.probe import train_linear_folds
from e2s_utils.evaluate.protocol import (
    PROBES,
    Probe,
    Protocol,
    fold_randomness,
    get_protocol,
    minmax_scale,
    shuffle_splits,
    standardize_global,
    summarize_folds,
)
from e2s_utils.evaluate.results import EvalResult, TaskResult

if TYPE_CHECKING:
    import torch


AnyTask = LabelTask | TaskLabels
"""A task's labels: a pandas series (:class:`LabelTask`) or plain arrays (:class:`TaskLabels`)."""


class EvaluationError(E2SError, ValueError):
    """Embeddings or labels that cannot be evaluated (the message says what to fix)."""


@dataclass
class PreparedTask:
    """One task's rows of the matrix and its scaled labels.

    Attributes:
        name: task name.
        kind: ``regression`` or ``classification``.
        rows: row of each kept label in the embedding matrix, in label-file order.
        y: the kept labels, min-max scaled when the protocol says so.
        n_missing: labelled ids without an embedding (skipped with a warning).
    """

    name: str
    kind: str
    rows: np.ndarray
    y: np.ndarray
    n_missing: int


def prepare_matrix(
    ids: Sequence[str], X: np.ndarray, embedding_dim: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Validate the matrix: one unique id per row, NaN/inf set to 0, padded to ``embedding_dim``.

    Returns:
        ``(normalised ids, float32 copy of X)``.

    Raises:
        EvaluationError: for a non-2-D matrix, an id count that differs from the rows, repeated
            ids or more dimensions than ``embedding_dim``.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise EvaluationError(f"embeddings must be a 2-D (n, d) matrix, got shape {X.shape}")
    if len(ids) != X.shape[0]:
        raise EvaluationError(f"{len(ids)} ids for {X.shape[0]} embedding rows; one id per row")
    norm = [embedding_id(i) for i in ids]
    seen: set[str] = set()
    dups = [i for i in norm if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if dups:
        raise EvaluationError(
            f"{len(dups)} duplicated embedding id(s), first {dups[0]!r}; ids must be unique"
        )
    X = X.astype(np.float32, copy=True)
    bad = ~np.isfinite(X)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} non-finite embedding value(s) replaced by 0 (as NeuCo-Bench does)",
            stacklevel=3,
        )
        X[bad] = 0.0
    if embedding_dim is not None:
        if X.shape[1] > embedding_dim:
            raise EvaluationError(
                f"embeddings have {X.shape[1]} dimensions, more than embedding_dim={embedding_dim}"
            )
        X = np.pad(X, ((0, 0), (0, embedding_dim - X.shape[1])))
    return norm, X


def prepare_task(task: AnyTask, row_of: Mapping[str, int], normalize: bool) -> PreparedTask:
    """A task's rows (ids present in both files, label-file order) and its scaled labels.

    Raises:
        EvaluationError: for a classification task whose labels are not binary.
    """
    values, ids = task.values, task.ids
    labelled = ~np.isnan(values)
    present = labelled & np.fromiter((i in row_of for i in ids), dtype=bool, count=len(ids))
    rows = np.array([row_of[i] for i, p in zip(ids, present, strict=True) if p], dtype=np.int64)
    y = values[present]
    if len(y) and normalize:
        y = minmax_scale(y)
        if np.isnan(y).all():
            warnings.warn(
                f"task {task.name!r}: all {len(y)} labels are equal; min-max scaling is "
                "undefined, so the task scores NaN",
                stacklevel=3,
            )
    if task.kind == "classification" and len(y) and not np.isnan(y).all():
        if not np.isin(y, (0.0, 1.0)).all():
            raise EvaluationError(
                f"classification task {task.name!r} has labels other than two classes "
                f"(scaled values {np.unique(y)[:5]}...); classification labels must be binary"
            )
    return PreparedTask(task.name, task.kind, rows, y, int((labelled & ~present).sum()))


def select_tasks(
    tasks: Mapping[str, AnyTask], protocol: Protocol, task_filter: Sequence[str] | None
) -> list[str]:
    """The names of the tasks to score: the filter (or all), minus the protocol's exclusions.

    Raises:
        EvaluationError: for a filter naming a task that is not given.
    """
    names = sorted(tasks)
    if task_filter is not None:
        missing = sorted(set(task_filter) - set(tasks))
        if missing:
            raise EvaluationError(f"task(s) {missing} not among the tasks given: {names}")
        names = sorted(task_filter)
    return [n for n in names if n not in protocol.exclude_tasks]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave the setting alone)."""
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


Randomness = dict[str, tuple[np.ndarray, np.ndarray]]


def draw_randomness(prepared: list[PreparedTask], d: int, protocol: Protocol) -> Randomness | None:
    """Every task's probe initialisation and mini-batch orders in the benchmark's own stream.

    ``None`` for the ``per_fold`` stream (each fold's generator is seeded when it is trained).
    In the ``exact`` stream every task that shares an id with the embeddings draws, in sorted
    name order, even one that then scores NaN (as the benchmark's stream does).
    """
    if protocol.random_stream != "exact":
        return None
    drawn = [p for p in sorted(prepared, key=lambda p: p.name) if len(p.rows)]
    stream = [StreamTask(p.name, *split_sizes(len(p.rows))) for p in drawn]
    draws = benchmark_stream(stream, d, protocol.k_folds, protocol.epochs, protocol.seed)
    return {name: (t.init, t.perms) for name, t in draws.items()}


def _score_group(
    X: np.ndarray,
    members: list[PreparedTask],
    protocol: Protocol,
    probe: Probe,
    randomness: Randomness | None,
    cache: dict[int, tuple[np.ndarray, np.ndarray]],
    device: str | torch.device,
    threads: int | None,
) -> np.ndarray:
    """Fold scores ``(M, K, T)`` of tasks sharing the same rows, for each of ``M`` matrices.

    ``X`` is ``(M, n, d)``. In the exact stream each task brings its own draws (its probes are
    units of their own in the one computation); in the per-fold stream the tasks share them.
    """
    rows = members[0].rows
    splits = shuffle_splits(len(rows), protocol.k_folds, protocol.seed)
    xg = X[:, rows]
    yg = np.stack([m.y for m in members], axis=1).astype(np.float32)
    is_cls = np.array([m.kind == "classification" for m in members])
    if probe == "ridge":
        import torch

        from e2s_utils.evaluate.ridge import ridge_folds

        dev = torch.device(device)
        y_t, cls_t = torch.from_numpy(yg).to(dev), torch.from_numpy(is_cls)
        return np.stack(
            [ridge_folds(torch.from_numpy(x).to(dev), y_t, cls_t, splits)[0] for x in xg]
        )
    n_train = len(splits[0][0])
    if randomness is not None:  # (T, K, d + 1) and (epochs, T, K, n_train): each task its own
        init = np.stack([randomness[m.name][0] for m in members])
        perms = np.stack([randomness[m.name][1] for m in members], axis=1)
    else:
        if n_train not in cache:
            cache[n_train] = fold_randomness(
                X.shape[2], n_train, protocol.k_folds, protocol.epochs, protocol.seed
            )
        init, perms = cache[n_train]
    score_fn = benchmark_fold_scores if randomness is not None else None
    folds, _ = train_linear_folds(
        xg,
        yg,
        is_cls,
        splits,
        init,
        perms,
        lr=protocol.lr,
        weight_decay=protocol.weight_decay,
        batch_size=protocol.batch_size,
        score_fn=score_fn,
        device=device,
        threads=threads,
    )
    return folds


def _empty_result(prep: PreparedTask, k_folds: int) -> TaskResult:
    if len(prep.rows) == 0:
        warnings.warn(f"task {prep.name!r} shares no id with the embeddings", stacklevel=4)
    nan = float("nan")
    folds = np.full(k_folds if len(prep.rows) else 0, np.nan)
    return TaskResult(prep.name, prep.kind, len(prep.rows), nan, nan, nan, folds)


def evaluate(
    ids: Sequence[str],
    X: np.ndarray,
    tasks: Mapping[str, AnyTask],
    *,
    protocol: Protocol | str = "paper",
    probe: Probe = "linear",
    embedding_dim: int | None = None,
    device: str | torch.device = "cpu",
    task_filter: Sequence[str] | None = None,
    progress: bool = False,
    num_threads: int | None = None,
    **overrides: Any,
) -> EvalResult:
    """Score an embedding matrix on downstream tasks with the NeuCo-Bench protocol.

    Args:
        ids: one sample id per row of ``X`` (a ``.zarr`` suffix is ignored).
        X: ``(n, d)`` embeddings.
        tasks: every label file's task (:func:`e2s_utils.data.labels.load_tasks`); the
            standardisation statistics are taken over all of their ids.
        protocol: a :class:`Protocol` or a preset name (``paper``, ``challenge``,
            ``neuco_current``).
        probe: ``linear`` (the benchmark's probe) or ``ridge`` (the converged probe).
        embedding_dim: expected dimension: more columns is an error, fewer are zero-padded.
        device: device of the computation (the CPU: the compiled ``fused`` probe; other
            devices: torch's batched products).
        task_filter: score only these tasks.
        progress: show a progress bar over task groups.
        num_threads: CPU threads for this call (torch's setting restored afterwards).
        **overrides: protocol fields to change (``k_folds=5``, ``epochs=10`` ...), recorded.

    Returns:
        The :class:`EvalResult`; its ``config`` holds the protocol and the input's size.

    Raises:
        EvaluationError: malformed inputs, an unknown probe or task, no id shared with any task.
    """
    return evaluate_many(
        ids,
        {"X": X},
        tasks,
        protocol=protocol,
        probe=probe,
        embedding_dim=embedding_dim,
        device=device,
        task_filter=task_filter,
        progress=progress,
        num_threads=num_threads,
        **overrides,
    )["X"]


def evaluate_many(
    ids: Sequence[str],
    matrices: Mapping[str, np.ndarray],
    tasks: Mapping[str, AnyTask],
    *,
    protocol: Protocol | str = "paper",
    probe: Probe = "linear",
    embedding_dim: int | None = None,
    device: str | torch.device = "cpu",
    task_filter: Sequence[str] | None = None,
    progress: bool = False,
    num_threads: int | None = None,
    **overrides: Any,
) -> dict[str, EvalResult]:
    """:func:`evaluate` of several embedding matrices of the same ids, in one computation.

    Each matrix gets the result a separate :func:`evaluate` call gives it (same folds,
    same random numbers, its own standardisation; equal to float rounding); the probes of all are trained
    together, which is several times faster than one call each (e.g. every checkpoint of a run).
    Matrices of different widths are computed in separate groups.

    Returns:
        Name -> :class:`EvalResult`, in the order given.
    """
    if isinstance(protocol, str):
        protocol = get_protocol(protocol)
    protocol = protocol.with_overrides(**overrides)
    if probe not in PROBES:
        raise EvaluationError(f"probe must be one of {PROBES}, not {probe!r}")
    names = select_tasks(tasks, protocol, task_filter)
    prepared_ids: list[str] | None = None
    standardised: dict[str, np.ndarray] = {}
    labelled = np.zeros(0, dtype=bool)
    prepared: dict[str, PreparedTask] = {}
    for key, X in matrices.items():
        norm_ids, Xn = prepare_matrix(ids, X, embedding_dim)
        if prepared_ids is None:
            prepared_ids = norm_ids
            prepared, labelled = _prepare_tasks(norm_ids, tasks, names, protocol)
        if protocol.standardize_embeddings and labelled.any():
            exact = protocol.random_stream == "exact"
            Xn = standardize_global(Xn, labelled, dtype=np.float32 if exact else np.float64)
        standardised[key] = Xn
    widths: dict[int, list[str]] = {}
    for key, Xn in standardised.items():
        widths.setdefault(Xn.shape[1], []).append(key)
    out: dict[str, EvalResult] = {}
    uses_torch = probe == "ridge" or str(device).split(":")[0] != "cpu"
    with torch_threads(num_threads if uses_torch else None):
        for keys in widths.values():
            stack = np.stack([standardised[k] for k in keys])
            scored = _score_tasks(
                stack, [prepared[n] for n in names], protocol, probe, device, progress, num_threads
            )
            for key, results in zip(keys, scored, strict=True):
                out[key] = _result(results, probe, protocol, standardised[key].shape[1], len(ids))
    return {k: out[k] for k in matrices}


def _prepare_tasks(
    norm_ids: list[str], tasks: Mapping[str, AnyTask], names: list[str], protocol: Protocol
) -> tuple[dict[str, PreparedTask], np.ndarray]:
    """Every task's rows and labels, and the rows the standardisation statistics are taken over."""
    row_of = {i: r for r, i in enumerate(norm_ids)}
    prepared = {n: prepare_task(t, row_of, protocol.normalize_labels) for n, t in tasks.items()}
    labelled = np.zeros(len(norm_ids), dtype=bool)
    for task in tasks.values():  # the benchmark: every label file's ids, whatever is evaluated
        rows = [row_of[i] for i in task.listed_ids if i in row_of]
        labelled[rows] = True
    for name in names:
        if prepared[name].n_missing:
            warnings.warn(
                f"task {name!r}: {prepared[name].n_missing} labelled id(s) have no embedding "
                "and are skipped",
                stacklevel=4,
            )
    if names and not any(len(prepared[n].rows) for n in names):
        raise EvaluationError(
            "no embedding id matches any label id; ids must be the bare sample ids "
            f"(embedding ids look like {norm_ids[:2]}, label ids like "
            f"{[list(t.ids[:2]) for t in tasks.values()][:1]})"
        )
    return prepared, labelled


def _result(
    results: dict[str, TaskResult], probe: str, protocol: Protocol, dim: int, n: int
) -> EvalResult:
    scored = [t.q for t in results.values() if t.n > 0]
    q_bar = float(np.mean(scored)) if scored else float("nan")
    config = {
        "probe": probe,
        "protocol": protocol.to_dict(),
        "embedding_dim": dim,
        "n_embeddings": n,
    }
    return EvalResult(probe=probe, q_bar=q_bar, tasks=results, config=config)


def _score_tasks(
    X: np.ndarray,
    prepared: list[PreparedTask],
    protocol: Protocol,
    probe: Probe,
    device: str | torch.device,
    progress: bool,
    threads: int | None,
) -> list[dict[str, TaskResult]]:
    """Every task's result for each of the ``M`` matrices of ``X`` ``(M, n, d)``."""
    from tqdm.auto import tqdm

    n_mat = X.shape[0]
    results: list[dict[str, TaskResult]] = [{} for _ in range(n_mat)]
    groups: dict[tuple[int, ...], list[PreparedTask]] = {}
    randomness = draw_randomness(prepared, X.shape[2], protocol) if probe == "linear" else None
    for prep in prepared:
        if len(prep.rows) < 2 or np.isnan(prep.y).all():
            for r in results:
                r[prep.name] = _empty_result(prep, protocol.k_folds)
        else:  # tasks on the same rows: one computation (each with its own draws if exact)
            groups.setdefault(tuple(prep.rows.tolist()), []).append(prep)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for members in tqdm(groups.values(), desc=f"{probe} probe", disable=not progress):
        folds = _score_group(X, members, protocol, probe, randomness, cache, device, threads)
        for m_idx, r in enumerate(results):
            for j, m in enumerate(members):
                f = folds[m_idx, :, j]
                mean, std, q = summarize_folds(f)
                r[m.name] = TaskResult(m.name, m.kind, len(m.rows), mean, std, q, f)
    return [dict(sorted(r.items())) for r in results]
