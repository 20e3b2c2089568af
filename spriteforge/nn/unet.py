"""A U-Net for small images (8x8 to 64x64), as in DDPM / improved-diffusion, sized by its arguments.

    x (B,C_in,H,W) --conv--> levels: [ResBlock x n (+ self-attention at the lowest levels)] then a stride-2 conv
    --> middle: ResBlock, attention, ResBlock --> levels back up, each ResBlock taking the matching skip (concat)
    --> GroupNorm, SiLU, conv (zero-initialised) --> (B,C_out,H,W)
Every ResBlock adds an embedding of the step t (sinusoidal, then an MLP) and of the label. The network knows
nothing of the noise process: t is just a number it is conditioned on. It has no position embedding, so inside
`nn.tiling.wrap_around()` (circular padding) it draws tiles that repeat without a seam.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spriteforge.data.labels import LabelSpec
from spriteforge.nn.blocks import group_norm
from spriteforge.nn.labels import LabelEmbedding
from spriteforge.nn.tiling import Conv2d


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(B,) float steps -> (B,dim) sinusoids at geometric frequencies (Transformer / DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]  # (B,half)
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the (time + label) embedding added in between, and a residual path."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = group_norm(in_channels), Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Linear(embed_dim, out_channels)
        self.norm2, self.conv2 = group_norm(out_channels), Conv2d(out_channels, out_channels, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the h*w positions of a feature map, residual."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = Conv2d(channels, 3 * channels, 1)
        self.out = Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B,heads,hw,c/heads)
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """(B,in,H,W), t (B,), labels -> (B,out,H,W). `channels` has one width per resolution level (the size halves
    between levels), `attention_levels` is how many of the lowest-resolution levels get self-attention."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: list[int],
        blocks_per_level: int = 2,
        attention_levels: int = 1,
        heads: int = 4,
        dropout: float = 0.0,
        labels: LabelSpec | None = None,
    ) -> None:
        super().__init__()
        base = channels[0]
        embed_dim = 4 * base
        self.time_dim = base
        self.time_mlp = nn.Sequential(nn.Linear(base, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.label_embed = LabelEmbedding(labels, embed_dim, null_label=True) if labels is not None else None
        attends = [level >= len(channels) - attention_levels for level in range(len(channels))]
        heads_for = {c: max(1, min(heads, c // 8)) for c in channels}  # at least 8 channels per head

        self.conv_in = Conv2d(in_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        skips, width = [base], base
        for level, c in enumerate(channels):
            for _ in range(blocks_per_level):
                self.down.append(self._block(width, c, embed_dim, dropout, attends[level], heads_for[c]))
                width = c
                skips.append(width)
            if level < len(channels) - 1:
                self.down.append(Conv2d(width, width, 3, stride=2, padding=1))  # halves H and W
                skips.append(width)
        self.middle = nn.ModuleList(
            [
                ResBlock(width, width, embed_dim, dropout),
                SelfAttention(width, heads_for[width]),
                ResBlock(width, width, embed_dim, dropout),
            ]
        )
        self.up = nn.ModuleList()
        for level, c in reversed(list(enumerate(channels))):
            for _ in range(blocks_per_level + 1):
                self.up.append(self._block(width + skips.pop(), c, embed_dim, dropout, attends[level], heads_for[c]))
                width = c
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), Conv2d(width, width, 3, padding=1))
                )
        norm = group_norm(width)
        out = Conv2d(width, out_channels, 3, padding=1)
        for parameter in out.parameters():  # weight and bias: starts as the zero function, a stable first step
            nn.init.zeros_(parameter)
        self.head = nn.Sequential(norm, nn.SiLU(), out)

    @staticmethod
    def _block(c_in: int, c_out: int, embed_dim: int, dropout: float, attend: bool, heads: int) -> nn.ModuleList:
        layers = [ResBlock(c_in, c_out, embed_dim, dropout)]
        return nn.ModuleList(layers + [SelfAttention(c_out, heads)] if attend else layers)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None, drop: Tensor | None = None) -> Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.time_dim))  # (B,E)
        if self.label_embed is not None:
            drop = drop if drop is not None else torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            emb = emb + self.label_embed(labels, drop)
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = self._run_layer(layer, h, emb)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, emb)
        for layer in self.up:
            h = self._run_layer(
                layer, torch.cat([h, skips.pop()], dim=1) if isinstance(layer, nn.ModuleList) else h, emb
            )
        return self.head(h)

    @staticmethod
    def _run_layer(layer: nn.Module, h: Tensor, emb: Tensor) -> Tensor:
        if isinstance(layer, nn.ModuleList):  # a ResBlock, optionally followed by attention
            for sub in layer:
                h = sub(h, emb)
            return h
        return layer(h)  # down- or upsampling
