"""Autoregressive networks over a grid of discrete tokens (VQ-VAE codes), in raster order.

Both map codes (B,h,w) long and a condition vector (B,width) to logits (B,K,h,w) where the logits at (i,j) depend
only on the codes before (i,j) in raster order (and on the condition):
  CausalTransformer  a GPT-style decoder: a start token (carrying the condition) + shifted codes, causal attention;
  GatedPixelCNN      van den Oord et al. 2016: gated masked convolutions, a vertical stack (rows above) feeding a
                     horizontal stack (pixels to the left), with the condition as a bias in every gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalTransformer(nn.Module):
    """Pre-norm causal transformer over the h*w codes, with learned positions."""

    def __init__(
        self, num_codes: int, shape: tuple[int, int], width: int, layers: int, heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.shape = shape
        length = shape[0] * shape[1]
        self.tokens = nn.Embedding(num_codes, width)
        self.start = nn.Parameter(torch.zeros(width))  # the first input; the condition is added to it
        self.positions = nn.Parameter(torch.randn(length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_codes)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def forward(self, codes: Tensor, condition: Tensor) -> Tensor:
        batch = codes.shape[0]
        tokens = self.tokens(codes.flatten(1))  # (B,T,W)
        start = (self.start + condition)[:, None]  # (B,1,W)
        x = torch.cat([start, tokens[:, :-1]], dim=1) + self.positions  # input t holds code t-1: (B,T,W)
        x = self.head(self.norm(self.blocks(x, mask=self.mask, is_causal=True)))  # (B,T,K)
        return x.transpose(1, 2).reshape(batch, -1, *self.shape)  # (B,K,h,w)


class _MaskedConv(nn.Conv2d):
    """A convolution whose last kernel row (vertical) or column (horizontal) is zeroed when `exclusive`: the first
    layer must not see the current position."""

    mask: Tensor  # same shape as weight; a buffer, declared because register_buffer leaves it typed `Tensor | Module`

    def __init__(
        self, c_in: int, c_out: int, kernel: tuple[int, int], padding: tuple[int, int], exclusive: bool, axis: int
    ) -> None:
        super().__init__(c_in, c_out, kernel, padding=padding)
        mask = torch.ones_like(self.weight)
        if exclusive:
            mask.select(axis, -1).zero_()
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class GatedLayer(nn.Module):
    """One gated PixelCNN layer: (vertical, horizontal) (B,W,h,w) each -> the same, causal in raster order."""

    def __init__(self, width: int, kernel: int, first: bool) -> None:
        super().__init__()
        half = kernel // 2
        self.first = first
        # Vertical: rows i-half..i of the stack (row i of the stack only knows rows above, and the first layer masks it).
        self.vertical = _MaskedConv(width, 2 * width, (half + 1, kernel), (half, half), exclusive=first, axis=2)
        # Horizontal: columns j-half..j of row i (the first layer excludes j itself).
        self.horizontal = _MaskedConv(width, 2 * width, (1, half + 1), (0, half), exclusive=first, axis=3)
        self.vertical_to_horizontal = nn.Conv2d(2 * width, 2 * width, 1)
        self.out = nn.Conv2d(width, width, 1)

    def forward(self, vertical: Tensor, horizontal: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        height, width = vertical.shape[2:]
        bias = condition[:, :, None, None]  # (B,2W,1,1)
        v = self.vertical(vertical)[:, :, :height]  # crop the bottom padding: (B,2W,h,w)
        h = self.horizontal(horizontal)[:, :, :, :width]  # crop the right padding
        new_vertical = _gate(v + bias)
        gated = self.out(_gate(h + self.vertical_to_horizontal(v) + bias))
        # No residual in the first layer: it would pass the current code straight to its own prediction.
        return new_vertical, gated if self.first else gated + horizontal


def _gate(x: Tensor) -> Tensor:
    value, gate = x.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate)


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN over the code grid: embedding, `layers` gated layers, a 1x1 head to K logits."""

    def __init__(self, num_codes: int, width: int, layers: int, kernel: int = 5) -> None:
        super().__init__()
        self.tokens = nn.Embedding(num_codes, width)
        self.layers = nn.ModuleList(GatedLayer(width, kernel, first=i == 0) for i in range(layers))
        self.condition = nn.Linear(width, 2 * width * layers)  # one gate bias per layer
        self.head = nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU(), nn.Conv2d(width, num_codes, 1))

    def forward(self, codes: Tensor, condition: Tensor) -> Tensor:
        x = self.tokens(codes).permute(0, 3, 1, 2)  # (B,W,h,w)
        vertical, horizontal = x, x
        biases = self.condition(condition).chunk(len(self.layers), dim=1)  # each (B,2W)
        for layer, bias in zip(self.layers, biases):
            vertical, horizontal = layer(vertical, horizontal, bias)
        return self.head(horizontal)  # (B,K,h,w)
