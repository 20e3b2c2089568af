"""The classical pixelizer on real CC0 photos: exact size, exact grid, palette adherence, alpha, outline, folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from spriteforge import io
from spriteforge.convert.pixelize import (
    DITHERS,
    DOWNSCALES,
    PixelizeConfig,
    output_shape,
    pixelize,
    pixelize_file,
    pixelize_folder,
)
from spriteforge.data.palette import Palette
from spriteforge.errors import SpriteforgeError

# chelsea: a landscape cat (300 x 451); astronaut: square (512 x 512); rocket: a landscape JPEG (427 x 640).
PHOTOS = ("chelsea.png", "astronaut.png", "rocket.jpg")
HEX_COLORS = ("1a1c2c", "5d275d", "b13e53", "ef7d57", "ffcd75", "a7f070", "38b764", "257179", "f4f4f4")


@pytest.fixture(scope="module")
def photos(test_data: Path) -> dict[str, np.ndarray]:
    folder = test_data / "photos"
    if not all((folder / name).is_file() for name in PHOTOS):
        pytest.skip(f"CC0 photos {', '.join(PHOTOS)} not found in {folder}")
    return {name: io.read_rgba(folder / name) for name in PHOTOS}


@pytest.fixture(scope="module")
def hex_palette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("palettes") / "sweetie9.hex"
    path.write_text("\n".join(HEX_COLORS) + "\n", encoding="utf-8")
    return path


def _colors_of(sprite_rgba: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(c) for c in sprite_rgba.reshape(-1, 4).tolist()}


# -------------------------------------------------------------------------------------- size, palette, grid


@pytest.mark.parametrize("dither", DITHERS)
@pytest.mark.parametrize("palette", ["auto:8", "pico8", "gameboy", "file"])
def test_exact_size_and_every_pixel_a_palette_colour(
    photos: dict[str, np.ndarray], hex_palette: Path, palette: str, dither: str
) -> None:
    spec = str(hex_palette) if palette == "file" else palette
    config = PixelizeConfig(size=32, palette=spec, dither=dither)
    for name, rgba in photos.items():
        sprite = pixelize(rgba, config)
        assert sprite.indices.shape == (1, *output_shape(*rgba.shape[:2], 32))
        assert max(sprite.size) == 32, name
        assert sprite.size[0] == round(32 * rgba.shape[0] / rgba.shape[1]), "landscape photos keep their aspect"
        # Adherence 1.0: every output pixel is one of the palette's colours, and the palette is the one asked for.
        allowed = _colors_of(sprite.palette.colors)
        assert _colors_of(sprite.to_rgba()) <= allowed
        if palette == "file":
            assert allowed == {(0, 0, 0, 0)} | {(*bytes.fromhex(c), 255) for c in HEX_COLORS}
        elif palette != "auto:8":
            assert sprite.palette == Palette.named(palette)
        else:
            assert len(sprite.palette) <= 8


def test_portrait_keeps_aspect_with_rows_as_the_longer_side(photos: dict[str, np.ndarray]) -> None:
    portrait = np.ascontiguousarray(photos["chelsea.png"].transpose(1, 0, 2))  # 451 x 300
    sprite = pixelize(portrait, PixelizeConfig(size=40, palette="db16"))
    assert sprite.size == (40, 27)  # 40 * 300 / 451 = 26.6


def test_preview_is_an_exact_nearest_neighbour_grid(photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    source = tmp_path / "cat.png"
    io.write_png(source, photos["chelsea.png"])
    out = pixelize_file(source, tmp_path / "out" / "cat.png", PixelizeConfig(size=48, dither="bayer4"), scale=4)
    exact, preview = io.read_rgba(out), io.read_rgba(tmp_path / "out" / "cat_x4.png")
    height, width = exact.shape[:2]
    assert (height, width) == (32, 48)
    assert preview.shape == (4 * height, 4 * width, 4)
    blocks = preview.reshape(height, 4, width, 4, 4)
    assert (blocks == blocks[:, :1, :, :1]).all(), "every 4x4 block of the preview is one colour"
    np.testing.assert_array_equal(preview[::4, ::4], exact)


@pytest.mark.parametrize("downscale", DOWNSCALES)
def test_blocky_image_on_a_non_integer_grid_comes_back_exactly(downscale: str, tmp_path: Path) -> None:
    # A 10x10 sprite drawn at 33x33: source pixel j shows sprite pixel floor((j + 0.5) * 10 / 33), the cell its
    # centre falls in. Cells are 3 or 4 pixels wide, each of one colour: every method must give the sprite back.
    palette = Palette.named("pico8")
    indices = np.random.default_rng(1).integers(1, len(palette), (10, 10))
    cell = ((np.arange(33) + 0.5) * 10 / 33).astype(int)
    rgba = palette.to_rgba(indices[cell][:, cell])
    sprite = pixelize(rgba, PixelizeConfig(size=10, palette="pico8", downscale=downscale))
    np.testing.assert_array_equal(sprite.indices[0], indices)


def test_image_smaller_than_the_grid_is_enlarged_not_refused() -> None:
    rgba = Palette.named("pico8").to_rgba(np.arange(1, 16).reshape(5, 3))
    sprite = pixelize(rgba, PixelizeConfig(size=32, palette="pico8"))
    assert sprite.size == (32, 19)
    assert set(np.unique(sprite.indices)) == set(range(1, 16))


# -------------------------------------------------------------------------------------- alpha, outline, dither


@pytest.mark.parametrize("dither", DITHERS)
def test_transparent_half_stays_transparent(photos: dict[str, np.ndarray], dither: str) -> None:
    rgba = photos["astronaut.png"].copy()  # 512 x 512: at size 32 the cut falls exactly between cells 15 and 16.
    rgba[:, :256, 3] = 0
    rgba[:, :256, :3] = 255  # The colour of invisible pixels must not leak into anything.
    sprite = pixelize(rgba, PixelizeConfig(size=32, palette="db16", dither=dither))
    assert (sprite.indices[0, :, :16] == 0).all()
    assert (sprite.indices[0, :, 16:] > 0).all()


def test_alpha_threshold_decides_which_cells_are_opaque(photos: dict[str, np.ndarray]) -> None:
    rgba = photos["astronaut.png"].copy()
    rgba[..., 3] = 100
    assert (pixelize(rgba, PixelizeConfig(size=16, palette="db16")).indices == 0).all()
    opaque = pixelize(rgba, PixelizeConfig(size=16, palette="db16", alpha_threshold=64))
    assert (opaque.indices > 0).all()
    assert (opaque.to_rgba()[..., 3] == 255).all(), "opaque cells take opaque palette colours"


@pytest.mark.parametrize("palette", ["pico8", "auto:6"])
def test_outline_is_the_darkest_colour_around_the_silhouette(photos: dict[str, np.ndarray], palette: str) -> None:
    rgba = photos["astronaut.png"].copy()
    rows, cols = np.indices(rgba.shape[:2])
    rgba[..., 3] = np.where((rows - 256) ** 2 + (cols - 256) ** 2 < 180**2, 255, 0)  # An opaque disc.
    plain = pixelize(rgba, PixelizeConfig(size=32, palette=palette)).indices[0]
    outlined = pixelize(rgba, PixelizeConfig(size=32, palette=palette, outline=True))
    indices, colors = outlined.indices[0], outlined.palette.colors
    filled = plain > 0
    padded = np.pad(filled, 1)
    ring = ~filled & (padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:])
    darkest = 1 + int(np.argmin(outlined.palette.luminance()[1:]))
    assert ring.sum() > 20
    assert (indices[ring] == darkest).all()
    np.testing.assert_array_equal(indices[~ring], plain[~ring])
    if palette == "pico8":
        assert tuple(colors[darkest]) == (0, 0, 0, 255)


def test_ordered_dither_mixes_two_neighbouring_colours_in_a_flat_area() -> None:
    gameboy = Palette.named("gameboy")
    middle = (gameboy.colors[2].astype(int) + gameboy.colors[3]) // 2
    rgba = np.broadcast_to(middle.astype(np.uint8), (64, 64, 4))
    flat = pixelize(rgba, PixelizeConfig(size=16, palette="gameboy")).indices[0]
    assert len(np.unique(flat)) == 1
    for dither in ("bayer4", "bayer8", "floyd"):
        mixed = pixelize(rgba, PixelizeConfig(size=16, palette="gameboy", dither=dither)).indices[0]
        values, counts = np.unique(mixed, return_counts=True)
        assert set(values) == {2, 3}, dither
        assert abs(counts[0] - counts[1]) <= 0.2 * mixed.size, f"{dither}: about half and half"


def test_edge_downscale_keeps_a_thin_dark_line_that_area_washes_out(tmp_path: Path) -> None:
    palette_file = tmp_path / "bw.hex"
    palette_file.write_text("000000\n808080\nffffff\n", encoding="utf-8")
    rgba = np.full((64, 64, 4), 255, np.uint8)
    rgba[:, 30:32, :3] = 0  # A 2-pixel black line: half of one 4-pixel cell column at size 16.
    area = pixelize(rgba, PixelizeConfig(size=16, palette=str(palette_file))).to_rgba()[0]
    edge = pixelize(rgba, PixelizeConfig(size=16, palette=str(palette_file), downscale="edge")).to_rgba()[0]
    assert (area[:, 7, :3] == 128).all(), "the mean of half black, half white is grey"
    assert (edge[:, 7, :3] == 0).all()
    assert (edge[:, [6, 8], :3] == 255).all()


# -------------------------------------------------------------------------------------- files and folders


def test_folder_in_folder_out_skips_and_counts_unreadable_files(test_data: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    (source / "space").mkdir(parents=True)
    for name, target in [("chelsea.png", "cat.png"), ("rocket.jpg", "space/rocket.jpg")]:
        if not (test_data / "photos" / name).is_file():
            pytest.skip(f"photo {name} not found in {test_data / 'photos'}")
        shutil.copy(test_data / "photos" / name, source / target)
    (source / "broken.png").write_bytes(b"not a png at all")
    (source / "notes.txt").write_text("ignored: not an image", encoding="utf-8")
    out = source / "pixelized"  # Inside the input folder: a second run must not read its own outputs.
    config = PixelizeConfig(size=24, palette="pico8", dither="floyd")
    for _ in range(2):
        report = pixelize_folder(source, out, config, scale=3, progress=False)
        assert report.written == [out / "cat.png", out / "space" / "rocket.png"]
        assert [path.name for path, _ in report.skipped] == ["broken.png"]
        assert "broken.png" in report.skipped[0][1] and "1 skipped" in report.summary()
    assert io.read_rgba(out / "space" / "rocket.png").shape == (16, 24, 4)
    assert io.read_rgba(out / "space" / "rocket_x3.png").shape == (48, 72, 4)
    assert sorted(p.name for p in out.rglob("*.png")) == ["cat.png", "cat_x3.png", "rocket.png", "rocket_x3.png"]


def test_folder_with_a_bad_palette_fails_before_writing(photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    io.write_png(tmp_path / "in" / "a.png", photos["chelsea.png"])
    with pytest.raises(SpriteforgeError, match="pico8"):
        pixelize_folder(tmp_path / "in", tmp_path / "out", PixelizeConfig(palette="pico-8"), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec", ["pico-8", "nosuchfile.hex", "auto", "auto:1", "auto:many"])
def test_bad_palette_spec_names_the_choices(spec: str) -> None:
    image = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(SpriteforgeError) as caught:
        pixelize(image, PixelizeConfig(palette=spec))
    message = str(caught.value)
    assert spec in message and "auto:16" in message
    if not spec.startswith("auto"):
        assert all(name in message for name in ("pico8", "db16", "db32", "gameboy", "nes"))


@pytest.mark.parametrize(
    "field, value", [("size", 0), ("size", -4), ("size", 2.5), ("dither", "ordered"), ("downscale", "nearest")]
)
def test_bad_config_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(SpriteforgeError, match=str(value)):
        PixelizeConfig(**{field: value})


def test_bad_file_arguments_are_refused(photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    source = io.write_png(tmp_path / "cat.png", photos["chelsea.png"])
    with pytest.raises(SpriteforgeError, match="PNG"):
        pixelize_file(source, tmp_path / "cat.jpg", PixelizeConfig())
    with pytest.raises(SpriteforgeError, match="scale"):
        pixelize_file(source, tmp_path / "out.png", PixelizeConfig(), scale=0)
    with pytest.raises(SpriteforgeError, match="missing.png"):
        pixelize_file(tmp_path / "missing.png", tmp_path / "out.png", PixelizeConfig())
    assert pixelize_file(source, tmp_path, PixelizeConfig(size=8)) == tmp_path / "cat.png"  # A folder as output.


@pytest.mark.parametrize("downscale", DOWNSCALES)
def test_deterministic_for_a_seed(photos: dict[str, np.ndarray], downscale: str, tmp_path: Path) -> None:
    config = PixelizeConfig(size=32, palette="auto:12", dither="floyd", downscale=downscale, outline=True)
    first = pixelize(photos["rocket.jpg"], config, seed=3)
    again = pixelize(photos["rocket.jpg"], config, seed=3)
    np.testing.assert_array_equal(first.indices, again.indices)
    assert first.palette == again.palette
    source = io.write_png(tmp_path / "rocket.png", photos["rocket.jpg"])
    written = [pixelize_file(source, tmp_path / f"out{i}.png", config, seed=3).read_bytes() for i in range(2)]
    assert written[0] == written[1]
