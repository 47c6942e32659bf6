"""Shared machinery of the foundation-model extractors: preprocessing and strict checkpoint loading.

Preprocessing works by band name (``e2s_utils.bands``): select the recipe's bands from a raw cube,
add the offset, normalise with the named statistics table, resize with antialiasing. Checkpoint
loading is strict by construction: a model declares the few key patterns the official file may
lack or carry in addition, and everything else (a missing key, an unexpected key, a shape
mismatch) raises :class:`CheckpointError` listing the keys and naming the file. Keys that may be
missing only while their module is unused (a final norm behind a pooling mode that skips it) are
checked against the modules a forward pass actually runs (:func:`called_modules`).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from e2s_utils import bands as B
from e2s_utils.models.registry import BandGroup, Extractor, InputRecipe

#: Environment switch that allows full unpickling of a checkpoint ``torch.load`` refuses under
#: ``weights_only=True`` (only for files from the official sources listed by ``e2s weights``).
TRUST_ENV: str = "E2S_TRUST_CHECKPOINTS"
_MAX_LISTED = 40


class CheckpointError(RuntimeError):
    """A checkpoint that does not match its network key for key and shape for shape."""


# --------------------------------------------------------------------------- preprocessing


def group_stats(group: BandGroup) -> tuple[list[float], list[float]] | None:
    """``(means, stds)`` of a band group's bands in its statistics table (``None``: no scaling)."""
    if group.stats is None:
        return None
    if group.stats == "prithvi":
        return B.PRITHVI_STATS.select(group.bands)
    return B.STATS[group.stats][group.modality].select(group.bands)


def resize(x: Tensor, size: int) -> Tensor:
    """Antialiased bilinear resize of the last two dims to ``size`` x ``size`` (no-op if equal)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    out = F.interpolate(
        flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.reshape(*lead, *out.shape[-3:])


def prepare_group(cubes: Mapping[str, Tensor], group: BandGroup, size: int) -> Tensor:
    """Select, shift, normalise and resize one band group of a raw cube batch.

    Args:
        cubes: raw cubes ``{modality: (B, 4, C, 264, 264)}``.
        group: the band group of a recipe.
        size: output pixels per side.

    Returns:
        ``(B, 4, len(group.bands), size, size)`` float32.

    Raises:
        KeyError: if the batch lacks the group's modality.
        ValueError: if the modality's tensor does not have the layout ``(B, 4, C, H, W)``.
    """
    if group.modality not in cubes:
        raise KeyError(
            f"this model reads modality {group.modality!r} but the batch holds {sorted(cubes)}"
        )
    cube = cubes[group.modality]
    n_bands = B.N_BANDS[group.modality]
    if cube.ndim != 5 or cube.shape[1] != B.N_SEASONS or cube.shape[2] != n_bands:
        raise ValueError(
            f"{group.modality} batch has shape {tuple(cube.shape)}; expected "
            f"(B, {B.N_SEASONS}, {n_bands}, H, W) raw values"
        )
    idx = B.band_indices(group.modality, group.bands)
    x = cube[:, :, idx].float()
    if group.offset:
        x = x + group.offset
    stats = group_stats(group)
    if stats is not None:
        mean = torch.tensor(stats[0], dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
        std = torch.tensor(stats[1], dtype=x.dtype, device=x.device).view(1, 1, -1, 1, 1)
        x = (x - mean) / std
    return resize(x, size)


def prepare_recipe(cubes: Mapping[str, Tensor], recipe: InputRecipe, size: int) -> list[Tensor]:
    """Every band group of a recipe, prepared (see :func:`prepare_group`)."""
    return [prepare_group(cubes, g, size) for g in recipe.groups]


def seasons_to_batch(x: Tensor) -> Tensor:
    """``(B, T, C, H, W)`` -> ``(B * T, C, H, W)`` (seasons go through the network separately)."""
    return x.reshape(-1, *x.shape[2:])


def batch_to_seasons(z: Tensor, batch: int) -> Tensor:
    """``(B * T, D)`` embeddings -> ``(B, D, T)`` (channel-major, season last)."""
    return z.reshape(batch, -1, z.shape[-1]).transpose(1, 2).contiguous()


def batch_size_of(cubes: Mapping[str, Tensor]) -> int:
    """The leading dimension shared by every tensor of a cube batch (ids and lists ignored).

    Raises:
        ValueError: if the batch holds no tensors or their batch sizes differ.
    """
    sizes = {k: v.shape[0] for k, v in cubes.items() if isinstance(v, Tensor)}
    if not sizes or len(set(sizes.values())) != 1:
        raise ValueError(f"a cube batch needs tensors of one batch size; got {sizes}")
    return next(iter(sizes.values()))


# --------------------------------------------------------------------------- checkpoints


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_identity(path: Path) -> str:
    """``"sha256:<hex> <file name>"`` of a checkpoint (the store's manifest records it)."""
    return f"sha256:{sha256_file(path)} {Path(path).name}"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint on CPU with ``torch.load(weights_only=True)``.

    Training checkpoints sometimes pickle their ``argparse`` arguments; those are allowed.
    Anything else that needs full unpickling is refused unless ``E2S_TRUST_CHECKPOINTS=1``.

    Raises:
        CheckpointError: if the file cannot be read or does not hold a dict.
    """
    path = Path(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if os.environ.get(TRUST_ENV, "") != "1":
            raise CheckpointError(
                f"cannot read {path} with torch.load(weights_only=True): {err}. If the file comes "
                f"from the official source (see `e2s weights`), set {TRUST_ENV}=1 to unpickle it"
            ) from err
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return dict(obj)


def unwrap(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """``ckpt.get('model', ckpt)`` (training checkpoints wrap the weights in ``'model'``)."""
    inner = ckpt.get("model", ckpt)
    if not isinstance(inner, Mapping):
        raise CheckpointError(f"checkpoint entry 'model' is a {type(inner).__name__}, not a dict")
    return dict(inner)


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def called_modules(module: nn.Module, run: Callable[[], Any]) -> set[str]:
    """Names (as in ``named_modules``) of the sub-modules whose ``forward`` runs during ``run()``.

    The root module is named ``""``. Hooks are removed afterwards, even if ``run`` fails.
    """
    called: set[str] = set()
    handles = [
        m.register_forward_pre_hook(lambda _m, _args, n=name: called.add(n))
        for name, m in module.named_modules()
    ]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return called


def _owner(key: str) -> str:
    """The module a state-dict key belongs to (``blocks.0.norm1.weight`` -> ``blocks.0.norm1``)."""
    return key.rpartition(".")[0]


def match_state_dict(
    module: nn.Module,
    state: Mapping[str, Tensor],
    *,
    source: str,
    allowed_missing: Iterable[str] = (),
    allowed_missing_if_unused: Iterable[str] = (),
    used_modules: Callable[[], set[str]] | None = None,
    allowed_unexpected: Iterable[str] = (),
) -> dict[str, Tensor]:
    """Check a state dict against a module; return the part that loads (nothing is loaded).

    Args:
        module: the network (or sub-network).
        state: the checkpoint's state dict, already renamed to the module's key names.
        source: what to name in errors (file and, for nested dicts, the entry).
        allowed_missing: ``fnmatch`` patterns of module keys the file may lack (they keep their
            initialisation) whether or not the network uses them; keep this for keys every
            upstream loader also leaves at their initial values.
        allowed_missing_if_unused: patterns of module keys the file may lack only when their
            module does not run in the forward pass (e.g. ``norm.*`` behind global pooling).
        used_modules: returns the names of the modules a forward pass runs (see
            :func:`called_modules`); called at most once, only when a missing key needs it.
            Without it every module counts as used.
        allowed_unexpected: patterns of file keys that are ignored (decoders, projectors, ...).

    Returns:
        The file's entries that belong to the module (tolerated extras dropped).

    Raises:
        CheckpointError: listing every missing key, unexpected key and shape mismatch.
    """
    allowed_missing, allowed_unexpected = tuple(allowed_missing), tuple(allowed_unexpected)
    if_unused = tuple(allowed_missing_if_unused)
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    bad_missing = [k for k in missing if not _matches(k, allowed_missing)]
    conditional = [k for k in bad_missing if _matches(k, if_unused)]
    in_use: list[str] = []
    if conditional:
        used = used_modules() if used_modules is not None else None
        in_use = [k for k in conditional if used is None or _owner(k) in used]
        bad_missing = [k for k in bad_missing if k not in conditional or k in in_use]
    bad_unexpected = [k for k in unexpected if not _matches(k, allowed_unexpected)]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(own)
        if k in state and isinstance(state[k], Tensor) and state[k].shape != own[k].shape
    ]
    if bad_missing or bad_unexpected or mismatched:
        problems = []
        if bad_missing:
            problems.append(f"{len(bad_missing)} missing keys {_listing(bad_missing)}")
        if in_use:
            problems.append(
                f"{len(in_use)} of them belong to modules the network runs, so they may not be "
                f"missing {_listing(in_use)}"
            )
        if bad_unexpected:
            problems.append(f"{len(bad_unexpected)} unexpected keys {_listing(bad_unexpected)}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatches {_listing(mismatched)}")
        raise CheckpointError(
            f"{source} does not match {type(module).__name__}: " + "; ".join(problems) + ". "
            "Is this the official file for this model and size? Nothing was loaded."
        )
    return {k: v for k, v in state.items() if k in own}


def load_state_dict_strict(
    module: nn.Module,
    state: Mapping[str, Tensor],
    *,
    source: str,
    allowed_missing: Iterable[str] = (),
    allowed_missing_if_unused: Iterable[str] = (),
    used_modules: Callable[[], set[str]] | None = None,
    allowed_unexpected: Iterable[str] = (),
) -> list[str]:
    """Load a state dict, tolerating only the named missing / unexpected key patterns.

    Arguments as :func:`match_state_dict`. Nothing is loaded when a check fails.

    Returns:
        The module keys the file lacked (tolerated; they keep their initialisation).

    Raises:
        CheckpointError: listing every missing key, unexpected key and shape mismatch.
    """
    filtered = match_state_dict(
        module,
        state,
        source=source,
        allowed_missing=allowed_missing,
        allowed_missing_if_unused=allowed_missing_if_unused,
        used_modules=used_modules,
        allowed_unexpected=allowed_unexpected,
    )
    result = module.load_state_dict(filtered, strict=False)
    if result.unexpected_keys:  # pragma: no cover - match_state_dict filtered them
        raise CheckpointError(f"{source}: unexpected keys {result.unexpected_keys}")
    return sorted(result.missing_keys)


def fill_sincos_pos_embed(pos_embed: Tensor) -> None:
    """Overwrite a ``(1, 1 + g*g, D)`` position table with the MAE 2-D sin-cos values in place."""
    from torchgeo.models.scale_mae import get_2d_sincos_pos_embed_with_resolution

    n_tokens, dim = pos_embed.shape[1], pos_embed.shape[2]
    grid = int(round((n_tokens - 1) ** 0.5))
    if grid * grid + 1 != n_tokens:
        raise ValueError(f"pos_embed with {n_tokens} tokens is not 1 + a square grid")
    table = get_2d_sincos_pos_embed_with_resolution(
        dim, grid, torch.ones(1, dtype=torch.float64), cls_token=True
    )
    with torch.no_grad():
        pos_embed.copy_(table.to(pos_embed.dtype))


def resample_pos_embed(state: dict[str, Any], model_pos_embed: Tensor, source: str) -> None:
    """Interpolate a checkpoint's ``pos_embed`` to the model's token grid (bicubic), in place.

    Only a table of the same width on another square grid is resampled (e.g. the official 197
    tokens = 14 x 14 + 1 to a network built for another input size); anything else is left for
    the strict key check to report.
    """
    from timm.layers import resample_abs_pos_embed

    pos = state.get("pos_embed")
    if not isinstance(pos, Tensor) or pos.shape == model_pos_embed.shape:
        return
    old = int(round((pos.shape[1] - 1) ** 0.5))
    new = int(round((model_pos_embed.shape[1] - 1) ** 0.5))
    if old * old + 1 != pos.shape[1] or pos.shape[2] != model_pos_embed.shape[2]:
        return  # not a resizable table: the strict key check reports the mismatch
    state["pos_embed"] = resample_abs_pos_embed(
        pos.float(), new_size=[new, new], old_size=[old, old], num_prefix_tokens=1
    ).to(model_pos_embed.dtype)


class FoundationExtractor(Extractor):
    """Base of the five foundation-model extractors: recipe access and checkpoint bookkeeping.

    Subclasses build their network in ``__init__`` and implement :meth:`encode` (prepared inputs
    -> ``(B, C, T)``) and :meth:`_load_state` (checkpoint dict -> loaded network).
    """

    #: pixels per side the network sees, per size (subclasses set it from their ArchConfig).
    input_size: int

    def forward(self, cubes: dict[str, Tensor]) -> Tensor:
        """Raw cubes ``{modality: (B, 4, C, 264, 264)}`` -> embeddings ``(B, C_out, T)``."""
        recipe = self.recipe
        if recipe is None:
            raise KeyError(f"{self.spec.name} has no recipe for preset {self.preset!r}")
        inputs = prepare_recipe(cubes, recipe, self.input_size)
        out = self.encode(inputs)
        expected = (inputs[0].shape[0], *self.output_shape)
        if tuple(out.shape) != expected:  # pragma: no cover - guards the declared shapes
            raise RuntimeError(f"{self.spec.name} returned {tuple(out.shape)}, declared {expected}")
        return out

    def encode(self, inputs: list[Tensor]) -> Tensor:  # pragma: no cover - abstract
        """Prepared band groups ``[(B, 4, C_g, S, S), ...]`` -> ``(B, C_out, T)``."""
        raise NotImplementedError

    def used_modules(self) -> set[str]:
        """Names of the modules of ``self.net`` that one embedding pass runs.

        Traced with forward pre-hooks on a zero input of one sample (eval mode, no gradients,
        the global RNG untouched); the loaders call it only when a key that may be missing while
        unused is missing.
        """
        recipe = self.recipe
        if recipe is None:
            raise KeyError(f"{self.spec.name} has no recipe for preset {self.preset!r}")
        size = self.input_size
        dummy = [torch.zeros(1, B.N_SEASONS, len(g.bands), size, size) for g in recipe.groups]
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                return called_modules(self.net, lambda: self.encode(dummy))
        finally:
            self.train(was_training)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def load_checkpoint(self, path: Path) -> str:
        """Load an official checkpoint strictly (see the model module's rules).

        Returns:
            The identity ``"sha256:<hex> <file>"`` (also stored in ``weights_identity``).

        Raises:
            CheckpointError: on any key or shape that does not match (nothing is loaded then).
        """
        path = Path(path)
        ckpt = read_checkpoint(path)
        self._load_state(ckpt, source=f"checkpoint {path}")
        self.weights_identity = weights_identity(path)
        return self.weights_identity
