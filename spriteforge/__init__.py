"""spriteforge: train, evaluate and sample palette-exact generative models of pixel art.

    import spriteforge as sf
    sprites = sf.load_sprites("procedural")
    run = sf.train("vae", "procedural", "runs/demo", overrides=["train.max_steps=500"])
    run.sample(16, seed=0).save_grid("samples.png")
"""

from spriteforge.data.labels import LabelSpec
from spriteforge.data.palette import Palette, QuantizationReport
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.engine.run import Run, load_run
from spriteforge.engine.train import resume, train
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import GenerativeModel, ModelConfig, register, registered

__all__ = [
    "GenerativeModel",
    "LabelSpec",
    "ModelConfig",
    "Palette",
    "QuantizationReport",
    "Run",
    "SpriteSet",
    "SpriteforgeError",
    "load_run",
    "load_sprites",
    "register",
    "registered",
    "resume",
    "train",
]
__version__ = "0.1.0"
