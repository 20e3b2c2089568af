"""Frozen parts: the trained runs a model declares it is built on (models/base.py FrozenPart), loaded by the engine.

    prior.vqvae=RUN --read_run/load_model--> frozen VQ-VAE module --Prior(config, spec, vqvae=module)
                    --its data, size, palette, representation--> the new run's config

Models never load runs themselves: they declare what they need, and training (engine/train.py) and the benchmark's
plain loop (bench.py) call `load_frozen_parts` before the new run's data is loaded.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from spriteforge.engine import run as runfiles
from spriteforge.engine.config import DataConfig, RunConfig
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import FrozenPart, GenerativeModel, model_class, registered


def load_frozen_parts(config: RunConfig) -> dict[str, GenerativeModel]:
    """The trained modules of every part the config's model declares, by constructor keyword; `config` is updated
    to follow them (data unless a source was given, size, palette, representation, the part's model and config)."""
    modules = {}
    for part in model_class(config.model).frozen_parts:
        files = _part_run(config, part)
        _follow(config, files)
        model_config = config.model_config
        setattr(model_config, part.key, str(files.path.resolve()))
        setattr(model_config, part.model_field, files.config.model)
        setattr(model_config, part.config_field, asdict(files.config.model_config))
        model_config.representation = files.config.model_config.representation
        modules[part.key] = runfiles.load_model(files)
    return modules


def _part_run(config: RunConfig, part: FrozenPart) -> runfiles.RunFiles:
    """The part's run folder, read and checked to hold a model of the kind the part requires."""
    setting = f"{config.model}.{part.key}"
    folder = getattr(config.model_config, part.key)
    if not folder:
        raise SpriteforgeError(
            f"model {config.model!r} is built on a trained run of {part.description}: "
            f"set {setting}=RUN to the folder its training wrote."
        )
    if not (Path(folder) / runfiles.CONFIG).is_file():
        raise SpriteforgeError(
            f"{setting}={folder}: not a run folder (no {runfiles.CONFIG}). Train {part.description} first."
        )
    files = runfiles.read_run(folder)
    if not hasattr(model_class(files.config.model), part.requires):
        fitting = [name for name, cls in registered().items() if hasattr(cls, part.requires)]
        raise SpriteforgeError(
            f"{setting}={folder} is a {files.config.model!r} run; give a run of {part.description}: "
            f"{', '.join(fitting)}."
        )
    return files


def _follow(config: RunConfig, files: runfiles.RunFiles) -> None:
    """The new run codes exactly the part's sprites: its data when no source was given (with the new run's own labels
    when it names some), and always its size and palette."""
    part_data = files.config.data
    if config.data.source == DataConfig.source:
        own_labels = (
            {"labels": config.data.labels, "label_column": config.data.label_column} if config.data.labels else {}
        )
        config.data = DataConfig(**{**vars(part_data), **own_labels})
    config.data.size, config.data.palette = part_data.size, str(files.path.resolve() / runfiles.PALETTE)
