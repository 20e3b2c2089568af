"""`spriteforge demo`: a small VAE on the built-in procedural sprites, offline, about a minute on a CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

from spriteforge.engine import run as runfiles
from spriteforge.engine.train import train
from spriteforge.engine.trained import Run
from spriteforge.errors import SpriteforgeError

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


DEMO_MARKER = ".spriteforge-demo"  # only a folder carrying this is replaced by the next demo


def run_demo(out: str | Path = "runs/demo", logger: str = "mlflow") -> tuple[Run, Path]:
    """Train the demo VAE into `out` (a previous demo there is replaced) and write a 64-sprite grid."""
    out = Path(out)
    if (out / runfiles.CONFIG).is_file():
        if not (out / DEMO_MARKER).is_file():
            raise SpriteforgeError(f"{out} holds a run that is not a demo; give the demo another --out.")
        shutil.rmtree(out)
    run = train("vae", "procedural", out, overrides=DEMO_OVERRIDES, logger=logger)
    (out / DEMO_MARKER).write_text("written by spriteforge demo\n")
    grid = run.sample(64, seed=0).save_grid(out / "demo_samples.png", scale=4)
    return run, grid
