"""Benchmark: `spriteforge snap` on fake pixel art made from real Kenney sprites, for docs/experiments/snap.md.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/snap.py            # ~ a few minutes on 2 cores
    .venv/bin/python benchmarks/snap.py --per-condition 10                         # a quick look

Each condition (scale, resize kernel, JPEG quality, noise) degrades its own seeded sample of Kenney tiles
(../shared/data/kenney/tiles, the same number from every pack) with `spriteforge.convert.degrade`: a random
sub-cell shift along x and y, colour interpolated without premultiplying alpha, JPEG on colour only. Then:

- grid: the detected cell within 2% of the truth along both axes and the offset within a quarter cell;
- exact: every pixel right (same transparency; opaque colours within 8 levels per channel of the truth); pixel
  accuracy: the share of right pixels (a wrong-sized output scores 0);
- palette: the share of sprites whose recovered colour count equals the true one, and the worst distance (RGB,
  Euclidean) from a true colour to the nearest recovered one (median over sprites, and the maximum);
- time per image (snap alone, detection included).

Baselines in the same run, on the same images: `nearest` (PIL's nearest resize to the known true size) and
`convert` (the classical pixelizer with --size from the true size and auto:K from the true colour count).

Sprites whose grid cannot be identified even in principle are left out and counted: along an axis, when all the
positions where a sprite changes are congruent modulo some d >= 2 (a flat tile with one stripe is just as well a
sprite of 2x2 blocks), no method can tell its true size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from spriteforge import io
from spriteforge.convert.degrade import Degradation, degrade
from spriteforge.convert.pixelize import PixelizeConfig, pixelize
from spriteforge.convert.snap import grid_overlay, snap
from spriteforge.errors import SpriteforgeError

ROOT = Path(__file__).resolve().parents[1]
TILES = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data")) / "kenney" / "tiles"
TOLERANCE = 8  # per channel, 0..255: a colour this close to the truth is the truth (JPEG moves colours a little)


@dataclass(frozen=True)
class Condition:
    cell: float
    resample: str
    jpeg: int | None = None
    noise: float = 0.0
    cell_y: float | None = None

    @property
    def name(self) -> str:
        cell = f"{self.cell:g}" + (f"x{self.cell_y:g}" if self.cell_y else "")
        jpeg = f"q{self.jpeg}" if self.jpeg else "png"
        noise = f" +noise {self.noise:g}" if self.noise else ""
        return f"{cell} {self.resample} {jpeg}{noise}"

    @property
    def group(self) -> str:
        cells = [self.cell, self.cell_y or self.cell]
        if all(c == int(c) for c in cells):
            return "integer >= 3, q >= 85" if min(cells) >= 3 and (self.jpeg or 100) >= 85 else "integer, other"
        return "non-integer >= 4" if min(cells) >= 4 else "non-integer < 4"


CONDITIONS = [
    Condition(2, "nearest"),
    Condition(3, "nearest", 95),
    Condition(4, "bilinear", 85),
    Condition(6, "bicubic", 95),
    Condition(8, "nearest", 85, 3.0),
    Condition(12, "bilinear", 85),
    Condition(3, "bicubic", 75, 3.0),
    Condition(8, "nearest", 75, 4.0),
    Condition(2.5, "bilinear"),
    Condition(3.3, "nearest", 95),
    Condition(4.5, "bilinear"),
    Condition(5.5, "nearest", 95),
    Condition(7.3, "bicubic", 85),
    Condition(9.6, "bilinear", 75, 3.0),
    Condition(6, "bicubic", 85, cell_y=4.5),
]


def identifiable(sprite: np.ndarray) -> bool:
    """True unless, along an axis, every position where the sprite changes is congruent modulo some d >= 2."""
    for axis in (0, 1):
        changes = np.flatnonzero((np.diff(sprite.astype(np.int64), axis=axis) != 0).any(axis=(1 - axis, 2))) + 1
        if len(changes) < 2 or math.gcd(*np.diff(changes).tolist()) >= 2:
            return False
    return True


def correct(out: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(h,w) bool: same transparency, and opaque colours within TOLERANCE per channel."""
    if out.shape != truth.shape:
        return np.zeros(truth.shape[:2], bool)
    opaque = truth[..., 3] >= 128
    close = np.abs(out[..., :3].astype(np.int64) - truth[..., :3]).max(-1) <= TOLERANCE
    return (opaque == (out[..., 3] >= 128)) & (~opaque | close)


def colours(rgba: np.ndarray) -> np.ndarray:
    pixels = rgba.reshape(-1, 4)
    return np.unique(pixels[pixels[:, 3] >= 128, :3], axis=0).astype(np.float64)


def palette_scores(out: np.ndarray, truth: np.ndarray) -> tuple[bool, float]:
    """(same colour count, worst distance from a true colour to the nearest recovered one)."""
    found, true = colours(out), colours(truth)
    if not len(found) or not len(true):
        return len(found) == len(true), 0.0 if len(found) == len(true) else 255.0
    worst = np.sqrt(((true[:, None] - found[None]) ** 2).sum(-1)).min(1).max()
    return len(found) == len(true), float(worst)


def sample(per_condition: int, seed: int) -> tuple[list[list[tuple[str, np.ndarray]]], int, int]:
    """Per condition, `per_condition` identifiable tiles, the same number from every pack; and the counts of
    identifiable and left-out tiles over all packs."""
    packs = sorted(p for p in TILES.iterdir() if p.is_dir())
    usable: dict[str, list[tuple[str, np.ndarray]]] = {}
    left_out = 0
    for pack in packs:
        tiles = [(f"{pack.name}/{f.name}", io.read_rgba(f)) for f in sorted(pack.glob("*.png"))]
        usable[pack.name] = [(name, tile) for name, tile in tiles if identifiable(tile)]
        left_out += len(tiles) - len(usable[pack.name])
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in CONDITIONS:
        picks = []
        for i in range(per_condition):
            pool = usable[packs[i % len(packs)].name]
            picks.append(pool[int(rng.integers(len(pool)))])
        chosen.append(picks)
    return chosen, sum(len(v) for v in usable.values()), left_out


def run_condition(condition: Condition, sprites: list[tuple[str, np.ndarray]], seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = {"snap": [], "nearest": [], "convert": []}
    for i, (_, truth) in enumerate(sprites):
        cell_y = condition.cell_y or condition.cell
        shift = (float(rng.uniform(0, condition.cell / 2)), float(rng.uniform(0, cell_y / 2)))
        how = Degradation(
            condition.cell, shift[0], condition.resample, condition.jpeg, condition.noise, condition.cell_y, shift[1], i
        )
        fake = degrade(truth, how)
        started = time.perf_counter()
        try:
            result = snap(fake)
            out, grid = result.sprite.to_rgba()[0], result.grid
        except SpriteforgeError:
            out, grid = np.zeros((0, 0, 4), np.uint8), None
        seconds = time.perf_counter() - started
        rows["snap"].append(_scores(out, truth, seconds) | {"grid": _grid_ok(grid, condition, shift)})
        height, width = truth.shape[:2]
        nearest = np.asarray(Image.fromarray(fake).resize((width, height), Image.Resampling.NEAREST))
        rows["nearest"].append(_scores(nearest, truth, 0.0))
        entries = len(colours(truth)) + 1
        converted = pixelize(fake, PixelizeConfig(size=max(height, width), palette=f"auto:{max(entries, 2)}"))
        rows["convert"].append(_scores(converted.to_rgba()[0], truth, 0.0))
    return {method: _summary(values) for method, values in rows.items()}


def _grid_ok(grid, condition: Condition, shift: tuple[float, float]) -> bool:
    if grid is None:
        return False
    for axis, cell in ((0, condition.cell), (1, condition.cell_y or condition.cell)):
        offset = (-shift[axis]) % cell
        error = abs(grid.offset[axis] - offset) % cell
        if abs(grid.cell[axis] - cell) > 0.02 * cell or min(error, cell - error) > cell / 4:
            return False
    return True


def _scores(out: np.ndarray, truth: np.ndarray, seconds: float) -> dict:
    right = correct(out, truth)
    same_count, worst = palette_scores(out, truth) if out.size else (False, 255.0)
    return {
        "exact": bool(right.all()),
        "pixels": float(right.mean()),
        "count": same_count,
        "worst": worst,
        "s": seconds,
    }


def _summary(rows: list[dict]) -> dict:
    return {
        "sprites": len(rows),
        "grid": float(np.mean([r.get("grid", False) for r in rows])),
        "exact": float(np.mean([r["exact"] for r in rows])),
        "pixel_accuracy": float(np.mean([r["pixels"] for r in rows])),
        "palette_count_ok": float(np.mean([r["count"] for r in rows])),
        "worst_distance_median": float(np.median([r["worst"] for r in rows])),
        "worst_distance_max": float(np.max([r["worst"] for r in rows])),
        "ms_per_image": float(np.mean([r["s"] for r in rows]) * 1000),
    }


def picture(path: Path) -> None:
    """Before/after: three tiles degraded at 7.3x (bicubic, JPEG q75), the grid found, the sprite recovered."""
    names = ["tiny_dungeon/tiny_dungeon_r07c00.png", "roguelike_characters", "pixel_platformer_characters"]
    rows = []
    for i, name in enumerate(names):
        file = TILES / name if name.endswith(".png") else sorted((TILES / name).glob("*.png"))[5]
        truth = io.read_rgba(file)
        fake = degrade(truth, Degradation(7.3, 2.9, "bicubic", 75, 2.0, seed=i))
        result = snap(fake)
        height = fake.shape[0]
        after = io.upscale(result.sprite.to_rgba()[0], max(1, height // truth.shape[0]))
        panels = [fake, grid_overlay(fake, result.grid), after]
        rows.append(np.concatenate([_pad(p, height) for p in panels], axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    io.write_png(path, io.composite(sheet[None])[0])


def _pad(image: np.ndarray, height: int) -> np.ndarray:
    return np.pad(image, ((0, height - image.shape[0]), (0, 6), (0, 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-condition", type=int, default=24, help="sprites per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/snap.json")
    parser.add_argument("--picture", type=Path, default=ROOT / "docs/images/snap_before_after.png")
    args = parser.parse_args()
    chosen, kept, left_out = sample(args.per_condition, args.seed)
    print(f"{kept} identifiable Kenney tiles ({left_out} left out), {args.per_condition} per condition")
    snap(degrade(chosen[0][0][1], Degradation(4)))  # warm-up: scipy's import
    results = {}
    print(
        "| condition | group | grid ok | exact (snap / nearest / convert) | pixel acc. (snap / nearest / convert) "
        "| palette count ok | worst colour dist. (median / max) | ms per image |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for index, (condition, sprites) in enumerate(zip(CONDITIONS, chosen)):
        result = run_condition(condition, sprites, args.seed * 1000 + index)
        results[condition.name] = {"group": condition.group, **result}
        s, n, c = result["snap"], result["nearest"], result["convert"]
        print(
            f"| {condition.name} | {condition.group} | {s['grid']:.1%} | {s['exact']:.1%} / {n['exact']:.1%} / "
            f"{c['exact']:.1%} | {s['pixel_accuracy']:.2%} / {n['pixel_accuracy']:.2%} / {c['pixel_accuracy']:.2%} "
            f"| {s['palette_count_ok']:.1%} | {s['worst_distance_median']:.1f} / {s['worst_distance_max']:.1f} "
            f"| {s['ms_per_image']:.0f} |",
            flush=True,
        )
    for group in sorted({c.group for c in CONDITIONS}):
        members = [r["snap"] for r in results.values() if r["group"] == group]
        exact = np.mean([m["exact"] for m in members])
        pixels = np.mean([m["pixel_accuracy"] for m in members])
        print(f"group {group}: exact {exact:.1%}, pixel accuracy {pixels:.2%} ({len(members)} conditions)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    io.write_text(args.json, json.dumps({"per_condition": args.per_condition, "results": results}, indent=1))
    picture(args.picture)
    print(f"wrote {args.json} and {args.picture}")


if __name__ == "__main__":
    main()
