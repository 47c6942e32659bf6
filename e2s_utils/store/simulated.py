"""Simulated embeddings (:mod:`e2s_utils.data.simulator`) written in the embedding-store format.

The compressor, the evaluator and the studies then read a simulation exactly as they read a
model's extracted embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from e2s_utils.data.labels import write_task
from e2s_utils.data.simulator import SIMULATOR_VERSION
from e2s_utils.store.bulk import write_embeddings
from e2s_utils.store.layout import store_path

if TYPE_CHECKING:
    from e2s_utils.data.simulator import Simulation


def write_simulation(
    sim: Simulation,
    out_dir: Path | str,
    preset_name: str,
    size: str = "sim",
    labels_dir: Path | str | None = None,
    shard_size: int = 2048,
) -> dict[str, Path]:
    """Write every block as an embedding store and the tasks as NeuCo-Bench label files.

    A block goes to ``store_path(out_dir, <block>, preset_name, size)`` (its configuration: the
    spec, seed, ``n``, resolution and simulator version), so ``fusion.load_fusion_data(out_dir,
    <blocks>, preset_name, size)`` reads it; the tasks go to ``labels_dir`` (default
    ``<out_dir>/labels``) as ``<task>__<type>.csv``.

    Returns:
        Block name -> store folder.
    """
    out_dir, paths = Path(out_dir), {}
    for name, array in sim.blocks.items():
        meta = {
            "source": "e2s simulator",
            "simulator_version": SIMULATOR_VERSION,
            "block": sim.specs[name].to_dict(),
            "seed": sim.seed,
            "n": len(sim.ids),
            "resolution": sim.resolution,
        }
        paths[name] = store_path(out_dir, name, preset_name, size)
        write_embeddings(paths[name], sim.ids, array, meta, shard_size=shard_size)
    labels_dir = out_dir / "labels" if labels_dir is None else Path(labels_dir)
    for task in sim.tasks.values():
        write_task(labels_dir, task.name, task.kind, task.labels)
    return paths
