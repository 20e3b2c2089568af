"""Reading .aseprite files in the tests with an independent parser: py_aseprite (shipped in the PyPI package
pygame-aseprite-animation, the `test` extra), written by others from Aseprite's file specification. Nothing of
spriteforge's writer is used here, so a file that reads back right is right by the specification, not by our code."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

py_aseprite = pytest.importorskip(
    "py_aseprite", reason="the .aseprite reader is missing: pip install -e '.[test]' -c constraints.txt"
)


@dataclass
class AsepriteDocument:
    width: int
    height: int
    color_depth: int
    transparent_index: int
    colors: int  # the header's colour count
    palette: np.ndarray  # (K,4) uint8 RGBA in the order the file stores the entries
    frames: np.ndarray  # (F,H,W) palette indices, one cel per frame on the one layer
    durations: list[int]
    layers: list[str]
    tags: list[tuple[str, int, int]]  # (name, first frame, last frame)


def read_aseprite(source: Path | bytes) -> AsepriteDocument:
    data = source.read_bytes() if isinstance(source, Path) else source
    with contextlib.redirect_stdout(io.StringIO()):  # the parser prints a line for each chunk kind it skips
        document = py_aseprite.AsepriteFile(data)
    header = document.header
    chunks = [chunk for frame in document.frames for chunk in frame.chunks]
    (palette_chunk,) = [chunk for chunk in chunks if isinstance(chunk, py_aseprite.PaletteChunk)]
    # py_aseprite labels the second and third byte of each entry "blue" and "green"; the specification stores
    # R, G, B, A, so they are read here in the file's order.
    palette = np.array(
        [(c["red"], c["blue"], c["green"], c["alpha"]) for c in palette_chunk.colors], dtype=np.uint8
    ).reshape(-1, 4)
    frames = []
    for frame in document.frames:
        (cel,) = [chunk for chunk in frame.chunks if isinstance(chunk, py_aseprite.CelChunk)]
        assert cel.cel_type == 2 and (cel.x_pos, cel.y_pos) == (0, 0) and cel.layer_index == 0
        pixels = np.frombuffer(cel.data["data"], dtype=np.uint8)
        frames.append(pixels.reshape(cel.data["height"], cel.data["width"]))
    tags = [
        (tag["name"], tag["from"], tag["to"])
        for c in chunks
        if isinstance(c, py_aseprite.FrameTagsChunk)
        for tag in c.tags
    ]
    return AsepriteDocument(
        width=header.width,
        height=header.height,
        color_depth=header.color_depth,
        transparent_index=header.palette_mask,
        colors=header.num_colors,
        palette=palette,
        frames=np.stack(frames),
        durations=[frame.frame_duration for frame in document.frames],
        layers=[layer.name for layer in document.layers],
        tags=tags,
    )
