"""Sprites in game tools' files: .aseprite documents and sprite sheets with an Aseprite JSON atlas, from the Python
API, the CLI (sample, vary, inpaint) and the HTTP API. Every .aseprite file is read back with an independent parser
(tests/aseprite_reader.py) and compared pixel for pixel and colour for colour; every atlas is cut back into sprites
by its own rectangles."""

from __future__ import annotations

import base64
import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from spriteforge import io
from spriteforge.data.export import FrameTag, format_for, write_sprites
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.errors import SpriteforgeError
from spriteforge.serve.app import create_app
from tests.aseprite_reader import read_aseprite
from tests.test_cli import fails, invoke

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def tiles(test_data: Path) -> SpriteSet:
    """12 Kenney roguelike characters: transparent backgrounds and 19 colours."""
    folder = test_data / "kenney" / "tiles" / "roguelike_characters"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return load_sprites(folder, size=16, count=12)


def cut(sheet: np.ndarray, frame: dict) -> np.ndarray:
    rect = frame["frame"]
    return sheet[rect["y"] : rect["y"] + rect["h"], rect["x"] : rect["x"] + rect["w"]]


def read_png(path: Path | bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(path) if isinstance(path, bytes) else path).convert("RGBA"))


def check_aseprite(document, sprites: SpriteSet) -> None:
    """The document holds exactly these sprites: indexed, their palette (index 0 transparent), a frame each."""
    assert (document.width, document.height) == sprites.size[::-1]
    assert document.color_depth == 8 and document.transparent_index == 0
    assert document.colors == len(sprites.palette)
    np.testing.assert_array_equal(document.palette, sprites.palette.colors)
    np.testing.assert_array_equal(document.frames, sprites.indices)
    assert document.layers == ["Sprites"]


def test_aseprite_file_reads_back_exactly(tiles: SpriteSet, tmp_path: Path) -> None:
    path = tmp_path / "tiles.aseprite"
    tags = [FrameTag("idle", 0, 3), FrameTag("walk", 4, 11)]
    assert write_sprites(tiles, path, tags=tags) == [path]
    document = read_aseprite(path)
    check_aseprite(document, tiles)
    assert document.tags == [("idle", 0, 3), ("walk", 4, 11)]
    assert document.durations == [100] * len(tiles)
    # Index 0 is transparent in the palette, and the sprites use it: their backgrounds stay transparent in Aseprite.
    assert document.palette[0, 3] == 0 and (document.frames == 0).any()


def test_atlas_rectangles_cut_the_sheet_back_into_the_sprites(tiles: SpriteSet, tmp_path: Path) -> None:
    written = write_sprites(tiles, tmp_path / "tiles.json")
    assert written == [tmp_path / "tiles.png", tmp_path / "tiles.json"]
    atlas = json.loads((tmp_path / "tiles.json").read_text())
    sheet = read_png(tmp_path / "tiles.png")
    assert atlas["meta"]["image"] == "tiles.png"
    assert (atlas["meta"]["size"]["w"], atlas["meta"]["size"]["h"]) == (sheet.shape[1], sheet.shape[0])
    assert atlas["meta"]["frameTags"] == [
        {"name": "tiles", "from": 0, "to": 11, "direction": "forward", "color": "#000000ff"}
    ]
    rgba = tiles.to_rgba()
    assert len(atlas["frames"]) == len(tiles)
    for i, frame in enumerate(atlas["frames"]):
        assert frame["duration"] == 100 and frame["sourceSize"] == {"w": 16, "h": 16}
        np.testing.assert_array_equal(cut(sheet, frame), rgba[i])


def test_formats_by_suffix_and_bad_requests_refused(tiles: SpriteSet, tmp_path: Path) -> None:
    assert [format_for(name) for name in ("a.aseprite", "a.ASE", "a.json", "a.png")] == [
        "aseprite",
        "aseprite",
        "atlas",
        "grid",
    ]
    assert format_for("a.png", "atlas") == "atlas"
    with pytest.raises(SpriteforgeError, match="tag 'walk': frames 4..12"):
        write_sprites(tiles, tmp_path / "t.aseprite", tags=[FrameTag("walk", 4, 12)])
    shades = np.arange(300)
    wide = Palette.from_colors(np.stack([shades % 256, shades // 256, 0 * shades, 0 * shades + 255], 1))
    earlier = tmp_path / "wide.aseprite"
    earlier.write_bytes(b"earlier")
    with pytest.raises(SpriteforgeError, match="at most 256 colours; this palette has 301"):
        write_sprites(SpriteSet(np.zeros((1, 4, 4), np.int64), wide), earlier)
    assert earlier.read_bytes() == b"earlier"


# ---------------------------------------------------------------------- the CLI and the HTTP API


def test_sample_writes_aseprite_atlas_and_true_size_files(served: Path, tmp_path: Path) -> None:
    run = served / "kenney" / "vae"
    invoke("sample", run, "--n", 6, "--seed", 0, "--format", "sheet", "--out", tmp_path / "sheet.png")
    invoke("sample", run, "--n", 6, "--seed", 0, "--out", tmp_path / "s.aseprite", "--each", tmp_path / "each")
    invoke("sample", run, "--n", 6, "--seed", 0, "--format", "atlas", "--out", tmp_path / "atlas.png")
    document = read_aseprite(tmp_path / "s.aseprite")
    palette = Palette.load(run / "palette.hex")
    sprites = SpriteSet(document.frames.astype(np.int64), palette)
    check_aseprite(document, sprites)
    assert document.tags == [("s", 0, 5)]
    # The same seed gave the same sprites in every file, all at true size (16x16), the --each files included.
    each = sorted((tmp_path / "each").glob("*.png"))
    np.testing.assert_array_equal(np.stack([read_png(file) for file in each]), sprites.to_rgba())
    atlas = json.loads((tmp_path / "atlas.json").read_text())
    sheet = read_png(tmp_path / "atlas.png")
    np.testing.assert_array_equal(sheet, read_png(tmp_path / "sheet.png"))
    np.testing.assert_array_equal(np.stack([cut(sheet, f) for f in atlas["frames"]]), sprites.to_rgba())


def test_game_files_refuse_an_enlargement(served: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "s.aseprite"
    run = served / "kenney" / "vae"
    fails(monkeypatch, capsys, "sample", run, "--n", 2, "--scale", 4, "--out", out, mentions=("--scale 4", "true size"))
    fails(monkeypatch, capsys, "sample", run, "--sheet", "--format", "atlas", mentions=("--sheet and --format atlas",))
    assert not out.exists()


def test_vary_and_inpaint_export_their_results(served: Path, tmp_path: Path) -> None:
    run = served / "kenney" / "discrete"
    palette = Palette.load(run / "palette.hex")
    sprite = load_sprites(served.parent / f"{served.name}-packs" / "tiny_dungeon", size=16, count=1).to_rgba()[0]
    io.write_png(tmp_path / "sprite.png", sprite)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    io.write_png(tmp_path / "mask.png", io.mask_preview(mask))
    common = ("--image", tmp_path / "sprite.png", "--n", 3, "--seed", 0, "--steps", 2, "--label", "tiny_dungeon")
    invoke("inpaint", run, *common, "--mask", tmp_path / "mask.png", "--out", tmp_path / "in.aseprite")
    invoke("vary", run, *common, "--strength", 0.5, "--format", "atlas", "--out", tmp_path / "vary.json")
    document = read_aseprite(tmp_path / "in.aseprite")
    check_aseprite(document, SpriteSet(document.frames.astype(np.int64), palette))
    kept = palette.index(sprite)
    assert len(document.frames) == 3 and (document.frames[:, ~mask] == kept[~mask]).all()
    atlas = json.loads((tmp_path / "vary.json").read_text())
    assert len(atlas["frames"]) == 3 and (tmp_path / "vary.png").is_file()


def test_http_api_serves_aseprite_and_atlas(served: Path) -> None:
    client = TestClient(create_app(served), base_url="http://localhost")
    url = "/api/v1/runs/kenney/vae/sample"
    as_json = client.post(url, json={"n": 4, "seed": 5, "format": "json"}).json()
    sprites = np.stack([read_png(base64.b64decode(b64)) for b64 in as_json["sprites"]])
    response = client.post(url, json={"n": 4, "seed": 5, "format": "aseprite"})
    assert response.status_code == 200 and "sprites.aseprite" in response.headers["content-disposition"]
    document = read_aseprite(response.content)
    palette = Palette.load(served / "kenney" / "vae" / "palette.hex")
    check_aseprite(document, SpriteSet(document.frames.astype(np.int64), palette))
    np.testing.assert_array_equal(palette.to_rgba(document.frames), sprites)
    archive = zipfile.ZipFile(BytesIO(client.post(url, json={"n": 4, "seed": 5, "format": "atlas"}).content))
    atlas, sheet = json.loads(archive.read("sprites.json")), read_png(archive.read("sprites.png"))
    np.testing.assert_array_equal(np.stack([cut(sheet, f) for f in atlas["frames"]]), sprites)
