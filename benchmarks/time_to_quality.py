"""Time-to-quality curve of the budget recipe (issue 14): FID after 1, 2, 5, 10 and 15 minutes of training.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/time_to_quality.py \\
        [--times 1m,2m,5m,10m,15m] [--family discrete_diffusion] [--dataset focused_873] [--out runs/time_to_quality]

Each budget is a separate run of the family's leaderboard recipe (benchmarks/leaderboard.py RECIPES) trained with
`--time` (so its learning-rate schedule, EMA warm-up and annealing are fitted to that budget: a 2-minute run is not
the first 2 minutes of a 15-minute one). A finished run in --out is kept, so the curve resumes; the 15-minute point
may reuse the leaderboard's run (--reuse 15m=runs/leaderboard/focused_873/discrete_diffusion.0). Every point is
scored at n=256 against the whole real set, seed 0, like the leaderboard's n=256 table (the reference system's
count). Writes benchmarks/results/time_to_quality_<dataset>.json and prints a Markdown table. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import spriteforge as sf
from spriteforge import io
from spriteforge.engine.config import parse_duration

from leaderboard import DATASETS, RECIPES, REFERENCE_N, RESULTS, ROOT, device_name, near_empty_share, train_family


def point(label: str, run_path: Path, real: sf.SpriteSet) -> dict:
    run = sf.load_run(run_path)
    started = time.perf_counter()
    evaluation = sf.evaluate(run, real, REFERENCE_N, metrics=("fid", "kid"), bootstrap=0, progress=False)
    sprites = run.sample(REFERENCE_N, seed=0)  # the sprites evaluate scored (same seed)
    trained = json.loads(run_path.joinpath("metrics.json").read_text())
    return {
        "budget": label,
        "train_seconds": trained.get("wall_seconds"),
        "train_steps": trained.get("steps"),
        "fid": round(evaluation.metrics["fid"].value, 2),
        "kid": round(evaluation.metrics["kid"].value, 4),
        "near_empty": round(near_empty_share(sprites, real), 4),
        "score_seconds": round(time.perf_counter() - started, 1),
    }


def markdown(result: dict) -> str:
    lines = [
        f"{result['family']} on {result['dataset']}, n={REFERENCE_N}, {result['device']}",
        "",
        "| budget | steps | trained s | FID | KID | near-empty |",
        "|---|---|---|---|---|---|",
    ]
    for entry in result["points"]:
        lines.append(
            f"| {entry['budget']} | {entry['train_steps']} | {entry['train_seconds']:.0f} | {entry['fid']:.1f} "
            f"| {entry['kid']:.4f} | {entry['near_empty']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", default="1m,2m,5m,10m,15m", help="comma-separated training budgets")
    parser.add_argument("--family", default="discrete_diffusion", choices=sorted(RECIPES))
    parser.add_argument("--dataset", default="focused_873", choices=sorted(DATASETS))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "time_to_quality")
    parser.add_argument("--reuse", action="append", default=[], help="BUDGET=RUN: a finished run for one budget")
    args = parser.parse_args()
    reused = dict(item.split("=", 1) for item in args.reuse)
    dataset = DATASETS[args.dataset]
    real = sf.load_sprites(dataset.folder, size=16, crop=True)
    points = []
    for label in args.times.split(","):
        if label in reused:
            run_path = Path(reused[label])
        else:
            run_path = train_family(args.family, dataset, args.out / label, parse_duration(label))
        points.append(point(label, run_path, real))
        print(points[-1], flush=True)
    result = {"family": args.family, "dataset": args.dataset, "device": device_name(), "points": points}
    RESULTS.mkdir(parents=True, exist_ok=True)
    io.write_text(RESULTS / f"time_to_quality_{args.dataset}.json", json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
