"""Benchmark: seamless tiles. Discrete diffusion trained on Kenney terrain, sampled plain and with `tileable`.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/seamless.py [--out runs/seamless] [--time 6m] \
        [--torus] [--min-seam-ratio 0.5] [--max-seam-ratio 2] [--name seamless_terrain]
    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/seamless.py --run runs/seamless/run   # measure only

Kenney terrain: the 361 fully opaque 16x16 tiles of the roguelike RPG pack (grass, water, sand, stone, floors),
copied to OUT/tiles and trained on with the "cpu" preset for --time; with --max-seam-ratio only the tiles that are
themselves about seamless (seam/inside change ratio of their own 3x3 copies at most that, in their exact colours),
and with --torus on the torus (model option tileable=true: circular padding in training, samples tileable by
default). Then --n sprites are sampled with the same seed with and without `tileable`, and
spriteforge.metrics.seams compares how often neighbouring pixels change colour across the seams of 3x3 copies and
inside them, for both and for the training tiles. Writes benchmarks/results/NAME.json and docs/images/NAME.png
(3x3 copies of 8 each: training tiles, then plain samples, then tileable samples).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import spriteforge as sf
from spriteforge import io
from spriteforge.data.sprites import load_sprites
from spriteforge.metrics.seams import seam_statistics

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
TRAINING = ["data.size=16", "data.max_colors=32", "train.batch_size=64", "train.progress=false"]
SHOWN = 8  # samples in the picture, each as 3x3 copies


def terrain(folder: Path, max_seam_ratio: float | None = None, min_seam_ratio: float | None = None) -> Path:
    """Copy the fully opaque roguelike RPG tiles (Kenney's terrain) into `folder`; with `max_seam_ratio` (and
    `min_seam_ratio`), only those whose own 3x3 copies change across the seams at most (at least) that many times as
    often as inside. A tile framed in one colour has a ratio near 0 (its frame meets itself), an edge-shaded one far
    above 1: a two-sided range keeps the textures that repeat."""
    source = DATA / "kenney" / "tiles" / "roguelike_rpg"
    if not source.is_dir():
        raise SystemExit(f"{source}: Kenney tiles not found; set SPRITEFORGE_TEST_DATA to the shared data folder.")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file in sorted(source.glob("*.png")):
        rgba = io.read_rgba(file)
        if (rgba[..., 3] >= 128).all() and in_range(own_seam_ratio(rgba), min_seam_ratio, max_seam_ratio):
            shutil.copy(file, folder / file.name)
    return folder


def in_range(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def own_seam_ratio(rgba: np.ndarray) -> float:
    """(H,W,4) one tile -> the seam/inside ratio of its 3x3 copies, each exact RGBA colour its own index (so the
    selection does not depend on the palette the training later extracts)."""
    _, indices = np.unique(rgba.reshape(-1, 4), axis=0, return_inverse=True)
    return seam_statistics(indices.reshape(1, *rgba.shape[:2])).ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "seamless")
    parser.add_argument("--time", default="6m", help="training time budget")
    parser.add_argument("--run", type=Path, help="measure this trained run instead of training one")
    parser.add_argument("--n", type=int, default=256, help="samples per mode")
    parser.add_argument("--steps", type=int, default=16, help="unmasking steps")
    parser.add_argument("--torus", action="store_true", help="train with tileable=true (circular padding)")
    parser.add_argument("--max-seam-ratio", type=float, help="train only on tiles whose own seam ratio is at most this")
    parser.add_argument(
        "--min-seam-ratio", type=float, help="train only on tiles whose own seam ratio is at least this"
    )
    parser.add_argument("--name", default="seamless_terrain", help="stem of the results JSON and the picture")
    args = parser.parse_args()
    tiles = terrain(args.out / "tiles", args.max_seam_ratio, args.min_seam_ratio)
    if args.run is None:
        shutil.rmtree(args.out / "run", ignore_errors=True)
        overrides = [*TRAINING, f"discrete_diffusion.tileable={str(args.torus).lower()}"]
        run = sf.train("discrete_diffusion", tiles, args.out / "run", overrides=overrides, preset="cpu", time=args.time)
    else:
        run = sf.load_run(args.run)
    training = load_sprites(tiles, size=16, max_colors=32)
    results: dict[str, object] = {
        "run": str(args.run or args.out / "run"),
        "trained_tileable": run.model.config.tileable,
        "max_seam_ratio": args.max_seam_ratio,
        "min_seam_ratio": args.min_seam_ratio,
        "steps_trained": run.metrics.get("steps"),
        "training_tiles": {**seam_statistics(training.indices).to_json(), "count": len(training.indices)},
    }
    spread = np.linspace(0, len(training.indices) - 1, SHOWN).round().astype(int)  # across the pack's sheet order
    shown = [training.subset(spread).tiled(3).to_rgba()]
    for mode, tileable in (("plain", False), ("tileable", True)):
        started = time.perf_counter()
        sprites = run.sample(args.n, seed=0, steps=args.steps, tileable=tileable)
        results[mode] = {**seam_statistics(sprites.indices).to_json(), "seconds": time.perf_counter() - started}
        shown.append(sprites.subset(slice(0, SHOWN)).tiled(3).to_rgba())
    picture = io.make_grid(np.concatenate(shown), columns=SHOWN, scale=2)
    io.write_png(ROOT / "docs" / "images" / f"{args.name}.png", picture)
    out = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    io.write_text(out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    for name in ("training_tiles", "plain", "tileable"):
        row = results[name]
        assert isinstance(row, dict)
        print(f"| {name} | {row['inside_change']:.3f} | {row['seam_change']:.3f} | {row['ratio']:.2f} |")
    print(f"wrote {out} and docs/images/{args.name}.png")


if __name__ == "__main__":
    main()
