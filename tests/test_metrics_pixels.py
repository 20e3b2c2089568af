"""Pixel-level metrics: reconstruction (accuracy, MSE, SSIM), pixel-art statistics, novelty, conditional accuracy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import spriteforge
import torch
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics import recon
from spriteforge.metrics.conditional import conditional_accuracy
from spriteforge.metrics.novelty import novelty
from spriteforge.metrics.palette import (
    colors_per_sprite,
    colors_per_sprite_distance,
    silhouette_stats,
)
from spriteforge.nn import ssim
from spriteforge.nn.pixels import PaletteCodec

PALETTE = Palette.from_colors(np.array([[0, 0, 0, 0], [255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]))


def _opaque_rgba(images: np.ndarray) -> np.ndarray:
    """(N,3,H,W) RGB in [0,1] -> (N,H,W,4) fully opaque RGBA floats."""
    alpha = np.ones(images[:, :1].shape)
    return np.concatenate([images, alpha], axis=1).transpose(0, 2, 3, 1)


def _reference_ssim(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> float:
    """Slow SSIM of one (C,H,W) pair: explicit loops over channels and 'valid' window positions."""
    size = min(7, x.shape[1], x.shape[2])
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    weights = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    per_channel = []
    for a, b in zip(x, y):
        values = []
        for i in range(a.shape[0] - size + 1):
            for j in range(a.shape[1] - size + 1):
                pa, pb = a[i : i + size, j : j + size], b[i : i + size, j : j + size]
                mu_a, mu_b = (weights * pa).sum(), (weights * pb).sum()
                var_a, var_b = (weights * (pa - mu_a) ** 2).sum(), (weights * (pb - mu_b) ** 2).sum()
                cov = (weights * (pa - mu_a) * (pb - mu_b)).sum()
                values.append(
                    (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
                )
        per_channel.append(np.mean(values))
    return float(np.mean(per_channel))


# --- reconstruction -------------------------------------------------------------------------------------------


def test_ssim_of_an_image_with_itself_is_one() -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 4), dtype=np.uint8)
    result = recon.ssim(images, images)
    assert result.value == pytest.approx(1.0, abs=1e-12)
    assert result.n == 5


def test_ssim_is_symmetric() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((6, 12, 10, 4)), rng.random((6, 12, 10, 4))
    assert recon.ssim(a, b).value == pytest.approx(recon.ssim(b, a).value, abs=1e-12)


def test_ssim_decreases_as_noise_grows() -> None:
    rng = np.random.default_rng(2)
    clean = 0.2 + 0.6 * rng.random((4, 3, 16, 16))
    noise = rng.standard_normal(clean.shape)
    scores = [
        recon.ssim(_opaque_rgba(clean), _opaque_rgba(np.clip(clean + level * noise, 0, 1))).value
        for level in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)
    ]
    assert scores[0] == pytest.approx(1.0)
    assert all(later < earlier for earlier, later in zip(scores, scores[1:])), scores


@pytest.mark.parametrize("height,width", [(12, 12), (5, 6)])
def test_ssim_matches_a_slow_reference(height: int, width: int) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random((3, 3, height, width)), rng.random((3, 3, height, width))
    fast = recon.structural_similarity(x, y)
    slow = [_reference_ssim(a, b) for a, b in zip(x, y)]
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    # The public metric composites opaque RGBA to the same RGB, then averages over sprites.
    assert recon.ssim(_opaque_rgba(x), _opaque_rgba(y)).value == pytest.approx(np.mean(slow), abs=1e-6)


def test_ssim_of_flat_images_has_the_closed_form() -> None:
    a, b = 0.3, 0.7
    value = recon.structural_similarity(np.full((1, 3, 8, 8), a), np.full((1, 3, 8, 8), b))[0]
    # Zero variance: the contrast-structure term is C2 / C2 = 1, leaving the luminance term.
    assert value == pytest.approx((2 * a * b + ssim.C1) / (a**2 + b**2 + ssim.C1), abs=1e-12)


def test_ssim_composites_transparency_on_the_documented_background() -> None:
    transparent = np.zeros((1, 8, 8, 4))
    background = np.concatenate([np.broadcast_to(recon.SSIM_BACKGROUND, (1, 8, 8, 3)), np.ones((1, 8, 8, 1))], -1)
    assert recon.ssim(transparent, background).value == pytest.approx(1.0)


def test_pixel_accuracy_and_the_opaque_one() -> None:
    original = np.array([[[0, 1], [2, 0]], [[0, 0], [0, 0]]])
    rebuilt = np.array([[[0, 1], [3, 0]], [[0, 0], [0, 0]]])
    assert recon.pixel_accuracy(original, rebuilt).value == pytest.approx((0.75 + 1.0) / 2)
    opaque = recon.opaque_pixel_accuracy(original, rebuilt)
    assert (opaque.value, opaque.n) == (0.5, 1)  # the fully transparent sprite has no opaque pixel to score
    sprites = SpriteSet(original, PALETTE)
    assert recon.pixel_accuracy(sprites, sprites).value == 1.0


def test_mse_on_uint8_and_on_model_outputs() -> None:
    original = np.zeros((2, 4, 4, 4), np.uint8)
    rebuilt = original.copy()
    rebuilt[0, 0, 0, 0] = 255  # one channel of one pixel fully wrong in the first sprite
    result = recon.mse(original, rebuilt)
    assert (result.value, result.n) == (pytest.approx(1 / 64 / 2), 2)
    as_tensor = torch.from_numpy(rebuilt).permute(0, 3, 1, 2).float() / 255  # (B,4,H,W) in [0,1]
    assert recon.mse(original, as_tensor).value == pytest.approx(result.value)


def test_reconstruction_metrics_refuse_mismatched_shapes() -> None:
    with pytest.raises(SpriteforgeError, match="shape"):
        recon.pixel_accuracy(np.zeros((2, 8, 8), int), np.zeros((2, 8, 9), int))
    with pytest.raises(SpriteforgeError, match="shape"):
        recon.ssim(np.zeros((2, 8, 8, 4)), np.zeros((3, 8, 8, 4)))


# --- pixel-art statistics -------------------------------------------------------------------------------------


def test_palette_adherence_per_sprite() -> None:
    codec = PaletteCodec(torch.from_numpy(PALETTE.colors.copy()))
    exact = codec.to_rgba(torch.randint(0, 4, (2, 4, 4)))  # (2,4,H,W): palette colours only
    half_off = exact[:1].clone()
    half_off[0, :3, :2] = 0.5  # 8 of 16 pixels become a grey that is not in the palette
    per_sprite = codec.adherence_per_sprite(torch.cat([exact, half_off]), "rgba")
    assert per_sprite.tolist() == pytest.approx([1.0, 1.0, 0.5])
    logits = torch.randn(3, 4, 4, 4)
    assert codec.adherence_per_sprite(logits, "index").tolist() == [1.0, 1.0, 1.0]


def test_colors_per_sprite_and_its_distance() -> None:
    two = np.array([[[0, 1], [2, 2]]])  # two opaque colours; the transparent index does not count
    three = np.array([[[1, 2], [3, 0]]])
    assert colors_per_sprite(np.concatenate([two, three])).value == 2.5
    assert colors_per_sprite(SpriteSet(two, PALETTE)).value == 2.0
    assert colors_per_sprite_distance(two, two) == 0.0
    assert colors_per_sprite_distance(two, three) == 1.0
    assert colors_per_sprite_distance(np.concatenate([two, three]), two) == pytest.approx(0.5)


def test_silhouette_stats_on_a_drawn_sprite() -> None:
    sprite = np.zeros((5, 5), int)
    sprite[0:2, 0:2] = 1  # a 2x2 block
    sprite[4, 4] = 2  # an isolated speck in the far corner
    sprite[2, 2] = 3  # touches the block only diagonally: a speck too under 4-connectivity
    stats = silhouette_stats(np.stack([sprite, np.zeros((5, 5), int)]))
    assert stats["opaque_fraction"].value == pytest.approx((6 / 25) / 2)
    assert (stats["bbox_fill"].value, stats["bbox_fill"].n) == (pytest.approx(6 / 25), 1)
    assert (stats["stray_pixels"].value, stats["stray_pixels"].n) == (pytest.approx(2 / 6), 1)
    assert (stats["components"].value, stats["components"].n) == (1.5, 2)  # 3 and 0 components


# --- novelty --------------------------------------------------------------------------------------------------


def test_novelty_counts_copies_and_differing_pixels() -> None:
    rng = np.random.default_rng(4)
    training = rng.integers(0, 6, (40, 10, 10))
    changed = training[7].copy()
    changed.flat[[0, 13, 27, 55, 99]] = (changed.flat[[0, 13, 27, 55, 99]] + 1) % 6  # exactly 5 pixels
    result = novelty(np.stack([training[3], changed]), training)
    assert result["distances"].tolist() == [0, 5]
    assert result["nearest"].tolist() == [3, 7]
    assert result["copies"].value == 0.5
    assert result["near_copies"].value == 0.5  # 5 of 100 pixels is beyond the 2% threshold
    assert result["nearest_distance_fraction"].value == pytest.approx(0.025)


def test_novelty_in_chunks_matches_a_naive_computation() -> None:
    rng = np.random.default_rng(5)
    samples, training = rng.integers(0, 5, (23, 6, 5)), rng.integers(0, 5, (61, 6, 5))
    training[40] = training[12]  # a tie: the first of the two is the nearest
    samples[0] = training[40]
    naive = (samples.reshape(23, 1, -1) != training.reshape(1, 61, -1)).sum(axis=2)  # (N,M)
    for chunk in (None, 1, 7):
        result = novelty(samples, training, chunk=chunk)
        np.testing.assert_array_equal(result["distances"], naive.min(axis=1))
        np.testing.assert_array_equal(result["nearest"], naive.argmin(axis=1))
    assert result["nearest"][0] == 12


def test_index_metrics_refuse_different_sizes_and_palettes() -> None:
    with pytest.raises(SpriteforgeError, match="one size"):
        novelty(np.zeros((2, 8, 8), int), np.zeros((3, 8, 9), int))
    other = Palette.from_colors(np.array([[0, 0, 0, 0], [9, 9, 9, 255], [0, 255, 0, 255], [0, 0, 255, 255]]))
    with pytest.raises(SpriteforgeError, match="different palettes"):
        recon.pixel_accuracy(SpriteSet(np.zeros((1, 4, 4), int), PALETTE), SpriteSet(np.zeros((1, 4, 4), int), other))
    with pytest.raises(SpriteforgeError, match="different palettes"):
        novelty(SpriteSet(np.zeros((1, 4, 4), int), PALETTE), SpriteSet(np.zeros((1, 4, 4), int), other))


def test_novelty_on_real_tiles(test_data) -> None:
    tiles = spriteforge.load_sprites(test_data / "kenney" / "tiles" / "1bit_pack_colored").indices  # (1074,16,16)
    rng = np.random.default_rng(6)
    drawn = tiles[rng.choice(len(tiles), 100, replace=False)]
    assert novelty(drawn, tiles)["copies"].value == 1.0
    # 42% of this pack is left-right symmetric (walls, floors, items): mirror only the tiles that are not.
    asymmetric = tiles[(tiles != tiles[:, :, ::-1]).any(axis=(1, 2))]
    mirrored = asymmetric[rng.choice(len(asymmetric), 100, replace=False)][:, :, ::-1]
    result = novelty(mirrored, tiles)
    known = {tile.tobytes() for tile in tiles}
    in_pack = np.mean([np.ascontiguousarray(tile).tobytes() in known for tile in mirrored])
    assert result["copies"].value == pytest.approx(in_pack)  # a few tiles have their mirror image in the pack
    assert result["copies"].value < 0.15
    assert result["nearest_distance"].value > 5


# --- conditional accuracy -------------------------------------------------------------------------------------


def test_conditional_accuracy_says_why_it_is_unavailable() -> None:
    unlabelled = SimpleNamespace(labels=None, model=SimpleNamespace(is_conditional=True))
    labelled_unconditional_model = SimpleNamespace(labels=object(), model=SimpleNamespace(is_conditional=False))
    conditional = SimpleNamespace(labels=object(), model=SimpleNamespace(is_conditional=True))
    for run in (unlabelled, labelled_unconditional_model):
        assert conditional_accuracy(run) == {"available": False, "reason": "the run is not conditional"}
    result = conditional_accuracy(conditional)
    assert result["available"] is False and "--classifier" in result["reason"]
