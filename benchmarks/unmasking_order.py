"""Sampling-only sweep of a trained discrete diffusion run: unmasking order and choice noise (issue 14).

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/unmasking_order.py RUN DATA \\
        [occupancy:4 confidence:4 occupancy:8 occupancy:4:1.2 ...] [--n 256] [--steps 64]

Each variant ORDER:NOISE[:TEMPERATURE] draws --n sprites from the same weights (`run.sample(n, seed=0, order=...,
choice_noise=..., temperature=...)`, temperature 1 when not given)
and scores them against every sprite of DATA (loaded at the run's size, larger sprites cropped to their centre) as
the leaderboard does: FID, KID, precision/recall, novelty against the run's training sprites, and the near-empty
share. A noise of 1000 is, in effect, a random order. docs/experiments/time_budget.md reports the results.
"""

from __future__ import annotations

import argparse
import time

import spriteforge as sf

from leaderboard import near_empty_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("data")
    parser.add_argument(
        "variants", nargs="*", default=["occupancy:4", "confidence:4"], help="ORDER:NOISE[:TEMPERATURE]"
    )
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    run = sf.load_run(args.run)
    real = sf.load_sprites(args.data, size=run.model.spec.height, crop=True)
    transparent = 1 - real.to_rgba()[..., 3].astype(bool).reshape(len(real), -1).mean(1).mean()
    print(f"real: near-empty {near_empty_share(real, real):.1%}, transparent pixels {transparent:.1%}", flush=True)
    print(
        "| order | noise | temperature | FID | KID | precision / recall | near-empty | nearest training sprite | copies | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        order, noise, temperature = (variant.split(":") + ["1"])[:3]
        started = time.perf_counter()
        sprites = run.sample(
            args.n, seed=0, steps=args.steps, order=order, choice_noise=float(noise), temperature=float(temperature)
        )
        seconds = time.perf_counter() - started
        scores = sf.evaluate_sprites(
            sprites, real, name=variant, training=run.training_data(), bootstrap=0, progress=False
        ).metrics
        print(
            f"| {order} | {noise} | {temperature} | {scores['fid'].value:.1f} | {scores['kid'].value:.4f} "
            f"| {scores['precision'].value:.2f} / {scores['recall'].value:.2f} | {near_empty_share(sprites, real):.1%} "
            f"| {scores['nearest_distance_fraction'].value:.3f} | {scores['copies'].value:.1%} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
