"""The studies: the ablation (Table 1, the heatmap) and the long-training (double-descent) run.

Modules: :mod:`~e2s_utils.studies.paper` (the paper's numbers and names),
:mod:`~e2s_utils.studies.inputs` (dataset, stores, one model's stores and the one loader),
:mod:`~e2s_utils.studies.ablation` (Table 1's rows and the study), :mod:`~e2s_utils.studies.units`
(one cached row x seed), :mod:`~e2s_utils.studies.table` (Table 1),
:mod:`~e2s_utils.studies.verdicts` (what it concludes),
:mod:`~e2s_utils.studies.long_training` (the long run and its descents) and
:mod:`~e2s_utils.studies.controlled` with :mod:`~e2s_utils.studies.controlled_stats` (the
controlled study on simulated embeddings).
"""

from __future__ import annotations

from e2s_utils.studies.ablation import (
    SELECTIONS,
    AblationRun,
    StudyError,
    ablation_runs,
    init_seeds_of,
    random_init_models,
    seed_list,
    stores_needed,
)
from e2s_utils.studies.controlled import (
    ControlledData,
    ControlledResult,
    controlled_units,
    run_controlled,
)
from e2s_utils.studies.controlled_stats import ControlledOutputs, save_controlled
from e2s_utils.studies.descents import (
    DescentAnalysis,
    descents_table,
    detect_descents,
    drop_coincidences,
)
from e2s_utils.studies.inputs import (
    ensure_dataset,
    ensure_model_stores,
    ensure_stores,
    model_stores,
    prepare_inputs,
)
from e2s_utils.studies.long_training import (
    LongResult,
    format_long_summary,
    log_spaced_epochs,
    long_configs,
    long_summary,
    run_long,
)
from e2s_utils.studies.outputs import AblationOutputs, LongOutputs, save_ablation, save_long
from e2s_utils.studies.paper import (
    FUSION_ORDER,
    PAPER_NO_DROPOUT_Q_BAR,
    display_name,
    paper_table1,
)
from e2s_utils.studies.table import (
    PAPER_PRESET,
    TABLE1_HEADERS,
    AblationResults,
    present_table1,
    table1,
    with_intervals,
    with_paper_reference,
)
from e2s_utils.studies.units import fusion_config, pca_embed, run_ablation, run_unit
from e2s_utils.studies.verdicts import Finding, ablation_summary, format_summary

__all__ = [
    "FUSION_ORDER",
    "PAPER_PRESET",
    "PAPER_NO_DROPOUT_Q_BAR",
    "SELECTIONS",
    "TABLE1_HEADERS",
    "AblationOutputs",
    "AblationResults",
    "AblationRun",
    "ControlledData",
    "ControlledOutputs",
    "ControlledResult",
    "Finding",
    "DescentAnalysis",
    "LongOutputs",
    "LongResult",
    "StudyError",
    "ablation_runs",
    "ablation_summary",
    "descents_table",
    "detect_descents",
    "drop_coincidences",
    "controlled_units",
    "display_name",
    "ensure_dataset",
    "ensure_model_stores",
    "ensure_stores",
    "format_long_summary",
    "format_summary",
    "fusion_config",
    "init_seeds_of",
    "log_spaced_epochs",
    "long_configs",
    "long_summary",
    "model_stores",
    "paper_table1",
    "pca_embed",
    "prepare_inputs",
    "random_init_models",
    "present_table1",
    "run_ablation",
    "run_controlled",
    "run_long",
    "run_unit",
    "save_ablation",
    "save_controlled",
    "save_long",
    "seed_list",
    "stores_needed",
    "table1",
    "with_intervals",
    "with_paper_reference",
]
