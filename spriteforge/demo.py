"""`spriteforge demo`: a small VAE on the built-in procedural sprites, offline, about a minute on a CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

from spriteforge.engine import run as runfiles
from spriteforge.engine.train import train

# Sized so that two CPU cores finish in about a minute (50 s of training measured) and the samples read as sprites.
DEMO_OVERRIDES = [
    "data.count=2048",
    "data.size=16",
    "vae.latent_dim=16",
    "vae.channels=[32,64]",
    "vae.kl_warmup_steps=200",
    "train.max_steps=1000",
    "train.batch_size=64",
    "train.val_every=250",
    "train.sample_every=250",
    "train.checkpoint_every=250",
]


def run_demo(out: str | Path = "runs/demo", logger: str = "mlflow") -> tuple[runfiles.Run, Path]:
    """Train the demo VAE into `out` (a previous demo there is replaced) and write a 64-sprite grid."""
    out = Path(out)
    if (out / runfiles.CONFIG).is_file():
        shutil.rmtree(out)
    run = train("vae", "procedural", out, overrides=DEMO_OVERRIDES, logger=logger)
    grid = run.sample(64, seed=0).save_grid(out / "demo_samples.png", scale=4)
    return run, grid
