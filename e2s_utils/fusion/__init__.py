"""The fusion compressor: per-model embeddings in, one 1024-d vector per location out.

Modules: :mod:`~e2s_utils.fusion.config` (what determines a run), :mod:`~e2s_utils.fusion.model`
(the network, optimiser and loss), :mod:`~e2s_utils.fusion.checkpoints` (a run on disk),
:mod:`~e2s_utils.fusion.train` (resumable training), :mod:`~e2s_utils.fusion.curve` (every
checkpoint through the benchmark), :mod:`~e2s_utils.fusion.snapshots` (pruning a finished run) and :mod:`~e2s_utils.fusion.submission` (the CSV). The data come
from the one loader, :func:`e2s_utils.store.load_inputs`.
"""

from __future__ import annotations

from e2s_utils.fusion.checkpoints import (
    BEST_VAL,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    model_from_checkpoint,
    read_history,
    resume_path,
    run_dir_for,
    run_key,
)
from e2s_utils.fusion.config import FusionConfig, FusionError, default_loss_weight
from e2s_utils.fusion.curve import (
    best_checkpoints,
    checkpoint_embeddings,
    embed,
    embeddings_path,
    evaluate_checkpoints,
    probe_columns,
    random_embeddings,
    summary_frame,
)
from e2s_utils.fusion.findings import run_findings, with_intervals
from e2s_utils.fusion.model import (
    FusionCompressor,
    build_model,
    count_parameters,
    make_optimizer,
    reconstruction_losses,
)
from e2s_utils.fusion.snapshots import PruneReport, prune_snapshots, reference_snapshots
from e2s_utils.fusion.submission import write_submission
from e2s_utils.fusion.train import train, validate

__all__ = [
    "BEST_VAL",
    "FusionCompressor",
    "FusionConfig",
    "FusionError",
    "PruneReport",
    "best_checkpoints",
    "build_model",
    "checkpoint_embeddings",
    "checkpoint_path",
    "count_parameters",
    "default_loss_weight",
    "embed",
    "embeddings_path",
    "evaluate_checkpoints",
    "list_checkpoints",
    "load_checkpoint",
    "make_optimizer",
    "model_from_checkpoint",
    "probe_columns",
    "prune_snapshots",
    "random_embeddings",
    "read_history",
    "reconstruction_losses",
    "reference_snapshots",
    "resume_path",
    "run_dir_for",
    "run_findings",
    "run_key",
    "summary_frame",
    "train",
    "validate",
    "with_intervals",
    "write_submission",
]
