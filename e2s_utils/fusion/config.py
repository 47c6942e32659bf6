"""The compressor's configuration: everything that determines one training run.

The paper's recipe as its public code runs it (SPEC section 2): LayerNorm -> Dropout(0.1) ->
Linear(in, 2048) -> GELU -> Dropout(0.1) -> Linear(2048, 1024), a one-layer stand-in decoder, the
per-model loss weights of the registry, AdamW (lr 1e-4, weight decay 0.05), batch 32 with
drop_last, 160 epochs, MultiStepLR x0.1 at 60 % and 90 % of all optimiser steps (stepped per
iteration; ``milestones=()`` keeps the rate constant), seed 1337, a checkpoint every 5 epochs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from e2s_utils.errors import E2SError
from e2s_utils.store.loader import InputError, canonical_order


class FusionError(E2SError, ValueError):
    """A fusion input, run directory or checkpoint that does not fit (the message says the fix)."""


def default_loss_weight(model: str) -> float:
    """The registry's compressor loss weight of a model (1.0 for an unregistered name)."""
    from e2s_utils.models import get_spec

    try:
        return float(get_spec(model).loss_weight)
    except KeyError:
        return 1.0


@dataclass(frozen=True)
class FusionConfig:
    """Everything that determines a compressor run (its :meth:`hash` keys the run directory).

    Attributes:
        models: the fused models; stored in the canonical order (:func:`canonical_order`).
        loss_weights: per-model loss weight; ``None`` or missing names take the registry's
            (:func:`default_loss_weight`). Stored complete.
        hidden: width of the encoder's hidden layer (paper: 2048).
        out_dim: embedding size (paper: 1024).
        dropout: dropout probability after the LayerNorm and after the GELU (paper: 0.1).
        lr: AdamW learning rate (paper: 1e-4).
        weight_decay: AdamW weight decay (paper: 0.05).
        batch_size: samples per optimiser step, last incomplete batch dropped (paper: 32).
        epochs: training epochs (paper: 160).
        milestones: fractions of all optimiser steps where the learning rate is multiplied by
            ``gamma`` (paper: 60 % and 90 %, i.e. epochs 96 and 144 of 160).
        gamma: learning-rate decay factor (paper: 0.1).
        seed: seed of the initialisation, dropout and shuffling (paper: 1337).
        checkpoint_every: checkpoint cadence in epochs (paper: 5); epoch 0 (untrained) and the
            final epoch are always checkpointed.
        checkpoint_epochs: explicit checkpoint epochs (e.g. log-spaced) replacing the cadence;
            epoch 0 and the final epoch are added.
    """

    models: tuple[str, ...]
    loss_weights: Mapping[str, float] | None = None
    hidden: int = 2048
    out_dim: int = 1024
    dropout: float = 0.1
    lr: float = 1e-4
    weight_decay: float = 0.05
    batch_size: int = 32
    epochs: int = 160
    milestones: tuple[float, ...] = (0.6, 0.9)
    gamma: float = 0.1
    seed: int = 1337
    checkpoint_every: int = 5
    checkpoint_epochs: tuple[int, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if isinstance(self.models, str):
            raise FusionError(f"models must be a sequence of names, not the string {self.models!r}")
        try:
            models = canonical_order(self.models)
        except InputError as err:
            raise FusionError(str(err)) from None
        given = dict(self.loss_weights or {})
        unknown = sorted(set(given) - set(models))
        if unknown:
            raise FusionError(f"loss_weights name {unknown}, which are not among models {models}")
        weights = {m: float(given.get(m, default_loss_weight(m))) for m in models}
        bad = {m: w for m, w in weights.items() if not (math.isfinite(w) and w >= 0)}
        if bad or not any(weights.values()):
            raise FusionError(f"loss weights must be finite, >= 0 and not all zero; got {weights}")
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "loss_weights", weights)
        object.__setattr__(self, "milestones", tuple(float(f) for f in self.milestones))
        for name in ("hidden", "out_dim", "batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise FusionError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise FusionError(f"epochs must be >= 0, got {self.epochs}")
        if not 0.0 <= self.dropout < 1.0:
            raise FusionError(f"dropout must be in [0, 1), got {self.dropout}")
        ordered = list(self.milestones) == sorted(self.milestones)
        if any(not 0.0 < f <= 1.0 for f in self.milestones) or not ordered:
            raise FusionError(
                f"milestones must be increasing fractions in (0, 1]: {self.milestones}"
            )
        if self.checkpoint_epochs is not None:
            epochs = tuple(sorted({int(e) for e in self.checkpoint_epochs}))
            if any(e < 0 or e > self.epochs for e in epochs):
                raise FusionError(
                    f"checkpoint_epochs {epochs} must lie in [0, epochs={self.epochs}]"
                )
            object.__setattr__(self, "checkpoint_epochs", epochs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (what :meth:`hash` digests)."""
        out = asdict(self)
        out["models"] = list(self.models)
        out["loss_weights"] = dict(self.loss_weights or {})
        out["milestones"] = list(self.milestones)
        if self.checkpoint_epochs is not None:
            out["checkpoint_epochs"] = list(self.checkpoint_epochs)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FusionConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(values)
        values["models"] = tuple(values["models"])
        values["milestones"] = tuple(values.get("milestones", (0.6, 0.9)))
        if values.get("checkpoint_epochs") is not None:
            values["checkpoint_epochs"] = tuple(values["checkpoint_epochs"])
        return cls(**values)

    def hash(self) -> str:
        """A 16-hex-digit digest of the configuration (stable across processes and machines)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def checkpoint_schedule(self) -> list[int]:
        """The epochs at which a checkpoint is written (0 and the final epoch always included)."""
        if self.checkpoint_epochs is not None:
            epochs = set(self.checkpoint_epochs)
        else:
            epochs = set(range(0, self.epochs + 1, self.checkpoint_every))
        return sorted(epochs | {0, self.epochs})

    def milestone_steps(self, steps_per_epoch: int) -> list[int]:
        """Optimiser steps at which the learning rate decays (``round(f * all steps)``)."""
        total = self.epochs * steps_per_epoch
        return [int(round(f * total)) for f in self.milestones]

    @property
    def constant_lr(self) -> bool:
        """Whether the learning rate never decays (no milestones, or gamma 1)."""
        return not self.milestones or self.gamma == 1.0

    def milestone_epochs(self) -> list[float]:
        """The epochs at which the learning rate drops (fractions of all epochs; none if constant)."""
        return [] if self.constant_lr else [f * self.epochs for f in self.milestones]
