"""The training callbacks: `RunWriter` keeps the run folder current while Lightning trains; `StepProgressBar` shows
how far training is in steps."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, RichProgressBar

from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine import run as runfiles
from spriteforge.engine.config import UNBOUNDED_STEPS
from spriteforge.engine.loggers import log_image
from spriteforge.engine.module import SpriteModule
from spriteforge.errors import Interrupted
from spriteforge.models.base import GenerativeModel

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM (a scheduler) while training: the first one only asks the run to stop, and
    RunWriter stops it at the end of the step in progress, after a checkpoint. Acting at once instead (Python's
    KeyboardInterrupt, Lightning's SIGTERM handling) can land half-way through a step, after the weights moved but
    before the step, the data position, the EMA or the schedule counted it: a checkpoint written then resumes into
    different weights. A second SIGINT stops at once, keeping the last checkpoint already written."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self._previous: dict[int, Any] = {}

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle the signals within the block, then restore the handlers found (main thread only: Python delivers
        signals there, and a training started from another thread keeps the default behaviour)."""
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        self.take_over()
        try:
            yield self
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
            self._previous = {}

    def take_over(self) -> None:
        """(Re)install this handler: Lightning wraps SIGTERM with its own when fit starts, which would stop a run
        half-way through a step or a validation."""
        if self._previous:
            for number in STOP_SIGNALS:
                signal.signal(number, self._handle)

    def _handle(self, number: int, frame: object) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise Interrupted(number)  # the second Ctrl-C: stop now
        self.received = self.received or number


class RunWriter(Callback):
    """Keeps the run folder current: atomic last.ckpt every N steps, at the end and when a stop signal arrives
    (then raising Interrupted), progress grids every M steps, the results at the end, and training speed.

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
        self.checkpoint_step: int | None = None  # the step of the run's last checkpoint (written or resumed from)
        self.training_started = False  # fit got past restoring a checkpoint
        self.stop = StopSignals()
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
        self.training_started = True
        if trainer.received_sigterm:  # between fit's start and now, Lightning's handler had it
            self.stop.received = self.stop.received or signal.SIGTERM
        self.stop.take_over()
        if self._budget_spent(trainer, _sprite_module(module)):  # resumed with no time left: stop before the first step
            trainer.should_stop = True

    def _budget_spent(self, trainer: L.Trainer, module: SpriteModule) -> bool:
        """Hand the module the time spent (rank 0's clock on every rank, so all ranks follow the same schedule and
        stop at the same step) and say whether its time budget is used up."""
        if module.budget_seconds is None:  # no budget: no clock to share (a broadcast per step costs a collective)
            return False
        module.elapsed_seconds = float(trainer.strategy.broadcast(self._elapsed(), src=0))
        return module.elapsed_seconds >= module.budget_seconds

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.step_seconds += time.perf_counter() - self._step_started
        self.images += int(batch["indices"].shape[0]) * trainer.world_size  # every rank trains on its own batch
        step = trainer.global_step
        if self._budget_spent(trainer, _sprite_module(module)):
            trainer.should_stop = True  # Lightning ends the fit after this step; on_train_end writes the checkpoint
        if self.checkpoint_every and step % self.checkpoint_every == 0:
            self.save_checkpoint(trainer)
        if self.sample_every and step % self.sample_every == 0:
            self.save_samples(trainer, _sprite_module(module), step)
        if self._stop_requested(trainer) and step < trainer.max_steps:  # at max_steps the run ends anyway
            if self.checkpoint_step != step:
                self.save_checkpoint(trainer)
            raise Interrupted(self.stop.received or signal.SIGTERM)

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        """A stop signal reached this process (or, in a multi-device run, any of them: all stop at the same step)."""
        requested = self.stop.received is not None
        if trainer.world_size > 1:
            return bool(trainer.strategy.reduce_boolean_decision(requested, all=False))
        return requested

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.wall_seconds = self._elapsed()  # the training's clock, as the final checkpoint records it
        self.save_checkpoint(trainer)

    def write_results(self, trainer: L.Trainer, module: SpriteModule) -> None:
        """The last sample grid and the inference weights, after the final checkpoint (also when a resume only
        finishes a run whose final writes were cut short; then fit restored the module and did not train)."""
        if not self.training_started:  # only finishing: the clock is the one the checkpoint restored
            self.wall_seconds = self._elapsed()
        self.last_step = trainer.global_step
        self.save_samples(trainer, module, trainer.global_step)
        if trainer.is_global_zero:
            runfiles.save_weights(module.inference_model, self.out / runfiles.WEIGHTS)

    def save_checkpoint(self, trainer: L.Trainer) -> None:
        # Every rank takes part (save_checkpoint synchronises); rank 0 renames, so last.ckpt is always whole.
        # Only ever called at the end of a step: never on an exception, which may have stopped a step half-way.
        partial = self.out / f".{runfiles.CHECKPOINT}.partial"
        trainer.save_checkpoint(partial, weights_only=False)  # False = full state (optimizer, loops) for resume
        if trainer.is_global_zero:
            os.replace(partial, self.out / runfiles.CHECKPOINT)
        self.checkpoint_step = trainer.global_step

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


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar counting the run's steps ("Training 120/500") instead of the batches of an epoch.

    Training length is train.max_steps, so Lightning's max_epochs is -1 and its bar read "Epoch 35/-2"; here the
    bar's total is max_steps and its position the global step, across epochs and after a resume. With a time budget
    it also shows the time left, and a run that only time limits (max_steps lifted) has no step total."""

    @property
    def total_train_batches(self) -> int | float:
        if self.trainer.max_steps >= UNBOUNDED_STEPS:
            return float("inf")
        return self.trainer.max_steps if self.trainer.max_steps > 0 else super().total_train_batches

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, int | str | float | dict]:
        metrics = super().get_metrics(trainer, pl_module)
        if isinstance(pl_module, SpriteModule) and pl_module.budget_seconds is not None:
            left = max(0, round(pl_module.budget_seconds - pl_module.elapsed_seconds))
            metrics["time left"] = f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"
        return metrics

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{'Training':{len(self.validation_description)}}"  # padded: the validation bar shares the column

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning creates the bar at the first epoch and resets it to 0 (and its speed) at every later one: only
        # the first is wanted here, then the bar moves on across epochs.
        if self.train_progress_bar_id is None:
            super().on_train_epoch_start(trainer, pl_module)
        self._update(self.train_progress_bar_id, trainer.global_step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # Lightning's own hook first moves the bar to batch_idx + 1 (the batch within the epoch); moving it back and
        # forth between that and the global step made rich's speed column read tens of thousands of it/s. The bar
        # moves to the global step only, and the rest of Lightning's hook (metrics, refresh) is kept.
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()  # resumed mid-epoch
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()


def _sprite_module(module: L.LightningModule) -> SpriteModule:
    """Lightning types its hooks' module as the base class; RunWriter samples a SpriteModule's inference weights."""
    if not isinstance(module, SpriteModule):
        raise TypeError(f"RunWriter trains a SpriteModule, not a {type(module).__name__}.")
    return module
