"""Small real datasets and tiny trained runs made from Kenney's CC0 tiles, shared by several test files."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import spriteforge
from spriteforge import io

TINY_VAE = [
    "vae.channels=[8,16]",
    "vae.latent_dim=4",
    "train.batch_size=16",
    "train.progress=false",
    "train.max_steps=4",
    "train.sample_every=4",
    "train.val_every=4",
    "data.count=48",
]


PACKS = ("1bit_pack_colored", "tiny_dungeon")


def labelled_packs(test_data: Path, folder: Path) -> Path:
    """folder/<pack>/*.png: 24 tiles from each of two Kenney packs, and folder/labels.csv naming each one's pack."""
    rows = []
    for pack in PACKS:
        source = test_data / "kenney" / "tiles" / pack
        if not source.is_dir():
            pytest.skip(f"{source} not found")
        (folder / pack).mkdir(parents=True)
        for file in sorted(source.glob("*.png"))[40:64]:
            shutil.copy(file, folder / pack / file.name)
            rows.append({"file": f"{pack}/{file.name}", "pack": pack})
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "pack"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def kenney_tiles(test_data: Path) -> Path:
    folder = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


TINY_CYCLEGAN = [
    "data.count=32",
    "data.size=16",
    "data.domain_a_count=16",
    "train.batch_size=8",
    "train.progress=false",
    "train.max_steps=2",
    "train.val_every=2",
    "train.sample_every=0",
]


TINY_DISCRETE = [
    "train.batch_size=16",
    "train.progress=false",
    "train.max_steps=3",
    "train.val_every=3",
    "train.sample_every=3",
    "data.size=16",
]


def served_runs(root: Path, test_data: Path) -> Path:
    """root/kenney/vae: a 16x16 VAE trained for 4 steps on Kenney tiles (with a training sample grid);
    root/kenney/cyclegan: a tiny CycleGAN (CC0 photos -> Kenney tiles) trained for 2 steps;
    root/kenney/discrete: a tiny discrete diffusion model conditioned on the pack (two packs), 3 steps."""
    tiles = kenney_tiles(test_data)
    packs = labelled_packs(test_data, root.parent / f"{root.name}-packs")
    spriteforge.train(
        "discrete_diffusion",
        packs,
        root / "kenney" / "discrete",
        labels=packs / "labels.csv",
        overrides=[*TINY_DISCRETE, "data.label_column=pack"],
        preset="tiny",
        logger="none",
    )
    spriteforge.train("vae", tiles, root / "kenney" / "vae", overrides=TINY_VAE, logger="none")
    photos = [f"data.domain_a={test_data / 'photos'}"]
    spriteforge.train(
        "cyclegan",
        tiles,
        root / "kenney" / "cyclegan",
        overrides=[*TINY_CYCLEGAN, *photos],
        preset="tiny",
        logger="none",
    )
    return root


def terrain_tiles(test_data: Path, folder: Path, count: int | None = None) -> Path:
    """folder/*.png: Kenney's terrain, the fully opaque 16x16 tiles of the roguelike RPG pack (grass, water, sand,
    stone, floors: 361 of its 1,669 tiles), the first `count` of them (all when None)."""
    source = test_data / "kenney" / "tiles" / "roguelike_rpg"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    folder.mkdir(parents=True, exist_ok=True)
    opaque = [file for file in sorted(source.glob("*.png")) if (io.read_rgba(file)[..., 3] >= 128).all()]
    for file in opaque[:count]:
        shutil.copy(file, folder / file.name)
    return folder
