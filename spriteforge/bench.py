"""`spriteforge bench`: how fast each registered model trains and samples, measured against a textbook loop.

For every model, at its default configuration and at its "reference" preset when it has one:
- engine training images/s in steady state (the first `warmup` steps are not timed), through `spriteforge.train`
  exactly as users run it, with validation, sample grids and checkpoints off;
- the same model and data through a plain PyTorch loop (a DataLoader decoding PNG files with PIL, one
  `.item()` per step), so the engine's speed-up is a ratio measured in the same process;
- sampling latency for 16 sprites (median of 5) and sprites/s in batches of 256, for models that sample (none for
  a translator or a VQ-VAE);
- parameters, peak memory, FLOPs per training image (torch's FLOP counter) and the achieved FLOP/s as a share of
  this machine's matmul peak, measured in the same run.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from spriteforge import io
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import load_sprites
from spriteforge.engine import run as runfiles
from spriteforge.engine.config import build_config
from spriteforge.engine.parts import load_frozen_parts
from spriteforge.engine.train import train
from spriteforge.engine.trained import Run
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import GenerativeModel, model_class

DEFAULT = "default"


@dataclass
class BenchConfig:
    models: list[str]
    data: str = "procedural"
    device: str = "cpu"
    size: int = 16
    count: int = 1024  # sprites (the dataset is written to PNG files so both loops read the same ones)
    batch_size: int = 64
    steps: int = 60  # timed training steps
    warmup: int = 10  # untimed steps before them
    baseline: bool = True
    compile: bool = False  # the engine's runs through torch.compile (the textbook loop stays plain)


@dataclass
class BenchResult:
    model: str
    preset: str
    device: str
    parameters: int
    train_images_per_second: float
    baseline_images_per_second: float | None
    # The same textbook loop with its data decoded once and held in memory: what removing data loading alone buys.
    resident_baseline_images_per_second: float | None
    speedup: float | None
    sample16_seconds: float | None  # None: the model cannot sample
    sample_sprites_per_second: float | None
    peak_memory_mb: float
    memory_kind: str
    train_gflops_per_image: float
    achieved_tflops: float
    peak_tflops: float
    share_of_peak: float


def run_bench(config: BenchConfig, progress: Callable[[str], None] = print) -> list[BenchResult]:
    """Measure every model x preset of `config`; `progress` receives one line per stage."""
    device = _device(config.device)
    classes = {name: model_class(name) for name in config.models}  # unknown names fail before any work
    progress(f"measuring the {device.type} matmul peak")
    peak = matmul_peak_flops(device)
    results = []
    with tempfile.TemporaryDirectory(prefix="spriteforge-bench-") as scratch:
        folder = _write_dataset(config, Path(scratch) / "data")
        for name, cls in classes.items():
            for preset in [DEFAULT, *(["reference"] if "reference" in cls.presets else [])]:
                progress(f"{name} ({preset}): training, then sampling")
                results.append(
                    _bench_one(name, preset, folder, config, device, peak, Path(scratch) / f"{name}-{preset}")
                )
    return results


def matmul_peak_flops(device: torch.device, repeats: int = 10) -> float:
    """FLOP/s of a large float32 (CPU) or bf16 (CUDA) matmul on `device`: the reference for 'share of peak'."""
    size, dtype = (4096, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    sync_device(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync_device(device)
    return 2 * size**3 * repeats / (time.perf_counter() - started)


class StepMeter(Callback):
    """FLOPs of the first training step (torch's counter, whatever the model's loss and groups do), then the wall
    time of the steps after the first `warmup`, synchronising the device only at the window's ends.

    The window closes at the end of the last training step, not in on_train_end: the run writer's final sample
    grid and checkpoint happen there, and they are not training."""

    def __init__(self, warmup: int) -> None:
        self.warmup = max(1, warmup)  # the counted first step is slow: it is never timed
        self.started: float | None = None
        self.images = 0
        self.seconds = 0.0
        self.flops_per_image = 0.0
        self._counter: FlopCounterMode | None = None

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == 0:
            # Counted eagerly: torch.compile does not trace under a dispatch mode (it would run eagerly for good).
            torch.compiler.set_stance("force_eager")
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        if trainer.global_step == self.warmup:
            sync_device(module.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            torch.compiler.set_stance("default")
            self.flops_per_image = self._counter.get_total_flops() / int(batch["indices"].shape[0])
            self._counter = None
        if self.started is not None:
            self.images += int(batch["indices"].shape[0]) * trainer.world_size
            if trainer.global_step >= trainer.max_steps:
                sync_device(module.device)
                self.seconds = time.perf_counter() - self.started

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def _bench_one(
    name: str, preset: str, data: Path, config: BenchConfig, device: torch.device, peak: float, out: Path
) -> BenchResult:
    cls = model_class(name)
    overrides = _train_overrides(config, device)
    overrides += prerequisites(cls, data, out.with_name(f"{out.name}-prerequisites"), overrides)
    chosen = None if preset == DEFAULT else preset
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    meter = StepMeter(config.warmup)
    run = train(name, data, out, overrides=overrides, logger="none", preset=chosen, callbacks=[meter])
    memory, memory_kind = _peak_memory_mb(device)
    run.to(device)
    latency, per_second = _sampling_speed(run) if "sample" in run.model.capabilities() else (None, None)
    # The textbook loop feeds sprites only; a model that needs more in its batches (a second domain) has no baseline.
    measurable = config.baseline and not cls.batch_keys
    baseline, resident = (
        [textbook_images_per_second(name, chosen, overrides, data, config, device, held) for held in (False, True)]
        if measurable
        else [None, None]
    )
    achieved = meter.flops_per_image * meter.images_per_second
    return BenchResult(
        model=name,
        preset=preset,
        device=_device_name(device),
        parameters=sum(p.numel() for p in run.model.parameters()),
        train_images_per_second=meter.images_per_second,
        baseline_images_per_second=baseline,
        resident_baseline_images_per_second=resident,
        speedup=meter.images_per_second / baseline if baseline else None,
        sample16_seconds=latency,
        sample_sprites_per_second=per_second,
        peak_memory_mb=memory,
        memory_kind=memory_kind,
        train_gflops_per_image=meter.flops_per_image / 1e9,
        achieved_tflops=achieved / 1e12,
        peak_tflops=peak / 1e12,
        share_of_peak=achieved / peak,
    )


def prerequisites(cls: type[GenerativeModel], data: Path, workdir: Path, overrides: list[str]) -> list[str]:
    """Extra overrides that let model `cls` train on the sprite folder `data` alone, from what it declares: each frozen
    part is first trained in `workdir` (its config's default part model, same data and `overrides`), and a second
    image domain is the sprite folder itself (any images will do for timing a training step)."""
    extra = []
    for part in cls.frozen_parts:
        part_model = getattr(cls.Config(), part.model_field)
        part_run = train(part_model, data, workdir / part.key, overrides=overrides, logger="none")
        extra.append(f"{cls.name}.{part.key}={part_run.path}")
    if "domain_a" in cls.batch_keys:
        extra.append(f"data.domain_a={data}")
    return extra


def _train_overrides(config: BenchConfig, device: torch.device) -> list[str]:
    return [
        f"train.max_steps={max(1, config.warmup) + config.steps}",
        f"train.batch_size={config.batch_size}",
        "train.val_fraction=0.0",
        "train.sample_every=0",
        "train.checkpoint_every=0",
        "train.progress=false",
        f"train.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
        "train.devices=1",
        f"data.size={config.size}",
        f"train.compile={str(config.compile).lower()}",
    ]


def _sampling_speed(run: Run) -> tuple[float, float]:
    """(median seconds for 16 sprites over 5 seeded calls, sprites/s for one batch of 256)."""
    run.generate(16, seed=0)  # warm-up: first-call allocations and lazy initialisation
    latencies = []
    for seed in range(5):
        started = time.perf_counter()
        run.generate(16, seed=seed)
        sync_device(run.device)
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    run.generate(256, seed=0)
    sync_device(run.device)
    return statistics.median(latencies), 256 / (time.perf_counter() - started)


# -------------------------------------------------------------------------------------- the textbook baseline


class PNGFolder(Dataset):
    """What a tutorial would write: decode one PNG file per item with PIL, map its colours to palette indices."""

    def __init__(self, folder: Path, palette: Palette) -> None:
        self.files = io.list_images(folder)
        self.palette = palette

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        rgba = np.asarray(Image.open(self.files[i]).convert("RGBA"))
        return torch.from_numpy(self.palette.index(rgba[None])[0].astype(np.int64))


def textbook_images_per_second(
    name: str,
    preset: str | None,
    overrides: list[str],
    data: Path,
    config: BenchConfig,
    device: torch.device,
    resident: bool = False,
) -> float:
    """The same model, data and batch size through a plain loop: DataLoader + AdamW + `.item()` every step.

    resident: the files are decoded once and batches are drawn from one tensor on the device instead, so the
    difference between the two loops is the cost of the DataLoader alone."""
    run_config = build_config(name, overrides=overrides, preset=preset)
    run_config.data.source = str(data)
    parts = load_frozen_parts(run_config)  # e.g. a prior's trained VQ-VAE, whose palette the prior takes
    sprites = load_sprites(data, size=config.size, palette=run_config.data.palette)
    torch.manual_seed(0)
    spec = runfiles.data_spec(sprites.palette, *sprites.size, None)
    model = runfiles.build_model(run_config, spec, parts).to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    files = PNGFolder(data, sprites.palette)
    batches = (
        _resident_batches(files, config.batch_size, device)
        if resident
        else _forever(DataLoader(files, batch_size=config.batch_size, shuffle=True, drop_last=True))
    )
    losses, images, started = [], 0, 0.0
    for step, indices in enumerate(batches):
        if step == config.warmup:
            sync_device(device)
            started = time.perf_counter()
        if step == config.warmup + config.steps:
            break
        loss = model.loss({"indices": indices.to(device)}, step=step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # the per-step host sync a tutorial loop has
        images += len(indices) if step >= config.warmup else 0
    sync_device(device)
    return images / (time.perf_counter() - started)


def _forever(loader: DataLoader) -> Iterator[torch.Tensor]:
    while True:
        yield from loader


def _resident_batches(files: PNGFolder, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Random (B,H,W) batches of the whole folder, decoded once and kept on `device`."""
    every = torch.stack([files[i] for i in range(len(files))]).to(device)  # (N,H,W)
    while True:
        yield every[torch.randint(len(every), (batch_size,), device=device)]


# -------------------------------------------------------------------------------------- helpers


def _write_dataset(config: BenchConfig, folder: Path) -> Path:
    """The benchmark's sprites as PNG files, so the engine and the textbook loop read exactly the same data."""
    sprites = load_sprites(config.data, size=config.size, count=config.count)
    if len(sprites) < config.batch_size:
        raise SpriteforgeError(
            f"--data {config.data}: {len(sprites)} sprites, fewer than one batch of {config.batch_size}."
        )
    sprites.save_each(folder, prefix="sprite")
    return folder


def _device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SpriteforgeError("--device cuda: no CUDA device is available here; use --device cpu.")
    if choice not in ("cpu", "cuda"):
        raise SpriteforgeError(f"--device {choice!r}: choose cpu or cuda.")
    return torch.device(choice)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "CUDA peak allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS"


def sync_device(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it measures that work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_results(results: list[BenchResult], path: Path) -> Path:
    """The results as JSON, atomically."""
    io.write_text(path, json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return path
