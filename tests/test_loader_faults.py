"""Loader faults found by probing (issue 19, points 4 and 9), each kept fixed here: FIFOs and other non-files given
as single files, one huge image in a data folder, a full disk while writing, `convert DIR` converting nothing,
`datasets inspect --crop`, and PIL's decompression-bomb warning.

Every CLI case goes through the real entry point: exit 2, a message naming the file, no traceback.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spriteforge import cli, io
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import MAX_DEFAULT_CANVAS, load_sprites
from spriteforge.errors import SpriteforgeError


def squash(text: str) -> str:
    return "".join(text.split())  # rich may wrap long messages, even inside paths


def fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object, mentions: tuple = ()) -> str:
    """Run the real entry point with argv: exit 2, no traceback, a message mentioning each of `mentions`."""
    monkeypatch.setattr(sys, "argv", ["spriteforge", *map(str, args)])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    out, err = capsys.readouterr()
    assert caught.value.code == 2, out + err
    assert "Traceback" not in out + err and "Warning" not in out + err, err
    for needle in mentions:
        assert squash(str(needle)) in squash(err), f"{needle!r} not in stderr: {err}"
    return err


def succeeds(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object) -> str:
    monkeypatch.setattr(sys, "argv", ["spriteforge", *map(str, args)])
    with pytest.raises(SystemExit) as caught:
        cli.main()  # typer exits 0 on success
    out, err = capsys.readouterr()
    assert caught.value.code == 0, out + err
    return out


def sprite(side: int, color: tuple[int, int, int] = (250, 200, 40)) -> np.ndarray:
    image = np.zeros((side, side, 4), np.uint8)
    image[1:-1, 1:-1] = (*color, 255)
    return image


@pytest.fixture
def sprites(tmp_path: Path) -> Path:
    folder = tmp_path / "sprites"
    for i in range(3):
        io.write_png(folder / f"s{i}.png", sprite(8, (40 * i, 100, 200)))
    return folder


# ---------------------------------------------------------------------- point 4a: only regular files


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_wherever_a_file_is_expected(fifo: Path, sprites: Path, tmp_path: Path, monkeypatch, capsys):
    """Each of these blocked forever, or said something misleading, before."""
    out = tmp_path / "out.png"
    fails(monkeypatch, capsys, "convert", fifo, "--out", out, mentions=(fifo, "pipe (FIFO)"))
    fails(monkeypatch, capsys, "datasets", "inspect", fifo, "--tile", 8, mentions=(fifo, "pipe (FIFO)"))
    fails(monkeypatch, capsys, "datasets", "inspect", fifo, mentions=(fifo, "pipe (FIFO)"))
    fails(monkeypatch, capsys, "palette", "extract", fifo, "--tile", 8, mentions=(fifo, "pipe (FIFO)"))
    labels = fifo.with_name("labels.csv")
    os.mkfifo(labels)
    fails(monkeypatch, capsys, "datasets", "inspect", sprites, "--labels", labels, mentions=(labels, "pipe (FIFO)"))
    palette = fifo.with_name("colours.hex")
    os.mkfifo(palette)
    photo = tmp_path / "photo.png"
    io.write_png(photo, sprite(16))
    fails(monkeypatch, capsys, "convert", photo, "--palette", palette, "--out", out, mentions=(palette, "FIFO"))
    assert not out.exists()


def test_a_folder_named_like_an_image_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "x.png"
    folder.mkdir()
    with pytest.raises(SpriteforgeError, match=r"x\.png is a folder, not a regular file"):
        io.read_rgba(folder)
    with pytest.raises(SpriteforgeError, match="x.hex is a folder"):
        folder.rename(tmp_path / "x.hex")
        Palette.load(tmp_path / "x.hex")


# ---------------------------------------------------------------------- point 4b: one huge image in a data folder


@pytest.fixture(scope="module")
def huge_in_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 8x8 sprites and one 8000x8000 image (a 1-bit PNG: small on disk, 256 MB once read as RGBA)."""
    folder = tmp_path_factory.mktemp("huge") / "sprites"
    for i in range(3):
        io.write_png(folder / f"s{i}.png", sprite(8, (40 * i, 100, 200)))
    Image.new("1", (8000, 8000), 1).save(folder / "big.png")
    return folder


def test_one_huge_image_in_a_folder_is_refused_by_name(huge_in_folder: Path, monkeypatch, capsys) -> None:
    """It set a 8000x8000 canvas for every sprite (57.7 GiB for 242 of them) and died with a traceback."""
    mentions = ("big.png (8000x8000)", f"{MAX_DEFAULT_CANVAS}x{MAX_DEFAULT_CANVAS}", "--size N --crop", "convert")
    fails(monkeypatch, capsys, "datasets", "inspect", huge_in_folder, mentions=mentions)
    fails(
        monkeypatch,
        capsys,
        "train",
        "--data",
        huge_in_folder,
        "--out",
        huge_in_folder.parent / "run",
        mentions=mentions,
    )
    assert not (huge_in_folder.parent / "run").exists()


def test_crop_takes_the_huge_image_in(huge_in_folder: Path) -> None:
    loaded = load_sprites(huge_in_folder, size=16, crop=True)
    assert loaded.indices.shape == (4, 16, 16)


def test_a_canvas_too_large_for_memory_is_refused_before_allocating(sprites: Path) -> None:
    # 3 sprites on a 30,000 px canvas: 10.1 GiB, refused with the estimate instead of a MemoryError.
    with pytest.raises(SpriteforgeError, match=r"3 sprites on a 30000x30000 canvas would need 10\.1 GiB"):
        load_sprites(sprites, size=30_000)
    with pytest.raises(SpriteforgeError, match=r"procedural: 4,096 sprites on a 4000x4000 canvas"):
        load_sprites("procedural", size=4000)


def test_a_sheet_cut_into_too_many_tiles_is_refused_before_slicing(tmp_path: Path) -> None:
    sheet = tmp_path / "photo.png"
    Image.new("1", (1100, 1000), 1).save(sheet)
    with pytest.raises(SpriteforgeError, match=r"photo.png: a 1100x1000 sheet cut into 1x1 tiles gives 1,100,000"):
        load_sprites(sheet, tile=1)


# ---------------------------------------------------------------------- point 9a: a full disk names the destination


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["encoding", "fsync"])
def test_a_full_disk_names_the_destination_and_keeps_the_earlier_file(
    where: str, sprites: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """It said "error: : No space left on device", or named a temporary file."""
    photo, out, palette = tmp_path / "photo.png", tmp_path / "pixel.png", tmp_path / "colours.hex"
    io.write_png(photo, sprite(16))
    io.write_png(out, sprite(4))
    Palette.named("pico8").save(palette)
    earlier = {path: path.read_bytes() for path in (out, palette)}
    if where == "encoding":
        monkeypatch.setattr(Image.Image, "save", _no_space)
        monkeypatch.setattr(Path, "write_text", _no_space)
    else:
        monkeypatch.setattr(io.os, "fsync", _no_space)
    for args, target in [
        (("convert", photo, "--out", out), out),
        (("palette", "extract", sprites, "--out", palette), palette),
        (("datasets", "inspect", sprites, "--out", out), out),
    ]:
        err = fails(monkeypatch, capsys, *args, mentions=(f"cannot write {target}", "No space left on device"))
        assert ".tmp" not in err and "earlier file there is unchanged" in err
    assert {path: path.read_bytes() for path in (out, palette)} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours.hex", "photo.png", "pixel.png", "sprites"]


def test_an_os_error_without_a_file_name_prints_no_empty_name(monkeypatch, capsys) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cli, "app", full)
    monkeypatch.setattr(sys, "argv", ["spriteforge"])
    with pytest.raises(SystemExit):
        cli.main()
    assert "error: No space left on device" in capsys.readouterr().err


# ---------------------------------------------------------------------- point 9b-d


def test_convert_dir_that_converts_nothing_fails(tmp_path: Path, monkeypatch, capsys) -> None:
    empty, broken = tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    (broken / "b.gif").write_bytes(b"")
    fails(monkeypatch, capsys, "convert", empty, "--out", tmp_path / "o1", mentions=("nothing converted", "no images"))
    fails(
        monkeypatch,
        capsys,
        "convert",
        broken,
        "--out",
        tmp_path / "o2",
        mentions=("nothing converted", "all 2 image(s)", "a.png", "not a readable image"),
    )


def test_datasets_inspect_takes_crop(sprites: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The README says so."""
    io.write_png(sprites / "wide.png", sprite(24))
    fails(monkeypatch, capsys, "datasets", "inspect", sprites, "--size", 16, mentions=("wide.png", "--crop"))
    out = succeeds(
        monkeypatch, capsys, "datasets", "inspect", sprites, "--size", 16, "--crop", "--out", tmp_path / "c.png"
    )
    assert '"count": 4' in out and '"size": "16x16"' in out
    succeeds(monkeypatch, capsys, "palette", "extract", sprites, "--size", 16, "--crop", "--out", tmp_path / "p.hex")


def test_a_decompression_bomb_warning_becomes_our_message(tmp_path: Path, monkeypatch, capsys) -> None:
    """A header declaring 90 million pixels (between PIL's warning and error limits) printed PIL's raw warning."""
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10_000, 9_000)).save(bomb)
    assert Image.MAX_IMAGE_PIXELS < 10_000 * 9_000 < 2 * Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping read_rgba fails the test
        with pytest.raises(SpriteforgeError, match=r"bomb.png: too large to read \(90,000,000 pixels"):
            io.read_rgba(bomb)
    fails(monkeypatch, capsys, "convert", bomb, "--out", tmp_path / "o.png", mentions=("bomb.png", "too large"))
