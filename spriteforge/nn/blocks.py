"""Convolutional stacks for small images: each level halves (encoder) or doubles (decoder) the resolution."""

from __future__ import annotations

from torch import Tensor, nn

from spriteforge.errors import SpriteforgeError


def check_halvable(owner: str, height: int, width: int, halvings: int, remedy: str = "") -> None:
    """Refuse an HxW sprite that cannot be halved `halvings` times exactly (each level of a strided stack halves it).

    owner names what needs it (a model or the classifier); `remedy` adds the owner's other ways out, e.g.
    ", or fewer channel levels"."""
    factor = 2**halvings
    if height % factor or width % factor:
        raise SpriteforgeError(
            f"{owner}: a {width}x{height} sprite cannot be halved {halvings} times; "
            f"use a size divisible by {factor}{remedy}."
        )


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide the channel count (batch-size independent, unlike BatchNorm)."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def conv_norm_act(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (stride 1) or 4x4 conv (stride 2, exact halving) + GroupNorm + SiLU."""
    kernel = 4 if stride == 2 else 3
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=1),
        group_norm(out_channels),
        nn.SiLU(),
    )


class DownStack(nn.Module):
    """(B,in,H,W) -> (B,channels[-1],H/2^L,W/2^L) with L = len(channels) levels."""

    def __init__(self, in_channels: int, channels: list[int]) -> None:
        super().__init__()
        layers = [conv_norm_act(in_channels, channels[0])]
        for c_in, c_out in zip([channels[0], *channels[:-1]], channels):
            layers += [conv_norm_act(c_in, c_out, stride=2), conv_norm_act(c_out, c_out)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class UpStack(nn.Module):
    """(B,channels[-1],h,w) -> (B,out,h*2^L,w*2^L): nearest upsampling + conv (no checkerboard artefacts)."""

    def __init__(self, channels: list[int], out_channels: int) -> None:
        super().__init__()
        reversed_channels = list(reversed(channels))
        layers: list[nn.Module] = []
        for c_in, c_out in zip(reversed_channels, [*reversed_channels[1:], reversed_channels[-1]]):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                conv_norm_act(c_in, c_out),
                conv_norm_act(c_out, c_out),
            ]
        layers.append(nn.Conv2d(reversed_channels[-1], out_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
