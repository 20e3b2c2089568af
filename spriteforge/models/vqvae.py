"""VQ-VAE (van den Oord et al. 2017) and the Pixel VQ-VAE (Saravanan & Guzdial, EXAG 2022, arXiv 2203.12130).

    indices (B,H,W) --codec--> x (B,C,H,W) --encoder--> z (B,D,h,w) --VectorQuantizer--> codes (B,h,w), z_q
    z_q --decoder--> logits (B,K,H,W) [index mode] or rgba (B,4,H,W) [rgba mode],   h = H / 2^len(channels)

The Pixel VQ-VAE is the same model with the paper's pixel-art options switched on by its Config defaults:
  adapter     1x1 first and last layers, so colours are mapped per pixel before any neighbourhood is mixed;
  pixelsight  1x1 projections into and out of the quantiser, so each code sees its own grid cell only;
  kernel 2    non-overlapping stride-2 kernels (down) and transposed kernels (up), aligned with the pixel grid;
  channels [] no downsampling at all (one code per pixel);
  ssim_weight the SSIM term of its loss (rgba mode).
A VQ-VAE has no prior of its own, so it has no `sample` (decoding uniformly random codes makes noise, not
sprites): it encodes, decodes and reconstructs, and a `prior` run built on it generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, GenerativeModel, ModelConfig, register
from spriteforge.nn.blocks import check_halvable, conv_norm_act, group_norm
from spriteforge.nn.pixels import INDEX
from spriteforge.nn.quantize import VectorQuantizer
from spriteforge.nn.ssim import differentiable_ssim

KERNELS = (2, 4)  # 2: non-overlapping (Pixel VQ-VAE); 4: overlapping stride-2 convs with nearest upsampling


@dataclass
class VQVAEConfig(ModelConfig):
    width: int = 64  # channels at full resolution
    channels: list[int] = field(default_factory=lambda: [128])  # one entry per halving; [] = no downsampling
    num_codes: int = 256  # K, codebook size
    code_dim: int = 32  # D, codebook vector size
    ema_decay: float = 0.99  # codebook by EMA updates with this decay; 0 = codebook learned by gradients
    commitment: float = 0.25  # beta, weight of ||z - sg(e)||^2
    restart_after: int = 100  # re-seed codes unused for this many training steps; 0 = never
    kernel: int = 4  # downsampling kernel: 4 (overlapping) or 2 (non-overlapping, stride 2)
    adapter: bool = False  # 1x1 first and last layers
    pixelsight: bool = False  # 1x1 projections into and out of the quantiser
    ssim_weight: float = 0.0  # rgba mode: adds ssim_weight * (1 - SSIM) to the MSE


@dataclass
class PixelVQVAEConfig(VQVAEConfig):
    kernel: int = 2
    adapter: bool = True
    pixelsight: bool = True


def _down(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """(B,c_in,H,W) -> (B,c_out,H/2,W/2): a kernel-4 overlapping or a kernel-2 non-overlapping stride-2 conv."""
    if kernel == 4:
        return conv_norm_act(c_in, c_out, stride=2)
    return nn.Sequential(nn.Conv2d(c_in, c_out, 2, stride=2), group_norm(c_out), nn.SiLU())


def _up(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """(B,c_in,h,w) -> (B,c_out,2h,2w): nearest + 3x3 conv (kernel 4) or a 2x2 stride-2 transposed conv (kernel 2,
    each input cell paints exactly its own 2x2 block)."""
    if kernel == 4:
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv_norm_act(c_in, c_out))
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 2, stride=2), group_norm(c_out), nn.SiLU())


def _edge(c_in: int, c_out: int, adapter: bool) -> nn.Conv2d:
    """First/last layer: a 1x1 adapter (per pixel) or a 3x3 conv."""
    return nn.Conv2d(c_in, c_out, 1) if adapter else nn.Conv2d(c_in, c_out, 3, padding=1)


@register("vqvae")
class VQVAE(GenerativeModel):
    """VQ-VAE: conv encoder, vector quantiser (EMA or gradient codebook, dead-code restarts), conv decoder.
    No sample(): a VQ-VAE has no prior over its codes; train a `prior` on the run to generate."""

    Config = VQVAEConfig
    config: VQVAEConfig
    presets = {"tiny": {"width": 8, "channels": [16], "num_codes": 16, "code_dim": 8}}

    def __init__(self, config: VQVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self._check(config, spec)
        in_channels = spec.num_colors if config.representation == INDEX else 4
        widths = [config.width, *config.channels]  # full resolution first
        hidden = widths[-1]
        down: list[nn.Module] = [_edge(in_channels, config.width, config.adapter), group_norm(config.width), nn.SiLU()]
        for c_in, c_out in zip(widths, widths[1:]):
            down += [_down(c_in, c_out, config.kernel), conv_norm_act(c_out, c_out)]
        up: list[nn.Module] = []
        if config.pixelsight:  # hidden -> D and D -> hidden by 1x1 convs around the quantiser
            down += [nn.Conv2d(hidden, config.code_dim, 1)]
            up += [nn.Conv2d(config.code_dim, hidden, 1), nn.SiLU()]
        else:
            down += [nn.Conv2d(hidden, config.code_dim, 3, padding=1)]
            up += [conv_norm_act(config.code_dim, hidden)]
        for c_in, c_out in zip(reversed(widths), list(reversed(widths))[1:]):
            up += [_up(c_in, c_out, config.kernel), conv_norm_act(c_out, c_out)]
        up += [_edge(config.width, in_channels, config.adapter)]
        self.encoder = nn.Sequential(*down)  # (B,C,H,W) -> (B,D,h,w)
        self.quantizer = VectorQuantizer(
            config.num_codes, config.code_dim, config.commitment, config.ema_decay, config.restart_after
        )
        self.decoder = nn.Sequential(*up)  # (B,D,h,w) -> (B,C,H,W)

    def _check(self, config: VQVAEConfig, spec: DataSpec) -> None:
        name = type(self).__name__.lower()
        levels = len(config.channels)
        check_halvable(
            name, spec.height, spec.width, levels, f", fewer levels (channels={config.channels}), or channels=[]"
        )
        if config.kernel not in KERNELS:
            raise SpriteforgeError(f"{name}.kernel={config.kernel}: choose 2 (non-overlapping) or 4 (overlapping).")
        if config.ssim_weight and config.representation == INDEX:
            raise SpriteforgeError(
                f"{name}.ssim_weight is an rgba-mode loss: use representation 'rgba', or set it to 0."
            )
        if not 0 <= config.ema_decay < 1 or config.num_codes < 2:
            raise SpriteforgeError(f"{name}: need 0 <= ema_decay < 1 (0 = gradient codebook) and num_codes >= 2.")

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(h, w) of the code grid."""
        factor = 2 ** len(self.config.channels)
        return self.spec.height // factor, self.spec.width // factor

    # -- discrete latent space ------------------------------------------------------------------
    def encode(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,H,W) sprites -> (B,h,w) long code grid."""
        return self.quantizer.codes_of(self.encoder(self.codec.encode(indices, self.representation)))

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B,h,w) codes -> (B,K,H,W) logits (index mode) or (B,4,H,W) rgba in [0,1] (rgba mode)."""
        out = self.decoder(self.quantizer.lookup(codes))
        return out if self.representation == INDEX else torch.sigmoid(out.float())

    def reconstruct(self, indices: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(indices))

    # -- contract ------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        indices = batch["indices"]  # (B,H,W)
        z = self.encoder(self.codec.encode(indices, self.representation))  # (B,D,h,w)
        z_q, _, terms = self.quantizer(z)
        output = self.decoder(z_q).float()  # (B,C,H,W)
        if self.representation == INDEX:
            recon = F.cross_entropy(output, indices.long())  # nats per pixel
        else:
            rgba, target = torch.sigmoid(output), self.codec.to_rgba(indices)
            recon = F.mse_loss(rgba, target)
            if self.config.ssim_weight:
                terms["ssim"] = differentiable_ssim(rgba, target).mean()
                recon = recon + self.config.ssim_weight * (1 - terms["ssim"])
        return {"loss": recon + terms["vq"], "recon": recon, **terms}


@register("pixel_vqvae")
class PixelVQVAE(VQVAE):
    """Pixel VQ-VAE: the VQ-VAE with 1x1 adapters, PixelSight 1x1 projections and non-overlapping stride-2 kernels
    (and optionally SSIM loss, no downsampling). No sample(): train a `prior` on it to generate."""

    Config = PixelVQVAEConfig
    config: PixelVQVAEConfig
    presets = {
        "tiny": VQVAE.presets["tiny"],
        # The paper's quantiser: K=256, D=32, EMA 0.99, commitment 0.25, with all its pixel-art options on.
        "reference": {
            "num_codes": 256,
            "code_dim": 32,
            "ema_decay": 0.99,
            "commitment": 0.25,
            "kernel": 2,
            "adapter": True,
            "pixelsight": True,
        },
    }
