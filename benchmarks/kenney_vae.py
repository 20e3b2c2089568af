"""Benchmark: the VAE of configs/kenney_vae.yaml on Kenney 1-Bit Pack colored tiles, on this machine.

    .venv/bin/python benchmarks/kenney_vae.py [--out runs/kenney_vae] [--logger csv]

Prints one Markdown table row (wall time, training images/s, validation pixel accuracy) for docs/benchmarks.md and
writes the sample grid used in the README to docs/images/kenney_vae_samples.png.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import spriteforge as sf
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "kenney_vae")
    parser.add_argument("--logger", default="csv")
    args = parser.parse_args()
    data = (
        Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
        / "kenney/tiles/1bit_pack_colored"
    )
    if not data.is_dir():
        raise SystemExit(f"{data}: Kenney tiles not found; set SPRITEFORGE_TEST_DATA to the shared data folder.")
    shutil.rmtree(args.out, ignore_errors=True)
    started = time.perf_counter()
    run = sf.train(data=data, out=args.out, config_file=ROOT / "configs/kenney_vae.yaml", logger=args.logger)
    total = time.perf_counter() - started
    grid = run.sample(64, seed=0).save_grid(ROOT / "docs/images/kenney_vae_samples.png", scale=4)
    m = run.metrics
    device = (
        "CUDA " + torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    )
    print(f"sample grid: {grid}")
    print(
        "| device | sprites (train/val) | steps x batch | wall time (s) | train images/s | val pixel accuracy | val palette adherence |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {device} | {m['train_sprites']}/{m['val_sprites']} | {m['steps']} x {run.config.train.batch_size} | "
        f"{total:.0f} | {m['train_images_per_second']:.0f} | {m['val/pixel_accuracy']:.4f} | {m['val/palette_adherence']:.2f} |"
    )


if __name__ == "__main__":
    main()
