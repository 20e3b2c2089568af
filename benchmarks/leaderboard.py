"""The quality leaderboard (issue 14): every family's recipe trained for one wall-clock budget, scored in one run.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/leaderboard.py \\
        [--datasets focused_873,tiles] [--families all] [--time 15m] [--n 1000] [--out runs/leaderboard]
        [--train-only | --tables-only]

For each dataset and family: trains the family's recipe (RECIPES) with `--time` (two-stage families split the
budget: a VQ-VAE, then the prior over its codes), unless a finished run is already in --out (a run with metrics.json:
the queue resumes across sessions). Then scores every trained run, the real-vs-real floor (one half of the real set
against the other half, same n) and, on focused_873, the reference outputs of another system, all against the whole
real set with the same settings (spriteforge.evaluate / evaluate_sprites): FID, KID, precision, recall, palette
adherence before snapping, near-empty share, novelty and copy rate, samples/s. On focused_873 every row is also
scored at n=256, the reference's sample count, so FID is compared at one n.

Writes benchmarks/results/leaderboard_<dataset>.json, docs/leaderboard.md (the table, regenerated from every results
file present) and a sample grid per row under docs/images/leaderboard/. Run it alone: its timings are the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import spriteforge as sf
import torch
from spriteforge import io
from spriteforge.engine.config import BUDGET_MODEL, BUDGET_PRESET, parse_duration

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "leaderboard.md"
REFERENCE_N = 256  # the reference system's sample count
NEAR_EMPTY = 0.05  # a sample with fewer than 5% of its pixels off the background is near-empty
GRID_SPRITES = 32
TABLE_START, TABLE_END = "<!-- tables: benchmarks/leaderboard.py -->", "<!-- end of tables -->"


@dataclass(frozen=True)
class Dataset:
    folder: Path
    overrides: tuple[str, ...] = ()  # data options every run of this set uses
    reference: Path | None = None  # another system's outputs on this set, scored as one more row


DATASETS = {
    "focused_873": Dataset(
        DATA / "kenney" / "focused_873", reference=DATA / "reference" / "genpix_diffusion_15min_cpu"
    ),
    # All Kenney tiles on a 16x16 canvas: the 205 24x24 platformer characters are cropped to their visible centre.
    "tiles": Dataset(DATA / "kenney" / "tiles", overrides=("data.size=16", "data.crop=true")),
}


@dataclass(frozen=True)
class Stage:
    model: str
    preset: str | None
    share: float  # of the family's time budget
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """A family's recipe: one stage, or a VQ model and then the prior over its codes."""

    stages: tuple[Stage, ...]
    note: str = ""


# The recipes (docs/leaderboard.md says how each was chosen). Families whose recipe is not yet swept train their
# model's defaults, which the table says.
RECIPES = {
    "discrete_diffusion": Recipe((Stage(BUDGET_MODEL, BUDGET_PRESET, 1.0),), "swept: docs/experiments/time_budget.md"),
    "ddpm": Recipe((Stage("ddpm", "cpu", 1.0),), "the cpu preset, not yet swept"),
    "vae": Recipe((Stage("vae", None, 1.0),), "defaults, not yet swept"),
    "gumbel_vae": Recipe((Stage("gumbel_vae", None, 1.0),), "defaults, not yet swept"),
    "vqvae+prior": Recipe(
        (Stage("vqvae", None, 1 / 3), Stage("prior", None, 2 / 3)), "defaults, 1/3 of the time for the VQ-VAE"
    ),
    "pixel_vqvae+prior": Recipe(
        (Stage("pixel_vqvae", None, 1 / 3), Stage("prior", None, 2 / 3)), "defaults, 1/3 of the time for the VQ-VAE"
    ),
}


def finished(path: Path) -> bool:
    return (path / "metrics.json").is_file() and (path / "weights.safetensors").is_file()


def train_family(family: str, dataset: Dataset, out: Path, budget: float) -> Path:
    """Train the family's stages in turn (each resumes nothing: a finished stage is kept); returns the sampling run."""
    previous: Path | None = None
    for number, stage in enumerate(RECIPES[family].stages):
        path = out / f"{family}.{number}"
        if not finished(path):
            overrides = [*dataset.overrides, *stage.overrides, f"train.max_time={budget * stage.share:.1f}s"]
            if previous is not None:  # the prior builds on the stage before it
                overrides.append(f"{stage.model}.vqvae={previous}")
            overrides += ["train.logger=none", "train.sample_every=0"]
            sf.train(stage.model, dataset.folder, path, overrides=overrides, preset=stage.preset)
        previous = path
    assert previous is not None
    return previous


def near_empty_share(sprites: sf.SpriteSet, real: sf.SpriteSet) -> float:
    """Share of sprites with fewer than NEAR_EMPTY of their pixels off the real set's background colour."""
    background = int(np.bincount(real.indices.ravel()).argmax())  # black on focused_873, transparent on tiles
    background_rgba = real.palette.colors[background]
    rgba = sprites.to_rgba()
    off = np.any(rgba != background_rgba, axis=-1) & ~((rgba[..., 3] == 0) & (background_rgba[3] == 0))
    return float((off.reshape(len(rgba), -1).mean(1) < NEAR_EMPTY).mean())


def score_run(name: str, run_path: Path, real: sf.SpriteSet, n: int, samples_out: Path) -> dict:
    run = sf.load_run(run_path)
    started = time.perf_counter()
    sprites = run.sample(n, seed=0)  # the samples evaluate draws too (same seed): timed here, and counted
    seconds = time.perf_counter() - started
    evaluation = sf.evaluate(run, real, n, progress=False)
    sprites.subset(slice(0, GRID_SPRITES)).save_grid(samples_out, scale=3)
    metrics = json.loads(run_path.joinpath("metrics.json").read_text())
    return {**row(name, evaluation, near_empty_share(sprites, real), n / seconds, metrics), "grid": samples_out.name}


def row(name: str, evaluation: sf.Evaluation, near_empty: float, per_second: float | None, trained: dict) -> dict:
    values = {key: round(estimate.value, 4) for key, estimate in evaluation.metrics.items()}
    return {
        "name": name,
        "n": evaluation.settings.n,
        **{k: values.get(k) for k in ("fid", "kid", "precision", "recall", "palette_adherence")},
        "near_empty": round(near_empty, 4),
        "nearest_distance_fraction": values.get("nearest_distance_fraction"),
        "copies": values.get("copies"),
        "samples_per_second": None if per_second is None else round(per_second, 1),
        "train_steps": trained.get("steps"),
        "train_seconds": trained.get("wall_seconds"),
    }


def floor_row(real: sf.SpriteSet, n: int) -> dict:
    """The floor: one half of the real set scored against the other half (FID and novelty alike), n sprites."""
    order = np.random.default_rng(0).permutation(len(real))
    half = len(real) // 2
    first, second = real.subset(order[:half]), real.subset(order[half:])
    shown = first.subset(slice(0, min(n, half)))
    evaluation = sf.evaluate_sprites(shown, second, name="real half", training=second, progress=False)
    return row(f"real half vs the other half (n={len(shown)})", evaluation, near_empty_share(shown, real), None, {})


def reference_row(folder: Path, real: sf.SpriteSet, samples_out: Path) -> dict:
    """Another system's RGB outputs, scored as they are (their own colours, as the issue measured them); palette
    adherence is the share of their pixels that are exact colours of the real palette."""
    outputs = sf.load_sprites(folder, size=real.size[0])
    rgba = outputs.to_rgba()
    palette = {tuple(c) for c in real.palette.colors.tolist()}
    adherence = np.array([np.mean([tuple(p) in palette for p in sprite.reshape(-1, 4).tolist()]) for sprite in rgba])
    evaluation = sf.evaluate_sprites(outputs, real, name="reference", adherence=adherence, progress=False)
    outputs.subset(slice(0, GRID_SPRITES)).save_grid(samples_out, scale=3)
    entry = row(f"reference: {folder.name}", evaluation, near_empty_share(outputs, real), None, {})
    return {**entry, "grid": samples_out.name}


def device_name() -> str:
    if torch.cuda.is_available():
        return "CUDA " + torch.cuda.get_device_name()
    return f"CPU ({os.cpu_count()} cores, {platform.machine()}), {torch.get_num_threads()} torch threads"


def run_dataset(name: str, families: list[str], budget: float, n: int, out: Path, images: Path) -> dict:
    dataset = DATASETS[name]
    real = sf.load_sprites(dataset.folder, size=16, crop=True)
    trained = {family: train_family(family, dataset, out / name, budget) for family in families}
    images.mkdir(parents=True, exist_ok=True)
    counts = [n, REFERENCE_N] if dataset.reference is not None else [n]
    tables = {}
    for count in counts:
        rows = [floor_row(real, count)]
        if dataset.reference is not None and count == REFERENCE_N:
            rows.append(reference_row(dataset.reference, real, images / f"{name}_reference.png"))
        for family, path in trained.items():
            rows.append(score_run(family, path, real, count, images / f"{name}_{family}.png"))
        tables[str(count)] = rows
    return {"dataset": name, "budget_seconds": budget, "device": device_name(), "tables": tables}


def markdown(results: list[dict]) -> str:
    columns = [
        ("fid", "FID"),
        ("kid", "KID"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("palette_adherence", "palette adherence"),
        ("near_empty", "near-empty"),
        ("nearest_distance_fraction", "nearest training sprite"),
        ("copies", "copies"),
        ("samples_per_second", "samples/s"),
        ("train_steps", "steps"),
    ]
    lines = []
    for result in results:
        for count, rows in result["tables"].items():
            lines += [
                f"## {result['dataset']}, n={count}",
                "",
                f"Budget {result['budget_seconds']:.0f} s per family, {result['device']}.",
                "",
                "| row | " + " | ".join(title for _, title in columns) + " |",
                "|" + "---|" * (len(columns) + 1),
            ]
            for entry in rows:
                cells = [cell(entry.get(key)) for key, _ in columns]
                lines.append(f"| {entry['name']} | " + " | ".join(cells) + " |")
            lines.append("")
        shown = [entry for entry in result["tables"][next(iter(result["tables"]))] if "grid" in entry]
        lines += [f"{entry['name']}:\n\n![{entry['name']}](images/leaderboard/{entry['grid']})\n" for entry in shown]
    return "\n".join(lines)


def cell(value: float | int | None) -> str:
    """A table cell: counts and large rates in full (30,291, not 3.029e+04), measurements to 4 significant digits."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 1000 else f"{value:.4g}"


def write_tables(doc: Path, text: str) -> None:
    """Replace what stands between the table markers of the doc (the prose around them is kept)."""
    document = doc.read_text() if doc.is_file() else f"# Leaderboard\n\n{TABLE_START}\n{TABLE_END}\n"
    before, _, rest = document.partition(TABLE_START)
    _, _, after = rest.partition(TABLE_END)
    io.write_text(doc, f"{before}{TABLE_START}\n{text}\n{TABLE_END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--families", default="all", help=f"comma-separated: {', '.join(RECIPES)}")
    parser.add_argument("--time", default="15m", help="wall-clock budget per family")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "leaderboard")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the leaderboard_<set>.json files")
    parser.add_argument("--doc", type=Path, default=DOC, help="Markdown file whose tables are rewritten")
    parser.add_argument("--train-only", action="store_true", help="train the missing runs, score nothing (a queue)")
    parser.add_argument("--tables-only", action="store_true", help="rewrite the doc's tables from the results files")
    args = parser.parse_args()
    families = list(RECIPES) if args.families == "all" else args.families.split(",")
    unknown = sorted(set(families) - set(RECIPES)) + sorted(set(args.datasets.split(",")) - set(DATASETS))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    args.results.mkdir(parents=True, exist_ok=True)
    images = args.doc.parent / "images" / "leaderboard"
    if args.train_only:
        for name in args.datasets.split(","):
            for family in families:
                train_family(family, DATASETS[name], args.out / name, parse_duration(args.time))
        return
    for name in [] if args.tables_only else args.datasets.split(","):
        result = run_dataset(name, families, parse_duration(args.time), args.n, args.out, images)
        io.write_text(args.results / f"leaderboard_{name}.json", json.dumps(result, indent=2) + "\n")
    every = [json.loads(path.read_text()) for path in sorted(args.results.glob("leaderboard_*.json"))]
    write_tables(args.doc, markdown(every))
    print(markdown(every))


if __name__ == "__main__":
    main()
