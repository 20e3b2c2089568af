"""Gaussian diffusion (`ddpm`): a U-Net denoiser trained on noised sprites, sampled by DDPM or DDIM.

    indices (B,H,W) --encode--> x_0 (B,C,H,W) in [-1,1]    rgba: the palette colour (C = 4)
                                                            index: analog bits of the index (C = ceil(log2 K))
    t ~ U{0..T-1}, x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps --UNet(x_t, t, label)--> eps | v | x_0 (MSE)
Sampling runs the reverse process from pure noise with the sampler, step count and eta chosen at sampling time
(diffusion/gaussian.py holds the maths); classifier-free guidance mixes the conditional and null-label outputs.
The result is decoded to the nearest palette colour (rgba) or the nearest index code (index). Inpainting replaces
the known region by the noised original at every step (RePaint) and copies the known pixels back exactly;
variations noise a sprite to strength*T and denoise it.

`Denoiser` is the part shared with discrete diffusion: the U-Net, labels, label dropout and guidance.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from spriteforge.diffusion.gaussian import PREDICTIONS, SCHEDULES, NoiseSchedule
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, GenerativeModel, ModelConfig, register
from spriteforge.models.options import option
from spriteforge.nn.blocks import check_halvable
from spriteforge.nn.pixels import INDEX, RGBA
from spriteforge.nn.tiling import wrap_around
from spriteforge.nn.unet import UNet

SAMPLERS = ("ddim", "ddpm")
# Small enough to train and sample on a laptop CPU (benchmarks/diffusion.py, docs/experiments/diffusion.md).
_CPU_UNET = {"channels": [32, 64, 64], "blocks_per_level": 1, "attention_levels": 1, "dropout": 0.0}


@dataclass
class DenoiserConfig(ModelConfig):
    channels: list[int] = field(default_factory=lambda: [64, 128, 144])  # U-Net width per level (size halves)
    blocks_per_level: int = 2
    attention_levels: int = 1  # self-attention in this many lowest-resolution levels (and always the middle)
    heads: int = 4
    dropout: float = 0.1
    conditional: bool = True  # use the run's labels when it has some
    label_dropout: float = 0.1  # share of training sprites given the null label (classifier-free guidance)
    # Train on the torus: circular padding (nn/tiling.py) in training as in sampling, so the network never sees an
    # edge and every sample repeats without a seam; the run's samples are then tileable unless told otherwise.
    tileable: bool = False


@dataclass
class DiffusionConfig(DenoiserConfig):
    representation: str = RGBA  # rgba in [-1,1], or index: analog bits of the palette index
    schedule: str = "linear"  # linear | cosine
    timesteps: int = 1000
    prediction: str = "eps"  # eps | v | x0


class Denoiser(GenerativeModel):
    """A U-Net conditioned on a step and (optionally) labels, with label dropout and classifier-free guidance."""

    config: DenoiserConfig

    def _build_unet(self, config: DenoiserConfig, spec: DataSpec, in_channels: int, out_channels: int) -> None:
        halvings = len(config.channels) - 1
        if not config.channels:
            raise SpriteforgeError(f"{self.name}: channels must list at least one U-Net level.")
        check_halvable(self.name, spec.height, spec.width, halvings, f", or fewer levels (channels={config.channels})")
        if not 0.0 <= config.label_dropout < 1.0:
            raise SpriteforgeError(f"label_dropout {config.label_dropout}: choose a share in [0, 1).")
        labels = spec.labels if config.conditional else None
        self.unet = UNet(
            in_channels,
            out_channels,
            list(config.channels),
            config.blocks_per_level,
            config.attention_levels,
            config.heads,
            config.dropout,
            labels,
        )

    @property
    def is_conditional(self) -> bool:
        return self.unet.label_embed is not None

    def _padding(self, tileable: bool | None = None) -> AbstractContextManager[None]:
        """The U-Net's padding for a forward pass: circular when `tileable` (the sampling option) says so, or, when it
        is None (training, or the option left out), as the model was trained (config.tileable)."""
        return wrap_around(self.config.tileable if tileable is None else tileable)

    def _train_drop(self, batch: dict[str, Any], size: int, device: torch.device) -> torch.Tensor:
        """(B,) bool: sprites trained with the null label (all of them when the batch has no labels)."""
        if batch.get("labels") is None:
            return torch.ones(size, dtype=torch.bool, device=device)
        return torch.rand(size, device=device) < self.config.label_dropout

    def _predict(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        """The network output, guided: null + w (conditional - null), both halves in one batch. Without labels
        (or w = 1) a single pass: unconditional (the null label) or plainly conditional."""
        b = x.shape[0]
        if labels is None or guidance == 1.0:
            drop = torch.full((b,), labels is None, dtype=torch.bool, device=x.device)
            return self.unet(x, t, labels, drop)
        drop = torch.arange(2 * b, device=x.device) >= b  # (2B,) second half unconditional
        both = self.unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, labels]), drop)
        conditional, unconditional = both.chunk(2)
        return unconditional + guidance * (conditional - unconditional)


def tileable_option() -> Any:
    """The `tileable` sampling option of the U-Net models (one declaration, so both describe it alike)."""
    return option(
        None,
        help="circular padding: the sprite wraps around its edges, a tile that repeats without a seam "
        "(default: as trained, true for runs trained with tileable=true)",
    )


@dataclass
class DiffusionSampleOptions:
    sampler: str = option("ddim", choices=SAMPLERS, help="ddim (deterministic with eta 0) or ddpm (ancestral)")
    steps: int | None = option(
        None, min=1, max=10_000, help="reverse steps, up to the training timesteps (default: 50 or all, if fewer)"
    )
    eta: float = option(0.0, min=0.0, max=1.0, help="DDIM noise: 0 deterministic, 1 like DDPM")
    guidance: float = option(
        1.0, min=0.0, max=50.0, help="classifier-free guidance scale (1 = plain conditional; 3 is typical)"
    )
    tileable: bool | None = tileable_option()


@register("ddpm")
class Diffusion(Denoiser):
    """Gaussian diffusion with a U-Net: eps / v / x0 prediction, DDPM and DDIM samplers, classifier-free guidance."""

    Config = DiffusionConfig
    config: DiffusionConfig
    codes: torch.Tensor  # (K,C) analog-bit code of each colour, a buffer: register_buffer types it `Tensor | Module`
    train_defaults = {"ema": True}
    SampleOptions = DiffusionSampleOptions
    presets = {
        "tiny": {
            "channels": [8, 16],
            "blocks_per_level": 1,
            "heads": 2,
            "dropout": 0.0,
            "timesteps": 10,
            "schedule": "cosine",
        },
        "cpu": dict(_CPU_UNET),
        # The cpu U-Net with the cosine schedule, v-prediction and analog bits of the palette index: the best of the
        # 5-minute sweep on focused_873, confirmed at 15 minutes (docs/leaderboard.md, "Recipe sweeps").
        "cpu15": {**_CPU_UNET, "representation": INDEX, "schedule": "cosine", "prediction": "v"},
        # The Kenney VAE/VQ-VAE/diffusion comparison's U-Net: 7.3M parameters, 1000-step linear schedule.
        "reference": {
            "channels": [64, 128, 144],
            "blocks_per_level": 2,
            "attention_levels": 1,
            "timesteps": 1000,
            "schedule": "linear",
            "prediction": "eps",
        },
    }

    def __init__(self, config: DiffusionConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        for key, value, choices in (
            ("schedule", config.schedule, SCHEDULES),
            ("prediction", config.prediction, PREDICTIONS),
        ):
            if value not in choices:
                raise SpriteforgeError(f"{key} {value!r}: choose one of {', '.join(choices)}.")
        if config.timesteps < 2:
            raise SpriteforgeError(f"timesteps {config.timesteps}: need at least 2.")
        self.schedule = NoiseSchedule(config.schedule, config.timesteps)
        # index mode: colour k is coded by the bits of k as +-1 ("analog bits", Chen et al. 2022): a fixed code,
        # decoded by the nearest code, so the network works in ceil(log2 K) continuous channels.
        bits = max(1, math.ceil(math.log2(spec.num_colors)))
        powers = 2 ** torch.arange(bits)
        self.register_buffer(
            "codes", ((torch.arange(spec.num_colors)[:, None] // powers) % 2).float() * 2 - 1, persistent=False
        )
        channels = bits if config.representation == INDEX else 4
        self._build_unet(config, spec, channels, channels)

    # -- data <-> continuous ----------------------------------------------------------------------
    def encode_pixels(self, indices: torch.Tensor) -> torch.Tensor:
        """(B,H,W) -> (B,C,H,W) x_0 in [-1,1]."""
        if self.representation == INDEX:
            return self.codes[indices.long()].permute(0, 3, 1, 2)
        return self.codec.to_rgba(indices) * 2 - 1

    def code_book(self) -> torch.Tensor:
        """(K,C) the value of every palette entry in x_0 space."""
        return self.codes if self.representation == INDEX else self.codec.colors * 2 - 1

    def decode_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) -> (B,H,W) index of the nearest code (palette colour or index bits)."""
        pixels = x.permute(0, 2, 3, 1).reshape(1, -1, x.shape[1]).float()
        return torch.cdist(pixels, self.code_book()[None])[0].argmin(1).view(x.shape[0], *x.shape[2:])

    def code_adherence(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) share of each sprite's pixels that are exactly a code before decoding, every channel rounded to 8
        bits over [-1,1] as a PNG would store it: in rgba mode the codec's palette adherence; in index mode the
        same test on the index bits, so the two representations are compared on one scale."""
        levels = ((x.float().clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1)  # (B,H,W,C) in 0..255
        codes = ((self.code_book() + 1) * 127.5).round()  # (K,C)
        exact = (levels[..., None, :] == codes).all(-1).any(-1)  # (B,H,W)
        return exact.float().flatten(1).mean(1)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """The contract's output: rgba (B,4,H,W) in [0,1], unsnapped; or (B,H,W) indices in index mode."""
        return (x.clamp(-1, 1) + 1) / 2 if self.representation == RGBA else self.decode_pixels(x)

    # -- training ---------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        x0 = self.encode_pixels(batch["indices"])  # (B,C,H,W)
        b = x0.shape[0]
        t = torch.randint(0, self.schedule.timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        drop = self._train_drop(batch, b, x0.device)
        with self._padding():
            output = self.unet(self.schedule.add_noise(x0, noise, t), t, batch.get("labels"), drop)
        mse = F.mse_loss(output.float(), self.schedule.target(self.config.prediction, x0, noise, t))
        return {"loss": mse}

    # -- sampling ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, **opts: Any
    ) -> torch.Tensor:
        return self.output(self.sample_continuous(n, labels=labels, generator=generator, **opts))

    @torch.no_grad()
    def sample_continuous(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, **opts: Any
    ) -> torch.Tensor:
        """(n,C,H,W) the final x_0 in [-1,1], before any decoding to the palette."""
        shape = (n, self.unet.conv_in.in_channels, self.spec.height, self.spec.width)
        options = self.read_options(opts)
        x = self._noise(shape, generator)
        return self._denoise(x, self._timesteps(options, 1.0), labels, generator, options)

    @torch.no_grad()
    def inpaint(
        self,
        indices: torch.Tensor,
        mask: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        """(B,H,W) sprites, (B,H,W) mask (True = regenerate) -> (B,H,W) indices, unmasked pixels unchanged."""
        options = self.read_options(opts)
        x0 = self.encode_pixels(indices)
        x = self._noise(x0.shape, generator)
        known = (x0, ~mask.bool()[:, None])
        result = self.decode_pixels(
            self._denoise(x, self._timesteps(options, 1.0), labels, generator, options, known=known)
        )
        return torch.where(mask.bool(), result, indices.long())  # the known pixels, bit-exact

    @torch.no_grad()
    def vary(
        self,
        indices: torch.Tensor,
        strength: float,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        """(B,H,W) -> (B,H,W) variations: noise to the step strength*T (of the sampling steps), denoise from there."""
        options = self.read_options(opts)
        timesteps = self._timesteps(options, strength)
        x0 = self.encode_pixels(indices)
        start = torch.full((x0.shape[0],), timesteps[0], device=x0.device)
        x = self.schedule.add_noise(x0, self._noise(x0.shape, generator), start)
        return self.decode_pixels(self._denoise(x, timesteps, labels, generator, options))

    def _timesteps(self, options: DiffusionSampleOptions, strength: float) -> list[int]:
        """The sampling timesteps; a strength < 1 keeps the last strength share of them (as diffusers' img2img)."""
        steps = options.steps or min(50, self.schedule.timesteps)
        if steps > self.schedule.timesteps:
            raise SpriteforgeError(
                f"sampling option steps={steps}: this run was trained with {self.schedule.timesteps} timesteps; "
                f"choose from 1 to {self.schedule.timesteps}."
            )
        if not 0.0 < strength <= 1.0:
            raise SpriteforgeError(f"strength={strength}: choose a value in (0, 1].")
        timesteps = self.schedule.set_timesteps(steps)
        return timesteps[len(timesteps) - max(1, round(steps * strength)) :]

    def _noise(self, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=self.codes.device)

    def _denoise(
        self,
        x: torch.Tensor,
        timesteps: list[int],
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        options: DiffusionSampleOptions,
        known: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x at timesteps[0] -> x_0 estimate (B,C,H,W), clipped to [-1,1]. known = (x_0 of the sprite, (B,1,H,W)
        True where kept): those pixels are replaced by the original noised to the current step, every step."""
        self.check_labels(labels)
        for t, t_prev in zip(timesteps, [*timesteps[1:], -1]):
            t_batch = torch.full((x.shape[0],), t, device=x.device)
            with self._padding(options.tileable):
                output = self._predict(x, t_batch, labels, options.guidance).float()
            # Clip x_0 to the data range and take eps consistent with it (improved-diffusion's DDIM does the same).
            x0 = self.schedule.predict_x0(self.config.prediction, output, x, t_batch).clamp(-1, 1)
            eps = self.schedule.eps_from_x0(x, x0, t_batch)
            noise = self._noise(x.shape, generator) if t_prev >= 0 else None
            if options.sampler == "ddpm":
                x = self.schedule.ddpm_step(x0, x, t, t_prev, noise)
            else:
                x = self.schedule.ddim_step(x0, eps, t, t_prev, options.eta, noise)
            if known is not None:
                original, keep = known
                if t_prev >= 0:
                    prev = torch.full((x.shape[0],), t_prev, device=x.device)
                    original = self.schedule.add_noise(original, self._noise(x.shape, generator), prev)
                x = torch.where(keep, original, x)
        return x.clamp(-1, 1)
