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
true grid leaves only noise, a wrong one misses edges. It is a stricter test than edge periodicity alone, which
is phase-blind (edges sit on cell borders after a nearest or bicubic resize, but a bilinear ramp has a flat first
difference whose spectrum vanishes exactly at the grid's harmonics) and is fooled by JPEG's 8-pixel blocks.

1. Candidates, from periodicity. Along an axis, the summed |first difference| of all rows peaks where cells meet
   (nearest, bicubic) and the summed |second difference| at the kinks of a bilinear ramp. A grid of period c puts
   spectral peaks at every harmonic m/c; a candidate c scores the sum over its harmonics of how far the spectrum
   stands out of its local background, less a cost per harmonic (so 2c, whose extra harmonics fall between the
   peaks, loses). The best peaks of each spectrum, their halves, thirds and doubles, and the common cells 2, 3, 4
   are the candidates, each refined on the spectrum to sub-pixel precision.
2. Choice and fit. Each candidate's origin is searched (a sweep of phases, then a compass search over cell and
   origin, whose steps halve each round: the error is sharp at the truth and flat-bottomed for a nearest resize).
   Every divisor of the true cell rebuilds the image as well as it does, and a finer grid fits JPEG ringing a
   little better, so the grid is the largest candidate that rebuilds the image about as well as the best one (in
   rms error, and in the share of pixels missed by far); near-equal sizes are settled by error, then by
   simplicity (a whole or half size). Confidence is how much better the found origin rebuilds the image than the
   average origin: near 0 for an image with no grid (every phase is as good), near 1 for a clean grid.
3. Cells, by deconvolution. The least-squares fit of step 2 in 2-D, with the kernel that fitted best: the values
   whose resize best explains the image. Bilinear and bicubic resizes have no flat cell centre to read (the
   true colour exists only at the centre point), and a centre median is pulled towards the neighbours; inverting
   the resize gives the exact colours back, and averages JPEG noise over the whole cell. Colour and alpha are
   fitted as they are (not premultiplied), as resizers blend them, so a sprite's edge blended with transparent
   black comes back as its own colour, not as a dark ring.
4. Palette. Opaque cell colours are clustered by a greedy leader pass, densest first, with a radius set from the
   rms residual of the fit (so the count is chosen automatically), each colour the median of its cells; or
   k-means to K colours (auto:K, max_colors), or a named palette or palette file. Every opaque cell takes its
   nearest palette colour; cells whose alpha is below the threshold are index 0.
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
_CANDIDATE_SIGNALS = 96  # signals and search rounds used to compare candidate cells (the winner gets the full fit)
_CANDIDATE_ROUNDS = 4
_CANDIDATE_PHASES = 12
_FINAL_ROUNDS = 7
_CELL_STEP = 0.008  # the compass search's first step in cell size (relative; then halved each round)
_MOVES_PER_ROUND = 6
_FINAL_CELL_STEP = 0.002  # the winner's fit starts from where its candidate fit ended, with smaller steps
_SIMPLE_CELL = 0.06  # a whole or half cell size this close (relative) is tried instead of the fitted one
_REBUILD_TOLERANCE = 4.0  # a cell "rebuilds about as well" as the best one within this factor...
_REBUILD_SLACK = 0.5  # ...plus this rms error (0..255 levels), room for rounding where the best is exact
_HALF_PIXEL = 0.5
_COMMON_CELLS = (2.0, 3.0, 4.0)  # always candidates: the common scales, and 2's harmonic sits on the Nyquist limit
_MISS = 16.0  # levels (0..255): a rebuilt pixel this far off is a miss, or _MISS_NOISE times the least rms error...
_MISS_NOISE = 5.0
_MISS_TOLERANCE = 1.5  # ...and a cell rebuilds "about as well" only with at most this many times the fewest misses
_MISS_SLACK = 0.01  # ...plus this share of the pixels
_NEAR_CELL = 0.1  # candidates within this (relative) of the largest good one compete on error and simplicity
_SAME_CELL = 0.015  # candidate cells closer than this (relative) are one candidate
_LEADER_RADIUS = 8.0  # auto palette: colours closer than this (RGB distance) are one colour, at least...
_NOISE_RADIUS = 4.0  # ...or this many times the rms residual of the fit (the image's noise), when larger


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
    axes = []
    for axis in (1, 0):  # x, then y
        # (signals, length): each row (for x) or column (for y) of each channel is one 1-D signal along the axis
        signals = np.moveaxis(features, axis, -1).reshape(-1, features.shape[axis])
        given_cell = None if cell is None else float(cell[1 - axis])
        given_offset = None if offset is None else float(offset[1 - axis])
        axes.append(_axis_grid(signals, given_cell, given_offset))
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
    """(H,W,4) float32 RGBA as it is. Not premultiplied: resizers interpolate colour and alpha each linearly, and
    their product would not be (the rebuild of step 2 would fail on it); the colour of transparent pixels, even
    garbage, lies on the grid like any other."""
    return rgba.astype(np.float32)


def _axis_grid(signals: np.ndarray, cell: float | None, offset: float | None) -> tuple[float, float, float, str]:
    """(cell, origin, confidence, kernel) along one axis of (N, L) signals; origin: the first cell's first edge,
    as `_first_origin` places it; kernel: the resize that explains the image best.

    A long axis is searched on its central _MAX_LENGTH pixels (the fits solve one least-squares problem per cell
    count, cubic in it), then the cell size alone is refined on the whole length, where a small error adds up."""
    length = signals.shape[1]
    if cell is not None and length < cell:
        raise SpriteforgeError(f"cell {cell:g} is larger than the image ({length} pixels along that axis)")
    if length <= _MAX_LENGTH:
        return _window_grid(signals, cell, offset)
    start = (length - _MAX_LENGTH) // 2
    shifted = None if offset is None else offset - start
    found, origin, confidence, kernel = _window_grid(signals[:, start : start + _MAX_LENGTH], cell, shifted)
    origin += start
    if cell is None:
        few = _busiest(signals, _LONG_SIGNALS)
        found, origin, _ = _refine(few, found, origin, _FINAL_CELL_STEP * found / 4, 0.0, _LONG_ROUNDS)
    return found, _first_origin(origin, found), confidence, kernel


def _window_grid(signals: np.ndarray, cell: float | None, offset: float | None) -> tuple[float, float, float, str]:
    """`_axis_grid` on signals short enough to search in full."""
    length = signals.shape[1]
    if cell is None and length < MIN_CELL * MIN_CELLS:
        return 1.0, 0.0, 0.0, RESAMPLES[0]  # too short to hold a grid: no confidence
    busiest = _busiest(signals, _MAX_SIGNALS)
    if cell is not None and offset is not None:
        origin = _first_origin(offset, cell)
        return cell, origin, 1.0, _best_kernel(busiest, cell, origin)[1]
    if cell is None:
        found, origin = _cell_size(signals)
        found, origin, _ = _refine(busiest, found, origin, _FINAL_CELL_STEP * found, found / _PHASES / 4, _FINAL_ROUNDS)
        found, origin = _simplest(busiest, found, origin)
    else:
        found, origin, _ = _fit(busiest, cell, False, _FINAL_ROUNDS, _PHASES)
    origin = _first_origin(_centre_origin(busiest, found, origin) if offset is None else offset, found)
    return found, origin, _confidence(busiest, found, origin), _best_kernel(busiest, found, origin)[1]


def _cell_size(signals: np.ndarray) -> tuple[float, float]:
    """The period of the grid along the axis (see the module docstring, step 1): the spectrum proposes, the
    rebuild error decides, each candidate first fitted a little (a cell 0.5% off misses by a pixel after a few
    dozen cells, and would lose to its own divisors)."""
    candidates = _cell_candidates(signals)
    busiest = _busiest(signals, _CANDIDATE_SIGNALS)
    fitted = [_fit(busiest, cell, True, _CANDIDATE_ROUNDS, _CANDIDATE_PHASES) for cell in candidates]  # (c, o, e)
    cells = np.array([cell for cell, _, _ in fitted])
    errors = np.array([error for _, _, error in fitted])
    miss = max(_MISS, _MISS_NOISE * float(errors.min()))  # well above the noise the finest grid leaves
    misses = np.array([_best_kernel(busiest, cell, origin, miss)[2] for cell, origin, _ in fitted])
    # Every divisor of the true cell rebuilds the image as well as it does (a finer grid can draw anything a
    # coarser one can): the largest cell that rebuilds the image about as well as the best one is the grid.
    # "About as well": a finer grid also fits some of the JPEG ringing and noise (a third of the cell fits it up to
    # ~4x better on bicubic JPEG q85), while a coarser, wrong grid misses whole edges: it has many more pixels
    # missed by far than the best, where the ringing of the true grid adds hardly any.
    good = np.flatnonzero(
        (errors <= _REBUILD_TOLERANCE * errors.min() + _REBUILD_SLACK)
        & (misses <= _MISS_TOLERANCE * misses.min() + _MISS_SLACK)
    )
    largest = cells[good].max()
    # Where a sprite has empty margins, a range of sizes around the true one rebuilds it equally well: of those
    # near the largest, the best, then the one nearest a whole or half size.
    near = good[cells[good] >= largest / (1 + _NEAR_CELL)]
    simple = np.abs(cells[near] * 2 - np.rint(cells[near] * 2)) / cells[near]
    chosen = near[np.lexsort((simple, np.round(errors[near], 2)))[0]]
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
    related = np.concatenate([related, _COMMON_CELLS])
    related = related[(related >= MIN_CELL) & (related <= top)]
    refined = np.sort([_refine_cell(spectra, cell) for cell in np.unique(np.round(related, 2))])
    distinct = [cell for i, cell in enumerate(refined) if i == 0 or cell > refined[i - 1] * (1 + _SAME_CELL)]
    return np.array(distinct)


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
        render = resampling_matrix(length, count, cell, origin, resample).astype(np.float32)  # (L, count)
        residual = signals.T - render @ (_pseudo_inverse(render) @ signals.T)  # (L, N)
        error = float((residual**2).sum())
        if error < best:
            best, kernel, misses = error, resample, float((np.abs(residual) > miss).mean())
    return math.sqrt(best / (signals.shape[0] * max(length - count, 1))), kernel, misses


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
    values, noise = _cell_values(rgba, grid)
    opaque = values[..., 3] >= config.alpha_threshold
    colors = values[..., :3]
    palette = _fit_palette(colors, opaque, noise, config)
    indices = np.zeros(opaque.shape, np.int64)
    if opaque.any():
        indices[opaque] = palette.index(_as_colors(colors[opaque]))
    return SpriteSet(indices[None], palette, report=LoadReport("snap"))


def _cell_values(rgba: np.ndarray, grid: Grid) -> tuple[np.ndarray, float]:
    """(h,w,4) float RGBA of each cell: the least-squares inverse of the resize found (see the module docstring,
    step 3), and the rms residual of that fit (the noise the palette clustering must tolerate)."""
    height, width = rgba.shape[:2]
    (cell_x, cell_y), (offset_x, offset_y) = grid.cell, grid.offset
    rows = resampling_matrix(height, grid.shape[0], cell_y, _first_origin(offset_y, cell_y), grid.resample[1])
    cols = resampling_matrix(width, grid.shape[1], cell_x, _first_origin(offset_x, cell_x), grid.resample[0])
    image = rgba.astype(np.float64)
    values = np.einsum("yY,YXc,xX->yxc", _pseudo_inverse(rows), image, _pseudo_inverse(cols))  # (h, w, 4)
    rebuilt = np.einsum("Yy,yxc,Xx->YXc", rows, values, cols)
    noise = float(np.sqrt(((rebuilt - image)[..., :3] ** 2).mean()))
    return np.clip(values, 0, 255), noise


def _fit_palette(colors: np.ndarray, opaque: np.ndarray, noise: float, config: SnapConfig) -> Palette:
    """The palette for the (h,w,3) float colours of the `opaque` cells (see the module docstring, step 4)."""
    if config.palette != "auto":
        resolved = resolve_palette(config.palette)
        if isinstance(resolved, Palette):
            return resolved
        return _kmeans_palette(colors[opaque], resolved, config)
    centres = _leader_clusters(colors[opaque], max(_LEADER_RADIUS, _NOISE_RADIUS * noise))
    if config.max_colors is not None and len(centres) > config.max_colors - 1:
        return _kmeans_palette(colors[opaque], config.max_colors, config)
    return Palette.from_colors(_as_colors(_interior_medians(colors, opaque, centres)), "snap")


def _interior_medians(colors: np.ndarray, opaque: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each cluster's colour, from its interior cells (all four neighbours in the same cluster) where it has any.

    JPEG subsamples colour at half resolution, so cells on a region's edge carry some of their neighbours' colour;
    the middle of a region is where the true colour survives."""
    if not len(centres):
        return centres
    labels = np.full(opaque.shape, -1)
    labels[opaque] = np.argmin(((colors[opaque][:, None] - centres[None]) ** 2).sum(-1), axis=1)
    around = np.pad(labels, 1, constant_values=-1)
    interior = opaque.copy()
    for neighbour in (around[:-2, 1:-1], around[2:, 1:-1], around[1:-1, :-2], around[1:-1, 2:]):
        interior &= neighbour == labels
    medians = []
    for k in range(len(centres)):
        members = colors[interior & (labels == k)]
        members = members if len(members) else colors[labels == k]
        if len(members):
            medians.append(np.median(members, axis=0))
    return np.array(medians)


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
