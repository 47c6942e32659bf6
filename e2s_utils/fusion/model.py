"""The compressor network, its optimiser and its loss.

:class:`FusionCompressor` is generic over the fused models and their ``(C, T)`` shapes: the
encoder ``LayerNorm(in) -> Dropout -> Linear(in, hidden) -> GELU -> Dropout -> Linear(hidden,
out)`` gives the embedding (no final activation), a one-layer stand-in decoder reconstructs the
flat input, split back per model for the weighted loss ``sum_m w_m * MSE_m`` against the raw
embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from e2s_utils.fusion.config import FusionConfig, FusionError
from e2s_utils.store.loader import InputError, canonical_order


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
        try:
            order = canonical_order(shapes)
        except InputError as err:
            raise FusionError(str(err)) from None
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
    if tuple(sorted(shapes)) != tuple(sorted(config.models)):
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
