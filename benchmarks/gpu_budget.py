"""GPU rows of docs/benchmarks.md: the budget recipe trained for a wall-clock budget on one CUDA device, with bf16
autocast and torch.compile on and off.

    python benchmarks/gpu_budget.py --data ../shared/data/kenney/focused_873 --time 60s --out runs/gpu_budget

Each variant trains `discrete_diffusion --preset cpu15` for --time, then draws 256 samples on the device (timed
after a warm-up batch). Writes OUT/gpu_budget.json (steps, training images/s, sampling images/s, device name) and
leaves each run folder in OUT, to be scored like any run (`spriteforge eval RUN --data DATA --n 256`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import spriteforge as sf
import torch
from spriteforge import io
from spriteforge.engine.config import BUDGET_MODEL, BUDGET_PRESET

# name -> overrides: float32, bf16 autocast (the GPU default), bf16 with torch.compile
VARIANTS = {
    "fp32": ["train.precision=32", "train.compile=false"],
    "bf16": ["train.precision=bf16-mixed", "train.compile=false"],
    "bf16_compile": ["train.precision=bf16-mixed", "train.compile=true"],
}
SAMPLES = 256


def sampling_rate(run: sf.Run) -> float:
    run.sample(16, seed=1)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    started = time.perf_counter()
    run.sample(SAMPLES, seed=0)
    torch.cuda.synchronize()
    return SAMPLES / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--time", default="60s")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_budget"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "time": args.time, "rows": {}}
    for name in args.variants.split(","):
        out = args.out / name
        overrides = [*VARIANTS[name], "train.logger=none", "train.progress=false"]
        run = sf.train(BUDGET_MODEL, args.data, out, overrides=overrides, preset=BUDGET_PRESET, time=args.time)
        metrics = json.loads((out / "metrics.json").read_text())
        results["rows"][name] = {
            "steps": metrics["steps"],
            "wall_seconds": metrics["wall_seconds"],
            "train_images_per_second": metrics["train_images_per_second"],
            "samples_per_second": round(sampling_rate(run.to("cuda")), 1),
        }
        print(name, results["rows"][name], flush=True)
    io.write_text(args.out / "gpu_budget.json", json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
