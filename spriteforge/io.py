"""Reading and writing images: PNG/GIF/BMP/WebP in, PNG grids, sheets and GIFs out.

Pixel art is only ever scaled by nearest neighbour and by an integer factor, so nothing here blurs. Every writer
goes through `atomic_path`: the file appears complete under its final name or not at all.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import struct
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from spriteforge.errors import SpriteforgeError

IMAGE_SUFFIXES = (".png", ".gif", ".bmp", ".webp")
# Besides the formats sprites come in, photos: what the pixelizer and the photo domain of two-domain models read.
CONVERTIBLE_SUFFIXES = (*IMAGE_SUFFIXES, ".jpg", ".jpeg")
# Grid background: a mid grey, so both dark outlines and light highlights stay visible.
GRID_BACKGROUND = (96, 96, 96, 255)
# Larger images are refused from their header, before decoding: a damaged or hostile file can claim 50,000 x 50,000
# pixels (10 GB as RGBA). 64 megapixels still admits any camera photo.
MAX_PIXELS = 64_000_000
# What PIL's decoders raise on damaged or hostile files besides OSError/ValueError (struct.error and friends leak out
# of some plugins); each means "not a readable image", never a bug of ours.
_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A failed write (disk full, no permission) raises SpriteforgeError naming `path`, the file the user asked for,
    never the temporary one; whatever `path` held before is left as it was.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as written:  # on disk before the rename, so a crash cannot leave an empty file
            os.fsync(written.fileno())
        # mkstemp makes the file private (0600); give it the permissions an ordinary new file would get.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except OSError as error:
        raise SpriteforgeError(write_failure(path, error)) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_failure(path: Path, error: OSError) -> str:
    """The message for a failed write of `path`: the file the user asked for and the reason, never a temporary."""
    kept = " (the earlier file there is unchanged)" if path.exists() else ""
    return (
        f"cannot write {path}: {error.strerror or error}{kept}. "
        "Free some disk space, or check that the folder exists and is writable."
    )


def open_regular(path: str | Path, what: str = "file") -> BinaryIO:
    """Open `path` for reading in binary, refusing anything but a regular file.

    A FIFO would block forever and a device never ends, so the file is opened without blocking and checked with
    fstat on the open descriptor (no race between the check and the read). `what` names the file in messages.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpriteforgeError(f"{path}: no such {what}. Check the path.") from None
    except OSError as error:
        raise SpriteforgeError(f"{path}: cannot open this {what} ({error.strerror or error}).") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a special file"
        raise SpriteforgeError(f"{path} is {kind}, not a regular file. Give a {what} that is an ordinary file.")
    return os.fdopen(fd, "rb")


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (with "\n" line ends on every platform); returns its path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_rgba(path: str | Path) -> np.ndarray:
    """Read an image file as (H,W,4) uint8 RGBA (first frame of a GIF). Raises SpriteforgeError if unreadable."""
    path = Path(path)
    with open_regular(path, "image file") as file, warnings.catch_warnings():
        # PIL's own warnings never reach the terminal: a decompression bomb becomes our "too large" message, and
        # the others (odd palettes, EXIF) say nothing a user can act on.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(file) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise SpriteforgeError(_too_large(path, f"{image.width}x{image.height} pixels"))
                image.seek(0)
                return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:  # raised while opening
            declared = re.search(r"\((\d+) pixels\)", str(error))
            raise SpriteforgeError(
                _too_large(path, f"{int(declared[1]):,} pixels" if declared else "its header")
            ) from None
        except _DECODE_ERRORS as error:
            raise SpriteforgeError(
                f"{path}: not a readable image ({error}). Remove it or replace it with a PNG."
            ) from None


def _too_large(path: Path, what: str) -> str:
    return (
        f"{path}: too large to read ({what}; the limit is {MAX_PIXELS:,} pixels). Downscale the image first, or "
        "check that the file is not damaged."
    )


def read_mask(path: str | Path) -> np.ndarray:
    """(H,W) bool from a mask image: True where the pixel is opaque (alpha >= 128) and light (grey level >= 128),
    i.e. white = selected; black or transparent = not selected."""
    return mask_of(read_rgba(path))


def mask_of(image: np.ndarray) -> np.ndarray:
    """(H,W,4) uint8 mask image -> (H,W) bool, by the convention `read_mask` describes."""
    rgba = image.astype(np.int64)
    grey = (299 * rgba[..., 0] + 587 * rgba[..., 1] + 114 * rgba[..., 2]) // 1000
    return (rgba[..., 3] >= 128) & (grey >= 128)


def mask_preview(mask: np.ndarray) -> np.ndarray:
    """(H,W) bool -> (H,W,4) uint8: white where selected, black elsewhere (the convention `read_mask` reads)."""
    preview = np.zeros((*mask.shape, 4), np.uint8)
    preview[mask, :3] = 255
    preview[..., 3] = 255
    return preview


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of (...,H,W,C) by an integer factor (the only resampling pixel art allows)."""
    if factor < 1 or int(factor) != factor:
        raise SpriteforgeError(f"scale {factor!r} must be a positive integer (nearest-neighbour only).")
    return image.repeat(factor, axis=-3).repeat(factor, axis=-2)


def make_grid(
    images: np.ndarray,
    columns: int | None = None,
    padding: int = 1,
    scale: int = 1,
    background: Sequence[int] = GRID_BACKGROUND,
) -> np.ndarray:
    """Tile (N,H,W,4) uint8 images into one (h,w,4) image, composited on an opaque background, then upscaled."""
    count, height, width = images.shape[:3]
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    canvas = np.empty((rows * (height + padding) + padding, columns * (width + padding) + padding, 4), np.uint8)
    canvas[:] = np.asarray(background, np.uint8)
    composited = composite(images, background)
    for i in range(count):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        canvas[top : top + height, left : left + width] = composited[i]
    return upscale(canvas, scale)


def make_sheet(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tile (N,H,W,4) uint8 images into a game-ready sheet: transparent, no gaps, row-major."""
    count, height, width = images.shape[:3]
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    sheet = np.zeros((rows * height, columns * width, 4), np.uint8)
    for i in range(count):
        row, column = divmod(i, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = images[i]
    return sheet


def composite(images: np.ndarray, background: Sequence[int] = GRID_BACKGROUND) -> np.ndarray:
    """Alpha-composite (...,4) uint8 RGBA over an opaque background colour; returns opaque RGBA uint8."""
    alpha = images[..., 3:4].astype(np.float32) / 255.0
    back = np.asarray(background[:3], np.float32)
    rgb = images[..., :3].astype(np.float32) * alpha + back * (1.0 - alpha)
    out = np.empty(images.shape, np.uint8)
    out[..., :3] = np.rint(rgb).astype(np.uint8)
    out[..., 3] = 255
    return out


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write (H,W,4) or (H,W,3) uint8 as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
    return path


def write_gif(path: str | Path, frames: np.ndarray, duration_ms: int = 120, scale: int = 1) -> Path:
    """Write (T,H,W,4) uint8 frames as a looping GIF, composited on the grid background, atomically."""
    import imageio.v3 as iio

    path = Path(path)
    opaque = upscale(composite(frames), scale)[..., :3]
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, opaque, extension=".gif", duration=duration_ms, loop=0)
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, in a stable (sorted) order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def comparison_grid(top: np.ndarray, bottom: np.ndarray, columns: int = 8, scale: int = 1) -> np.ndarray:
    """Two aligned (N,H,W,4) sets as one grid: a row of `top`, then the matching row of `bottom`, and so on."""
    count = len(top)
    rows = []
    for start in range(0, count, columns):
        for images in (top, bottom):
            row = np.zeros((columns, *images.shape[1:]), np.uint8)
            chunk = images[start : start + columns]
            row[: len(chunk)] = chunk
            rows.append(row)
    return make_grid(np.concatenate(rows), columns=columns, scale=scale)


def interpolation_frames(paths: np.ndarray) -> np.ndarray:
    """(P,S,H,W,4) sprites along P paths of S steps -> (2S-2, h, w, 4) grid frames, there and back again."""
    steps = paths.shape[1]
    order = list(range(steps)) + list(range(steps - 2, 0, -1))
    return np.stack([make_grid(paths[:, s]) for s in order])
