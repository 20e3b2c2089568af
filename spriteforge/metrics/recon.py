"""Reconstruction metrics for autoencoders: how much of a sprite survives encoding and decoding.

The original and the rebuilt sprites share one palette and one size. Every figure is computed per sprite and
then averaged, with a bootstrap interval over sprites.
"""

from __future__ import annotations

import numpy as np
import torch

from spriteforge.data.sprites import SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.io import GRID_BACKGROUND
from spriteforge.metrics.palette import Sprites, paired_indices
from spriteforge.metrics.stats import DEFAULT_BOOTSTRAP, Estimate, mean_estimate

Images = SpriteSet | np.ndarray | torch.Tensor

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
_SSIM_BATCH = 256  # sprites per filtering: bounds memory to ~(256, 15, 64, 64) float64 = 126 MB


def pixel_accuracy(original: Sprites, rebuilt: Sprites, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Estimate:
    """Share of pixels whose palette index is rebuilt exactly, per sprite (background included)."""
    matches, _ = _index_matches(original, rebuilt)
    return mean_estimate(matches.mean(axis=(1, 2)), resamples, seed)


def opaque_pixel_accuracy(
    original: Sprites, rebuilt: Sprites, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> Estimate:
    """Share of the pixels opaque in the original whose index is rebuilt exactly, per sprite.

    Sprites are mostly background, which a model gets right for free; this is the honest accuracy.
    Fully transparent originals have no opaque pixel and are left out (n says how many sprites count).
    """
    matches, first = _index_matches(original, rebuilt)
    opaque = first > 0  # (N,H,W)
    counts = opaque.sum(axis=(1, 2))
    visible = counts > 0
    return mean_estimate((matches & opaque).sum(axis=(1, 2))[visible] / counts[visible], resamples, seed)


def mse(original: Images, rebuilt: Images, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Estimate:
    """Mean squared error over RGBA channels in [0,1], per sprite."""
    first, second = _paired_rgba(original, rebuilt)
    return mean_estimate(((first - second) ** 2).mean(axis=(1, 2, 3)), resamples, seed)


def ssim(a: Images, b: Images, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Estimate:
    """Mean structural similarity (SSIM) of sprite pairs, on RGB composited on SSIM_BACKGROUND."""
    first, second = _paired_rgba(a, b)
    return mean_estimate(structural_similarity(_composite(first), _composite(second)), resamples, seed)


def structural_similarity(x: np.ndarray, y: np.ndarray, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """(N,) SSIM of image pairs (N,C,H,W) in [0,1], in float64.

    Gaussian-weighted local statistics (window min(7, smaller side), `sigma`), 'valid' positions only (no
    padding), weighted population (co)variances; the SSIM map is averaged per channel, then over channels.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise SpriteforgeError(f"SSIM needs two image stacks of one shape (N,C,H,W), got {x.shape} and {y.shape}.")
    first, second = (torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)) for v in (x, y))
    batches = [slice(i, i + _SSIM_BATCH) for i in range(0, len(x), _SSIM_BATCH)]
    values = [_ssim_tensors(first[part], second[part], sigma) for part in batches]
    return torch.cat(values).numpy() if values else np.zeros(0)


def differentiable_ssim(x: torch.Tensor, y: torch.Tensor, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """(B,) SSIM of (B,4,H,W) RGBA tensor pairs in [0,1], composited on SSIM_BACKGROUND like `ssim`, in the
    tensors' dtype and device and differentiable: the SSIM loss of the Pixel VQ-VAE."""
    background = torch.tensor(SSIM_BACKGROUND, dtype=x.dtype, device=x.device)[None, :, None, None]
    x_rgb, y_rgb = (v[:, :3] * v[:, 3:] + background * (1 - v[:, 3:]) for v in (x, y))
    return _ssim_tensors(x_rgb, y_rgb, sigma)


def _ssim_tensors(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B,) SSIM of (B,C,H,W) tensors with the window of `structural_similarity`."""
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


def _index_matches(original: Sprites, rebuilt: Sprites) -> tuple[np.ndarray, np.ndarray]:
    """((N,H,W) bool where the indices agree, the original (N,H,W) indices), after checking the shapes."""
    first, second = paired_indices(original, rebuilt)
    if first.shape != second.shape:
        raise SpriteforgeError(f"cannot compare sprites of shape {first.shape} with rebuilt ones of {second.shape}.")
    return first == second, first


def _paired_rgba(a: Images, b: Images) -> tuple[np.ndarray, np.ndarray]:
    """Two (N,H,W,4) float64 stacks in [0,1] of one shape."""
    first, second = _rgba01(a), _rgba01(b)
    if first.shape != second.shape:
        raise SpriteforgeError(f"cannot compare sprites of shape {first.shape} with ones of shape {second.shape}.")
    return first, second


def _rgba01(images: Images) -> np.ndarray:
    """(N,H,W,4) float64 in [0,1] from a SpriteSet, (N,H,W,4) uint8 or float array, or a (B,4,H,W) model output."""
    if isinstance(images, SpriteSet):
        images = images.to_rgba()
    elif isinstance(images, torch.Tensor):
        images = images.detach().cpu().permute(0, 2, 3, 1).double().numpy()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 4:
        raise SpriteforgeError(
            f"expected RGBA sprites as an (N,H,W,4) array or a (B,4,H,W) tensor, got shape {images.shape}."
        )
    return images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)


def _composite(rgba: np.ndarray) -> np.ndarray:
    """(N,H,W,4) in [0,1] -> (N,3,H,W) RGB alpha-composited over SSIM_BACKGROUND."""
    alpha = rgba[..., 3:]
    rgb = rgba[..., :3] * alpha + SSIM_BACKGROUND * (1.0 - alpha)
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))
