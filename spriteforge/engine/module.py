"""The one LightningModule: wraps any GenerativeModel and owns its optimisation, EMA and validation metrics."""

from __future__ import annotations

import copy
import math
from typing import Any

import lightning as L
import torch
from torch import nn

from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.config import TrainConfig
from spriteforge.models.base import GenerativeModel


class EMA(nn.Module):
    """Exponential moving average of a model's parameters (buffers are copied as they are).

    The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates, so the average is not dominated by the
    random initial weights in short runs (0.999 ** 2000 would still keep 13% of them)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        self.decay = decay
        # Left in train mode like its source (Lightning warns about eval-mode modules at fit start);
        # validation and sampling switch it to eval.
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        # The decay is computed on the device (no .item()), so the update never waits for the GPU.
        steps = self.updates.float()
        weight = 1.0 - torch.clamp((1.0 + steps) / (10.0 + steps), max=self.decay)  # 0-dim tensor
        self.updates += 1
        for average, current in zip(self.model.parameters(), model.parameters()):
            average.lerp_(current.detach(), weight.to(average.dtype))
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)


class SpriteModule(L.LightningModule):
    """Trains `model` on SpriteBatches: AdamW, warm-up + cosine schedule, optional EMA; validates with
    reconstruction pixel accuracy and palette adherence when the model can reconstruct."""

    def __init__(
        self, model: GenerativeModel, train_config: TrainConfig, train_batches: SpriteBatches, val_batches: SpriteBatches | None
    ) -> None:
        super().__init__()
        self.model = model
        self.train_config = train_config
        self.ema = EMA(model, train_config.ema_decay) if train_config.ema else None
        self.train_batches = train_batches
        self.val_batches = val_batches

    @property
    def inference_model(self) -> GenerativeModel:
        """The weights to evaluate, sample and save: the EMA copy when EMA is on."""
        return self.ema.model if self.ema is not None else self.model  # type: ignore[return-value]

    # -- data: whole datasets moved to the device once -------------------------------------------
    def train_dataloader(self) -> SpriteBatches:
        return self.train_batches.to(self.device).shard(self.global_rank, self.trainer.world_size)

    def val_dataloader(self) -> SpriteBatches | list:
        return self.val_batches.to(self.device) if self.val_batches is not None else []

    # -- optimisation ----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        terms = self.model.loss({**batch, "step": self.global_step})
        self.log_dict({f"train/{k}": v.detach().float() for k, v in terms.items()}, prog_bar=False)
        self.log("loss", terms["loss"].detach().float(), prog_bar=True, logger=False)
        return terms["loss"]

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # Here rather than in on_train_batch_end: Lightning runs callbacks' hooks first, and a checkpoint written
        # there must already count this step (data position, EMA).
        self.train_batches.mark_completed()
        if self.ema is not None:
            self.ema.update(self.model)

    # Random states travel with the checkpoint, so a resumed stochastic model (a VAE's noise) continues exactly.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        set_rng_state(checkpoint.get("rng", {}))

    # Validation draws noise too (a VAE's loss); it must not move the training stream, or a resumed run (which
    # skips the validation at its restored step) would diverge from an uninterrupted one.
    def on_validation_epoch_start(self) -> None:
        self._training_rng = rng_state()

    def on_validation_epoch_end(self) -> None:
        set_rng_state(self._training_rng)

    def configure_optimizers(self) -> dict[str, Any]:
        config = self.train_config
        decay, no_decay = [], []
        for parameter in self.model.parameters():
            if parameter.requires_grad:
                # Weight decay on matrices and kernels only: biases and norm scales are not regularised.
                (decay if parameter.dim() >= 2 else no_decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- validation ------------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        model = self.inference_model
        terms = model.loss({**batch, "step": self.global_step})
        metrics = {f"val/{k}": v.detach().float() for k, v in terms.items()}
        if "reconstruct" in model.capabilities():
            output = model.reconstruct(batch["indices"], batch.get("labels"))
            predicted = model.codec.to_indices(output, model.representation)
            metrics["val/pixel_accuracy"] = (predicted == batch["indices"]).float().mean()
            metrics["val/palette_adherence"] = model.codec.adherence(output, model.representation)
        # Every rank validates the whole (small) set; sync_dist averages them, so rank 0 logs the same value.
        self.log_dict(metrics, batch_size=batch["indices"].shape[0], prog_bar=False, sync_dist=self.trainer.world_size > 1)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to min_lr_ratio at max_steps."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
