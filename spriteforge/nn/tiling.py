"""Seamless tiles: convolutions whose zero padding wraps around the edges while `wrap_around()` is active.

Inside `with wrap_around():` every `Conv2d` of this module pads circularly: the pixel left of column 0 is column
W-1, the one above row 0 is row H-1. A network made only of such convolutions, nearest-neighbour resampling,
GroupNorm (statistics over the whole map) and self-attention without position embeddings (every position sees every
other) then computes a function on the torus, so what it draws continues across the right edge into the left and
across the bottom into the top: 3x3 copies of the result show no seam. The U-Net of the diffusion models is built
that way; the weights are the same in both modes, only the padding differs.

The switch is a context variable, not a change to the modules, so a server sampling one model from several threads
at once gives each request the padding it asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_WRAPPING = contextvars.ContextVar("spriteforge_wrap_around", default=False)


@contextlib.contextmanager
def wrap_around(enabled: bool = True) -> Iterator[None]:
    """Within the block (in this thread or task only), `Conv2d` pads circularly when `enabled`."""
    token = _WRAPPING.set(enabled)
    try:
        yield
    finally:
        _WRAPPING.reset(token)


def is_wrapping() -> bool:
    """True inside an enabled `wrap_around()` block."""
    return _WRAPPING.get()


class Conv2d(nn.Conv2d):
    """torch's Conv2d (same parameters, same state dict) whose zero padding becomes circular inside `wrap_around()`."""

    def forward(self, x: Tensor) -> Tensor:
        if not (_WRAPPING.get() and self.padding_mode == "zeros" and any(self.padding)):
            return super().forward(x)
        # (left, right, top, bottom) as F.pad takes it, computed by nn.Conv2d from `padding` ("same" included).
        left, right, top, bottom = self._reversed_padding_repeated_twice
        padded = wrap_pad(wrap_pad(x, left, right, dim=-1), top, bottom, dim=-2)
        return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def wrap_pad(x: Tensor, before: int, after: int, *, dim: int) -> Tensor:
    """Circular padding of one axis by concatenation: the same values as F.pad(mode="circular"), at about the cost
    of zero padding (F.pad's circular mode took 1.5-2.6x a zero-padded 3x3 convolution's time, forward and backward,
    on this project's CPU; concatenation 1.0-1.5x)."""
    if not (before or after):
        return x
    size = x.shape[dim]
    return torch.cat([x.narrow(dim, size - before, before), x, x.narrow(dim, 0, after)], dim=dim)
