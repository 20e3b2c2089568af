"""Augmentation on palette indices, batched on the device: every result is still palette-exact.

All functions take (B,H,W) integer tensors and a torch.Generator on the same device, so an epoch's
augmentation is reproducible from its seed and costs no per-item Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """flip: random horizontal flips; shift: random shifts of up to this many pixels (transparent fill);
    palette_permute: shuffle the opaque colours of each sprite (shape learning independent of colour)."""

    flip: bool = False
    shift: int = 0
    palette_permute: bool = False

    @property
    def active(self) -> bool:
        return self.flip or self.shift > 0 or self.palette_permute


def augment(indices: torch.Tensor, config: AugmentConfig, num_colors: int, generator: torch.Generator) -> torch.Tensor:
    """Apply the configured augmentations to a (B,H,W) batch."""
    if config.flip:
        indices = random_hflip(indices, generator)
    if config.shift > 0:
        indices = random_shift(indices, config.shift, generator)
    if config.palette_permute:
        indices = random_palette_permutation(indices, num_colors, generator)
    return indices


def random_hflip(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(indices.shape[0], device=indices.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None], indices.flip(-1), indices)


def random_shift(indices: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each sprite by (dy,dx) in [-max_shift, max_shift]; pixels moved in are transparent (index 0)."""
    batch, height, width = indices.shape
    pad = max_shift
    # Pad with 0 (= transparent), then gather a window at a random offset per sprite.
    padded = F.pad(indices, (pad, pad, pad, pad), value=0)  # (B,H+2p,W+2p)
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), device=indices.device, generator=generator)
    rows = offsets[:, 0, None] + torch.arange(height, device=indices.device)  # (B,H)
    cols = offsets[:, 1, None] + torch.arange(width, device=indices.device)  # (B,W)
    batch_index = torch.arange(batch, device=indices.device)[:, None, None]
    return padded[batch_index, rows[:, :, None], cols[:, None, :]]


def random_palette_permutation(indices: torch.Tensor, num_colors: int, generator: torch.Generator) -> torch.Tensor:
    """Map colours 1..K-1 of each sprite through its own random permutation; 0 stays transparent."""
    batch = indices.shape[0]
    scores = torch.rand(batch, num_colors - 1, device=indices.device, generator=generator)
    tables = torch.cat(
        [torch.zeros(batch, 1, dtype=torch.long, device=indices.device), scores.argsort(dim=1) + 1], dim=1
    )  # (B,K): tables[b, k] is the new index of colour k
    return torch.gather(tables, 1, indices.long().flatten(1)).view_as(indices).to(indices.dtype)
