"""`train` and `resume`: load data, build the model, run Lightning, leave a complete run folder."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger

from spriteforge.data.crops import image_crops
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine import run as runfiles
from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.callbacks import RunWriter
from spriteforge.engine.config import RunConfig, TrainConfig, build_config, load_config
from spriteforge.engine.loggers import log_config, make_logger
from spriteforge.engine.module import SCHEDULES, SpriteModule
from spriteforge.engine.parts import load_frozen_parts
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import GenerativeModel


def train(
    model: str | None = None,
    data: str | Path | None = None,
    out: str | Path = "runs/run",
    *,
    labels: str | Path | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    logger: str | None = None,
    representation: str | None = None,
    preset: str | None = None,
    callbacks: Sequence[Callback] = (),
) -> Run:
    """Train a registered model and return the loaded run.

    model: a registered name (default vae, or the one the config file names); data: folder, sheet or named dataset
    (default procedural); overrides: "section.key=value" strings, e.g. ["train.max_steps=500", "vae.beta=0.5"];
    representation: "index" or "rgba" for the model, whatever its name; preset: one of the model's named presets
    (`spriteforge models` lists them), applied before the config file and overrides; callbacks: extra Lightning
    callbacks (e.g. the benchmark's step timer).
    Nothing is written to `out` until the data, model, logger and trainer have all been built without error.
    """
    out = Path(out)
    worker = is_launched_worker()  # a multi-device run's extra process: it re-runs this call, into rank 0's folder
    if not worker and (out / runfiles.CONFIG).exists():
        hint = (
            f"Continue it with `spriteforge train --resume {out}`"
            if (out / runfiles.CHECKPOINT).exists()
            else "It stopped before its first checkpoint: delete the folder to start again"
        )
        raise SpriteforgeError(f"{out} already holds a run. {hint}, or choose another --out.")
    config = build_config(model, config_file, overrides, preset=preset)
    if data is not None:
        config.data.source = str(data)
    if labels is not None:
        config.data.labels = str(labels)
    parts = load_frozen_parts(config)  # e.g. a prior's trained VQ-VAE; the prior run takes its size and palette
    _anchor_paths(config)
    if logger is not None:
        config.train.logger = logger
    if representation is not None:
        config.model_config.representation = representation
    sprites = runfiles.load_data(config.data, palette=None)
    config.data.size = sprites.size[0]
    session = _prepare(out, config, sprites, callbacks, parts)
    if not worker:
        _write_run_files(out, config, sprites)
    return _fit(session, checkpoint=None)


def is_launched_worker() -> bool:
    """True in the processes a multi-device or multi-node run adds (Lightning's launcher, torchrun or SLURM give them
    a rank above 0): they train and synchronise, but only global rank 0 writes the run folder and logs."""
    launchers = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in launchers)


def resume(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Run:
    """Continue a run from RUN/last.ckpt (weights, optimizer, schedule, EMA, data position, random state);
    overrides may extend train.max_steps. The data is re-indexed into the run's own palette, so indices mean what
    they meant. Note that the cosine schedule ends at max_steps: extending it bends the rest of the curve."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / runfiles.CHECKPOINT
    if not checkpoint.is_file():
        raise SpriteforgeError(f"{run_dir}: no {runfiles.CHECKPOINT} to resume from. Start a new run with --out.")
    config = build_config(base=load_config(run_dir / runfiles.CONFIG), overrides=overrides)
    state = _read_checkpoint(checkpoint)
    done = int(state.get("global_step", 0))
    if done >= config.train.max_steps:
        raise SpriteforgeError(
            f"{run_dir} has already trained {done} steps (train.max_steps={config.train.max_steps}). "
            f"To train longer, give more: --steps {done * 2}."
        )
    palette = Palette.load(run_dir / runfiles.PALETTE)
    sprites = runfiles.load_data(config.data, palette=palette)
    session = _prepare(run_dir, config, sprites)
    _check_checkpoint_matches(checkpoint, state, session.module)
    if not is_launched_worker():
        runfiles.write_text(run_dir / runfiles.CONFIG, config.to_yaml())
    return _fit(session, checkpoint=checkpoint)


def _anchor_paths(config: RunConfig) -> None:
    """Store existing data, labels and palette paths as absolute, so the run can be resumed and evaluated from any
    folder. Named datasets and palettes are not paths and stay as they are."""
    data = config.data
    for field_name in ("source", "labels", "palette", "domain_a"):
        value = getattr(data, field_name)
        if value is not None and Path(value).exists():
            setattr(data, field_name, str(Path(value).resolve()))


def _write_run_files(out: Path, config: RunConfig, sprites: SpriteSet) -> None:
    out.mkdir(parents=True, exist_ok=True)
    runfiles.write_text(out / runfiles.CONFIG, config.to_yaml())
    sprites.palette.save(out / runfiles.PALETTE)
    if sprites.label_spec is not None:
        runfiles.write_text(out / runfiles.LABELS, sprites.label_spec.to_json())


@dataclass
class _Session:
    """Everything a fit needs, built (and so validated) before the run folder is touched."""

    out: Path
    config: RunConfig
    sprites: SpriteSet
    train_set: SpriteSet
    val_set: SpriteSet
    module: SpriteModule
    trainer: L.Trainer
    writer: RunWriter


def _prepare(
    out: Path,
    config: RunConfig,
    sprites: SpriteSet,
    callbacks: Sequence[Callback] = (),
    parts: dict[str, GenerativeModel] | None = None,
) -> _Session:
    train_cfg = config.train
    _quiet_lightning()
    L.seed_everything(train_cfg.seed, workers=False, verbose=False)
    train_set, val_set = sprites.split(train_cfg.val_fraction, seed=train_cfg.seed)
    if len(train_set) == 0:
        raise SpriteforgeError(f"{config.data.source}: no sprites left for training after the validation split.")
    if train_cfg.schedule not in SCHEDULES:
        raise SpriteforgeError(f"train.schedule={train_cfg.schedule!r}: choose one of {', '.join(SCHEDULES)}.")
    spec = runfiles.data_spec(sprites.palette, *sprites.size, sprites.label_spec)
    model = runfiles.build_model(config, spec, parts)
    domain_a = _domain_a(config, model, sprites.size[0])
    num_colors = len(sprites.palette)
    train_batches = SpriteBatches(
        train_set.indices,
        train_set.labels,
        min(train_cfg.batch_size, len(train_set)),
        num_colors=num_colors,
        shuffle=True,
        seed=train_cfg.seed,
        augment_config=config.data.augment,
        drop_last=True,
        domain_a=domain_a,
    )
    val_batches = (
        SpriteBatches(
            val_set.indices,
            val_set.labels,
            train_cfg.batch_size,
            num_colors=num_colors,
            shuffle=False,
            domain_a=domain_a,
        )
        if len(val_set)
        else None
    )
    module = SpriteModule(model, train_cfg, train_batches, val_batches)
    writer = RunWriter(
        out,
        train_cfg.checkpoint_every,
        train_cfg.sample_every,
        train_cfg.num_samples,
        train_set.labels,
        showcase=train_set.indices[: train_cfg.num_samples],
        showcase_photos=None if domain_a is None else domain_a[: train_cfg.num_samples],
    )
    logger = make_logger(train_cfg.logger, out)
    trainer = _trainer(
        train_cfg,
        logger,
        [writer, *callbacks],
        len(train_batches),
        val_batches is not None,
        out,
        module.automatic_optimization,
    )
    return _Session(out, config, sprites, train_set, val_set, module, trainer, writer)


def _domain_a(config: RunConfig, model: GenerativeModel, size: int) -> np.ndarray | None:
    """The second-domain crop pool (data.domain_a), refused early when the model needs one and none is given."""
    if config.data.domain_a is None:
        if "domain_a" in model.batch_keys:
            raise SpriteforgeError(
                f"model {config.model!r} learns from two domains: give a folder of photos or art for the other one "
                "with --set data.domain_a=FOLDER."
            )
        return None
    return image_crops(config.data.domain_a, size, config.data.domain_a_count, seed=config.train.seed)


def _trainer(
    train_cfg: TrainConfig,
    logger: Logger | bool,
    callbacks: list[Callback],
    batches_per_epoch: int,
    validate: bool,
    out: Path,
    automatic_optimization: bool = True,
) -> L.Trainer:
    try:
        return L.Trainer(
            max_steps=train_cfg.max_steps,
            accelerator=train_cfg.accelerator,
            devices=_devices(train_cfg.devices),
            num_nodes=train_cfg.num_nodes,
            strategy=train_cfg.strategy,
            # A config string: Lightning's parameter is a Literal of the names it knows, and it checks the value
            # itself (ValueError, caught below).
            precision=_precision(train_cfg.precision, train_cfg.accelerator),  # type: ignore[arg-type]
            # Manual optimisation (parameter groups) clips in SpriteModule; Lightning refuses to do it there.
            gradient_clip_val=(train_cfg.grad_clip or None) if automatic_optimization else None,
            logger=logger,
            callbacks=callbacks,
            enable_checkpointing=False,  # RunWriter writes last.ckpt atomically instead
            enable_progress_bar=train_cfg.progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            check_val_every_n_epoch=None,
            val_check_interval=train_cfg.val_every if validate else None,
            limit_val_batches=1.0 if validate else 0,
            use_distributed_sampler=False,
            log_every_n_steps=max(1, min(50, batches_per_epoch)),
            default_root_dir=str(out),
        )
    except (ValueError, MisconfigurationException) as error:
        raise SpriteforgeError(f"cannot set up training with this train config: {error}") from None


def _fit(session: _Session, checkpoint: Path | None) -> Run:
    if checkpoint is None and not is_launched_worker():  # a resumed run's parameters are already logged
        log_config(session.trainer.logger, session.config, session.out)
    # weights_only: our checkpoints hold only tensors and plain containers, so nothing is unpickled blindly.
    session.trainer.fit(session.module, ckpt_path=str(checkpoint) if checkpoint else None, weights_only=True)
    validating = len(session.val_set) > 0
    final = session.trainer.validate(session.module, verbose=False)[0] if validating else {}
    if session.trainer.is_global_zero:
        _write_metrics(session, final)
    return load_run(session.out)


def _devices(value: str) -> str | int | list[int]:
    """TrainConfig.devices as Lightning takes it: "auto", a count, or a list of ids ("[0,1]" or "0,1")."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if "," in text or text.startswith("["):
        return [int(part) for part in text.strip("[]").split(",") if part.strip()]
    return text


def _quiet_lightning() -> None:
    """Keep the console to the progress bar and our own summary: Lightning's start-up notes and tips are noise here."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    # A model may hold a frozen part in eval mode on purpose (a prior's VQ-VAE).
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")


def _precision(choice: str, accelerator: str) -> str:
    """'auto': bf16 autocast when training on a CUDA device that supports it, full precision elsewhere."""
    if choice != "auto":
        return choice
    on_cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_cuda and torch.cuda.is_bf16_supported() else "32-true"


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only (no arbitrary unpickling), refusing a corrupt or foreign file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read is a bad file: torch raises several unrelated types
        state = error
    if not isinstance(state, dict):
        kind = type(state).__name__
        raise SpriteforgeError(
            f"{path}: unreadable checkpoint ({kind}). It is corrupt or was not written by spriteforge; "
            "delete it and start a new run, or restore it from a backup."
        ) from None
    return state


def _check_checkpoint_matches(path: Path, state: dict[str, Any], module: SpriteModule) -> None:
    """Refuse a checkpoint of another model or config before Lightning loads it."""
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    saved = state.get("state_dict", {})
    found = {name: tuple(getattr(t, "shape", ())) for name, t in saved.items()}
    if found != expected:
        differing = sorted(set(found.items()) ^ set(expected.items()))
        raise SpriteforgeError(
            f"{path}: this checkpoint does not match the run's model ({len(differing)} differing tensors or shapes, "
            f"e.g. {differing[:2]}). It comes from another model or config; resume the run it belongs to."
        )


def _write_metrics(session: _Session, final: Mapping[str, float]) -> None:
    writer = session.writer
    metrics = {
        "model": session.config.model,
        "steps": writer.last_step,
        "train_sprites": len(session.train_set),
        "val_sprites": len(session.val_set),
        "size": session.sprites.size[0],
        "palette_colors": len(session.sprites.palette) - 1,
        "wall_seconds": round(writer.wall_seconds, 2),
        "train_images": writer.images,  # over all ranks and resumes
        "train_images_per_second": round(writer.images / max(writer.step_seconds, 1e-9), 1),
        **{k: round(float(v), 5) for k, v in final.items()},
    }
    runfiles.write_text(session.out / runfiles.METRICS, json.dumps(metrics, indent=2) + "\n")
