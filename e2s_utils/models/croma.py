"""CROMA-L (torchgeo ``croma_large``): S2 L2A optical + S1 SAR through the joint cross-modal encoder.

Recipe (SPEC 6.2): the 12 L2A bands (optical) and S1 VV, VH (SAR), each season separately, at
the native 264 px (33 x 33 patches of 8 px; CROMA was pretrained at 120 px and extrapolates
through its 2-D ALiBi bias); ``joint_GAP`` (mean of the cross-modal encoder's tokens), 1024 per
season -> ``(1024, 4)``. The presets differ in the normalisation only:

* ``as_published_code``: the final public pipeline (``foundation_embeddings/``) standardised L2A
  with the SSL4EO-S12 **v1.1 L2A statistics without the +1000 shift** those statistics belong to
  (so every band sits about 1000 / std below where the table expects it), and S1 with the v1.1
  S1 statistics. An older root-level script of the same authors used the raw downstream
  statistics instead.
* ``as_intended``: a consistent pairing, no shift and the raw downstream statistics (SPEC 1.4),
  for both modalities. It is the pairing of the authors' earlier CROMA script (the one SPEC 1.4
  describes as "raw statistics, no shift, for CROMA"), and of the two consistent pairings it is
  the one whose statistics were computed on these very files. The other one, "+1000 then v1.1",
  differs by a per-band affine map, mostly in scale (B02: ``(x - 917) / 1604`` against
  ``(x - 925) / 1201``). CROMA itself was pretrained on per-batch, per-channel (mean +- 2 std)
  min-max scaling to [0, 1] (antofuller/CROMA README, ``normalize``), which neither pipeline
  reproduces.

Attention: the library's attention materialises the full ``(B, H, N, N)`` score tensor; at
264 px (1,089 tokens) CROMA-L dominates the study's cost. Every ``Attention`` /
``CrossAttention`` module is switched to :class:`SDPAAttention` / :class:`SDPACrossAttention`,
which compute the same function through PyTorch's fused ``F.scaled_dot_product_attention`` with
the ALiBi bias as an additive float mask. Parameters and state-dict keys are unchanged (the
modules keep their class hierarchy; only ``forward`` differs). ``attention="library"`` keeps the
original implementation (tests compare both; benchmarks time both).

Checkpoint: ``CROMA_large.pt`` is a dict of five sub-state-dicts (``s1_encoder``,
``s1_GAP_FFN``, ``s2_encoder``, ``s2_GAP_FFN``, ``joint_encoder``); each loads strictly into its
sub-module, and nothing loads unless all five match.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from e2s_utils import bands as B
from e2s_utils.models.common import (
    CheckpointError,
    FoundationExtractor,
    batch_to_seasons,
    match_state_dict,
    seasons_to_batch,
    unwrap,
)
from e2s_utils.models.registry import (
    ArchConfig,
    BandGroup,
    CheckpointInfo,
    InputRecipe,
    ModelSpec,
    StatsName,
    register,
)

AttentionImpl = Literal["sdpa", "library"]

#: The five entries of the official checkpoint, each the state dict of one sub-module.
SUBMODULES: tuple[str, ...] = (
    "s1_encoder",
    "s1_GAP_FFN",
    "s2_encoder",
    "s2_GAP_FFN",
    "joint_encoder",
)

ARCH: dict[str, ArchConfig] = {
    "full": ArchConfig(
        1024, 24, 16, 8, 264, "CROMA-L (torchgeo croma_large) at 264 px", params=672_557_056
    ),
    "tiny": ArchConfig(
        192, 4, 16, 8, 120, "4-block 192-d CROMA at its pretraining size, 120 px", params=4_616_448
    ),
    "micro": ArchConfig(
        64, 2, 16, 8, 64, "2-block 64-d CROMA at 64 px for smoke tests", params=340_032
    ),
}


def _recipe(stats: StatsName, notes: str) -> InputRecipe:
    return InputRecipe(
        groups=(
            BandGroup("s2l2a", B.BANDS["s2l2a"], 0.0, stats),
            BandGroup("s1", B.BANDS["s1"], 0.0, stats),
        ),
        passes="paired",
        input_size=264,
        resize="none",
        seasons="separately",
        pooling="joint_GAP: mean of the cross-modal encoder tokens",
        network="CROMA-L, official weights; fused SDPA attention",
        notes="optical = 12 L2A bands, SAR = VV, VH; " + notes,
    )


RECIPES = {
    "as_published_code": _recipe(
        "v1.1", "no +1000 shift but the v1.1 statistics (L2A and S1), as the final pipeline ran"
    ),
    "as_intended": _recipe("downstream", "no +1000 shift, raw downstream statistics (consistent)"),
}


def _heads(t: Tensor, num_heads: int) -> Tensor:
    b, n, _ = t.shape
    return t.view(b, n, num_heads, -1).transpose(1, 2)


def _merge(t: Tensor) -> Tensor:
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


def _lazy_croma() -> Any:
    from torchgeo.models import croma

    return croma


def sdpa_attention_forward(self: nn.Module, x: Tensor, relative_position_bias: Tensor) -> Tensor:
    """CROMA self-attention through ``F.scaled_dot_product_attention`` (ALiBi as additive mask)."""
    x = self.input_norm(x)
    q, k, v = (_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, dim=-1))
    bias = relative_position_bias.to(q.dtype)
    p = self.dropout.p if self.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p, scale=self.scale)
    return self.to_out(_merge(out))


def sdpa_cross_attention_forward(
    self: nn.Module, x: Tensor, context: Tensor, relative_position_bias: Tensor
) -> Tensor:
    """CROMA cross-attention through ``F.scaled_dot_product_attention``."""
    x = self.input_norm(x)
    context = self.input_norm(context)
    q = _heads(self.to_q(x), self.num_heads)
    k = _heads(self.to_k(context), self.num_heads)
    v = _heads(self.to_v(context), self.num_heads)
    bias = relative_position_bias.to(q.dtype)
    p = self.dropout.p if self.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p, scale=self.scale)
    return self.to_out(_merge(out))


_SDPA_CLASSES: dict[type, type] = {}


def _sdpa_class(base: type, forward: Any) -> type:
    if base not in _SDPA_CLASSES:
        name = "SDPA" + base.__name__
        _SDPA_CLASSES[base] = type(name, (base,), {"forward": forward, "__module__": __name__})
    return _SDPA_CLASSES[base]


def use_sdpa_attention(model: nn.Module) -> int:
    """Switch every CROMA (cross-)attention module of ``model`` to the fused SDPA forward.

    The modules keep their parameters (their class becomes a subclass overriding ``forward``
    only), so state dicts and checkpoints are unaffected.

    Returns:
        The number of modules switched.
    """
    croma = _lazy_croma()
    targets = {
        croma.Attention: _sdpa_class(croma.Attention, sdpa_attention_forward),
        croma.CrossAttention: _sdpa_class(croma.CrossAttention, sdpa_cross_attention_forward),
    }
    n = 0
    for module in model.modules():
        new_cls = targets.get(type(module))
        if new_cls is not None:
            module.__class__ = new_cls
            n += 1
    return n


def use_library_attention(model: nn.Module) -> int:
    """Undo :func:`use_sdpa_attention` (back to torchgeo's einsum attention)."""
    n = 0
    for module in model.modules():
        for base, sdpa_cls in _SDPA_CLASSES.items():
            if type(module) is sdpa_cls:
                module.__class__ = base
                n += 1
    return n


def alibi_2d(num_heads: int, num_patches: int) -> Tensor:
    """CROMA's 2-D ALiBi bias ``(1, H, N, N)``, vectorised.

    Same values as torchgeo's ``get_2dalibi`` (minus the Euclidean patch distance times a
    per-head slope), which loops over all N^2 patch pairs in Python: about a minute for the
    1,089 patches of a 264 px input, against milliseconds here.
    """
    side = int(math.isqrt(num_patches))
    if side * side != num_patches:
        raise ValueError(f"num_patches {num_patches} is not a square")
    start = 2 ** (-(2 ** -(math.log2(num_heads) - 3)))
    slopes = torch.tensor([start * start**i for i in range(num_heads)], dtype=torch.float32)
    grid = torch.arange(side, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid)  # row-major, as itertools.product
    dist = torch.cdist(points, points).to(torch.float32)  # (N, N)
    return (dist.unsqueeze(0) * slopes.view(-1, 1, 1) * -1).unsqueeze(0)


def build_croma_network(size: str) -> nn.Module:
    """The torchgeo CROMA network (SAR + optical) of one size, random init, library attention.

    The network is constructed at 8 px and then given the ALiBi bias of its real input size
    (computed by :func:`alibi_2d`), which is the only thing CROMA derives from ``image_size``.
    """
    croma = _lazy_croma()
    arch = ARCH[size]
    kwargs: dict[str, Any] = {"modalities": ["sar", "optical"], "image_size": 8}
    if size == "full":
        net = croma.croma_large(weights=None, **kwargs)
    else:
        net = croma.CROMA(
            encoder_dim=arch.embed_dim,
            encoder_depth=arch.depth,
            num_heads=arch.num_heads,
            patch_size=arch.patch_size,
            **kwargs,
        )
    net.image_size = arch.input_size
    net.num_patches = (arch.input_size // arch.patch_size) ** 2
    net.attn_bias = alibi_2d(net.num_heads, net.num_patches)
    return net


class CROMAExtractor(FoundationExtractor):
    """CROMA extractor: optical + SAR per season into the joint encoder, ``joint_GAP`` out."""

    def __init__(
        self, spec: ModelSpec, preset: str, size: str, attention: AttentionImpl = "sdpa"
    ) -> None:
        super().__init__(spec, preset, size)
        self.input_size = ARCH[size].input_size
        self.net = build_croma_network(size)
        self.attention: AttentionImpl = "library"
        self.set_attention(attention)
        recipe = self.recipe
        if recipe is None:
            raise KeyError(f"{self.spec.name} has no recipe for preset {self.preset!r}")
        self._roles = ["sar" if g.modality == "s1" else "optical" for g in recipe.groups]

    def set_attention(self, attention: AttentionImpl) -> None:
        """Use the fused SDPA attention (``sdpa``, default) or torchgeo's own (``library``)."""
        if attention == "sdpa":
            use_sdpa_attention(self.net)
        elif attention == "library":
            use_library_attention(self.net)
        else:
            raise ValueError(f"attention must be 'sdpa' or 'library', not {attention!r}")
        self.attention = attention

    def encode(self, inputs: list[Tensor]) -> Tensor:
        batch = inputs[0].shape[0]
        by_role = {r: seasons_to_batch(x) for r, x in zip(self._roles, inputs, strict=True)}
        out = self.net(x_sar=by_role["sar"], x_optical=by_role["optical"])
        return batch_to_seasons(out["joint_GAP"], batch)

    def _load_state(self, ckpt: dict[str, Any], source: str) -> None:
        state = unwrap(ckpt)
        missing = [k for k in SUBMODULES if k not in state]
        unexpected = sorted(k for k in state if k not in SUBMODULES)
        if missing or unexpected:
            raise CheckpointError(
                f"{source} is not a CROMA checkpoint of five sub-state-dicts: missing entries "
                f"{missing}, unexpected entries {unexpected}; expected {list(SUBMODULES)}"
            )
        matched = {
            name: match_state_dict(
                getattr(self.net, name), state[name], source=f"{source} entry {name!r}"
            )
            for name in SUBMODULES
        }
        for name, sub_state in matched.items():
            getattr(self.net, name).load_state_dict(sub_state, strict=True)


def _build(
    *, preset: str, size: str, seed: int = 0, attention: AttentionImpl = "sdpa"
) -> CROMAExtractor:
    return CROMAExtractor(SPEC, preset, size, attention=attention)


SPEC = register(
    ModelSpec(
        name="croma",
        display_name="CROMA",
        kind="foundation",
        recipes=RECIPES,
        output_shapes={(p, s): (a.embed_dim, 4) for p in RECIPES for s, a in ARCH.items()},
        loss_weight=0.5,
        checkpoint=CheckpointInfo(
            filename="CROMA_large.pt",
            url="https://huggingface.co/antofuller/CROMA/resolve/main/CROMA_large.pt",
            source="CROMA authors (https://github.com/antofuller/CROMA)",
            layout="dict of 5 sub-state-dicts: " + ", ".join(SUBMODULES),
            size_mb=2700,
        ),
        default_batch_size=4,
        builder=_build,
        architectures={(p, s): a for p in RECIPES for s, a in ARCH.items()},
        description="CROMA: contrastive radar-optical masked autoencoders; SAR and optical ViTs "
        "with 2-D ALiBi position biases and a cross-modal joint encoder.",
    )
)
