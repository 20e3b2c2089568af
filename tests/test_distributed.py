"""Real DDP: two CPU processes (gloo) started by Lightning from the CLI, against the single-process run.

One run folder, written by rank 0 only; each logged step appears once; the loss goes down as it does in one
process; the images/s count covers both ranks; a DDP run resumes from its checkpoint.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SPRITEFORGE = Path(sys.executable).parent / "spriteforge"
TINY = [
    "--set",
    "vae.channels=[8,16]",
    "--set",
    "vae.latent_dim=4",
    "--set",
    "train.batch_size=16",
    "--set",
    "data.count=160",
    "--set",
    "train.val_every=10",
    "--set",
    "train.sample_every=10",
    "--set",
    "train.checkpoint_every=10",
    "--set",
    "train.progress=false",
    "--set",
    "train.accelerator=cpu",
    "--set",
    "train.lr=3e-3",
    "--logger",
    "csv",
]
DDP = ["--devices", "2", "--strategy", "ddp"]


def spriteforge(*args: object, timeout: int = 300) -> subprocess.CompletedProcess:
    launcher_vars = ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    env = {k: v for k, v in os.environ.items() if k not in launcher_vars}
    result = subprocess.run(
        [str(SPRITEFORGE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def logged_losses(run: Path) -> dict[int, float]:
    """step -> train/loss from the CSV logger; a step logged twice (by two ranks) fails the test."""
    losses: dict[int, float] = {}
    with (run / "logs" / "metrics.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row.get("train/loss"):
                step = int(row["step"])
                assert step not in losses, f"step {step} logged twice"
                losses[step] = float(row["train/loss"])
    return losses


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp")
    spriteforge("train", "--model", "vae", "--data", "procedural", "--steps", 30, *TINY, "--out", root / "single")
    result = spriteforge(
        "train", "--model", "vae", "--data", "procedural", "--steps", 30, *TINY, *DDP, "--out", root / "ddp"
    )
    return {"single": root / "single", "ddp": root / "ddp", "root": root, "ddp_output": result.stdout}


def test_ddp_writes_one_run_folder_from_rank_zero(runs: dict) -> None:
    run = runs["ddp"]
    assert sorted(p.name for p in runs["root"].iterdir()) == ["ddp", "single"]
    assert {"config.yaml", "weights.safetensors", "last.ckpt", "metrics.json", "palette.hex"} <= {
        p.name for p in run.iterdir()
    }
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_000010.png",
        "step_000020.png",
        "step_000030.png",
    ]
    assert runs["ddp_output"].count("next: spriteforge sample") == 1  # rank 1 prints nothing


def test_ddp_loss_decreases_like_the_single_process_run(runs: dict) -> None:
    for name in ("single", "ddp"):
        losses = logged_losses(runs[name])
        steps = sorted(losses)
        assert len(steps) >= 3 and losses[steps[-1]] < losses[steps[0]], (name, losses)
    single = json.loads((runs["single"] / "metrics.json").read_text())
    ddp = json.loads((runs["ddp"] / "metrics.json").read_text())
    assert single["steps"] == ddp["steps"] == 30
    # Two ranks each train a batch per step: the run saw twice the images of the single-process run.
    assert ddp["train_images"] == 2 * single["train_images"]


def test_ddp_run_resumes(runs: dict) -> None:
    spriteforge("train", "--resume", runs["ddp"], "--steps", 40, *DDP)
    metrics = json.loads((runs["ddp"] / "metrics.json").read_text())
    assert metrics["steps"] == 40
    steps = sorted(logged_losses(runs["ddp"]))
    assert steps[0] < 30 < steps[-1]  # the resumed session appended to the first one's log


@pytest.mark.parametrize(
    "env, worker",
    [
        ({}, False),
        ({"RANK": "0", "LOCAL_RANK": "0"}, False),
        ({"LOCAL_RANK": "1"}, True),
        ({"RANK": "3"}, True),
        ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, True),
        ({"SLURM_PROCID": "5"}, True),
        ({"SLURM_PROCID": "0"}, False),
    ],
)
def test_only_global_rank_zero_is_not_a_worker(monkeypatch: pytest.MonkeyPatch, env: dict, worker: bool) -> None:
    from spriteforge.engine.train import is_launched_worker

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_launched_worker() is worker
