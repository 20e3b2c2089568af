"""Hostile image files through every loader, drawn by Hypothesis (kinds in tests/hostile_images.py).

The property: each loader either gives a valid result or spriteforge's own error (SpriteforgeError from the API, exit
2 with a message naming the file from the CLI); never another exception, never a hang (the FIFO case blocked before).
Bounded to a few seconds; benchmarks/soak_loaders.py runs the same kinds 10,000 times.
"""

from __future__ import annotations

import contextlib
import io as text_io
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from spriteforge import cli
from spriteforge.convert.pixelize import PixelizeConfig, convert_file, convert_folder, pixelizer
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.errors import SpriteforgeError

from hostile_images import FILE_KINDS, KINDS, deadline, write_hostile

# Each loader call gets this long; a hang (a blocking FIFO) fails the example instead of stalling the suite.
CALL_SECONDS = 10
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
CONVERT = pixelizer(PixelizeConfig(size=8, palette="pico8"))  # a named palette: no k-means, so examples stay fast

kinds = st.sampled_from(KINDS)
rngs = st.randoms(use_true_random=False)


@contextlib.contextmanager
def hostile_folder(kind: str, rng: random.Random) -> Iterator[tuple[Path, Path]]:
    """A temporary folder holding one good 8x8 sprite and one hostile file; yields (folder, hostile path)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name) / "sprites"
        folder.mkdir()
        good = np.zeros((8, 8, 4), np.uint8)
        good[2:6, 2:6] = (250, 200, 40, 255)
        Image.fromarray(good).save(folder / "good.png")
        yield folder, write_hostile(kind, rng, folder)


def api_outcome(call: Callable[[], object], file: Path | None = None) -> object:
    """The result of `call`, or None when it raised SpriteforgeError (naming `file`, when given)."""
    try:
        with deadline(CALL_SECONDS):
            return call()
    except SpriteforgeError as error:
        if file is not None:
            assert file.name in str(error), f"the message does not name {file.name}: {error}"
        return None


def cli_outcome(*args: object, file: Path) -> int:
    """Run the real entry point; it must exit 0, or 2 with a message naming `file` and no traceback."""
    stdout, stderr = text_io.StringIO(), text_io.StringIO()
    with mock.patch.object(sys, "argv", ["spriteforge", *map(str, args)]), pytest.raises(SystemExit) as exited:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), deadline(CALL_SECONDS):
            cli.main()
    err = stderr.getvalue()
    assert exited.value.code in (0, 2), err
    assert "Traceback" not in err and "Warning" not in err, err
    if exited.value.code == 2:
        assert file.name in "".join(err.split()), f"the message does not name {file.name}: {err}"
    return int(exited.value.code)


@FUZZ
@given(kind=kinds, rng=rngs)
def test_folder_loading_and_palette_extraction(kind: str, rng: random.Random) -> None:
    """A data folder with one hostile file: the good sprite loads (the hostile one skipped), or a clear error."""
    with hostile_folder(kind, rng) as (folder, hostile):
        sprites = api_outcome(lambda: load_sprites(folder, max_colors=8))
        if sprites is not None:
            assert isinstance(sprites, SpriteSet) and len(sprites) >= 1
            assert len(sprites.palette) <= 8
        out = folder.parent / "palette.hex"
        code = cli_outcome("palette", "extract", folder, "--max-colors", 8, "--out", out, file=folder)
        assert (code == 0) == out.is_file()


@FUZZ
@given(kind=kinds, rng=rngs, tile=st.integers(1, 9))
def test_sheet_slicing(kind: str, rng: random.Random, tile: int) -> None:
    """A hostile file given as a sprite sheet: tiles, or an error naming it."""
    with hostile_folder(kind, rng) as (folder, hostile):
        sprites = api_outcome(lambda: load_sprites(hostile, tile=tile), file=hostile)
        assert sprites is None or isinstance(sprites, SpriteSet)
        cli_outcome("datasets", "inspect", hostile, "--tile", tile, "--out", folder.parent / "sheet.png", file=hostile)


@FUZZ
@given(kind=kinds, rng=rngs)
def test_single_file_conversion(kind: str, rng: random.Random) -> None:
    """`convert FILE`: a PNG, or an error naming the file (a FIFO used to block here forever)."""
    with hostile_folder(kind, rng) as (folder, hostile):
        out = folder.parent / "out.png"
        written = api_outcome(lambda: convert_file(hostile, out, CONVERT), file=hostile)
        assert written is None or Image.open(out).size[0] <= 8
        code = cli_outcome("convert", hostile, "--size", 8, "--palette", "pico8", "--out", out, file=hostile)
        assert code == (0 if written is not None else 2)


@FUZZ
@given(kind=kinds, rng=rngs)
def test_folder_conversion(kind: str, rng: random.Random) -> None:
    """`convert DIR`: the good sprite converted, the hostile file skipped with its reason, never a crash."""
    with hostile_folder(kind, rng) as (folder, hostile):
        with deadline(CALL_SECONDS):
            report = convert_folder(folder, folder.parent / "converted", CONVERT, progress=False)
        assert (folder.parent / "converted" / "good.png").is_file()
        assert all(path.name != "good.png" for path, _ in report.skipped)


@FUZZ
@given(kind=st.sampled_from(FILE_KINDS), rng=rngs)
def test_palette_files(kind: str, rng: random.Random) -> None:
    """Hostile bytes named .hex/.gpl/.json given as a palette file: a palette, or an error naming it."""
    with hostile_folder(kind, rng) as (folder, hostile):
        palette_file = hostile.with_suffix(rng.choice([".hex", ".gpl", ".json"]))
        hostile.rename(palette_file)
        palette = api_outcome(lambda: Palette.resolve(str(palette_file)), file=palette_file)
        assert palette is None or isinstance(palette, Palette)
