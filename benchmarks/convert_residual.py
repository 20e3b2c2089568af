"""Benchmark: the residual CycleGAN (G_AB refines the classical pixelizer) against the classical pixelizer and the
plain CycleGAN, on CC0 photos, for docs/experiments/convert.md. One command trains what is missing and prints the table:

    .venv/bin/python benchmarks/convert_residual.py [RUNS] [--time 8m] [--crops 128]

The photos of ../shared/data/photos are split in two halves (sorted by name, every other one): the CycleGANs train on
crops of the "seen" half only; the "held-out" half is never trained on. RUNS (default runs/convert_residual) gets
links to both halves and the two runs, `cyclegan` and `residual`, each trained for `--time` on the 2-core CPU when it
is not there yet (same network, data and recipe; the residual run adds cyclegan.residual=true).

Each method converts the same seeded 16-pixel crops of each half (drawn as the training crops are, with another
seed): a reference that keeps every colour (the area downscale itself), the classical pixelizer in the runs' palette
(`none` and `bayer4`), the CycleGAN and the residual CycleGAN. Likeness: SSIM and the mean RGB distance (0..255) of
each output to its area-downscaled crop. Style: FID and KID of the outputs' Inception features against the Kenney
roguelike_rpg tiles at 16 px (the runs' sprite domain, full colour). Writes docs/images/convert_residual.png: whole
photos at 32 px, one row each, one column per method.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import spriteforge
import torch
from spriteforge import io
from spriteforge.convert.pixelize import PixelizeConfig, output_shape, pixelizer
from spriteforge.convert.translate import generator_converter
from spriteforge.data.cells import area_downscale
from spriteforge.data.crops import image_crops
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.run import PALETTE
from spriteforge.metrics.fid import InceptionFeatures, features_for, fid, kid
from spriteforge.metrics.recon import ssim

from convert_classical import PHOTOS, ROOT, _pad, _pad_width

DATA = PHOTOS.parent
TILES = DATA / "kenney" / "tiles" / "roguelike_rpg"
SIZE = 16  # the runs' sprite size and the evaluation crops'
PICTURE_SIZE = 32  # whole photos in the picture, shown PICTURE_SCALE times
PICTURE_SCALE = 4
SHOWN = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
EVAL_SEED = 1  # the training crops use the run's seed 0
# The recipe of docs/experiments/convert.md's CycleGAN section; the residual run differs only by cyclegan.residual.
RECIPE = [
    f"data.size={SIZE}",
    "data.max_colors=32",
    "data.domain_a_count=1024",
    "cyclegan.width=16",
    "cyclegan.disc_width=16",
    "cyclegan.blocks=3",
    "train.batch_size=8",
    "train.val_fraction=0.05",
    "train.val_every=1000",
    "train.sample_every=500",
    "train.checkpoint_every=500",
]
RUNS = {"cyclegan": [], "residual": ["cyclegan.residual=true"]}

Converter = Callable[[np.ndarray], np.ndarray]  # (H,W,4) uint8 photo -> (h,w,4) uint8 output


def split_photos(runs: Path) -> dict[str, Path]:
    """Links to every other photo (sorted by name) in RUNS/photos_seen, the rest in RUNS/photos_heldout."""
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in io.CONVERTIBLE_SUFFIXES)
    halves = {"seen": runs / "photos_seen", "held-out": runs / "photos_heldout"}
    for offset, folder in enumerate(halves.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos[offset::2]:
            if not (folder / photo.name).exists():
                (folder / photo.name).symlink_to(photo)
    return halves


def trained(runs: Path, name: str, seen: Path, budget: str) -> Path:
    """RUNS/name, trained on the seen half for `budget` unless it is already there."""
    out = runs / name
    if not (out / "weights.safetensors").is_file():
        overrides = [*RECIPE, f"data.domain_a={seen}", *RUNS[name]]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small layers on a shared 2-core CPU: a second thread only waits (convert.md)
        try:
            spriteforge.train("cyclegan", TILES, out, overrides=overrides, logger="none", time=budget)
        finally:
            torch.set_num_threads(threads)  # Inception's large convolutions do use every core
    return out


def converters(runs: dict[str, Path], size: int) -> dict[str, Converter]:
    """Every compared method at `size` px, as photo -> RGBA output."""
    palette = str(runs["cyclegan"] / PALETTE)  # both runs fit the same 32-colour palette to the same tiles

    def downscale(rgba: np.ndarray) -> np.ndarray:
        shape = output_shape(rgba.shape[0], rgba.shape[1], size)
        return np.rint(area_downscale(rgba, shape) * 255).astype(np.uint8)

    def as_rgba(convert: Callable[[np.ndarray], SpriteSet]) -> Converter:
        return lambda rgba: convert(rgba).to_rgba()[0]

    return {
        "area downscale (every colour, reference)": downscale,
        "classical, run palette, none": as_rgba(pixelizer(PixelizeConfig(size=size, palette=palette))),
        "classical, run palette, bayer4": as_rgba(
            pixelizer(PixelizeConfig(size=size, palette=palette, dither="bayer4"))
        ),
        "cyclegan": as_rgba(generator_converter(runs["cyclegan"], size)),
        "residual cyclegan": as_rgba(generator_converter(runs["residual"], size)),
    }


def main(runs: Path, budget: str, crops: int) -> None:
    halves = split_photos(runs)
    run_dirs = {name: trained(runs, name, halves["seen"], budget) for name in RUNS}
    extractor = InceptionFeatures(device="cpu")
    tiles = spriteforge.load_sprites(TILES, size=SIZE)
    real = features_for(tiles, extractor)
    methods = converters(run_dirs, SIZE)
    print(f"runs: {', '.join(map(str, run_dirs.values()))}; {crops} crops of {SIZE} px per half; FID/KID against")
    print(f"{len(tiles)} {TILES.name} tiles at {SIZE} px")
    print(
        "| photos | method | SSIM (higher: likeness) | mean colour distance (lower) | FID (lower: style) | KID (lower) |"
    )
    print("|---|---|---|---|---|---|")
    for half, folder in halves.items():
        # (N,16,16,4) uint8: the area-downscaled crops, each both the input and the likeness target.
        targets = np.rint(image_crops(folder, SIZE, crops, seed=EVAL_SEED).transpose(0, 2, 3, 1) * 255)
        targets = targets.astype(np.uint8)
        for name, convert in methods.items():
            outputs = np.stack([convert(target) for target in targets])
            likeness = ssim(outputs, targets)
            distance = np.linalg.norm(outputs[..., :3].astype(float) - targets[..., :3], axis=-1).mean()
            features = extractor(outputs, progress=False)
            style, kernel = fid(real, features), kid(real, features, subset_size=crops)
            print(
                f"| {half} | {name} | {likeness.value:.3f} | {distance:.1f} | {style.value:.1f} "
                f"[{style.low:.1f}, {style.high:.1f}] | {kernel.value:.3f} [{kernel.low:.3f}, {kernel.high:.3f}] |"
            )
    picture(converters(run_dirs, PICTURE_SIZE))


def picture(methods: dict[str, Converter]) -> None:
    """docs/images/convert_residual.png: rows SHOWN (whole photos), columns the methods."""
    photos = {name: io.read_rgba(PHOTOS / name) for name in SHOWN}
    columns = [[io.upscale(convert(photos[name]), PICTURE_SCALE) for name in SHOWN] for convert in methods.values()]
    rows = [np.concatenate(_pad(column), axis=0) for column in columns]
    io.write_png(ROOT / "docs/images/convert_residual.png", io.composite(np.concatenate(_pad_width(rows), axis=1)))
    print("picture: docs/images/convert_residual.png (columns: " + ", ".join(methods) + ")")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=Path, default=ROOT / "runs" / "convert_residual")
    parser.add_argument("--time", default="8m", help="training budget of each run that is not there yet")
    parser.add_argument("--crops", type=int, default=128, help="evaluation crops per half")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.time, arguments.crops)
