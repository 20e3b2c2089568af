"""Discrete (absorbing-state, masked) diffusion over palette indices (`discrete_diffusion`), sampled as MaskGIT.

    indices (B,H,W) in 0..K-1; a share gamma(r) = cos(r pi/2) of the pixels, r ~ U(0,1), becomes the mask token K
    tokens (B,H,W) in 0..K --one-hot--> (B,K+1,H,W) --UNet(tokens, gamma, label)--> logits (B,K,H,W)
    loss: cross-entropy on the masked pixels only
Sampling starts from an all-mask grid and unmasks in `steps` parallel steps: each step predicts every masked pixel,
keeps the surest predictions (`order`: by occupancy, background or not, by default; with annealed Gumbel noise of
scale `choice_noise` on that score, MaskGIT's "choice temperature") and re-masks the rest, so that
floor(M gamma((s+1)/S)) stay masked (diffusion/masking.py). Every output pixel is a palette index: palette-exact by
construction, no snapping. Inpainting starts from the sprite with only the masked pixels masked;
variations re-mask a random share (the strength) of a sprite's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from spriteforge.diffusion.masking import masked_after, masking_ratio
from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, register
from spriteforge.models.diffusion import Denoiser, DenoiserConfig, tileable_option
from spriteforge.models.options import option
from spriteforge.nn.pixels import INDEX, draw_categorical

# The U-Net's step input: the masked share gamma in [0,1] times this, on the same scale as a 1000-step t.
STEP_SCALE = 1000.0


@dataclass
class DiscreteDiffusionConfig(DenoiserConfig):
    representation: str = INDEX


@dataclass
class UnmaskingSampleOptions:
    steps: int = option(64, min=1, max=10_000, help="parallel unmasking steps")
    temperature: float = option(
        1.0, min=0.0, max=100.0, help="colour sampling temperature (0 = the most likely colour)"
    )
    order: str = option(
        "occupancy",
        choices=("occupancy", "certainty", "confidence"),
        help="what ranks the pixels to commit: occupancy (the probability of the drawn side, background or not, "
        "whatever its colour), certainty (how sure the model is of the pixel's side, whatever was drawn) or "
        "confidence (the probability of the drawn colour: sprites of many colours lose to the background)",
    )
    choice_noise: float = option(
        4.0,
        min=0.0,
        max=1000.0,
        help="Gumbel noise on the confidence that picks which pixels to commit first (0 = greedy: empties sprites)",
    )
    guidance: float = option(
        1.0, min=0.0, max=50.0, help="classifier-free guidance scale (1 = plain conditional; 3 is typical)"
    )
    tileable: bool | None = tileable_option()


@register("discrete_diffusion")
class DiscreteDiffusion(Denoiser):
    """Masked diffusion over the index grid with a U-Net; confidence-based parallel unmasking; guidance as ddpm."""

    Config = DiscreteDiffusionConfig
    config: DiscreteDiffusionConfig
    representations = (INDEX,)
    train_defaults = {"ema": True}
    SampleOptions = UnmaskingSampleOptions
    presets = {
        "tiny": {"channels": [8, 16], "blocks_per_level": 1, "heads": 2, "dropout": 0.0},
        "cpu": {"channels": [32, 64, 64], "blocks_per_level": 1, "attention_levels": 1, "dropout": 0.0},
        # The budget recipe (`--time 15m` with no model named): the cpu network with dropout and mirrored sprites,
        # which cut exact copies of training sprites from 1.6% to 0.4% at the same FID (docs/experiments/time_budget.md).
        "cpu15": {
            "channels": [32, 64, 64],
            "blocks_per_level": 1,
            "attention_levels": 1,
            "dropout": 0.1,
            "data": {"augment": {"flip": True}},
        },
        "reference": {"channels": [64, 128, 144], "blocks_per_level": 2, "attention_levels": 1},
    }

    def __init__(self, config: DiscreteDiffusionConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.mask_token = spec.num_colors  # K: the absorbing state
        self._build_unet(config, spec, spec.num_colors + 1, spec.num_colors)

    def _logits(
        self, tokens: torch.Tensor, labels: torch.Tensor | None, guidance: float = 1.0, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B,H,W) tokens in 0..K -> (B,K,H,W) logits over palette colours; the step is the masked share."""
        masked = (tokens == self.mask_token).flatten(1).float().mean(1) * STEP_SCALE  # (B,)
        x = F.one_hot(tokens, self.mask_token + 1).permute(0, 3, 1, 2).float()
        if drop is not None:  # training: this exact label dropout
            return self.unet(x, masked, labels, drop)
        return self._predict(x, masked, labels, guidance)

    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        indices = batch["indices"].long()  # (B,H,W)
        b = indices.shape[0]
        share = masking_ratio(torch.rand(b, device=indices.device))  # (B,) gamma(r)
        mask = torch.rand(indices.shape, device=indices.device) < share[:, None, None]  # (B,H,W)
        tokens = torch.where(mask, self.mask_token, indices)
        with self._padding():
            logits = self._logits(tokens, batch.get("labels"), drop=self._train_drop(batch, b, indices.device))
        nll = F.cross_entropy(logits.float(), indices, reduction="none")  # (B,H,W)
        loss = (nll * mask).sum() / mask.sum().clamp(min=1)
        accuracy = ((logits.argmax(1) == indices) & mask).sum() / mask.sum().clamp(min=1)
        return {"loss": loss, "masked_accuracy": accuracy.float()}

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, **opts: Any
    ) -> torch.Tensor:
        device = self.codec.colors.device
        tokens = torch.full((n, self.spec.height, self.spec.width), self.mask_token, dtype=torch.long, device=device)
        return self._unmask(tokens, labels, generator, **opts)

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
        """(B,H,W) sprites, (B,H,W) mask (True = regenerate) -> (B,H,W): known tokens are never touched."""
        return self._unmask(torch.where(mask.bool(), self.mask_token, indices.long()), labels, generator, **opts)

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
        """(B,H,W) -> (B,H,W): re-mask a random share `strength` of each sprite's pixels and unmask them again."""
        if not 0.0 < strength <= 1.0:
            raise SpriteforgeError(f"strength={strength}: choose a value in (0, 1].")
        scores = torch.rand(indices.shape, generator=generator, device=indices.device).flatten(1)  # (B,HW)
        count = max(1, round(strength * scores.shape[1]))
        chosen = scores.argsort(1)[:, :count]
        mask = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, chosen, True).view(indices.shape)
        return self.inpaint(indices, mask, labels=labels, generator=generator, **opts)

    def _unmask(
        self,
        tokens: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        **opts: Any,
    ) -> torch.Tensor:
        """MaskGIT decoding: (B,H,W) tokens with some = K -> (B,H,W) indices, in `steps` parallel steps."""
        self.check_labels(labels)
        options = self.read_options(opts)
        steps, temperature, guidance = options.steps, options.temperature, options.guidance
        noise = options.choice_noise
        flat = tokens.flatten(1)  # (B,N) a view: writes go to tokens
        masked = int((flat == self.mask_token).sum(1).max())
        background: int | None = None
        for step in range(steps):
            is_masked = flat == self.mask_token  # (B,N)
            still = int(is_masked.sum(1).max())
            if still == 0:
                break
            with self._padding(options.tileable):
                logits = self._logits(tokens, labels, guidance).float().flatten(2).transpose(1, 2)  # (B,N,K)
            log_probs = F.log_softmax(logits / max(temperature, 1e-6), dim=-1)
            chosen = draw_categorical(logits, temperature, generator=generator)  # (B,N)
            if background is None:  # the colour the model expects most over the masked pixels: the background
                background = int(log_probs[is_masked].exp().mean(0).argmax())
            confidence = self._commit_scores(log_probs, chosen, background, options.order)  # (B,N)
            # Annealed Gumbel noise: early steps explore which pixels to commit, late steps follow confidence.
            # Without it the background, the most confident colour everywhere, is committed first and the sprite
            # comes out as a few specks (docs/experiments/time_budget.md measures the noise scale).
            uniform = torch.rand(confidence.shape, generator=generator, device=confidence.device).clamp(1e-20, 1.0)
            confidence = confidence + noise * (1 - (step + 1) / steps) * -torch.log(-torch.log(uniform))
            confidence = torch.where(is_masked, confidence, torch.inf)  # known pixels always stay
            keep_masked = masked_after(step, steps, masked, still)
            # The keep_masked least confident masked pixels stay masked; every other masked pixel takes its colour.
            rank = confidence.argsort(1).argsort(1)  # (B,N) 0 = least confident
            fill = is_masked & (rank >= keep_masked)
            flat.copy_(torch.where(fill, chosen, flat))
        return tokens

    @staticmethod
    def _commit_scores(log_probs: torch.Tensor, chosen: torch.Tensor, background: int, order: str) -> torch.Tensor:
        """(B,N,K) log-probabilities, (B,N) drawn colours -> (B,N) log-score of committing each drawn colour now.

        confidence: log p(drawn colour). On a set of many colours a sprite pixel's probability is spread over its
        colours, so the background always looks surest and is committed first (docs/experiments/time_budget.md).
        occupancy: the probability of the pixel's side of "background or not": log p(background) for a drawn
        background, log(1 - p(background)) for any other colour, whatever the palette's size.
        certainty: the larger of the two sides' probabilities, whatever was drawn. Scoring the draw biases what is
        committed towards each pixel's likelier side, on sparse sprites the background; scoring only the pixel
        commits each draw at its model probability."""
        if order == "confidence":
            return log_probs.gather(-1, chosen[..., None])[..., 0]
        on_background = log_probs[..., background]  # (B,N)
        off_background = torch.log1p(-on_background.exp().clamp(max=1 - 1e-6))
        if order == "certainty":
            return torch.maximum(on_background, off_background)
        return torch.where(chosen == background, on_background, off_background)
