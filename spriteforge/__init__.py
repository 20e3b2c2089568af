"""spriteforge: train, evaluate and sample palette-exact generative models of pixel art.

    import spriteforge as sf
    sprites = sf.load_sprites("procedural")
    run = sf.train("vae", "procedural", "runs/demo", overrides=["train.max_steps=500"])
    run.sample(16, seed=0).save_grid("samples.png")

Names are imported on first use, so `import spriteforge` (and the CLI's --help) stays fast: torch and
Lightning load only when a model or the engine is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SpriteforgeError": "spriteforge.errors",
    "Interrupted": "spriteforge.errors",
    "Palette": "spriteforge.data.palette",
    "QuantizationReport": "spriteforge.data.palette",
    "LabelSpec": "spriteforge.data.labels",
    "SpriteSet": "spriteforge.data.sprites",
    "load_sprites": "spriteforge.data.sprites",
    "describe": "spriteforge.data.sprites",
    "fetch_dataset": "spriteforge.data.catalog",
    "Run": "spriteforge.engine.trained",
    "load_run": "spriteforge.engine.trained",
    "train": "spriteforge.engine.train",
    "resume": "spriteforge.engine.train",
    "evaluate": "spriteforge.metrics.evaluate",
    "evaluate_sprites": "spriteforge.metrics.evaluate",
    "PixelizeConfig": "spriteforge.convert.pixelize",
    "pixelize": "spriteforge.convert.pixelize",
    "pixelize_file": "spriteforge.convert.pixelize",
    "pixelize_folder": "spriteforge.convert.pixelize",
    "pixelizer": "spriteforge.convert.pixelize",
    "convert_file": "spriteforge.convert.pixelize",
    "convert_folder": "spriteforge.convert.pixelize",
    "generator_converter": "spriteforge.convert.translate",
    "image_crops": "spriteforge.data.crops",
    "compare": "spriteforge.metrics.evaluate",
    "Evaluation": "spriteforge.metrics.evaluate",
    "GenerativeModel": "spriteforge.models.base",
    "ModelConfig": "spriteforge.models.base",
    "register": "spriteforge.models.base",
    "registered": "spriteforge.models.base",
    "VectorQuantizer": "spriteforge.nn.quantize",
    "NoiseSchedule": "spriteforge.diffusion.gaussian",
    "Classifier": "spriteforge.metrics.classifier",
    "train_classifier": "spriteforge.metrics.classifier",
    "load_classifier": "spriteforge.metrics.classifier",
    "conditional_accuracy": "spriteforge.metrics.conditional",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spriteforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from spriteforge.convert.pixelize import (
        PixelizeConfig,
        convert_file,
        convert_folder,
        pixelize,
        pixelize_file,
        pixelize_folder,
        pixelizer,
    )
    from spriteforge.convert.translate import generator_converter
    from spriteforge.data.catalog import fetch_dataset
    from spriteforge.data.crops import image_crops
    from spriteforge.data.labels import LabelSpec
    from spriteforge.data.palette import Palette, QuantizationReport
    from spriteforge.data.sprites import SpriteSet, describe, load_sprites
    from spriteforge.diffusion.gaussian import NoiseSchedule
    from spriteforge.engine.train import resume, train
    from spriteforge.engine.trained import Run, load_run
    from spriteforge.errors import Interrupted, SpriteforgeError
    from spriteforge.metrics.classifier import Classifier, load_classifier, train_classifier
    from spriteforge.metrics.conditional import conditional_accuracy
    from spriteforge.metrics.evaluate import Evaluation, compare, evaluate, evaluate_sprites
    from spriteforge.models.base import GenerativeModel, ModelConfig, register, registered
    from spriteforge.nn.quantize import VectorQuantizer
