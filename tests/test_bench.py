"""`spriteforge bench` on a tiny budget: every figure is measured (positive, finite) and the JSON is written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from spriteforge import cli
from spriteforge.bench import BenchConfig, run_bench
from typer.testing import CliRunner


def test_bench_measures_engine_baseline_sampling_and_flops(tmp_path: Path) -> None:
    lines: list[str] = []
    results = run_bench(BenchConfig(["vae"], steps=3, warmup=1, count=40, batch_size=16), progress=lines.append)
    (result,) = results
    assert result.model == "vae" and result.preset == "default" and result.device.startswith("CPU")
    for value in (
        result.train_images_per_second,
        result.baseline_images_per_second,
        result.resident_baseline_images_per_second,
        result.sample16_seconds,
        result.sample_sprites_per_second,
        result.train_gflops_per_image,
        result.peak_tflops,
        result.share_of_peak,
        result.peak_memory_mb,
    ):
        assert math.isfinite(value) and value > 0
    assert result.speedup == pytest.approx(result.train_images_per_second / result.baseline_images_per_second)
    assert result.parameters > 1000 and any("matmul peak" in line for line in lines)


def test_bench_command_writes_a_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench.json"
    result = CliRunner().invoke(
        cli.app,
        [
            "bench",
            "--models",
            "ae",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--count",
            "40",
            "--batch-size",
            "16",
            "--no-baseline",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "spriteforge bench: procedural" in result.output and "matmul peak" in result.output
    (row,) = json.loads(out.read_text())
    assert row["model"] == "ae" and row["baseline_images_per_second"] is None and row["train_images_per_second"] > 0
    assert row["resident_baseline_images_per_second"] is None


def test_bench_rejects_unknown_models_and_devices() -> None:
    from spriteforge.errors import SpriteforgeError

    with pytest.raises(SpriteforgeError, match="unknown model 'gpt'"):
        run_bench(BenchConfig(["gpt"]))
    with pytest.raises(SpriteforgeError, match="--device 'tpu': choose cpu or cuda"):
        run_bench(BenchConfig(["vae"], device="tpu"))


def test_step_meter_stops_at_the_last_step_not_after_the_final_sample_grid(tmp_path: Path) -> None:
    """The run writer draws a sample grid and writes a checkpoint in on_train_end; that is not training time, so
    the meter's window is already closed when any on_train_end runs (here a probe placed before the meter)."""
    from lightning.pytorch.callbacks import Callback
    from spriteforge.bench import StepMeter
    from spriteforge.engine.train import train

    meter = StepMeter(warmup=1)

    class Probe(Callback):
        def on_train_end(self, trainer, module) -> None:  # noqa: ANN001 (Lightning's hook)
            self.seconds_at_end = meter.seconds

    probe = Probe()
    overrides = [
        "ae.channels=[8,16]",
        "ae.latent_dim=4",
        "train.batch_size=8",
        "train.max_steps=4",
        "data.count=32",
        "train.progress=false",
        "train.val_fraction=0",
    ]
    train("ae", "procedural", tmp_path / "run", overrides=overrides, logger="none", callbacks=[probe, meter])
    assert probe.seconds_at_end > 0 and meter.images == 3 * 8  # steps 2-4 timed, step 1 counted for FLOPs
    assert meter.flops_per_image > 0
