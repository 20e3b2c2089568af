"""Sampling time of 16 sprites for trained diffusion runs: DDIM-50, DDIM-20 (ddpm) and 8 or 16 steps (discrete).

    .venv/bin/python benchmarks/diffusion_timing.py --ddpm runs/diffusion/kenney_ddpm_rgba --discrete runs/diffusion/kenney_discrete

Median of 5 seeded `Run.generate(16)` calls after one warm-up call, on this machine's CPU with torch's default threads.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import spriteforge as sf
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ddpm", type=Path, required=True)
    parser.add_argument("--discrete", type=Path, required=True)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    cases = [
        (args.ddpm, {"sampler": "ddim", "steps": 50}),
        (args.ddpm, {"sampler": "ddim", "steps": 20}),
        (args.discrete, {"steps": 8}),
        (args.discrete, {"steps": 16}),
    ]
    for path, options in cases:
        run = sf.load_run(path)
        run.generate(16, seed=0, **options)
        times = []
        for seed in range(5):
            started = time.perf_counter()
            run.generate(16, seed=seed, **options)
            times.append(time.perf_counter() - started)
        print(f"{path.name} {options}: median {statistics.median(times):.3f} s for 16 sprites")


if __name__ == "__main__":
    main()
