"""Palettes: the fixed colour tables that make spriteforge's sprites palette-exact.

A palette is a (K, 4) uint8 RGBA table. Index 0 is always fully transparent (0, 0, 0, 0); indices 1..K-1 are the
colours, whose alpha is kept as is (some pixel art uses half-transparent shadows). Sprites are integer index arrays
into a palette, so a model that outputs indices can only ever produce palette colours.

This module reads and writes palette files (.hex, .gpl, .json), extracts palettes from RGBA pixels (exactly, or by
k-means when there are too many colours), maps pixels to indices and back, and remaps one palette onto another.

Shipped palettes (``spriteforge/data/palettes/NAME.hex``, Lospec .hex format):

- ``pico8``: the PICO-8 system palette (16 colours).
- ``db16`` / ``db32``: DawnBringer's 16- and 32-colour palettes (Pixeljoint).
- ``gameboy``: the four classic DMG greens 0f380f 306230 8bac0f 9bbc0f, darkest first.
- ``nes``: Lospec's "NES" palette (lospec.com/palette-list/nes, 55 colours): the 55 distinct colours of the widely
  used 64-entry 2C02 RGB table (7c7c7c 0000fc 0000bc ...), its repeated blacks dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from spriteforge import io
from spriteforge.errors import SpriteforgeError

ALPHA_THRESHOLD = 128
"""Pixels with alpha below this are transparent (index 0); at or above it they are colours."""

_TRANSPARENT = np.zeros((1, 4), dtype=np.uint8)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
"""Rec. 601 luma weights of R, G and B: the classic ones pixel-art tools use."""
_CHUNK_ELEMENTS = 1 << 22  # Bounds the (colours x candidates) distance matrix to a few tens of MB per chunk.
# Full k-means on photo-like inputs (~400k distinct colours, k=255) takes minutes; mini-batch takes seconds.
# Pixel art stays far below this, where full k-means is well under a second.
_MINIBATCH_ABOVE = 20_000
_HEX_COLOR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_HEX_EXPECTED = "RRGGBB or RRGGBBAA in hex, optionally prefixed by '#', e.g. 1d2b53 or #1d2b5380"
_JSON_EXPECTED = 'expected a list of "#rrggbb[aa]" strings or {"name": ..., "colors": [...]}'
_GPL_EXPECTED = "'R G B [name]' with R, G and B integers in 0..255, e.g. '29 43 83 navy'"


@dataclass(frozen=True, eq=False)
class Palette:
    """A (K, 4) uint8 RGBA colour table whose index 0 is transparent; immutable (its array is read-only)."""

    colors: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        colors = _as_uint8(self.colors, f"palette {self.name!r} colours")
        if colors.ndim != 2 or colors.shape[1] != 4 or len(colors) == 0:
            raise SpriteforgeError(
                f"palette {self.name!r}: colours must be a (K, 4) RGBA array with K >= 1, got shape {colors.shape}; "
                "build palettes from plain colours with Palette.from_colors(...)"
            )
        if colors[0].any():
            raise SpriteforgeError(
                f"palette {self.name!r}: index 0 must be transparent (0, 0, 0, 0), got {tuple(colors[0].tolist())}; "
                "use Palette.from_colors(colours), which prepends the transparent entry"
            )
        colors = colors.copy()  # A private copy, so that freezing it cannot affect the caller's array.
        colors.flags.writeable = False
        object.__setattr__(self, "colors", colors)

    def __len__(self) -> int:
        return len(self.colors)

    def __eq__(self, other: object) -> bool:
        """Palettes are equal when they hold the same colours in the same order; the name does not matter."""
        if not isinstance(other, Palette):
            return NotImplemented
        return np.array_equal(self.colors, other.colors)

    def __hash__(self) -> int:
        return hash(self.colors.tobytes())

    def __repr__(self) -> str:
        return f"Palette(name={self.name!r}, {len(self) - 1} colours + transparent)"

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_colors(cls, rgba_or_rgb: np.ndarray | list, name: str = "") -> Palette:
        """Build a palette from (M, 3) RGB or (M, 4) RGBA colours given WITHOUT the transparent entry.

        Index 0 is prepended; duplicates (including a given (0, 0, 0, 0)) are dropped, keeping first occurrences.
        """
        colors = _as_uint8(rgba_or_rgb, "colours")
        if colors.size == 0:
            colors = colors.reshape(0, 4)
        if colors.ndim != 2 or colors.shape[1] not in (3, 4):
            raise SpriteforgeError(
                f"palette {name!r}: colours must be (M, 3) RGB or (M, 4) RGBA, got shape {colors.shape}"
            )
        if colors.shape[1] == 3:
            colors = np.concatenate([colors, np.full((len(colors), 1), 255, dtype=np.uint8)], axis=1)
        rows = np.concatenate([_TRANSPARENT, colors])
        _, first = np.unique(_pack(rows), return_index=True)
        return cls(rows[np.sort(first)], name)

    @staticmethod
    def names() -> list[str]:
        """The names of the shipped palettes, sorted."""
        return sorted(entry.name[: -len(".hex")] for entry in _palette_dir().iterdir() if entry.name.endswith(".hex"))

    @classmethod
    def named(cls, name: str) -> Palette:
        """A shipped palette by name (see `names()`)."""
        if name not in cls.names():
            raise SpriteforgeError(
                f"unknown palette name {name!r}; shipped palettes: {', '.join(cls.names())}; "
                "or pass a path to a .hex, .gpl or .json palette file"
            )
        resource = _palette_dir() / f"{name}.hex"
        return cls._parse(Path(str(resource)), resource.read_text(encoding="utf-8"))

    @classmethod
    def resolve(cls, spec: Palette | str) -> Palette:
        """A shipped palette name or a palette file path, as given to the CLI's ``--palette NAME|FILE``; a Palette
        is returned as it is."""
        if isinstance(spec, Palette):
            return spec
        if spec in cls.names():
            return cls.named(spec)
        path = Path(spec)
        if path.suffix.lower() in _READERS or path.exists():
            return cls.load(path)
        raise SpriteforgeError(
            f"--palette {spec!r} is neither a shipped palette ({', '.join(cls.names())}) "
            f"nor a palette file ({', '.join(_READERS)})"
        )

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, path: str | Path) -> Palette:
        """Read a .hex (Lospec), .gpl (GIMP) or .json palette file; the transparent index 0 is implied."""
        path = Path(path)
        _format_of(path)
        if not path.exists():
            raise SpriteforgeError(
                f"palette file {path} not found; pass an existing {', '.join(_READERS)} file "
                f"or a shipped palette name ({', '.join(cls.names())})"
            )
        try:
            with io.open_regular(path, "palette file") as file:
                text = file.read().decode("utf-8-sig")  # utf-8-sig: editors on Windows may add a BOM.
        except (OSError, UnicodeDecodeError) as err:
            raise SpriteforgeError(f"cannot read palette file {path}: {err}; check it is a readable text file") from err
        return cls._parse(path, text)

    @classmethod
    def _parse(cls, path: Path, text: str) -> Palette:
        colors, name = _READERS[_format_of(path)](path, text)
        if not colors:
            raise SpriteforgeError(f"{path}: no colours found; a palette file lists at least one colour")
        return cls.from_colors(np.array(colors, dtype=np.uint8), name)

    def save(self, path: str | Path) -> None:
        """Write the palette as .hex, .gpl or .json (by extension), atomically; index 0 is implied, not written.

        Colours with alpha < 255 are written as RRGGBBAA in .hex and .json; .gpl holds opaque colours only.
        """
        path = Path(path)
        writer = _WRITERS[_format_of(path)]
        if len(self) == 1:
            raise SpriteforgeError(f"cannot save palette {self.name!r} to {path}: it has no colours besides index 0")
        io.write_text(path, writer(self, path))  # atomic; a disk error names the palette file

    # ------------------------------------------------------------------ pixels <-> indices

    @classmethod
    def extract(
        cls,
        rgba: np.ndarray,
        max_colors: int | None = None,
        alpha_threshold: int = ALPHA_THRESHOLD,
        seed: int = 0,
    ) -> tuple[Palette, QuantizationReport]:
        """The palette of (..., 4) uint8 RGBA pixels, and a report of what fitting it cost.

        Pixels with alpha < `alpha_threshold` are transparent. If the other pixels hold at most `max_colors` - 1
        distinct colours (`max_colors` counts the transparent entry) the palette is exactly those colours; otherwise
        they are clustered by k-means in RGBA space. Either way colours are ordered by luminance, then RGBA value.
        """
        _check_threshold(alpha_threshold)
        if max_colors is not None and (not isinstance(max_colors, (int, np.integer)) or max_colors < 2):
            raise SpriteforgeError(
                f"max_colors must be an integer >= 2 (it counts the transparent entry), got {max_colors!r}"
            )
        pixels = _as_pixels(rgba)
        colors, _, counts = _unique_colors(pixels[pixels[:, 3] >= alpha_threshold])
        quantized = max_colors is not None and len(colors) > max_colors - 1
        centres = _kmeans(colors, counts, max_colors - 1, seed) if max_colors is not None and quantized else colors
        palette = cls.from_colors(_sorted_by_luminance(centres))
        return palette, _report(colors, counts, palette, quantized)

    def index(self, rgba: np.ndarray, alpha_threshold: int = ALPHA_THRESHOLD, exact: bool = False) -> np.ndarray:
        """Map (..., 4) uint8 RGBA pixels to (...) int64 palette indices.

        Pixels with alpha < `alpha_threshold` become 0. Others take the nearest colour (Euclidean in RGBA) among
        indices 1..K-1; with `exact=True` every such pixel must match a palette colour exactly.
        """
        _check_threshold(alpha_threshold)
        pixels = _as_pixels(rgba)
        colors, inverse, counts = _unique_colors(pixels)
        visible = colors[:, 3] >= alpha_threshold
        lookup = np.zeros(len(colors), dtype=np.int64)
        if visible.any():
            if len(self) == 1:
                raise SpriteforgeError(f"palette {self.name!r} has no colours to map opaque pixels to")
            nearest, distance = _nearest(colors[visible], self.colors[1:])
            if exact:
                self._require_exact(colors[visible], counts[visible], distance)
            lookup[visible] = nearest + 1
        return lookup[inverse].reshape(np.shape(rgba)[:-1])

    def _require_exact(self, colors: np.ndarray, counts: np.ndarray, distance: np.ndarray) -> None:
        foreign = distance > 0
        if not foreign.any():
            return
        worst = np.argsort(-counts[foreign], kind="stable")[:5]
        examples = ", ".join(
            f"#{_hex(color)} ({count:,} px)" for color, count in zip(colors[foreign][worst], counts[foreign][worst])
        )
        raise SpriteforgeError(
            f"{int(counts[foreign].sum()):,} pixels in {int(foreign.sum()):,} colours are not in palette "
            f"{self.name!r}, e.g. {examples}; use index(..., exact=False) to snap them to the nearest colour, "
            "or extract a palette from these images"
        )

    def to_rgba(self, indices: np.ndarray) -> np.ndarray:
        """Map (...) integer palette indices to (..., 4) uint8 RGBA pixels."""
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise SpriteforgeError(f"palette indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise SpriteforgeError(
                f"palette index {bad} is out of range for palette {self.name!r} with {len(self)} entries "
                f"(0..{len(self) - 1}); were these sprites made with another palette?"
            )
        return self.colors[indices]

    # ------------------------------------------------------------------ palette <-> palette

    def luminance(self) -> np.ndarray:
        """(K,) Rec. 601 luma of each colour's RGB, in 0..255; index 0 gets -1 so that it sorts first."""
        values = luma(self.colors)
        values[0] = -1.0
        return values

    def remap_to(self, target: Palette, method: str = "luminance") -> np.ndarray:
        """A (K,) int64 table from this palette's indices to `target`'s; 0 always maps to 0.

        "nearest": each colour goes to the nearest RGBA colour of `target`. "luminance": colours ranked by luminance
        are spread proportionally over `target`'s colours ranked by luminance, darkest to darkest and lightest to
        lightest, so ramps stay ramps even when the sizes differ (a single colour maps to the darkest).
        """
        if method not in _REMAPS:
            raise SpriteforgeError(f"unknown remap method {method!r}; choose one of: {', '.join(_REMAPS)}")
        if len(target) == 1:
            raise SpriteforgeError(f"cannot remap onto palette {target.name!r}: it has no colours besides index 0")
        table = np.zeros(len(self), dtype=np.int64)
        if len(self) > 1:
            table[1:] = _REMAPS[method](self.colors[1:], target.colors[1:]) + 1
        return table

    def swatch(self, cell: int = 16, columns: int = 16) -> np.ndarray:
        """An (h, w, 4) uint8 image of the colours in rows of `columns` cells; index 0 is drawn as a checkerboard."""
        if cell < 1 or columns < 1:
            raise SpriteforgeError(f"swatch cell and columns must be >= 1, got cell={cell}, columns={columns}")
        columns = min(columns, len(self))
        rows = -(-len(self) // columns)
        grid = np.zeros((rows * columns, 4), dtype=np.uint8)  # Cells past the last colour stay transparent.
        grid[: len(self)] = self.colors
        image = grid.reshape(rows, columns, 4).repeat(cell, axis=0).repeat(cell, axis=1)
        image[:cell, :cell] = _checkerboard(cell)
        return image


@dataclass(frozen=True)
class QuantizationReport:
    """What fitting pixels to an extracted palette cost; distances are Euclidean in RGBA over opaque pixels."""

    source_colors: int
    palette_colors: int
    quantized: bool
    mean_distance: float
    max_distance: float
    pixels_changed: int
    pixels_total: int

    def summary(self) -> str:
        """One human-readable line, e.g. '165 colours -> 31 by k-means: 3,210 of 90,112 pixels changed (...)'."""
        how = "by k-means" if self.quantized else "exact"
        return (
            f"{self.source_colors:,} colours -> {self.palette_colors:,} {how}: "
            f"{self.pixels_changed:,} of {self.pixels_total:,} pixels changed "
            f"(mean distance {self.mean_distance:.1f}, max {self.max_distance:.1f})"
        )


# ---------------------------------------------------------------------- array helpers


def _as_uint8(values: np.ndarray | list, what: str) -> np.ndarray:
    """`values` as a uint8 array, refusing non-integers and values outside 0..255 rather than wrapping them."""
    array = np.asarray(values)
    if array.dtype == np.uint8 or array.size == 0:
        return array.astype(np.uint8, copy=False)
    if not np.issubdtype(array.dtype, np.integer):
        raise SpriteforgeError(f"{what} must be integers in 0..255, got dtype {array.dtype}")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise SpriteforgeError(f"{what} must be in 0..255, got a value of {low if low < 0 else high}")
    return array.astype(np.uint8)


def _as_pixels(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) RGBA pixels flattened to (P, 4) uint8."""
    pixels = _as_uint8(rgba, "RGBA pixels")
    if pixels.ndim < 1 or pixels.shape[-1] != 4:
        raise SpriteforgeError(
            f"expected RGBA pixels with a last axis of 4, got shape {pixels.shape}; "
            "convert images with PIL's Image.convert('RGBA')"
        )
    return pixels.reshape(-1, 4)


def _check_threshold(alpha_threshold: int) -> None:
    # 0 would make fully transparent pixels colours; above 255 nothing could be a colour.
    if not 1 <= alpha_threshold <= 255:
        raise SpriteforgeError(f"alpha_threshold must be in 1..255, got {alpha_threshold}")


def _pack(colors: np.ndarray) -> np.ndarray:
    """(N, 4) uint8 -> (N,) uint32 whose numeric order is the lexicographic (R, G, B, A) order."""
    return np.ascontiguousarray(colors, dtype=np.uint8).view(">u4").ravel()


def _unpack(packed: np.ndarray) -> np.ndarray:
    return packed.astype(">u4").view(np.uint8).reshape(-1, 4)


def _unique_colors(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct colours of (P, 4) pixels (sorted by RGBA value), the inverse map and the pixel counts.

    Sorting packed 32-bit keys is much faster than np.unique(axis=0) on millions of pixels.
    """
    packed, inverse, counts = np.unique(_pack(pixels), return_inverse=True, return_counts=True)
    return _unpack(packed), inverse.ravel(), counts


def luma(colors: np.ndarray) -> np.ndarray:
    """(..., 3) RGB or (..., 4) RGBA colours -> (...) Rec. 601 luma, on the colours' own scale (0..255 or 0..1).

    float32 colours give float32 luma (the pixelizer's images); anything else float64."""
    weights = LUMA_WEIGHTS.astype(np.float32) if colors.dtype == np.float32 else LUMA_WEIGHTS
    return colors[..., :3] @ weights


def _sorted_by_luminance(colors: np.ndarray) -> np.ndarray:
    return colors[np.lexsort((_pack(colors), luma(colors)))]


def squared_distances(colors: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(N, 4) colours and (C, 4) candidates -> (N, C) squared Euclidean distances in RGBA, in float64.

    Expanded as |a|^2 - 2 a.b + |b|^2, without the (N, C, 4) difference array; exact for 8-bit colours (every term
    is an integer far below 2^53)."""
    colors, candidates = colors.astype(np.float64), candidates.astype(np.float64)
    return (colors**2).sum(1)[:, None] - 2.0 * colors @ candidates.T + (candidates**2).sum(1)[None]


def _nearest(colors: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (U, 4) colour, the index of the nearest of (C, 4) candidates (Euclidean RGBA), and its distance."""
    chunk = max(1, _CHUNK_ELEMENTS // max(len(candidates), 1))
    indices, squared = [], []
    for start in range(0, len(colors), chunk):
        d2 = squared_distances(colors[start : start + chunk], candidates)  # (U,C)
        best = d2.argmin(axis=1)
        indices.append(best)
        squared.append(d2[np.arange(len(best)), best])
    if not indices:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(indices).astype(np.int64), np.sqrt(np.concatenate(squared))


def _kmeans(colors: np.ndarray, counts: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k cluster centres of the distinct colours weighted by pixel counts, rounded to uint8."""
    # Imported here: scikit-learn takes over a second to import and only quantisation needs it.
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(colors) > _MINIBATCH_ABOVE:
        model = MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=seed)
    else:
        model = KMeans(n_clusters=k, n_init=4, random_state=seed)
    model.fit(colors.astype(np.float64), sample_weight=counts)
    return np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)


def _report(colors: np.ndarray, counts: np.ndarray, palette: Palette, quantized: bool) -> QuantizationReport:
    """Measure how far each opaque pixel moves when snapped to `palette` (as `Palette.index` would snap it)."""
    _, distance = _nearest(colors, palette.colors[1:])
    total = int(counts.sum())
    return QuantizationReport(
        source_colors=len(colors),
        palette_colors=len(palette) - 1,
        quantized=quantized,
        mean_distance=float(distance @ counts / total) if total else 0.0,
        max_distance=float(distance.max(initial=0.0)),
        pixels_changed=int(counts[distance > 0].sum()),
        pixels_total=total,
    )


def _checkerboard(cell: int) -> np.ndarray:
    """A (cell, cell, 4) light-grey checkerboard, the usual picture of 'transparent'."""
    square = max(1, cell // 4)
    rows, cols = np.indices((cell, cell)) // square
    light = ((rows + cols) % 2 == 0)[..., None]
    return np.where(light, [255, 255, 255, 255], [204, 204, 204, 255]).astype(np.uint8)


def _remap_nearest(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    return _nearest(source, target)[0]


def _remap_luminance(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Source colour ranks (by luminance) scaled onto target ranks, keeping the darkest and lightest ends aligned."""
    ranks = np.empty(len(source), dtype=np.int64)
    ranks[np.lexsort((_pack(source), luma(source)))] = np.arange(len(source))
    target_order = np.lexsort((_pack(target), luma(target)))
    scale = (len(target) - 1) / max(len(source) - 1, 1)
    return target_order[np.rint(ranks * scale).astype(np.int64)]


_REMAPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "luminance": _remap_luminance,
    "nearest": _remap_nearest,
}

# ---------------------------------------------------------------------- file formats

_Color = tuple[int, int, int, int]


def _palette_dir() -> Traversable:
    return resources.files("spriteforge").joinpath("data", "palettes")


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise SpriteforgeError(
            f"{path}: unsupported palette format {suffix or '(no extension)'!r}; use one of {', '.join(_READERS)}"
        )
    return suffix


def _hex(color: np.ndarray) -> str:
    """'rrggbb' for an opaque colour, 'rrggbbaa' otherwise."""
    return bytes(color[:3].tolist() if color[3] == 255 else color.tolist()).hex()


def _parse_hex_color(text: str) -> _Color | None:
    match = _HEX_COLOR.fullmatch(text.strip())
    if match is None:
        return None
    digits = match.group(1)
    red, green, blue, alpha = bytes.fromhex(digits if len(digits) == 8 else digits + "ff")
    return red, green, blue, alpha


def _parse_gpl_color(line: str) -> _Color | None:
    fields = line.split(maxsplit=3)
    if len(fields) < 3 or not all(field.isdecimal() and int(field) <= 255 for field in fields[:3]):
        return None
    return (int(fields[0]), int(fields[1]), int(fields[2]), 255)


def _line_error(path: Path, lineno: int, text: str, expected: str) -> SpriteforgeError:
    return SpriteforgeError(f"{path}:{lineno}: bad palette line {text!r}; expected {expected}")


def _read_hex(path: Path, text: str) -> tuple[list[_Color], str]:
    colors = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        color = _parse_hex_color(line)
        if color is None:
            raise _line_error(path, lineno, line, _HEX_EXPECTED)
        colors.append(color)
    return colors, path.stem


def _read_gpl(path: Path, text: str) -> tuple[list[_Color], str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise _line_error(path, 1, lines[0] if lines else "", "the header 'GIMP Palette' on the first line")
    colors, name = [], path.stem
    for lineno, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, colon, value = stripped.partition(":")
        if colon and key in ("Name", "Columns"):
            name = value.strip() if key == "Name" and value.strip() else name
            continue
        color = _parse_gpl_color(stripped)
        if color is None:
            raise _line_error(path, lineno, line, _GPL_EXPECTED)
        colors.append(color)
    return colors, name


def _read_json(path: Path, text: str) -> tuple[list[_Color], str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpriteforgeError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); {_JSON_EXPECTED}") from err
    entries, name = (data.get("colors"), data.get("name")) if isinstance(data, dict) else (data, None)
    if not isinstance(entries, list):
        raise SpriteforgeError(f"{path}: no list of colours found; {_JSON_EXPECTED}")
    colors = []
    for number, entry in enumerate(entries):
        color = _parse_hex_color(entry) if isinstance(entry, str) else None
        if color is None:
            lineno = _json_line(text, entry)
            raise SpriteforgeError(
                f"{path}:{lineno}: bad colour {entry!r} (entry {number + 1}); expected a string {_HEX_EXPECTED}"
            )
        colors.append(color)
    return colors, name if isinstance(name, str) and name else path.stem


def _json_line(text: str, entry: object) -> int:
    """The line on which `entry` first appears in the JSON text (1 if it cannot be found)."""
    at = text.find(json.dumps(entry))
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _write_hex(palette: Palette, path: Path) -> str:
    return "".join(f"{_hex(color)}\n" for color in palette.colors[1:])


def _write_gpl(palette: Palette, path: Path) -> str:
    partial = np.flatnonzero(palette.colors[:, 3] < 255)[1:]  # Skips index 0, which is never written.
    if partial.size:
        index = int(partial[0])
        raise SpriteforgeError(
            f"cannot save palette to {path}: GIMP .gpl palettes hold opaque colours only, but colour {index} "
            f"#{_hex(palette.colors[index])} has alpha {palette.colors[index, 3]}; save as .hex or .json instead"
        )
    header = ["GIMP Palette", f"Name: {palette.name or path.stem}", "# index 0 (transparent) is implied"]
    body = [f"{color[0]:3d} {color[1]:3d} {color[2]:3d}\t#{_hex(color)}" for color in palette.colors[1:]]
    return "\n".join(header + body) + "\n"


def _write_json(palette: Palette, path: Path) -> str:
    colors = [f"#{_hex(color)}" for color in palette.colors[1:]]
    return json.dumps({"name": palette.name or path.stem, "colors": colors}, indent=2) + "\n"


_READERS: dict[str, Callable[[Path, str], tuple[list[_Color], str]]] = {
    ".hex": _read_hex,
    ".gpl": _read_gpl,
    ".json": _read_json,
}
_WRITERS: dict[str, Callable[[Palette, Path], str]] = {
    ".hex": _write_hex,
    ".gpl": _write_gpl,
    ".json": _write_json,
}
