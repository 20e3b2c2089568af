"""Run folders: the format of what a training run leaves behind (engine/trained.py loads one to use it).

    RUN/config.yaml           model, data, train and model sections (engine/config.py)
    RUN/palette.hex           the palette the indices refer to (index 0 transparent, implied)
    RUN/labels.json           the label vocabulary, when the run has labels
    RUN/weights.safetensors   inference weights (the EMA weights when EMA is on)
    RUN/last.ckpt             Lightning checkpoint, for --resume only
    RUN/samples/              sample grids written during training
    RUN/metrics.json          final validation metrics and training speed, written last: a finished run has it
    RUN/.writer.lock          held (flock) by the one process training into the folder

Loading a run rebuilds the model from config.yaml and reads tensors from safetensors: no pickle is ever loaded.
This module reads and writes those files and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from spriteforge import io
from spriteforge.data.labels import LabelSpec
from spriteforge.data.palette import Palette
from spriteforge.data.sets import load_sheets
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.engine.config import DataConfig, RunConfig, check_sheet, load_config
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, FrozenPart, GenerativeModel, ModelConfig, model_class

CONFIG = "config.yaml"
PALETTE = "palette.hex"
LABELS = "labels.json"
WEIGHTS = "weights.safetensors"
CHECKPOINT = "last.ckpt"
METRICS = "metrics.json"
SAMPLES = "samples"
LOCK = ".writer.lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; run folders there have no single-writer guard
    fcntl = None  # type: ignore[assignment]


@contextmanager
def single_writer(run_dir: Path) -> Iterator[None]:
    """Hold RUN/.writer.lock exclusively for the block: a second training or resume into the same folder is refused
    at once. The OS releases an flock when its process ends, however it ends, so a killed writer leaves no stuck
    lock; the file itself stays (deleting it would let two processes lock two different files)."""
    if fcntl is None:
        yield
        return
    handle = open(run_dir / LOCK, "a")  # noqa: SIM115 - held open for the whole block
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SpriteforgeError(
            f"{run_dir}: another process is training into this run folder (it holds {LOCK}); a run has one writer. "
            "Wait for it to finish or stop it, or train into another --out."
        ) from None
    try:
        yield
    finally:
        handle.close()  # releases the lock


def save_weights(model: GenerativeModel, path: Path) -> None:
    """State dict -> safetensors, atomically (shared storage is cloned: safetensors refuses aliases)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with io.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"model": model.name, "format": "spriteforge-1"})


def load_data(data: DataConfig, palette: Palette | None) -> SpriteSet:
    """The sprites a data config describes; with `palette`, indexed into it (a run's own palette on resume).
    Sheets (data.sheet, data.sheet_csv) are (N, H, slots*W) rows of the sprites of each set."""
    check_sheet(data)  # again: train(labels=...) and train(data=...) set fields after the config was built
    if data.is_sheet:
        return load_sheets(
            data.source,
            csv=data.sheet_csv,
            set_column=data.sheet_set_column,
            slot_column=data.sheet_slot_column,
            slots=data.slots,
            count=data.count,
            size=data.size,
            max_colors=data.max_colors,
            palette=palette or data.palette,
            crop=data.crop,
            seed=0,
            alpha_threshold=data.alpha_threshold,
        )
    return load_sprites(
        data.source,
        size=data.size,
        max_colors=data.max_colors,
        palette=palette or data.palette,
        labels=data.labels,
        label_column=data.label_column,
        crop=data.crop,
        tile=data.tile,
        tile_height=data.tile_height,
        spacing=data.spacing,
        margin=data.margin,
        count=data.count,
        seed=0,
        alpha_threshold=data.alpha_threshold,
    )


def data_spec(palette: Palette, height: int, width: int, labels: LabelSpec | None) -> DataSpec:
    return DataSpec(height=height, width=width, palette_rgba=torch.from_numpy(palette.colors.copy()), labels=labels)


def build_model(config: RunConfig, spec: DataSpec, parts: dict[str, GenerativeModel] | None = None) -> GenerativeModel:
    """The model a run config describes, untrained. Its frozen parts (a prior's VQ-VAE) are taken from `parts`
    (trained modules, when training starts: engine/parts.py) or rebuilt from the part model and config the run
    recorded (a saved run's weights file then fills them)."""
    return instantiate(model_class(config.model), config.model_config, spec, parts)


def instantiate(
    cls: type[GenerativeModel],
    model_config: ModelConfig,
    spec: DataSpec,
    parts: dict[str, GenerativeModel] | None = None,
) -> GenerativeModel:
    """cls(model_config, spec, **frozen parts): each declared part from `parts`, or rebuilt (see FrozenPart)."""
    given = parts or {}
    built = {
        part.key: given[part.key] if part.key in given else _rebuild_part(part, model_config, spec)
        for part in cls.frozen_parts
    }
    return cls(model_config, spec, **built)


def _rebuild_part(part: FrozenPart, model_config: ModelConfig, spec: DataSpec) -> GenerativeModel:
    """An untrained part as the model's config records it; with nothing recorded, a stand-in at the tiny preset."""
    part_class = model_class(getattr(model_config, part.model_field))
    settings = getattr(model_config, part.config_field) or {
        **part_class.presets.get("tiny", {}),
        "representation": model_config.representation,
    }
    # Labels belong to the model built on the part: the part never sees them.
    return instantiate(part_class, part_class.Config(**settings), DataSpec(spec.height, spec.width, spec.palette_rgba))


@dataclass
class RunFiles:
    """What a run folder holds besides its tensors: its config, palette, label vocabulary and final metrics."""

    path: Path
    config: RunConfig
    palette: Palette
    labels: LabelSpec | None
    metrics: dict[str, Any]


def read_run(path: str | Path) -> RunFiles:
    """Read and check RUN/config.yaml, palette.hex, labels.json and metrics.json (no tensors yet)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise SpriteforgeError(
            f"{path}: not a spriteforge run (no {CONFIG}). Give the folder `spriteforge train --out` wrote."
        )
    config = load_config(path / CONFIG)
    palette = Palette.load(path / PALETTE)
    labels = _read_json(path / LABELS, LabelSpec.from_json)
    metrics = _read_json(path / METRICS, json.loads) or {}
    if not config.data.size:
        raise SpriteforgeError(f"{path / CONFIG}: data.size is missing, so the model cannot be rebuilt.")
    return RunFiles(path, config, palette, labels, metrics)


def load_model(files: RunFiles) -> GenerativeModel:
    """The run's model rebuilt from its config, with RUN/weights.safetensors loaded (on the CPU)."""
    size = files.config.data.size
    assert size, "read_run refuses a run without data.size"
    width = size * (files.config.data.slots or 1)  # a run trained on sheets makes rows of `slots` sprites
    model = build_model(files.config, data_spec(files.palette, size, width, files.labels))
    model.load_state_dict(_read_weights(files.path / WEIGHTS, model))
    return model


def _read_json(path: Path, parse: Any) -> Any:
    """parse(text of path), None when the file is absent; a hand-damaged file is an error naming it."""
    if not path.is_file():
        return None
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as error:
        raise SpriteforgeError(
            f"{path}: not valid ({error}). Restore it from the run's training, or delete it."
        ) from None


def _read_weights(path: Path, model: GenerativeModel) -> dict[str, torch.Tensor]:
    if not path.is_file():
        if (path.parent / CHECKPOINT).is_file():
            raise SpriteforgeError(
                f"{path}: missing. The run has not finished (its training or its final writes were stopped): "
                f"finish it with `spriteforge train --resume {path.parent}`."
            )
        raise SpriteforgeError(
            f"{path}: missing, and the run has no {CHECKPOINT} to resume from: it stopped before its first "
            "checkpoint. Delete the folder and train again."
        )
    try:
        tensors = load_file(str(path))
        for retired in model.retired_weights:  # written by an earlier version of the model; unused now
            tensors.pop(retired, None)
    except (SafetensorError, OSError, ValueError) as error:
        raise SpriteforgeError(
            f"{path}: corrupt or not a safetensors file ({error}). Resume the run to rewrite it, or retrain."
        ) from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        differing = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise SpriteforgeError(
            f"{path}: these weights do not belong to the {model.name!r} model described by config.yaml "
            f"(first differences: {differing}). Use the weights written with this config."
        )
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SpriteforgeError(
                f"{path}: tensor {name!r} holds NaN or infinite values, so the model would draw blank sprites. "
                "The training diverged (train again, e.g. with a lower train.lr) or the file is damaged."
            )
    return tensors
