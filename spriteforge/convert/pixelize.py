"""The classical pixelizer: any image -> a palette-exact sprite on an exact pixel grid, with no training.

    from spriteforge.convert.pixelize import PixelizeConfig, pixelize_file
    pixelize_file("cat.jpg", "cat.png", PixelizeConfig(size=48, palette="db16", dither="bayer4"), scale=4)

The steps, each a small function below:

1. Grid. The output keeps the image's aspect ratio: its longer side is `size` pixels, the other
   round(size * short / long) (at least 1). The image is cut into that many cells of possibly non-integer size;
   a source pixel belongs to the cell its centre falls in, so cells differ by at most one pixel in width. An image
   smaller than the grid is first enlarged by an integer nearest-neighbour factor, so that no cell is empty.
2. Downscale: one colour per cell, from its opaque pixels (weighted by alpha, so the colour of invisible pixels
   never leaks in): `area` (mean), `median` (per-channel median) or `edge` (see `_edge_colors`).
3. Alpha: a cell whose mean alpha is below `alpha_threshold` is transparent; every other cell is fully opaque.
4. Palette: `auto:K` fits K entries (the transparent one included) by k-means to the cell colours, which is fast
   (at most size x size colours) and spends the colours on what the sprite shows; a named palette or a palette file
   is used as it is.
5. Mapping to the nearest palette colour, optionally dithered (see `_ordered_dither` and `_floyd_steinberg`).
   Transparent cells are never dithered into colours, and no error diffuses into or out of them.
6. Outline (optional): transparent pixels 4-adjacent to an opaque one take the darkest opaque palette colour.

Everything is deterministic for a given seed (only the k-means of `auto:K` uses it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spriteforge import io
from spriteforge.data.cells import CellGrid, check_rgba_image, mean_colors
from spriteforge.data.palette import ALPHA_THRESHOLD, Palette, luma, squared_distances
from spriteforge.data.sprites import LoadReport, SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.progress import track

DITHERS = ("none", "bayer4", "bayer8", "floyd")
DOWNSCALES = ("area", "median", "edge")
# `edge`: a cell whose darker and lighter pixels differ by less than this luma (0..255) is shading, not an edge,
# and keeps its mean colour.
_EDGE_CONTRAST = 48.0
# `edge`: on an edge, the darker side wins from this share of the cell up; below it, the lighter side. Under 1/2,
# so thin dark lines (outlines, eyes, seams) survive the downscale, as a pixel artist would keep them.
_EDGE_DARK_SHARE = 0.35
# Ordered dithering (see `_ordered_dither`): how many of a cell's nearest palette colours may pair up, and how
# much a pair's visible texture counts against its colour accuracy (0: mix whenever it helps; 1: never mix).
_DITHER_CANDIDATES = 4
_DITHER_TEXTURE = 0.65
# Floyd-Steinberg: the share of the quantisation error passed on. Full error diffusion on a 32x32 sprite is
# mostly noise; 3/4 keeps gradients while flat regions settle on one colour.
_FLOYD_STRENGTH = 0.75


@dataclass(frozen=True)
class PixelizeConfig:
    """How to turn an image into pixel art; checked when built, so a bad value fails before any work.

    size: pixels on the output's longer side (the aspect ratio is kept). palette: "auto:K" (K entries fitted to each
    image, transparent included), a shipped palette name or a .hex/.gpl/.json file. dither: none | bayer4 | bayer8
    | floyd. downscale: area | median | edge. outline: a 1-pixel dark outline around the opaque silhouette.
    alpha_threshold: cells whose mean alpha is below it become transparent.
    """

    size: int = 32
    palette: str = "auto:16"
    dither: str = "none"
    downscale: str = "area"
    outline: bool = False
    alpha_threshold: int = ALPHA_THRESHOLD

    def __post_init__(self) -> None:
        if not _is_int(self.size) or self.size < 1:
            raise SpriteforgeError(f"pixelize size {self.size!r} must be an integer >= 1 (pixels on the longer side)")
        _check_choice("dither", self.dither, DITHERS)
        _check_choice("downscale", self.downscale, DOWNSCALES)
        if not _is_int(self.alpha_threshold) or not 1 <= self.alpha_threshold <= 255:
            raise SpriteforgeError(f"alpha_threshold {self.alpha_threshold!r} must be an integer in 1..255")
        _auto_colors(self.palette)  # Checks the auto:K syntax now; palette files are read when used.


@dataclass
class FolderReport:
    """What `convert_folder` did: the PNGs written and the inputs skipped, each with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. '12 image(s) converted, 1 skipped (e.g. broken.png: not a readable image ...)'."""
        line = f"{len(self.written)} image(s) converted"
        if self.skipped:
            path, reason = self.skipped[0]
            line += f", {len(self.skipped)} skipped (e.g. {path.name}: {reason})"
        return line


# ---------------------------------------------------------------------------------------------------- public API


def pixelize(rgba: np.ndarray, config: PixelizeConfig, seed: int = 0) -> SpriteSet:
    """One (H,W,4) uint8 RGBA image -> a SpriteSet holding one (1,h,w) sprite and its palette."""
    return _pixelize(rgba, config, resolve_palette(config.palette), seed)


def pixelize_file(path: str | Path, out: str | Path, config: PixelizeConfig, scale: int = 1, seed: int = 0) -> Path:
    """Pixelize one image file into the exact-size PNG `out` (a folder gets `<stem>.png`); returns its path.

    With `scale` > 1, a nearest-neighbour preview `<stem>_x{scale}.png` is written beside it as well.
    """
    return convert_file(path, out, lambda rgba: pixelize(rgba, config, seed), scale)


def pixelize_folder(
    folder: str | Path,
    out_folder: str | Path,
    config: PixelizeConfig,
    scale: int = 1,
    progress: bool = True,
    seed: int = 0,
) -> FolderReport:
    """Pixelize every image under `folder` (recursively) into `out_folder`, keeping relative names, as .png.

    The palette is resolved once, first, so a bad palette fails before anything is written.
    """
    return convert_folder(folder, out_folder, pixelizer(config, seed), scale, progress)


def pixelizer(config: PixelizeConfig, seed: int = 0) -> Converter:
    """pixelize() as a Converter for convert_file/convert_folder, with the palette resolved (and checked) once."""
    palette = resolve_palette(config.palette)
    return lambda rgba: _pixelize(rgba, config, palette, seed)


def cell_colors(rgba: np.ndarray, size: int, alpha_threshold: int = ALPHA_THRESHOLD) -> np.ndarray:
    """(H,W,4) uint8 image -> (h,w,4) uint8: each cell's colour as the pixelizer (area downscale) reads it before
    mapping it to a palette: 8-bit, fully opaque, or all zero where the cell is transparent. A learned converter
    starts from these (spriteforge/convert/translate.py), so it sees exactly what the classical one quantises."""
    rgb, opaque = _cell_colors(check_rgba_image(rgba), PixelizeConfig(size=size, alpha_threshold=alpha_threshold))
    return _as_rgba(rgb, opaque)


# Any image -> pixel art: the pixelizer, or a trained generator (spriteforge/convert/translate.py).
Converter = Callable[[np.ndarray], SpriteSet]


def convert_file(path: str | Path, out: str | Path, convert: Converter, scale: int = 1) -> Path:
    """Convert one image file with `convert` into the exact-size PNG `out` (a folder gets `<stem>.png`), plus the
    `<stem>_x{scale}.png` nearest-neighbour preview when `scale` > 1; returns the PNG's path."""
    out = output_path(path, out, scale)
    return write_sprite(convert(read_image(path)), out, scale)


def output_path(path: str | Path, out: str | Path, scale: int = 1) -> Path:
    """Where converting the image `path` writes: `out`, or `out/<stem>.png` when `out` is a folder; checks `scale`."""
    _check_scale(scale)
    path, out = Path(path), Path(out)
    if out.is_dir():
        return out / f"{path.stem}.png"
    if out.suffix.lower() != ".png":
        raise SpriteforgeError(f"output {out} must be a .png file or an existing folder (pixel art is saved as PNG)")
    return out


def convert_folder(
    folder: str | Path, out_folder: str | Path, convert: Converter, scale: int = 1, progress: bool = True
) -> FolderReport:
    """Convert every image under `folder` (recursively) into `out_folder`, keeping relative names, as .png.

    Unreadable files are skipped and listed in the report, with the reason; when nothing could be converted (no
    images, or every one failed) it is an error saying why. A progress bar goes to stderr when `progress` is true.
    """
    _check_scale(scale)
    folder, out_folder = Path(folder), Path(out_folder)
    report = FolderReport()
    targets: dict[Path, Path] = {}  # output -> the input that made it, to catch a.png and a.jpg both -> a.png
    files = convertible_files(folder, out_folder)
    for file in track(files, "converting", enabled=progress):
        out = out_folder / file.relative_to(folder).with_suffix(".png")
        if out in targets:
            report.skipped.append((file, f"same output name as {targets[out].name}; rename one of them"))
            continue
        try:
            rgba = read_image(file)
        except SpriteforgeError as err:
            report.skipped.append((file, str(err)))
            continue
        targets[out] = file
        report.written.append(write_sprite(convert(rgba), out, scale))
    if not report.written:  # a run that made nothing is a failure, not a success with a zero in it
        path, reason = report.skipped[0]
        raise SpriteforgeError(
            f"nothing converted: all {len(report.skipped)} image(s) in {folder} failed, e.g. {path.name}: {reason}"
        )
    return report


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H,W,4) uint8 RGBA, refusing images under 2x2 pixels (nothing to convert)."""
    return convertible(io.read_rgba(path), str(path))


def convertible(rgba: np.ndarray, name: str) -> np.ndarray:
    """`rgba` itself, or an error naming `name` when it is under 2x2 pixels (nothing to convert)."""
    if min(rgba.shape[:2]) < 2:
        raise SpriteforgeError(
            f"{name}: {rgba.shape[1]}x{rgba.shape[0]} pixels is too small to convert; give an image of at least 2x2."
        )
    return rgba


def resolve_palette(spec: str) -> Palette | int:
    """The palette a `PixelizeConfig.palette` names: a Palette, or the number of entries K for "auto:K"."""
    colors = _auto_colors(spec)
    if colors is not None:
        return colors
    try:
        return Palette.resolve(spec)
    except SpriteforgeError as err:
        raise SpriteforgeError(f"{err}; or auto:K to fit K colours to each image, e.g. auto:16") from None


def output_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(rows, columns) of the output: the longer side is `size`, the other keeps the aspect ratio (at least 1)."""
    short = math.floor(size * min(height, width) / max(height, width) + 0.5)  # round half up, as users expect
    short = max(1, short)
    return (size, short) if height >= width else (short, size)


# ---------------------------------------------------------------------------------------------------- pipeline


def _pixelize(rgba: np.ndarray, config: PixelizeConfig, palette: Palette | int, seed: int) -> SpriteSet:
    rgba = check_rgba_image(rgba)
    rgb, opaque = _cell_colors(rgba, config)
    quantization = None
    if isinstance(palette, int):
        fitted, quantization = Palette.extract(_as_rgba(rgb, opaque), palette, config.alpha_threshold, seed)
        palette = Palette(fitted.colors, f"auto:{palette}")
    indices = _map_to_palette(rgb, opaque, palette, config.dither)
    if config.outline:
        indices = _outline(indices, palette, config.alpha_threshold)
    report = LoadReport("pixelize", quantization=quantization)
    return SpriteSet(indices[None], palette, report=report)


def _cell_colors(rgba: np.ndarray, config: PixelizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """(h,w,3) float32 RGB of each cell and (h,w) bool opaque mask."""
    longer = max(rgba.shape[:2])
    if longer < config.size:  # A cell must hold at least one source pixel.
        rgba = io.upscale(rgba, -(-config.size // longer))
    grid = CellGrid.of(rgba.shape[:2], output_shape(rgba.shape[0], rgba.shape[1], config.size))
    weight = rgba[..., 3:].astype(np.float32) / 255.0
    opaque = (grid.sums(weight)[..., 0] * 255.0 / grid.counts()) >= config.alpha_threshold
    rgb = rgba[..., :3].astype(np.float32)
    if config.downscale == "median":
        colors = _median_colors(rgba, grid, config.alpha_threshold)
    elif config.downscale == "edge":
        colors = _edge_colors(rgb, weight, grid)
    else:
        colors = mean_colors(rgb, weight, grid)
    return colors, opaque


def _median_colors(rgba: np.ndarray, grid: CellGrid, threshold: int) -> np.ndarray:
    """`median`: the per-channel median of each cell's opaque pixels (the lower one for even counts).

    Per cell-row, one histogram per cell and channel (values are 0..255), so the median is a cumulative count.
    """
    height, width = len(grid.rows) - 1, len(grid.cols) - 1
    cell_of_column = np.repeat(np.arange(width), np.diff(grid.cols))
    colors = np.zeros((height, width, 3), np.float32)
    for row in range(height):
        band = rgba[grid.rows[row] : grid.rows[row + 1]]
        keep = band[..., 3] >= threshold
        cells = np.broadcast_to(cell_of_column, keep.shape)[keep]
        half = np.bincount(cells, minlength=width)[:, None] / 2
        for channel in range(3):
            hist = np.bincount(cells * 256 + band[..., channel][keep], minlength=width * 256).reshape(width, 256)
            colors[row, :, channel] = np.argmax(np.cumsum(hist, axis=1) >= half, axis=1)
    return colors


def _edge_colors(rgb: np.ndarray, weight: np.ndarray, grid: CellGrid) -> np.ndarray:
    """`edge`: cells that straddle an edge take one side's colour instead of the blend of both.

    Each cell's pixels are split at the cell's mean luma into a darker and a lighter group (one step of a 1-D
    2-means). Where the two groups' mean colours differ by less than _EDGE_CONTRAST in luma the cell is shading
    and keeps its mean. Otherwise it takes the darker group's mean when that group covers at least
    _EDGE_DARK_SHARE of the cell, else the lighter group's: boundaries stay crisp (no in-between colours that
    pixel art does not have) and thin dark lines survive, as in hand-made sprites.
    """
    total = grid.sums(weight)
    total_rgb = grid.sums(rgb * weight)
    mean = total_rgb / np.maximum(total, 1e-6)
    dark = (luma(rgb) < grid.spread(luma(mean)))[..., None] * weight
    dark_weight = grid.sums(dark)
    light_weight = total - dark_weight
    dark_mean = grid.sums(rgb * dark) / np.maximum(dark_weight, 1e-6)
    light_mean = (total_rgb - dark_weight * dark_mean) / np.maximum(light_weight, 1e-6)
    both = (dark_weight > 1e-3) & (light_weight > 1e-3)  # Flat cells have no darker group at all.
    edge = both & (luma(light_mean - dark_mean) >= _EDGE_CONTRAST)[..., None]
    side = np.where(dark_weight >= _EDGE_DARK_SHARE * total, dark_mean, light_mean)
    return np.where(edge, side, mean)


def _as_rgba(rgb: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    """(h,w,3) float RGB and an opaque mask -> (h,w,4) uint8, transparent cells all zero."""
    rgba = np.zeros((*opaque.shape, 4), np.uint8)
    rgba[opaque, :3] = np.clip(np.rint(rgb[opaque]), 0, 255).astype(np.uint8)
    rgba[opaque, 3] = 255
    return rgba


# ---------------------------------------------------------------------------------------------------- palette


def _map_to_palette(rgb: np.ndarray, opaque: np.ndarray, palette: Palette, dither: str) -> np.ndarray:
    """(h,w) int64 palette indices of the cells: transparent cells 0, opaque ones the (dithered) nearest colour."""
    if not opaque.any():  # Nothing to map (and an auto palette fitted to no colours has none to map to).
        return np.zeros(opaque.shape, np.int64)
    if dither == "floyd":
        return _floyd_steinberg(rgb, opaque, palette)
    if dither in ("bayer4", "bayer8"):
        return _ordered_dither(rgb, opaque, palette, int(dither[len("bayer") :]))
    return palette.index(_as_rgba(rgb, opaque))


def _ordered_dither(rgb: np.ndarray, opaque: np.ndarray, palette: Palette, n: int) -> np.ndarray:
    """Ordered dithering by colour pairs: each cell mixes at most two palette colours, in a Bayer n x n pattern.

    Adding a threshold offset to the colour and taking the nearest palette colour (textbook ordered dithering)
    turns every mid-tone of a sparse palette such as db16 into a speckle of three or four unrelated hues. Instead,
    each cell picks, among its few nearest palette colours, the pair (a, b) and the ratio r whose mix a + r (b - a)
    best matches it, then shows b where the Bayer threshold is below r and a elsewhere. The pair is chosen by
    squared error plus _DITHER_TEXTURE times the pattern's own variance |b - a|^2 r (1 - r), so that mixing two
    far-apart colours (visible noise) must buy a real gain in colour accuracy; flat regions stay flat.
    Distances are Euclidean in RGBA with the cells opaque, as in Palette.index.
    """
    colors = _opaque_rgba(rgb[opaque])  # (N,4)
    targets = palette.colors[1:].astype(np.float64)  # (K,4)
    nearest = np.argsort(squared_distances(colors, targets), axis=1, kind="stable")[:, :_DITHER_CANDIDATES]
    first, second = np.triu_indices(nearest.shape[1])  # Every pair (i <= j) of candidates; i == j: one colour.
    a, b = targets[nearest[:, first]], targets[nearest[:, second]]  # (N,P,4)
    step = b - a
    length2 = (step**2).sum(-1)
    ratio = np.clip(((colors[:, None] - a) * step).sum(-1) / np.maximum(length2, 1e-9), 0.0, 1.0)
    error = ((colors[:, None] - a - ratio[..., None] * step) ** 2).sum(-1)
    best = np.argmin(error + _DITHER_TEXTURE * length2 * ratio * (1.0 - ratio), axis=1)
    rows = np.arange(len(colors))
    use_second = _bayer_thresholds(opaque.shape, n)[opaque] < ratio[rows, best]
    indices = np.zeros(opaque.shape, np.int64)
    indices[opaque] = np.where(use_second, nearest[rows, second[best]], nearest[rows, first[best]]) + 1
    return indices


def _bayer_thresholds(shape: tuple[int, int], n: int) -> np.ndarray:
    """(h,w) thresholds in (0, 1) tiling the n x n Bayer matrix (n a power of 2)."""
    matrix = np.zeros((1, 1))
    while len(matrix) < n:  # The recursive Bayer construction: M2n = [[4M, 4M+2], [4M+3, 4M+1]].
        matrix = np.block([[4 * matrix, 4 * matrix + 2], [4 * matrix + 3, 4 * matrix + 1]])
    rows, cols = np.indices(shape)
    return (matrix[rows % n, cols % n] + 0.5) / matrix.size


def _opaque_rgba(rgb: np.ndarray) -> np.ndarray:
    """(...,3) RGB -> (...,4) float64 RGBA with alpha 255: cells are opaque once the alpha step is done."""
    return np.concatenate([rgb, np.full((*rgb.shape[:-1], 1), 255.0)], axis=-1).astype(np.float64)


def _floyd_steinberg(rgb: np.ndarray, opaque: np.ndarray, palette: Palette) -> np.ndarray:
    """Serpentine Floyd-Steinberg error diffusion in RGB over the opaque cells only.

    A per-pixel loop: the output is at most a few thousand pixels, and each pixel depends on the previous one.
    """
    height, width = opaque.shape
    # In RGBA with the cells opaque, as Palette.index measures: a palette colour with a lower alpha is farther away.
    # The alpha part of an error only ever pushes alpha above 255, which the clip below undoes.
    work = _opaque_rgba(rgb)
    targets = palette.colors[1:].astype(np.float64)
    indices = np.zeros((height, width), np.int64)
    for y in range(height):
        step = 1 if y % 2 == 0 else -1  # Serpentine: alternating directions avoids diagonal "worm" artefacts.
        for x in range(width)[::step]:
            if not opaque[y, x]:
                continue
            color = np.clip(work[y, x], 0.0, 255.0)  # Clipped so that accumulated error cannot run away.
            best = int(np.argmin(squared_distances(color[None], targets)[0]))
            indices[y, x] = best + 1
            error = _FLOYD_STRENGTH * (color - targets[best])
            for dy, dx, share in ((0, step, 7 / 16), (1, -step, 3 / 16), (1, 0, 5 / 16), (1, step, 1 / 16)):
                if 0 <= y + dy < height and 0 <= x + dx < width and opaque[y + dy, x + dx]:
                    work[y + dy, x + dx] += share * error
    return indices


def _outline(indices: np.ndarray, palette: Palette, threshold: int) -> np.ndarray:
    """Transparent pixels 4-adjacent to opaque ones take the darkest opaque palette colour (if there is one).

    The outline is drawn inside the output (its size does not change), so it is absent where the silhouette
    touches the border.
    """
    candidates = np.flatnonzero(palette.colors[:, 3] >= threshold)
    candidates = candidates[candidates > 0]
    if not candidates.size:
        return indices
    ink = candidates[np.argmin(palette.luminance()[candidates])]
    filled = indices != 0
    near = np.zeros_like(filled)
    near[1:] |= filled[:-1]
    near[:-1] |= filled[1:]
    near[:, 1:] |= filled[:, :-1]
    near[:, :-1] |= filled[:, 1:]
    return np.where(near & ~filled, ink, indices)


# ---------------------------------------------------------------------------------------------------- helpers


def _auto_colors(spec: str) -> int | None:
    """K for "auto:K", None for any other palette spec."""
    if not isinstance(spec, str):
        raise SpriteforgeError(f"palette {spec!r} must be a string: auto:K, a palette name or a palette file")
    if spec != "auto" and not spec.startswith("auto:"):
        return None
    count = spec[len("auto:") :]
    if not count.isdigit() or int(count) < 2:
        raise SpriteforgeError(
            f"palette {spec!r}: write auto:K with K an integer >= 2 (it counts the transparent entry), e.g. auto:16"
        )
    return int(count)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpriteforgeError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


def _check_scale(scale: int) -> None:
    if not _is_int(scale) or scale < 1:
        raise SpriteforgeError(f"preview scale {scale!r} must be an integer >= 1 (1: no preview)")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def convertible_files(folder: Path, out_folder: Path) -> list[Path]:
    """Images under `folder`, sorted, leaving out `out_folder` (which may lie inside it, from an earlier run)."""
    if not folder.is_dir():
        raise SpriteforgeError(f"input folder {folder} not found or not a folder; pass a folder of images")
    skip = out_folder.resolve()
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in io.CONVERTIBLE_SUFFIXES and skip not in path.resolve().parents
    )
    if not files:
        raise SpriteforgeError(
            f"nothing converted: no images in {folder}; convert reads {', '.join(io.CONVERTIBLE_SUFFIXES)} files"
        )
    return files


def write_sprite(sprite: SpriteSet, out: Path, scale: int) -> Path:
    """Write the exact-size PNG and, for scale > 1, the `<stem>_x{scale}.png` preview beside it."""
    image = sprite.to_rgba()[0]
    io.write_png(out, image)  # a failed write names `out` (see io.atomic_path)
    if scale > 1:
        io.write_png(out.with_name(f"{out.stem}_x{scale}.png"), io.upscale(image, scale))
    return out
