"""Absorbing-state (masked) diffusion schedule, as in MaskGIT (Chang et al. 2022): maths only.

A share gamma(r) = cos(r pi/2) of the pixels is masked at "time" r in [0,1]: r = 0 everything is masked, r = 1
nothing. Training draws r uniformly; sampling unmasks in S parallel steps, leaving floor(M gamma((s+1)/S)) of
M initially masked pixels masked after step s.
"""

from __future__ import annotations

import math

import torch


def masking_ratio(progress: torch.Tensor) -> torch.Tensor:
    """gamma(r) = cos(r pi/2): the share of pixels still masked at progress r in [0,1]."""
    return torch.cos(progress * math.pi / 2)


def masked_after(step: int, steps: int, masked: int, still_masked: int) -> int:
    """How many of `masked` initially masked pixels stay masked after reverse step `step` (0-based) of `steps`,
    when `still_masked` are masked before it: the cosine schedule, at least one unmasked per step, 0 at the end."""
    target = math.floor(masked * math.cos((step + 1) / steps * math.pi / 2) + 1e-9)
    return max(0, min(still_masked - 1, target)) if step + 1 < steps else 0
