"""The model registry: five foundation models and the baselines, each in both presets and three sizes.

Public API::

    from e2s_utils.models import build_extractor, get_spec, list_models

    list_models("foundation")      # ['copernicusfm', 'dofa', 'croma', 'prithvi', 'scalemae']
    spec = get_spec("dofa")
    spec.recipe("as_intended")      # bands, offset, statistics, resize, seasons, pooling
    spec.output_shape("as_intended", "full")   # (1536, 4)
    model = build_extractor("dofa", preset="as_intended", size="micro", seed=0)
    emb = model({"s1": s1, "s2l2a": s2l2a})    # raw cubes (B, 4, C, 264, 264) -> (B, C_out, T)

Presets: ``as_intended`` (default; the paper's text: S2 L2A, correct bands, real weights, the
600M Prithvi) and ``as_published_code`` (what the public code ran: L1C inputs, random ViT-B/16
Prithvi and Scale-MAE, Prithvi bands off by one, DOFA's hub patch embedding). Sizes: ``full``
(the paper's networks), ``tiny`` (192-d, 4 blocks) and ``micro`` (64-d, 2 blocks, small inputs)
for the demo and smoke profiles. Checkpoints load strictly from ``E2S_WEIGHTS_DIR`` under their
official file names (see ``e2s weights``); anything that does not match key for key raises
:class:`CheckpointError` listing the missing and unexpected keys.

Model facts live in the registry only: names, canonical order, loss weights, shapes, checkpoints
and parameter counts on each :class:`ModelSpec`; set-level helpers (input width of a model set,
combination labels, footprints) in :mod:`e2s_utils.models.catalog`.

Adding a sixth model: one module, ``e2s_utils/models/<name>.py``, holding the extractor and one
``register(ModelSpec(...))`` call with its loss weight; the registry finds the module by itself.
See ``docs/adding_a_model.md``.
"""

from __future__ import annotations

from e2s_utils.models import catalog
from e2s_utils.models.common import (
    CheckpointError,
    FoundationExtractor,
    called_modules,
    load_state_dict_strict,
    match_state_dict,
)
from e2s_utils.models.registry import (
    FOUNDATION_MODULES,
    PAPER_MODELS,
    PRESETS,
    SIZES,
    ArchConfig,
    BandGroup,
    CheckpointInfo,
    CheckpointNotLoadedWarning,
    Extractor,
    InputRecipe,
    ModelSpec,
    Preset,
    Size,
    build_extractor,
    checkpoint_path,
    get_spec,
    list_models,
    register,
    shapes_for_all,
    unused_checkpoint_path,
)

__all__ = [
    "FOUNDATION_MODULES",
    "PAPER_MODELS",
    "CheckpointError",
    "CheckpointNotLoadedWarning",
    "FoundationExtractor",
    "called_modules",
    "catalog",
    "load_state_dict_strict",
    "match_state_dict",
    "PRESETS",
    "SIZES",
    "ArchConfig",
    "BandGroup",
    "CheckpointInfo",
    "Extractor",
    "InputRecipe",
    "ModelSpec",
    "Preset",
    "Size",
    "build_extractor",
    "checkpoint_path",
    "get_spec",
    "list_models",
    "register",
    "shapes_for_all",
    "unused_checkpoint_path",
]
