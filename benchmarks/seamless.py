"""Benchmark: seamless tiles. Discrete diffusion trained on Kenney terrain, sampled plain and with `tileable`.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/seamless.py [--out runs/seamless] [--time 6m]
    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/seamless.py --run runs/seamless/run   # measure only

Kenney terrain: the 361 fully opaque 16x16 tiles of the roguelike RPG pack (grass, water, sand, stone, floors),
copied to OUT/tiles and trained on with the "cpu" preset for --time. Then --n sprites are sampled with the same seed
with and without `tileable`, and spriteforge.metrics.seams compares how often neighbouring pixels change colour
across the seams of 3x3 copies and inside them, for both and for the training tiles. Writes
benchmarks/results/seamless_terrain.json and docs/images/seamless_terrain.png (3x3 copies of 8 samples: plain
above, tileable below).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import spriteforge as sf
from spriteforge import io
from spriteforge.data.sprites import load_sprites
from spriteforge.metrics.seams import seam_statistics

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
TRAINING = ["data.size=16", "data.max_colors=32", "train.batch_size=64", "train.progress=false"]
SHOWN = 8  # samples in the picture, each as 3x3 copies


def terrain(folder: Path) -> Path:
    """Copy the fully opaque roguelike RPG tiles (Kenney's terrain) into `folder`."""
    source = DATA / "kenney" / "tiles" / "roguelike_rpg"
    if not source.is_dir():
        raise SystemExit(f"{source}: Kenney tiles not found; set SPRITEFORGE_TEST_DATA to the shared data folder.")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file in sorted(source.glob("*.png")):
        if (io.read_rgba(file)[..., 3] >= 128).all():
            shutil.copy(file, folder / file.name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "seamless")
    parser.add_argument("--time", default="6m", help="training time budget")
    parser.add_argument("--run", type=Path, help="measure this trained run instead of training one")
    parser.add_argument("--n", type=int, default=256, help="samples per mode")
    parser.add_argument("--steps", type=int, default=16, help="unmasking steps")
    args = parser.parse_args()
    tiles = terrain(args.out / "tiles")
    if args.run is None:
        shutil.rmtree(args.out / "run", ignore_errors=True)
        run = sf.train("discrete_diffusion", tiles, args.out / "run", overrides=TRAINING, preset="cpu", time=args.time)
    else:
        run = sf.load_run(args.run)
    results: dict[str, object] = {
        "run": str(args.run or args.out / "run"),
        "steps_trained": run.metrics.get("steps"),
        "training_tiles": seam_statistics(load_sprites(tiles, size=16, max_colors=32).indices).to_json(),
    }
    shown = {}
    for mode, tileable in (("plain", False), ("tileable", True)):
        started = time.perf_counter()
        sprites = run.sample(args.n, seed=0, steps=args.steps, tileable=tileable)
        results[mode] = {**seam_statistics(sprites.indices).to_json(), "seconds": time.perf_counter() - started}
        shown[mode] = sprites.subset(slice(0, SHOWN)).tiled(3).to_rgba()
    picture = io.comparison_grid(shown["plain"], shown["tileable"], columns=SHOWN, scale=2)
    io.write_png(ROOT / "docs" / "images" / "seamless_terrain.png", picture)
    out = ROOT / "benchmarks" / "results" / "seamless_terrain.json"
    io.write_text(out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    for name in ("training_tiles", "plain", "tileable"):
        row = results[name]
        assert isinstance(row, dict)
        print(f"| {name} | {row['inside_change']:.3f} | {row['seam_change']:.3f} | {row['ratio']:.2f} |")
    print(f"wrote {out} and docs/images/seamless_terrain.png")


if __name__ == "__main__":
    main()
