"""Tests of the procedural sprite dataset: API contract, determinism, and the pixel-art properties it promises."""

import numpy as np
import pytest
from spriteforge.data.procedural import KINDS, MIRRORED_KINDS, OUTLINE, PALETTE_RGBA, generate

# Sizes the properties are checked at: the smallest allowed, odd ones (no centre line between pixels), the main
# one, and large ones. Counts are multiples of len(KINDS) so every kind is covered equally.
SIZES_AND_COUNTS = [
    (8, 60 * len(KINDS)),
    (9, 30 * len(KINDS)),
    (16, 60 * len(KINDS)),
    (17, 30 * len(KINDS)),
    (32, 12 * len(KINDS)),
    (64, 3 * len(KINDS)),
]


@pytest.fixture(scope="module", params=SIZES_AND_COUNTS, ids=lambda p: f"size{p[0]}")
def batch(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    size, n = request.param
    return generate(n, size=size, seed=3)


def _touches_background(sprites: np.ndarray) -> np.ndarray:
    """Per pixel: is one of its 4 neighbours transparent (or off the image)?"""
    clear = np.pad(sprites == 0, ((0, 0), (1, 1), (1, 1)), constant_values=True)
    return clear[:, :-2, 1:-1] | clear[:, 2:, 1:-1] | clear[:, 1:-1, :-2] | clear[:, 1:-1, 2:]


def _background_reachable_from_border(sprite: np.ndarray) -> np.ndarray:
    """Transparent pixels 4-connected to the image border (flood fill by repeated dilation)."""
    clear = sprite == 0
    reached = np.zeros_like(clear)
    reached[[0, -1], :] = clear[[0, -1], :]
    reached[:, [0, -1]] |= clear[:, [0, -1]]
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= clear
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def test_palette() -> None:
    assert PALETTE_RGBA.dtype == np.uint8 and PALETTE_RGBA.ndim == 2 and PALETTE_RGBA.shape[1] == 4
    assert 3 <= len(PALETTE_RGBA) <= 16
    assert tuple(PALETTE_RGBA[0]) == (0, 0, 0, 0)
    assert (PALETTE_RGBA[1:, 3] == 255).all(), "every colour but entry 0 is opaque"
    assert len({tuple(c) for c in PALETTE_RGBA}) == len(PALETTE_RGBA), "no duplicate colours"
    assert not PALETTE_RGBA.flags.writeable


def test_shapes_and_dtypes() -> None:
    sprites, kinds = generate(14, size=16, seed=0)
    assert sprites.shape == (14, 16, 16) and sprites.dtype == np.uint8
    assert kinds.shape == (14,) and kinds.dtype == np.int64
    assert int(sprites.max()) < len(PALETTE_RGBA)
    assert ((kinds >= 0) & (kinds < len(KINDS))).all()


def test_zero_sprites() -> None:
    sprites, kinds = generate(0, size=24)
    assert sprites.shape == (0, 24, 24) and sprites.dtype == np.uint8
    assert kinds.shape == (0,) and kinds.dtype == np.int64


@pytest.mark.parametrize("size", [16, 17])
def test_deterministic_and_prefix_stable(size: int) -> None:
    a, ka = generate(30, size=size, seed=5)
    b, kb = generate(30, size=size, seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ka, kb)
    head, khead = generate(10, size=size, seed=5)
    np.testing.assert_array_equal(head, a[:10])
    np.testing.assert_array_equal(khead, ka[:10])


def test_different_seeds_give_different_sprites() -> None:
    a, ka = generate(24, seed=0)
    b, kb = generate(24, seed=1)
    np.testing.assert_array_equal(ka, kb)  # the kind of sprite i is the label order, whatever the seed
    differ = (a != b).any(axis=(1, 2))
    assert differ.mean() > 0.9


def test_kinds_balanced_and_all_present() -> None:
    _, kinds = generate(10 * len(KINDS), seed=2)
    assert len(KINDS) >= 5 and len(set(KINDS)) == len(KINDS)
    assert {"creature", "ship", "item"} <= set(KINDS)
    np.testing.assert_array_equal(np.bincount(kinds, minlength=len(KINDS)), 10)


def test_sprites_vary_within_each_kind() -> None:
    sprites, kinds = generate(20 * len(KINDS), seed=4)
    for k, name in enumerate(KINDS):
        same_kind = sprites[kinds == k]
        assert len({s.tobytes() for s in same_kind}) == len(same_kind), f"duplicate {name} sprites"


def test_indices_in_palette(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, _ = batch
    assert int(sprites.max()) < len(PALETTE_RGBA)


def test_transparent_frame_and_something_drawn(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, _ = batch
    frame = np.concatenate([sprites[:, 0], sprites[:, -1], sprites[:, :, 0], sprites[:, :, -1]], axis=1)
    assert (frame == 0).all(), "the outermost ring of every sprite is transparent"
    assert ((sprites > 0).sum(axis=(1, 2)) > 0).all(), "every sprite has opaque pixels"


def test_silhouette_edge_is_dark_outline(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, _ = batch
    edge = (sprites > 0) & _touches_background(sprites)
    assert edge.any(axis=(1, 2)).all()
    assert (sprites[edge] == OUTLINE).all(), "every opaque pixel next to the background is outline"
    r, g, b, _ = PALETTE_RGBA[OUTLINE].astype(float)
    assert 0.299 * r + 0.587 * g + 0.114 * b < 64, "the outline colour is dark"


def test_background_has_no_enclosed_pockets(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, _ = batch
    for sprite in sprites:
        np.testing.assert_array_equal(_background_reachable_from_border(sprite), sprite == 0)


def test_colour_count(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, kinds = batch
    for sprite, kind in zip(sprites, kinds):
        used = len(np.unique(sprite[sprite > 0]))
        assert 3 <= used <= 8, f"{KINDS[kind]} uses {used} opaque colours"


def test_mirrored_kinds_are_symmetric(batch: tuple[np.ndarray, np.ndarray]) -> None:
    sprites, kinds = batch
    assert MIRRORED_KINDS <= set(KINDS) and len(MIRRORED_KINDS) >= 2
    mirrored = np.isin(kinds, [KINDS.index(k) for k in MIRRORED_KINDS])
    np.testing.assert_array_equal(sprites[mirrored], sprites[mirrored][:, :, ::-1])
    # The others are lit from the top-left, so some of them must come out asymmetric (the test is not vacuous).
    others = sprites[~mirrored]
    assert (others != others[:, :, ::-1]).any(axis=(1, 2)).mean() > 0.5


def test_shapes_scale_with_size() -> None:
    """The same designs fill about the same fraction of the canvas at every size: they scale, not just shrink."""
    fractions = {size: (generate(6 * len(KINDS), size=size, seed=9)[0] > 0).mean() for size in (16, 32, 64)}
    assert all(0.2 < f < 0.8 for f in fractions.values()), fractions
    assert max(fractions.values()) / min(fractions.values()) < 1.5, fractions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 4, "size": 7}, "size"),
        ({"n": 4, "size": 0}, "size"),
        ({"n": -1}, "n must be"),
        ({"n": 4, "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)


def test_non_integer_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        generate(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        generate(4, size=16.0)  # type: ignore[arg-type]
