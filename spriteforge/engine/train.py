"""`train` and `resume`: load data, build the model, run Lightning, leave a complete run folder."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
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
from lightning.pytorch.utilities.exceptions import SIGTERMException

from spriteforge import io
from spriteforge.data.crops import image_crops
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine import run as runfiles
from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.callbacks import RunWriter, StepProgressBar
from spriteforge.engine.config import RunConfig, TrainConfig, build_config, load_config, parse_duration
from spriteforge.engine.loggers import log_config, make_logger
from spriteforge.engine.module import SCHEDULES, SpriteModule
from spriteforge.engine.parts import load_frozen_parts
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import Interrupted, SpriteforgeError
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
    time: str | float | None = None,
) -> Run:
    """Train a registered model and return the loaded run.

    model: a registered name (default vae, or the one the config file names); data: folder, sheet or named dataset
    (default procedural); overrides: "section.key=value" strings, e.g. ["train.max_steps=500", "vae.beta=0.5"];
    representation: "index" or "rgba" for the model, whatever its name; preset: one of the model's named presets
    (`spriteforge models` lists them), applied before the config file and overrides; callbacks: extra Lightning
    callbacks (e.g. the benchmark's step timer); time: a training time budget ("15m", "1h30m", 90 seconds; the
    same as train.max_time): training stops when it is spent, with its schedules fitted to it.
    Nothing is written to `out` until the data, model, logger and trainer have all been built without error.
    """
    out = Path(out)
    worker = is_launched_worker()  # a multi-device run's extra process: it re-runs this call, into rank 0's folder
    if not worker:
        _refuse_existing_run(out)  # early, before the data is loaded; checked again under the lock
    config = build_config(model, config_file, _with_time(overrides, time), preset=preset)
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
    if config.data.is_sheet:
        config.data.slots = sprites.slots
    session = _prepare(out, config, sprites, callbacks, parts)
    if worker:
        return _fit(session, checkpoint=None)
    out.mkdir(parents=True, exist_ok=True)
    with runfiles.single_writer(out):
        _refuse_existing_run(out)  # another process may have started this run while the data loaded
        _write_run_files(out, config, sprites)
        return _fit(session, checkpoint=None)


def _refuse_existing_run(out: Path) -> None:
    if not (out / runfiles.CONFIG).exists():
        return
    hint = (
        f"Continue it with `spriteforge train --resume {out}`"
        if (out / runfiles.CHECKPOINT).exists()
        else "It stopped before its first checkpoint: delete the folder to start again"
    )
    raise SpriteforgeError(f"{out} already holds a run. {hint}, or choose another --out.")


def is_launched_worker() -> bool:
    """True in the processes a multi-device or multi-node run adds (Lightning's launcher, torchrun or SLURM give them
    a rank above 0): they train and synchronise, but only global rank 0 writes the run folder and logs."""
    launchers = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in launchers)


def _with_time(overrides: list[str] | tuple[str, ...], time: str | float | None) -> list[str]:
    return [*overrides, f"train.max_time={time}"] if time is not None else list(overrides)


def resume(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), time: str | float | None = None) -> Run:
    """Continue a run from RUN/last.ckpt (weights, optimizer, schedule, EMA, data position, random state);
    overrides may extend train.max_steps, `time` (train.max_time) the time budget: the time already trained counts. The data is re-indexed into the run's own palette, so indices mean what
    they meant. Note that the cosine schedule ends at max_steps: extending it bends the rest of the curve."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / runfiles.CHECKPOINT
    if not checkpoint.is_file():
        raise SpriteforgeError(f"{run_dir}: no {runfiles.CHECKPOINT} to resume from. Start a new run with --out.")
    if is_launched_worker():
        return _resume(run_dir, checkpoint, _with_time(overrides, time))
    with runfiles.single_writer(run_dir):
        return _resume(run_dir, checkpoint, _with_time(overrides, time))


def _resume(run_dir: Path, checkpoint: Path, overrides: list[str] | tuple[str, ...]) -> Run:
    config = build_config(base=load_config(run_dir / runfiles.CONFIG), overrides=overrides)
    state = _read_checkpoint(checkpoint)
    done = state["global_step"]
    spent = _budget_spent(config.train, state)
    finishing = done >= config.train.max_steps or spent  # trained, but the final writes may not all have happened
    if finishing and _finished(run_dir, done):
        if spent:
            raise SpriteforgeError(
                f"{run_dir} has already trained for its time budget (train.max_time={config.train.max_time}). "
                "To train longer, give a larger one, e.g. --time 2h (the time already trained counts)."
            )
        raise SpriteforgeError(
            f"{run_dir} has already trained {done} steps (train.max_steps={config.train.max_steps}). "
            f"To train longer, give more: --steps {done * 2}."
        )
    palette = Palette.load(run_dir / runfiles.PALETTE)
    sprites = runfiles.load_data(config.data, palette=palette)
    session = _prepare(run_dir, config, sprites)
    _check_checkpoint_matches(checkpoint, state, session)
    session.writer.checkpoint_step = done
    if not finishing and not is_launched_worker():
        io.write_text(run_dir / runfiles.CONFIG, config.to_yaml())
    return _fit(session, checkpoint=checkpoint)


def _budget_spent(train_config: TrainConfig, state: dict[str, Any]) -> bool:
    """Whether the checkpoint's training time (the run writer's clock) has used up the run's time budget."""
    if train_config.max_time is None:
        return False
    writers = [v for k, v in state["callbacks"].items() if k.startswith(RunWriter.__name__) and isinstance(v, dict)]
    trained = writers[0].get("wall_seconds", 0.0) if writers else 0.0
    return isinstance(trained, (int, float)) and trained >= parse_duration(train_config.max_time)


def _finished(run_dir: Path, step: int) -> bool:
    """Whether the final writes after `step` happened: metrics.json, written last, says it was trained that far."""
    try:
        metrics = json.loads((run_dir / runfiles.METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and metrics.get("steps") == step and (run_dir / runfiles.WEIGHTS).is_file()


def _anchor_paths(config: RunConfig) -> None:
    """Store existing data, labels and palette paths as absolute, so the run can be resumed and evaluated from any
    folder. Named datasets and palettes are not paths and stay as they are."""
    data = config.data
    for field_name in ("source", "labels", "palette", "domain_a", "sheet_csv"):
        value = getattr(data, field_name)
        if value is not None and Path(value).exists():
            setattr(data, field_name, str(Path(value).resolve()))


def _write_run_files(out: Path, config: RunConfig, sprites: SpriteSet) -> None:
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / runfiles.CONFIG, config.to_yaml())
    sprites.palette.save(out / runfiles.PALETTE)
    if sprites.label_spec is not None:
        io.write_text(out / runfiles.LABELS, sprites.label_spec.to_json())


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
            callbacks=[*callbacks, StepProgressBar()] if train_cfg.progress else callbacks,
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
    """Train (or restore and only finish), then the final writes: last.ckpt, samples, weights, metrics.json last.

    SIGINT and SIGTERM stop it at the end of a step, after a checkpoint, raising Interrupted (see StopSignals)."""
    if checkpoint is None and not is_launched_worker():  # a resumed run's parameters are already logged
        log_config(session.trainer.logger, session.config, session.out)
    trainer, module, writer = session.trainer, session.module, session.writer
    with writer.stop.installed():
        try:
            _train(session, checkpoint)
            writer.write_results(trainer, module)
            validating = len(session.val_set) > 0
            final = trainer.validate(module, verbose=False)[0] if validating else {}
        except SIGTERMException:  # Lightning's own handler had SIGTERM (before training started, or in validation)
            raise _interrupted(Interrupted(signal.SIGTERM), session) from None
        except Interrupted as stop:
            raise _interrupted(stop, session) from None
    if trainer.is_global_zero:
        _write_metrics(session, final)
    return load_run(session.out)


def _train(session: _Session, checkpoint: Path | None) -> None:
    """trainer.fit; a checkpoint that passed our checks but that Lightning still cannot restore is bad input."""
    try:
        # weights_only: our checkpoints hold only tensors and plain containers, so nothing is unpickled blindly.
        session.trainer.fit(session.module, ckpt_path=str(checkpoint) if checkpoint else None, weights_only=True)
    except Exception as error:
        if checkpoint is None or session.writer.training_started or isinstance(error, Interrupted):
            raise
        raise SpriteforgeError(
            f"{checkpoint}: cannot be restored ({type(error).__name__}: {error}). It is damaged or was not written "
            "by this version of spriteforge; restore it from a backup, or delete the run and train again."
        ) from None


def _interrupted(stop: Interrupted, session: _Session) -> Interrupted:
    """The stop, told where the run is and which checkpoint a resume starts from."""
    stop.run, stop.step = session.out, session.writer.checkpoint_step
    return stop


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


# What a resumable checkpoint holds besides its weights (Lightning's keys, and ours), and what each is for.
_CHECKPOINT_PARTS = {
    "optimizer_states": (list, "the optimizer state"),
    "lr_schedulers": (list, "the learning-rate schedule"),
    "loops": (dict, "the loop state: step counters and the data position"),
    "callbacks": (dict, "the run writer's counters"),
}


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only (no arbitrary unpickling), refusing a corrupt or foreign file, or one
    without a part that resuming needs (naming the key)."""
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
    step = state.get("global_step")
    if type(step) is not int or step < 0:
        raise _damaged(path, "global_step", f"is {step!r}, not a step number (a whole number >= 0)")
    for key, (expected, meaning) in {"state_dict": (dict, "the weights"), **_CHECKPOINT_PARTS}.items():
        if not isinstance(state.get(key), expected):
            found = "missing" if key not in state else f"a {type(state[key]).__name__}, not a {expected.__name__}"
            raise _damaged(path, key, f"is {found}: it should hold {meaning}")
    rng = state.get("rng", {})  # random state (older checkpoints have none)
    torch_rng = rng.get("torch", torch.get_rng_state()) if isinstance(rng, dict) else None
    reference = torch.get_rng_state()
    if (
        not isinstance(torch_rng, torch.Tensor)
        or torch_rng.dtype != reference.dtype
        or torch_rng.shape != reference.shape
    ):
        raise _damaged(path, "rng", "is not a random-number generator state")
    return state


def _damaged(path: Path, key: str, problem: str) -> SpriteforgeError:
    return SpriteforgeError(
        f"{path}: {key!r} {problem}. The checkpoint is damaged or was not written by spriteforge's training; "
        "restore it from a backup, or delete the run and train again."
    )


def _check_checkpoint_matches(path: Path, state: dict[str, Any], session: _Session) -> None:
    """Refuse, before Lightning loads it, a checkpoint of another model or config, or whose weights, optimizer,
    schedule, loop or writer state would not load or would resume into NaN."""
    module = session.module
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    saved = state["state_dict"]
    found = {name: tuple(getattr(t, "shape", ())) for name, t in saved.items()}
    if found != expected or not all(isinstance(t, torch.Tensor) for t in saved.values()):
        differing = sorted(set(found.items()) ^ set(expected.items()), key=str)
        raise SpriteforgeError(
            f"{path}: this checkpoint does not match the run's model ({len(differing)} differing tensors or shapes, "
            f"e.g. {differing[:2]}). It comes from another model or config; resume the run it belongs to."
        )
    _check_finite(path, "state_dict", saved)
    optimizers, schedules = _fresh_optimizers(module)
    for key, fresh in (("optimizer_states", optimizers), ("lr_schedulers", schedules)):
        if len(state[key]) != len(fresh):
            raise _damaged(path, key, f"holds {len(state[key])} entries; this model has {len(fresh)}")
    for number, (optimizer, saved_state) in enumerate(zip(optimizers, state["optimizer_states"])):
        where = f"optimizer_states[{number}]"
        if not isinstance(saved_state, dict):
            raise _damaged(path, where, "is not a mapping")
        # Hyper-parameters too (lr, betas, weight_decay...): torch keeps a saved group as it is, gaps and all.
        groups = optimizer.state_dict()["param_groups"]
        _check_layout(path, groups, saved_state.get("param_groups"), f"{where}.param_groups")
        try:
            optimizer.load_state_dict(saved_state)
        except Exception as error:  # torch raises KeyError, ValueError or TypeError for a malformed state
            raise _damaged(path, where, f"does not load ({type(error).__name__}: {error})") from None
        _check_optimizer_state(path, where, optimizer)
    for number, (schedule, saved_state) in enumerate(zip(schedules, state["lr_schedulers"])):
        _check_layout(path, schedule.state_dict(), saved_state, f"lr_schedulers[{number}]")
    loops = state["loops"].get("fit_loop")
    _check_layout(path, session.trainer.fit_loop.state_dict(), loops, "loops.fit_loop")
    _check_data_position(path, loops, len(session.module.train_batches))
    counted = _loop_steps(loops, module.automatic_optimization)
    if counted != state["global_step"]:  # Lightning resumes at the loops' count, whatever global_step says
        raise _damaged(path, "loops.fit_loop", f"counts {counted} steps but global_step is {state['global_step']}")
    writer = session.writer
    _check_layout(path, writer.state_dict(), state["callbacks"].get(writer.state_key), f"callbacks.{writer.state_key}")


def _loop_steps(loops: dict[str, Any], automatic: bool) -> int:
    """The optimiser steps the fit loop's saved progress counts: what Lightning's global_step is restored from."""
    if automatic:
        return loops["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]["step"]["total"]["completed"]
    return loops["epoch_loop.manual_optimization.optim_step_progress"]["total"]["completed"]


def _fresh_optimizers(module: SpriteModule) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """New optimisers and schedules over the module's parameters, as configure_optimizers makes them."""
    made = module.configure_optimizers()
    if isinstance(made, dict):
        return [made["optimizer"]], [made["lr_scheduler"]["scheduler"]]
    optimizers, schedules = made
    return list(optimizers), [entry["scheduler"] for entry in schedules]


def _check_optimizer_state(path: Path, where: str, optimizer: torch.optim.Optimizer) -> None:
    """Every parameter's state holds the same entries (AdamW: step, exp_avg, exp_avg_sq), as finite tensors shaped
    like the parameter (or scalars): torch loads any mapping, and a gap would only fail at the first step."""
    states = list(optimizer.state.items())
    names = set(states[0][1]) if states else set()
    for parameter, entries in states:
        if not isinstance(parameter, torch.Tensor):  # a state whose id is in no parameter group
            raise _damaged(path, f"{where}.state", f"holds an entry {parameter!r} for no parameter of the model")
        if set(entries) != names:
            raise _damaged(
                path, f"{where}.state", f"has entries {sorted(entries)} for one parameter, {sorted(names)} for another"
            )
        for name, value in entries.items():
            if not isinstance(value, torch.Tensor) or value.dim() and value.shape != parameter.shape:
                raise _damaged(path, f"{where}.state.{name}", "is not a tensor shaped like its parameter")
        _check_finite(path, f"{where}.state", entries)


def _check_finite(path: Path, where: str, tensors: dict[str, Any]) -> None:
    for name, tensor in tensors.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SpriteforgeError(
                f"{path}: {where} {name!r} holds NaN or infinite values: the training diverged before this "
                "checkpoint. Start a new run (e.g. with a lower train.lr)."
            )


def _check_layout(path: Path, reference: Any, found: Any, where: str) -> None:
    """`found` has every key of `reference` (a state this version writes), with values of the same kinds."""
    if isinstance(reference, dict):
        if not isinstance(found, dict):
            raise _damaged(path, where, "is missing or not a mapping")
        for key, value in reference.items():
            if key not in found:
                raise _damaged(path, f"{where}.{key}", "is missing")
            _check_layout(path, value, found[key], f"{where}.{key}")
    elif isinstance(reference, (list, tuple)):
        if not isinstance(found, (list, tuple)) or len(found) != len(reference):
            raise _damaged(path, where, f"is {found!r}, not a list of {len(reference)}")
        for number, (value, item) in enumerate(zip(reference, found)):
            _check_layout(path, value, item, f"{where}[{number}]")
    elif isinstance(reference, bool):
        if type(found) is not bool:
            raise _damaged(path, where, f"is {found!r}, not true or false")
    elif isinstance(reference, int):
        if type(found) is not int or found < -1:
            raise _damaged(path, where, f"is {found!r}, not a count")
    elif isinstance(reference, float):
        if type(found) not in (int, float) or not math.isfinite(found):
            raise _damaged(path, where, f"is {found!r}, not a finite number")


def _check_data_position(path: Path, loops: dict[str, Any], batches_per_epoch: int) -> None:
    """The training data's saved position (SpriteBatches.state_dict): an epoch and a batch within it."""
    where = "loops.fit_loop.state_dict.combined_loader"
    positions = loops.get("state_dict", {}).get("combined_loader")
    if not isinstance(positions, list) or len(positions) != 1 or not isinstance(positions[0], dict):
        raise _damaged(path, where, "is missing: it holds the position in the training data")
    epoch, position = positions[0].get("epoch"), positions[0].get("position")
    if type(epoch) is not int or type(position) is not int or epoch < 0 or not 0 <= position <= batches_per_epoch:
        raise _damaged(path, where, f"holds epoch {epoch!r}, batch {position!r}: not a position in the data")


def _budget_metrics(train_config: TrainConfig) -> dict[str, Any]:
    """The time budget a run trained for (none: no entries), beside the steps it reached and its wall time."""
    if train_config.max_time is None:
        return {}
    return {"max_time": train_config.max_time, "max_time_seconds": parse_duration(train_config.max_time)}


def _sheet_metrics(sprites: SpriteSet) -> dict[str, Any]:
    """For a run on sheets: the sprites per sheet and how many sets were left out for a missing slot."""
    if sprites.slots == 1:
        return {}
    left_out = len(sprites.report.incomplete_sets) if sprites.report else 0
    return {"slots": sprites.slots, "incomplete_sets_left_out": left_out}


def _write_metrics(session: _Session, final: Mapping[str, float]) -> None:
    writer = session.writer
    metrics = {
        "model": session.config.model,
        "steps": writer.last_step,
        "train_sprites": len(session.train_set),
        "val_sprites": len(session.val_set),
        "size": session.sprites.size[0],
        **_sheet_metrics(session.sprites),
        "palette_colors": len(session.sprites.palette) - 1,
        "wall_seconds": round(writer.wall_seconds, 2),
        **_budget_metrics(session.config.train),
        "train_images": writer.images,  # over all ranks and resumes
        "train_images_per_second": round(writer.images / max(writer.step_seconds, 1e-9), 1),
        **{k: round(float(v), 5) for k, v in final.items()},
    }
    io.write_text(session.out / runfiles.METRICS, json.dumps(metrics, indent=2) + "\n")
