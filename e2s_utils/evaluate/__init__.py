"""The NeuCo-Bench evaluation protocol, exact and fast, with a converged ridge probe beside it.

Modules: :mod:`~e2s_utils.evaluate.protocol` (the named presets and the protocol's elements),
:mod:`~e2s_utils.evaluate.probe` (the batched linear probe; its CPU computation in
:mod:`~e2s_utils.evaluate.fused`, its torch ones in :mod:`~e2s_utils.evaluate.linear`),
:mod:`~e2s_utils.evaluate.ridge` (the converged probe), :mod:`~e2s_utils.evaluate.core` (``evaluate()``),
:mod:`~e2s_utils.evaluate.results` (what it returns) and :mod:`~e2s_utils.evaluate.compare` (Q
tables, Z, the leaderboard).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2s_utils.evaluate.core import EvaluationError, evaluate, evaluate_many
from e2s_utils.evaluate.probe import train_linear_folds
from e2s_utils.evaluate.protocol import (
    PROBES,
    PROTOCOL_NAMES,
    PROTOCOLS,
    Probe,
    Protocol,
    fold_randomness,
    fold_scores_from_logits,
    fold_seed,
    get_protocol,
    linear_init,
    minmax_scale,
    quality,
    shuffle_splits,
    standardize_global,
    summarize_folds,
)
from e2s_utils.evaluate.results import EvalResult, TaskResult
from e2s_utils.lazy import lazy_getattr

if TYPE_CHECKING:
    from e2s_utils.evaluate.compare import leaderboard, q_table, z_from_q, z_scores
    from e2s_utils.evaluate.ridge import ridge_folds

#: Names loaded on first use: ``compare`` imports pandas, ``ridge`` torch; scoring with the linear
#: probe on the CPU needs neither.
_LAZY = {
    "leaderboard": "compare",
    "q_table": "compare",
    "z_from_q": "compare",
    "z_scores": "compare",
    "ridge_folds": "ridge",
}

__all__ = [
    "PROBES",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "EvalResult",
    "EvaluationError",
    "Probe",
    "Protocol",
    "TaskResult",
    "evaluate",
    "evaluate_many",
    "fold_randomness",
    "fold_scores_from_logits",
    "fold_seed",
    "get_protocol",
    "leaderboard",
    "linear_init",
    "minmax_scale",
    "q_table",
    "quality",
    "ridge_folds",
    "shuffle_splits",
    "standardize_global",
    "summarize_folds",
    "train_linear_folds",
    "z_from_q",
    "z_scores",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
