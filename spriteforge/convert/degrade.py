"""Fake pixel art with a known truth: a sprite enlarged off-grid, blurred, compressed and noised.

    from spriteforge.convert.degrade import Degradation, degrade
    fake = degrade(sprite, Degradation(cell=7.3, shift=2.1, resample="bicubic", jpeg=85, noise=3.0))

This is what `spriteforge snap` must undo (spriteforge/convert/snap.py), and what its tests and benchmark
(benchmarks/snap.py) are built from: the sprite each fake came from is the answer.

The enlarged sprite is sampled as an image editor does when it resizes by a possibly non-integer factor: output
pixel x (its centre at x + 0.5) looks at sprite coordinate u = (x + 0.5 + shift) / cell, interpolated with the
nearest, bilinear (tent) or bicubic (Keys, a = -0.5) kernel. `shift` crops that much off the left and top, so the
grid no longer starts at the image's origin: its first full cell starts at x = cell - shift. Only less than half a
cell is ever cropped, so every sprite pixel keeps its centre inside the image (and is recoverable) and no other
cell's does. Colours are interpolated without premultiplying by alpha, as many tools do: a sprite's edge blends
with the black of its transparent pixels (the dark fringe snap must not turn into extra colours).
"""

from __future__ import annotations

import io as _bytes_io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from spriteforge.errors import SpriteforgeError

RESAMPLES = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class Degradation:
    """cell: sprite pixel -> image pixels along x (cell_y: along y, default the same); shift: image pixels cropped
    off the left (shift_y: the top), below half a cell; jpeg: quality 1..100 or None; noise: Gaussian sigma on RGB."""

    cell: float
    shift: float = 0.0
    resample: str = "nearest"
    jpeg: int | None = None
    noise: float = 0.0
    cell_y: float | None = None
    shift_y: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resample not in RESAMPLES:
            raise SpriteforgeError(f"unknown resample {self.resample!r}; choose one of: {', '.join(RESAMPLES)}")
        for cell, shift in ((self.cell, self.shift), (self.cell_y, self.shift_y)):
            if cell is not None and not cell >= 1:
                raise SpriteforgeError(f"cell {cell!r} must be >= 1 image pixel per sprite pixel")
            if cell is not None and shift is not None and not 0 <= shift < cell / 2:
                raise SpriteforgeError(f"shift {shift!r} must be in [0, cell / 2) so every sprite pixel stays in view")


def degrade(sprite: np.ndarray, how: Degradation) -> np.ndarray:
    """(h,w,4) uint8 sprite -> (H,W,4) uint8 fake pixel art, as described in the module docstring."""
    rows = _matrix(sprite.shape[0], how.cell_y or how.cell, _or(how.shift_y, how.shift), how.resample)
    cols = _matrix(sprite.shape[1], how.cell, how.shift, how.resample)
    image = np.einsum("Yy,yxc,Xx->YXc", rows, sprite.astype(np.float64), cols)  # (H,h)(h,w,4)(W,w) -> (H,W,4)
    rng = np.random.default_rng(how.seed)
    if how.noise:
        image[..., :3] += rng.normal(0.0, how.noise, image[..., :3].shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if how.jpeg is not None:  # colour only: alpha is kept (as lossy WebP and most sprite exports keep it)
        buffer = _bytes_io.BytesIO()
        Image.fromarray(image[..., :3]).save(buffer, "JPEG", quality=how.jpeg)
        image[..., :3] = np.asarray(Image.open(buffer).convert("RGB"))
    return image


def degraded_size(cells: int, cell: float, shift: float) -> int:
    """Image pixels along an axis of `cells` sprite pixels: up to the last whole image pixel of the last cell."""
    return max(1, math.floor(cells * cell - shift))


def resampling_matrix(length: int, cells: int, cell: float, origin: float, resample: str) -> np.ndarray:
    """(length, cells) weights of a resize: image pixel i = sum_k weight[i, k] * sprite pixel k, with sprite pixel
    k covering image coordinates origin + [k, k + 1) * cell; edges clamped, as resizers do."""
    u = (np.arange(length) + 0.5 - origin) / cell - 0.5  # (L,) in sprite pixel-centre coordinates
    if resample == "nearest":
        taps, weights = np.floor(u + 0.5)[:, None], np.ones((length, 1))
    else:
        reach = 1 if resample == "bilinear" else 2
        taps = np.floor(u)[:, None] + np.arange(1 - reach, reach + 1)[None]  # (L, 2 or 4)
        distance = np.abs(u[:, None] - taps)
        weights = np.maximum(1 - distance, 0) if resample == "bilinear" else _keys(distance)
    matrix = np.zeros((length, cells))
    np.add.at(matrix, (np.arange(length)[:, None], np.clip(taps, 0, cells - 1).astype(np.int64)), weights)
    return matrix


def _matrix(cells: int, cell: float, shift: float, resample: str) -> np.ndarray:
    return resampling_matrix(degraded_size(cells, cell, shift), cells, cell, -shift, resample)


def _keys(distance: np.ndarray, a: float = -0.5) -> np.ndarray:
    """The bicubic convolution kernel (Keys 1981) that image editors use, at distances >= 0."""
    d = distance
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
