"""Which speed-ups pay on this machine: one model's training step in a plain loop, with each fast-path option.

    .venv/bin/python benchmarks/fast_path.py [--model vae] [--preset cpu] [--device cpu] [--steps 30]
        [--rounds 5] [--variants plain,fused,channels_last,fused+channels_last,bf16,compile,fused+channels_last+compile]

Data: 512 procedural 16x16 sprites held in one tensor (no data loading in the timing), batch 64. Each variant
starts from the same seeded weights and takes 5 untimed steps (for the compile variant these include compiling;
the time is reported), then `--rounds` interleaved rounds of `--steps` timed steps; the median round is reported.
Variants combine with "+": fused (fused AdamW), channels_last (4-D weights in NHWC), bf16 (autocast to
bfloat16), compile (torch.compile of the model's loss). Writes benchmarks/results/fast_path_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from spriteforge import io
from spriteforge.bench import sync_device
from spriteforge.data.sprites import load_sprites
from spriteforge.engine.config import build_config
from spriteforge.engine.run import build_model, data_spec

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ("fused", "channels_last", "bf16", "compile")


class Variant:
    """One model + optimiser with the chosen options, trained step by step on device-resident sprites."""

    def __init__(self, model_name: str, preset: str | None, variant: str, device: torch.device) -> None:
        self.name, self.device = variant, device
        self.options = set(variant.split("+")) - {"plain"}
        if self.options - set(OPTIONS):
            raise SystemExit(
                f"--variants: unknown option(s) {sorted(self.options - set(OPTIONS))}; choose from {OPTIONS}"
            )
        sprites = load_sprites("procedural", size=16, count=512)
        config = build_config(model_name, overrides=["data.size=16"], preset=preset)
        torch.manual_seed(0)
        self.model = build_model(config, data_spec(sprites.palette, *sprites.size, None)).to(device).train()
        if "channels_last" in self.options:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, fused="fused" in self.options)
        self.loss_of = torch.compile(self.model.loss) if "compile" in self.options else self.model.loss
        self.every = torch.from_numpy(np.ascontiguousarray(sprites.indices)).long().to(device)  # (N,H,W)
        self.steps_done = 0

    def run(self, steps: int) -> float:
        """Seconds for `steps` training steps of batch 64."""
        sync_device(self.device)
        started = time.perf_counter()
        for _ in range(steps):
            batch = self.every[torch.randint(len(self.every), (64,), device=self.device)]
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled="bf16" in self.options):
                loss = self.loss_of({"indices": batch}, step=self.steps_done)["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps_done += 1
        sync_device(self.device)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vae")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--variants", default="plain,fused,channels_last,fused+channels_last,bf16,compile,fused+channels_last+compile"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    variants = [Variant(args.model, args.preset, name, device) for name in args.variants.split(",")]
    first = {v.name: v.run(5) for v in variants}  # includes compiling, for the compile variant
    # Interleaved rounds, median per variant: this shared machine's speed drifts by tens of percent over minutes.
    rounds: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            rounds[v.name].append(64 * args.steps / v.run(args.steps))
    rows = [
        {
            "variant": name,
            "images_per_second": statistics.median(speeds),
            "rounds": speeds,
            "first_5_steps_seconds": first[name],
        }
        for name, speeds in rounds.items()
    ]
    print("| variant | train images/s (median) | slowest-fastest round | first 5 steps (s) |\n|---|---|---|---|")
    for row in rows:
        low, high = min(row["rounds"]), max(row["rounds"])
        print(
            f"| {row['variant']} | {row['images_per_second']:,.0f} | {low:,.0f}-{high:,.0f} | {row['first_5_steps_seconds']:.1f} |"
        )
    out = ROOT / "benchmarks" / "results" / f"fast_path_{device.type}.json"
    document = {"model": args.model, "preset": args.preset, "threads": torch.get_num_threads(), "rows": rows}
    io.write_text(out, json.dumps(document, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
