"""Tests for spriteforge.data.sheets (slicing sprite sheets) and for loading sheets with load_sprites.

The reference is the shared Kenney data: kenney/tiles/<pack>/ holds each pack's non-empty, per-pack-deduplicated
tiles, cut from kenney/sheets/<pack>.png by someone else, so slicing the sheet must give exactly those tiles.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spriteforge.data import catalog
from spriteforge.data.palette import ALPHA_THRESHOLD
from spriteforge.data.sheets import Tile, clear_transparent, is_uniform, slice_sheet
from spriteforge.data.sprites import load_sprites
from spriteforge.errors import SpriteforgeError

# Parametrising needs the pack list at collection time, before the `test_data` fixture exists: same lookup rule.
_DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def _sources() -> list[dict[str, str]]:
    path = _DATA / "kenney" / "SOURCES.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _pack_ids() -> list:
    return [pytest.param(s, id=s["pack"]) for s in _sources()]


def _rgba(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def _reference(test_data: Path, pack: str) -> dict[tuple[int, int], np.ndarray]:
    """The pack's reference tiles by (row, col) from labels.csv, with invisible pixels cleared."""
    with (test_data / "kenney" / "labels.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["pack"] == pack]
    return {(int(r["row"]), int(r["col"])): clear_transparent(_rgba(test_data / "kenney" / r["file"])) for r in rows}


def _slice(test_data: Path, source: dict[str, str]) -> list[Tile]:
    sheet = _rgba(test_data / "kenney" / "sheets" / f"{source['pack']}.png")
    width, height = (int(v) for v in source["sheet_size"].split("x"))
    assert sheet.shape == (height, width, 4)
    return slice_sheet(sheet, int(source["tile"]), spacing=int(source["spacing"]), margin=0)


@pytest.fixture(scope="module")
def sliced(test_data: Path) -> dict[str, tuple[list[Tile], dict[tuple[int, int], np.ndarray]]]:
    """Every pack, sliced once for the module: {pack: (our tiles, reference tiles)}."""
    return {s["pack"]: (_slice(test_data, s), _reference(test_data, s["pack"])) for s in _sources()}


# ---------------------------------------------------------------------------------------------- real sheets


def test_sources_list_every_tile_folder(test_data: Path) -> None:
    packs = {s["pack"] for s in _sources()}
    assert len(packs) == 8
    assert packs == {p.name for p in (test_data / "kenney" / "tiles").iterdir()}


@pytest.mark.parametrize("source", _pack_ids())
def test_slicing_each_pack_gives_exactly_the_reference_tiles(source: dict[str, str], sliced) -> None:
    ours, reference = sliced[source["pack"]]
    assert len(reference) == len(list((_DATA / "kenney" / "tiles" / source["pack"]).glob("*.png")))
    positions = [(t.row, t.col) for t in ours]
    assert len(positions) == len(reference), f"{len(positions)} tiles sliced, {len(reference)} in the reference"
    assert set(positions) == set(reference)
    for tile in ours:
        np.testing.assert_array_equal(tile.rgba, reference[(tile.row, tile.col)], err_msg=str((tile.row, tile.col)))


@pytest.mark.parametrize("source", _pack_ids())
def test_uniform_tiles_are_dropped_as_empty(source: dict[str, str], sliced) -> None:
    """A tile of one colour (transparent or a solid fill) is empty, as in the reference tiles."""
    ours, reference = sliced[source["pack"]]
    assert not any(is_uniform(t.rgba) for t in ours)
    assert not any(is_uniform(tile) for tile in reference.values())


def test_real_kenney_1bit_sheet_is_the_catalog_one(test_data: Path) -> None:
    sheet = _rgba(test_data / "kenney" / "sheets" / "1bit_pack_colored.png")
    assert catalog.pixels_sha256(sheet) == catalog.DATASETS["kenney-1bit"].pixels_sha256


def test_loading_the_catalog_kenney_sheet_gives_the_catalog_count(test_data: Path) -> None:
    sprites = load_sprites(test_data / "kenney" / "sheets" / "1bit_pack_colored.png", tile=16)
    assert len(sprites) == catalog.DATASETS["kenney-1bit"].count


# ---------------------------------------------------------------------------------------------- load_sprites on sheets


def test_load_sprites_slices_a_sheet(test_data: Path) -> None:
    path = test_data / "kenney" / "sheets" / "tiny_dungeon.png"
    tiles = slice_sheet(_rgba(path), 16)
    sprites = load_sprites(path, tile=16)
    assert len(sprites) == len(tiles) and sprites.size == (16, 16)
    assert sprites.names == [f"r{t.row:02d}c{t.col:02d}" for t in tiles]
    np.testing.assert_array_equal(sprites.to_rgba(), np.stack([t.rgba for t in tiles]))
    assert sprites.report is not None and sprites.report.skipped == [] and str(path) == sprites.report.source


def test_load_sprites_slices_a_sheet_with_spacing(test_data: Path) -> None:
    path = test_data / "kenney" / "sheets" / "roguelike_characters.png"
    sprites = load_sprites(path, tile=16, spacing=1)
    assert len(sprites) == 438
    reference = _reference(test_data, "roguelike_characters")
    for name, rgba in zip(sprites.names[:50], sprites.to_rgba()):
        np.testing.assert_array_equal(rgba, reference[(int(name[1:3]), int(name[4:6]))])


def test_single_image_without_tile_suggests_tile(test_data: Path) -> None:
    path = test_data / "kenney" / "sheets" / "micro_roguelike.png"
    with pytest.raises(SpriteforgeError, match="--tile") as error:
        load_sprites(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(tile=0), "positive"),
        (dict(tile=-8), "positive"),
        (dict(tile=8, tile_height=-1), "positive"),
        (dict(tile=8, spacing=-1), "not negative"),
        (dict(tile=8, margin=-2), "not negative"),
        (dict(tile=200), "holds no 200x200 tile"),
        (dict(tile=8, margin=40), "holds no"),
    ],
)
def test_bad_tile_sizes_are_errors(test_data: Path, options: dict, match: str) -> None:
    path = test_data / "kenney" / "sheets" / "micro_roguelike.png"  # 128x56
    with pytest.raises(SpriteforgeError, match=match) as error:
        load_sprites(path, **options)
    assert str(path) in str(error.value)


def test_sheet_of_only_empty_tiles_is_an_error(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((16, 32, 4), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(SpriteforgeError, match="every tile is empty"):
        load_sprites(tmp_path / "empty.png", tile=8)


# ---------------------------------------------------------------------------------------------- synthetic sheets


def _colour_tile(value: int, h: int = 4, w: int = 4) -> np.ndarray:
    tile = np.zeros((h, w, 4), np.uint8)
    tile[..., 0] = value
    tile[..., 3] = 255
    tile[0, 0] = (255 - value, 1, 2, 255)  # not uniform
    return tile


def test_spacing_margin_and_rectangular_tiles() -> None:
    margin, spacing, h, w = 2, 1, 3, 5
    sheet = np.zeros((2 * margin + 2 * h + spacing, 2 * margin + 3 * w + 2 * spacing, 4), np.uint8)
    sheet[...] = (9, 9, 9, 255)  # the gutters are opaque: any off-by-one shows up in the tiles
    expected = {}
    for row in range(2):
        for col in range(3):
            tile = _colour_tile(10 + 10 * (3 * row + col), h, w)
            top, left = margin + row * (h + spacing), margin + col * (w + spacing)
            sheet[top : top + h, left : left + w] = tile
            expected[(row, col)] = tile
    tiles = slice_sheet(sheet, w, h, spacing=spacing, margin=margin)
    assert [(t.row, t.col) for t in tiles] == sorted(expected)
    for t in tiles:
        np.testing.assert_array_equal(t.rgba, expected[(t.row, t.col)])


def test_empty_tiles_and_duplicates_are_dropped() -> None:
    a, b = _colour_tile(50), _colour_tile(90)
    faint = np.zeros((4, 4, 4), np.uint8)
    faint[..., :3] = 200
    faint[..., 3] = ALPHA_THRESHOLD - 1  # visible to the eye, transparent to the palette: empty
    a_hidden_rgb = a.copy()
    a_hidden_rgb[1, 1] = (0, 0, 0, 0)
    a_variant = a_hidden_rgb.copy()
    a_variant[1, 1] = (77, 66, 55, 3)  # differs from a_hidden_rgb only in an invisible pixel
    sheet = np.concatenate([faint, a, np.zeros_like(a), b, a, a_hidden_rgb, a_variant], axis=1)
    tiles = slice_sheet(sheet, 4)
    assert [t.col for t in tiles] == [1, 3, 5]  # empty, faint and exact duplicates (after clearing) dropped
    assert not tiles[2].rgba[1, 1].any()  # invisible pixels come out cleared


def test_slice_sheet_ignores_a_partial_last_row_and_column() -> None:
    sheet = np.zeros((10, 13, 4), np.uint8)
    sheet[..., 3] = 255
    sheet[..., 0] = np.arange(13)
    tiles = slice_sheet(sheet, 4)
    assert {(t.row, t.col) for t in tiles} <= {(r, c) for r in range(2) for c in range(3)}
    assert all(t.rgba.shape == (4, 4, 4) for t in tiles)


def test_slice_sheet_does_not_modify_the_sheet() -> None:
    sheet = np.zeros((4, 8, 4), np.uint8)
    sheet[..., :3] = 200
    sheet[:, :4, 3] = 255
    sheet[:, 4:, 3] = 10
    before = sheet.copy()
    slice_sheet(sheet, 4)
    np.testing.assert_array_equal(sheet, before)
