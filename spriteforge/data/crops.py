"""A second image domain for two-domain models (cyclegan): seeded random crops of a folder of images (photos,
paintings), area-downscaled to the sprite size.

Crops are square, between a third of the image's shorter side and all of it, at a random place, mirrored half of the
time: the same photo gives close-ups and wide views, as the unpaired domain of a photo-to-pixel-art CycleGAN needs.
Everything is drawn from one seed, so a resumed run rebuilds exactly the same pool.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spriteforge import io
from spriteforge.data.cells import area_downscale
from spriteforge.errors import SpriteforgeError


def image_crops(folder: str | Path, size: int, count: int, seed: int = 0) -> np.ndarray:
    """(count,4,size,size) float32 in [0,1]: random square crops of the images under `folder`, downscaled."""
    folder = Path(folder)
    if count < 1:
        raise SpriteforgeError(f"data.domain_a_count={count}: ask for at least one crop.")
    found = folder.rglob("*") if folder.is_dir() else []
    files = sorted(p for p in found if p.is_file() and p.suffix.lower() in io.CONVERTIBLE_SUFFIXES)
    if not files:
        raise SpriteforgeError(
            f"data.domain_a={folder}: no images there (reads {', '.join(io.CONVERTIBLE_SUFFIXES)}). "
            "Give a folder of photos or art."
        )
    images = [io.read_rgba(path) for path in files]  # an unreadable file is an error naming it
    rng = np.random.default_rng(seed)
    crops = np.empty((count, 4, size, size), np.float32)
    for i in range(count):
        image = images[rng.integers(len(images))]
        height, width = image.shape[:2]
        short = min(height, width)
        side = int(rng.integers(max(1, short // 3), short + 1))
        top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
        crop = image[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[i] = area_downscale(np.ascontiguousarray(crop), (size, size)).transpose(2, 0, 1)  # (4,size,size)
    return crops
