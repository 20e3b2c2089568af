"""How training cost grows with sprite size and dataset size, on this machine (docs/scaling.md).

    .venv/bin/python benchmarks/scaling.py [--device cpu] [--out benchmarks/results/scaling_cpu.json]

Sprite size: the default VAE (its conv stack halves the size three times, so its width grows with the canvas)
trained in steady state at 16, 32 and 64 pixels, through `spriteforge.bench` (engine images/s, FLOPs per image).
Dataset size: the device-resident dataset's memory and loading time for 1k, 4k and 16k procedural sprites; per-step
cost does not depend on it (batches are slices of one tensor), so an epoch costs N / (images/s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import spriteforge as sf
from spriteforge import io
from spriteforge.bench import BenchConfig, run_bench

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scaling_cpu.json")
    args = parser.parse_args()
    by_size = []
    for size in (16, 32, 64):
        (result,) = run_bench(
            BenchConfig(["vae"], device=args.device, size=size, count=512, steps=30, warmup=5, baseline=False)
        )
        by_size.append(
            {
                "size": size,
                "train_images_per_second": result.train_images_per_second,
                "gflops_per_image": result.train_gflops_per_image,
                "parameters": result.parameters,
            }
        )
    by_count = []
    for count in (1000, 4000, 16000):
        started = time.perf_counter()
        sprites = sf.load_sprites("procedural", count=count, size=16)
        by_count.append(
            {
                "count": count,
                "load_seconds": time.perf_counter() - started,
                "resident_megabytes": sprites.indices.astype("uint8").nbytes / 2**20,
            }
        )
    io.write_text(args.out, json.dumps({"by_size": by_size, "by_count": by_count}, indent=2) + "\n")
    print("| size | parameters (M) | GFLOP per training image | train images/s |\n|---|---|---|---|")
    for row in by_size:
        print(
            f"| {row['size']}x{row['size']} | {row['parameters'] / 1e6:.2f} | {row['gflops_per_image']:.3f} | {row['train_images_per_second']:,.0f} |"
        )
    print("\n| sprites | load time (s) | resident dataset (MB) |\n|---|---|---|")
    for row in by_count:
        print(f"| {row['count']:,} | {row['load_seconds']:.1f} | {row['resident_megabytes']:.1f} |")


if __name__ == "__main__":
    main()
