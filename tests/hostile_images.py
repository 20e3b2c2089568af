"""Hostile image files, for the loader fuzz tests (tests/test_loader_fuzz.py) and the soak
(benchmarks/soak_loaders.py): both draw a kind and a random.Random, and `write_hostile` makes the file.

Every kind is something a careless user or a hostile client could put where spriteforge expects an image: cut-off
and bit-flipped files, wrong magic bytes, headers that declare billions of pixels, empty files, odd PIL modes,
animated GIFs, text with an image suffix, and things that are not files at all (a FIFO, a folder named x.png, a
symlink loop).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

FORMATS = {".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP"}
ODD_MODES = ("P", "LA", "L", "I", "F", "I;16", "CMYK", "1", "RGB", "RGBA")
# Modes PNG cannot hold, in the format users would send them in, still named .png.
_ODD_FORMATS = {"CMYK": "JPEG", "I": "TIFF", "F": "TIFF"}


def _pixels(rng: random.Random, mode: str = "RGBA", largest: int = 24) -> Image.Image:
    """A small random image in `mode`: a few colours in blocks, like a sprite, sometimes transparent."""
    width, height = rng.randint(1, largest), rng.randint(1, largest)
    colors = np.array([[rng.randrange(256) for _ in range(4)] for _ in range(rng.randint(1, 6))], np.uint8)
    rgba = colors[np.array([rng.randrange(len(colors)) for _ in range(width * height)])].reshape(height, width, 4)
    image = Image.fromarray(rgba, "RGBA")
    if mode == "P":
        return image.convert("RGB").quantize(rng.randint(2, 16))
    if mode == "I;16":  # 16-bit grey, the full range
        return Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257).convert("I;16")
    return image.convert(mode)


def _encoded(rng: random.Random, suffix: str, mode: str = "RGBA") -> bytes:
    image = _pixels(rng, mode)
    fmt = FORMATS[suffix]
    if fmt == "BMP" and image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _header_bomb(rng: random.Random, suffix: str) -> bytes:
    """A well-formed header declaring a huge image (up to 2^31 pixels a side) over a few bytes of data."""
    width, height = rng.choice([(50_000, 50_000), (2**31 - 1, 1), (65_535, 65_535), (10_000, 9_000), (1, 2**30)])
    if suffix == ".gif":
        width, height = min(width, 65_535), min(height, 65_535)
        return (
            b"GIF89a"
            + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b",\0\0\0\0"
            + struct.pack("<HH", width, height)
            + b"\0\x02\x02\x44\x01\0;"
        )
    if suffix == ".bmp":
        header = struct.pack("<IiiHHIIiiII", 40, min(width, 2**31 - 1), min(height, 2**31 - 1), 1, 24, 0, 0, 0, 0, 0, 0)
        return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + header + bytes(16)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(bytes(rng.randint(0, 64)))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _animated_gif(rng: random.Random) -> bytes:
    frames = [_pixels(rng, "RGBA", 16).convert("P") for _ in range(rng.randint(2, 5))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0, disposal=2)
    return buffer.getvalue()


def _file_bytes(kind: str, rng: random.Random, suffix: str) -> bytes:
    if kind == "valid":
        return _encoded(rng, suffix)
    if kind == "truncated":
        data = _encoded(rng, suffix)
        return data[: rng.randrange(len(data))]
    if kind == "bitflip":
        data = bytearray(_encoded(rng, suffix))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == "wrong_magic":
        data = bytearray(_encoded(rng, suffix))
        data[: rng.randint(1, 8)] = bytes(rng.randrange(256) for _ in range(8))[: rng.randint(1, 8)]
        return bytes(data)
    if kind == "other_format":  # a real image of another format under this suffix
        return _encoded(rng, rng.choice([s for s in FORMATS if s != suffix]))
    if kind == "header_bomb":
        return _header_bomb(rng, suffix if suffix in (".gif", ".bmp") else ".png")
    if kind == "zero_bytes":
        return b""
    if kind == "odd_mode":
        mode = rng.choice(ODD_MODES)
        fmt = _ODD_FORMATS.get(mode, "PNG")
        buffer = io.BytesIO()
        _pixels(rng, mode).save(buffer, format=fmt)
        return buffer.getvalue()
    if kind == "animated_gif":
        return _animated_gif(rng)
    if kind == "not_an_image":
        return rng.choice([b"hello, this is text\n", bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))])
    if kind == "too_large_sprite":  # a valid image above the 256-pixel default canvas
        buffer = io.BytesIO()
        Image.new("RGBA", (rng.randint(257, 400), rng.randint(1, 40)), (200, 30, 30, 255)).save(buffer, format="PNG")
        return buffer.getvalue()
    raise ValueError(f"unknown kind {kind}")


FILE_KINDS = (
    "valid",
    "truncated",
    "bitflip",
    "wrong_magic",
    "other_format",
    "header_bomb",
    "zero_bytes",
    "odd_mode",
    "animated_gif",
    "not_an_image",
    "too_large_sprite",
)
SPECIAL_KINDS = ("fifo", "folder", "symlink_loop")
KINDS = FILE_KINDS + SPECIAL_KINDS


def write_hostile(kind: str, rng: random.Random, folder: Path, stem: str = "hostile") -> Path:
    """Make one hostile `kind` of file in `folder` (with an image suffix) and return its path."""
    suffix = ".gif" if kind == "animated_gif" else rng.choice(list(FORMATS))
    path = folder / f"{stem}{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("a folder, not an image\n")
    elif kind == "symlink_loop":
        partner = folder / f"{stem}_partner{suffix}"
        path.symlink_to(partner.name)
        partner.symlink_to(path.name)
    else:
        path.write_bytes(_file_bytes(kind, rng, suffix))
    return path


class Hang(Exception):
    """A loader call ran past its deadline (it was blocked, e.g. reading a FIFO)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Hang in the block after `seconds` (SIGALRM interrupts a blocking open or read). An alarm already set
    (pytest-timeout's) is put back afterwards with the time it had left."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    earlier_delay, earlier_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier_delay:
            left = max(earlier_delay - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, earlier_interval)
