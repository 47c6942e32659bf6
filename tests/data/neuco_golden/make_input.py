"""Write the golden NeuCo-Bench input: an embedding CSV and a labels folder (seeded, small).

The input is built so that every benchmark behaviour that silently changes numbers is exercised:

* 460 distinct ids; 430 have an embedding row (d = 16, values offset and scaled so that the global
  standardisation matters, rows shuffled), 30 appear only in label files;
* four label files: ``crops__regr`` (a fraction in [0, 1]), ``random_reg__regr`` (mostly zeros,
  so that some test folds have constant labels), ``forest__cls`` (0/1) are evaluated;
  ``clouds_reg__regr`` is excluded by the task filter and holds 40 ids that no evaluated task
  labels (they still enter the benchmark's standardisation statistics), one label written as the
  text ``nan`` (the benchmark keeps that id too) and one empty label (skipped by everyone);
* each label file lists its ids in its own shuffled order, with partly overlapping id subsets;
* ten embedding ids carry a trailing ``.zarr.zip`` and one carries ``.zarr`` in the middle of the
  id (the benchmark deletes ``.zarr`` anywhere in an embedding id, never in a label id).

Run from anywhere; writes next to this file (``embeddings.csv``, ``labels/``)::

    python tests/data/neuco_golden/make_input.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 20250516
N_IDS = 460
N_EMBEDDED = 430
DIM = 16
HERE = Path(__file__).resolve().parent


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(rows) + "\n", newline="\n")


def make(out_dir: Path = HERE) -> None:
    """Generate the input files into ``out_dir``."""
    rng = np.random.default_rng(SEED)
    ids = [rng.bytes(24).hex() for _ in range(N_IDS)]
    assert len(set(ids)) == N_IDS
    z = rng.normal(size=(N_IDS, 3))  # latent factors: crops, forest, random_reg

    # ---- embeddings: 430 ids, the last 15 of them in no label file
    mixing = rng.normal(size=(3, DIM))
    X = 2.5 + 1.7 * (z @ mixing + 0.8 * rng.normal(size=(N_IDS, DIM)))
    embedded = np.arange(N_EMBEDDED)
    written = [ids[i] for i in embedded]
    for i in rng.choice(N_EMBEDDED - 15, size=10, replace=False):
        written[i] = written[i] + ".zarr.zip"
    middle = 7  # labelled by crops and forest (see below), written with .zarr inside the id
    written[middle] = ids[middle][:20] + ".zarr" + ids[middle][20:]
    order = rng.permutation(N_EMBEDDED)
    _write(
        out_dir / "embeddings.csv",
        "id," + ",".join(str(j) for j in range(DIM)),
        [written[i] + "," + ",".join(f"{v:.5g}" for v in X[i]) for i in order],
    )

    # ---- label id subsets (indices into ids); 430..459 have no embedding
    labelled = np.arange(N_EMBEDDED - 15)  # 0..414 carry labels somewhere
    only_labels = np.arange(N_EMBEDDED, N_IDS)
    clouds_only = np.arange(375, 415)  # labelled by clouds_reg alone
    shared = np.arange(375)
    crops = np.concatenate([[middle], rng.choice(shared[shared != middle], 329, replace=False)])
    crops = np.concatenate([crops, only_labels[:12]])
    forest = np.concatenate([[middle], rng.choice(shared[shared != middle], 349, replace=False)])
    forest = np.concatenate([forest, only_labels[10:22]])
    random_reg = np.concatenate([rng.choice(shared, 315, replace=False), only_labels[20:]])
    clouds = np.concatenate([clouds_only, rng.choice(shared, 100, replace=False)])
    assert set(np.concatenate([crops, forest, random_reg, clouds])) >= set(labelled)

    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    crops_y = sigmoid(1.5 * z[:, 0] + 0.4 * rng.normal(size=N_IDS))
    forest_y = (z[:, 1] + 0.5 * rng.normal(size=N_IDS) > 0.3).astype(int)
    positive = rng.random(N_IDS) < 0.04 + 0.04 * (z[:, 2] > 1.0)
    random_y = np.where(positive, rng.uniform(5.0, 40.0, size=N_IDS), 0.0)
    clouds_y = rng.uniform(0.0, 100.0, size=N_IDS)

    def rows(subset: np.ndarray, text: list[str]) -> list[str]:
        return [f"{ids[i]},{text[i]}" for i in rng.permutation(subset)]

    labels = out_dir / "labels"
    _write(labels / "crops__regr.csv", "id,label", rows(crops, [f"{v:.6g}" for v in crops_y]))
    _write(labels / "forest__cls.csv", "id,label", rows(forest, [str(v) for v in forest_y]))
    _write(
        labels / "random_reg__regr.csv",
        "id,label",
        rows(random_reg, [f"{v:.4g}" if v else "0" for v in random_y]),
    )
    clouds_text = [f"{v:.4g}" for v in clouds_y]
    clouds_text[clouds_only[0]] = "nan"  # kept by the benchmark: the id counts for statistics
    clouds_text[clouds_only[1]] = ""  # skipped by everyone
    _write(labels / "clouds_reg__regr.csv", "id,label", rows(clouds, clouds_text))


def main() -> None:
    """Command line: ``--out`` (default: this folder)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE)
    make(p.parse_args().out)


if __name__ == "__main__":
    main()
