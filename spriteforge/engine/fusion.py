"""Fusing two sprites A and B into new ones: which parts come from A, which from B, and how the model joins them.

A mode says where each part comes from, as a region (n,H,W) bool, True = from A:
    left-right   A's left half, B's right half          top-bottom  A's top half, B's bottom half
    mask         a mask image: white = A, black = B     random      a random patchwork of 4x4 blocks, new per fusion
    latent       no region: each latent variable from A or from B at random (models with a flat latent code)

How the parts are joined follows from what the run's model can do, never from its name (`joiner_for`):
    inpaint (ddpm, discrete_diffusion)  PixelJoin: A's pixels in A's region, B's elsewhere, kept exactly except a
        seam band `seam` pixels wide on each side of the border, which the model regenerates (inpaints);
    a code grid (vqvae, pixel_vqvae; a prior through its frozen VQ-VAE)  CodeJoin: A's codes in A's region (the
        region at code resolution), B's elsewhere; a model that redraws codes (the prior) redraws the seam band;
    a flat latent (ae, vae, gumbel_vae)  LatentJoin: latent mixes each variable; region modes mix the conv body's
        feature map and encode the mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F

from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import GenerativeModel
from spriteforge.nn.pixels import INDEX

REGION_MODES = ("left-right", "top-bottom", "mask", "random")
LATENT_MODE = "latent"
MODES = (*REGION_MODES, LATENT_MODE)
RANDOM_BLOCKS = 4  # the random patchwork is RANDOM_BLOCKS x RANDOM_BLOCKS blocks, each from A or B
CODE_GRID = "latent_shape"  # what a VQ model has (the FrozenPart requirement of a prior's VQ-VAE)


@dataclass(frozen=True)
class Fusion:
    """What to fuse: the mode, the mask (mode mask: (H,W) bool, True = from A) and the seam's half-width (pixels for
    models that inpaint, codes for a code grid; 0 = join as cut)."""

    mode: str = "left-right"
    mask: np.ndarray | None = None
    seam: int = 1

    def check(self, modes: tuple[str, ...], size: tuple[int, int]) -> None:
        """Refuse a mode the join lacks, a missing or misfit mask, a negative seam."""
        if self.mode not in modes:
            raise SpriteforgeError(f"mode {self.mode!r}: this run fuses with {', '.join(modes)}.")
        if (self.mask is not None) != (self.mode == "mask"):
            raise SpriteforgeError(
                "mode 'mask' needs a mask (white = from A, black = from B)"
                if self.mask is None
                else f"a mask is for mode 'mask', not {self.mode!r}: drop it or choose mode 'mask'."
            )
        if self.mask is not None and self.mask.shape != size:
            raise SpriteforgeError(
                f"the mask is {self.mask.shape[1]}x{self.mask.shape[0]} but the sprites are {size[1]}x{size[0]}: "
                "draw the mask at the sprites' size."
            )
        if self.seam < 0:
            raise SpriteforgeError(f"seam={self.seam}: give 0 (a plain cut) or more.")


def regions(fusion: Fusion, n: int, size: tuple[int, int], generator: torch.Generator | None) -> torch.Tensor:
    """(n,H,W) bool, True = from A, for a region mode (the same region n times, except `random`: one each)."""
    height, width = size
    region = torch.zeros(n, height, width, dtype=torch.bool)
    if fusion.mode == "left-right":
        region[:, :, : width // 2] = True
    elif fusion.mode == "top-bottom":
        region[:, : height // 2] = True
    elif fusion.mode == "mask":
        assert fusion.mask is not None, "Fusion.check requires a mask for mode 'mask'"
        region[:] = torch.from_numpy(np.ascontiguousarray(fusion.mask, dtype=bool))
    else:  # random: each pixel takes its block's draw; block rows/columns are (position * blocks) // size
        blocks = torch.rand(n, RANDOM_BLOCKS, RANDOM_BLOCKS, generator=generator, device=_device(generator)) < 0.5
        rows = torch.arange(height) * RANDOM_BLOCKS // height
        columns = torch.arange(width) * RANDOM_BLOCKS // width
        region = blocks.cpu()[:, rows][:, :, columns]
    return region


def at_resolution(region: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(n,H,W) bool -> (n,h,w) bool for a coarser grid (H a multiple of h): a cell is A's when at least half its
    pixels are."""
    share = F.adaptive_avg_pool2d(region[:, None].float(), size)[:, 0]  # (n,h,w)
    return share >= 0.5


def seam_band(region: torch.Tensor, half_width: int) -> torch.Tensor:
    """(n,h,w) bool -> (n,h,w) bool: the positions within `half_width` (8-neighbour steps) of both regions, i.e. of
    the border between them."""
    if half_width == 0:
        return torch.zeros_like(region)
    size = 2 * half_width + 1

    def near(part: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(part[:, None].float(), size, stride=1, padding=half_width)[:, 0] > 0

    return near(region) & near(~region)


def _device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def _size(indices: torch.Tensor) -> tuple[int, int]:
    return int(indices.shape[-2]), int(indices.shape[-1])


class Join(Protocol):
    """How a model joins the parts: (model, A (n,H,W), B (n,H,W), fusion, labels, generator, sampling options)
    -> (n,H,W) palette indices; `modes` are the modes it can join."""

    @property
    def modes(self) -> tuple[str, ...]: ...

    def __call__(
        self,
        model: GenerativeModel,
        first: torch.Tensor,
        second: torch.Tensor,
        fusion: Fusion,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        opts: dict[str, Any],
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class PixelJoin:
    """Models that inpaint: keep each sprite's pixels in its region and regenerate the seam band."""

    modes: tuple[str, ...] = REGION_MODES

    def __call__(
        self,
        model: GenerativeModel,
        first: torch.Tensor,
        second: torch.Tensor,
        fusion: Fusion,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        opts: dict[str, Any],
    ) -> torch.Tensor:
        region = regions(fusion, len(first), _size(first), generator).to(first.device)
        collage = torch.where(region, first, second)  # (n,H,W)
        seam = seam_band(region, fusion.seam)
        if not bool(seam.any()):  # seam 0: the collage is the fusion
            return collage
        return model.inpaint(collage, seam, labels=labels, generator=generator, **opts)


@dataclass(frozen=True)
class CodeJoin:
    """VQ models: A's codes in A's region (at code resolution), B's elsewhere; a model that can redraw codes (a prior)
    redraws the seam band; the coder (the VQ model) decodes."""

    coder: GenerativeModel
    modes: tuple[str, ...] = REGION_MODES

    def __call__(
        self,
        model: GenerativeModel,
        first: torch.Tensor,
        second: torch.Tensor,
        fusion: Fusion,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        opts: dict[str, Any],
    ) -> torch.Tensor:
        codes_a, codes_b = self.coder.encode(first), self.coder.encode(second)  # (n,h,w) each
        region = regions(fusion, len(first), _size(first), generator)
        region = at_resolution(region, _size(codes_a)).to(codes_a.device)
        codes = torch.where(region, codes_a, codes_b)
        redraw = getattr(model, "redraw_codes", None)  # a prior's capability: codes given the codes around them
        seam = seam_band(region, fusion.seam)
        if callable(redraw) and bool(seam.any()):
            codes = redraw(codes, seam, labels=labels, generator=generator, **opts)
        else:
            model.read_options(opts)  # a model that draws nothing still refuses options it lacks
        return model.codec.to_indices(self.coder.decode(codes), model.representation)


class FeatureMaps(Protocol):
    """What region modes need of an autoencoder (vae.py): its conv body's feature map, and the code of a map."""

    def feature_map(self, indices: torch.Tensor) -> torch.Tensor: ...

    def encode_feature_map(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class LatentJoin:
    """Autoencoders: `latent` takes each latent variable from A or B at random (one draw per fusion); region modes
    mix the conv body's feature map by region (at its resolution) and encode the mix. Decoded as `sample` decodes."""

    modes: tuple[str, ...]

    def __call__(
        self,
        model: GenerativeModel,
        first: torch.Tensor,
        second: torch.Tensor,
        fusion: Fusion,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
        opts: dict[str, Any],
    ) -> torch.Tensor:
        options = model.read_options(opts)
        given = {} if labels is None else {"labels": labels}
        if fusion.mode == LATENT_MODE:
            code_a, code_b = model.encode(first, **given), model.encode(second, **given)  # (n,D)
            unit = getattr(model, "latent_unit", 1)  # numbers per latent variable (a Gumbel block: its categories)
            draws = torch.rand(len(first), code_a.shape[1] // unit, generator=generator, device=_device(generator))
            from_a = (draws < 0.5).repeat_interleave(unit, dim=1).to(code_a.device)  # (n,D)
            code = torch.where(from_a, code_a, code_b)
        else:
            spatial = cast(FeatureMaps, model)
            map_a, map_b = spatial.feature_map(first), spatial.feature_map(second)  # (n,C,h,w)
            region = regions(fusion, len(first), _size(first), generator)
            region = at_resolution(region, _size(map_a)).to(map_a.device)
            code = spatial.encode_feature_map(torch.where(region[:, None], map_a, map_b), **given)
        output = model.decode(code, **given)
        # Decoders with a colour temperature (DecoderSampleOptions) sample colours with it; others take the argmax.
        temperature = getattr(options, "temperature", 0.0)
        if model.representation == INDEX:
            return model.codec.to_indices(output, INDEX, temperature, generator)
        return model.codec.to_indices(output, model.representation)


def code_grid_model(model: GenerativeModel) -> GenerativeModel | None:
    """The VQ model whose code grid a run fuses: the model itself, or a frozen part that has a code grid (a prior's
    VQ-VAE); None when there is none."""
    if hasattr(model, CODE_GRID):
        return model
    parts = (getattr(model, part.key, None) for part in type(model).frozen_parts)
    return next((part for part in parts if hasattr(part, CODE_GRID)), None)


def joiner_for(model: GenerativeModel) -> Join | None:
    """How this model fuses, from its capabilities: PixelJoin, CodeJoin, LatentJoin, or None (it cannot)."""
    capabilities = model.capabilities()
    if "inpaint" in capabilities:
        return PixelJoin()
    coder = code_grid_model(model)
    if coder is not None:
        return CodeJoin(coder)
    if "encode" in capabilities and "decode" in capabilities:
        spatial = getattr(model, "feature_map_shape", None) is not None
        return LatentJoin((LATENT_MODE, *REGION_MODES) if spatial else (LATENT_MODE,))
    return None


def can_fuse(cls: type[GenerativeModel]) -> bool:
    """Whether a model class fuses (for messages): it inpaints, has a code grid or a part with one, or encodes and
    decodes."""
    capabilities = cls.capabilities()
    return (
        "inpaint" in capabilities
        or hasattr(cls, CODE_GRID)
        or any(part.requires == CODE_GRID for part in cls.frozen_parts)
        or {"encode", "decode"} <= set(capabilities)
    )
