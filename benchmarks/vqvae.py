"""Benchmark: VQ-VAE vs Pixel VQ-VAE vs the VAE, and priors over the VQ codes, on Kenney tiles and CryptoPunks.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/vqvae.py [--steps 300] [--prior-steps 300]

Every autoencoder gets the same split (val_fraction 0.1, seed 0), steps, batch size and learning rate. Writes
benchmarks/results/vqvae_{kenney,cpunks}.json (reconstruction pixel accuracy, opaque accuracy, MSE and SSIM on the
validation split; codebook usage and perplexity over it; prior bits per code; sampling times) and, for Kenney only,
sample and reconstruction grids under docs/images/. CryptoPunks give numbers only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import spriteforge as sf
import torch
from spriteforge import io
from spriteforge.metrics import recon

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
DATASETS = {  # name -> (source, canvas size)
    "kenney": (DATA / "kenney/tiles/1bit_pack_colored", 16),
    "cpunks": (DATA / "cpunks/images", 24),
}
VQ_TRUNK = ["width=32", "channels=[64]"]  # one halving: 8x8 codes on Kenney, 12x12 on CryptoPunks
MODELS = {  # label -> (model, preset, model settings)
    "vae": ("vae", None, ["latent_dim=32", "channels=[32,64,128]"]),
    "vqvae": ("vqvae", None, VQ_TRUNK),
    "pixel_vqvae": ("pixel_vqvae", "reference", VQ_TRUNK),
}
PRIORS = {
    "prior_transformer": ["arch=transformer", "width=64", "layers=2", "heads=4"],
    "prior_pixelcnn": ["arch=pixelcnn", "width=64", "layers=4"],
}
BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps of every autoencoder")
    parser.add_argument("--prior-steps", type=int, default=300)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "vqvae_bench")
    parser.add_argument("--datasets", default="kenney,cpunks")
    parser.add_argument(
        "--priors-only", action="store_true", help="keep the trained VQ runs and results; (re)train the priors"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.datasets.split(","):
        source, size = DATASETS[name]
        out = ROOT / "benchmarks/results" / f"vqvae_{name}.json"
        if args.priors_only:
            result = json.loads(out.read_text())
            result["prior_steps"] = args.prior_steps
            result["models"].update(train_priors(name, args.runs / name, args))
        else:
            result = benchmark(name, source, size, args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(markdown(result))


def markdown(result: dict) -> str:
    """The result as the Markdown tables of docs/experiments/vqvae.md."""
    columns = {
        "val_pixel_accuracy": "pixel acc.",
        "val_opaque_pixel_accuracy": "opaque pixel acc.",
        "val_mse": "MSE",
        "val_ssim": "SSIM",
        "val_codebook_usage": "codebook usage",
        "val_perplexity": "code perplexity",
        "train_images_per_second": "train img/s",
        "sample_seconds_per_64": "s per 64 samples",
    }
    rows = [
        f"{result['dataset']}, {result['steps']} steps x {result['batch_size']}, {result['device']}",
        "",
        "| model | " + " | ".join(columns.values()) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for label, entry in result["models"].items():
        if "val_pixel_accuracy" in entry:
            rows.append(f"| {label} | " + " | ".join(str(entry.get(key, "-")) for key in columns) + " |")
    priors = {label: entry for label, entry in result["models"].items() if "val_bits_per_code" in entry}
    if priors:
        rows += [
            "",
            "| prior | trained parameters | val bits per code (uniform) | s per 64 samples |",
            "|---|---|---|---|",
        ]
        for label, entry in priors.items():
            rows.append(
                f"| {label} on {entry['on']} | {entry['parameters_trained']} | {entry['val_bits_per_code']} "
                f"({entry['uniform_bits_per_code']}) | {entry['sample_seconds_per_64']} |"
            )
    return "\n".join(rows)


def train_settings(steps: int) -> list[str]:
    return [
        f"train.max_steps={steps}",
        f"train.batch_size={BATCH}",
        "train.lr=2e-3",
        "train.num_samples=16",
        "train.warmup_steps=50",
        "train.seed=0",
        "train.val_fraction=0.1",
        f"train.val_every={steps}",
        f"train.sample_every={steps}",
        f"train.checkpoint_every={steps}",
        "train.progress=false",
    ]


def benchmark(name: str, source: Path, size: int, args: argparse.Namespace) -> dict:
    folder = args.runs / name
    shutil.rmtree(folder, ignore_errors=True)
    result: dict = {
        "dataset": str(source.relative_to(DATA)),
        "size": size,
        "steps": args.steps,
        "batch_size": BATCH,
        "prior_steps": args.prior_steps,
        "device": f"CPU ({os.cpu_count()} cores, {platform.machine()}), shared",
        "models": {},
    }
    val = None
    for label, (model, preset, settings) in MODELS.items():
        overrides = [*train_settings(args.steps), f"data.size={size}", *[f"{model}.{s}" for s in settings]]
        if model == "vae":
            overrides.append(f"vae.kl_warmup_steps={args.steps // 3}")
        started = time.perf_counter()
        run = sf.train(model, source, folder / label, overrides=overrides, logger="none", preset=preset)
        entry = {
            "train_seconds": round(time.perf_counter() - started, 1),
            "train_images_per_second": run.metrics["train_images_per_second"],
            "parameters": sum(p.numel() for p in run.model.parameters()),
        }
        if val is None:
            val = run.training_data().split(0.1, seed=0)[1]
        entry.update(reconstruction(run, val))
        sampling = "sample" in run.model.capabilities()  # a VQ-VAE cannot: the priors trained on it below sample
        if sampling:
            entry["sample_seconds_per_64"] = sample_seconds(run)
        result["models"][label] = entry
        if name == "kenney":
            grid = io.comparison_grid(
                val.subset(slice(0, 32)).to_rgba(), run.reconstruct(val.subset(slice(0, 32))).to_rgba(), scale=4
            )
            io.write_png(ROOT / f"docs/images/vqvae_recon_{label}.png", grid)
            if sampling:
                run.sample(64, seed=0).save_grid(ROOT / f"docs/images/vqvae_samples_{label}.png", scale=4)
    result["models"].update(train_priors(name, folder, args))
    return result


def train_priors(name: str, folder: Path, args: argparse.Namespace) -> dict:
    """Both priors on the Pixel VQ-VAE's codes of `folder` (sample grids for Kenney only)."""
    entries = {}
    for label, settings in PRIORS.items():
        shutil.rmtree(folder / label, ignore_errors=True)
        overrides = [
            *train_settings(args.prior_steps),
            f"prior.vqvae={folder / 'pixel_vqvae'}",
            *[f"prior.{s}" for s in settings],
        ]
        started = time.perf_counter()
        run = sf.train("prior", None, folder / label, overrides=overrides, logger="none")
        entries[label] = {
            "on": "pixel_vqvae",
            "train_seconds": round(time.perf_counter() - started, 1),
            "parameters_trained": sum(p.numel() for p in run.model.parameters() if p.requires_grad),
            "val_bits_per_code": run.metrics["val/bits_per_code"],
            "uniform_bits_per_code": round(math.log2(run.model.vqvae.config.num_codes), 3),
            "sample_seconds_per_64": sample_seconds(run),
        }
        if name == "kenney":
            run.sample(64, seed=0).save_grid(ROOT / f"docs/images/vqvae_samples_{label}.png", scale=4)
    return entries


def reconstruction(run: sf.Run, val: sf.SpriteSet) -> dict:
    rebuilt = run.reconstruct(val)
    original = val.with_palette(run.palette, "nearest")
    values = {
        "val_pixel_accuracy": recon.pixel_accuracy(original, rebuilt, resamples=0).value,
        "val_opaque_pixel_accuracy": recon.opaque_pixel_accuracy(original, rebuilt, resamples=0).value,
        "val_mse": recon.mse(original, rebuilt, resamples=0).value,
        "val_ssim": recon.ssim(original, rebuilt, resamples=0).value,
    }
    if hasattr(run.model, "latent_shape"):  # VQ models: codebook usage over the whole validation split
        codes = run.encode(val)
        counts = np.bincount(codes.ravel(), minlength=run.model.config.num_codes) / codes.size
        nonzero = counts[counts > 0]
        values["val_codebook_usage"] = float((counts > 0).mean())
        values["val_perplexity"] = float(np.exp(-(nonzero * np.log(nonzero)).sum()))
    return {k: round(float(v), 5) for k, v in values.items()}


def sample_seconds(run: sf.Run) -> float:
    run.sample(4, seed=1)  # warm-up
    started = time.perf_counter()
    run.sample(64, seed=0)
    return round(time.perf_counter() - started, 3)


if __name__ == "__main__":
    main()
