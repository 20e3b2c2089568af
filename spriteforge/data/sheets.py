"""Slicing sprite sheets into tiles (tile size, spacing, margin), dropping empty tiles and exact duplicates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spriteforge.data.palette import ALPHA_THRESHOLD
from spriteforge.errors import SpriteforgeError

# More tiles than this is a tile size that does not match the sheet (a photo cut into 1x1 tiles), refused before the
# per-tile loop rather than after minutes of it; the largest real sheets hold about 10,000.
MAX_TILES = 1_000_000


@dataclass(frozen=True)
class Tile:
    """One tile cut from a sheet: its pixels (h,w,4) uint8 and its grid position."""

    rgba: np.ndarray
    row: int
    col: int


def slice_sheet(
    sheet: np.ndarray,
    tile_width: int,
    tile_height: int | None = None,
    spacing: int = 0,
    margin: int = 0,
    alpha_threshold: int = ALPHA_THRESHOLD,
    name: str = "sheet",
) -> list[Tile]:
    """Cut a (H,W,4) sheet into tiles in row-major order, keeping only non-empty tiles seen for the first time.

    A tile is empty when all its pixels are one colour: fully transparent, or a solid fill (a background swatch
    carries no sprite). Duplicates are exact: the same pixels after transparent pixels are cleared, so two tiles
    that differ only in invisible RGB count as one.
    """
    tile_height = tile_height or tile_width
    if tile_width < 1 or tile_height < 1 or spacing < 0 or margin < 0:
        raise SpriteforgeError(
            f"{name}: tile {tile_width}x{tile_height}, spacing {spacing}, margin {margin}: tile sizes must be "
            "positive and spacing/margin not negative."
        )
    height, width = sheet.shape[:2]
    rows = (height - 2 * margin + spacing) // (tile_height + spacing)
    cols = (width - 2 * margin + spacing) // (tile_width + spacing)
    if rows < 1 or cols < 1:
        raise SpriteforgeError(
            f"{name}: a {width}x{height} sheet holds no {tile_width}x{tile_height} tile with margin {margin}. "
            "Check the tile size, spacing and margin (--tile, data.spacing, data.margin)."
        )
    if rows * cols > MAX_TILES:
        raise SpriteforgeError(
            f"{name}: a {width}x{height} sheet cut into {tile_width}x{tile_height} tiles gives {rows * cols:,} tiles "
            f"(at most {MAX_TILES:,}). Check the tile size (--tile): it is the size of one sprite on the sheet."
        )
    tiles: list[Tile] = []
    seen: set[bytes] = set()
    for row in range(rows):
        for col in range(cols):
            top = margin + row * (tile_height + spacing)
            left = margin + col * (tile_width + spacing)
            tile = clear_transparent(sheet[top : top + tile_height, left : left + tile_width], alpha_threshold)
            key = tile.tobytes()
            if not is_uniform(tile) and key not in seen:
                seen.add(key)
                tiles.append(Tile(tile, row, col))
    return tiles


def clear_transparent(rgba: np.ndarray, alpha_threshold: int = ALPHA_THRESHOLD) -> np.ndarray:
    """Copy of (...,4) pixels with every pixel below the alpha threshold set to (0,0,0,0)."""
    out = rgba.copy()
    out[rgba[..., 3] < alpha_threshold] = 0
    return out


def is_uniform(tile: np.ndarray) -> bool:
    """True when every pixel of a (h,w,4) tile has the same RGBA value."""
    return bool((tile == tile[:1, :1]).all())
