"""Benchmark: the classical pixelizer on the CC0 photos, for docs/experiments/convert.md.

    .venv/bin/python benchmarks/convert_classical.py

For every dither at sizes 32 and 64 (palette db16, and auto:16 without dithering), over all photos in
../shared/data/photos: palette adherence (share of output pixels that are palette colours), grid exactness (the
x4 preview is made of 4x4 one-colour blocks that give back the output), and time per image (pixelize only, and
file to file). Writes the side-by-side picture docs/images/convert_dithers.png.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from spriteforge import io
from spriteforge.convert.pixelize import PixelizeConfig, pixelize, pixelize_file

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data")) / "photos"
SETTINGS = [("auto:16", "none"), ("db16", "none"), ("db16", "bayer4"), ("db16", "bayer8"), ("db16", "floyd")]
SHOWN = ("astronaut.png", "chelsea.png", "coffee.png")


def grid_exact(rgba: np.ndarray, scale: int = 4) -> bool:
    """True when the nearest-neighbour preview is made of scale x scale one-colour blocks equal to the output."""
    preview = io.upscale(rgba, scale)
    blocks = preview.reshape(rgba.shape[0], scale, rgba.shape[1], scale, 4)
    return bool((blocks == rgba[:, None, :, None]).all())


def main() -> None:
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in io.CONVERTIBLE_SUFFIXES)
    images = {p.name: io.read_rgba(p) for p in photos}
    print(f"{len(photos)} photos from {PHOTOS}")
    pixelize(
        next(iter(images.values())), PixelizeConfig(palette="auto:16")
    )  # warm-up: the one-time scikit-learn import
    print(
        "| size | palette | dither | palette adherence | grid exact | ms per image (pixelize) | ms per image (file to file, x4 preview) |"
    )
    print("|---|---|---|---|---|---|---|")
    shown = []
    for size in (32, 64):
        for palette, dither in SETTINGS:
            config = PixelizeConfig(size=size, palette=palette, dither=dither)
            started = time.perf_counter()
            sprites = {name: pixelize(rgba, config) for name, rgba in images.items()}
            compute_ms = (time.perf_counter() - started) / len(images) * 1000
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                for photo in photos:
                    pixelize_file(photo, Path(folder) / f"{photo.stem}.png", config, scale=4)
                file_ms = (time.perf_counter() - started) / len(photos) * 1000
            outputs = [s.to_rgba()[0] for s in sprites.values()]
            palette_rgba = [{tuple(c) for c in s.palette.colors.tolist()} for s in sprites.values()]
            adherence = np.mean(
                [
                    np.mean([tuple(p) in colors for p in out.reshape(-1, 4).tolist()])
                    for out, colors in zip(outputs, palette_rgba)
                ]
            )
            exact = all(grid_exact(out) for out in outputs)
            print(
                f"| {size} | {palette} | {dither} | {adherence:.3f} | {'yes' if exact else 'NO'} | {compute_ms:.0f} | {file_ms:.0f} |"
            )
            if size == 64:
                shown.append([io.upscale(sprites[name].to_rgba()[0], 3) for name in SHOWN])
    rows = [np.concatenate(_pad(column), axis=0) for column in shown]
    picture = io.composite(np.concatenate(_pad_width(rows), axis=1))
    io.write_png(ROOT / "docs/images/convert_dithers.png", picture)
    print("picture: docs/images/convert_dithers.png (columns: " + ", ".join(f"{p} {d}" for p, d in SETTINGS) + ")")


def _pad(images: list[np.ndarray]) -> list[np.ndarray]:
    """Same width for stacking vertically, with a transparent 4-pixel gap below each."""
    width = max(i.shape[1] for i in images)
    return [np.pad(i, ((0, 4), (0, width - i.shape[1]), (0, 0))) for i in images]


def _pad_width(columns: list[np.ndarray]) -> list[np.ndarray]:
    height = max(c.shape[0] for c in columns)
    return [np.pad(c, ((0, height - c.shape[0]), (0, 4), (0, 0))) for c in columns]


if __name__ == "__main__":
    main()
