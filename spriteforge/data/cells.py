"""Cutting an image into a grid of cells and averaging each cell: the downscale that pixel art is made with.

An (H,W) image is cut into (h,w) cells of possibly non-integer size; a source pixel belongs to the cell its centre
falls in, so cells differ by at most one pixel in width. The pixelizer (convert/pixelize.py) picks one colour per
cell this way, and the second image domain of two-domain models (data/crops.py) downscales its crops with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spriteforge import io
from spriteforge.errors import SpriteforgeError


@dataclass(frozen=True)
class CellGrid:
    """Integer cell boundaries over the source image: rows (h+1,) and cols (w+1,), from 0 to H and W."""

    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def of(cls, source: tuple[int, int], cells: tuple[int, int]) -> CellGrid:
        return cls(_cell_edges(source[0], cells[0]), _cell_edges(source[1], cells[1]))

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(H,W,C) per-pixel values -> (h,w,C) sums over each cell."""
        return np.add.reduceat(np.add.reduceat(values, self.rows[:-1], axis=0), self.cols[:-1], axis=1)

    def counts(self) -> np.ndarray:
        """(h,w) number of source pixels in each cell."""
        return np.outer(np.diff(self.rows), np.diff(self.cols)).astype(np.float32)

    def spread(self, cell_values: np.ndarray) -> np.ndarray:
        """(h,w,...) per-cell values -> (H,W,...): each source pixel gets its cell's value."""
        return np.repeat(np.repeat(cell_values, np.diff(self.rows), axis=0), np.diff(self.cols), axis=1)


def _cell_edges(pixels: int, cells: int) -> np.ndarray:
    """Boundaries such that pixel j is in cell i when its centre j + 0.5 lies in [i, i + 1) * pixels / cells."""
    return np.ceil(np.linspace(0.0, pixels, cells + 1) - 0.5).astype(np.int64)


def mean_colors(rgb: np.ndarray, weight: np.ndarray, grid: CellGrid) -> np.ndarray:
    """(H,W,3) colours and (H,W,1) weights (alpha) -> (h,w,3): the weighted mean colour of each cell."""
    return grid.sums(rgb * weight) / np.maximum(grid.sums(weight), 1e-6)


def area_downscale(rgba: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H,W,4) uint8 -> (h,w,4) float32 in [0,1]: each cell's alpha-weighted mean colour and its mean alpha, on the
    same cell grid as the pixelizer (an image smaller than `shape` is first enlarged by nearest neighbour)."""
    rgba = check_rgba_image(rgba)
    factor = max(-(-shape[0] // rgba.shape[0]), -(-shape[1] // rgba.shape[1]))
    rgba = io.upscale(rgba, factor) if factor > 1 else rgba
    grid = CellGrid.of(rgba.shape[:2], shape)
    weight = rgba[..., 3:].astype(np.float32) / 255.0
    rgb = mean_colors(rgba[..., :3].astype(np.float32), weight, grid) / 255.0
    alpha = grid.sums(weight) / grid.counts()[..., None]
    return np.concatenate([rgb, alpha], axis=-1).astype(np.float32)


def check_rgba_image(rgba: np.ndarray) -> np.ndarray:
    """`rgba` as an array, if it is an (H,W,4) uint8 image with at least one pixel."""
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4 or 0 in rgba.shape:
        raise SpriteforgeError(
            f"expected an (H, W, 4) uint8 RGBA image, got {rgba.dtype} of shape {rgba.shape}; "
            "read files with spriteforge.io.read_rgba"
        )
    return rgba
