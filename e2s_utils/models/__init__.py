"""The model registry: five foundation models and the baselines, each in both presets and three sizes.

Public API::

    from e2s_utils.models import build_extractor, get_spec, list_models

    list_models("foundation")      # ['copernicusfm', 'dofa', 'croma', 'prithvi', 'scalemae']
    spec = get_spec("dofa")
    spec.recipe("as_intended")      # bands, offset, statistics, resize, seasons, pooling
    spec.output_shape("as_intended", "full")   # (1536, 4)
    model = build_extractor("dofa", preset="as_intended", size="micro", seed=0)
    emb = model({"s1": s1, "s2l2a": s2l2a})    # raw cubes (B, 4, C, 264, 264) -> (B, C_out, T)

Presets: ``as_intended`` (default; the paper's text: S2 L2A, correct bands, real weights) and
``as_published_code`` (what the public code ran: L1C inputs, random ViT-B/16 Prithvi and
Scale-MAE, Prithvi bands off by one). Sizes: ``full`` (the paper's networks), ``tiny``
(192-d, 4 blocks) and ``micro`` (64-d, 2 blocks, small inputs) for the demo and smoke
profiles. Checkpoints load strictly from ``E2S_WEIGHTS_DIR`` under their official file names
(see ``e2s weights``); anything that does not match key for key raises
:class:`CheckpointError` listing the missing and unexpected keys.

Adding a sixth model
--------------------
One module plus one registry entry:

1. Write ``e2s_utils/models/<name>.py``. Subclass :class:`FoundationExtractor` (see
   ``common.py``): build the network from the field's library inside ``__init__`` (import the
   library lazily), and implement ``encode`` (prepared band groups -> ``(B, C, T)``) and
   ``_load_state`` (checkpoint dict -> strict load through :func:`load_state_dict_strict` with
   the model's allowed missing / unexpected key patterns). Preprocessing (band selection by
   name, offset, statistics, antialiased resize) comes from the recipe for free. Declare an
   :class:`InputRecipe` per preset, an :class:`ArchConfig` per ``(preset, size)`` and a
   :class:`CheckpointInfo` with the official file name, then call
   ``register(ModelSpec(name=..., builder=..., ...))`` at module level.
2. Add ``"<name>"`` to :data:`FOUNDATION_MODULES` in ``registry.py`` (and, for the study's
   profiles, to ``config.FOUNDATION_MODELS`` with a compressor loss weight).
3. Add the model to the table-driven tests in ``tests/test_models.py``.
"""

from __future__ import annotations

from e2s_utils.models.common import (
    CheckpointError,
    FoundationExtractor,
    load_state_dict_strict,
    match_state_dict,
)
from e2s_utils.models.registry import (
    FOUNDATION_MODULES,
    PRESETS,
    SIZES,
    ArchConfig,
    BandGroup,
    CheckpointInfo,
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
)

__all__ = [
    "FOUNDATION_MODULES",
    "CheckpointError",
    "FoundationExtractor",
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
]
