"""Tiny trained runs in a served folder, shared by the API tests and the browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import spriteforge

TINY_VAE = ["vae.channels=[8,16]", "vae.latent_dim=4", "train.batch_size=16", "train.progress=false",
            "train.max_steps=4", "train.sample_every=4", "train.val_every=4", "data.count=48"]  # fmt: skip


def kenney_tiles(test_data: Path) -> Path:
    folder = test_data / "kenney" / "tiles" / "1bit_pack_colored"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


TINY_CYCLEGAN = ["data.count=32", "data.size=16", "data.domain_a_count=16", "train.batch_size=8",
                 "train.progress=false", "train.max_steps=2", "train.val_every=2", "train.sample_every=0"]  # fmt: skip


def served_runs(root: Path, test_data: Path) -> Path:
    """root/kenney/vae: a 16x16 VAE trained for 4 steps on Kenney tiles (with a training sample grid);
    root/kenney/cyclegan: a tiny CycleGAN (CC0 photos -> Kenney tiles) trained for 2 steps."""
    tiles = kenney_tiles(test_data)
    spriteforge.train("vae", tiles, root / "kenney" / "vae", overrides=TINY_VAE, logger="none")
    photos = [f"data.domain_a={test_data / 'photos'}"]
    spriteforge.train("cyclegan", tiles, root / "kenney" / "cyclegan", overrides=[*TINY_CYCLEGAN, *photos], preset="tiny", logger="none")
    return root
