"""SpriteSet: palette indices (N,H,W) + a Palette + optional labels, and loading one from folders and sheets.

The indices are the truth; RGBA is derived from them. Loading turns every image into RGBA, places it on a
transparent canvas of one size (centred, never resampled), builds or applies the palette, and indexes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spriteforge import io
from spriteforge.data import catalog, procedural
from spriteforge.data.labels import CATEGORICAL, LabelSpec, read_labels_csv
from spriteforge.data.palette import ALPHA_THRESHOLD, Palette, QuantizationReport
from spriteforge.data.sheets import clear_transparent, slice_sheet
from spriteforge.errors import SpriteforgeError

# Without --size the canvas is the largest sprite found, up to this. Sprites are 8 to 64 pixels; a larger image is a
# photo or an unsliced sheet, and letting it set the canvas would give every sprite its size (one 8000x8000 image
# made a folder of sprites ask for 57.7 GiB). Such images are refused by name instead.
MAX_DEFAULT_CANVAS = 256
# The (N,S,S,4) uint8 canvas is refused beyond this, before it is allocated; indexing and the palette take a few
# times as much again.
MAX_CANVAS_BYTES = 2 * 1024**3


@dataclass
class LoadReport:
    """What loading did besides producing sprites: files skipped, and how the palette was made."""

    source: str
    skipped: list[str] = field(default_factory=list)
    quantization: QuantizationReport | None = None
    incomplete_sets: list[str] = field(default_factory=list)  # sheets: sets left out for a missing slot

    def summary(self) -> str:
        lines = [f"source: {self.source}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s), e.g. {self.skipped[0]}")
        if self.incomplete_sets:
            lines.append(
                f"left out {len(self.incomplete_sets)} set(s) with a slot missing, e.g. {self.incomplete_sets[0]}"
            )
        if self.quantization is not None:
            lines.append(self.quantization.summary())
        return "\n".join(lines)


@dataclass
class SpriteSet:
    """N sprites of one size as palette indices.

    indices: (N,H,W) integer array into `palette`; labels: (N,) int64 categories or (N,L) float32 multi-hot,
    described by `label_spec`; names: one source name per sprite (file path or sheet position). A set of sheets
    (data/sets.py) has `slots` > 1: each row is that many related sprites side by side, (N,H,slots*W).
    """

    indices: np.ndarray
    palette: Palette
    labels: np.ndarray | None = None
    label_spec: LabelSpec | None = None
    names: list[str] = field(default_factory=list)
    report: LoadReport | None = None
    slots: int = 1

    def __post_init__(self) -> None:
        if self.indices.ndim != 3:
            raise ValueError(f"indices must be (N,H,W), got shape {self.indices.shape}")
        if self.slots < 1 or self.indices.shape[2] % self.slots:
            raise ValueError(f"a width of {self.indices.shape[2]} does not split into {self.slots} slots")
        if len(self.indices) and int(self.indices.max()) >= len(self.palette):
            raise ValueError(f"index {int(self.indices.max())} is outside a palette of {len(self.palette)} colours")
        if not self.names:
            self.names = [f"sprite{i:05d}" for i in range(len(self.indices))]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of every sprite."""
        return int(self.indices.shape[1]), int(self.indices.shape[2])

    def to_rgba(self) -> np.ndarray:
        """(N,H,W,4) uint8 pixels."""
        return self.palette.to_rgba(self.indices)

    def slot(self, which: int) -> SpriteSet:
        """The sprites in one slot of every sheet (a view, a frame): (N,H,W/slots), names as the sheets'."""
        if not 0 <= which < self.slots:
            raise SpriteforgeError(f"slot {which} is out of range: these sheets have slots 0 to {self.slots - 1}.")
        width = self.indices.shape[2] // self.slots
        part = self.indices[:, :, which * width : (which + 1) * width]
        return replace(self, indices=np.ascontiguousarray(part), slots=1)

    def subset(self, which: np.ndarray | list[int] | slice) -> SpriteSet:
        """The sprites selected by an index array, list or slice (labels and names follow)."""
        positions = np.arange(len(self))[which]
        return replace(
            self,
            indices=self.indices[positions],
            labels=None if self.labels is None else self.labels[positions],
            names=[self.names[i] for i in positions],
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[SpriteSet, SpriteSet]:
        """A seeded random (train, validation) split; validation gets round(N * val_fraction) sprites."""
        if not 0.0 <= val_fraction < 1.0:
            raise SpriteforgeError(f"validation fraction {val_fraction} must be in [0, 1).")
        order = np.random.default_rng(seed).permutation(len(self))
        n_val = int(round(len(self) * val_fraction))
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def with_palette(self, target: Palette | str, method: str = "luminance") -> SpriteSet:
        """The same sprites re-coloured onto another palette (a palette swap): a Palette, a shipped palette's name or
        a palette file. `method` "luminance" keeps ramps (dark to dark), "nearest" takes the nearest colour."""
        target = Palette.resolve(target)
        table = self.palette.remap_to(target, method)
        return replace(self, indices=table[self.indices], palette=target)

    def tiled(self, times: int) -> SpriteSet:
        """Each sprite repeated `times` x `times` in a grid of copies: a tile's preview, where a seam shows any edge
        that does not join the opposite one."""
        return replace(self, indices=np.tile(self.indices, (1, times, times)))

    def colors_per_sprite(self) -> np.ndarray:
        """(N,) number of distinct opaque colours in each sprite."""
        return count_colors(self.indices)

    def save_grid(self, path: str | Path, scale: int = 4, columns: int | None = None) -> Path:
        """A contact sheet PNG: sprites on a grey background with 1-pixel gaps, upscaled by nearest neighbour."""
        return io.write_png(path, io.make_grid(self.to_rgba(), columns=columns, scale=scale))

    def save_sheet(self, path: str | Path, columns: int | None = None, scale: int = 1) -> Path:
        """A game-ready sprite sheet PNG: transparent, no gaps, row-major."""
        return io.write_png(path, io.upscale(io.make_sheet(self.to_rgba(), columns), scale))

    def save_each(self, folder: str | Path, scale: int = 1, prefix: str = "sprite") -> list[Path]:
        """One transparent PNG per sprite in `folder`."""
        folder = Path(folder)
        rgba = io.upscale(self.to_rgba(), scale)
        return [io.write_png(folder / f"{prefix}_{i:04d}.png", image) for i, image in enumerate(rgba)]


def count_colors(indices: np.ndarray) -> np.ndarray:
    """(N,H,W) palette indices -> (N,) number of distinct opaque colours (indices > 0) in each sprite."""
    indices = indices.astype(np.int64)
    count, num_colors = len(indices), int(indices.max(initial=0)) + 1
    # Histogram of every sprite's indices at once: sprite n's index k lands in bin n*K + k -> (N,K).
    offsets = np.arange(count)[:, None, None] * num_colors
    histogram = np.bincount((indices + offsets).ravel(), minlength=count * num_colors).reshape(count, num_colors)
    return (histogram[:, 1:] > 0).sum(axis=1)


def load_sprites(
    source: str | Path,
    *,
    size: int | None = None,
    max_colors: int = 256,
    palette: Palette | str | None = None,
    labels: str | Path | None = None,
    label_column: str | None = None,
    crop: bool = False,
    tile: int | None = None,
    tile_height: int | None = None,
    spacing: int = 0,
    margin: int = 0,
    count: int | None = None,
    seed: int = 0,
    alpha_threshold: int = ALPHA_THRESHOLD,
) -> SpriteSet:
    """Load sprites from a folder (recursive), a sprite sheet (`tile` given) or a named dataset.

    size: the square canvas; smaller sprites are centred on it, larger ones are an error unless `crop`
    (default: the largest sprite size found, up to MAX_DEFAULT_CANVAS; larger images are an error naming them, or
    with `crop` are cut to that size). max_colors: counts the transparent entry; more colours than that
    are quantised by k-means and the error is reported. palette: index into this palette (nearest colour)
    instead of extracting one. labels / label_column: a CSV with a `file` column, see data/labels.py.
    count: keep at most this many sprites (the first ones; a named procedural dataset generates this many).
    """
    if size is not None and size < 1:
        raise SpriteforgeError(f"--size {size}: the canvas size must be a positive number of pixels.")
    if count is not None and count < 1:
        raise SpriteforgeError(f"count {count} (data.count): must be at least 1.")
    path = Path(source)
    if not path.exists() and catalog.is_named(str(source)):
        if labels is not None or tile is not None:
            raise SpriteforgeError(
                f"{source} is a named dataset with its own layout and labels: drop --labels/--tile, "
                "or point --data at a folder."
            )
        return load_named(str(source), size=size, count=count, seed=seed, max_colors=max_colors, palette=palette)
    skipped: list[str] = []
    found = _read_images(path, tile, tile_height, spacing, margin, alpha_threshold, skipped)
    images, names = _within_canvas(found, size, crop, alpha_threshold, str(path))
    if not images:
        found_here = f"{len(skipped)} unreadable image file(s), e.g. {skipped[0]}" if skipped else "no image files"
        raise SpriteforgeError(
            f"{path}: {found_here}. Point --data at a folder of {', '.join(io.IMAGE_SUFFIXES)} sprites."
        )
    beyond_count = names[count:] if count is not None else []
    if count is not None:
        images, names = images[:count], names[:count]
    canvas = _fit_canvas(images, size, str(path))
    spriteset = _index(canvas, names, max_colors, palette, alpha_threshold, seed)
    spriteset.report = LoadReport(str(path), skipped, spriteset.report.quantization if spriteset.report else None)
    if labels is not None:
        left_out = [path / n for n in [*skipped, *beyond_count]]
        spec, values = read_labels_csv(Path(labels), [path / n for n in names], label_column, left_out)
        spriteset.labels, spriteset.label_spec = values, spec
    return spriteset


def load_named(
    name: str,
    *,
    size: int | None = None,
    count: int | None = None,
    seed: int = 0,
    max_colors: int = 256,
    palette: Palette | str | None = None,
) -> SpriteSet:
    """A named dataset of the catalog (data/catalog.py) as a SpriteSet, downloading it first if needed."""
    dataset = catalog.get(name)
    if not dataset.downloadable:
        side = size or catalog.PROCEDURAL_DEFAULT_SIZE
        check_canvas_memory(count or dataset.count, side, name)
        try:
            indices, kinds = procedural.generate(count or dataset.count, side, seed)
        except ValueError as error:
            raise SpriteforgeError(f"procedural: {error}") from None
        sprites = SpriteSet(
            indices,
            Palette(procedural.PALETTE_RGBA, name="procedural"),
            labels=kinds,
            label_spec=LabelSpec(CATEGORICAL, tuple(procedural.KINDS), "kind"),
        )
        return sprites.with_palette(palette, "nearest") if palette is not None else sprites
    folder = catalog.fetch_dataset(name)
    options: dict[str, Any] = dict(size=size, count=count, seed=seed, max_colors=max_colors, palette=palette)
    if dataset.sheet_tile:
        return load_sprites(folder / "sheet.png", tile=dataset.sheet_tile, **options)
    return load_sprites(folder / "images", labels=folder / "labels.csv", **options)


def _read_images(
    path: Path,
    tile: int | None,
    tile_height: int | None,
    spacing: int,
    margin: int,
    alpha_threshold: int,
    skipped: list[str],
) -> Iterator[tuple[str, np.ndarray]]:
    """(name, RGBA image) for each sprite: the files of a folder (names relative to it) or the tiles of a sheet.
    Unreadable files of a folder are appended to `skipped` and left out. Invisible pixels are not cleared yet."""
    if not path.exists():
        raise SpriteforgeError(
            f"{path}: no such file or folder, and not a named dataset. "
            "Give a folder of images, a sprite sheet with --tile, or one of `spriteforge datasets list`."
        )
    if not path.is_dir():
        if tile is None:
            io.open_regular(path, "sprite sheet").close()  # a FIFO or device is refused as such, not as a sheet
            raise SpriteforgeError(f"{path} is a single image: to slice it as a sprite sheet, give --tile SIZE.")
        sheet = io.read_rgba(path)
        tiles = slice_sheet(sheet, tile, tile_height, spacing, margin, alpha_threshold, name=str(path))
        if not tiles:
            raise SpriteforgeError(
                f"{path}: every tile is empty. Check the tile size, spacing and margin (--tile, data.spacing, data.margin)."
            )
        yield from ((f"r{t.row:02d}c{t.col:02d}", t.rgba) for t in tiles)
        return
    for file in io.list_images(path):
        name = file.relative_to(path).as_posix()
        try:
            yield name, io.read_rgba(file)
        except SpriteforgeError:
            skipped.append(name)


def _within_canvas(
    found: Iterator[tuple[str, np.ndarray]], size: int | None, crop: bool, alpha_threshold: int, where: str
) -> tuple[list[np.ndarray], list[str]]:
    """The images that fit the canvas (`size`, or at most MAX_DEFAULT_CANVAS), invisible pixels cleared and cropped
    to it when `crop`, and their names. Larger ones without `crop` are an error listing them; their pixels are
    dropped as soon as they are read (before any other work), so a folder of photos cannot fill the memory first."""
    side = size or MAX_DEFAULT_CANVAS
    images, names, too_large = [], [], []
    for name, image in found:
        if max(image.shape[:2]) > side:
            if not crop:
                too_large.append(f"{name} ({image.shape[1]}x{image.shape[0]})")
                continue
            image = _crop_to(image, side, alpha_threshold)
        images.append(clear_transparent(image, alpha_threshold))
        names.append(name)
    if too_large:
        listed = ", ".join(too_large[:5]) + (f" and {len(too_large) - 5} more" if len(too_large) > 5 else "")
        if size is not None:
            raise SpriteforgeError(
                f"{where}: {len(too_large)} sprite(s) larger than the {side}x{side} canvas: {listed}. "
                "Give a larger --size, or --crop to keep the centre of their visible pixels."
            )
        raise SpriteforgeError(
            f"{where}: {len(too_large)} image(s) larger than {side}x{side}, the largest canvas chosen without --size: "
            f"{listed}. Sprites are usually 8 to 64 pixels: give --size N --crop to keep the centre of each, slice a "
            "sheet with --tile, turn photos into sprites with `spriteforge convert`, or move these files elsewhere."
        )
    return images, names


def check_canvas_memory(count: int, side: int, where: str) -> None:
    """Refuse, before allocating, a canvas of `count` RGBA sprites of side x side larger than MAX_CANVAS_BYTES."""
    needed = count * side * side * 4
    if needed > MAX_CANVAS_BYTES:
        raise SpriteforgeError(
            f"{where}: {count:,} sprites on a {side}x{side} canvas would need {needed / 1024**3:.1f} GiB of memory "
            f"(spriteforge allows itself {MAX_CANVAS_BYTES / 1024**3:.0f} GiB for the pixels). "
            "Give a smaller --size (with --crop), or fewer sprites (data.count)."
        )


def _fit_canvas(images: list[np.ndarray], size: int | None, where: str) -> np.ndarray:
    """(N,S,S,4): each image (no side above S) centred on a transparent S x S canvas (S = size, or the largest
    side found)."""
    side = size or max(max(img.shape[:2]) for img in images)
    check_canvas_memory(len(images), side, where)
    canvas = np.zeros((len(images), side, side, 4), np.uint8)
    for i, img in enumerate(images):
        top, left = (side - img.shape[0]) // 2, (side - img.shape[1]) // 2
        canvas[i, top : top + img.shape[0], left : left + img.shape[1]] = img
    return canvas


def _crop_to(img: np.ndarray, side: int, alpha_threshold: int) -> np.ndarray:
    """A window of at most side x side, centred on the bounding box of the visible pixels (alpha >= threshold)."""
    visible = img[..., 3] >= alpha_threshold  # (H,W); projections below, not argwhere: a photo has 10^7 pixels
    window = []
    for axis in range(2):
        hits = np.flatnonzero(visible.any(axis=1 - axis))
        centre = (hits[0] + hits[-1] + 1) // 2 if len(hits) else img.shape[axis] // 2
        length = min(side, img.shape[axis])
        start = int(np.clip(centre - length // 2, 0, img.shape[axis] - length))
        window.append(slice(start, start + length))
    return img[window[0], window[1]]


def _index(
    rgba: np.ndarray, names: list[str], max_colors: int, palette: Palette | str | None, alpha_threshold: int, seed: int
) -> SpriteSet:
    """Index (N,H,W,4) pixels: into a given palette by nearest colour, or into one extracted from them."""
    if max_colors < 2:
        raise SpriteforgeError(f"--max-colors {max_colors}: need at least 2 (transparent + one colour).")
    if palette is not None:
        chosen = Palette.resolve(palette)
        return SpriteSet(chosen.index(rgba, alpha_threshold), chosen, names=names)
    extracted, quantization = Palette.extract(rgba, max_colors, alpha_threshold, seed)
    indices = extracted.index(rgba, alpha_threshold, exact=not quantization.quantized)
    return SpriteSet(_compact(indices, len(extracted)), extracted, names=names, report=LoadReport("", [], quantization))


def _compact(indices: np.ndarray, palette_size: int) -> np.ndarray:
    """Store indices in the smallest unsigned type that holds them (uint8 for up to 256 colours)."""
    return indices.astype(np.uint8 if palette_size <= 256 else np.int32)


def describe(sprites: SpriteSet) -> dict[str, object]:
    """The figures `datasets inspect` prints: count, size, palette, colours per sprite, labels."""
    per_sprite = sprites.colors_per_sprite()
    if not len(per_sprite):
        per_sprite = np.zeros(1, np.int64)  # an empty set describes as zeros rather than failing
    info: dict[str, object] = {
        "count": len(sprites),
        "size": f"{sprites.size[1]}x{sprites.size[0]}",
        "palette_colors": len(sprites.palette) - 1,
        "colors_per_sprite": {
            "min": int(per_sprite.min()),
            "mean": round(float(per_sprite.mean()), 2),
            "max": int(per_sprite.max()),
        },
        "opaque_fraction": round(float((sprites.indices > 0).mean()), 3) if len(sprites) else 0.0,
    }
    if sprites.label_spec is not None and sprites.labels is not None:
        info["labels"] = sprites.label_spec.counts(sprites.labels)
    return info
