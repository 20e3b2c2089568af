"""The training callbacks: `RunWriter` keeps the run folder current while Lightning trains."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine import run as runfiles
from spriteforge.engine.loggers import log_image
from spriteforge.engine.module import SpriteModule
from spriteforge.models.base import GenerativeModel


class RunWriter(Callback):
    """Keeps the run folder current: atomic last.ckpt every N steps and at the end (or on Ctrl-C), progress grids
    every M steps, the inference weights at the end, and training speed.

    A progress grid shows what best tells how training goes: new samples for a model that samples; for one that
    cannot (docs/decisions.md), a translator's sprites from fixed second-domain images (`showcase_photos`), or an
    autoencoder's fixed training sprites (`showcase`), each row of them above its row of reconstructions."""

    def __init__(
        self,
        out: Path,
        checkpoint_every: int,
        sample_every: int,
        num_samples: int,
        label_pool: np.ndarray | None = None,
        showcase: np.ndarray | None = None,
        showcase_photos: np.ndarray | None = None,
    ) -> None:
        self.out = out
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every
        self.num_samples = num_samples
        self.label_pool = label_pool  # training labels: a conditional model's grids ask for labels seen in the data
        self.showcase = showcase  # (N,H,W) fixed training sprites, for models without sample
        self.showcase_photos = showcase_photos  # (N,4,H,W) in [0,1] fixed second-domain images, for translators
        self.images = 0
        self.step_seconds = 0.0
        self.wall_seconds = 0.0
        self.last_step = 0
        self._started = 0.0
        self._step_started = 0.0
        self._earlier_wall_seconds = 0.0  # spent before a resume

    # Saved in last.ckpt, so the speed and wall time in metrics.json cover the whole run across resumes.
    def state_dict(self) -> dict[str, float]:
        return {"images": self.images, "step_seconds": self.step_seconds, "wall_seconds": self._elapsed()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.images = int(state["images"])
        self.step_seconds = float(state["step_seconds"])
        self._earlier_wall_seconds = float(state["wall_seconds"])

    def _elapsed(self) -> float:
        return self._earlier_wall_seconds + (time.perf_counter() - self._started if self._started else 0.0)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.step_seconds += time.perf_counter() - self._step_started
        self.images += int(batch["indices"].shape[0]) * trainer.world_size  # every rank trains on its own batch
        step = trainer.global_step
        if self.checkpoint_every and step % self.checkpoint_every == 0:
            self.save_checkpoint(trainer)
        if self.sample_every and step % self.sample_every == 0:
            self.save_samples(trainer, _sprite_module(module), step)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        sprite_module = _sprite_module(module)
        self.wall_seconds = self._elapsed()
        self.last_step = trainer.global_step
        self.save_checkpoint(trainer)
        self.save_samples(trainer, sprite_module, trainer.global_step)
        if trainer.is_global_zero:
            runfiles.save_weights(sprite_module.inference_model, self.out / runfiles.WEIGHTS)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        # Ctrl-C, or SIGTERM from a cluster's scheduler: keep everything up to the last completed step.
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.save_checkpoint(trainer)

    def save_checkpoint(self, trainer: L.Trainer) -> None:
        # Every rank takes part (save_checkpoint synchronises); rank 0 renames, so last.ckpt is always whole.
        partial = self.out / f".{runfiles.CHECKPOINT}.partial"
        trainer.save_checkpoint(partial, weights_only=False)  # False = full state (optimizer, loops) for resume
        if trainer.is_global_zero:
            os.replace(partial, self.out / runfiles.CHECKPOINT)

    def save_samples(self, trainer: L.Trainer, module: SpriteModule, step: int) -> None:
        if not trainer.is_global_zero:
            return
        model = module.inference_model
        was_training = model.training
        model.eval()
        generator = torch.Generator(device=module.device).manual_seed(step)
        with torch.no_grad():
            grid = self._progress_grid(model, generator)
        model.train(was_training)
        if grid is None:  # a model that can neither sample, translate nor reconstruct: nothing to show
            return
        indices, columns = grid
        path = self.out / runfiles.SAMPLES / f"step_{step:06d}.png"
        palette = Palette(model.spec.palette_rgba.cpu().numpy())
        SpriteSet(indices.cpu().numpy().astype(np.int64), palette).save_grid(path, scale=4, columns=columns)
        log_image(trainer.logger, path, step)

    def _progress_grid(
        self, model: GenerativeModel, generator: torch.Generator
    ) -> tuple[torch.Tensor, int | None] | None:
        """((N,H,W) indices, columns or None for a square grid) of the sprites that show training progress."""
        capabilities, device = model.capabilities(), model.codec.colors.device
        to_indices = model.codec.to_indices
        if "sample" in capabilities:
            output = model.sample(self.num_samples, labels=self._grid_labels(model), generator=generator)
            return to_indices(output, model.representation), None
        if "translate" in capabilities and self.showcase_photos is not None:
            photos = torch.from_numpy(self.showcase_photos[: self.num_samples]).to(device)
            return model.translate(photos), None
        if "reconstruct" in capabilities and self.showcase is not None and len(self.showcase):
            originals = torch.from_numpy(self.showcase[: max(1, self.num_samples // 2)]).long().to(device)
            columns = min(8, len(originals))
            originals = originals[: len(originals) // columns * columns]
            rebuilt = to_indices(model.reconstruct(originals), model.representation)
            rows = [part.view(-1, columns, *originals.shape[1:]) for part in (originals, rebuilt)]  # (R,C,H,W) each
            return torch.stack(rows, 1).flatten(0, 2), columns  # original row, its reconstruction row, ...
        return None

    def _grid_labels(self, model: GenerativeModel) -> torch.Tensor | None:
        """The same seeded draw of training labels at every step (None for unconditional models)."""
        if not model.is_conditional or self.label_pool is None or not len(self.label_pool):
            return None
        rows = np.random.default_rng(0).choice(len(self.label_pool), self.num_samples)
        return torch.from_numpy(self.label_pool[rows]).to(model.codec.colors.device)


def _sprite_module(module: L.LightningModule) -> SpriteModule:
    """Lightning types its hooks' module as the base class; RunWriter samples and saves a SpriteModule's weights."""
    if not isinstance(module, SpriteModule):
        raise TypeError(f"RunWriter trains a SpriteModule, not a {type(module).__name__}.")
    return module
