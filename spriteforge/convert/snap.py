"""True-grid recovery: fake pixel art (enlarged off-grid, blurred, JPEG'd) -> the sprite it was made from.

    from spriteforge.convert.snap import SnapConfig, snap
    result = snap(rgba)                         # grid found automatically
    result.grid.summary()                       # 'cell 7.30x7.30, offset 5.20,5.20, 16x16 pixels, confidence 0.97'
    result.sprite.to_rgba()[0]                  # (16,16,4) uint8, palette-exact

An image that only looks like pixel art is a sprite resampled by some factor `cell` (image pixels per sprite
pixel, not necessarily an integer, possibly different along x and y) from some grid origin, by nearest, bilinear or
bicubic interpolation, then perhaps compressed and noised. Each axis is solved on its own, because resizers are
separable: every row of the image is a 1-D resize of one or two sprite rows on the same x grid.

The yardstick throughout is the rebuild error: for a candidate (cell, origin), the least-squares fit of one value
per cell, rendered back by the nearest, linear and cubic kernels (the best of the three), leaves a residual; the
true grid leaves only noise, a wrong one misses edges. The grid is found on luma and alpha (JPEG keeps chroma at
half resolution), and a cubic resize's overshoot, which the resizer clipped at 0 and 255, is refitted as censored
(`_clipped_fit`): so the truth's residual really is noise, and a wrong grid's stands out of it. It is a stricter test than edge periodicity alone, which
is phase-blind (edges sit on cell borders after a nearest or bicubic resize, but a bilinear ramp has a flat first
difference whose spectrum vanishes exactly at the grid's harmonics) and is fooled by JPEG's 8-pixel blocks.

1. Candidates, from periodicity. Along an axis, the summed |first difference| of all rows peaks where cells meet
   (nearest, bicubic) and the summed |second difference| at the kinks of a bilinear ramp. A grid of period c puts
   spectral peaks at every harmonic m/c; a candidate c scores the sum over its harmonics of how far the spectrum
   stands out of its local background, less a cost per harmonic (so 2c, whose extra harmonics fall between the
   peaks, loses). The best peaks of each spectrum, their halves, thirds and doubles, and the common cells 2, 3, 4
   are candidates, each refined on the spectrum to sub-pixel precision; and so are the cell sizes where a scan of
   the linear kernel's rebuild error dips furthest below the sizes around (`_scanned_cells`: the spectrum of a
   smooth resize with large cells has few harmonics left, and JPEG's 8-pixel blocks outshine them).
2. Choice and fit. Each candidate's origin is searched (a sweep of phases, then a compass search over cell and
   origin, whose steps halve each round: the error is sharp at the truth and flat-bottomed for a nearest resize).
   Every divisor of the true cell rebuilds the image as well as it does, and a finer grid fits JPEG ringing a
   little better, so the grid is the largest candidate that rebuilds the image about as well as the best one (in
   rms error, and in the share of pixels missed by far); near-equal sizes are settled by error, then by
   simplicity (a whole or half size). Pixels are almost always square: where the two axes disagree, each is
   searched again with the other's cell as a candidate, taken where it rebuilds the axis as well up to noise and
   does not divide the largest cell that does (JPEG noise lets a wrong 6.54 rebuild an axis as well as the true
   5.5; a true non-square cell rebuilds worse at the other's size). Confidence is how much better the found
   origin rebuilds the image than the average origin: near 0 for an image with no grid (every phase is as good),
   near 1 for a clean grid.
3. Cells, by deconvolution. The least-squares fit of step 2 in 2-D, with the kernel that fitted best: the values
   whose resize best explains the image; luma and alpha through that resize, chroma through it or through it
   followed by JPEG's 4:2:0 chroma subsampling (`_chroma_halving`), whichever explains the image better. Bilinear and bicubic resizes have no flat cell centre to read (the
   true colour exists only at the centre point), and a centre median is pulled towards the neighbours; inverting
   the resize gives the exact colours back, and averages JPEG noise over the whole cell. Colour and alpha are
   fitted as they are (not premultiplied), as resizers blend them, so a sprite's edge blended with transparent
   black comes back as its own colour, not as a dark ring.
4. Palette. Distances are in luma and chroma, each in units of its noise (`_colour_noise`, robust: from each
   cell's closest neighbour). Cells inside a region of their colour are clustered first by a greedy leader pass,
   densest first, so the count is chosen automatically; the other cells (edges, thin lines) join the nearest of
   those colours within a looser chroma noise where the chroma was subsampled, and only those beyond it make
   colours of their own (`_auto_colours`); each colour is the median of its settled cells. Or k-means to K
   colours (auto:K, max_colors), or a named palette or palette file. Every opaque cell takes its nearest palette
   colour; cells whose alpha is below the threshold are index 0. The noise of the cells is at most a few times
   what the image's own noise (the rebuild's residual) passes through the inverse (`_Evidence.cell_noise`): in a
   sprite of thin lines a cell's closest neighbour is another colour, and the neighbours alone would merge its
   shades.
5. Decoding against the image. A cell's nearest colour is a guess made one cell at a time; each opaque cell then
   takes the entry whose rendering through the resize (and 4:2:0), next to its neighbours' entries, explains the
   image best (`_decode`, iterated conditional modes). A palette of the image's own clusters (`auto`, with no
   `max_colors` cap reached) then has its colours refitted by least squares from every pixel their cells cover
   (`_refit_colours`), the cells decoded again, and colours of a few cells that the image does not need (stray
   edge cells JPEG moved, near-duplicates) dropped (`_prune`); `auto:K` and named palettes keep their entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spriteforge import io
from spriteforge.convert.degrade import RESAMPLES, resampling_matrix
from spriteforge.convert.pixelize import (
    FolderReport,
    convertible_files,
    output_path,
    read_image,
    resolve_palette,
    write_sprite,
)
from spriteforge.data.cells import check_rgba_image
from spriteforge.data.palette import ALPHA_THRESHOLD, Palette
from spriteforge.data.sprites import LoadReport, SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.progress import track

MIN_CELL = 2.0  # image pixels per sprite pixel: below this, an image is its own pixel art (pass --cell 1)
MIN_CELLS = 3  # sprite pixels along each axis, at least: fewer is not a grid one can tell from an accident
MIN_CONFIDENCE = 0.2  # below it, `snap` refuses: the best origin rebuilds the image barely better than any other
_PERIOD_STEP = 0.003  # relative spacing of the coarse cell-size search (0.3%)
_PERIOD_FINE = 24  # the fine search: this many steps across one coarse step on each side of a peak
_PHASES = 24  # grid origins tried per cell, before the compass search refines it
_MAX_LENGTH = 256  # pixels along an axis searched in full (see _axis_grid)
_LONG_SIGNALS = 16  # signals and rounds that refine the cell size on the whole of a longer axis
_LONG_ROUNDS = 4
_MAX_SPRITE = 1024  # sprite pixels along an axis, at most: pixel art, not a photo (and a bounded least squares)
_MAX_SIGNALS = 256  # 1-D signals (row x channel) used to score origins: plenty, and keeps big images fast
_PEAKS = 3  # spectral peaks (of each spectrum) whose cells, and their halves, thirds and doubles, are checked
_HARMONIC_COST = 0.7  # log-units a harmonic must stand out of the spectrum's background to count for a cell
_SCAN_STEP = 0.015  # relative spacing of the cell sizes whose rebuild error is scanned for dips...
_SCAN_PHASES = 12  # ...with this many origins each...
_SCAN_SIGNALS = 24  # ...on this many signals...
_SCAN_NEIGHBOURHOOD = 0.1  # ...a dip measured against the median error of the sizes within 10%...
_SCAN_DIPS = 3  # ...and the deepest few proposed
_CANDIDATE_SIGNALS = 96  # signals and search rounds used to compare candidate cells (the winner gets the full fit)
_CANDIDATE_ROUNDS = 4
_CANDIDATE_PHASES = 12
_FINAL_ROUNDS = 7
_CELL_STEP = 0.008  # the compass search's first step in cell size (relative; then halved each round)
_MOVES_PER_ROUND = 6
_FINAL_CELL_STEP = 0.002  # the winner's fit starts from where its candidate fit ended, with smaller steps
_SIMPLE_CELL = 0.06  # a whole or half cell size this close (relative) is tried instead of the fitted one
_PLAUSIBLE = 6.0  # candidates whose quick fit is within this factor of the best are fitted in full
_REBUILD_TOLERANCE = 3.0  # a cell "rebuilds about as well" as the best one within this factor...
_ROUNDING = 1 / math.sqrt(12)  # ...combined with the rms error of rounding to whole levels (which a finer grid
# fits a part of, so the truth's error may be this much above the best where the best is near exact)
_HALF_PIXEL = 0.5
_COMMON_CELLS = (2.0, 3.0, 4.0)  # always candidates: the common scales, and 2's harmonic sits on the Nyquist limit
_MISS = 16.0  # levels (0..255): a rebuilt pixel this far off is a miss, or _MISS_NOISE times the least rms error...
_MISS_NOISE = 5.0
_MISS_TOLERANCE = 1.5  # ...and a cell rebuilds "about as well" only with at most this many times the fewest misses
_MISS_SLACK = 0.01  # ...plus this share of the pixels
_NEAR_CELL = 0.1  # candidates within this (relative) of the largest good one compete on error and simplicity
_CENSORED_ROUNDS = 3  # refits that treat the pixels a cubic resize clipped at 0 or 255 as censored
_SAME_ERROR = 0.05  # relative: rebuild errors this close are the same up to noise
_SAME_CELL = 0.015  # candidate cells closer than this (relative) are one candidate
_NOISE_RADIUS = 6.0  # auto palette: cell colours closer than this, in units of their noise, are one colour...
_MIN_NOISE = 1.0  # ...a noise of at least this many levels (0..255) in luma and in chroma
_SUBSAMPLED_CHROMA_NOISE = 2.5  # ...and in chroma where it was subsampled (JPEG 4:2:0)
_NOISE_PERCENTILE = 75  # ...estimated as this percentile of each cell's difference to its closest neighbour
_SPREAD_RADIUS = 4.0  # two colours whose medians are closer than this many of their cells' spreads are one
_DECODE_SWEEPS = 6  # at most this many passes of the decoding over the cells whose neighbours changed
_REBUILD_NOISE_MARGIN = 3.0  # the noise of the cells is taken as at most this many times what the pixels' predicts
_PRUNE_COST = 1.5  # a colour is dropped when the image misses it by less than this many times the local noise floor
_PRUNE_CELLS = 16  # colours of at most this many cells, or this share of the opaque ones, are tried for dropping
_PRUNE_SHARE = 0.05
_MIN_INTERIOR = 4  # cells: a colour is read from its interior cells where it has at least this many
# RGB -> luma, blue and red chroma (ITU-R BT.601, full range, as JPEG stores colour)
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


@dataclass(frozen=True)
class SnapConfig:
    """How to snap: cell (x, y) and offset (x, y) in image pixels, each None to detect it; palette: "auto" (count
    chosen from the image), "auto:K" (K entries, the transparent one included), a shipped name or a palette file;
    max_colors: at most this many entries with "auto" (transparent included); alpha_threshold: cells whose median
    alpha is below it are transparent; min_confidence: detected grids below it are refused."""

    palette: str = "auto"
    cell: tuple[float, float] | None = None
    offset: tuple[float, float] | None = None
    max_colors: int | None = None
    alpha_threshold: int = ALPHA_THRESHOLD
    min_confidence: float = MIN_CONFIDENCE

    def __post_init__(self) -> None:
        if self.cell is not None and (len(self.cell) != 2 or not all(math.isfinite(c) and c >= 1 for c in self.cell)):
            raise SpriteforgeError(f"cell {self.cell!r} must be two sizes >= 1 image pixel (x, y), e.g. (8, 8)")
        if self.offset is not None and (len(self.offset) != 2 or not all(math.isfinite(o) for o in self.offset)):
            raise SpriteforgeError(f"offset {self.offset!r} must be two numbers (x, y) in image pixels, e.g. (3, 0)")
        if self.max_colors is not None and (not isinstance(self.max_colors, int) or self.max_colors < 2):
            raise SpriteforgeError(
                f"max_colors {self.max_colors!r} must be an integer >= 2 (it counts the transparent entry)"
            )
        if not isinstance(self.alpha_threshold, int) or not 1 <= self.alpha_threshold <= 255:
            raise SpriteforgeError(f"alpha_threshold {self.alpha_threshold!r} must be an integer in 1..255")
        if self.palette != "auto":
            resolve_palette(self.palette)  # a bad auto:K or an unknown name fails before any image is read


@dataclass(frozen=True)
class Grid:
    """The pixel grid of an image: cell (x, y) in image pixels per sprite pixel, offset (x, y) of the first grid
    line in [0, cell), shape (rows, cols) of sprite pixels at least about half in view, the confidence (0..1, the
    lower of the two axes'; 1 where the user gave the grid) and the resize kernel (x, y) that explains it best."""

    cell: tuple[float, float]
    offset: tuple[float, float]
    shape: tuple[int, int]
    confidence: float
    resample: tuple[str, str] = ("nearest", "nearest")

    def summary(self) -> str:
        (cx, cy), (ox, oy) = self.cell, self.offset
        return (
            f"cell {cx:.2f}x{cy:.2f}, offset {ox:.2f},{oy:.2f}, {self.shape[1]}x{self.shape[0]} pixels, "
            f"confidence {self.confidence:.2f}"
        )

    def lines(self, axis: int) -> np.ndarray:
        """Image coordinates of the grid lines around the cells along axis 0 (y) or 1 (x)."""
        cell = self.cell[1 - axis]
        return _first_origin(self.offset[1 - axis], cell) + np.arange(self.shape[axis] + 1) * cell


@dataclass
class Snapped:
    """What `snap` found: the true-size sprite (a SpriteSet of one), its grid, and where it was written (if it was)."""

    sprite: SpriteSet
    grid: Grid
    path: Path | None = None

    def summary(self) -> str:
        colors = len(self.sprite.palette) - 1
        where = f"{self.path}: " if self.path is not None else ""
        return f"{where}{self.grid.summary()}, {colors} colour(s)"


@dataclass
class SnapFolderReport(FolderReport):
    """`FolderReport` plus what was found in each image written."""

    snapped: list[Snapped] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------- public API


def snap(image: np.ndarray | str | Path, config: SnapConfig | None = None) -> Snapped:
    """Recover the true pixels of fake pixel art: an (H,W,4) uint8 RGBA image or an image file -> `Snapped`."""
    config = config or SnapConfig()
    name = "image"
    if isinstance(image, (str, Path)):
        name, image = str(image), read_image(image)
    rgba = check_rgba_image(image)
    grid = detect_grid(rgba, config.cell, config.offset)
    if config.cell is None and grid.confidence < config.min_confidence:  # a grid the user gave is theirs to judge
        raise SpriteforgeError(
            f"{name}: no pixel grid found (best guess {grid.summary()}, below {config.min_confidence}); if it is "
            "pixel art, give its cell size (image pixels per sprite pixel, W or WxH, e.g. 8: --cell 8 on the "
            "command line)"
        )
    sprite = _read_sprite(rgba, grid, config)
    return Snapped(sprite, grid)


def snap_file(path: str | Path, out: str | Path, config: SnapConfig | None = None, scale: int = 1) -> Snapped:
    """Snap one image file into the true-size PNG `out` (a folder gets `<stem>.png`), plus a `<stem>_x{scale}.png`
    nearest-neighbour preview when `scale` > 1."""
    out = output_path(path, out, scale)
    result = snap(path, config)
    result.path = write_sprite(result.sprite, out, scale)
    return result


def snap_folder(
    folder: str | Path,
    out_folder: str | Path,
    config: SnapConfig | None = None,
    scale: int = 1,
    progress: bool = True,
) -> SnapFolderReport:
    """Snap every image under `folder` (recursively) into `out_folder`, keeping relative names, as .png.

    Images that cannot be read, or show no grid, are skipped with the reason; when none could be snapped it is an
    error saying why.
    """
    config = config or SnapConfig()
    folder, out_folder = Path(folder), Path(out_folder)
    report = SnapFolderReport()
    for file in track(convertible_files(folder, out_folder), "snapping", enabled=progress):
        out = out_folder / file.relative_to(folder).with_suffix(".png")
        try:
            result = snap_file(file, out, config, scale)
        except SpriteforgeError as err:
            report.skipped.append((file, str(err)))
            continue
        report.written.append(out)
        report.snapped.append(result)
    if not report.written:
        path, reason = report.skipped[0]
        raise SpriteforgeError(f"nothing snapped: all {len(report.skipped)} image(s) in {folder} failed, e.g. {reason}")
    return report


def grid_overlay(rgba: np.ndarray, grid: Grid, scale: int = 1) -> np.ndarray:
    """(H,W,4) image -> (H*scale, W*scale, 4) opaque, with the grid lines blended over it in magenta."""
    picture = io.upscale(io.composite(rgba[None])[0], scale).astype(np.float32)
    lines = np.zeros(picture.shape[:2], bool)
    for axis in (0, 1):
        positions = np.clip(np.rint(grid.lines(axis) * scale).astype(np.int64), 0, picture.shape[axis] - 1)
        lines[(positions, slice(None)) if axis == 0 else (slice(None), positions)] = True
    picture[lines, :3] = 0.5 * picture[lines, :3] + 0.5 * np.array([255.0, 0.0, 255.0])
    return picture.astype(np.uint8)


def parse_cell(text: str | None) -> tuple[float, float] | None:
    """ "8" -> (8, 8), "6x8" -> (6, 8) (x, y), None -> None (detect it)."""
    if text is None or not text.strip():
        return None
    parts = text.lower().replace("*", "x").split("x")
    values = _numbers(parts, text, "cell", "W or WxH in image pixels per sprite pixel, e.g. 8, 7.3 or 6x8")
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise SpriteforgeError(f"cell {text!r}: write W or WxH, each >= 1 image pixel per sprite pixel, e.g. 8 or 6x8")
    return values[0], values[1]


def parse_offset(text: str | None) -> tuple[float, float] | None:
    """ "3,2" -> (3, 2) (x, y), "3" -> (3, 3), None -> None (detect it)."""
    if text is None or not text.strip():
        return None
    values = _numbers(text.split(","), text, "offset", "X,Y in image pixels (where the first grid line is), e.g. 3,0")
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise SpriteforgeError(f"offset {text!r}: write X,Y in image pixels, e.g. 3,0")
    return values[0], values[1]


def _numbers(parts: list[str], text: str, what: str, expected: str) -> list[float]:
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise SpriteforgeError(f"{what} {text!r}: write {expected}") from None
    if not all(math.isfinite(value) for value in values):
        raise SpriteforgeError(f"{what} {text!r}: write {expected}")
    return values


# ---------------------------------------------------------------------------------------------------- the grid


def detect_grid(
    rgba: np.ndarray,
    cell: tuple[float, float] | None = None,
    offset: tuple[float, float] | None = None,
) -> Grid:
    """The grid of an (H,W,4) image; `cell` and `offset` ((x, y) image pixels) fix what the user knows."""
    features = _features(rgba)
    # (signals, length) per axis, x then y: each row (for x) or column (for y) of each channel is one 1-D signal
    signals = [np.moveaxis(features, axis, -1).reshape(-1, features.shape[axis]) for axis in (1, 0)]
    given_cells = [None, None] if cell is None else [float(c) for c in cell]
    given_offsets = [None, None] if offset is None else [float(o) for o in offset]
    axes = [_axis_grid(signals[i], given_cells[i], given_offsets[i]) for i in (0, 1)]
    if cell is None and abs(axes[0][0] - axes[1][0]) > _SAME_CELL * max(axes[0][0], axes[1][0]):
        # Pixels are almost always square: where the axes disagree, each is searched again preferring the other's
        # cell wherever that rebuilds it about as well (see `_cell_size`): so one axis found right puts the other
        # right, and truly non-square cells (which rebuild poorly at the other's size) stay as they are.
        axes = [_axis_grid(signals[i], None, given_offsets[i], preferred=axes[1 - i][0]) for i in (0, 1)]
    (cell_x, origin_x, conf_x, kernel_x), (cell_y, origin_y, conf_y, kernel_y) = axes
    shape = (_cell_count(rgba.shape[0], cell_y, origin_y), _cell_count(rgba.shape[1], cell_x, origin_x))
    if max(shape) > _MAX_SPRITE:
        raise SpriteforgeError(
            f"cell {cell_x:g}x{cell_y:g} makes a {shape[1]}x{shape[0]} sprite, over {_MAX_SPRITE} pixels on a side; "
            "snap recovers pixel art: give a larger cell (image pixels per sprite pixel)"
        )
    offset_xy = (origin_x % cell_x, origin_y % cell_y)
    return Grid((cell_x, cell_y), offset_xy, shape, min(conf_x, conf_y), (kernel_x, kernel_y))


def _features(rgba: np.ndarray) -> np.ndarray:
    """(H,W,2) float32 luma and alpha, the signals the grid is found on. Luma, not RGB: JPEG keeps chroma at half
    resolution (4:2:0), so chroma edges are smeared over two to three pixels that no grid of the true size
    rebuilds, and a finer grid then fits the smear better than the truth does; luma keeps full resolution, and
    pixel art rarely has an edge between two colours of equal luma. Not premultiplied: resizers interpolate colour
    and alpha each linearly, and their product would not be (the rebuild of step 2 would fail on it); the colour
    of transparent pixels, even garbage, lies on the grid like any other."""
    image = rgba.astype(np.float32)
    return np.stack([image[..., :3] @ _YCC[0].astype(np.float32), image[..., 3]], axis=-1)


def _axis_grid(
    signals: np.ndarray, cell: float | None, offset: float | None, preferred: float | None = None
) -> tuple[float, float, float, str]:
    """(cell, origin, confidence, kernel) along one axis of (N, L) signals; origin: the first cell's first edge,
    as `_first_origin` places it; kernel: the resize that explains the image best.

    A long axis is searched on its central _MAX_LENGTH pixels (the fits solve one least-squares problem per cell
    count, cubic in it), then the cell size alone is refined on the whole length, where a small error adds up.
    `preferred`: a cell size to pick where it rebuilds the axis about as well as the best (`_cell_size`)."""
    length = signals.shape[1]
    if cell is not None and length < cell:
        raise SpriteforgeError(f"cell {cell:g} is larger than the image ({length} pixels along that axis)")
    if length <= _MAX_LENGTH:
        return _window_grid(signals, cell, offset, preferred)
    start = (length - _MAX_LENGTH) // 2
    shifted = None if offset is None else offset - start
    found, origin, confidence, kernel = _window_grid(signals[:, start : start + _MAX_LENGTH], cell, shifted, preferred)
    origin += start
    if cell is None:
        few = _busiest(signals, _LONG_SIGNALS)
        found, origin, _ = _refine(few, found, origin, _FINAL_CELL_STEP * found / 4, 0.0, _LONG_ROUNDS)
    return found, _first_origin(origin, found), confidence, kernel


def _window_grid(
    signals: np.ndarray, cell: float | None, offset: float | None, preferred: float | None = None
) -> tuple[float, float, float, str]:
    """`_axis_grid` on signals short enough to search in full."""
    length = signals.shape[1]
    if cell is None and length < MIN_CELL * MIN_CELLS:
        return 1.0, 0.0, 0.0, RESAMPLES[0]  # too short to hold a grid: no confidence
    busiest = _busiest(signals, _MAX_SIGNALS)
    if cell is not None and offset is not None:
        origin = _first_origin(offset, cell)
        return cell, origin, 1.0, _best_kernel(busiest, cell, origin)[1]
    if cell is None:
        found, origin = _cell_size(signals, preferred)
        found, origin, _ = _refine(busiest, found, origin, _FINAL_CELL_STEP * found, found / _PHASES / 4, _FINAL_ROUNDS)
        found, origin = _simplest(busiest, found, origin)
    else:
        found, origin, _ = _fit(busiest, cell, False, _FINAL_ROUNDS, _PHASES)
    origin = _first_origin(_centre_origin(busiest, found, origin) if offset is None else offset, found)
    return found, origin, _confidence(busiest, found, origin), _best_kernel(busiest, found, origin)[1]


def _cell_size(signals: np.ndarray, preferred: float | None = None) -> tuple[float, float]:
    """The period of the grid along the axis (see the module docstring, step 1): the spectrum proposes, the
    rebuild error decides, each candidate first fitted a little (a cell 0.5% off misses by a pixel after a few
    dozen cells, and would lose to its own divisors). `preferred` (the other axis's cell) is a candidate too, and
    is the answer wherever it rebuilds the axis as well as the largest good cell up to noise (_SAME_ERROR),
    unless it divides that cell (a wrong axis of 5.03 or 6.54 next to a right 5.5 rebuilds the image as well by
    fitting noise; a true 8x4 cell has 4 rebuilding its x axis as well as 8 does, as a divisor; the x axis of a
    true 6x4.5 cell rebuilds 13% worse at 4.5)."""
    candidates = _cell_candidates(signals)
    if preferred is not None and not MIN_CELL <= preferred <= signals.shape[1] / MIN_CELLS:
        preferred = None
    if preferred is not None:
        candidates = np.append(candidates, preferred)  # the last
    busiest = _busiest(signals, _CANDIDATE_SIGNALS)
    fitted = [_fit(busiest, cell, True, _CANDIDATE_ROUNDS, _CANDIDATE_PHASES) for cell in candidates]  # (c, o, e)
    # The quick fit can stop a little off the truth (a cell 0.3% off, an origin a third of a pixel off), which the
    # tight choice below would reject: the candidates it leaves within _PLAUSIBLE of the best are fitted in full.
    least = min(error for _, _, error in fitted)
    fitted = [
        min(found, _fit(busiest, cell, True, _FINAL_ROUNDS, _PHASES), key=lambda fit: fit[2])
        if found[2] <= _PLAUSIBLE * least
        else found
        for cell, found in zip(candidates, fitted)
    ]
    cells = np.array([cell for cell, _, _ in fitted])
    errors = np.array([error for _, _, error in fitted])
    miss = max(_MISS, _MISS_NOISE * float(errors.min()))  # well above the noise the finest grid leaves
    misses = np.array([_best_kernel(busiest, cell, origin, miss)[2] for cell, origin, _ in fitted])
    # Every divisor of the true cell rebuilds the image as well as it does (a finer grid can draw anything a
    # coarser one can): the largest cell that rebuilds the image about as well as the best one is the grid.
    # "About as well": a finer grid also fits some of the JPEG ringing and noise (the truth's error is up to ~2.3x
    # the finest grid's on JPEG q85), while a coarser, wrong grid misses whole edges (>= ~4x, even on low-contrast
    # tiles), and has many more pixels missed by far than the best. The margin is there because the rebuild
    # models what it can (luma only, as JPEG keeps chroma at half resolution; a cubic resize's clipped overshoot,
    # see `_clipped_fit`): without those, the truth's error was up to ~5x the finest grid's.
    good = np.flatnonzero(
        (errors <= np.hypot(_REBUILD_TOLERANCE * errors.min(), _ROUNDING))
        & (misses <= _MISS_TOLERANCE * misses.min() + _MISS_SLACK)
    )
    largest = cells[good].max()
    if preferred is not None and len(cells) - 1 in good:
        ratio = largest / cells[-1]
        as_well = errors[-1] <= errors[np.flatnonzero(cells == largest)[0]] * (1 + _SAME_ERROR)
        if as_well and (ratio < 2 - _NEAR_CELL or abs(ratio - round(ratio)) > _NEAR_CELL):
            return float(cells[-1]), fitted[-1][1]
    # Where a sprite has empty margins, a range of sizes around the true one rebuilds it equally well: of those
    # near the largest that rebuild it as well as the best of them (within _SAME_ERROR: noise), the one nearest a
    # whole or half size, then the best.
    near = good[cells[good] >= largest / (1 + _NEAR_CELL)]
    near = near[errors[near] <= errors[near].min() * (1 + _SAME_ERROR) + _ROUNDING / 30]
    simple = np.abs(cells[near] * 2 - np.rint(cells[near] * 2)) / cells[near]
    chosen = near[np.lexsort((errors[near], simple))[0]]
    return float(cells[chosen]), fitted[chosen][1]


def _fit(signals: np.ndarray, cell: float, fit_cell: bool, rounds: int, phases: int) -> tuple[float, float, float]:
    """(cell, origin, rebuild error) minimising the rebuild error: the best of `phases` origins, then `_refine`."""
    origins = (np.arange(phases) / phases - 0.5) * cell
    errors = [_rebuild_error(signals, cell, origin) for origin in origins]
    origin = float(origins[int(np.argmin(errors))])
    return _refine(signals, cell, origin, _CELL_STEP * cell if fit_cell else 0.0, cell / phases / 2, rounds)


def _refine(
    signals: np.ndarray, cell: float, origin: float, step_cell: float, step_origin: float, rounds: int
) -> tuple[float, float, float]:
    """A compass search over (cell, origin) whose steps halve each round (the rebuild error is sharp at the truth
    and flat-bottomed for a nearest resize, which rules out gradients); step_cell 0 keeps the cell."""
    error = _rebuild_error(signals, cell, origin)
    for _ in range(rounds):
        for _ in range(_MOVES_PER_ROUND):
            moves = [(0.0, step_origin), (0.0, -step_origin)] if step_origin else []
            if step_cell:
                moves += [(step_cell, 0.0), (-step_cell, 0.0)]
            tried = [(_rebuild_error(signals, cell + dc, origin + do), dc, do) for dc, do in moves if cell + dc >= 1]
            new_error, dc, do = min(tried)
            if new_error >= error:
                break
            error, cell, origin = new_error, cell + dc, origin + do
        step_cell, step_origin = step_cell / 2, step_origin / 2
    return cell, origin, error


def _simplest(signals: np.ndarray, cell: float, origin: float) -> tuple[float, float]:
    """The nearest whole or half cell size instead of `cell` where it rebuilds the image as well: pixel art is
    mostly enlarged by simple factors, and a flat-bottomed error leaves the fitted size a little off."""
    error = _rebuild_error(signals, cell, origin)
    for simple in (round(cell), round(cell * 2) / 2):
        if simple >= 1 and abs(simple - cell) < _SIMPLE_CELL * cell:
            _, moved, simple_error = _refine(signals, simple, origin, 0.0, cell / _PHASES / 4, _FINAL_ROUNDS)
            if simple_error <= error * 1.02 + 1e-3:
                return float(simple), moved
    return cell, origin


def _centre_origin(signals: np.ndarray, cell: float, origin: float) -> float:
    """The middle of the origins that rebuild the image as well as `origin`, within a pixel of it: a grid line
    between two pixels of a nearest resize can move across the gap between their centres without any change."""
    nearby = origin + np.linspace(-0.6, 0.6, 25)
    errors = np.array([_rebuild_error(signals, cell, candidate) for candidate in nearby])
    return float(nearby[errors <= errors.min() * 1.02 + 1e-3].mean())


def _confidence(signals: np.ndarray, cell: float, origin: float) -> float:
    """How much better the grid's origin rebuilds the image than the average origin: 0 (no preference, no grid)
    to 1 (only this phase explains the image)."""
    phases = origin + np.arange(_PHASES) / _PHASES * cell
    errors = np.array([_rebuild_error(signals, cell, phase) for phase in phases])
    typical = float(errors.mean())
    return max(0.0, 1.0 - float(errors[0]) / typical) if typical > 0 else 0.0


def _cell_candidates(signals: np.ndarray) -> np.ndarray:
    """Cell sizes worth checking: the best peaks of the harmonic scores, their halves, thirds and doubles, 2, 3, 4,
    each refined to sub-pixel precision on the spectrum."""
    length = signals.shape[1]
    spectra = [_normalised_spectrum(np.abs(np.diff(signals, n, axis=1)).sum(0), length) for n in (1, 2)]
    top = length / MIN_CELLS
    steps = int(math.log(top / MIN_CELL) / math.log1p(_PERIOD_STEP)) + 1
    coarse = MIN_CELL * (1 + _PERIOD_STEP) ** np.arange(steps)
    best: list[float] = []
    # Peaks of each spectrum on its own (one may be swamped: JPEG's 8-pixel blocks fill the curvature spectrum)
    # and of both together.
    for scores in (*(_harmonic_scores([spectrum], coarse) for spectrum in spectra), _harmonic_scores(spectra, coarse)):
        peaks = np.flatnonzero((scores >= np.roll(scores, 1)) & (scores >= np.roll(scores, -1)))
        best.extend(coarse[peaks[np.argsort(-scores[peaks], kind="stable")[:_PEAKS]]])
    related = np.concatenate([np.array(best) * factor for factor in (1, 1 / 2, 1 / 3, 2)])
    related = np.concatenate([related, _COMMON_CELLS, _scanned_cells(signals)])
    related = related[(related >= MIN_CELL) & (related <= top)]
    refined = np.sort([_refine_cell(spectra, cell) for cell in np.unique(np.round(related, 2))])
    distinct = [cell for i, cell in enumerate(refined) if i == 0 or cell > refined[i - 1] * (1 + _SAME_CELL)]
    return np.array(distinct)


def _scanned_cells(signals: np.ndarray) -> np.ndarray:
    """Cell sizes where the rebuild error by the linear kernel (best of a sweep of origins) dips furthest below
    its value at the sizes around: the truth, its divisors and its multiples. The spectrum misses the grid of a
    smooth (bilinear, bicubic) resize with large cells, whose edge profiles have few harmonics left, and JPEG's
    8-pixel blocks stand out more there; a cell a little off the truth misaligns the far cells, so the dip is
    sharp whatever the spectrum shows."""
    from scipy.ndimage import median_filter  # scipy comes with scikit-learn; imported here as it is slow to load

    few = _busiest(signals, _SCAN_SIGNALS)
    top = few.shape[1] / MIN_CELLS
    cells = MIN_CELL * (1 + _SCAN_STEP) ** np.arange(int(math.log(top / MIN_CELL) / math.log1p(_SCAN_STEP)) + 1)
    sweep = np.arange(_SCAN_PHASES) / _SCAN_PHASES - 0.5
    errors = np.array(
        [min(float((_residual(few, cell, origin, "bilinear") ** 2).sum()) for origin in sweep * cell) for cell in cells]
    )
    reach = round(math.log1p(_SCAN_NEIGHBOURHOOD) / math.log1p(_SCAN_STEP))
    depth = errors / (median_filter(errors, size=2 * reach + 1, mode="nearest") + 1e-9)
    minima = np.flatnonzero((errors <= np.roll(errors, 1)) & (errors <= np.roll(errors, -1)))
    return cells[minima[np.argsort(depth[minima], kind="stable")[:_SCAN_DIPS]]]


def _refine_cell(spectra: list[np.ndarray], cell: float) -> float:
    fine = cell * (1 + _PERIOD_STEP) ** np.linspace(-1, 1, 2 * _PERIOD_FINE + 1)
    return float(fine[int(np.argmax(_harmonic_scores(spectra, fine)))])


def _normalised_spectrum(profile: np.ndarray, length: int) -> np.ndarray:
    """log(|FFT| / its local median) of a profile, zero-padded to a finely sampled spectrum: 0 = the background
    level around that frequency, so that a peak counts by how far it stands out of its neighbourhood (the
    spectrum of a sprite falls steeply with frequency; a global level would favour low harmonics)."""
    from scipy.ndimage import median_filter  # scipy comes with scikit-learn; imported here as it is slow to load

    n_fft = 1 << int(math.ceil(math.log2(8 * length)))  # the same for every profile of the axis
    spectrum = np.abs(np.fft.rfft(profile - profile.mean(), n_fft))
    lobe = n_fft / length  # bins per spectral main lobe (half its width)
    background = median_filter(spectrum, size=max(3, int(12 * lobe)) | 1, mode="nearest")
    floor = 1e-6 * float(spectrum.max()) + 1e-12
    return np.log((spectrum + floor) / (background + floor))


def _harmonic_scores(spectra: list[np.ndarray], cells: np.ndarray) -> np.ndarray:
    """(C,) for candidate cells: the sum over harmonics m/c (m = 1.. up to the Nyquist frequency) of how far the
    spectrum stands out there, less _HARMONIC_COST per harmonic (so a multiple of the cell, whose extra
    harmonics fall between the peaks, loses)."""
    n_fft = 2 * (len(spectra[0]) - 1)
    harmonics = np.arange(1, int(cells.max() // 2) + 1)
    frequency = harmonics[None] / cells[:, None]  # (C, M) cycles per pixel
    valid = frequency <= 0.5
    position = np.minimum(frequency, 0.5) * n_fft  # fractional FFT bin
    low = np.floor(position).astype(np.int64)
    weight = position - low
    scores = np.zeros(len(cells))
    for spectrum in spectra:
        high = np.minimum(low + 1, len(spectrum) - 1)
        level = spectrum[low] * (1 - weight) + spectrum[high] * weight  # (C, M)
        scores += np.where(valid, level - _HARMONIC_COST, 0.0).sum(1)
    return scores


def _busiest(signals: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of the signals, those with the most variation (flat ones say nothing about the grid)."""
    if len(signals) <= count:
        return signals
    activity = np.abs(np.diff(signals, axis=1)).sum(1)
    return signals[np.argsort(-activity, kind="stable")[:count]]


def _rebuild_error(signals: np.ndarray, cell: float, origin: float) -> float:
    """How well (N, L) signals are explained as a resize of `cell` from `origin` (see `_best_kernel`)."""
    return _best_kernel(signals, cell, origin)[0]


def _best_kernel(signals: np.ndarray, cell: float, origin: float, miss: float = 16.0) -> tuple[float, str, float]:
    """(error, kernel, misses): the root mean square residual of the least-squares fit of one value per cell,
    rendered by nearest, linear or cubic interpolation (the best of the three: the kernels resizers use, so the
    truth fits one of them up to noise), per degree of freedom (a finer grid has more values to fit noise with;
    dividing by L - cells keeps pure noise from favouring it); and the share of pixels it misses by more than
    `miss` levels (JPEG ringing and noise rarely do, when `miss` is well above their level; a missed edge does)."""
    length = signals.shape[1]
    count = _cell_count(length, cell, origin)
    best, kernel, misses = math.inf, RESAMPLES[0], 1.0
    for resample in RESAMPLES:
        residual = _residual(signals, cell, origin, resample)
        error = float((residual**2).sum())
        if error < best:
            best, kernel, misses = error, resample, float((np.abs(residual) > miss).mean())
    return math.sqrt(best / (signals.shape[0] * max(length - count, 1))), kernel, misses


def _residual(signals: np.ndarray, cell: float, origin: float, resample: str) -> np.ndarray:
    """(L, N): what the fit of one value per cell, rendered by `resample`, leaves of (N, L) signals."""
    length = signals.shape[1]
    render = resampling_matrix(length, _cell_count(length, cell, origin), cell, origin, resample).astype(np.float32)
    return signals.T - _clipped_fit(render, signals.T, resample)


def _clipped_fit(render: np.ndarray, image: np.ndarray, resample: str) -> np.ndarray:
    """The least-squares rebuild of `image` (L, ...) by the resize `render` (L, count), clipped to 0..255 as the
    resizer clipped it. A cubic kernel overshoots at every strong edge (alpha 0 to 255, black outlines), and the
    image holds the clipped values: a plain fit to them is biased all along such an edge. The clipped pixels are
    censored, so they are replaced by the rebuild's own overshoot and the values refitted (_CENSORED_ROUNDS)."""
    inverse = _pseudo_inverse(render)
    rebuilt = render @ np.tensordot(inverse, image, 1)
    if resample == "bicubic":
        for _ in range(_CENSORED_ROUNDS):
            censored = _clipped(image, rebuilt)
            rebuilt = render @ np.tensordot(inverse, np.where(censored, rebuilt, image), 1)
    return np.clip(rebuilt, 0, 255)


def _resized(rows: np.ndarray, values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(H,h) rows, (h,w,C) values, (W,w) cols -> (H,W,C): a separable resize, as two matrix products."""
    return np.einsum("Yy,yxc,Xx->YXc", rows, values, cols, optimize=True)


def _clipped(image: np.ndarray, rebuilt: np.ndarray) -> np.ndarray:
    """Where a rebuild overshoots a pixel the resizer clipped (at 0 or 255): a censored value, not an error."""
    return ((image <= 0) & (rebuilt < 0)) | ((image >= 255) & (rebuilt > 255))


def _pseudo_inverse(render: np.ndarray) -> np.ndarray:
    """(count, L): the least-squares inverse of a (L, count) resize, lightly regularised (a cell barely in view
    has little say in any pixel)."""
    gram = render.T @ render
    gram += 1e-6 * float(np.mean(np.diag(gram))) * np.eye(len(gram), dtype=gram.dtype)
    return np.linalg.solve(gram, render.T)


def _first_origin(offset: float, cell: float) -> float:
    """The first edge of the first cell at least about half in view (see `_cell_count`), for grid lines at
    offset + k * cell: in [-cell/2 - 1/2, cell/2 - 1/2)."""
    return (offset + cell / 2 + _HALF_PIXEL) % cell - cell / 2 - _HALF_PIXEL


def _cell_count(length: int, cell: float, origin: float) -> int:
    """Cells from `origin` on with at least cell/2 - 1/2 pixels in view: a border cell cut at about half is kept
    (where a grid line falls between two pixels, its exact place within that pixel is unknowable, hence the half
    pixel of slack)."""
    return max(1, math.floor((length - origin - cell / 2 + _HALF_PIXEL) / cell) + 1)


# ---------------------------------------------------------------------------------------------------- the cells


def _read_sprite(rgba: np.ndarray, grid: Grid, config: SnapConfig) -> SpriteSet:
    fit = _evidence(rgba, grid)
    opaque = fit.values[..., 3] >= config.alpha_threshold
    colors = np.clip(fit.values[..., :3] @ np.linalg.inv(_YCC).T, 0, 255)  # (h, w, 3) RGB
    indices = np.zeros(opaque.shape, np.int64)
    cap = _REBUILD_NOISE_MARGIN * fit.cell_noise()
    tight, loose = _colour_noise(colors, opaque, False, cap), _colour_noise(colors, opaque, fit.resize.subsampled, cap)
    clustered = False  # the palette is the image's own clusters: its colours are ours to refit and prune
    if config.palette != "auto":
        palette = _fixed_palette(colors, opaque, config)
    else:
        centres = _auto_colours(colors, opaque, tight, loose)
        if config.max_colors is not None and len(centres) > config.max_colors - 1:
            palette = _kmeans_palette(colors[opaque], config.max_colors, config)
        else:
            clustered = True
            labels = _nearest(colors, centres, loose)
            settled = _settled_cells(_scaled(colors, tight), opaque)
            centres = _settled_medians(colors, labels, settled, opaque, len(centres))
            palette = Palette.from_colors(_as_colors(centres), "snap")
    if opaque.any() and len(palette) < 2:
        raise SpriteforgeError(f"palette {config.palette!r} has no colours, only transparency: give one with colours")
    if opaque.any():  # the nearest entry where the cell values are trusted: in luma and chroma, each by its noise
        indices[opaque] = 1 + _nearest(colors[opaque], palette.colors[1:, :3].astype(np.float64), loose)
    indices = _decode(fit, palette, indices)
    if clustered:  # (auto:K and a named palette keep their entries as they are)
        palette, indices = _refit_colours(fit, palette, indices)
        indices = _decode(fit, palette, indices)
        palette, indices = _prune(fit, palette, indices)
    return SpriteSet(indices[None], palette, report=LoadReport("snap"))


@dataclass(frozen=True)
class _Resize:
    """The resize found, as linear maps from (h,w) cell values to the (H,W) image: luma and alpha through `rows`
    (H,h) and `cols` (W,w); chroma through `chroma_rows` and `chroma_cols`, the same or followed by JPEG's 4:2:0
    halving (`subsampled`); `censored`: a cubic resize, whose overshoot was clipped at 0 and 255."""

    rows: np.ndarray
    cols: np.ndarray
    chroma_rows: np.ndarray
    chroma_cols: np.ndarray
    subsampled: bool
    censored: bool

    def render(self, values: np.ndarray) -> np.ndarray:
        """(h,w,>=3) luma, blue and red chroma of the cells -> (H,W,3) the image's luma and chroma they resize to."""
        luma = _resized(self.rows, values[..., :1], self.cols)
        chroma = _resized(self.chroma_rows, values[..., 1:3], self.chroma_cols)
        return np.concatenate([luma, chroma], axis=-1)


@dataclass(frozen=True)
class _Evidence:
    """What cells are read against: the image's (H,W,3) luma and chroma, the resize, the (h,w,4) least-squares
    luma, chroma and alpha of each cell, and the (3,) noise of the image's luma and chroma."""

    image: np.ndarray
    resize: _Resize
    values: np.ndarray
    noise: np.ndarray

    def cells(self, palette: Palette, indices: np.ndarray) -> np.ndarray:
        """(h,w,4) cell values: opaque cells the luma and chroma of their entry, transparent ones their own."""
        cells = self.values.copy()
        opaque = indices > 0
        cells[opaque, :3] = _entries(palette)[indices[opaque]]
        return cells

    def residual(self, rendered: np.ndarray, window: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """(..., P, Q, 3) what (..., P, Q, 3) rendered luma and chroma leave of the image in `window`, each in
        units of its noise; a clipped overshoot rebuilt beyond the clip is no error (luma of a cubic resize)."""
        target = self.image[window]
        residual = target - rendered
        if self.resize.censored:
            residual[..., 0] = np.where(_clipped(target[..., 0], rendered[..., 0]), 0.0, residual[..., 0])
        return residual / self.noise

    def error(self, palette: Palette, indices: np.ndarray) -> float:
        """The sum of squares of the residual of the cells' rendering, in units of the noise."""
        return float((self.residual(self.resize.render(self.cells(palette, indices))) ** 2).sum())

    def cell_noise(self) -> np.ndarray:
        """(3,) the noise of the cells' least-squares luma and chroma, from the image's: the pixel noise times how
        much the inverse of the resize passes on (the rms gain of its rows, sqrt of the mean diagonal of
        inverse @ inverse.T, per axis: a cell of 8x8 nearest pixels averages 64 of them, 1/8 of the noise)."""

        def gain(matrix: np.ndarray) -> float:
            return math.sqrt(float(np.mean((_pseudo_inverse(matrix) ** 2).sum(1))))

        luma = gain(self.resize.rows) * gain(self.resize.cols)
        chroma = gain(self.resize.chroma_rows) * gain(self.resize.chroma_cols)
        return self.noise * np.array([luma, chroma, chroma])


def _evidence(rgba: np.ndarray, grid: Grid) -> _Evidence:
    """The cells' least-squares values and the resize (`_cell_values`), and the image's noise scale per channel
    (JPEG's chroma is noisier than its luma): the 75th percentile of the rebuild's |residual| over the visible
    pixels, divided by 0.6745. That is about 1.7 sigma for Gaussian noise, a generous scale on purpose: JPEG's
    errors are heavier-tailed. The thresholds in these units (_REBUILD_NOISE_MARGIN, _PRUNE_COST) were set in
    them."""
    values, resize = _cell_values(rgba, grid)
    image = _ycca(rgba)[..., :3]
    visible = rgba[..., 3] >= ALPHA_THRESHOLD  # transparent areas fit exactly and say nothing of the noise
    residual = (image - resize.render(values))[visible]
    noise = np.percentile(np.abs(residual), 75, axis=0) / 0.6745 if len(residual) else np.zeros(3)
    return _Evidence(image, resize, values, np.maximum(noise, _MIN_NOISE))


def _entries(palette: Palette) -> np.ndarray:
    """(K, 3) luma, blue and red chroma of the palette's entries (entry 0, transparent, as black)."""
    return palette.colors[:, :3].astype(np.float64) @ _YCC.T


def _cell_values(rgba: np.ndarray, grid: Grid) -> tuple[np.ndarray, _Resize]:
    """(h,w,4) float luma, blue chroma, red chroma and alpha of each cell: the least-squares inverse of the resize
    found (see the module docstring, step 3); and that resize.

    Luma and alpha are inverted through the resize alone. Chroma is inverted through the resize, or through the
    resize followed by JPEG's 4:2:0 chroma subsampling (`_chroma_halving`), whichever explains the image better:
    a JPEG keeps colour at half resolution, so a one-cell feature at 3x loses much of its hue, and only a model of
    that blur gets it back."""
    height, width = rgba.shape[:2]
    (cell_x, cell_y), (offset_x, offset_y) = grid.cell, grid.offset
    rows = resampling_matrix(height, grid.shape[0], cell_y, _first_origin(offset_y, cell_y), grid.resample[1])
    cols = resampling_matrix(width, grid.shape[1], cell_x, _first_origin(offset_x, cell_x), grid.resample[0])
    image = _ycca(rgba)
    censored = "bicubic" in grid.resample
    luma_alpha, _ = _invert(image[..., [0, 3]], rows, cols, censored)  # (h, w, 2)
    plain, plain_residual = _invert(image[..., 1:3], rows, cols)
    halving_rows, halving_cols = _chroma_halving(height) @ rows, _chroma_halving(width) @ cols
    halved, halved_residual = _invert(image[..., 1:3], halving_rows, halving_cols)
    subsampled = bool(halved_residual.sum() < plain_residual.sum())
    chroma = halved if subsampled else plain
    values = np.stack([luma_alpha[..., 0], chroma[..., 0], chroma[..., 1], np.clip(luma_alpha[..., 1], 0, 255)], -1)
    chroma_rows, chroma_cols = (halving_rows, halving_cols) if subsampled else (rows, cols)
    return values, _Resize(rows, cols, chroma_rows, chroma_cols, subsampled, censored)


def _ycca(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) RGBA -> (..., 4) float luma, blue chroma, red chroma, alpha."""
    image = rgba.astype(np.float64)
    return np.concatenate([image[..., :3] @ _YCC.T, image[..., 3:]], axis=-1)


def _decode(fit: _Evidence, palette: Palette, indices: np.ndarray, todo: np.ndarray | None = None) -> np.ndarray:
    """(h,w) palette indices that explain the image best, starting from `indices` (each opaque cell's nearest
    entry; which cells are opaque stays as the alpha threshold decided).

    The nearest entry to a cell's least-squares value is a guess made one cell at a time, but the inverse of a
    smooth resize spreads each pixel's noise over neighbouring cells, and under JPEG 4:2:0 a thin line's hue is
    shared with its neighbours: a cell next to a strong edge can be nearer a wrong colour. Here each opaque cell
    takes the entry whose rendering through the resize, with its neighbours' current entries, leaves the least
    residual in the image's luma and chroma, each in units of its noise; the cells around a change are revisited,
    for at most _DECODE_SWEEPS passes (iterated conditional modes: the residual only falls), starting from `todo`
    ((h,w) bool; default: the cells on a border between two entries). Transparent cells keep their least-squares
    colour: hidden, but a resizer that does not premultiply blends it into the edge."""
    indices = indices.copy()
    entries = _entries(palette)  # entry 0 (transparent) is never a candidate
    opaque = indices > 0
    current = fit.cells(palette, indices)
    rendered = fit.resize.render(current)
    resize = fit.resize
    row_spans = [_span(resize.rows[:, y], resize.chroma_rows[:, y]) for y in range(indices.shape[0])]
    col_spans = [_span(resize.cols[:, x], resize.chroma_cols[:, x]) for x in range(indices.shape[1])]
    todo = (_boundary(indices) if todo is None else todo) & opaque & (len(palette) > 1)
    for _ in range(_DECODE_SWEEPS):
        changed = np.zeros_like(todo)
        for y, x in zip(*np.nonzero(todo)):
            if row_spans[y] is None or col_spans[x] is None:
                continue  # no pixel says anything of this cell: its nearest entry stays
            window = (slice(*row_spans[y]), slice(*col_spans[x]))
            basis = _cell_basis(resize, y, x, window)  # (P, Q, 3): how the image moves with this cell
            patch = rendered[window][None] + (entries[1:] - current[y, x, :3])[:, None, None] * basis[None]
            best = 1 + int(np.argmin((fit.residual(patch, window) ** 2).sum((1, 2, 3))))  # patch: (K-1, P, Q, 3)
            if best != indices[y, x]:
                indices[y, x], current[y, x, :3] = best, entries[best]
                rendered[window] = patch[best - 1]
                changed[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = True
        todo = changed & opaque
        if not todo.any():
            break
    return indices


def _refit_colours(fit: _Evidence, palette: Palette, indices: np.ndarray) -> tuple[Palette, np.ndarray]:
    """The palette's colours re-estimated from the image, and the indices renumbered to it: each colour's luma and
    chroma are the least-squares fit of the image rendered through the resize, with every cell that took the
    colour tied to it (transparent cells keep their least-squares colour). A colour's median over its cells
    carries each cell's error, worst under JPEG 4:2:0 where a colour lives only in thin lines (10-15 levels off);
    the fit pools every pixel those cells reach. A luma clipped at 0 or 255 by a cubic resize's overshoot is
    refitted as censored, as in `_invert` (white and black cells sit inside such clipped regions)."""
    used = np.unique(indices[indices > 0])
    if not len(used):
        return palette, indices
    fitted = _entries(palette)
    hidden = fit.values.copy()
    hidden[indices > 0] = 0.0
    base = fit.resize.render(hidden)  # (H, W, 3): what the transparent cells contribute
    masks = (indices[..., None] == used).astype(np.float64)  # (h, w, U)
    resize = fit.resize
    for channel in range(3):
        rows, cols = (resize.rows, resize.cols) if channel == 0 else (resize.chroma_rows, resize.chroma_cols)
        design = _resized(rows, masks, cols)  # (H, W, U): the image of each colour at value 1
        image = fit.image[..., channel]
        target = image - base[..., channel]
        for _ in range(1 + (_CENSORED_ROUNDS if channel == 0 and resize.censored else 0)):
            solution = np.linalg.lstsq(design.reshape(-1, len(used)), target.ravel(), rcond=None)[0]
            rebuilt = design @ solution + base[..., channel]
            censored = np.where(_clipped(image, rebuilt), rebuilt, image)  # a clipped overshoot as censored
            target = censored - base[..., channel]
        fitted[used, channel] = solution
    rgb = _as_colors(fitted[1:] @ np.linalg.inv(_YCC).T)
    refitted = Palette.from_colors(rgb, palette.name)  # colours that became equal are one entry
    renumber = np.concatenate([[0], refitted.index(rgb)])
    return refitted, renumber[indices]


def _prune(fit: _Evidence, palette: Palette, indices: np.ndarray) -> tuple[Palette, np.ndarray]:
    """The palette without the colours the image does not need, and the indices renumbered: unused entries, then,
    one at a time, of the colours of few cells (at most _PRUNE_CELLS, or _PRUNE_SHARE of the opaque ones), the one
    whose removal raises the error least (its cells re-decoded among the other colours), while that rise is under
    _PRUNE_COST times the error the free least-squares cells leave on the pixels those cells reach (the local
    noise floor: JPEG's errors are largest along edges, where stray colours sit). A colour made of a few edge cells
    whose least-squares values strayed is explained about as well by their true colour, and so is a
    near-duplicate; a real colour costs more, though the two overlap (docs/experiments/snap.md: stray colours
    measured 0.2-2.3 times the floor, real ones 1.7 and up)."""
    palette, indices = _used_only(palette, indices)
    error = fit.error(palette, indices)
    # (H, W) what the least-squares cells, free of any palette, leave of each pixel, in noise units squared
    floor = (fit.residual(fit.resize.render(fit.values)) ** 2).sum(-1)
    while len(palette) > 2:
        trials = []
        counts = np.bincount(indices.ravel(), minlength=len(palette))
        few = max(_PRUNE_CELLS, _PRUNE_SHARE * counts[1:].sum())  # larger colours are not stray cells
        for entry in [k for k in range(1, len(palette)) if counts[k] <= few]:
            smaller, reassigned = _without(fit, palette, indices, entry)
            covered = (
                _resized(fit.resize.rows, (indices == entry)[..., None].astype(float), fit.resize.cols)[..., 0] > 0
            )
            cost = (fit.error(smaller, reassigned) - error) / max(float(floor[covered].sum()), 1e-9)
            trials.append((cost, smaller, reassigned))
        cost, smaller, reassigned = min(trials, key=lambda trial: trial[0], default=(np.inf, palette, indices))
        if cost >= _PRUNE_COST:
            break
        palette, indices = smaller, reassigned
        error = fit.error(palette, indices)
    return palette, indices


def _without(fit: _Evidence, palette: Palette, indices: np.ndarray, entry: int) -> tuple[Palette, np.ndarray]:
    """The palette without `entry`, and the indices decoded again: its cells start at the nearest other colour."""
    entries = _entries(palette)
    others = [k for k in range(1, len(palette)) if k != entry]
    nearest = others[int(np.argmin((((entries[others] - entries[entry]) / fit.noise) ** 2).sum(1)))]
    renumber = np.zeros(len(palette), np.int64)
    renumber[others] = np.arange(1, len(others) + 1)
    renumber[entry] = renumber[nearest]
    smaller = Palette(palette.colors[[0, *others]], palette.name)
    moved = indices == entry
    around = np.pad(moved, 1)
    near = np.any([np.roll(around, shift, axis)[1:-1, 1:-1] for shift in (-1, 0, 1) for axis in (0, 1)], axis=0)
    return smaller, _decode(fit, smaller, renumber[indices], near)


def _span(*columns: np.ndarray) -> tuple[int, int] | None:
    """The image pixels [first, last + 1) that a cell reaches through any of the given resize columns; None for a
    cell no pixel reaches (a border cell of a grid the user gave, e.g. cell 1)."""
    reached = np.flatnonzero(np.any([column != 0 for column in columns], axis=0))
    return (int(reached[0]), int(reached[-1]) + 1) if len(reached) else None


def _cell_basis(resize: _Resize, y: int, x: int, window: tuple[slice, slice]) -> np.ndarray:
    """(P, Q, 3): the luma and chroma of the image `window` rendered from one cell (y, x) of value 1 in each."""
    rows, cols = window
    luma = np.outer(resize.rows[rows, y], resize.cols[cols, x])
    chroma = np.outer(resize.chroma_rows[rows, y], resize.chroma_cols[cols, x])
    return np.stack([luma, chroma, chroma], axis=-1)


def _boundary(indices: np.ndarray) -> np.ndarray:
    """(h,w) bool: cells with a 4-neighbour of another index, the only ones whose reading a neighbour can sway."""
    padded = np.pad(indices, 1, mode="edge")
    height, width = indices.shape
    around = [padded[dy : dy + height, dx : dx + width] for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2))]
    return np.any([side != indices for side in around], axis=0)


def _used_only(palette: Palette, indices: np.ndarray) -> tuple[Palette, np.ndarray]:
    """The palette without the entries no cell took (index 0 always kept), and the indices renumbered."""
    used = np.union1d([0], np.unique(indices))
    if len(used) == len(palette):
        return palette, indices
    renumber = np.zeros(len(palette), np.int64)
    renumber[used] = np.arange(len(used))
    return Palette(palette.colors[used], palette.name), renumber[indices]


def _invert(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray, censored: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(H,W,C) image, (H,h) and (W,w) resizes -> the (h,w,C) least-squares cell values, and the (H,W,C) squared
    residual of their rebuild; `censored`: pixels at 0 or 255 whose rebuild overshoots them were clipped by the
    resizer, and are refitted as in `_clipped_fit`."""
    row_inverse, col_inverse = _pseudo_inverse(rows), _pseudo_inverse(cols)
    target = image
    for _ in range(1 + (_CENSORED_ROUNDS if censored else 0)):
        values = _resized(row_inverse, target, col_inverse)
        rebuilt = _resized(rows, values, cols)
        target = np.where(_clipped(image, rebuilt), rebuilt, image)
    return values, ((np.clip(rebuilt, 0, 255) if censored else rebuilt) - image) ** 2


def _chroma_halving(length: int) -> np.ndarray:
    """(L, L): what JPEG's 4:2:0 chroma subsampling does along an axis of L pixels: each pair of pixels (from the
    first) averaged, then upsampled by libjpeg's "fancy" triangle filter (3/4 of the nearer half-resolution sample,
    1/4 of the next, clamped at the ends)."""
    half = (length + 1) // 2
    pixel = np.arange(length)
    down = np.zeros((half, length))
    down[pixel // 2, pixel] = 1.0
    down /= down.sum(1, keepdims=True)  # an odd last pixel is its own pair
    nearer = pixel // 2
    further = np.clip(nearer + np.where(pixel % 2, 1, -1), 0, half - 1)
    up = np.zeros((length, half))
    np.add.at(up, (pixel, nearer), 0.75)
    np.add.at(up, (pixel, further), 0.25)
    return up @ down


def _fixed_palette(colors: np.ndarray, opaque: np.ndarray, config: SnapConfig) -> Palette:
    """A named palette or file as it is, or k-means to auto:K entries over the opaque cells' colours."""
    resolved = resolve_palette(config.palette)
    if isinstance(resolved, Palette):
        return resolved
    return _kmeans_palette(colors[opaque], resolved, config)


def _auto_colours(colors: np.ndarray, opaque: np.ndarray, tight: np.ndarray, loose: np.ndarray) -> np.ndarray:
    """(k, 3) RGB: the colours of the (h,w,3) cell colours of the `opaque` cells (module docstring, step 4).

    Cells inside a region of their colour (`_settled_cells`) are read well, so their colours are clustered first,
    with the tight noise (two large regions of close colours stay two colours); the other cells (edges, thin
    lines, which under JPEG 4:2:0 lose some of their hue) join the nearest of those colours within the loose noise
    in chroma, and only those beyond it are clustered into colours of their own."""
    settled = _settled_cells(_scaled(colors, tight), opaque)
    centres = _unscaled(_merge_within_spread(_scaled(colors[settled], tight)), tight)
    rest = _scaled(colors[opaque & ~settled], loose)
    if len(centres) and len(rest):
        rest = rest[((rest[:, None] - _scaled(centres, loose)[None]) ** 2).sum(-1).min(1) > _NOISE_RADIUS**2]
    extra = _unscaled(_merge_within_spread(rest), loose)
    return np.concatenate([centres.reshape(-1, 3), extra.reshape(-1, 3)])


def _merge_within_spread(scaled: np.ndarray) -> np.ndarray:
    """(k, 3) leader clusters of (n, 3) scaled colours, then any two merged whose medians are closer than
    _SPREAD_RADIUS times the spread of their own cells (1.4826 MAD per channel, pooled): the noise of a colour
    depends on the colour (a saturated red moves more under JPEG than a grey), and a leader pass with one radius
    cuts a wide cluster into parts nearer each other than their own spread."""
    centres = _leader_clusters(scaled, _NOISE_RADIUS)
    while len(centres) > 1:
        labels = np.argmin(((scaled[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        groups = [scaled[labels == k] for k in range(len(centres)) if (labels == k).any()]
        medians = np.array([np.median(group, axis=0) for group in groups])
        spreads = np.array(
            [1.4826 * np.median(np.abs(group - median), axis=0) for group, median in zip(groups, medians)]
        )
        pooled = np.sqrt((spreads[:, None] ** 2 + spreads[None] ** 2) / 2).max(-1)  # (k, k), the wider channel
        ratio = np.sqrt(((medians[:, None] - medians[None]) ** 2).sum(-1)) / np.maximum(pooled, 1.0)
        np.fill_diagonal(ratio, np.inf)
        first, second = np.unravel_index(np.argmin(ratio), ratio.shape)
        if ratio[first, second] >= _SPREAD_RADIUS:
            return medians
        kept = [median for k, median in enumerate(medians) if k not in (first, second)]
        centres = np.array([*kept, np.median(np.concatenate([groups[first], groups[second]]), axis=0)])
    return centres


def _settled_cells(scaled: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    """(h,w) bool: opaque cells whose four neighbours are opaque and of the same colour (within _NOISE_RADIUS of
    noise): the cells whose value no neighbour's colour has leaked into."""
    padded, seen = np.pad(scaled, ((1, 1), (1, 1), (0, 0))), np.pad(opaque, 1)
    settled = opaque.copy()
    height, width = opaque.shape
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        around = padded[dy : dy + height, dx : dx + width]
        settled &= seen[dy : dy + height, dx : dx + width] & (((scaled - around) ** 2).sum(-1) <= _NOISE_RADIUS**2)
    return settled


def _settled_medians(
    colors: np.ndarray, labels: np.ndarray, settled: np.ndarray, opaque: np.ndarray, count: int
) -> np.ndarray:
    """(k, 3): each colour again, as the median of the settled cells that took it where there are enough of them
    to outvote one cell's noise (_MIN_INTERIOR), else of all the cells that took it; colours no cell took are
    dropped."""
    medians = []
    for k in range(count):
        members = opaque & (labels == k)
        inside = members & settled
        if members.any():
            medians.append(np.median(colors[inside if inside.sum() >= _MIN_INTERIOR else members], axis=0))
    return np.array(medians).reshape(-1, 3)


def _nearest(colors: np.ndarray, centres: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(...) index of the nearest of (k, 3) RGB centres to each (..., 3) RGB colour, in luma and chroma each
    measured in units of its noise."""
    if not len(centres):
        return np.zeros(colors.shape[:-1], np.int64)
    difference = _scaled(colors, scale)[..., None, :] - _scaled(centres, scale)
    return np.argmin((difference**2).sum(-1), axis=-1)


def _scaled(colors: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> luma, blue and red chroma, each in units of its noise (`_colour_noise`)."""
    return colors @ _YCC.T / scale


def _unscaled(scaled: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The inverse of `_scaled`."""
    return (scaled * scale) @ np.linalg.inv(_YCC).T


def _colour_noise(colors: np.ndarray, opaque: np.ndarray, subsampled: bool, cap: np.ndarray) -> np.ndarray:
    """(3,) how far the recovered luma, blue and red chroma of a cell typically are from their truth, estimated
    robustly from the image: most cells have a neighbour of the same true colour, so a percentile
    (_NOISE_PERCENTILE) over the opaque cells of the difference to their closest opaque neighbour is noise, per
    channel. Chroma is noisier than luma
    under JPEG (kept at half resolution, quantised more coarsely, and its inversion amplifies noise), so a
    distance in these units trusts each by what it is worth. At least _MIN_NOISE levels (a clean image), and in
    chroma at least _SUBSAMPLED_CHROMA_NOISE where the chroma was subsampled: the hue that 4:2:0 took from a
    one-cell feature is lost, not noise to average away (up to ~15 levels off at 3x to 4x), and such cells are
    few, so the percentile does not see them. At most `cap` (from `_Evidence.cell_noise`): in a sprite of thin lines or
    dithering, a cell's closest neighbour is mostly another colour, and the percentile measures the palette's
    steps instead of the noise (two shades 30 levels apart became one colour)."""
    ycc = colors @ _YCC.T  # (h, w, 3)
    padded = np.pad(ycc, ((1, 1), (1, 1), (0, 0)))
    seen = np.pad(opaque, 1)
    height, width = opaque.shape
    neighbours = [(slice(dy, dy + height), slice(dx, dx + width)) for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2))]
    gaps = np.stack([np.abs(ycc - padded[where]) for where in neighbours])  # (4, h, w, 3)
    distance = np.where(np.stack([seen[where] for where in neighbours]), (gaps**2).sum(-1), np.inf)  # (4, h, w)
    closest = np.argmin(distance, axis=0)
    usable = opaque & np.isfinite(distance.min(0))
    floor = np.array([_MIN_NOISE, *[_SUBSAMPLED_CHROMA_NOISE if subsampled else _MIN_NOISE] * 2])
    if not usable.any():
        return floor
    nearest_gap = np.take_along_axis(gaps, closest[None, ..., None], axis=0)[0]  # (h, w, 3)
    return np.maximum(np.minimum(np.percentile(nearest_gap[usable], _NOISE_PERCENTILE, axis=0), cap), floor)


def _kmeans_palette(colors: np.ndarray, entries: int, config: SnapConfig) -> Palette:
    rgba = np.concatenate([_as_colors(colors)[:, :3], np.full((len(colors), 1), 255, np.uint8)], axis=1)
    palette, _ = Palette.extract(rgba, entries, config.alpha_threshold)
    return Palette(palette.colors, f"auto:{entries}")


def _leader_clusters(colors: np.ndarray, radius: float) -> np.ndarray:
    """(k, 3) colours: a greedy leader clustering of (n, 3) colours, densest first, each cluster then the median of
    its members (two rounds, so that members settle on their nearest leader). Density is counted in cubes of
    radius/2, so that it takes linear time on the many distinct colours of a JPEG."""
    if not len(colors):
        return np.zeros((0, 3))
    cubes, inverse, counts = np.unique(np.floor(colors / (radius / 2)), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    means = np.zeros((len(cubes), 3))
    np.add.at(means, inverse, colors)
    means /= counts[:, None]
    leaders: list[np.ndarray] = []
    for cube in np.argsort(-counts, kind="stable"):
        if not leaders or np.min(np.linalg.norm(np.array(leaders) - means[cube], axis=1)) > radius:
            leaders.append(means[cube])
    centres = np.array(leaders)
    for _ in range(2):
        nearest = np.argmin(((colors[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.array(
            [np.median(colors[nearest == k], axis=0) for k in range(len(centres)) if (nearest == k).any()]
        )
    return centres


def _as_colors(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) float RGB -> (n, 4) uint8 opaque RGBA."""
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(-1, 3)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
