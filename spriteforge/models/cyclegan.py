"""CycleGAN (Zhu et al. 2017) from images (domain A: photos, art) to palette-exact sprites (domain B).

    photo a (B,4,H,W) in [0,1] --G_AB--> logits (B,K,H,W) over domain B's palette --straight-through--> fake b
    sprite b (B,H,W) --codec--> (B,4,H,W) --G_BA--> fake a (B,4,H,W) in [0,1]
    D_A, D_B: PatchGANs scoring (B,4,H,W) images in [-1,1]

G_AB ends in logits over the palette, so a translated image is palette-exact on the exact sprite grid by
construction (argmax), with no snapping step. For the adversarial and cycle losses its output must stay
differentiable: the forward pass uses the argmax colour (what D_B sees is a real palette image, as the sprites it
compares against are) and the backward pass the gradient of the softmax-expected colour (straight-through; see
docs/decisions.md). Everything else is the paper's recipe: LSGAN losses, cycle weight 10, identity weight 0.5 (times
the cycle weight, as in the reference code), a 50-image pool of past fakes for the discriminators, Adam 2e-4 with
beta1 0.5, constant then linearly decaying learning rate (train_defaults and param_groups below).

Residual mode (`residual=True`, see docs/decisions.md): G_AB refines the classical pixelizer instead of drawing from
nothing. Its logits are (-d2 + reach * tanh(G_AB(photo))) / temperature, with d2 (B,K,H,W) the squared RGBA distance
of each photo pixel (rounded to 8 bits, alpha snapped at the threshold: the pixelizer's cell colour) to each palette
colour. With G_AB's head started at zero, the argmax is the pixelizer's nearest colour (`spriteforge convert
--palette RUN/palette.hex`) exactly; training may move a pixel only to a colour at most 2 * reach further away in
squared distance, so the picture is kept by construction while the adversarial loss teaches the palette use,
outlines and shading of the sprite domain.

Depth follows the image size: the paper's generator (2 halvings, 9 blocks) and 70x70 PatchGAN (3 halvings) are
built for 256 px and leave a 16-pixel sprite nothing to convolve; here halvings are 1 at 16 px and 2 from 32 px,
discriminator halvings 1/2/3 at 16/32/64+ px, residual blocks 4 below 64 px, 6 from 64, 9 from 256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spriteforge.data.palette import ALPHA_THRESHOLD
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import HANDED_ON, DataSpec, GenerativeModel, ModelConfig, register
from spriteforge.nn.blocks import check_halvable
from spriteforge.nn.gan import PatchDiscriminator, ResnetGenerator, run_padded
from spriteforge.nn.pixels import INDEX

GROUPS = ("generators", "discriminators")


@dataclass
class CycleGANConfig(ModelConfig):
    width: int = 32  # generator channels after the stem (64 in the paper, for 256 px)
    disc_width: int = 32  # discriminator channels after its first convolution
    blocks: int = 0  # residual blocks; 0 = by image size
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # times cycle_weight
    pool_size: int = 50  # past fakes the discriminators also see; 0 = only the current ones
    residual: bool = False  # G_AB refines the classical pixelizer's nearest colours (module docstring)
    residual_reach: float = 0.1  # residual mode: a pixel may take a colour up to 2 * reach further (squared RGBA)
    residual_temperature: float = 0.01  # residual mode: softness of the nearest-colour logits (in squared distance)


def depth_for(size: int) -> tuple[int, int, int]:
    """(generator halvings, discriminator halvings, residual blocks) for a sprite of `size` pixels."""
    octaves = int(math.log2(max(size, 1)))  # 16 px -> 4, 256 px -> 8
    return min(2, max(1, octaves - 3)), min(3, max(1, octaves - 3)), 9 if size >= 256 else 6 if size >= 64 else 4


@register("cyclegan")
class CycleGAN(GenerativeModel):
    """Unpaired image-to-sprite translation: two generators, two PatchGAN discriminators, adversarially trained.
    A translator, not a generator: it has `translate` and no `sample` (there is no prior to draw sprites from)."""

    Config = CycleGANConfig
    config: CycleGANConfig
    # The image pools (P,4,H,W) and their fill counts (2,), buffers declared because register_buffer leaves them
    # typed `Tensor | Module`.
    pool_a: torch.Tensor
    pool_b: torch.Tensor
    pool_fill: torch.Tensor
    representations = (INDEX,)
    batch_keys = ("domain_a",)
    retired_weights = ("photos", "photos_seen")  # earlier versions kept photos to offer a sample()

    presets = {
        "tiny": {"width": 8, "disc_width": 8, "blocks": 1, "pool_size": 4},
        "reference": {"width": 64, "disc_width": 64, "blocks": 0, "pool_size": 50},
    }
    train_defaults = {
        "lr": 2e-4,
        "weight_decay": 0.0,
        "warmup_steps": 0,
        "schedule": "linear",
        "min_lr_ratio": 0.0,
        "grad_clip": 0.0,
        "batch_size": 16,
    }

    def __init__(self, config: CycleGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        levels, disc_levels, blocks = depth_for(min(spec.height, spec.width))
        check_halvable("cyclegan", spec.height, spec.width, levels, " (e.g. 16 or 32)")
        self.levels = levels
        blocks = config.blocks or blocks
        k = spec.num_colors
        self.g_ab = ResnetGenerator(4, k, config.width, levels, blocks, "resize")  # photo -> palette logits
        if config.residual:
            _check_residual(config)
            head = self.g_ab.model[-1]  # a zero residual: training starts at the pixelizer's output
            for parameter in head.parameters():
                nn.init.zeros_(parameter)
        self.g_ba = ResnetGenerator(4, 4, config.width, levels, blocks, "resize")  # sprite -> photo (tanh)
        self.d_a = PatchDiscriminator(4, config.disc_width, disc_levels)
        self.d_b = PatchDiscriminator(4, config.disc_width, disc_levels)
        shape = (4, spec.height, spec.width)
        # Image pools (persistent, so a resumed run draws from the same past fakes) and how full each is.
        self.register_buffer("pool_a", torch.zeros(config.pool_size, *shape))
        self.register_buffer("pool_b", torch.zeros(config.pool_size, *shape))
        self.register_buffer("pool_fill", torch.zeros(2, dtype=torch.long))

    def param_groups(self) -> dict[str, tuple[list[nn.Parameter], dict[str, Any]]]:
        """Generators, then discriminators (the engine steps them in this order, as the reference code does)."""
        adam = {"betas": (0.5, 0.999)}
        return {
            "generators": ([*self.g_ab.parameters(), *self.g_ba.parameters()], adam),
            "discriminators": ([*self.d_a.parameters(), *self.d_b.parameters()], adam),
        }

    # -- the two mappings --------------------------------------------------------------------------------------
    def _logits_ab(self, images: torch.Tensor) -> torch.Tensor:
        """(B,4,H,W) images in [0,1], any H and W -> G_AB's logits (B,K,H,W) over the palette.

        Sizes the generator cannot halve are padded (edge pixels repeated) to the next multiple and cropped back."""
        raw = run_padded(self.g_ab, images * 2 - 1, 2**self.levels)
        if not self.config.residual:
            return raw
        config = self.config
        return (
            config.residual_reach * torch.tanh(raw) - self._pixelizer_distances(images)
        ) / config.residual_temperature

    def _pixelizer_distances(self, images: torch.Tensor) -> torch.Tensor:
        """(B,4,H,W) in [0,1] -> (B,K,H,W) squared RGBA distances (channels in [0,1]) from the pixelizer's cell colour
        to each palette colour: 8-bit colours, alpha 1 at or above the threshold (else 0, with a zero colour).

        Computed on 8-bit integers, exact in float32 (at most 4 * 255^2), so ties between palette colours break as the
        pixelizer's do (the first). Rounding and snapping are straight-through (x + (round(x) - x).detach() is round(x)
        exactly, the two being within a factor of 2 or round(x) = 0), so the cycle B -> A -> B still trains G_BA."""
        scaled = images * 255
        opaque = (scaled[:, 3:] >= ALPHA_THRESHOLD).to(images.dtype)  # (B,1,H,W)
        cells = torch.cat([torch.round(scaled[:, :3]) * opaque, opaque * 255], 1)
        cells = scaled + (cells - scaled).detach()
        palette = torch.round(self.codec.colors * 255)[None, :, :, None, None]  # (1,K,4,1,1)
        return (cells[:, None] - palette).square().sum(2) / 255**2  # (B,K,H,W)

    def _to_b(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,4,H,W) images in [0,1] -> logits (B,K,H,W) and straight-through palette colours (B,4,H,W)."""
        logits = self._logits_ab(images)
        soft = torch.einsum("bkhw,kc->bchw", logits.softmax(1), self.codec.colors)
        hard = self.codec.to_rgba(logits.argmax(1))
        return logits, hard + soft - soft.detach()

    def _to_a(self, images: torch.Tensor) -> torch.Tensor:
        """(B,4,H,W) in [0,1] -> (B,4,H,W) in [0,1]."""
        return (torch.tanh(self.g_ba(images * 2 - 1)) + 1) / 2

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> torch.Tensor:
        """(B,4,H,W) images in [0,1], any H and W -> (B,H,W) palette indices (G_AB's argmax)."""
        return self._logits_ab(images).argmax(1)

    # -- training ----------------------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, Any]:
        """The loss of one parameter group (default "generators").

        The generators' terms hand their detached fakes on (under HANDED_ON: the engine adds them to the batch of the
        discriminators' loss in the same step), so the discriminators judge the very fakes the generators made, as in
        the reference code, and nothing is kept in the model between calls. Without them (validation), the
        discriminators' loss makes its own."""
        if "domain_a" not in batch:
            raise SpriteforgeError("cyclegan: the batch has no 'domain_a' images (the second domain: photos or art).")
        group = group or GROUPS[0]
        if group not in GROUPS:
            raise SpriteforgeError(f"cyclegan: unknown parameter group {group!r} (it has {', '.join(GROUPS)}).")
        real_a, indices = batch["domain_a"], batch["indices"]  # (B,4,H,W) in [0,1], (B,H,W)
        real_b = self.codec.to_rgba(indices)
        if group == "discriminators":
            return self._discriminator_loss(real_a, real_b, batch.get("fake_a"), batch.get("fake_b"))
        return self._generator_loss(real_a, real_b, indices)

    def _generator_loss(self, real_a: torch.Tensor, real_b: torch.Tensor, indices: torch.Tensor) -> dict[str, Any]:
        config = self.config
        _, fake_b = self._to_b(real_a)
        fake_a = self._to_a(real_b)
        adversarial = _lsgan(self.d_b(fake_b * 2 - 1), True) + _lsgan(self.d_a(fake_a * 2 - 1), True)
        # Cycles: A -> B -> A compared as colours (L1, as in the paper); B -> A -> B as palette indices
        # (cross-entropy of G_AB's logits: the sprite domain is categorical).
        cycle = F.l1_loss(self._to_a(fake_b), real_a) + F.cross_entropy(self._to_b(fake_a)[0], indices)
        identity = torch.zeros((), device=real_a.device)
        if config.identity_weight > 0:
            identity = F.l1_loss(self._to_a(real_a), real_a) + F.cross_entropy(self._to_b(real_b)[0], indices)
        loss = adversarial + config.cycle_weight * (cycle + config.identity_weight * identity)
        logged = {"adversarial": adversarial, "cycle": cycle, "identity": identity}
        fakes = {"fake_a": fake_a.detach(), "fake_b": fake_b.detach()}  # (B,4,H,W) each, for the discriminators
        return {"loss": loss, **{k: v.detach() for k, v in logged.items()}, HANDED_ON: fakes}

    def _discriminator_loss(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor | None, fake_b: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        if fake_a is None or fake_b is None:  # no generator loss before on this batch (validation)
            with torch.no_grad():
                fake_a, fake_b = self._to_a(real_b), self._to_b(real_a)[1]
        fake_a, fake_b = self._from_pool(0, self.pool_a, fake_a), self._from_pool(1, self.pool_b, fake_b)
        loss_a = 0.5 * (_lsgan(self.d_a(real_a * 2 - 1), True) + _lsgan(self.d_a(fake_a * 2 - 1), False))
        loss_b = 0.5 * (_lsgan(self.d_b(real_b * 2 - 1), True) + _lsgan(self.d_b(fake_b * 2 - 1), False))
        return {"loss": loss_a + loss_b, "d_a": loss_a.detach(), "d_b": loss_b.detach()}

    @torch.no_grad()
    def _from_pool(self, which: int, pool: torch.Tensor, fakes: torch.Tensor) -> torch.Tensor:
        """The reference code's ImagePool: while filling, fakes go in and out as they are; then each fake is, with
        probability 1/2, swapped for a random older one (which it replaces). Not in eval mode: validation must not
        move the pool."""
        if not len(pool) or not self.training:
            return fakes
        out = fakes.clone()
        for i, fake in enumerate(fakes):
            filled = int(self.pool_fill[which])
            if filled < len(pool):
                pool[filled] = fake
                self.pool_fill[which] += 1
            elif float(torch.rand(())) < 0.5:
                slot = int(torch.randint(len(pool), ()))
                out[i] = pool[slot].clone()
                pool[slot] = fake
        return out


def _check_residual(config: CycleGANConfig) -> None:
    for name in ("residual_reach", "residual_temperature"):
        if not getattr(config, name) > 0:
            raise SpriteforgeError(f"cyclegan.{name}={getattr(config, name)!r} must be > 0 (see cyclegan.residual).")


def _lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: scores pushed to 1 (real) or 0 (fake)."""
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))
