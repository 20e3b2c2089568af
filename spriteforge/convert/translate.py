"""Images to pixel art with a trained generator: a spriteforge `cyclegan` run, or a generator saved by the
pytorch-CycleGAN-and-pix2pix code (`latest_net_G_A.pth`, its resnet_9blocks / resnet_6blocks ResnetGenerator).

    from spriteforge.convert.translate import generator_converter
    from spriteforge.convert.pixelize import convert_file
    convert_file("cat.jpg", "cat.png", generator_converter("runs/cyclegan", size=16), scale=8)

A run: the image is area-downscaled to the output grid (the longer side `size`, the aspect ratio kept: the
pixelizer's cells, in 8 bits, opaque or transparent, see `cell_colors`) and translated by G_AB, whose output is an index into the run's palette for every pixel: exact grid
and exact palette with nothing to snap. Cells that are transparent in the image stay transparent. `palette` re-colours
the result into another palette (by luminance order, as `spriteforge sample --palette` does).

A .pth generator outputs RGB at the resolution it is given; it runs at WORK_SIZE pixels on the longer side (the
256-pixel crops it was trained on) and its output is then pixelized like any image (grid, palette, dither), which is
what puts it on an exact grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spriteforge.convert.pixelize import Converter, PixelizeConfig, cell_colors, output_shape, pixelizer
from spriteforge.data.cells import area_downscale
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.engine.trained import Run, load_run
from spriteforge.errors import SpriteforgeError
from spriteforge.nn.gan import ResnetGenerator, run_padded

WORK_SIZE = 256
_STEM = "model.1.weight"  # the first 7x7 convolution: (ngf, input channels, 7, 7)


def generator_converter(
    model: str | Path, size: int, palette: str | None = None, dither: str = "none", seed: int = 0
) -> Converter:
    """A function (H,W,4) uint8 image -> SpriteSet for `model`: a run folder, or a .pth generator state dict.

    palette: for a run, re-colour into this palette (default: the run's own); for a .pth generator, the pixelizer's
    palette (default auto:16). dither: .pth generators only (a run's output is already palette indices)."""
    path = Path(model)
    if path.is_dir():
        if dither != "none":
            raise SpriteforgeError(f"--dither {dither}: a run's generator outputs palette indices; nothing to dither.")
        return run_converter(load_run(path), size, palette)
    if path.is_file():
        generator = load_pix2pix_generator(path)
        quantize = pixelizer(PixelizeConfig(size=size, palette=palette or "auto:16", dither=dither), seed)
        return lambda rgba: quantize(_generate(generator, rgba))
    raise SpriteforgeError(f"--model {path}: no such run folder or .pth file.")


def run_converter(run: Run, size: int, palette: str | None) -> Converter:
    """A loaded cyclegan run as a Converter: photo -> its generator's palette indices on the exact grid."""
    if "translate" not in run.model.capabilities():
        raise SpriteforgeError(f"{run.path}: a {run.config.model} run cannot translate images; train a cyclegan.")
    target = Palette.resolve(palette) if palette else None

    def convert(rgba: np.ndarray) -> SpriteSet:
        cells = cell_colors(rgba, size)  # (h,w,4) uint8
        batch = torch.from_numpy(cells).permute(2, 0, 1)[None].to(run.device) / 255.0  # (1,4,h,w) in [0,1]
        with torch.no_grad():
            indices = run.model.translate(batch)[0].cpu().numpy()  # (h,w)
        indices[cells[..., 3] == 0] = 0  # transparent stays transparent
        sprite = SpriteSet(indices[None].astype(np.int64), run.palette)
        return sprite.with_palette(target) if target is not None else sprite

    return convert


def load_pix2pix_generator(path: Path) -> ResnetGenerator:
    """Rebuild the ResnetGenerator a pytorch-CycleGAN-and-pix2pix state dict describes (width, blocks and channels
    read from the tensors) and load it; weights_only, so nothing but tensors is unpickled."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read is a bad file: torch raises several unrelated types
        raise SpriteforgeError(f"{path}: not a readable PyTorch state dict ({type(error).__name__}).") from None
    hint = "expected the state dict of a pytorch-CycleGAN-and-pix2pix resnet generator (e.g. latest_net_G_A.pth)"
    if not isinstance(state, dict) or not isinstance(state.get(_STEM), torch.Tensor) or state[_STEM].dim() != 4:
        raise SpriteforgeError(f"{path}: no {_STEM} tensor; {hint}.")
    # Older saves kept InstanceNorm running statistics; the reference code drops them on load too.
    state = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    width, in_channels = state[_STEM].shape[:2]
    blocks = len({k.split(".")[1] for k in state if ".conv_block." in k})
    head = state.get(f"model.{17 + blocks}.weight")  # stem 4 layers, 2 x 3 down, blocks, 2 x 3 up, pad, conv
    out_channels = int(head.shape[0]) if isinstance(head, torch.Tensor) else 0
    if in_channels != 3 or out_channels != 3:
        channels = f"{in_channels} to {out_channels or '?'} channels"
        raise SpriteforgeError(f"{path}: a generator from {channels}; {hint} (RGB to RGB).")
    generator = ResnetGenerator(3, 3, int(width), levels=2, blocks=blocks, upsampling="transpose")
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        reason = str(error)[:200]
        raise SpriteforgeError(
            f"{path}: the tensors do not fit a {blocks}-block resnet generator ({reason}); {hint}."
        ) from None
    return generator.eval()


def _generate(generator: ResnetGenerator, rgba: np.ndarray) -> np.ndarray:
    """(H,W,4) uint8 -> (h,w,4) uint8: the generator's RGB at WORK_SIZE on the longer side, the image's alpha."""
    image = area_downscale(rgba, output_shape(rgba.shape[0], rgba.shape[1], WORK_SIZE))  # (h,w,4) in [0,1]
    rgb = torch.from_numpy(image[..., :3]).permute(2, 0, 1)[None] * 2 - 1  # (1,3,h,w) in [-1,1], as trained
    with torch.no_grad():
        out = torch.tanh(run_padded(generator, rgb, 4))[0].permute(1, 2, 0).numpy()  # (h,w,3) in [-1,1]
    return np.concatenate([(out + 1) * 127.5, image[..., 3:] * 255], axis=-1).round().clip(0, 255).astype(np.uint8)
