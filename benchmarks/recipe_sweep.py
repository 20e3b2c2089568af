"""A small recipe sweep for one family at a short budget (issue 14, section 2): which settings pay in CPU minutes.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/recipe_sweep.py --family ddpm --time 5m \\
        --variant "cpu=preset:cpu" \\
        --variant "cosine-v=preset:cpu,ddpm.schedule=cosine,ddpm.prediction=v" \\
        --variant "bits=preset:cpu,ddpm.representation=index"

Each --variant is NAME=SETTINGS: `preset:P` picks the model's preset, every other item is a `--set` override. Each
variant is trained once for --time on the dataset (a finished run in --out is kept, so the sweep resumes), then all
are scored alike: n=256 samples, seed 0, against the whole real set (FID, KID, near-empty share), as
benchmarks/time_to_quality.py scores a point. A short budget ranks settings cheaply; the winner is then confirmed at
15 minutes on the leaderboard. Writes benchmarks/results/sweep_<family>_<dataset>_<time>.json and prints a Markdown
table. Run it alone: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import spriteforge as sf
from spriteforge import io
from spriteforge.engine.config import parse_duration

from leaderboard import DATASETS, RESULTS, ROOT, device_name, finished
from time_to_quality import point


def parse_variant(text: str) -> tuple[str, str | None, list[str]]:
    """'NAME=preset:P,key=value,...' -> (name, preset or None, overrides); 'NAME=' is the model's defaults."""
    name, equals, settings = text.partition("=")
    if not name or not equals:
        raise SystemExit(
            f"--variant {text!r}: write NAME=preset:P,key=value,... (e.g. cpu=preset:cpu; NAME= for defaults)"
        )
    preset, overrides = None, []
    for item in settings.split(","):
        if item.startswith("preset:"):
            preset = item.removeprefix("preset:")
        elif item:
            overrides.append(item)
    return name, preset, overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="a registered model, e.g. ddpm")
    parser.add_argument("--dataset", default="focused_873", choices=sorted(DATASETS))
    parser.add_argument("--time", default="5m", help="training budget per variant")
    parser.add_argument("--variant", action="append", required=True, help="NAME=preset:P,key=value,...")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "recipe_sweep")
    args = parser.parse_args()
    dataset = DATASETS[args.dataset]
    budget = parse_duration(args.time)
    real = sf.load_sprites(dataset.folder, size=16, crop=True)  # as time_to_quality and the leaderboard score
    points = []
    for text in args.variant:
        name, preset, overrides = parse_variant(text)
        path = args.out / args.family / args.dataset / f"{name}.{args.time}"
        if not finished(path):
            settings = [*dataset.overrides, *overrides, f"train.max_time={budget:.1f}s"]
            settings += ["train.logger=none", "train.sample_every=0"]
            sf.train(args.family, dataset.folder, path, overrides=settings, preset=preset)
        points.append({"variant": name, "preset": preset, "overrides": overrides, **point(args.time, path, real)})
    result = {"family": args.family, "dataset": args.dataset, "device": device_name(), "points": points}
    out = RESULTS / f"sweep_{args.family}_{args.dataset}_{args.time}.json"
    io.write_text(out, json.dumps(result, indent=1))
    print(f"{args.family} on {args.dataset}, {args.time} each, n=256, {result['device']}\n")
    print("| variant | settings | steps | FID | KID | near-empty |\n|---|---|---|---|---|---|")
    for entry in points:
        settings = ", ".join(([f"preset {entry['preset']}"] if entry["preset"] else []) + entry["overrides"])
        print(
            f"| {entry['variant']} | {settings} | {entry['train_steps']} | {entry['fid']:.1f} | {entry['kid']:.4f} "
            f"| {entry['near_empty']:.1%} |"
        )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
