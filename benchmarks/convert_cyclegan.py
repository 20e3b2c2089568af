"""Benchmark: a trained CycleGAN run against the classical pixelizer on the CC0 photos, for docs/experiments/convert.md.

    .venv/bin/python benchmarks/convert_cyclegan.py RUN

Every photo in ../shared/data/photos is converted at the run's sprite size: by the classical pixelizer in the run's
own palette with each dither, and by the run's generator (`spriteforge convert --model RUN`). Reported per method:
palette adherence (share of output pixels that are colours of the run's palette), grid exactness (as in
convert_classical.py) and time per image. Writes docs/images/convert_cyclegan.png: one row per shown photo, columns
the classical dithers, then the CycleGAN.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from spriteforge import io
from spriteforge.convert.pixelize import DITHERS, PixelizeConfig, pixelizer
from spriteforge.convert.translate import generator_converter
from spriteforge.engine.run import PALETTE
from spriteforge.engine.trained import load_run

from convert_classical import PHOTOS, ROOT, SHOWN, _pad, _pad_width, grid_exact

SCALE = 6  # the picture's nearest-neighbour enlargement


def main(run_dir: Path) -> None:
    run = load_run(run_dir)
    size = run.config.data.size
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in io.CONVERTIBLE_SUFFIXES)
    images = {p.name: io.read_rgba(p) for p in photos}
    colors = {tuple(c) for c in run.palette.colors.tolist()}
    methods = {
        f"classical {d}": pixelizer(PixelizeConfig(size=size, palette=str(run_dir / PALETTE), dither=d))
        for d in DITHERS
    }
    methods["cyclegan"] = generator_converter(run_dir, size)
    print(
        f"{len(photos)} photos from {PHOTOS}; run {run_dir} ({run.config.model}, {size} px, {len(run.palette) - 1} colours)"
    )
    print("| method | palette adherence | grid exact | ms per image |")
    print("|---|---|---|---|")
    columns = []
    for name, convert in methods.items():
        convert(next(iter(images.values())))  # warm-up
        started = time.perf_counter()
        outputs = {photo: convert(rgba).to_rgba()[0] for photo, rgba in images.items()}
        ms = (time.perf_counter() - started) / len(images) * 1000
        adherence = np.mean(
            [np.mean([tuple(p) in colors for p in out.reshape(-1, 4).tolist()]) for out in outputs.values()]
        )
        exact = all(grid_exact(out) for out in outputs.values())
        print(f"| {name} | {adherence:.3f} | {'yes' if exact else 'NO'} | {ms:.1f} |")
        columns.append([io.upscale(outputs[photo], SCALE) for photo in SHOWN])
    rows = [np.concatenate(_pad(column), axis=0) for column in columns]
    picture = io.composite(np.concatenate(_pad_width(rows), axis=1))
    io.write_png(ROOT / "docs/images/convert_cyclegan.png", picture)
    print("picture: docs/images/convert_cyclegan.png (columns: " + ", ".join(methods) + ")")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: convert_cyclegan.py RUN (a cyclegan run folder)")
    main(Path(sys.argv[1]))
