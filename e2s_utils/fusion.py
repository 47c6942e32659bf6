"""The fusion compressor: per-model embeddings in, one 1024-d vector per location out.

The paper's method as its public code runs it (SPEC section 2):

* **Input layout.** Each model contributes an array ``(C, T)`` per sample (embedding dim x seasons,
  ``T = 1`` for a model that embeds the four seasons jointly). It is flattened channel-major with
  time fastest (``x[c * T + t] = emb[c, t]``, i.e. C-order ``reshape``) and the flat vectors are
  concatenated over models in the **canonical model order** :data:`MODEL_ORDER` (Copernicus-FM,
  DOFA, CROMA, Prithvi, Scale-MAE, then the baselines, then any other name alphabetically),
  whatever order the caller lists them in. With the paper's five models this is 20,992 floats.
* **Encoder.** ``LayerNorm(all inputs, affine) -> Dropout(0.1) -> Linear(in, 2048) -> GELU ->
  Dropout(0.1) -> Linear(2048, 1024)``; the 1024 output is the embedding (no final activation).
* **Stand-in decoder.** One ``Linear(1024, in)`` whose output is split back per model.
* **Loss.** ``sum_m w_m * MSE(recon_m, target_m)`` against the *raw* (not normalised) embeddings,
  with the weights of :data:`DEFAULT_LOSS_WEIGHTS` unless configured otherwise.
* **Training.** AdamW (lr 1e-4, weight decay 0.05), batch 32 with drop_last, 160 epochs,
  MultiStepLR x0.1 at 60 % and 90 % of all optimiser steps, stepped per iteration, seed 1337. The
  paper trains transductively (on the unlabeled evaluation split, validating reconstruction MSE on
  the dev split); the inductive setting swaps the two so the probed samples are never trained on.
  Labels are never read.

Every run lives in a run directory holding ``manifest.json`` (the config hash and the data's
fingerprint: a run refuses to continue on anything else), ``history.csv`` (one row per epoch,
epoch 0 being the untrained model), ``checkpoints/epoch_XXXXX.pt`` (the model's weights at each
scheduled epoch: what the probes evaluate), ``resume.pt`` (the training state at the latest
scheduled epoch: model, optimiser, scheduler, every RNG state; one file, rewritten) and
``best_val.pt`` (the model with the lowest validation MSE up to the latest scheduled epoch; held
in memory between scheduled epochs), all written atomically. Keeping the optimiser state once
rather than in every snapshot makes a run a third of the size on disk. An interrupted run resumes
from ``resume.pt`` to a bit-identical result on the same device; a finished run deletes it (its
final snapshot and full history mark it finished).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from e2s_utils.provenance import atomic_write_bytes

if TYPE_CHECKING:
    from e2s_utils.data.labels import LabelTask
    from e2s_utils.evaluate import EvalResult

#: Canonical concatenation order of the compressor's inputs (the paper's five, then baselines).
MODEL_ORDER: tuple[str, ...] = (
    "copernicusfm", "dofa", "croma", "prithvi", "scalemae",
    "engineered", "rcf", "mean_baseline", "random",
)  # fmt: skip

#: Per-model loss weights of the paper's code; any other model defaults to 1.0.
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "copernicusfm": 1.0,
    "dofa": 1.0,
    "croma": 0.5,
    "prithvi": 2.0,
    "scalemae": 0.75,
}

#: The paper's five output shapes ``(C, T)`` under its published code (20,992 inputs).
PAPER_SHAPES: dict[str, tuple[int, int]] = {
    "copernicusfm": (768, 4),
    "dofa": (1536, 4),
    "croma": (1024, 4),
    "prithvi": (1536, 1),
    "scalemae": (1536, 4),
}

Setting = Literal["transductive", "inductive"]
Probe = Literal["linear", "ridge"]

CHECKPOINT_FORMAT = 2
_EVAL_BATCH = 512


class FusionError(ValueError):
    """A fusion input, run directory or checkpoint that does not fit (the message says the fix)."""


def canonical_order(models: Iterable[str]) -> tuple[str, ...]:
    """Sort model names into the canonical concatenation order (:data:`MODEL_ORDER`, then A-Z).

    Raises:
        FusionError: for an empty list or a repeated name.
    """
    models = list(models)
    if not models:
        raise FusionError("the compressor needs at least one model; pass e.g. models=('dofa',)")
    if len(set(models)) != len(models):
        raise FusionError(f"model list {models} repeats a name; list each model once")
    rank = {name: i for i, name in enumerate(MODEL_ORDER)}
    return tuple(sorted(models, key=lambda m: (rank.get(m, len(rank)), m)))


# --------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class FusionConfig:
    """Everything that determines a compressor run (its :meth:`hash` keys the run directory).

    Attributes:
        models: the fused models; stored in the canonical order (:func:`canonical_order`).
        loss_weights: per-model loss weight; ``None`` or missing names take
            :data:`DEFAULT_LOSS_WEIGHTS` (1.0 for a model outside the paper's five). Stored
            complete.
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
        models = canonical_order(self.models)
        given = dict(self.loss_weights or {})
        unknown = sorted(set(given) - set(models))
        if unknown:
            raise FusionError(f"loss_weights name {unknown}, which are not among models {models}")
        weights = {m: float(given.get(m, DEFAULT_LOSS_WEIGHTS.get(m, 1.0))) for m in models}
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
        if any(not 0.0 < f <= 1.0 for f in self.milestones) or list(self.milestones) != sorted(
            self.milestones
        ):
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


# --------------------------------------------------------------------------------------------------
# Data


@dataclass
class FusionData:
    """Per-model raw embeddings of the same ids, in the same row order.

    Attributes:
        ids: sample ids, one per row.
        inputs: model name -> float32 array ``(n, C, T)`` of raw embeddings.
    """

    ids: list[str]
    inputs: dict[str, np.ndarray]
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        if not self.inputs:
            raise FusionError("FusionData needs at least one model's embeddings")
        if len(set(self.ids)) != len(self.ids):
            dup = pd.Series(self.ids)[pd.Series(self.ids).duplicated()].iloc[0]
            raise FusionError(f"FusionData ids repeat (first repeat {dup!r}); pass each id once")
        n = len(self.ids)
        for name, arr in list(self.inputs.items()):
            arr = np.asarray(arr)
            if arr.ndim != 3:
                raise FusionError(
                    f"embeddings of model {name!r} have shape {arr.shape}; expected (n, C, T)"
                )
            if arr.shape[0] != n:
                raise FusionError(
                    f"embeddings of model {name!r} have {arr.shape[0]} rows for {n} ids; "
                    "read every store with the same ids"
                )
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            finite = np.isfinite(arr).reshape(n, -1).all(axis=1)
            if not finite.all():
                bad = self.ids[int(np.flatnonzero(~finite)[0])]
                raise FusionError(
                    f"embeddings of model {name!r} hold NaN/inf for id {bad!r} "
                    f"({int((~finite).sum())} rows); re-extract that model's store"
                )
            self.inputs[name] = arr

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.ids)

    @property
    def models(self) -> tuple[str, ...]:
        """The models present, in canonical order."""
        return canonical_order(self.inputs)

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """Model name -> per-sample ``(C, T)``, in canonical order."""
        return {m: tuple(self.inputs[m].shape[1:]) for m in self.models}  # type: ignore[misc]

    def subset(self, ids: Sequence[str]) -> FusionData:
        """The rows of ``ids`` (in that order).

        Raises:
            FusionError: naming ids that are not present.
        """
        pos = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in pos]
        if missing:
            raise FusionError(f"{len(missing)} ids are not in this data, e.g. {missing[:3]}")
        rows = np.array([pos[i] for i in ids], dtype=np.int64)
        return FusionData(list(ids), {m: a[rows] for m, a in self.inputs.items()})

    def select(self, models: Iterable[str]) -> FusionData:
        """Only the given models' inputs (same ids)."""
        models = canonical_order(models)
        missing = [m for m in models if m not in self.inputs]
        if missing:
            raise FusionError(f"models {missing} are not in this data (it holds {self.models})")
        return FusionData(list(self.ids), {m: self.inputs[m] for m in models})

    def flat(self, models: Sequence[str] | None = None) -> np.ndarray:
        """The compressor's input matrix ``(n, sum C*T)`` in canonical model order."""
        models = self.models if models is None else canonical_order(models)
        return np.concatenate([self.inputs[m].reshape(self.n, -1) for m in models], axis=1)

    def fingerprint(self) -> str:
        """sha256 over ids, model names, shapes and every embedding byte (cached)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update("\n".join(self.ids).encode())
            for m in self.models:
                arr = self.inputs[m]
                h.update(f"|{m}|{arr.shape}|".encode())
                h.update(memoryview(arr).cast("B"))
            self._fingerprint = h.hexdigest()
        return self._fingerprint


def load_fusion_data(
    out_dir: Path,
    models: Sequence[str],
    preset: str,
    size: str,
    ids: Sequence[str] | None = None,
) -> FusionData:
    """Read the models' embedding stores into one :class:`FusionData`.

    Args:
        out_dir: the stage output folder holding ``embeddings/<model>__<preset>__<size>``.
        models: model names (any order; stored canonically).
        preset: the input-recipe preset the stores were extracted with.
        size: the model size the stores were extracted with.
        ids: rows to read, in this order; ``None`` reads every id of the first model's store and
            requires every other store to hold the same ids.

    Raises:
        FusionError: for a missing store or stores that disagree on their ids.
    """
    from e2s_utils import store as store_mod

    inputs: dict[str, np.ndarray] = {}
    row_ids: list[str] | None = None if ids is None else [str(i) for i in ids]
    for model in canonical_order(models):
        path = store_mod.store_path(Path(out_dir), model, preset, size)
        st = store_mod.EmbeddingStore(path)
        if not st.exists():
            raise FusionError(
                f"no embedding store for model {model!r} at {path}; run "
                f"`e2s extract --model {model} --preset {preset} --size {size} --out {out_dir}` "
                "(or the 20_extract notebook) first"
            )
        if ids is not None:
            got_ids, arr = st.read(row_ids)
        else:
            got_ids, arr = st.read()  # every embedded id; raises for an incomplete store
            got_ids = [str(i) for i in got_ids]
            if row_ids is None:
                row_ids = got_ids
            elif got_ids != row_ids:
                if set(got_ids) != set(row_ids):
                    odd = sorted(set(got_ids) ^ set(row_ids))[:3]
                    raise FusionError(
                        f"store {path} and the store of {next(iter(inputs))!r} hold different "
                        f"ids (e.g. {odd}); extract every model on the same samples or pass ids="
                    )
                pos = {i: k for k, i in enumerate(got_ids)}
                arr = arr[np.array([pos[i] for i in row_ids], dtype=np.int64)]
                got_ids = row_ids
        if [str(i) for i in got_ids] != row_ids:
            raise FusionError(f"store {path} returned rows in a different order than requested")
        inputs[model] = np.asarray(arr, dtype=np.float32)
    assert row_ids is not None
    return FusionData(row_ids, inputs)


@dataclass
class FusionSplits:
    """The data one fusion run needs.

    Attributes:
        train: what the compressor trains on.
        val: where reconstruction MSE is validated.
        eval: the probed split (the one whose embeddings are evaluated and submitted).
        setting: ``transductive`` (train = eval split, val = dev split, the paper) or ``inductive``
            (train = dev split, val = eval split; the probed samples are never trained on).
    """

    train: FusionData
    val: FusionData
    eval: FusionData
    setting: Setting


def load_splits(
    out_dir: Path,
    data_root: Path,
    models: Sequence[str],
    preset: str,
    size: str,
    setting: Setting = "transductive",
) -> FusionSplits:
    """Load the stores and split them into training, validation and evaluation data.

    The dev/eval split comes from :func:`e2s_utils.data.split_ids` on ``data_root`` (the challenge
    folders, or the documented hash split of a single-folder layout).

    Raises:
        FusionError: for an unknown setting or a split with no stored ids.
    """
    from e2s_utils.data import split_ids

    if setting not in ("transductive", "inductive"):
        raise FusionError(f"setting {setting!r} must be 'transductive' or 'inductive'")
    everything = load_fusion_data(out_dir, models, preset, size)
    have = set(everything.ids)
    split = split_ids(Path(data_root))
    parts: dict[str, FusionData] = {}
    for name in ("dev", "eval"):
        ids = [i for i in split[name] if i in have]  # type: ignore[index]
        if not ids:
            raise FusionError(
                f"no stored embeddings for the {name} split of {data_root}; extract the models on "
                "that dataset first"
            )
        parts[name] = everything.subset(ids)
    if setting == "transductive":
        return FusionSplits(parts["eval"], parts["dev"], parts["eval"], setting)
    return FusionSplits(parts["dev"], parts["eval"], parts["eval"], setting)


# --------------------------------------------------------------------------------------------------
# Model


class FusionCompressor(nn.Module):
    """The compressor and its one-layer stand-in decoder, generic over models and ``(C, T)`` shapes.

    Args:
        shapes: model name -> per-sample ``(C, T)``; concatenated in canonical order.
        hidden: hidden width of the encoder.
        out_dim: embedding size.
        dropout: dropout probability (after the LayerNorm and after the GELU).
    """

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, int]],
        hidden: int = 2048,
        out_dim: int = 1024,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        order = canonical_order(shapes)
        self.shapes: dict[str, tuple[int, int]] = {m: tuple(shapes[m]) for m in order}  # type: ignore[misc]
        self.sizes = [int(c) * int(t) for c, t in self.shapes.values()]
        if any(s < 1 for s in self.sizes):
            raise FusionError(f"every (C, T) must be positive, got {self.shapes}")
        self.in_dim = sum(self.sizes)
        self.encoder = nn.Sequential(
            nn.LayerNorm(self.in_dim, elementwise_affine=True),
            nn.Dropout(dropout),
            nn.Linear(self.in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_dim),
        )
        self.decoder = nn.Linear(out_dim, self.in_dim)

    @property
    def models(self) -> tuple[str, ...]:
        """The models, in input order."""
        return tuple(self.shapes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Flat input ``(B, in)`` -> embedding ``(B, out_dim)``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat input ``(B, in)`` -> (embedding ``(B, out_dim)``, reconstruction ``(B, in)``)."""
        z = self.encoder(x)
        return z, self.decoder(z)

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat ``(B, in)`` tensor back into per-model ``(B, C, T)`` tensors."""
        parts = torch.split(flat, self.sizes, dim=1)
        return {m: p.reshape(-1, *self.shapes[m]) for m, p in zip(self.shapes, parts, strict=True)}

    def flatten(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Per-model ``(B, C, T)`` tensors -> the flat ``(B, in)`` input (canonical order)."""
        for m, (c, t) in self.shapes.items():
            if m not in inputs:
                raise FusionError(f"input for model {m!r} is missing (need {self.models})")
            if tuple(inputs[m].shape[1:]) != (c, t):
                raise FusionError(
                    f"input of model {m!r} has shape {tuple(inputs[m].shape[1:])}, "
                    f"expected {(c, t)}"
                )
        return torch.cat([inputs[m].reshape(inputs[m].shape[0], -1) for m in self.shapes], dim=1)


def build_model(config: FusionConfig, shapes: Mapping[str, tuple[int, int]]) -> FusionCompressor:
    """Build the compressor for ``config`` (seeded from ``config.seed``) and the input shapes.

    Raises:
        FusionError: when ``shapes`` does not name exactly ``config.models``.
    """
    if canonical_order(shapes) != config.models:
        raise FusionError(f"data holds models {tuple(shapes)} but the config fuses {config.models}")
    torch.manual_seed(config.seed)
    return FusionCompressor(shapes, config.hidden, config.out_dim, config.dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(
    model: nn.Module, config: FusionConfig, device: str | torch.device, *, fused: bool | None = None
) -> torch.optim.AdamW:
    """The compressor's AdamW (the config's lr and weight decay).

    ``fused`` (default: on CPU and CUDA) selects torch's fused kernel, one pass over each parameter
    instead of a Python loop of element-wise operations: the same update rule, several times faster
    per step (``benchmarks/results/fusion_training.md``).
    """
    if fused is None:
        fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused
    )


def reconstruction_losses(
    model: FusionCompressor,
    recon: torch.Tensor,
    target: torch.Tensor,
    weights: Mapping[str, float],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted loss ``sum_m w_m * MSE_m`` and the unweighted per-model MSEs.

    Args:
        model: the compressor (gives the per-model split of the flat tensors).
        recon: decoder output ``(B, in)``.
        target: the raw flat input ``(B, in)``.
        weights: model name -> loss weight.
    """
    per_model: dict[str, torch.Tensor] = {}
    total = recon.new_zeros(())
    for m, r, t in zip(
        model.models,
        torch.split(recon, model.sizes, 1),
        torch.split(target, model.sizes, 1),
        strict=True,
    ):
        mse = torch.mean((r - t) ** 2)
        per_model[m] = mse
        total = total + float(weights[m]) * mse
    return total, per_model


# --------------------------------------------------------------------------------------------------
# Run directory, checkpoints, RNG state


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch reports a full disk as a RuntimeError
        Path(tmp).unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free / 2**20
        raise FusionError(
            f"could not write {path} ({free:.0f} MiB free on that disk): {err}. Free space, or "
            "point E2S_OUTPUT_DIR at a larger disk, and rerun: training resumes from resume.pt"
        ) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(
    state: Mapping[str, Any], shuffle: torch.Generator, device: torch.device
) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["name"],
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def resume_path(run_dir: Path) -> Path:
    """``run_dir/resume.pt``: the full training state at the latest scheduled epoch."""
    return Path(run_dir) / "resume.pt"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    """``run_dir/checkpoints/epoch_XXXXX.pt``."""
    return Path(run_dir) / "checkpoints" / f"epoch_{epoch:05d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's checkpoints as ``(epoch, path)``, sorted by epoch (``best_val.pt`` excluded)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("epoch_*.pt"):
        stem = p.stem.removeprefix("epoch_")
        if stem.isdigit():
            out.append((int(stem), p))
    return sorted(out)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`train` (tensors and plain Python only).

    Raises:
        FusionError: when the file is missing or is not a fusion checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FusionError(f"checkpoint {path} does not exist; list a run's with list_checkpoints()")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise FusionError(f"{path} is not a fusion checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def model_from_checkpoint(
    checkpoint: Path | Mapping[str, Any], device: str | torch.device = "cpu"
) -> FusionCompressor:
    """Rebuild the compressor of a checkpoint (strict load, eval mode, on ``device``)."""
    ckpt = load_checkpoint(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    config = FusionConfig.from_dict(ckpt["config"])
    shapes = {m: tuple(s) for m, s in ckpt["shapes"].items()}
    model = FusionCompressor(shapes, config.hidden, config.out_dim, config.dropout)
    model.load_state_dict(ckpt["model"], strict=True)
    return model.to(device).eval()


def _manifest(config: FusionConfig, train_data: FusionData, val_data: FusionData | None) -> dict:
    return {
        "config_hash": config.hash(),
        "config": config.to_dict(),
        "shapes": {m: list(s) for m, s in train_data.shapes.items()},
        "train": {"n": train_data.n, "fingerprint": train_data.fingerprint()},
        "val": None
        if val_data is None
        else {"n": val_data.n, "fingerprint": val_data.fingerprint()},
    }


def _check_or_write_manifest(run_dir: Path, manifest: dict) -> None:
    path = run_dir / "manifest.json"
    if path.exists():
        old = json.loads(path.read_text())
        for key, what in (("config_hash", "configuration"), ("train", "training data"),
                          ("val", "validation data")):  # fmt: skip
            if old.get(key) != manifest[key]:
                raise FusionError(
                    f"run directory {run_dir} belongs to a different {what} "
                    f"({old.get(key)} != {manifest[key]}); use another run directory "
                    "(see run_dir_for) or delete this one"
                )
        return
    _atomic_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def run_dir_for(
    out_dir: Path,
    config: FusionConfig,
    preset: str,
    size: str,
    setting: Setting = "transductive",
) -> Path:
    """The conventional run directory of a configuration, keyed by its hash.

    ``out_dir/fusion/<models joined by +>__<preset>__<size>__<setting>__<config hash>``.
    """
    name = f"{'+'.join(config.models)}__{preset}__{size}__{setting}__{config.hash()}"
    return Path(out_dir) / "fusion" / name


def read_history(run_dir: Path) -> pd.DataFrame:
    """The run's ``history.csv`` (empty frame when absent), every float read back exactly.

    pandas' default float parser may change the last digit of a 17-digit value; the round-trip
    parser keeps a resumed run's history identical to an uninterrupted one.
    """
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, float_precision="round_trip")


# --------------------------------------------------------------------------------------------------
# Training


@torch.no_grad()
def _validate(
    model: FusionCompressor, x: torch.Tensor, weights: Mapping[str, float]
) -> tuple[float, dict[str, float]]:
    """Weighted and per-model reconstruction MSE over all rows (eval mode, element means)."""
    was_training = model.training
    model.eval()
    n = x.shape[0]
    sums = {m: 0.0 for m in model.models}
    for start in range(0, n, _EVAL_BATCH):
        xb = x[start : start + _EVAL_BATCH]
        _, recon = model(xb)
        _, per = reconstruction_losses(model, recon, xb, weights)
        for m, v in per.items():
            sums[m] += float(v) * xb.shape[0]
    model.train(was_training)
    per_model = {m: s / n for m, s in sums.items()}
    return sum(float(weights[m]) * v for m, v in per_model.items()), per_model


def train(
    config: FusionConfig,
    train_data: FusionData,
    val_data: FusionData | None,
    run_dir: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> pd.DataFrame:
    """Train the compressor, checkpointing on the config's schedule; resume from ``run_dir``.

    Epoch 0 is the untrained model (its checkpoint is written before the first step). After every
    epoch the validation MSE is computed (eval mode); ``best_val.pt`` keeps the model with the
    lowest one, written at the scheduled epochs (so it never runs ahead of ``resume.pt``). The
    optimiser is :func:`make_optimizer`'s AdamW. Shuffling uses a dedicated ``torch.Generator``
    seeded from ``config.seed`` (the role of a DataLoader generator); dropout uses the global
    torch generator, seeded likewise.
    Each scheduled epoch writes a weights-only snapshot and rewrites ``resume.pt`` with model,
    optimiser, scheduler, all RNG states (torch, CUDA, NumPy, Python, the shuffling generator) and
    the epoch, so a resumed run is bit-identical to an uninterrupted one on the same device.

    Args:
        config: the run's configuration.
        train_data: the samples the compressor trains on (models must equal ``config.models``).
        val_data: the samples whose reconstruction MSE is tracked (``None``: not tracked).
        run_dir: the run directory; created, or resumed when it holds the same config and data.
        device: torch device.
        progress: show a tqdm bar over epochs.
        stop_after: stop (as if interrupted) after this epoch; ``None`` runs to the end. A later
            call resumes from the latest checkpoint.

    Returns:
        The history, one row per epoch: ``epoch``, ``train_loss`` (mean weighted loss of the
        epoch's steps with dropout active; NaN at epoch 0), ``val_mse`` (the weighted sum, i.e. the
        training objective on the validation data), ``val_mse_<model>`` (unweighted per model),
        ``lr`` (at the end of the epoch).

    Raises:
        FusionError: for mismatched models/shapes, too few samples for one batch, or a run directory
            holding a different configuration or data.
    """
    run_dir = Path(run_dir)
    dev = torch.device(device)
    if train_data.models != config.models:
        raise FusionError(
            f"training data holds models {train_data.models} but the config fuses {config.models}"
        )
    if val_data is not None and val_data.shapes != train_data.shapes:
        raise FusionError(
            f"validation shapes {val_data.shapes} differ from training shapes {train_data.shapes}"
        )
    steps_per_epoch = train_data.n // config.batch_size
    if steps_per_epoch < 1 and config.epochs > 0:
        raise FusionError(
            f"{train_data.n} training samples make no full batch of {config.batch_size}; "
            "lower batch_size or extract more samples"
        )
    _check_or_write_manifest(run_dir, _manifest(config, train_data, val_data))
    schedule = config.checkpoint_schedule()
    final = config.epochs if stop_after is None else min(config.epochs, stop_after)

    x_train = torch.from_numpy(train_data.flat(config.models)).to(dev)
    x_val = None if val_data is None else torch.from_numpy(val_data.flat(config.models)).to(dev)

    model = build_model(config, train_data.shapes).to(dev)
    optimizer = make_optimizer(model, config, dev)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=config.milestone_steps(steps_per_epoch), gamma=config.gamma
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    val_cols = ["val_mse"] + [f"val_mse_{m}" for m in config.models]

    history = read_history(run_dir)
    resume_file = resume_path(run_dir)
    if _finished(run_dir, config, history):
        return history
    if resume_file.is_file():
        ckpt = load_checkpoint(resume_file, map_location=dev)
        if ckpt["config_hash"] != config.hash() or "optimizer" not in ckpt:
            raise FusionError(
                f"{resume_file} is not this configuration's training state; delete the run "
                "directory"
            )
        start_epoch = int(ckpt["epoch"])
        model.load_state_dict(ckpt["model"], strict=True)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], shuffle, dev)
        history = history[history["epoch"] <= start_epoch].reset_index(drop=True)
        if len(history) != start_epoch + 1:
            raise FusionError(
                f"{run_dir / 'history.csv'} lacks rows up to epoch {start_epoch}; delete the run "
                "directory and train again"
            )
    else:
        start_epoch = 0
        random.seed(config.seed)
        np.random.seed(config.seed % 2**32)
        torch.manual_seed(config.seed)
        if dev.type == "cuda":
            torch.cuda.manual_seed_all(config.seed)
        val, per = (
            _validate(model, x_val, config.loss_weights)
            if x_val is not None
            else (math.nan, {m: math.nan for m in config.models})
        )
        row = {"epoch": 0, "train_loss": math.nan, "val_mse": val,
               **{f"val_mse_{m}": v for m, v in per.items()}, "lr": config.lr}  # fmt: skip
        history = pd.DataFrame([row], columns=["epoch", "train_loss", *val_cols, "lr"])
        _atomic_torch_save(_best_state(model, config, train_data, 0, val), run_dir / "best_val.pt")
        _save_checkpoint(run_dir, 0, model, optimizer, scheduler, shuffle, dev, config, train_data)
        _atomic_text(run_dir / "history.csv", history.to_csv(index=False))

    best: dict[str, Any] | None = None  # the best model since the last scheduled epoch
    bar = tqdm(
        total=config.epochs, initial=start_epoch, disable=not progress, desc="fusion", unit="epoch"
    )
    try:
        for epoch in range(start_epoch + 1, final + 1):
            model.train()
            perm = torch.randperm(train_data.n, generator=shuffle)
            total = torch.zeros((), dtype=torch.float64, device=dev)  # no per-step host sync
            for step in range(steps_per_epoch):
                idx = perm[step * config.batch_size : (step + 1) * config.batch_size].to(dev)
                xb = x_train.index_select(0, idx)
                _, recon = model(xb)
                loss, _ = reconstruction_losses(model, recon, xb, config.loss_weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.detach()
            train_loss = float(total) / steps_per_epoch
            if not math.isfinite(train_loss):
                raise FusionError(
                    f"training loss became {train_loss} at epoch {epoch}; check the embeddings' "
                    "scale or lower the learning rate"
                )
            if x_val is not None:
                val, per = _validate(model, x_val, config.loss_weights)
            else:
                val, per = math.nan, {m: math.nan for m in config.models}
            row = {"epoch": epoch, "train_loss": train_loss, "val_mse": val,
                   **{f"val_mse_{m}": v for m, v in per.items()},
                   "lr": optimizer.param_groups[0]["lr"]}  # fmt: skip
            best_so_far = history["val_mse"].min(skipna=True)
            history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
            if math.isfinite(val) and not (val >= best_so_far):
                best = _best_state(model, config, train_data, epoch, val)
            if epoch in schedule:
                # best_val.pt moves with the resume state, so both always describe the same epochs
                if best is not None:
                    _atomic_torch_save(best, Path(run_dir) / "best_val.pt")
                    best = None
                _save_checkpoint(
                    run_dir, epoch, model, optimizer, scheduler, shuffle, dev, config, train_data
                )
            _atomic_text(run_dir / "history.csv", history.to_csv(index=False))
            bar.update(1)
            bar.set_postfix(loss=f"{train_loss:.4g}", val=f"{val:.4g}")
    finally:
        bar.close()
    history = read_history(run_dir)
    if _finished(run_dir, config, history):
        resume_file.unlink(missing_ok=True)  # a finished run needs no optimiser state
    return history


def _finished(run_dir: Path, config: FusionConfig, history: pd.DataFrame) -> bool:
    """Whether the run's final snapshot and every history row up to the last epoch are on disk."""
    return (
        checkpoint_path(run_dir, config.epochs).is_file()
        and len(history) == config.epochs + 1
        and int(history["epoch"].iloc[-1]) == config.epochs
    )


def _ckpt_common(
    model: FusionCompressor, config: FusionConfig, data: FusionData, epoch: int
) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "shapes": {m: list(s) for m, s in model.shapes.items()},
        "train_fingerprint": data.fingerprint(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def _save_checkpoint(
    run_dir: Path,
    epoch: int,
    model: FusionCompressor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    device: torch.device,
    config: FusionConfig,
    data: FusionData,
) -> None:
    ckpt = _ckpt_common(model, config, data, epoch)
    _atomic_torch_save(ckpt, checkpoint_path(run_dir, epoch))
    # the snapshot first: a crash in between resumes from the previous state and rewrites it
    ckpt["optimizer"] = optimizer.state_dict()
    ckpt["scheduler"] = scheduler.state_dict()
    ckpt["rng"] = _rng_state(shuffle, device)
    _atomic_torch_save(ckpt, resume_path(run_dir))


def _best_state(
    model: FusionCompressor, config: FusionConfig, data: FusionData, epoch: int, val: float
) -> dict[str, Any]:
    """A weights-only checkpoint of the model as it is now (tensors copied), with its val MSE."""
    ckpt = _ckpt_common(model, config, data, epoch)
    ckpt["model"] = {k: v.clone() for k, v in ckpt["model"].items()}
    ckpt["val_mse"] = float(val)
    return ckpt


# --------------------------------------------------------------------------------------------------
# Embedding, evaluation, submission


@torch.no_grad()
def embed(checkpoint: Path, data: FusionData, device: str = "cpu") -> np.ndarray:
    """The checkpoint's 1024-d embeddings of ``data`` (eval mode, float32 ``(n, out_dim)``).

    Raises:
        FusionError: when ``data`` lacks a model of the checkpoint or a shape differs.
    """
    model = model_from_checkpoint(checkpoint, device)
    missing = [m for m in model.models if m not in data.inputs]
    if missing:
        raise FusionError(
            f"data lacks models {missing} that checkpoint {checkpoint} was trained on"
        )
    data = data.select(model.models)
    if data.shapes != model.shapes:
        raise FusionError(
            f"data shapes {data.shapes} differ from checkpoint {checkpoint}'s {model.shapes}"
        )
    x = torch.from_numpy(data.flat(model.models))
    out = [
        model.encode(x[s : s + _EVAL_BATCH].to(device)).float().cpu()
        for s in range(0, data.n, _EVAL_BATCH)
    ]
    if not out:
        return np.zeros((0, model.encoder[-1].out_features), dtype=np.float32)
    return torch.cat(out).numpy()


def _tasks_identity(tasks: Mapping[str, LabelTask]) -> str:
    h = hashlib.sha256()
    for name in sorted(tasks):
        t = tasks[name]
        h.update(f"|{name}|{t.kind}|".encode())
        h.update(pd.util.hash_pandas_object(t.labels, index=True).values.tobytes())
    return h.hexdigest()[:16]


def restrict_tasks(tasks: Mapping[str, LabelTask], ids: Sequence[str]) -> dict[str, LabelTask]:
    """The tasks with labels only for ``ids`` (the probed split); tasks left empty are dropped.

    The label files cover every split; probing one split would otherwise warn about every
    labelled id of the other.
    """
    keep = pd.Index([str(i) for i in ids])
    out = {}
    for name, task in tasks.items():
        labels = task.labels[task.labels.index.isin(keep)]
        if len(labels):
            out[name] = dataclasses.replace(task, labels=labels)
    return out


def probe_columns(probe: str) -> tuple[str, str]:
    """Column name of Q-bar and prefix of per-task Q for a probe (``linear`` is unsuffixed)."""
    return ("q_bar", "q_") if probe == "linear" else (f"q_bar_{probe}", f"q_{probe}_")


def evaluate_checkpoints(
    run_dir: Path,
    data: FusionData,
    tasks: Mapping[str, LabelTask],
    *,
    probes: Sequence[Probe] = ("linear", "ridge"),
    k_folds: int = 40,
    epochs: int = 10,
    device: str = "cpu",
    progress: bool = True,
    include_best_val: bool = True,
) -> pd.DataFrame:
    """Evaluate every checkpoint's embeddings of ``data`` with the NeuCo-Bench protocol.

    Each (checkpoint, probe) result is saved under
    ``run_dir/evaluation/<settings hash>/epoch_XXXXX/<probe>/`` (``EvalResult.save``) and reused on
    a rerun, so an interrupted evaluation resumes. The settings hash covers the data fingerprint,
    the tasks' labels, ``k_folds`` and ``epochs``.

    Args:
        run_dir: a run directory written by :func:`train`.
        data: the probed samples (the eval split).
        tasks: the label tasks (``e2s_utils.data.labels.load_tasks``).
        probes: which probes to run (``linear``: the faithful NeuCo-Bench probe; ``ridge``).
        k_folds: folds per task.
        epochs: probe epochs per fold.
        device: torch device of embedding and probing.
        progress: show a tqdm bar over checkpoints.
        include_best_val: also evaluate ``best_val.pt`` (the lowest-validation-MSE model, as the
            paper keeps it) when its epoch is not on the checkpoint schedule.

    Returns:
        One row per checkpoint, sorted by epoch: ``epoch``, ``train_loss``, ``val_mse``,
        ``val_mse_<model>``, ``q_bar``, ``q_bar_ridge``, ``q_<task>``, ``q_ridge_<task>`` (columns
        per probe run), ``checkpoint`` (the file, relative to ``run_dir``) and ``best_val``
        (whether the row is the lowest-validation-MSE model).

    Raises:
        FusionError: when the run has no checkpoints.
    """
    from e2s_utils import evaluate as ev

    run_dir = Path(run_dir)
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise FusionError(f"{run_dir} holds no checkpoints; train the compressor first")
    tasks = restrict_tasks(tasks, data.ids)
    settings = {
        "data": data.fingerprint(),
        "tasks": _tasks_identity(tasks),
        "k_folds": int(k_folds),
        "epochs": int(epochs),
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    eval_root = run_dir / "evaluation" / key
    if not (eval_root / "settings.json").exists():
        _atomic_text(eval_root / "settings.json", json.dumps(settings, indent=2) + "\n")
    history = (
        read_history(run_dir).set_index("epoch") if (run_dir / "history.csv").exists() else None
    )

    entries = [(epoch, path, f"epoch_{epoch:05d}") for epoch, path in ckpts]
    best_path = run_dir / "best_val.pt"
    best_epoch: int | None = None
    if include_best_val and best_path.is_file():
        best_epoch = int(load_checkpoint(best_path)["epoch"])
        if best_epoch not in {e for e, _ in ckpts}:
            entries.append((best_epoch, best_path, f"best_val_epoch_{best_epoch:05d}"))
            entries.sort(key=lambda item: item[0])

    rows = []
    for epoch, path, cache_name in tqdm(
        entries, disable=not progress, desc="checkpoints", unit="ckpt"
    ):
        row: dict[str, Any] = {"epoch": epoch}
        if history is not None and epoch in history.index:
            h = history.loc[epoch]
            row["train_loss"] = h["train_loss"]
            row.update({c: h[c] for c in history.columns if c.startswith("val_mse")})
        X: np.ndarray | None = None
        for probe in probes:
            out = eval_root / cache_name / probe
            if (out / "summary.json").exists():
                result: EvalResult = ev.EvalResult.load(out)
            else:
                if X is None:
                    X = embed(path, data, device=device)
                result = ev.evaluate(
                    data.ids, X, tasks, probe=probe, k_folds=k_folds, epochs=epochs,
                    device=device,
                )  # fmt: skip
                result.save(out)
            qcol, prefix = probe_columns(probe)
            row[qcol] = float(result.q_bar)
            for name in sorted(result.tasks):
                row[f"{prefix}{name}"] = float(result.tasks[name].q)
        row["checkpoint"] = path.relative_to(run_dir).as_posix()
        row["best_val"] = epoch == best_epoch
        rows.append(row)
    table = pd.DataFrame(rows)
    lead = [c for c in ("epoch", "train_loss", "val_mse") if c in table]
    if history is not None:
        lead += [c for c in history.columns if c.startswith("val_mse_") and c in table]
    qbars = [probe_columns(p)[0] for p in probes]
    rest = [c for c in table.columns if c not in lead and c not in qbars]
    return table[lead + qbars + rest]


def best_checkpoints(table: pd.DataFrame, probe: str = "linear") -> dict[str, dict[str, Any]]:
    """The best-Q-bar and best-validation-MSE rows of an :func:`evaluate_checkpoints` table.

    Returns:
        ``{"best_q": {...}, "best_mse": {...}}``, each with ``epoch``, ``q_bar``, ``val_mse`` and
        ``checkpoint`` (the file relative to the run directory); ties go to the earliest epoch.
    """
    qcol = probe_columns(probe)[0]
    iq = int(table[qcol].to_numpy().argmax())
    im = int(np.nan_to_num(table["val_mse"].to_numpy(), nan=np.inf).argmin())
    pick = lambda i: {  # noqa: E731
        "epoch": int(table["epoch"].iloc[i]),
        "q_bar": float(table[qcol].iloc[i]),
        "val_mse": float(table["val_mse"].iloc[i]),
        "checkpoint": str(table["checkpoint"].iloc[i]) if "checkpoint" in table else "",
    }
    return {"best_q": pick(iq), "best_mse": pick(im)}


def summary_frame(table: pd.DataFrame, random_q: Mapping[str, float]) -> pd.DataFrame:
    """A compact summary of a run: untrained, best-Q-bar, best-MSE and last checkpoints, and random.

    Args:
        table: an :func:`evaluate_checkpoints` table (columns ``epoch``, ``val_mse``, ``q_bar``,
            ``q_bar_ridge``).
        random_q: Q-bar of N(0, 1) embeddings of the same ids, keyed by probe (``linear``,
            ``ridge``).

    Returns:
        One row per reference point with its epoch, validation MSE and both probes' Q-bar.
    """
    best = best_checkpoints(table)
    ordered = table.sort_values("epoch", kind="stable")
    picks = {
        "untrained (epoch 0)": int(ordered.index[0]),
        "best Q-bar (the paper's choice)": int(
            table.index[table["epoch"] == best["best_q"]["epoch"]][0]
        ),
        "best validation MSE": int(table.index[table["epoch"] == best["best_mse"]["epoch"]][0]),
        "last epoch": int(ordered.index[-1]),
    }
    rows = [
        {
            "checkpoint": label,
            "epoch": int(table.loc[i, "epoch"]),
            "val MSE": float(table.loc[i, "val_mse"]),
            "Q-bar (linear probe)": float(table.loc[i, "q_bar"]),
            "Q-bar (ridge probe)": float(table.loc[i, "q_bar_ridge"]),
        }
        for label, i in picks.items()
    ]
    rows.append(
        {
            "checkpoint": "random N(0, 1) embeddings",
            "epoch": None,
            "val MSE": float("nan"),
            "Q-bar (linear probe)": float(random_q.get("linear", float("nan"))),
            "Q-bar (ridge probe)": float(random_q.get("ridge", float("nan"))),
        }
    )
    return pd.DataFrame(rows)


def random_embeddings(n: int, dim: int = 1024, seed: int = 0) -> np.ndarray:
    """N(0, 1) embeddings ``(n, dim)`` float32: the random reference row of the benchmark."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def write_submission(
    checkpoint: Path, data: FusionData, path: Path, *, float16: bool = False, device: str = "cpu"
) -> Path:
    """Write the checkpoint's embeddings of every id as the NeuCo-Bench CSV and validate it.

    Args:
        checkpoint: the chosen checkpoint (e.g. the best-Q-bar epoch's).
        data: the samples to embed (every id of the submission).
        path: the CSV to write (``id,0,...,1023``).
        float16: round values to float16 as the challenge submission did.
        device: torch device of the embedding.

    Returns:
        ``path``.

    Raises:
        FusionError: when the file read back by the evaluation module's reader differs.
    """
    from e2s_utils import evaluate as ev

    X = embed(checkpoint, data, device=device)
    path = Path(path)
    ev.write_embeddings_csv(path, data.ids, X, float16=float16)
    ids, back = ev.read_embeddings_csv(path, embedding_dim=X.shape[1])
    expect = X.astype(np.float16).astype(np.float32) if float16 else X
    if (
        list(ids) != list(data.ids)
        or back.shape != X.shape
        or not np.allclose(
            back, expect, rtol=1e-3 if float16 else 1e-6, atol=1e-3 if float16 else 1e-6
        )
    ):
        raise FusionError(f"{path} does not read back as written; delete it and write it again")
    return path


# --------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="e2s train", description="Train the fusion compressor on extracted embedding stores."
    )
    p.add_argument(
        "--out", type=Path, required=True, help="stage output folder (holds embeddings/)"
    )
    p.add_argument("--models", required=True, help="comma-separated model names, e.g. dofa,croma")
    p.add_argument("--preset", default="as_intended", choices=["as_intended", "as_published_code"])
    p.add_argument("--size", default="full", choices=["micro", "tiny", "full"])
    p.add_argument("--data-root", type=Path, default=None,
                   help="dataset root for the dev/eval split and labels (default: E2S_DATA_DIR, "
                   "else OUT/synthetic)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="auto")
    p.add_argument("--inductive", action="store_true",
                   help="train on the dev split, validate on the eval split")  # fmt: skip
    p.add_argument("--evaluate", action="store_true", help="evaluate every checkpoint afterwards")
    p.add_argument("--k-folds", type=int, default=40)
    p.add_argument("--eval-epochs", type=int, default=10)
    p.add_argument(
        "--submission",
        type=Path,
        default=None,
        help="CSV of the best-Q-bar (with --evaluate) else best-MSE embeddings",
    )
    p.add_argument("--float16", action="store_true", help="write the submission in float16")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """``e2s train``: train (resuming), optionally evaluate every checkpoint, write a submission."""
    from e2s_utils import config as cfg
    from e2s_utils import paths

    args = _parser().parse_args(argv)
    data_root = args.data_root or paths.data_dir() or args.out / "synthetic"
    device = cfg.pick_device(args.device)
    config = FusionConfig(
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        epochs=args.epochs,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )
    setting: Setting = "inductive" if args.inductive else "transductive"
    splits = load_splits(args.out, data_root, config.models, args.preset, args.size, setting)
    run_dir = run_dir_for(args.out, config, args.preset, args.size, setting)
    print(f"run directory: {run_dir}")
    history = train(config, splits.train, splits.val, run_dir, device=device,
                    progress=not args.no_progress)  # fmt: skip
    print(history.tail(3).to_string(index=False))
    chosen = run_dir / "best_val.pt"
    if args.evaluate:
        from e2s_utils.data import labels

        tasks = labels.load_tasks(Path(data_root) / "labels")
        table = evaluate_checkpoints(run_dir, splits.eval, tasks, k_folds=args.k_folds,
                                     epochs=args.eval_epochs, device=device,
                                     progress=not args.no_progress)  # fmt: skip
        _atomic_text(run_dir / "checkpoint_scores.csv", table.to_csv(index=False))
        best = best_checkpoints(table)
        bq, bm = best["best_q"], best["best_mse"]
        print(f"best Q-bar {bq['q_bar']:.3f} at epoch {bq['epoch']}, "
              f"best val MSE {bm['val_mse']:.4g} at epoch {bm['epoch']}")  # fmt: skip
        chosen = run_dir / best["best_q"]["checkpoint"]
    if args.submission is not None:
        write_submission(chosen, splits.eval, args.submission, float16=args.float16, device=device)
        print(f"submission ({chosen.name}): {args.submission}")
    return 0
