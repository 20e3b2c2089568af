"""Reconstruction metrics for autoencoders: how much of a sprite survives encoding and decoding.

The original and the rebuilt sprites share one palette and one size. Every figure is computed per sprite and
then averaged, with a bootstrap interval over sprites.
"""

from __future__ import annotations

import numpy as np
import torch

from spriteforge.data.sprites import SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.palette import Sprites, paired_indices
from spriteforge.metrics.stats import DEFAULT_BOOTSTRAP, Estimate, mean_estimate
from spriteforge.nn.ssim import SSIM_BACKGROUND, SSIM_SIGMA, ssim_tensors

Images = SpriteSet | np.ndarray | torch.Tensor

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
    values = [ssim_tensors(first[part], second[part], sigma) for part in batches]
    return torch.cat(values).numpy() if values else np.zeros(0)


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
