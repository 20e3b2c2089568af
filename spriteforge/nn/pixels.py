"""Moving between palette indices and network tensors, and back to exact palette colours.

A model works on one of two representations (DESIGN.md): `index` (one-hot in, logits over K colours out:
palette-exact by construction) or `rgba` (colours in [0,1] in and out, snapped to the nearest palette colour at
the very end). This module holds the palette as a buffer so it moves with the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INDEX = "index"
RGBA = "rgba"
REPRESENTATIONS = (INDEX, RGBA)


class PaletteCodec(nn.Module):
    """Encodes (B,H,W) indices for a network and decodes its outputs to indices, with the palette (K,4)."""

    colors: torch.Tensor  # (K,4) buffer, declared because register_buffer leaves it typed `Tensor | Module`

    def __init__(self, palette_rgba: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("colors", palette_rgba.float() / 255.0)  # (K,4) in [0,1]

    @property
    def num_colors(self) -> int:
        return int(self.colors.shape[0])

    def one_hot(self, indices: torch.Tensor) -> torch.Tensor:
        """(B,H,W) -> (B,K,H,W) float."""
        return F.one_hot(indices.long(), self.num_colors).permute(0, 3, 1, 2).float()

    def to_rgba(self, indices: torch.Tensor) -> torch.Tensor:
        """(B,H,W) -> (B,4,H,W) in [0,1]."""
        return self.colors[indices.long()].permute(0, 3, 1, 2)

    def encode(self, indices: torch.Tensor, representation: str) -> torch.Tensor:
        """The network input for a representation: one-hot (B,K,H,W) or rgba (B,4,H,W)."""
        return self.one_hot(indices) if representation == INDEX else self.to_rgba(indices)

    def snap(self, rgba: torch.Tensor) -> torch.Tensor:
        """(B,4,H,W) colours -> (B,H,W) index of the nearest palette colour (Euclidean in RGBA)."""
        pixels = rgba.permute(0, 2, 3, 1).float()  # (B,H,W,4)
        distances = torch.cdist(pixels.reshape(1, -1, 4), self.colors[None].to(pixels.dtype))[0]  # (BHW,K)
        return distances.argmin(dim=1).view(pixels.shape[:3])

    def to_indices(
        self,
        output: torch.Tensor,
        representation: str,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Any model output as (B,H,W) indices: indices pass through, index-mode logits (B,K,H,W) are argmax'd
        (temperature 0) or sampled at that temperature, rgba (B,4,H,W) is snapped to the palette."""
        if output.dim() == 3:
            return output.long()
        if representation == INDEX:
            return draw_categorical(output, temperature, generator=generator, dim=1)
        return self.snap(output)

    def adherence(self, output: torch.Tensor, representation: str) -> torch.Tensor:
        """Share of output pixels that are exactly palette colours before any snapping (1.0 for index outputs)."""
        return self.adherence_per_sprite(output, representation).mean()

    def adherence_per_sprite(self, output: torch.Tensor, representation: str) -> torch.Tensor:
        """(B,) share of each sprite's pixels that are exactly palette colours before snapping.

        rgba outputs are rounded to 8 bits first, as they would be when written to a PNG."""
        if output.dim() == 3 or representation == INDEX:
            return torch.ones(output.shape[0], device=output.device)
        pixels = (
            (output.float().clamp(0, 1) * 255).round().permute(0, 2, 3, 1)
        )  # (B,H,W,4), float32: bf16 cannot hold 8-bit steps
        palette = (self.colors * 255).round()  # (K,4)
        exact = (pixels[..., None, :] == palette).all(dim=-1).any(dim=-1)  # (B,H,W)
        return exact.float().flatten(1).mean(1)


def draw_categorical(
    logits: torch.Tensor,
    temperature: float,
    *,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    dim: int = -1,
) -> torch.Tensor:
    """Indices drawn from logits over K classes along `dim`, which disappears, e.g. (B,K,H,W) -> (B,H,W) with dim=1.

    Temperature 0: the most likely class. Otherwise a draw from softmax(logits / T), among the `top_k` likeliest
    classes only when top_k is given."""
    if temperature <= 0:
        return logits.argmax(dim)
    logits = logits.float().movedim(dim, -1)  # (...,K)
    if top_k is not None and top_k < logits.shape[-1]:
        threshold = logits.topk(top_k, dim=-1).values[..., -1:]  # (...,1) the k-th largest logit
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    # Shifted so that the largest logit is 0: a tiny temperature gives the argmax's one-hot instead of inf/inf = NaN.
    probs = F.softmax((logits - logits.amax(-1, keepdim=True)) / temperature, dim=-1)
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)  # (N,1)
    return flat.view(probs.shape[:-1])
