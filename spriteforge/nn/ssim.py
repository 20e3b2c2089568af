"""Structural similarity (SSIM, Wang et al. 2004) as a differentiable tensor kernel.

Shared by a model's loss (the Pixel VQ-VAE's SSIM term) and the reconstruction metric (metrics/recon.py), so it
lives here, below both: one window, one set of constants, one background for transparent pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from spriteforge.io import GRID_BACKGROUND

# SSIM constants for data range 1 (Wang et al. 2004): C1 = (K1 L)^2, C2 = (K2 L)^2 with K1 = 0.01, K2 = 0.03.
C1 = 0.01**2
C2 = 0.03**2
SSIM_SIGMA = 1.5
# The standard 11x11 window does not fit an 8x8 sprite. 7x7 (scikit-image's default size) still leaves 2x2 valid
# positions on 8 px sprites and stays local on 64 px ones; sprites under 7 px use their whole smaller side.
SSIM_MAX_WINDOW = 7
# Transparent pixels are composited on the grid background (mid grey #606060, spriteforge.io), the colour users
# see sprites on: a fixed choice, so that a transparent pixel and a black one are told apart.
SSIM_BACKGROUND = np.array(GRID_BACKGROUND[:3], dtype=np.float64) / 255.0


def differentiable_ssim(x: torch.Tensor, y: torch.Tensor, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """(B,) SSIM of (B,4,H,W) RGBA tensor pairs in [0,1], composited on SSIM_BACKGROUND like metrics.recon.ssim, in the
    tensors' dtype and device and differentiable: the SSIM loss of the Pixel VQ-VAE."""
    background = torch.tensor(SSIM_BACKGROUND, dtype=x.dtype, device=x.device)[None, :, None, None]
    x_rgb, y_rgb = (v[:, :3] * v[:, 3:] + background * (1 - v[:, 3:]) for v in (x, y))
    return ssim_tensors(x_rgb, y_rgb, sigma)


def ssim_tensors(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B,) SSIM of (B,C,H,W) tensors with a Gaussian window of min(SSIM_MAX_WINDOW, smaller side)."""
    size = min(SSIM_MAX_WINDOW, x.shape[2], x.shape[3])
    return _ssim_batch(x, y, gaussian_window(size, sigma).to(x))


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """(size,) float64 Gaussian weights centred on the window, summing to 1 (one factor of the 2-D window)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    weights = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def _ssim_batch(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(B,) SSIM of (B,C,H,W) float64 pairs with a separable (size,) Gaussian window."""
    channels, height, width = x.shape[1:]
    # The five local moments E[x], E[y], E[x^2], E[y^2], E[xy], filtered at once: (B,5C,H,W).
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    # Separable 'valid' filtering as two matrix products with banded matrices: exact, and ~50x faster on CPU
    # than a float64 depthwise conv2d.
    moments = _band(height, window) @ stack @ _band(width, window).T  # (B,5C,H-s+1,W-s+1)
    mu_x, mu_y, xx, yy, xy = moments.split(channels, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1)
    contrast_structure = (2 * cov + C2) / (var_x + var_y + C2)
    return (luminance * contrast_structure).mean(dim=(2, 3)).mean(dim=1)


def _band(length: int, window: torch.Tensor) -> torch.Tensor:
    """(length-s+1, length) matrix whose row i holds the (s,) window at columns i..i+s-1: 'valid' correlation."""
    size = len(window)
    rows, columns = torch.arange(length - size + 1, device=window.device), torch.arange(length, device=window.device)
    offsets = columns[None, :] - rows[:, None]  # column - row
    inside = (offsets >= 0) & (offsets < size)
    return torch.where(inside, window[offsets.clamp(0, size - 1)], torch.zeros((), dtype=window.dtype))
