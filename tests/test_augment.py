"""Tests for spriteforge.data.augment: flips, shifts and palette permutations on indices stay palette-exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spriteforge.data import procedural
from spriteforge.data.augment import (
    AugmentConfig,
    augment,
    random_hflip,
    random_palette_permutation,
    random_shift,
)

K = len(procedural.PALETTE_RGBA)  # 16 colours, index 0 transparent


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """64 procedural 16x16 sprites as a (B,H,W) uint8 tensor; asymmetric kinds make flips visible."""
    indices, _ = procedural.generate(64, 16, seed=5)
    return torch.from_numpy(indices)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _in_range(x: torch.Tensor) -> bool:
    return bool(((x >= 0) & (x < K)).all())


def test_hflip_flips_some_sprites_exactly_and_keeps_the_others(batch: torch.Tensor) -> None:
    out = random_hflip(batch, _gen(0))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    flipped = [i for i in range(len(batch)) if not torch.equal(out[i], batch[i])]
    assert 0 < len(flipped) < len(batch)
    for i in range(len(batch)):
        assert torch.equal(out[i], batch[i]) or torch.equal(out[i], batch[i].flip(-1))
    for i in flipped:
        assert torch.equal(out[i].flip(-1), batch[i])  # flip of the flipped is the original
    assert _in_range(out)
    # Same multiset of indices per sprite: a flip moves pixels, never changes a colour.
    for i in range(len(batch)):
        assert torch.equal(
            torch.bincount(out[i].flatten().long(), minlength=K), torch.bincount(batch[i].flatten().long(), minlength=K)
        )


def test_hflip_is_reproducible_from_its_seed(batch: torch.Tensor) -> None:
    assert torch.equal(random_hflip(batch, _gen(7)), random_hflip(batch, _gen(7)))
    assert not torch.equal(random_hflip(batch, _gen(7)), random_hflip(batch, _gen(8)))


@pytest.mark.parametrize("max_shift", [1, 3])
def test_shift_moves_pixels_and_fills_with_transparent(batch: torch.Tensor, max_shift: int) -> None:
    out = random_shift(batch, max_shift, _gen(1))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert _in_range(out)
    h, w = batch.shape[1:]
    moved = 0
    for i in range(len(batch)):
        # Recover the shift: exactly one (dy,dx) in range must explain the output.
        matches = []
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                expected = torch.zeros_like(batch[i])
                src = batch[i][max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
                expected[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
                if torch.equal(out[i], expected):
                    matches.append((dy, dx))
        assert matches, f"sprite {i} is not a shift of the input with transparent fill"
        moved += (0, 0) not in matches
    assert moved > 0


def test_shift_fills_uncovered_pixels_with_index_zero() -> None:
    full = torch.full((32, 8, 8), 5, dtype=torch.uint8)  # no transparent pixel at all
    out = random_shift(full, 2, _gen(3))
    assert set(torch.unique(out).tolist()) <= {0, 5}
    for sprite in out:
        rows = (sprite == 5).any(1).sum().item()
        cols = (sprite == 5).any(0).sum().item()
        assert (sprite == 5).sum().item() == rows * cols  # one solid rectangle left of the original
        assert rows >= 6 and cols >= 6


def test_shift_is_reproducible_from_its_seed(batch: torch.Tensor) -> None:
    assert torch.equal(random_shift(batch, 2, _gen(4)), random_shift(batch, 2, _gen(4)))
    assert not torch.equal(random_shift(batch, 2, _gen(4)), random_shift(batch, 2, _gen(5)))


def test_palette_permutation_is_a_per_sprite_bijection_fixing_zero(batch: torch.Tensor) -> None:
    out = random_palette_permutation(batch, K, _gen(2))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert _in_range(out)
    assert torch.equal(out == 0, batch == 0)  # transparency never moves or appears
    changed = 0
    for before, after in zip(batch, out):
        mapping: dict[int, int] = {}
        for a, b in zip(before.flatten().tolist(), after.flatten().tolist()):
            assert mapping.setdefault(a, b) == b, "one colour must map to one colour"
        assert len(set(mapping.values())) == len(mapping), "two colours must not merge"
        changed += any(a != b for a, b in mapping.items())
    assert changed > len(batch) // 2


def test_palette_permutation_is_reproducible_from_its_seed(batch: torch.Tensor) -> None:
    a = random_palette_permutation(batch, K, _gen(9))
    assert torch.equal(a, random_palette_permutation(batch, K, _gen(9)))
    assert not torch.equal(a, random_palette_permutation(batch, K, _gen(10)))


def test_palette_permutation_accepts_long_indices(batch: torch.Tensor) -> None:
    out = random_palette_permutation(batch.long(), K, _gen(2))
    assert out.dtype == torch.long
    assert torch.equal(out, random_palette_permutation(batch, K, _gen(2)).long())


def test_augment_applies_the_configured_steps_reproducibly(batch: torch.Tensor) -> None:
    config = AugmentConfig(flip=True, shift=2, palette_permute=True)
    assert config.active and not AugmentConfig().active
    a = augment(batch, config, K, _gen(11))
    assert torch.equal(a, augment(batch, config, K, _gen(11)))
    assert _in_range(a)
    # Shifts only add transparency; flips and permutations never touch it.
    assert int((a == 0).sum()) >= int((batch == 0).sum())
    assert torch.equal(augment(batch, AugmentConfig(), K, _gen(11)), batch)
    # The result stays palette-exact: every index maps to a palette colour.
    rgba = procedural.PALETTE_RGBA[a.numpy()]
    assert rgba.shape == (*batch.shape, 4)
    assert np.isin(rgba.reshape(-1, 4).view(np.uint32), procedural.PALETTE_RGBA.view(np.uint32)).all()
