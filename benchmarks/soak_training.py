"""Soak: a tiny training SIGKILLed at random moments, resumed after each kill, compared with an uninterrupted run.

    PYTHONPATH=. .venv/bin/python benchmarks/soak_training.py [--kills 100] [--kills-per-run 20] [--steps 1500]
        [--seed 0] [--out /tmp/soak]

Each run (an AE with channels [8,16] on 64 procedural 16x16 sprites, a checkpoint every 25 steps) is started
with `python -m spriteforge.cli train`, killed with SIGKILL, resumed with `train --resume`, killed again, and so
on `--kills-per-run` times; then resumed to the end. One kill in ten lands at a random moment of the process's
start-up (imports, data, restoring the checkpoint); the others at a random moment up to 1 s after the process
wrote its first checkpoint. Counted: corrupted run folders (a resume that fails, or a run that does not end with
readable weights), runs whose final weights are bit-identical to the uninterrupted run's, and steps lost per
kill, estimated as the time from the last checkpoint's write to the kill over the uninterrupted run's step time.
Writes benchmarks/results/soak_training.json. Not part of `make test`: about 5 s per kill on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
CONFIG = [
    "ae.channels=[8,16]",
    "ae.latent_dim=4",
    "train.batch_size=16",
    "data.count=64",  # 58 training sprites: 3 batches an epoch
    "train.checkpoint_every=25",
    "train.val_every=50",
    "train.warmup_steps=10",
    "train.sample_every=0",
    "train.progress=false",
]


def cli(*args: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "spriteforge.cli", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def train_args(out: Path, steps: int) -> list[object]:
    sets = [part for item in CONFIG for part in ("--set", item)]
    return ["train", "--model", "ae", "--data", "procedural", "--out", out, "--logger", "none", "--steps", steps, *sets]


def checkpoint_step(run: Path) -> int | None:
    try:
        return torch.load(run / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]
    except Exception:  # absent or unreadable: the caller counts it
        return None


def kill_once(
    process: subprocess.Popen, run: Path, chance: random.Random, during_startup: bool
) -> tuple[str, str, float]:
    """SIGKILL the process at a random moment; returns (what happened, its stderr, the kill's time.time())."""
    started = time.monotonic()
    if during_startup:
        time.sleep(chance.uniform(0, 4.0))
    else:
        previous = (run / "last.ckpt").stat().st_ino if (run / "last.ckpt").exists() else None
        while process.poll() is None:
            if (run / "last.ckpt").exists() and (run / "last.ckpt").stat().st_ino != previous:
                break
            if time.monotonic() - started > 120:
                raise SystemExit(f"{run}: no checkpoint after 120 s")
            time.sleep(0.01)
        time.sleep(chance.uniform(0, 1.0))
    if process.poll() is not None:
        return ("finished" if process.returncode == 0 else "failed"), process.communicate()[1], time.time()
    process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    return "killed", process.communicate()[1], killed_at


def weights_equal(a: Path, b: Path) -> bool:
    first, second = load_file(str(a)), load_file(str(b))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--kills-per-run", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/spriteforge_soak"))
    args = parser.parse_args()
    chance = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=False)
    began = time.monotonic()

    straight = args.out / "straight"
    if cli(*train_args(straight, args.steps)).wait() != 0:
        raise SystemExit("the uninterrupted run failed")
    metrics = json.loads((straight / "metrics.json").read_text())
    step_seconds = metrics["wall_seconds"] / metrics["steps"]

    kills, lost, failures, runs = 0, [], [], []
    while kills < args.kills:
        run = args.out / f"run{len(runs)}"
        process, outcome = cli(*train_args(run, args.steps)), "running"
        for _ in range(min(args.kills_per_run, args.kills - kills)):
            startup = chance.random() < 0.1
            outcome, stderr, killed_at = kill_once(process, run, chance, during_startup=startup)
            if outcome == "failed":
                failures.append(f"{run}: {stderr.strip().splitlines()[-1:]}")
            if outcome != "killed":
                break
            kills += 1
            if not startup and checkpoint_step(run) is not None:  # the loss since this process's last checkpoint
                lost.append(int((killed_at - (run / "last.ckpt").stat().st_mtime) / step_seconds))
            if not (run / "last.ckpt").exists():  # killed before its first checkpoint: the documented route is
                shutil.rmtree(run, ignore_errors=True)  # to delete the folder and start again
                process = cli(*train_args(run, args.steps))
            else:
                process = cli("train", "--resume", run)
        if outcome == "killed":  # the last kill's resume runs to the end (otherwise the process already ended)
            stderr = process.communicate()[1]
        if process.returncode != 0 and outcome != "failed":  # a failure is already counted
            failures.append(f"{run}: exit {process.returncode}: {stderr.strip().splitlines()[-1:]}")
        readable = (run / "weights.safetensors").is_file() and (run / "metrics.json").is_file()
        identical = readable and weights_equal(straight / "weights.safetensors", run / "weights.safetensors")
        runs.append({"run": str(run), "complete": readable, "bit_identical": identical})
        print(f"{run}: kills so far {kills}, complete {readable}, bit-identical {identical}", flush=True)

    result = {
        "command": " ".join(sys.argv),
        "kills": kills,
        "runs": len(runs),
        "corrupted_run_folders": sum(not r["complete"] for r in runs) + len(failures),
        "bit_identical_runs": sum(r["bit_identical"] for r in runs),
        "failures": failures,
        "kills_after_a_checkpoint": len(lost),  # the others landed in start-up, before any step
        "estimated_steps_lost_max": max(lost, default=None),
        "estimated_steps_lost_mean": round(sum(lost) / len(lost), 1) if lost else None,
        "step_seconds": round(step_seconds, 4),
        "checkpoint_every": 25,
        "steps": args.steps,
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    path = ROOT / "benchmarks" / "results" / "soak_training.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
