"""Learned priors over the code grid of a frozen VQ-VAE: `spriteforge train --model prior --set prior.vqvae=RUN`.

    sprites (B,H,W) --frozen VQ-VAE encode--> codes (B,h,w) --transformer | pixelcnn--> logits (B,K,h,w)
    loss = code negative log-likelihood (nats per code; bits_per_code logged beside it)
    sample: codes drawn in raster order (temperature, top-k) --frozen VQ-VAE decode--> palette-exact sprites

The prior declares the VQ-VAE as a frozen part (`frozen_parts`); the engine loads the run prior.vqvae names, records
its model name and config in the prior's config, gives the prior run its data, size and palette, and passes the
module in. The VQ-VAE is part of the prior's module (frozen: no gradients, eval mode, its codebook never updated), so
the prior's weights.safetensors holds it and a prior run is self-contained (docs/decisions.md). Labels (class or
attributes) condition the start token / the gate biases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, FrozenPart, GenerativeModel, ModelConfig, register
from spriteforge.models.options import option
from spriteforge.models.vqvae import VQVAE
from spriteforge.nn.autoregressive import CausalTransformer, GatedPixelCNN
from spriteforge.nn.labels import LabelEmbedding
from spriteforge.nn.pixels import INDEX, draw_categorical

ARCHS = ("transformer", "pixelcnn")


@dataclass
class PriorConfig(ModelConfig):
    vqvae: str | None = None  # the VQ-VAE run folder to build on (required by `spriteforge train`)
    arch: str = "transformer"  # "transformer" (causal, GPT-style) or "pixelcnn" (gated PixelCNN)
    width: int = 128  # embedding / channel width
    layers: int = 4
    heads: int = 4  # transformer only
    kernel: int = 5  # pixelcnn only: horizontal/vertical kernel size (odd)
    dropout: float = 0.0  # transformer only
    conditional: bool = True  # use the run's labels when it has them
    # Recorded from the VQ-VAE run when training starts (see FrozenPart); with neither a run nor these, the prior
    # builds on an untrained VQ-VAE of that name and its "tiny" preset (for tests and smoke runs of the prior alone).
    vqvae_model: str = "vqvae"
    vqvae_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class PriorSampleOptions:
    temperature: float = option(1.0, min=0.0, max=100.0, help="codes: softmax temperature; 0 = the most likely code")
    top_k: int | None = option(None, min=1, max=65_536, help="codes: sample only among the k likeliest (default: all)")


@register("prior")
class Prior(GenerativeModel):
    """Autoregressive prior (causal transformer or gated PixelCNN) over a frozen VQ-VAE's codes; samples decode
    through that VQ-VAE. Set prior.vqvae=RUN; labels condition it when the run has them."""

    Config = PriorConfig
    config: PriorConfig
    SampleOptions = PriorSampleOptions
    presets = {"tiny": {"width": 16, "layers": 1, "heads": 2}}
    frozen_parts = (FrozenPart("vqvae", requires="latent_shape", description="a VQ model (one with a code grid)"),)

    def __init__(self, config: PriorConfig, spec: DataSpec, vqvae: GenerativeModel) -> None:
        super().__init__(config, spec)
        if config.arch not in ARCHS:
            raise SpriteforgeError(f"prior.arch={config.arch!r}: choose one of {', '.join(ARCHS)}.")
        if not isinstance(vqvae, VQVAE):  # the VQ models (vqvae, pixel_vqvae): a code grid and a codebook size
            raise SpriteforgeError(f"the prior's VQ-VAE is a {vqvae.name!r}, not a VQ model (it has no code grid).")
        if vqvae.representation != config.representation:
            raise SpriteforgeError(
                f"prior.representation={config.representation!r} differs from its VQ-VAE's "
                f"({vqvae.representation!r}): leave it unset, it follows the VQ-VAE."
            )
        if (vqvae.spec.height, vqvae.spec.width) != (spec.height, spec.width):
            raise SpriteforgeError(
                f"the prior's sprites are {spec.width}x{spec.height} but its VQ-VAE's are "
                f"{vqvae.spec.width}x{vqvae.spec.height}: a prior codes the VQ-VAE's own size."
            )
        # Labels belong to the prior: the VQ-VAE was built without them.
        self.vqvae = vqvae.requires_grad_(False).eval()
        num_codes, shape = self.vqvae.config.num_codes, self.vqvae.latent_shape
        self.net: nn.Module  # (B,h,w) codes, (B,width) condition -> (B,K,h,w) logits
        if config.arch == "transformer":
            self.net = CausalTransformer(num_codes, shape, config.width, config.layers, config.heads, config.dropout)
        else:
            self.net = GatedPixelCNN(num_codes, config.width, config.layers, config.kernel)
        # The condition of is_conditional, spelled out so that the type checker sees spec.labels is there.
        self.labels = (
            LabelEmbedding(spec.labels, config.width) if config.conditional and spec.labels is not None else None
        )

    @property
    def is_conditional(self) -> bool:
        return self.config.conditional and self.spec.labels is not None

    def train(self, mode: bool = True) -> Prior:
        super().train(mode)
        self.vqvae.eval()  # frozen: always in inference mode
        return self

    def _condition(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """(n,width) condition vectors: the label embedding, or zeros for an unconditional prior."""
        self.check_labels(labels, n)
        if self.labels is None or labels is None:
            return torch.zeros(n, self.config.width, device=self.codec.colors.device)
        return self.labels(labels)

    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            codes = self.vqvae.encode(batch["indices"])  # (B,h,w)
        labels = batch.get("labels") if self.is_conditional else None
        logits = self.net(codes, self._condition(labels, len(codes))).float()  # (B,K,h,w)
        nll = F.cross_entropy(logits, codes)  # nats per code
        return {"loss": nll, "bits_per_code": nll / math.log(2)}

    @torch.no_grad()
    def sample_codes(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        """(n,h,w) codes drawn in raster order; each step reruns the network on the grid drawn so far."""
        height, width = self.vqvae.latent_shape
        device = self.codec.colors.device
        codes = torch.zeros(n, height, width, dtype=torch.long, device=device)
        everywhere = torch.ones_like(codes, dtype=torch.bool)
        return self.redraw_codes(codes, everywhere, labels=labels, generator=generator, **opts)

    @torch.no_grad()
    def redraw_codes(
        self,
        codes: torch.Tensor,
        mask: torch.Tensor,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        """(B,h,w) codes, (B,h,w) bool mask (True = draw again) -> (B,h,w) codes with the masked ones redrawn in
        raster order, the others kept. The prior is causal: a redrawn code follows the codes before it in raster
        order (kept or redrawn), not those after it (fusion repairs its seams with this)."""
        options = self.read_options(opts)
        condition = self._condition(labels, len(codes))
        codes = codes.clone()
        width = codes.shape[2]
        for position in torch.nonzero(mask.flatten(1).any(0)).flatten().tolist():
            row, column = divmod(position, width)
            logits = self.net(codes, condition)[:, :, row, column].float()  # (B,K)
            drawn = draw_categorical(logits, options.temperature, top_k=options.top_k, generator=generator)
            codes[:, row, column] = torch.where(mask[:, row, column], drawn, codes[:, row, column])
        return codes

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        codes = self.sample_codes(n, labels=labels, generator=generator, **opts)
        output = self.vqvae.decode(codes)
        return self.codec.to_indices(output, INDEX) if self.representation == INDEX else output
