"""Record every random draw of an unmodified NeuCo-Bench run and compare it with our stream.

Imports the benchmark's own ``evaluation.evaluation.evaluate`` from a checkout (nothing in it is
changed), wraps ``torch.randperm``, ``torch.Tensor.random_`` and ``nn.Linear.reset_parameters``
so that every call is logged with its result, runs one evaluation, and then checks that
:func:`e2s_utils.evaluate.benchmark.benchmark_stream` (what ``evaluate()`` draws under the
``exact`` random stream of the ``paper`` and ``challenge`` protocols) produces the same calls, in
the same order, with bit-identical results (initial weights and biases, training and test
permutations)::

    python benchmarks/neucobench_record_stream.py --bench <NeuCo-Bench checkout> \\
        --embeddings tests/data/neuco_golden/embeddings.csv \\
        --labels tests/data/neuco_golden/labels --config <config.yaml>

Exit status 0 when every draw matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from torch import nn

from e2s_utils.data.labels import load_tasks
from e2s_utils.evaluate import get_protocol
from e2s_utils.evaluate.benchmark import StreamTask, benchmark_stream, split_sizes
from e2s_utils.evaluate.core import prepare_matrix, prepare_task, select_tasks
from e2s_utils.store.csv import read_embeddings_csv


def record(bench: Path, embeddings: Path, labels: Path, config: dict) -> list[tuple]:
    """Run the benchmark's ``evaluate`` once with logging wrappers; return the draws in order."""
    log: list[tuple] = []
    randperm, random_, reset = torch.randperm, torch.Tensor.random_, nn.Linear.reset_parameters

    def logged_randperm(n, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = randperm(n, *args, **kwargs)
        log.append(("randperm", int(n), out.clone()))
        return out

    def logged_random_(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = random_(self, *args, **kwargs)
        log.append(("random_", tuple(self.shape), self.clone()))
        return out

    def logged_reset(self) -> None:  # noqa: ANN001
        reset(self)
        log.append(("linear", torch.cat([self.weight.detach()[0], self.bias.detach()])))

    sys.path.insert(0, str(bench / "benchmark"))
    from evaluation.evaluation import evaluate  # the benchmark's module

    torch.randperm, torch.Tensor.random_, nn.Linear.reset_parameters = (
        logged_randperm,
        logged_random_,
        logged_reset,
    )
    try:
        with tempfile.TemporaryDirectory() as out:
            evaluate(
                submission_file=embeddings,
                annotation_path=labels,
                method_name="record",
                output_dir=Path(out),
                phase="record",
                config=config,
            )
    finally:
        torch.randperm, torch.Tensor.random_, nn.Linear.reset_parameters = randperm, random_, reset
    return log


def expected(embeddings: Path, labels: Path, config: dict) -> list[tuple]:
    """The same draws from :func:`e2s_utils.evaluate.benchmark.benchmark_stream`.

    The tasks and their sizes are those ``evaluate()`` finds in the files: the config's task
    filter (or every task), each with the ids it shares with the embeddings; they draw in sorted
    name order, and a task sharing no id draws nothing, as in the benchmark.
    """
    params = config.get("probe_params", config)
    filt = config.get("task_filter")
    filt = None if filt is False else filt
    k_folds, epochs = int(config["k_folds"]), int(params["epochs"])
    protocol = get_protocol("paper", k_folds=k_folds, epochs=epochs)
    dim = config.get("embedding_dim")
    ids, X = read_embeddings_csv(embeddings, dim)
    ids, X = prepare_matrix(ids, X, dim)
    row_of = {i: r for r, i in enumerate(ids)}
    all_tasks = load_tasks(labels)
    tasks = []
    for name in select_tasks(all_tasks, protocol, filt):
        rows = prepare_task(all_tasks[name], row_of, protocol.normalize_labels).rows
        if len(rows):
            tasks.append(StreamTask(name, *split_sizes(len(rows))))
    draws = benchmark_stream(tasks, X.shape[1], k_folds, epochs, protocol.seed)
    out: list[tuple] = []
    for t in tasks:
        for k in range(k_folds):
            out.append(("linear", torch.from_numpy(draws[t.name].init[k])))
            for e in range(epochs):
                out.append(("random_", (), None))
                out.append(("randperm", t.n_train, torch.from_numpy(draws[t.name].perms[e, k])))
                out.append(("random_", (), None))
                out.append(("randperm", t.n_test, torch.from_numpy(draws[t.name].test_perms[e, k])))
    return out


def main() -> int:
    """Command line; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", type=Path, required=True, help="NeuCo-Bench checkout")
    p.add_argument("--embeddings", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True, help="the benchmark's YAML config")
    args = p.parse_args()
    config = yaml.safe_load(args.config.read_text())
    got = record(args.bench.resolve(), args.embeddings, args.labels, config)
    want = expected(args.embeddings, args.labels, config)
    mismatches = 0
    for i, (g, w) in enumerate(zip(got, want)):
        same = g[0] == w[0]
        if same and g[0] == "linear":
            same = torch.equal(g[1], w[1])
        elif same and g[0] == "randperm":
            same = g[1] == w[1] and torch.equal(g[2], w[2])
        elif same:
            same = g[1] == w[1]  # a DataLoader base seed: a scalar draw, its value unused
        if not same:
            mismatches += 1
            if mismatches <= 5:
                print(f"draw {i}: benchmark {g[:2]!s:.60} vs ours {w[:2]!s:.60}")
    if len(got) != len(want):
        print(f"{len(got)} draws recorded, {len(want)} expected")
        mismatches += 1
    print(f"{len(got)} draws recorded; {len(got) - mismatches} identical; mismatches {mismatches}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
