"""Sprites in the files game tools read: Aseprite documents and sprite sheets with an Aseprite JSON atlas.

    write_sprites(sprites, "hero.aseprite", tags=[FrameTag("walk", 0, 3)])   # indexed, one layer, a frame per sprite
    write_sprites(sprites, "hero.json", "atlas")                             # hero.png + hero.json

Both are written at the sprites' true size: enlargement is for previews (the grid), never for a game's files.

.aseprite (https://github.com/aseprite/aseprite/blob/main/docs/ase-file-specs.md): colour depth 8 (indexed), the
run's palette with index 0 as the transparent index, one layer, one frame per sprite holding one zlib-compressed
cel of palette indices, and a tag per set of frames (an animation, the views of a character).

Atlas: the sprites row by row in one transparent PNG, and the JSON Aseprite writes with `--format json-array`:
frames with their rectangle (x, y, w, h) and duration in ms, and meta.frameTags, which Phaser, Godot's and Unity's
Aseprite importers and most engines read.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spriteforge import io
from spriteforge.data.sprites import SpriteSet
from spriteforge.errors import SpriteforgeError

# The formats `write_sprites` writes: a preview grid (enlarged, on grey), a transparent sheet, and the two game-tool
# files. By the file suffix when no format is given.
FORMATS = ("grid", "sheet", "aseprite", "atlas")
_SUFFIX_FORMATS = {".aseprite": "aseprite", ".ase": "aseprite", ".json": "atlas"}
FRAME_MS = 100  # Aseprite's default frame duration
ASEPRITE_MAX_COLORS = 256  # an indexed .aseprite holds one byte per pixel

# .aseprite constants (names as in the specification)
_FILE_MAGIC, _FRAME_MAGIC = 0xA5E0, 0xF1FA
_INDEXED_DEPTH = 8
_LAYER_OPACITY_VALID = 1
_OLD_CHUNKS_MAX = 0xFFFF
_COLOR_PROFILE, _PALETTE, _TAGS, _LAYER, _CEL = 0x2007, 0x2019, 0x2018, 0x2004, 0x2005
_SRGB = 1
_VISIBLE_EDITABLE = 1 | 2
_COMPRESSED_IMAGE = 2
_FORWARD = 0


@dataclass(frozen=True)
class FrameTag:
    """A named run of frames, first to last inclusive (an animation, the views of one character)."""

    name: str
    first: int
    last: int


def sets_as_frames(sets: SpriteSet) -> tuple[SpriteSet, list[FrameTag]]:
    """Sheets of `slots` sprites (N,H,W*slots) -> their sprites as frames (N*slots,H,W), set by set, and one tag per
    set: how an animation or a character's views go into an .aseprite file or an atlas."""
    count, height, width = sets.indices.shape
    slots = max(1, sets.slots)
    frames = sets.indices.reshape(count, height, slots, width // slots).transpose(0, 2, 1, 3)
    sprites = SpriteSet(np.ascontiguousarray(frames.reshape(count * slots, height, width // slots)), sets.palette)
    tags = [FrameTag(f"set{number}", number * slots, number * slots + slots - 1) for number in range(count)]
    return sprites, tags


def format_for(path: str | Path, given: str | None = None) -> str:
    """The format to write `path` in: `given`, else by its suffix (.aseprite/.ase, .json: atlas), else a grid."""
    if given is not None:
        if given not in FORMATS:
            raise SpriteforgeError(f"format {given!r}: choose one of {', '.join(FORMATS)}.")
        return given
    return _SUFFIX_FORMATS.get(Path(path).suffix.lower(), "grid")


def write_sprites(
    sprites: SpriteSet,
    path: str | Path,
    fmt: str | None = None,
    *,
    tags: Sequence[FrameTag] | None = None,
    scale: int | None = None,
    columns: int | None = None,
) -> list[Path]:
    """Write `sprites` to `path` in format `fmt` (see `format_for`); returns the files written.

    tags: the sets of frames (aseprite and atlas); default one tag over all frames, named after the file.
    scale: enlarges the preview grid (default 4) or the sheet (default 1: true size); .aseprite and atlas files are
    always at true size."""
    fmt = format_for(path, fmt)
    path = Path(path)
    if fmt == "grid":
        return [sprites.save_grid(path, scale=scale or 4, columns=columns)]
    if fmt == "sheet":
        return [sprites.save_sheet(path, columns=columns, scale=scale or 1)]
    tags = list(tags) if tags is not None else [FrameTag(path.stem, 0, len(sprites) - 1)]
    if fmt == "aseprite":
        return [write_aseprite(path, sprites, tags)]
    return list(write_atlas(path, sprites, tags, columns=columns))


def _check_tags(tags: Sequence[FrameTag], frames: int) -> None:
    for tag in tags:
        if not 0 <= tag.first <= tag.last < frames:
            raise SpriteforgeError(
                f"tag {tag.name!r}: frames {tag.first}..{tag.last} are outside the {frames} frames; "
                f"give first <= last, both in 0..{frames - 1}."
            )


# -- Aseprite -------------------------------------------------------------------------------------------------------
def write_aseprite(path: str | Path, sprites: SpriteSet, tags: Sequence[FrameTag] = ()) -> Path:
    """Write an indexed .aseprite file (one layer, one frame per sprite, the tags), atomically."""
    data = aseprite_bytes(sprites, tags)
    path = Path(path)
    with io.atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def aseprite_bytes(sprites: SpriteSet, tags: Sequence[FrameTag] = (), frame_ms: int = FRAME_MS) -> bytes:
    """The bytes of an indexed .aseprite document holding `sprites` as frames."""
    colors = len(sprites.palette)
    if colors > ASEPRITE_MAX_COLORS:
        raise SpriteforgeError(
            f"an indexed .aseprite file holds at most {ASEPRITE_MAX_COLORS} colours; this palette has {colors}. "
            "Use --format atlas, or train with --max-colors 256 or fewer."
        )
    if len(sprites) == 0 or len(sprites) > _OLD_CHUNKS_MAX:
        raise SpriteforgeError(f"an .aseprite file holds 1 to {_OLD_CHUNKS_MAX} frames; got {len(sprites)} sprites.")
    _check_tags(tags, len(sprites))
    height, width = sprites.size
    first = [
        _chunk(_COLOR_PROFILE, struct.pack("<HHI8x", _SRGB, 0, 0)),
        _chunk(_PALETTE, _palette_chunk(sprites.palette.colors)),
        _chunk(_LAYER, struct.pack("<HHHHHHB3x", _VISIBLE_EDITABLE, 0, 0, 0, 0, 0, 255) + _string("Sprites")),
    ]
    if tags:
        first.append(_chunk(_TAGS, _tags_chunk(tags)))
    frames = [
        _frame([*(first if i == 0 else []), _chunk(_CEL, _cel_chunk(indices))], frame_ms)
        for i, indices in enumerate(sprites.indices)
    ]
    body = b"".join(frames)
    header = struct.pack(
        "<IHHHHHIHIIB3xHBBhhHH84x",
        128 + len(body),  # file size
        _FILE_MAGIC,
        len(frames),
        width,
        height,
        _INDEXED_DEPTH,
        _LAYER_OPACITY_VALID,
        frame_ms,  # the deprecated speed field, kept equal to the frame duration
        0,
        0,
        0,  # the transparent index: palette entry 0
        colors,
        1,  # pixel width and height: square pixels
        1,
        0,  # grid: origin, then 16x16 cells (Aseprite's default)
        0,
        16,
        16,
    )
    return header + body


def _string(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack("<H", len(encoded)) + encoded


def _chunk(kind: int, data: bytes) -> bytes:
    return struct.pack("<IH", 6 + len(data), kind) + data


def _frame(chunks: list[bytes], frame_ms: int) -> bytes:
    body = b"".join(chunks)
    return struct.pack("<IHHH2xI", 16 + len(body), _FRAME_MAGIC, len(chunks), frame_ms, len(chunks)) + body


def _palette_chunk(colors: np.ndarray) -> bytes:
    """(K,4) uint8 RGBA -> the palette chunk: size, first and last index, then flags 0 and R, G, B, A per entry."""
    head = struct.pack("<III8x", len(colors), 0, len(colors) - 1)
    return head + b"".join(struct.pack("<HBBBB", 0, *map(int, color)) for color in colors)


def _tags_chunk(tags: Sequence[FrameTag]) -> bytes:
    entries = [struct.pack("<HHBH6x3Bx", tag.first, tag.last, _FORWARD, 0, 0, 0, 0) + _string(tag.name) for tag in tags]
    return struct.pack("<H8x", len(tags)) + b"".join(entries)


def _cel_chunk(indices: np.ndarray) -> bytes:
    """(H,W) palette indices -> a compressed-image cel on layer 0 at (0,0), fully opaque, one byte per pixel."""
    height, width = indices.shape
    head = struct.pack("<HhhBHh5xHH", 0, 0, 0, 255, _COMPRESSED_IMAGE, 0, width, height)
    return head + zlib.compress(np.ascontiguousarray(indices, dtype=np.uint8).tobytes())


# -- sprite sheet + JSON atlas ----------------------------------------------------------------------------------------
def write_atlas(
    path: str | Path, sprites: SpriteSet, tags: Sequence[FrameTag] = (), columns: int | None = None
) -> tuple[Path, Path]:
    """Write `path` minus its suffix as .png (the sheet, true size) and .json (the atlas); returns both paths."""
    path = Path(path)
    image, atlas_json = path.with_suffix(".png"), path.with_suffix(".json")
    sheet, atlas = sheet_atlas(sprites, image.name, tags, columns)
    io.write_png(image, sheet)
    io.write_text(atlas_json, json.dumps(atlas, indent=1) + "\n")
    return image, atlas_json


def sheet_atlas(
    sprites: SpriteSet,
    image_name: str,
    tags: Sequence[FrameTag] = (),
    columns: int | None = None,
    frame_ms: int = FRAME_MS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(H',W',4) uint8 sheet of the sprites row by row, and its atlas as Aseprite's json-array export writes it."""
    _check_tags(tags, len(sprites))
    height, width = sprites.size
    columns = columns or max(1, math.ceil(math.sqrt(len(sprites))))
    sheet = io.make_sheet(sprites.to_rgba(), columns)
    stem = Path(image_name).stem
    frames = []
    for i in range(len(sprites)):
        row, column = divmod(i, columns)
        frames.append(
            {
                "filename": f"{stem} {i}",
                "frame": {"x": column * width, "y": row * height, "w": width, "h": height},
                "rotated": False,
                "trimmed": False,
                "spriteSourceSize": {"x": 0, "y": 0, "w": width, "h": height},
                "sourceSize": {"w": width, "h": height},
                "duration": frame_ms,
            }
        )
    meta = {
        "app": "spriteforge",
        "image": image_name,
        "format": "RGBA8888",
        "size": {"w": int(sheet.shape[1]), "h": int(sheet.shape[0])},
        "scale": "1",
        "frameTags": [
            {"name": tag.name, "from": tag.first, "to": tag.last, "direction": "forward", "color": "#000000ff"}
            for tag in tags
        ],
        "layers": [{"name": "Sprites", "opacity": 255, "blendMode": "normal"}],
        "slices": [],
    }
    return sheet, {"frames": frames, "meta": meta}
