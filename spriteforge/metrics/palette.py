"""Pixel-art statistics of generated sprites, to compare with the same statistics of real ones.

A generative model can match FID and still produce sprites no artist would draw: colours off the palette,
too many or too few colours per sprite, isolated specks of colour, silhouettes in pieces. These statistics
measure exactly those, per sprite, on palette indices (index 0 = transparent, every other index a colour).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from spriteforge.data.sprites import SpriteSet, count_colors
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.stats import DEFAULT_BOOTSTRAP, Estimate, mean_estimate

Sprites = SpriteSet | np.ndarray

# 4-connectivity inside one sprite, never across the sprite axis of an (N,H,W) stack.
_FOUR_CONNECTED = np.zeros((3, 3, 3), dtype=bool)
_FOUR_CONNECTED[1] = ndimage.generate_binary_structure(2, 1)


def sprite_indices(sprites: Sprites) -> np.ndarray:
    """(N,H,W) palette indices of a SpriteSet or of an index array (checked to be 3-D)."""
    indices = sprites.indices if isinstance(sprites, SpriteSet) else np.asarray(sprites)
    if indices.ndim != 3:
        raise SpriteforgeError(f"expected sprites as (N,H,W) palette indices, got an array of shape {indices.shape}.")
    return indices


def paired_indices(first: Sprites, second: Sprites) -> tuple[np.ndarray, np.ndarray]:
    """The (N,H,W) and (M,H,W) index arrays of two sprite sets, refused when they index different palettes."""
    if isinstance(first, SpriteSet) and isinstance(second, SpriteSet) and first.palette != second.palette:
        raise SpriteforgeError(
            "these sprites are compared by palette index, but the two sets use different palettes: bring one into "
            "the other's palette first (e.g. SpriteSet(palette.index(sprites.to_rgba()), palette))."
        )
    return sprite_indices(first), sprite_indices(second)


def colors_per_sprite_counts(sprites: Sprites) -> np.ndarray:
    """(N,) number of distinct opaque colours (indices > 0) in each sprite."""
    return count_colors(sprite_indices(sprites))


def colors_per_sprite(sprites: Sprites, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Estimate:
    """Mean number of distinct opaque colours per sprite."""
    return mean_estimate(colors_per_sprite_counts(sprites), resamples, seed)


def colors_per_sprite_distance(fake: Sprites, real: Sprites) -> float:
    """Total variation distance between the distributions of colours-per-sprite: 0 identical, 1 disjoint."""
    fake_counts, real_counts = colors_per_sprite_counts(fake), colors_per_sprite_counts(real)
    bins = int(max(fake_counts.max(initial=0), real_counts.max(initial=0))) + 1
    p = np.bincount(fake_counts, minlength=bins) / max(len(fake_counts), 1)
    q = np.bincount(real_counts, minlength=bins) / max(len(real_counts), 1)
    return float(0.5 * np.abs(p - q).sum())


def silhouette_stats(sprites: Sprites, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Estimate]:
    """Shape statistics of the opaque pixels, each a mean over sprites with a bootstrap interval.

    opaque_fraction: opaque pixels / H*W. bbox_fill: opaque pixels / area of their bounding box.
    stray_pixels: share of opaque pixels with no opaque 4-neighbour (isolated specks).
    components: number of 4-connected opaque regions.
    Fully transparent sprites count in opaque_fraction and components (as 0) and are left out of the two
    ratios that have no opaque pixel to divide by; n says how many sprites each figure rests on.
    """
    opaque = sprite_indices(sprites) > 0  # (N,H,W)
    filled = opaque.sum(axis=(1, 2))  # (N,)
    visible = filled > 0
    per_sprite = {
        "opaque_fraction": filled / (opaque.shape[1] * opaque.shape[2]),
        "bbox_fill": filled[visible] / _bbox_areas(opaque[visible]),
        "stray_pixels": _stray_counts(opaque)[visible] / filled[visible],
        "components": _component_counts(opaque),
    }
    return {name: mean_estimate(values, resamples, seed) for name, values in per_sprite.items()}


def _bbox_areas(opaque: np.ndarray) -> np.ndarray:
    """(N,) area of the bounding box of the opaque pixels of each non-empty (N,H,W) mask."""
    rows, cols = np.any(opaque, axis=2), np.any(opaque, axis=1)  # (N,H), (N,W)
    return _extent(rows) * _extent(cols)


def _extent(occupied: np.ndarray) -> np.ndarray:
    """(N,) last minus first occupied position plus one, along the last axis of an (N,L) mask."""
    first = occupied.argmax(axis=1)
    last = occupied.shape[1] - 1 - occupied[:, ::-1].argmax(axis=1)
    return last - first + 1


def _stray_counts(opaque: np.ndarray) -> np.ndarray:
    """(N,) number of opaque pixels whose four neighbours are all transparent (or off the sprite)."""
    padded = np.pad(opaque, ((0, 0), (1, 1), (1, 1)))  # (N,H+2,W+2)
    neighbours = padded[:, :-2, 1:-1] | padded[:, 2:, 1:-1] | padded[:, 1:-1, :-2] | padded[:, 1:-1, 2:]
    return (opaque & ~neighbours).sum(axis=(1, 2))


def _component_counts(opaque: np.ndarray) -> np.ndarray:
    """(N,) number of 4-connected opaque components per sprite, labelled in one pass over the stack."""
    labels, total = ndimage.label(opaque, structure=_FOUR_CONNECTED)  # (N,H,W) ints, 1..total
    # Every component lies in one sprite: find which through any one of its pixels.
    sprite_of_pixel = np.broadcast_to(np.arange(len(opaque))[:, None, None], opaque.shape)
    sprite_of_label = np.zeros(total + 1, dtype=np.int64)
    sprite_of_label[labels[opaque]] = sprite_of_pixel[opaque]
    return np.bincount(sprite_of_label[1:], minlength=len(opaque))
