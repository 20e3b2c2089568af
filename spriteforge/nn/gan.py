"""Image-to-image GAN pieces (CycleGAN): a ResNet generator and a PatchGAN discriminator.

The generator follows the CycleGAN paper's ResNet generator (Johnson et al.): a 7x7 reflection-padded stem,
`levels` stride-2 convolutions, residual blocks, `levels` upsamplings back and a 7x7 head, with InstanceNorm
(no affine) and convolution biases. Its layers sit in one Sequential called `model`, in the same order as the
widely used pytorch-CycleGAN-and-pix2pix code, so with upsampling="transpose" and levels=2 its state dict has
exactly that code's key names (model.1.weight, model.10.conv_block.1.weight, ...) and its released weights load.
For training here, upsampling="resize" (nearest x2 + 3x3 conv) avoids the checkerboard that transposed
convolutions leave, which on a 16-pixel sprite is a pattern at the grid's own scale.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLINGS = ("resize", "transpose")


class ResnetBlock(nn.Module):
    """x + (pad, conv3, norm, relu, pad, conv3, norm)(x), at constant size and width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            *_norm_relu(channels),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """(B,in,H,W) -> (B,out,H,W), H and W divisible by 2**levels; the output is unbounded (callers apply tanh,
    or read it as logits)."""

    def __init__(
        self, in_channels: int, out_channels: int, width: int, levels: int, blocks: int, upsampling: str
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), *_norm_relu(width)]
        channels = width
        for _ in range(levels):
            layers += [nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1), *_norm_relu(channels * 2)]
            channels *= 2
        layers += [ResnetBlock(channels) for _ in range(blocks)]
        for _ in range(levels):
            if upsampling == "transpose":
                layers.append(nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1))
            else:
                resize = [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1)]
                layers += [*resize, nn.Conv2d(channels, channels // 2, 3)]
            layers += _norm_relu(channels // 2)
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix): (B,in,H,W) -> (B,1,h,w) real/fake scores of overlapping patches.

    `layers` stride-2 convolutions (the paper's 70x70 PatchGAN on 256 px has 3; a 16-pixel sprite has room for 1),
    then a stride-1 convolution and a 1-channel stride-1 head, 4x4 kernels, LeakyReLU 0.2, InstanceNorm after the
    first convolution."""

    def __init__(self, in_channels: int, width: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = width
        for n in range(1, layers + 1):
            out = width * min(2**n, 8)
            stride = 2 if n < layers else 1
            blocks += [nn.Conv2d(channels, out, 4, stride=stride, padding=1), nn.InstanceNorm2d(out)]
            blocks.append(nn.LeakyReLU(0.2, True))
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def _norm_relu(channels: int) -> list[nn.Module]:
    """InstanceNorm without affine parameters (the reference code's default, so no state-dict keys) and ReLU."""
    return [nn.InstanceNorm2d(channels), nn.ReLU(True)]


def run_padded(network: nn.Module, images: Tensor, step: int) -> Tensor:
    """network(images) for (B,C,H,W) images of any size: padded (edge pixels repeated) to multiples of `step`, which
    a generator with log2(step) halvings needs, and the output cropped back to H x W."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (0, -width % step, 0, -height % step), mode="replicate")
    return network(padded)[..., :height, :width]
