"""`spriteforge snap`: fake pixel art made from real Kenney sprites, recovered by the API, the CLI and the HTTP API."""

from __future__ import annotations

import io as bytes_io
import sys
from pathlib import Path

import numpy as np
import pytest
import spriteforge as sf
from fastapi.testclient import TestClient
from PIL import Image
from spriteforge import cli, io
from spriteforge.convert.degrade import Degradation, degrade
from spriteforge.convert.snap import SnapConfig, grid_overlay, parse_cell, parse_offset, snap, snap_folder
from spriteforge.errors import SpriteforgeError
from spriteforge.serve.app import create_app
from typer.testing import CliRunner

CHARACTER = "roguelike_characters/roguelike_characters_r06c49.png"  # 16x16, 4 colours, transparent background
DUNGEON = "tiny_dungeon/tiny_dungeon_r07c00.png"  # 16x16, 9 colours, transparent background


@pytest.fixture(scope="module")
def tiles(test_data: Path) -> Path:
    folder = test_data / "kenney" / "tiles"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def sprite(tiles: Path, name: str) -> np.ndarray:
    return io.read_rgba(tiles / name)


def assert_recovered(out: np.ndarray, truth: np.ndarray, tolerance: int = 0) -> None:
    """Same size and transparency; opaque colours within `tolerance` levels per channel."""
    assert out.shape == truth.shape
    opaque = truth[..., 3] >= 128
    assert np.array_equal(out[..., 3] >= 128, opaque)
    assert np.abs(out[opaque, :3].astype(int) - truth[opaque, :3]).max() <= tolerance


def noise_image(size: int = 48) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (size, size, 4)).astype(np.uint8)


def test_integer_scale_off_grid_is_recovered_exactly(tiles: Path) -> None:
    truth = sprite(tiles, CHARACTER)
    result = snap(degrade(truth, Degradation(cell=3, shift=1.0, shift_y=0.5)))
    assert result.grid.cell == pytest.approx((3, 3), rel=0.06)
    assert result.grid.shape == (16, 16)
    assert_recovered(result.sprite.to_rgba()[0], truth)
    assert len(result.sprite.palette) - 1 == 4  # the true colours, no more


def test_non_integer_bilinear_scale_is_recovered_exactly_without_a_halo(tiles: Path) -> None:
    """4.5x bilinear, colour blended with the transparent black around the sprite (not premultiplied): the dark
    fringe must not become extra colours, and every pixel comes back."""
    truth = sprite(tiles, DUNGEON)
    fake = degrade(truth, Degradation(cell=4.5, shift=1.7, resample="bilinear", shift_y=0.9))
    fringe = fake[(fake[..., 3] > 0) & (fake[..., 3] < 255)]
    assert len(fringe), "the degradation has a semi-transparent edge to get wrong"
    result = snap(fake)
    assert result.grid.cell == pytest.approx((4.5, 4.5), rel=0.02)
    assert result.grid.resample == ("bilinear", "bilinear")
    out = result.sprite.to_rgba()[0]
    assert_recovered(out, truth)
    true_colours = {tuple(c) for c in truth[truth[..., 3] >= 128].tolist()}
    assert {tuple(c) for c in out[out[..., 3] >= 128].tolist()} == true_colours


def test_non_square_bicubic_jpeg_cells(tiles: Path) -> None:
    truth = sprite(tiles, DUNGEON)
    result = snap(degrade(truth, Degradation(cell=6, shift=2.0, resample="bicubic", cell_y=4.5, shift_y=1.0)))
    assert result.grid.cell == pytest.approx((6, 4.5), rel=0.02)
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)


def test_jpeg_chroma_subsampling_is_undone(tiles: Path) -> None:
    """4x bilinear, JPEG q85 (4:2:0): the grid is found on luma, and the hue JPEG took from thin features comes
    back through the model of its chroma subsampling; the true colours, no more."""
    truth = sprite(tiles, CHARACTER)
    result = snap(degrade(truth, Degradation(cell=4, shift=1.3, resample="bilinear", jpeg=85, shift_y=0.6)))
    assert result.grid.cell == pytest.approx((4, 4), rel=0.02)
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)
    assert len(result.sprite.palette) - 1 == 4


def test_large_smooth_jpeg_cells_are_found(tiles: Path) -> None:
    """7.3x bicubic, JPEG q85: the edge spectrum shows JPEG's 8-pixel blocks more than the grid; the scan of the
    rebuild error finds it, and the clipped overshoot of the cubic kernel is refitted."""
    truth = sprite(tiles, DUNGEON)
    result = snap(degrade(truth, Degradation(cell=7.3, shift=2.9, resample="bicubic", jpeg=85, shift_y=1.1)))
    assert result.grid.cell == pytest.approx((7.3, 7.3), rel=0.02)
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)
    assert len(result.sprite.palette) - 1 == 9


def test_the_axes_agree_where_pixels_are_square(tiles: Path) -> None:
    """5.5x nearest, JPEG q95: on its own, this sprite's x axis rebuilds as well at a cell of 6.54 (fitting JPEG
    noise) as at 5.5; the y axis finds 5.5, and square pixels win where they rebuild the image as well."""
    truth = sprite(tiles, "roguelike_rpg/roguelike_rpg_r29c29.png")
    result = snap(degrade(truth, Degradation(cell=5.5, shift=0.647, jpeg=95, shift_y=2.206, seed=13)))
    assert result.grid.cell == pytest.approx((5.5, 5.5), rel=0.02)
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)


def test_close_shades_of_a_busy_sprite_stay_apart(tiles: Path) -> None:
    """12x bilinear, JPEG q85, two greys 30 levels apart, where every cell's closest neighbour is the other grey:
    the cells' noise is bounded by the rebuild's (under a level), not read off the neighbours (30 levels), so
    the two greys stay two colours."""
    truth = sprite(tiles, "roguelike_characters/roguelike_characters_r09c21.png")
    result = snap(
        degrade(truth, Degradation(cell=12, shift=0.293, resample="bilinear", jpeg=85, shift_y=5.995, seed=4))
    )
    assert len(result.sprite.palette) - 1 == 2
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)


def test_stray_edge_colours_are_dropped(tiles: Path) -> None:
    """4x bilinear, JPEG q85: a few edge cells whose chroma JPEG's 4:2:0 moved 10-20 levels first make colours of
    their own; the image is explained as well by the true colours, so those are dropped, and the colours are
    refitted from every pixel they cover."""
    truth = sprite(tiles, "pixel_platformer_tiles/pixel_platformer_tiles_r03c07.png")
    result = snap(degrade(truth, Degradation(cell=4, shift=0.376, resample="bilinear", jpeg=85, shift_y=0.11, seed=3)))
    assert len(result.sprite.palette) - 1 == 3
    assert_recovered(result.sprite.to_rgba()[0], truth, tolerance=8)


def test_chroma_halving_is_what_jpeg_does() -> None:
    """The 4:2:0 model snap inverts is the codec's: PIL's JPEG at quality 100 moves chroma by about a level from
    it, and by tens of levels from the image as it was."""
    from spriteforge.convert.snap import _YCC, _chroma_halving

    image = np.random.default_rng(0).integers(0, 256, (30, 31, 3)).astype(np.uint8)
    buffer = bytes_io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=100)
    chroma = (np.asarray(Image.open(buffer).convert("RGB")) @ _YCC.T)[..., 1:]
    rows, cols = _chroma_halving(30), _chroma_halving(31)
    model = np.einsum("Yy,yxc,Xx->YXc", rows, (image @ _YCC.T)[..., 1:], cols)
    assert np.sqrt(((model - chroma) ** 2).mean()) < 1.0
    assert np.sqrt((((image @ _YCC.T)[..., 1:] - chroma) ** 2).mean()) > 20


def test_given_cell_and_offset_are_used_as_given(tiles: Path) -> None:
    truth = sprite(tiles, CHARACTER)
    fake = degrade(truth, Degradation(cell=5, shift=2.0))
    result = snap(fake, SnapConfig(cell=(5.0, 5.0), offset=(3.0, 3.0)))
    assert result.grid.cell == (5.0, 5.0) and result.grid.offset == (3.0, 3.0)
    assert result.grid.confidence == 1.0
    assert_recovered(result.sprite.to_rgba()[0], truth)


def test_palette_choices(tiles: Path) -> None:
    fake = degrade(sprite(tiles, DUNGEON), Degradation(cell=4, shift=1.0))
    assert snap(fake, SnapConfig(palette="pico8")).sprite.palette == sf.Palette.named("pico8")
    assert len(snap(fake, SnapConfig(palette="auto:4")).sprite.palette) == 4
    assert len(snap(fake, SnapConfig(max_colors=5)).sprite.palette) <= 5


def test_a_palette_file_named_auto_is_used_as_it_is(tiles: Path, tmp_path: Path) -> None:
    """Only `auto` and `auto:K` are the image's own colours to refit; a file whose name starts with "auto" is not."""
    pico8 = sf.Palette.named("pico8")
    path = tmp_path / "autumn.hex"
    path.write_text("".join(f"{r:02x}{g:02x}{b:02x}\n" for r, g, b, _ in pico8.colors[1:]))
    fake = degrade(sprite(tiles, DUNGEON), Degradation(cell=4, shift=1.0, resample="bilinear", jpeg=85))
    assert np.array_equal(snap(fake, SnapConfig(palette=str(path))).sprite.palette.colors, pico8.colors)


def test_a_given_one_pixel_cell_reads_the_image_as_it_is(tiles: Path) -> None:
    """--cell 1 (an image that is its own pixel art): border cells no pixel reaches stay transparent, and every
    pixel comes back."""
    truth = sprite(tiles, CHARACTER)
    out = snap(truth, SnapConfig(cell=(1.0, 1.0), offset=(0.0, 0.0))).sprite.to_rgba()[0]
    assert_recovered(visible_box(out), visible_box(truth))


def visible_box(rgba: np.ndarray) -> np.ndarray:
    rows, cols = (np.flatnonzero(rgba[..., 3].any(axis)) for axis in (1, 0))
    return rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def test_alpha_threshold_decides_what_is_transparent(tiles: Path) -> None:
    truth = sprite(tiles, CHARACTER).copy()
    truth[..., 3] = np.where(truth[..., 3] > 0, 100, 0)  # a half-transparent sprite
    fake = degrade(truth, Degradation(cell=3))
    assert not (snap(fake).sprite.indices > 0).any()  # alpha 100 < 128: all transparent
    assert (snap(fake, SnapConfig(alpha_threshold=64)).sprite.indices > 0).any()


def test_an_image_without_a_grid_is_refused_with_the_fix() -> None:
    with pytest.raises(SpriteforgeError, match="no pixel grid found.*--cell"):
        snap(noise_image())


@pytest.mark.parametrize(
    "text, expected",
    [("8", (8.0, 8.0)), ("6x8", (6.0, 8.0)), ("7.3X7.3", (7.3, 7.3)), (None, None)],
)
def test_parse_cell(text: str | None, expected: tuple | None) -> None:
    assert parse_cell(text) == expected


@pytest.mark.parametrize("text", ["8y", "0.5", "nan", "1x2x3"])
def test_parse_cell_refuses_nonsense(text: str) -> None:
    with pytest.raises(SpriteforgeError, match="cell"):
        parse_cell(text)


def test_parse_offset() -> None:
    assert parse_offset("3,2") == (3.0, 2.0) and parse_offset("1.5") == (1.5, 1.5)
    with pytest.raises(SpriteforgeError, match="X,Y"):
        parse_offset("a,b")


def test_files_and_folders(tiles: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    io.write_png(source / "fake.png", degrade(sprite(tiles, CHARACTER), Degradation(cell=4, shift=1.0)))
    io.write_png(source / "noise.png", noise_image())
    written = sf.snap_file(source / "fake.png", tmp_path / "one.png", scale=2)
    assert written.path == tmp_path / "one.png"
    assert io.read_rgba(tmp_path / "one.png").shape == (16, 16, 4)
    assert io.read_rgba(tmp_path / "one_x2.png").shape == (32, 32, 4)
    report = snap_folder(source, tmp_path / "out", progress=False)
    assert report.written == [tmp_path / "out" / "fake.png"]
    assert report.skipped[0][0].name == "noise.png" and "no pixel grid" in report.skipped[0][1]
    assert sf.snap(source / "fake.png").grid.shape == (16, 16)
    fake = io.read_rgba(source / "fake.png")
    overlay = grid_overlay(fake, written.grid, 2)
    assert overlay.shape == (2 * fake.shape[0], 2 * fake.shape[1], 4)
    assert (overlay[..., 0] > overlay[..., 1]).any()  # the magenta lines are drawn


def test_cli_prints_the_grid(tiles: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    io.write_png(fake, degrade(sprite(tiles, CHARACTER), Degradation(cell=4, shift=1.0)))
    result = CliRunner().invoke(cli.app, ["snap", str(fake), "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    printed = result.output
    assert "cell 4.00x4.00" in printed and "16x16 pixels" in printed and "confidence" in printed
    assert io.read_rgba(tmp_path / "s.png").shape == (16, 16, 4)


@pytest.mark.parametrize(
    "args, mentions",
    [
        (("--cell", "8y"), ("cell '8y'", "WxH")),
        ((), ("no pixel grid found", "--cell")),
        (("--palette", "nope"), ("nope",)),
    ],
)
def test_cli_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: tuple, mentions: tuple
) -> None:
    noise = tmp_path / "noise.png"
    io.write_png(noise, noise_image())
    previous = tmp_path / "out.png"
    previous.write_bytes(b"earlier")
    monkeypatch.setattr(sys, "argv", ["spriteforge", "snap", str(noise), "--out", str(previous), *args])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    assert caught.value.code == 2 and "Traceback" not in out + err
    for needle in mentions:
        assert needle in " ".join(err.split()), err
    assert previous.read_bytes() == b"earlier"  # nothing already written is lost


def test_http_endpoint(tiles: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path), base_url="http://localhost")
    buffer = bytes_io.BytesIO()
    Image.fromarray(degrade(sprite(tiles, CHARACTER), Degradation(cell=4, shift=1.0))).save(buffer, "PNG")
    upload = {"file": ("fake.png", buffer.getvalue())}
    response = client.post("/api/v1/snap", files=upload, data={"format": "json", "scale": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"], body["cell"]) == (16, 16, [4.0, 4.0])
    assert len(body["lines_x"]) == 17 and body["confidence"] > 0.5
    picture = client.post("/api/v1/snap", files=upload, data={"cell": "4", "offset": "3,3"})
    assert picture.headers["content-type"] == "image/png"
    assert np.asarray(Image.open(bytes_io.BytesIO(picture.content))).shape[:2] == (16, 16)
    bad = client.post("/api/v1/snap", files=upload, data={"cell": "big"})
    assert bad.status_code == 400 and "cell 'big'" in bad.json()["detail"]
    buffer = bytes_io.BytesIO()
    Image.fromarray(noise_image()).save(buffer, "PNG")
    none = client.post("/api/v1/snap", files={"file": ("noise.png", buffer.getvalue())})
    assert none.status_code == 400 and "--cell" in none.json()["detail"]
    buffer = bytes_io.BytesIO()
    Image.fromarray(np.zeros((400, 20, 4), np.uint8)).save(buffer, "PNG")
    large = client.post("/api/v1/snap", files={"file": ("tall.png", buffer.getvalue())})
    assert large.status_code == 413 and "snap limit of 384" in large.json()["detail"]
    secret = client.post("/api/v1/snap", files=upload, data={"palette": "../x.hex"})
    assert secret.status_code == 400 and "not a named palette" in secret.json()["detail"]


@pytest.mark.parametrize(
    "upload, fields, status",
    [
        (b"not an image", {}, 400),
        (None, {"cell": "inf"}, 400),
        (None, {"cell": "1e9"}, 400),
        (None, {"max_colors": "1"}, 400),
        (None, {"alpha_threshold": "0"}, 422),
        (None, {"palette": "auto:x"}, 400),
    ],
)
def test_http_bad_input_is_4xx_with_a_reason(tmp_path: Path, upload: bytes | None, fields: dict, status: int) -> None:
    client = TestClient(create_app(tmp_path), base_url="http://localhost")
    if upload is None:
        buffer = bytes_io.BytesIO()
        Image.fromarray(np.full((24, 24, 4), 255, np.uint8)).save(buffer, "PNG")
        upload = buffer.getvalue()
    response = client.post("/api/v1/snap", files={"file": ("in.png", upload)}, data=fields)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
