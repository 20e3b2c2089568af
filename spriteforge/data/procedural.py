"""Procedural pixel-art sprites: the project's default dataset, made in code, offline and seeded.

Kinds (the labels, in `KINDS` order): creature (a mirrored lumpy monster on legs, with eyes), ship (a mirrored
top-down spaceship: nose, wings, cockpit, engine flames), item (potion, sword, gem or shield), tree (broadleaf
or pine), slime (a dome of goo with a face and a shine) and mushroom (a mirrored spotted toadstool).

Each sprite is drawn the way the classic "procedural pixel sprite" generators do it, but on a continuous
coordinate grid, so the same design renders at any size from 8 pixels up (16 is the main size):

1. A *kind* function paints body parts onto a canvas as boolean masks. A part is painted with a *ramp*
   (shadow, base, highlight) of palette colours; small *details* (eyes, spots, sparkles) are single colours
   laid on top. Mirrored kinds build every mask from |x|, the distance to the vertical centre line, so they are
   exactly left-right symmetric by construction (the "mirrored half-mask" trick without mirroring by hand).
2. Shading: a pixel whose neighbour towards the light belongs to another part (or the background) gets
   lighter, one whose neighbour away from the light does gets darker; the count of such edges picks the
   highlight, base or shadow colour of its ramp. The rim is a pixel wide at size 16 and scales with size.
   Mirrored kinds are lit from the top (which keeps the symmetry), the others from the top-left.
3. Outline: every background pixel 4-adjacent to the silhouette becomes black, so every opaque pixel touching
   the background is outline. Bodies are clipped to a 2-pixel margin, so a transparent frame always remains.
   Background pockets the outline would wall in are filled first, so the background is always one piece.

Shapes are parametrised in normalised coordinates (u, v in about [-1, 1], y pointing down) and randomised
per sprite by a generator seeded with (seed, index), so sprite i never depends on how many are drawn.
Parts that must stay whole pixels wide (legs, eyes, trunks) are placed in pixel units, scaled by size/16.
Everything is vectorised per sprite: a sprite is a few dozen numpy operations on a size x size grid.

Colours come from a 16-entry pico-8-like palette whose entry 0 is transparent; each kind draws its ramps from
lists chosen so that every sprite uses 3 to 8 distinct opaque colours.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

import numpy as np

KINDS: tuple[str, ...] = ("creature", "ship", "item", "tree", "slime", "mushroom")
MIRRORED_KINDS: frozenset[str] = frozenset({"creature", "ship", "mushroom"})
"""Kinds whose sprites are exactly left-right symmetric (every pixel, colours included)."""

# Entry 0 is transparent; entries 1-15 are the pico-8 colours minus its lavender, which no ramp needed.
_HEX = (
    "000000",
    "1d2b53",
    "7e2553",
    "008751",
    "ab5236",
    "5f574f",
    "c2c3c7",
    "fff1e8",
    "ff004d",
    "ffa300",
    "ffec27",
    "00e436",
    "29adff",
    "ff77a8",
    "ffccaa",
)
PALETTE_RGBA: np.ndarray = np.array(
    [(0, 0, 0, 0)] + [(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255) for h in _HEX], dtype=np.uint8
)
PALETTE_RGBA.flags.writeable = False  # shared by every caller: a stray in-place edit would recolour all data
BLACK, NAVY, PLUM, FOREST, BROWN, SLATE, SILVER, WHITE = range(1, 9)
RED, ORANGE, YELLOW, GREEN, BLUE, PINK, PEACH = range(9, 16)
OUTLINE = BLACK
"""Palette index of the outline drawn around every silhouette."""

Ramp = tuple[int, int, int]  # (shadow, base, highlight) palette indices

# Named ramps. Each kind draws only from lists that keep its sprites within 8 colours.
R_RED: Ramp = (PLUM, RED, PINK)
R_ORANGE: Ramp = (BROWN, ORANGE, YELLOW)
R_GOLD: Ramp = (ORANGE, YELLOW, WHITE)
R_GREEN: Ramp = (FOREST, GREEN, YELLOW)
R_PINE: Ramp = (NAVY, FOREST, GREEN)
R_BLUE: Ramp = (NAVY, BLUE, WHITE)
R_STEEL: Ramp = (SLATE, SILVER, WHITE)
R_PINK: Ramp = (PLUM, PINK, PEACH)
R_PURPLE: Ramp = (NAVY, PLUM, PINK)
R_WOOD: Ramp = (PLUM, BROWN, ORANGE)
R_DARK: Ramp = (NAVY, SLATE, SILVER)


def generate(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n sprites of size x size.

    Returns (indices (n, size, size) uint8 into PALETTE_RGBA, kinds (n,) int64 into KINDS).
    Deterministic for a given (n, size, seed); sprite i depends only on (seed, i) and size, so generate(10) is
    a prefix of generate(20). Kinds go round-robin, so they are balanced.
    """
    n, size, seed = _checked(n, size, seed)
    grid = _grid(size)
    kinds = np.arange(n, dtype=np.int64) % len(KINDS)
    sprites = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        sprites[i] = _draw(KINDS[kinds[i]], rng, grid)
    return sprites, kinds


def _checked(n: int, size: int, seed: int) -> tuple[int, int, int]:
    n, size, seed = operator.index(n), operator.index(size), operator.index(seed)
    if n < 0:
        raise ValueError(f"n must be >= 0 (the number of sprites), got {n}")
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels (an outlined sprite needs room), got {size}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return n, size, seed


# --- geometry -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Grid:
    """Per-size coordinate arrays, shared by every sprite of that size."""

    size: int
    x: np.ndarray  # column offset of each pixel centre from the image centre, in pixels
    y: np.ndarray  # row offset, in pixels, pointing down
    ax: np.ndarray  # |x|: a mask built from ax instead of x is left-right symmetric by construction
    u: np.ndarray  # x / r: normalised so that the drawable area is about [-1, 1]
    v: np.ndarray  # y / r
    au: np.ndarray  # |u|
    r: float  # pixels per normalised unit
    px: float  # size / 16: the scale of features designed in pixels at the main size
    inside: np.ndarray  # where bodies may go: a 2-pixel margin keeps room for the outline and a clear frame

    def col(self, t: float) -> float:
        """The |x| of the real pixel column nearest to normalised offset t (>= 0), so thin parts land on pixels."""
        frac = 0.5 if self.size % 2 == 0 else 0.0
        return max(frac, round(t * self.r - frac) + frac)

    def row(self, t: float) -> float:
        """The y of the real pixel row nearest to normalised offset t."""
        frac = 0.5 if self.size % 2 == 0 else 0.0
        return round(t * self.r - frac) + frac

    def inner(self, mask: np.ndarray, steps: int = 1) -> np.ndarray:
        """The mask clipped to the drawable area, then eroded `steps` pixels: where details fit inside a part."""
        return _shrink(mask & self.inside, steps)

    def centre_band(self, half: float | np.ndarray) -> np.ndarray:
        """A vertical band on the centre line, `half` pixels each side (one column less at odd sizes)."""
        return self.ax < half - (0.0 if self.size % 2 == 0 else 0.5)

    def pixels(self, n: float | np.integer) -> int:
        """A feature n pixels wide at size 16, scaled to this size, never thinner than one pixel."""
        return max(1, round(n * self.px))


@cache
def _grid(size: int) -> _Grid:
    centre = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - centre
    r = (size - 4) / 2
    inside = (np.abs(x) <= centre - 2) & (np.abs(y) <= centre - 2)
    return _Grid(size, x, y, np.abs(x), x / r, y / r, np.abs(x) / r, r, size / 16, inside)


def _span(a: np.ndarray, start: float, count: int) -> np.ndarray:
    """Pixels whose coordinate a is one of start, start + 1, ..., start + count - 1 (a holds pixel centres)."""
    return (a > start - 0.5) & (a < start + count - 0.5)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """b[y, x] = a[y + dy, x + dx], zero where that falls outside (np.pad is ten times slower at this size)."""
    h, w = a.shape
    out = np.zeros_like(a)
    out[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = a[
        max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)
    ]
    return out


def _grow(mask: np.ndarray) -> np.ndarray:
    """4-neighbour dilation."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background pocket not 4-connected to the image border filled in."""
    outside = ~mask
    # Background with a straight run to the border along its row or column is reached at once; for most sprites
    # that is all of it, and the flood fill below (repeated dilation, a few steps per check) is skipped.
    walled = np.logical_or.accumulate(mask, 0) & np.logical_or.accumulate(mask[::-1], 0)[::-1]
    walled &= np.logical_or.accumulate(mask, 1) & np.logical_or.accumulate(mask[:, ::-1], 1)[:, ::-1]
    reached = outside & ~walled
    while (outside & walled).any():
        before = reached
        for _ in range(4):
            reached = _grow(reached) & outside
        if np.array_equal(before, reached):
            break
    return ~reached


def _shrink(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """4-neighbour erosion, `steps` times."""
    for _ in range(steps):
        mask = ~_grow(~mask)
    return mask


def _noise(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, cells: int) -> np.ndarray:
    """Smooth random field in [-1, 1] over a, b in [0, 1]: bilinear value noise on a cells x cells lattice.

    Used to make silhouettes lumpy at any resolution (a per-pixel random mask would only look right at one size).
    """
    lattice = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1))
    fa, fb = np.clip(a, 0, 1) * cells, np.clip(b, 0, 1) * cells
    ia, ib = np.minimum(fa.astype(np.intp), cells - 1), np.minimum(fb.astype(np.intp), cells - 1)
    ta, tb = fa - ia, fb - ib
    top = lattice[ib, ia] * (1 - ta) + lattice[ib, ia + 1] * ta
    bottom = lattice[ib + 1, ia] * (1 - ta) + lattice[ib + 1, ia + 1] * ta
    return top * (1 - tb) + bottom * tb


_T = TypeVar("_T")


def _pick(rng: np.random.Generator, options: Sequence[_T]) -> _T:
    return options[int(rng.integers(len(options)))]


# --- canvas and rendering -------------------------------------------------------------------------------


@dataclass(eq=False)
class _Canvas:
    """Parts painted so far: a material id per pixel (0 = empty), the ramp of each material, and details."""

    grid: _Grid
    material: np.ndarray = field(init=False)
    ramps: list[Ramp] = field(init=False)
    detail: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.material = np.zeros((self.grid.size, self.grid.size), dtype=np.intp)
        self.ramps = [(0, 0, 0)]
        self.detail = np.zeros((self.grid.size, self.grid.size), dtype=np.uint8)

    def paint(self, mask: np.ndarray, ramp: Ramp) -> None:
        """Paint a part over what is there. Parts sharing a ramp share a material, so no shading seam between them."""
        if ramp not in self.ramps:
            self.ramps.append(ramp)
        self.material[mask & self.grid.inside] = self.ramps.index(ramp)

    def mark(self, mask: np.ndarray, colour: int) -> None:
        """A flat-coloured detail, drawn after shading and only where a part is painted, so never on the outline."""
        self.detail[mask] = colour


_TOP = ((-1, 0),)
_TOP_LEFT = ((-1, 0), (0, -1))


def _rim(material: np.ndarray, directions: tuple[tuple[int, int], ...], width: int) -> np.ndarray:
    """For each pixel, in how many of `directions` a different material lies within `width` steps."""
    count = np.zeros(material.shape, dtype=np.intp)
    for dy, dx in directions:
        edge = np.zeros(material.shape, dtype=bool)
        for k in range(1, width + 1):
            edge |= _shift(material, dy * k, dx * k) != material
        count += edge
    return count


def _render(canvas: _Canvas, lit: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Shade each material with its ramp, lay details on top, then outline the silhouette."""
    material = canvas.material
    # Background pockets that the outline would wall in (between horns, legs and feet, wings and fins) become
    # part of the first-painted, main part, together with the outline pixels walling them in.
    silhouette = _grow(material > 0)
    pockets = _fill_holes(silhouette) & ~silhouette
    material[_grow(pockets) & (material == 0)] = 1
    width = canvas.grid.pixels(1)
    dark = tuple((-dy, -dx) for dy, dx in lit)
    # Level 0/1/2 = shadow/base/highlight: lit edges minus shadowed edges. A 1-pixel-thin part is both and stays
    # base, except at its ends, where the count tips it: thin diagonal parts still get light and shadow.
    level = np.clip(1 + _rim(material, lit, width) - _rim(material, dark, width), 0, 2)
    out = np.asarray(canvas.ramps, dtype=np.uint8)[material, level]
    body = material > 0
    details = body & (canvas.detail > 0)
    out[details] = canvas.detail[details]
    out[_grow(body) & ~body] = OUTLINE
    return out


def _draw(kind: str, rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    canvas = _Canvas(grid)
    _KIND_PAINTERS[kind](rng, canvas)
    return _render(canvas, _TOP if kind in MIRRORED_KINDS else _TOP_LEFT)


# --- kinds ----------------------------------------------------------------------------------------------


def _creature(rng: np.random.Generator, c: _Canvas) -> None:
    """A mirrored lumpy blob on short legs, maybe with horns or antennae, a paler belly, eyes and a mouth."""
    g = c.grid
    skin = _pick(rng, (R_RED, R_ORANGE, R_GREEN, R_BLUE, R_PINK, R_PURPLE, R_STEEL, R_DARK, R_WOOD))
    half_w, half_h, leg_len = rng.uniform(0.55, 0.9), rng.uniform(0.45, 0.7), rng.uniform(0.15, 0.4)
    cy = 0.95 - leg_len - half_h * 0.8  # the body sits on legs that reach the bottom
    lumps = 0.25 * _noise(rng, g.au, (g.v + 1) / 2, 3)
    body = (g.au / half_w) ** 2 + ((g.v - cy) / half_h) ** 2 + lumps < 1
    body |= (g.au < half_w * 0.6) & (np.abs(g.v - cy) < half_h * 0.6)  # a solid core, whatever the lumps do
    legs = np.zeros_like(body)
    for _ in range(rng.integers(1, 3)):
        leg_x = g.col(rng.uniform(0.15, half_w * 0.7))
        legs |= _span(g.ax, leg_x, g.pixels(rng.integers(1, 3))) & (g.v > cy)
    if rng.random() < 0.5:  # feet: the last row of each leg widens
        legs |= _grow(legs) & (g.v > 1 - 1.5 / g.r)
    body |= legs
    if rng.random() < 0.5:  # arms: stubs leaving the sides at a slant, raised or hanging
        reach = g.ax - g.col(half_w * 0.8)  # pixels out from the side of the body
        arm_y = g.row(cy + half_h * rng.uniform(-0.2, 0.3)) + _pick(rng, (-1, 1)) * reach
        arm = (reach >= 0) & (reach <= rng.uniform(0.2, 0.35) * g.r)
        body |= arm & (np.abs(g.y - arm_y) < 0.5 * g.pixels(1) + 0.1)
    top = cy - half_h
    head = _pick(rng, ("plain", "horns", "antennae"))
    if head == "horns":  # triangles rising from the head
        horn_x, horn_h = rng.uniform(0.2, half_w * 0.75), rng.uniform(0.25, 0.45)
        body |= (np.abs(g.au - horn_x) * horn_h <= 0.15 * (g.v - top + horn_h)) & (g.v <= cy)  # down to cy: no gaps
    elif head == "antennae":  # thin stalks with a knob on the end
        stalk_x, tip = g.col(rng.uniform(0.15, half_w * 0.6)), g.row(top - rng.uniform(0.2, 0.4))
        body |= _span(g.ax, stalk_x, g.pixels(1)) & (g.y >= tip) & (g.v <= cy)
        body |= (g.ax - stalk_x) ** 2 + (g.y - tip) ** 2 <= (g.pixels(1) + 0.1) ** 2
    c.paint(body, skin)
    if rng.random() < 0.6:
        belly = (g.au / (half_w * 0.6)) ** 2 + ((g.v - cy - half_h * 0.4) / (half_h * 0.5)) ** 2 < 1
        c.paint(belly & g.inner(body, 2 * g.pixels(1)), (skin[1], skin[2], WHITE))  # 2 px of skin keep both rims
    _face(rng, c, skin, g.row(cy - half_h * rng.uniform(0.0, 0.35)), half_w * rng.uniform(0.2, 0.45), g.inner(body))


_DARK_COLOURS = frozenset({BLACK, NAVY, PLUM, FOREST, BROWN, SLATE})


def _face(rng: np.random.Generator, c: _Canvas, skin: Ramp, eye_y: float, eye_offset: float, room: np.ndarray) -> None:
    """Two eyes (or one big central one) on row eye_y, maybe a mouth under them; drawn only inside `room`."""
    g = c.grid
    eye = g.pixels(1)
    if room.sum() < 8 * eye**2:  # too small for a face to read as one (tiny sizes)
        return
    cyclops = rng.random() < 0.15
    eye_x = g.col(0.0) if cyclops else g.col(eye_offset)
    if cyclops or rng.random() < 0.5 or skin[1] in _DARK_COLOURS:  # big eyes: white, black pupil below
        cols = _span(g.ax, eye_x, eye if cyclops and g.size % 2 == 0 else 2 * eye)
        c.mark(cols & _span(g.y, eye_y, 2 * eye) & room, WHITE)
        c.mark(_span(g.ax, eye_x, eye) & _span(g.y, eye_y + eye, eye) & room, BLACK)
    else:  # beady eyes: a black bar two pixels tall
        c.mark(_span(g.ax, eye_x, eye) & _span(g.y, eye_y, 2 * eye) & room, BLACK)
    if rng.random() < 0.7:
        mouth_y = eye_y + 2 * eye + g.pixels(rng.integers(1, 3))
        mouth = (g.ax <= max(eye_x - 0.5, g.col(0.0))) & _span(g.y, mouth_y, eye)
        c.mark(mouth & room, BLACK)


def _ship(rng: np.random.Generator, c: _Canvas) -> None:
    """A mirrored top-down spaceship pointing up: tapered fuselage, swept wings, cockpit, engine flames."""
    g = c.grid
    hull = _pick(rng, (R_STEEL, R_RED, R_GREEN, R_PURPLE, R_ORANGE, R_DARK, R_PINK))
    nose, body_w, tail = rng.uniform(0.5, 1.0), rng.uniform(0.18, 0.35), rng.uniform(0.4, 0.7)
    taper = np.clip((g.v + 1) / nose, 0, 1) ** 0.7
    fuselage = (g.ax <= body_w * g.r * taper + 0.5) & (g.v <= tail)  # +0.5 px: the nose tip is a whole pixel
    span, front, sweep = rng.uniform(0.6, 1.0), rng.uniform(-0.3, 0.2), rng.uniform(-0.1, 0.8)
    chord = rng.uniform(0.25, 0.5)
    back_sweep = sweep * rng.uniform(0.2, 1.0)
    wings = (g.au <= span) & (g.v >= front + sweep * g.au) & (g.v <= front + chord + back_sweep * g.au)
    hull_mask = fuselage | wings
    if rng.random() < 0.5:  # wing-tip guns: thin rails running forward from the wing tips
        rail = _span(g.ax, g.col(span) - g.pixels(1) + 1, g.pixels(1))
        tip_front = front + sweep * span
        hull_mask |= rail & (g.v >= tip_front - rng.uniform(0.2, 0.5)) & (g.v <= tip_front + chord * 0.8)
    if rng.random() < 0.5:  # tail fins
        fin_w = body_w + rng.uniform(0.15, 0.35)
        hull_mask |= (g.au <= fin_w) & (g.v <= tail) & (g.v >= tail - 0.25 + 0.4 * g.au)
    c.paint(hull_mask, hull)
    canopy_y, canopy_h = -1 + nose * rng.uniform(0.6, 0.9), rng.uniform(0.12, 0.25)
    canopy_w = max(0.5, body_w * g.r * 0.6)
    canopy = (g.ax / canopy_w) ** 2 + ((g.v - canopy_y) / canopy_h) ** 2 <= 1.0
    c.paint(canopy & g.inner(hull_mask), (BLUE, BLUE, WHITE))
    _ship_flames(rng, c, tail, body_w)


def _ship_flames(rng: np.random.Generator, c: _Canvas, tail: float, body_w: float) -> None:
    """Exhaust under the tail: one central flame or, on wide hulls, two; each a triangle pointing down."""
    g = c.grid
    length = rng.uniform(0.2, 0.4)
    twin = rng.random() < 0.4 and body_w * g.r >= 2.5
    engine_x = g.col(body_w * 0.55) if twin else g.col(0.0)
    # A central flame at an odd size spans |x| = 0 and 1, i.e. three columns; at an even size, two columns.
    width = g.pixels(1 if twin or g.size % 2 == 0 else 2)
    middle = engine_x + (width - 1) / 2  # |x| of the flame's middle
    along = (g.v - tail) / length  # 0 at the nozzle, 1 at the tip
    taper = np.abs(g.ax - middle) <= width / 2 * (1 - along) + 0.5
    c.paint(_span(g.ax, engine_x, width) & (along > 0) & (along <= 1) & taper, (ORANGE, YELLOW, WHITE))


def _item(rng: np.random.Generator, c: _Canvas) -> None:
    """A small object: potion, sword, gem or shield."""
    _pick(rng, (_potion, _sword, _gem, _shield))(rng, c)


def _potion(rng: np.random.Generator, c: _Canvas) -> None:
    """A glass flask (round, square or conical) partly filled with a coloured liquid, with a cork."""
    g = c.grid
    liquid = _pick(rng, (R_RED, R_GREEN, R_BLUE, R_PURPLE, R_ORANGE, R_PINK))
    flask = _pick(rng, ("round", "square", "cone"))
    body_top = rng.uniform(-0.3, 0.0)
    if flask == "round":
        radius = (1 - body_top) / 2
        vessel = g.au**2 + (g.v - body_top - radius) ** 2 <= radius**2
    elif flask == "square":  # reaches the bottom of the drawable area; its four corner pixels cut off
        half_w, corner = rng.uniform(0.45, 0.8), 1.1 / g.r
        vessel = (g.au <= half_w) & (g.v >= body_top)
        vessel &= ~((g.au > half_w - corner) & ((g.v < body_top + corner) | (g.v > 1 - corner)))
    else:
        vessel = (g.au <= (g.v - body_top + 0.25) * rng.uniform(0.6, 0.9)) & (g.v >= body_top)
    neck_top = rng.uniform(-1.0, -0.75)
    neck = g.centre_band(g.pixels(1)) & (g.v >= neck_top) & (g.v < body_top + 0.2)
    lip_y = g.row(neck_top + rng.uniform(0.2, 0.35))  # the cork fills the neck above this row
    cork = neck & (g.y < lip_y)
    if rng.random() < 0.5:  # a glass lip around the bottle's mouth
        neck |= g.centre_band(g.pixels(1) + 1) & _span(g.y, lip_y, g.pixels(1))
    c.paint(vessel | neck, (SILVER, SILVER, WHITE))
    fill = rng.uniform(body_top + 0.15, 0.5)
    c.paint(vessel & (g.v >= fill) & g.inner(vessel), liquid)
    c.paint(cork, (BROWN, BROWN, PEACH))


# (blade, guard and pommel, grip) ramps that together stay within 7 colours.
_SWORD_RAMPS: tuple[tuple[Ramp, Ramp, Ramp], ...] = (
    (R_STEEL, R_GOLD, R_WOOD),
    (R_STEEL, R_DARK, R_WOOD),
    (R_STEEL, R_GOLD, R_GOLD),
    (R_BLUE, R_GOLD, R_PURPLE),
    (R_BLUE, R_DARK, R_DARK),
    (R_GOLD, R_ORANGE, R_WOOD),
    (R_RED, R_GOLD, R_WOOD),
)


def _sword(rng: np.random.Generator, c: _Canvas) -> None:
    """A sword lying on the diagonal, tip top-right; s runs across the blade, d along it, both in pixel steps."""
    g = c.grid
    s, d = g.x + g.y, g.x - g.y  # whole numbers at every size: pixel centres are offset equally in x and y
    reach = g.size - 5  # largest |d| inside the drawable area
    half = g.pixels(1) - 1  # blade half-thickness in diagonal lines: a single line at size 16
    tip_d = round(reach * rng.uniform(0.5, 1.0))  # short blades make daggers
    guard_d = round(-reach * rng.uniform(0.2, 0.45))
    blade = (np.abs(s) <= half + 0.5) & (d > guard_d) & (d + np.abs(s) <= tip_d)  # d + |s|: a pointed tip
    guard = (np.abs(s) <= half + g.pixels(rng.integers(2, 4))) & (d >= guard_d - 1) & (d <= guard_d)
    grip = (np.abs(s) <= half / 2 + 0.5) & (d < guard_d - 1) & (d > -reach + 2)
    pommel = (np.abs(s) <= half + 1) & (d >= -reach) & (d <= -reach + 2)
    blade_ramp, metal, grip_ramp = _pick(rng, _SWORD_RAMPS)
    c.paint(blade, blade_ramp)
    c.paint(guard | pommel, metal)
    c.paint(grip, grip_ramp)


def _gem(rng: np.random.Generator, c: _Canvas) -> None:
    """A cut gem seen from the side: a light crown (upper facets) over a darker pavilion, and a sparkle."""
    g = c.grid
    colour = _pick(rng, (R_RED, R_BLUE, R_GREEN, R_PURPLE, R_GOLD, R_PINK))
    cut = _pick(rng, ("brilliant", "brilliant", "diamond", "octagon", "hexagon"))
    half_w, half_h, cy = rng.uniform(0.65, 0.95), rng.uniform(0.6, 0.9), rng.uniform(-0.1, 0.1)
    a, b = g.au / half_w, (g.v - cy) / half_h  # b is signed: the cuts are not all symmetric top to bottom
    girdle = -0.2  # where the crown meets the pavilion, in b
    if cut == "brilliant":  # flat table, sloped crown, pavilion narrowing to a point
        crown = (b >= -0.75) & (b < girdle) & (a <= 0.55 + 0.45 * (b + 0.75) / (girdle + 0.75))
        shape = crown | ((b >= girdle) & (a <= 1 - (b - girdle) / (1 - girdle)))
    elif cut == "diamond":
        shape = a + np.abs(b) <= 1
    elif cut == "octagon":
        shape = (a <= 1) & (np.abs(b) <= 1) & (a + np.abs(b) <= 1.45)
    else:  # hexagon, pointed top and bottom
        shape = (a <= 1) & (np.abs(b) + 0.5 * a <= 1)
    c.paint(shape, colour)
    c.paint(shape & (b < girdle), (colour[1], colour[2], WHITE))
    sparkle = _span(g.x, -g.col(half_w * 0.3), g.pixels(1)) & _span(g.y, g.row(cy - half_h * 0.45), g.pixels(1))
    c.mark(sparkle & g.inner(shape), WHITE)


def _shield(rng: np.random.Generator, c: _Canvas) -> None:
    """A heater shield: metal or wooden rim, coloured field, and a simple heraldic emblem."""
    g = c.grid
    half_w, top, mid = rng.uniform(0.7, 0.95), rng.uniform(-0.95, -0.7), rng.uniform(0.0, 0.45)
    point = rng.uniform(1.0, 2.0)
    shape = (g.au <= half_w) & (g.v >= top) & (g.v <= 0.95 - (0.95 - mid) * (g.au / half_w) ** point)
    rim = _pick(rng, (R_STEEL, R_GOLD, R_WOOD))
    field_ramp = _pick(rng, (R_RED, R_BLUE, R_PINE, R_PURPLE))  # none shares its base colour with a rim
    c.paint(shape, rim)
    inner = g.inner(shape, g.pixels(1))
    c.paint(inner, field_ramp)
    emblem_x, emblem_y = g.col(0.0), g.row((top + 0.95) / 2 - 0.1)
    bar = g.pixels(1)
    emblem = _pick(rng, ("cross", "pale", "chevron", "boss"))
    if emblem == "cross":
        mark = _span(g.ax, emblem_x, bar) | _span(g.y, emblem_y, bar)
    elif emblem == "pale":  # a vertical stripe
        mark = _span(g.ax, emblem_x, bar)
    elif emblem == "chevron":
        mark = np.abs(g.y - emblem_y + g.ax * 0.9) < 0.5 * bar + 0.3
    else:
        mark = g.ax**2 + (g.y - emblem_y) ** 2 <= (1.6 * g.px + 0.3) ** 2
    c.mark(mark & g.inner(inner), rim[2])


def _tree(rng: np.random.Generator, c: _Canvas) -> None:
    """A trunk under foliage: either a lumpy broadleaf crown (maybe with fruit) or a tiered pine."""
    g = c.grid
    trunk = g.centre_band(g.pixels(rng.uniform(1.0, 1.5))) & (g.v >= rng.uniform(-0.4, 0.1))
    roots = _grow(trunk) & (g.v > 1 - 1.5 / g.r)  # the trunk's last row flares by a pixel each side
    c.paint(trunk | roots, R_WOOD)
    if rng.random() < 0.35:
        _pine(rng, c)
    else:
        _broadleaf(rng, c)


def _broadleaf(rng: np.random.Generator, c: _Canvas) -> None:
    """A crown of overlapping round clumps, green, autumn orange or blossom pink, sometimes with fruit."""
    g = c.grid
    leaves = _pick(rng, (R_GREEN, R_GREEN, R_PINE, R_ORANGE, R_PINK))
    crown = np.zeros_like(g.inside)
    for _ in range(rng.integers(3, 6)):  # overlapping round clumps make a cloud-like crown
        cx, cy, radius = rng.uniform(-0.45, 0.45), rng.uniform(-0.6, 0.0), rng.uniform(0.3, 0.5)
        crown |= (g.u - cx) ** 2 + (g.v - cy) ** 2 <= radius**2
    crown |= g.u**2 + (g.v + 0.35) ** 2 <= 0.45**2
    crown &= g.v <= 0.55 + 0.15 * _noise(rng, (g.u + 1) / 2, (g.v + 1) / 2, 4)  # keep some trunk showing
    c.paint(crown, leaves)
    if rng.random() < 0.5:
        spots = np.flatnonzero(g.inner(crown))
        fruit = np.zeros(crown.size, dtype=bool)
        fruit[rng.choice(spots, size=min(len(spots), int(rng.integers(3, 6))), replace=False)] = True
        c.mark(fruit.reshape(crown.shape), _pick(rng, (RED, YELLOW, WHITE) if leaves != R_PINK else (WHITE,)))


def _pine(rng: np.random.Generator, c: _Canvas) -> None:
    """Stacked triangular tiers, sometimes with snow on their upper edges."""
    g = c.grid
    tiers = rng.integers(2, 5)
    apex, bottom = rng.uniform(-1.0, -0.85), rng.uniform(0.4, 0.7)
    step = (bottom - apex) / (tiers + 1)
    crown = np.zeros_like(g.inside)
    for t in range(tiers):  # each tier is a triangle, wider and lower than the one above
        top = apex + step * t
        height = step * 2
        width = 0.35 + 0.55 * (t + 1) / tiers
        crown |= (g.au * g.r <= width * g.r * (g.v - top) / height + 0.5) & (g.v >= top) & (g.v <= top + height)
    c.paint(crown, _pick(rng, (R_PINE, R_PINE, R_GREEN)))
    if rng.random() < 0.4:  # snow on the tier tops
        c.mark(crown & ~_shift(crown, -g.pixels(1), 0), WHITE)  # crown pixels with open sky right above


def _slime(rng: np.random.Generator, c: _Canvas) -> None:
    """A dome of goo with a cute face and a shine on its upper left."""
    g = c.grid
    goo = _pick(rng, (R_GREEN, R_BLUE, R_PINK, R_PURPLE, R_ORANGE, R_RED, R_GREEN, R_BLUE))
    base, top, half_w = rng.uniform(0.8, 1.0), rng.uniform(-0.6, -0.05), rng.uniform(0.65, 1.0)
    dome = ((g.au / half_w) ** 2 + ((g.v - base) / (base - top)) ** 2 <= 1) & (g.v <= base)
    if rng.random() < 0.3:  # a droplet tip on the top
        tip = top - rng.uniform(0.15, 0.3)
        dome |= (g.ax <= (g.v - tip) * g.r * 1.2 + 0.5) & (g.v >= tip) & (g.v <= top + 0.3)
    if rng.random() < 0.5:  # a puddle spreading at the bottom
        dome |= (g.au <= min(half_w + 0.2, 1.0)) & (g.v > base - 1.5 / g.r) & (g.v <= base)
    c.paint(dome, goo)
    room = g.inner(dome)
    _face(rng, c, goo, g.row(top + (base - top) * rng.uniform(0.35, 0.5)), half_w * rng.uniform(0.2, 0.35), room)
    # The shine: a short vertical streak at the first free spot, in reading order, of the upper-left quarter.
    spots = np.flatnonzero(room & (g.x <= -g.col(half_w * 0.4)) & (c.detail == 0))
    if len(spots):
        y, x = divmod(int(spots[0]), g.size)
        px = g.pixels(1)
        shine = np.zeros_like(room)
        shine[y : y + 2 * px, x : x + px] = True
        c.mark(shine & room, WHITE)


def _mushroom(rng: np.random.Generator, c: _Canvas) -> None:
    """A mirrored toadstool: a domed cap with spots on a pale stem."""
    g = c.grid
    cap_ramp, spot = _pick(
        rng, ((R_RED, WHITE), (R_WOOD, PEACH), (R_BLUE, WHITE), (R_PURPLE, PEACH), (R_ORANGE, WHITE), (R_GREEN, WHITE))
    )
    rim, height, half_w = rng.uniform(0.05, 0.4), rng.uniform(0.75, 1.2), rng.uniform(0.75, 1.0)
    power = rng.uniform(1.6, 3.0)  # low: pointy bell, high: flat wide cap
    cap = ((g.au / half_w) ** power + ((rim - g.v) / height) ** 2 <= 1) & (g.v <= rim)
    flare = 0.6 * np.clip(g.v - 0.7, 0, None) * g.r  # the foot widens
    stem = g.centre_band(g.pixels(rng.uniform(1.0, 2.0)) + flare) & (g.v > rim - 0.1)
    c.paint(stem, (SILVER, PEACH, WHITE))
    c.paint(cap, cap_ramp)
    candidates = np.flatnonzero(g.inner(cap) & (g.x < 0) & (g.v < rim - 1.5 / g.r))
    centres = rng.choice(candidates, size=min(len(candidates), int(rng.integers(1, 4))), replace=False)
    dots = np.zeros_like(cap)
    for y, x in zip(g.y.flat[centres], g.ax.flat[centres]):  # discs around |x|, so mirrored like the rest
        dots |= (g.ax - x) ** 2 + (g.y - y) ** 2 <= (0.75 * g.px) ** 2
    c.mark(dots & cap, spot)


_KIND_PAINTERS: dict[str, Callable[[np.random.Generator, _Canvas], None]] = {
    "creature": _creature,
    "ship": _ship,
    "item": _item,
    "tree": _tree,
    "slime": _slime,
    "mushroom": _mushroom,
}
