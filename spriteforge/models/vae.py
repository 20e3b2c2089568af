"""Autoencoders: the deterministic `ae` and the variational `vae`, one convolutional family.

    indices (B,H,W) --codec--> x (B,C,H,W) --DownStack--> h (B,C_L,h,w) --linear--> z (B,D)
    z --linear--> (B,C_L,h,w) --UpStack--> logits (B,K,H,W) [index mode] or rgba (B,4,H,W) [rgba mode]

Index mode is a categorical decoder over the K palette colours (cross-entropy), so outputs are palette-exact by
construction. rgba mode decodes colours in [0,1] (MSE or BCE) and is snapped to the palette at the end.
The VAE adds a Gaussian posterior, beta, KL warm-up and free bits; the AE samples from a Gaussian fitted to its
training latents (running mean and variance), since it has no prior of its own.

Conditioning is one option for every body and both models (Pallets' labelled and conditional VAEs):
"labelled" concatenates the label vector y (B,L) to the encoder features before the latent head, so the code need
not spend capacity on what the labels say; "conditional" also concatenates y to z before the decoder, so samples
can be asked for labels. Categorical labels (B,) become one-hot; multi-hot rows (B,L) are used as they are, and any
float (B,L) row (a blend of labels) is accepted too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, GenerativeModel, ModelConfig, register
from spriteforge.models.options import option
from spriteforge.nn.blocks import DownStack, UpStack, check_halvable
from spriteforge.nn.labels import label_matrix
from spriteforge.nn.pixels import INDEX

RGBA_LOSSES = ("mse", "bce")
# conditioning -> (labels go to the encoder, labels go to the decoder)
CONDITIONING = {"none": (False, False), "labelled": (True, False), "conditional": (True, True)}
# Momentum of the AE's running latent statistics (per training step).
LATENT_STATS_MOMENTUM = 0.02


@dataclass
class AEConfig(ModelConfig):
    body: str = "conv"  # "conv" (Pallets' ConvAE/ConvVAE) or "mlp" (Pallets' fully connected AE/VAE)
    latent_dim: int = 32
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])  # conv: one entry per halving of the size
    hidden: list[int] = field(default_factory=lambda: [512, 256])  # mlp: hidden layer widths, encoder order
    rgba_loss: str = "mse"  # rgba mode only: "mse" or "bce"
    conditioning: str = "none"  # "none", "labelled" (labels to the encoder) or "conditional" (encoder and decoder)


@dataclass
class VAEConfig(AEConfig):
    beta: float = 1.0  # weight of the KL term
    kl_warmup_steps: int = 0  # beta ramps linearly from 0 over this many steps
    free_bits: float = 0.0  # nats per latent dimension below which KL is not penalised


# A body builds the encoder ((B,C,H,W) -> (B,F)), says F, and gives a function that builds the decoder
# ((B,D) -> (B,C,H,W)) for a latent size D.
DecoderFactory = Callable[[int], nn.Module]


def _conv_body(in_channels: int, spec: DataSpec, config: AEConfig, name: str) -> tuple[nn.Module, int, DecoderFactory]:
    """Strided convolutions down to a small grid, flattened; nearest upsampling + convolutions back up."""
    levels = len(config.channels)
    if not levels:
        raise SpriteforgeError(f"{name.lower()}: channels must list at least one level for the conv body.")
    check_halvable(name.lower(), spec.height, spec.width, levels, f", or fewer levels (channels={config.channels})")
    bottleneck = (config.channels[-1], spec.height // 2**levels, spec.width // 2**levels)
    flat = bottleneck[0] * bottleneck[1] * bottleneck[2]
    encoder = nn.Sequential(DownStack(in_channels, config.channels), nn.Flatten())

    def decoder(latent_dim: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(latent_dim, flat), nn.SiLU(), nn.Unflatten(1, bottleneck), UpStack(config.channels, in_channels)
        )

    return encoder, flat, decoder


def _mlp_body(in_channels: int, spec: DataSpec, config: AEConfig, name: str) -> tuple[nn.Module, int, DecoderFactory]:
    """Fully connected layers on the flattened sprite, as in the Pallets MLP autoencoders."""
    if not config.hidden:
        raise SpriteforgeError(f"{name.lower()}: the mlp body needs at least one hidden width (e.g. hidden=[512,256]).")
    pixels = in_channels * spec.height * spec.width
    widths = [pixels, *config.hidden]
    encoder = nn.Sequential(nn.Flatten(), *_dense_stack(widths))

    def decoder(latent_dim: int) -> nn.Module:
        back = [latent_dim, *reversed(config.hidden)]
        return nn.Sequential(
            *_dense_stack(back), nn.Linear(back[-1], pixels), nn.Unflatten(1, (in_channels, spec.height, spec.width))
        )

    return encoder, config.hidden[-1], decoder


def _dense_stack(widths: list[int]) -> list[nn.Module]:
    """Linear + SiLU between each consecutive pair of widths."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths, widths[1:]):
        layers += [nn.Linear(width_in, width_out), nn.SiLU()]
    return layers


BODIES = {"conv": _conv_body, "mlp": _mlp_body}


@dataclass
class DecoderSampleOptions:
    """Sampling a decoder's per-pixel colour logits (autoencoders, VQ-VAEs)."""

    temperature: float = option(
        0.0,
        min=0.0,
        max=100.0,
        help="0 = the most likely colour per pixel; > 0 samples colours at this temperature (index mode)",
    )


@register("ae")
class AE(GenerativeModel):
    """Autoencoder (deterministic), with a convolutional or fully connected body."""

    Config = AEConfig
    config: AEConfig
    # The AE's code statistics (D,), buffers declared because register_buffer leaves them typed `Tensor | Module`.
    latent_mean: torch.Tensor
    latent_var: torch.Tensor
    SampleOptions = DecoderSampleOptions
    presets = {"tiny": {"latent_dim": 4, "channels": [8, 16], "hidden": [32]}}

    def __init__(self, config: AEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.body not in BODIES:
            raise SpriteforgeError(f"body {config.body!r}: choose one of {', '.join(BODIES)}.")
        if config.rgba_loss not in RGBA_LOSSES:
            raise SpriteforgeError(f"rgba_loss {config.rgba_loss!r}: choose one of {', '.join(RGBA_LOSSES)}.")
        self.labels_in_encoder, self.labels_in_decoder = self._conditioning(config, spec)
        label_dim = len(spec.labels) if self.labels_in_encoder and spec.labels is not None else 0
        in_channels = spec.num_colors if config.representation == INDEX else 4
        # Built in this order (encoder, latent head, decoder) so a seed gives the same weights whatever the body.
        self.encoder, features, make_decoder = BODIES[config.body](in_channels, spec, config, type(self).__name__)
        self.to_latent = nn.Linear(features + label_dim, self.latent_outputs(config.latent_dim))
        self.decoder = make_decoder(config.latent_dim + (label_dim if self.labels_in_decoder else 0))
        self._register_prior_buffers(config.latent_dim)

    def _conditioning(self, config: AEConfig, spec: DataSpec) -> tuple[bool, bool]:
        if config.conditioning not in CONDITIONING:
            raise SpriteforgeError(f"conditioning {config.conditioning!r}: choose one of {', '.join(CONDITIONING)}.")
        if config.conditioning != "none" and spec.labels is None:
            raise SpriteforgeError(
                f"{self.name} with conditioning={config.conditioning!r} learns from labels, but the data has none: "
                "train it on labelled sprites (a labels CSV), or set conditioning=none.",
                value="data.labels",
            )
        return CONDITIONING[config.conditioning]

    @property
    def is_conditional(self) -> bool:
        return self.labels_in_decoder and self.spec.labels is not None

    def _register_prior_buffers(self, latent_dim: int) -> None:
        """The AE's sampling distribution: running mean and variance of its training codes."""
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_var", torch.ones(latent_dim))

    # -- latent space -------------------------------------------------------------------------------
    @staticmethod
    def latent_outputs(latent_dim: int) -> int:
        return latent_dim

    def label_vector(self, labels: torch.Tensor | None, where: str) -> torch.Tensor:
        """Labels as (B,L) floats: categorical (B,) -> one-hot; (B,L) rows as they are. `where` names the step
        that needs them, for the error when they are missing."""
        vocabulary = self.spec.labels
        assert vocabulary is not None, "_conditioning refuses label conditioning without a vocabulary"
        if labels is None:
            raise SpriteforgeError(
                f"this {self.name} run was trained with conditioning={self.config.conditioning!r}, so {where} needs "
                "labels (a label name or row for each sprite, e.g. from the labels CSV it was trained with). "
                f"Vocabulary: {', '.join(vocabulary.names)}.",
                value="data.labels" if where == "encoding" else "labels",  # the sprites' labels or the ones asked for
            )
        return label_matrix(labels, vocabulary)

    def _posterior(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,H,W) -> raw encoder output (B, latent_outputs)."""
        x = self.codec.encode(indices, self.representation)  # (B,C,H,W)
        return self._head(self.encoder(x), labels)

    def _head(self, features: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """(B,F) encoder features -> (B, latent_outputs), with the labels when they go to the encoder."""
        if self.labels_in_encoder:
            features = torch.cat([features, self.label_vector(labels, "encoding").to(features.dtype)], dim=1)  # (B,F+L)
        return self.to_latent(features)

    def code_of(self, posterior: torch.Tensor) -> torch.Tensor:
        """(B, latent_outputs) -> (B,D) the code `encode` returns (the posterior mean for the VAE)."""
        return posterior[:, : self.config.latent_dim]

    def encode(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,H,W) -> (B,D) latent codes (the posterior mean for the VAE)."""
        return self.code_of(self._posterior(indices, labels))

    # -- the spatial feature map (region fusion mixes it) --------------------------------------------
    @property
    def feature_map_shape(self) -> tuple[int, int] | None:
        """(h, w) of the conv body's last feature map; None for the mlp body, which has no spatial map."""
        if self.config.body != "conv":
            return None
        factor = 2 ** len(self.config.channels)
        return self.spec.height // factor, self.spec.width // factor

    def feature_map(self, indices: torch.Tensor) -> torch.Tensor:
        """(B,H,W) -> (B,C_L,h,w): the conv body's features before they are flattened (encoder = DownStack,
        Flatten)."""
        if self.feature_map_shape is None or not isinstance(self.encoder, nn.Sequential):
            raise SpriteforgeError(
                f"this {self.name} has the {self.config.body} body, which has no spatial feature map."
            )
        return self.encoder[0](self.codec.encode(indices, self.representation))

    def encode_feature_map(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,C_L,h,w) feature maps (from `feature_map`, possibly mixed) -> (B,D) codes, as `encode` finishes."""
        return self.code_of(self._head(features.flatten(1), labels))

    @property
    def latent_unit(self) -> int:
        """How many consecutive code numbers make one latent variable (fusion mixes whole variables): 1 here."""
        return 1

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,D) -> (B,K,H,W) logits (index mode) or (B,4,H,W) rgba in [0,1] (rgba mode)."""
        out = self._decode_raw(z, labels)
        return out if self.representation == INDEX else torch.sigmoid(out.float())

    def _decode_raw(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,D) -> (B,C,H,W) logits: over colours (index mode) or per RGBA channel (rgba mode)."""
        if self.labels_in_decoder:
            z = torch.cat([z, self.label_vector(labels, "decoding").to(z.dtype)], dim=1)  # (B,D+L)
        return self.decoder(z)

    def reconstruct(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(indices, labels), labels)

    def _latent_and_penalty(
        self, posterior: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """(z, {penalty name: (value to log, weighted term added to the summed loss)}).

        The AE uses its code as is, and tracks its statistics so that `sample` has a distribution to draw from."""
        posterior = posterior.float()  # the statistics are float32 buffers, whatever the autocast dtype
        if self.training:
            with torch.no_grad():
                self.latent_mean.lerp_(posterior.mean(0), LATENT_STATS_MOMENTUM)
                self.latent_var.lerp_(posterior.var(0, unbiased=False) + 1e-6, LATENT_STATS_MOMENTUM)
        return posterior, {}

    def _prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return self.latent_mean + self._noise(n, generator) * self.latent_var.sqrt()

    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """(n,D) standard normal latent noise on the model's device."""
        device = self.to_latent.weight.device
        return torch.randn(n, self.config.latent_dim, generator=generator, device=device)

    # -- contract -----------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        indices, labels = batch["indices"], batch.get("labels")  # (B,H,W), optional (B,) or (B,L)
        z, penalties = self._latent_and_penalty(self._posterior(indices, labels), step)
        output = self._decode_raw(z, labels)
        pixels = indices.shape[1] * indices.shape[2]
        recon = self._reconstruction_nll(output, indices)  # (B,) summed over pixels
        terms = {"recon": recon.mean() / pixels}  # per pixel: nats (index) or squared error / BCE (rgba)
        total = recon.mean()
        for name, (logged, weighted) in penalties.items():
            terms[name] = logged
            total = total + weighted
        terms["loss"] = total / pixels
        return terms

    def _reconstruction_nll(self, logits: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """(B,) negative log-likelihood (index: cross-entropy) or squared error / BCE (rgba), summed per sprite.

        logits: the raw decoder output; BCE works on logits (stable, and allowed under CUDA autocast)."""
        logits = logits.float()
        if self.representation == INDEX:
            return F.cross_entropy(logits, indices.long(), reduction="none").flatten(1).sum(1)
        target = self.codec.to_rgba(indices)
        if self.config.rgba_loss == "bce":
            per_value = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            per_value = F.mse_loss(torch.sigmoid(logits), target, reduction="none")
        return per_value.flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        **opts: Any,
    ) -> torch.Tensor:
        temperature = self.read_options(opts).temperature
        self.check_labels(labels, n)
        output = self.decode(self._prior(n, generator), labels)
        if self.representation == INDEX:
            return self.codec.to_indices(output, INDEX, temperature, generator)  # (n,H,W)
        return output  # (n,4,H,W) rgba in [0,1], snapped by the caller


@register("vae")
class VAE(AE):
    """VAE: Gaussian posterior, standard normal prior, beta, KL warm-up and free bits; conv or mlp body."""

    Config = VAEConfig
    config: VAEConfig

    @staticmethod
    def latent_outputs(latent_dim: int) -> int:
        return 2 * latent_dim  # mean and log-variance

    def _latent_and_penalty(
        self, posterior: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        mean, log_var = posterior.float().chunk(2, dim=1)  # (B,D) each
        log_var = log_var.clamp(-12.0, 8.0)  # keeps exp() finite early in training
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        kl_per_dim = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var)  # (B,D) KL(q || N(0,1))
        kl = kl_per_dim.sum(1).mean()
        # Free bits: dimensions whose batch-mean KL is under the threshold are not pushed further towards the prior.
        penalised = kl_per_dim.mean(0).clamp(min=self.config.free_bits).sum() if self.config.free_bits else kl
        return z, {"kl": (kl, self._beta(step) * penalised)}

    def _beta(self, step: int) -> float:
        warmup = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def _register_prior_buffers(self, latent_dim: int) -> None:
        """None: the VAE's prior is N(0, I)."""

    def _prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return self._noise(n, generator)
