"""The one LightningModule: wraps any GenerativeModel and owns its optimisation, EMA and validation metrics."""

from __future__ import annotations

import copy
import math
from typing import Any, Generic, TypeVar

import lightning as L
import torch
from torch import nn

from spriteforge.engine.batches import SpriteBatches
from spriteforge.engine.config import TrainConfig, parse_duration
from spriteforge.models.base import HANDED_ON, GenerativeModel

SCHEDULES = ("cosine", "linear")  # train.schedule: the learning rate's shape after warm-up (see lr_factor)

ModelT = TypeVar("ModelT", bound=nn.Module)


class EMA(nn.Module, Generic[ModelT]):
    """Exponential moving average of a model's parameters (buffers are copied as they are).

    The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates, so the average is not dominated by the
    random initial weights in short runs (0.999 ** 2000 would still keep 13% of them)."""

    updates: torch.Tensor  # () long, a buffer: declared because register_buffer leaves it typed `Tensor | Module`

    def __init__(self, model: ModelT, decay: float) -> None:
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
        averages: list[torch.Tensor] = list(self.model.parameters())
        currents = [p.detach() for p in model.parameters()]
        # average += weight * (current - average), as three multi-tensor kernels rather than one lerp per parameter;
        # the tensor weight is not a Python scalar, so nothing is read back from the device.
        steps_towards = torch._foreach_sub(currents, averages)
        torch._foreach_mul_(steps_towards, weight)
        torch._foreach_add_(averages, steps_towards)
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)


class SpriteModule(L.LightningModule):
    """Trains `model` on SpriteBatches: AdamW, warm-up + cosine (or linear) schedule, optional EMA; validates with
    reconstruction pixel accuracy and palette adherence when the model can reconstruct.

    A model with the `param_groups` capability (an adversarial one) gets one optimiser and schedule per named group
    and Lightning's manual optimisation: each step updates the groups in turn, each on its own loss."""

    def __init__(
        self,
        model: GenerativeModel,
        train_config: TrainConfig,
        train_batches: SpriteBatches,
        val_batches: SpriteBatches | None,
    ) -> None:
        super().__init__()
        if train_config.channels_last:
            # In place, before the EMA copy; 4-D weights only, so models without convolutions are unchanged.
            # nn.Module.to documents memory_format (keyword only), but its typed overloads leave it out.
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = model
        # The training loss, compiled when asked (forward and backward; the step number becomes a dynamic int after
        # its second value). Validation and sampling run the plain model: they are not the hot loop.
        self.training_loss = torch.compile(model.loss) if train_config.compile else model.loss
        self.train_config = train_config
        self.ema = EMA(model, train_config.ema_decay) if train_config.ema else None
        self.train_batches = train_batches
        self.val_batches = val_batches
        # name -> (parameters, optimiser settings), or None for the usual single AdamW over all parameters.
        self.groups = model.param_groups() if "param_groups" in model.capabilities() else None
        self.automatic_optimization = self.groups is None
        # The time budget in seconds (None: none), and the training time spent so far, across resumes: RunWriter
        # sets it after every step (rank 0's clock on every rank), and schedule_step reads it.
        self.budget_seconds = parse_duration(train_config.max_time) if train_config.max_time else None
        self.elapsed_seconds = 0.0

    @property
    def inference_model(self) -> GenerativeModel:
        """The weights to evaluate, sample and save: the EMA copy when EMA is on."""
        return self.ema.model if self.ema is not None else self.model

    # -- data: whole datasets moved to the device once -------------------------------------------
    def train_dataloader(self) -> SpriteBatches:
        return self.train_batches.to(self.device).shard(self.global_rank, self.trainer.world_size)

    def val_dataloader(self) -> SpriteBatches | list:
        return self.val_batches.to(self.device) if self.val_batches is not None else []

    # -- optimisation ----------------------------------------------------------------------------
    def schedule_step(self, step: int) -> int:
        """The step the schedules (learning rate, a model's annealing) see: `step` itself without a time budget;
        with one, progress p = max(step / max_steps, elapsed / budget) on the schedule_steps scale, so warm-ups and
        decays defined in steps are stretched or squeezed onto the budget and end with it."""
        config = self.train_config
        scale = config.schedule_steps or config.max_steps
        if self.budget_seconds is None and scale == config.max_steps:
            return step
        progress = step / config.max_steps
        if self.budget_seconds is not None:
            progress = max(progress, self.elapsed_seconds / self.budget_seconds)
        return min(scale, round(progress * scale))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        if self.groups is not None:
            self._grouped_step(batch, self.groups)
            return None
        terms = self.training_loss(batch, step=self.schedule_step(self.global_step))
        if self._logging_step():
            self.log_dict({f"train/{k}": v.detach().float() for k, v in terms.items()}, prog_bar=False)
            self.log("loss", terms["loss"].detach().float(), prog_bar=True, logger=False)
        return terms["loss"]

    def _logging_step(self) -> bool:
        """True on the steps whose values the logger writes (every log_every_n_steps).

        Logging on the others would be thrown away, yet costs Python time and, for the progress bar, a read back
        from the device that waits for the step: small models on a GPU would spend their time there. Lightning's
        own test is asked (a private attribute): its step count differs from global_step by one after a resume."""
        return bool(self.trainer._logger_connector.should_update_logs)

    def _grouped_step(self, batch: dict[str, Any], groups: dict[str, Any]) -> None:
        """Manual optimisation: group by group (in the model's order), loss -> backward -> clip -> step.

        Lightning counts every LightningOptimizer.step as a global step; only the last group's step goes through it,
        so one batch is one step (max_steps, schedules and checkpoints mean what they mean for other models). What a
        group's loss hands on (HANDED_ON, e.g. a generator's fakes) joins the batch of the groups after it."""
        optimizers, schedules = _as_list(self.optimizers()), _as_list(self.lr_schedulers())
        step = self.schedule_step(self.global_step)
        total = torch.zeros((), device=self.device)  # a device tensor: no read-back per step
        for number, (name, optimizer, schedule) in enumerate(zip(groups, optimizers, schedules)):
            # All gradients cleared, not only this group's: a generator's loss also reaches the discriminators'
            # parameters, and those gradients must not leak into the discriminators' own step.
            self.model.zero_grad(set_to_none=True)
            terms = self.training_loss(batch, step=step, group=name)
            handed_on = terms.pop(HANDED_ON, None)  # a dict of tensors, though the contract types terms as tensors
            if isinstance(handed_on, dict):
                batch = {**batch, **handed_on}
            self.manual_backward(terms["loss"])
            if self.train_config.grad_clip:
                self.configure_gradient_clipping(optimizer, self.train_config.grad_clip, "norm")
            (optimizer if number == len(groups) - 1 else optimizer.optimizer).step()
            schedule.step()
            if self._logging_step():
                self.log_dict({f"train/{name}/{k}": v.detach().float() for k, v in terms.items()}, prog_bar=False)
            total += terms["loss"].detach().float()
        self.model.zero_grad(set_to_none=True)
        if self._logging_step():
            self.log("train/loss", total, prog_bar=False)
            self.log("loss", total, prog_bar=True, logger=False)
        self._after_step()

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self._after_step()

    def _after_step(self) -> None:
        # At the end of the step rather than in on_train_batch_end: Lightning runs callbacks' hooks first, and a
        # checkpoint written there must already count this step (data position, EMA).
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

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Clip by the global norm. Lightning's mixed-precision plugin refuses to clip for a fused optimizer, since
        under fp16 such an optimizer unscales the gradients itself. bf16 and float32 have no gradient scaler: the
        gradients are true values and are clipped here directly. Under fp16 the optimizer is not fused (see
        configure_optimizers) and Lightning unscales before it clips."""
        if not gradient_clip_val:
            return
        if self._gradient_scaler() is not None:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(parameters, gradient_clip_val)

    def _gradient_scaler(self) -> Any:
        """fp16 mixed precision's GradScaler; None under bf16, float32 or without a trainer."""
        return getattr(getattr(self._trainer, "precision_plugin", None), "scaler", None)

    def configure_optimizers(self) -> Any:
        config = self.train_config
        # A fused AdamW is one kernel per update, but under fp16's gradient scaler it unscales internally, after
        # the point where gradients must be clipped: only then the per-tensor loop.
        fused = self._gradient_scaler() is None
        if self.groups is None:
            optimizer = _adamw(self.model.parameters(), config, {}, fused)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self._lr_factor(step))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
        optimizers = [_adamw(parameters, config, settings, fused) for parameters, settings in self.groups.values()]
        # Stepped by _grouped_step (manual optimisation steps schedules itself); saved and restored by Lightning.
        schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: self._lr_factor(step)) for o in optimizers]
        return optimizers, [{"scheduler": s, "interval": "step"} for s in schedules]

    # Called through a lambda: LambdaLR saves a callable that is not a plain function (a bound method) into its
    # state_dict, which would change the checkpoint's layout.
    def _lr_factor(self, step: int) -> float:
        return lr_factor(self.schedule_step(step), self.train_config)

    # -- validation ------------------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        model = self.inference_model
        terms = model.loss(batch, step=self.schedule_step(self.global_step))
        terms.pop(HANDED_ON, None)
        metrics = {f"val/{k}": v.detach().float() for k, v in terms.items()}
        if "reconstruct" in model.capabilities():
            output = model.reconstruct(batch["indices"], batch.get("labels"))
            predicted = model.codec.to_indices(output, model.representation)
            metrics["val/pixel_accuracy"] = (predicted == batch["indices"]).float().mean()
            metrics["val/palette_adherence"] = model.codec.adherence(output, model.representation)
        # Every rank validates the whole (small) set; sync_dist averages them, so rank 0 logs the same value.
        self.log_dict(
            metrics, batch_size=batch["indices"].shape[0], prog_bar=False, sync_dist=self.trainer.world_size > 1
        )


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


def _adamw(parameters: Any, config: TrainConfig, settings: dict[str, Any], fused: bool = True) -> torch.optim.AdamW:
    """AdamW at the train config's lr and weight decay, overridden by a parameter group's own `settings`."""
    decay: list[torch.Tensor] = []
    no_decay: list[torch.Tensor] = []
    for parameter in parameters:
        if parameter.requires_grad:
            # Weight decay on matrices and kernels only: biases and norm scales are not regularised.
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    options = {"lr": config.lr, "weight_decay": config.weight_decay, **settings}
    weight_decay = options.pop("weight_decay")
    # fused: one kernel for the whole update (CPU and CUDA); 4x faster than the per-tensor loop on this CPU.
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        fused=fused,
        **options,
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier at a schedule step (SpriteModule.schedule_step): linear warm-up to 1, then down to
    min_lr_ratio at schedule_steps (default max_steps), either by a cosine
    (schedule "cosine") or by staying at 1 for the first half of the remaining steps and falling linearly over the
    second half (schedule "linear": CycleGAN's constant-then-linear decay)."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, (config.schedule_steps or config.max_steps) - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    if config.schedule == "linear":
        return 1.0 - (1.0 - config.min_lr_ratio) * max(0.0, 2.0 * progress - 1.0)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
