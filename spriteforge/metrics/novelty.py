"""Novelty: how far each generated sprite is from its nearest training sprite, in differing pixels.

A model that memorises its training set scores well on every distribution metric; the Hamming distance to the
nearest training sprite (on palette indices, so an exact copy is distance 0) exposes it.

How: one-hot encode every sprite over the (position, colour) pairs, so that matches(s, t) = onehot(s) . onehot(t)
and distance = H*W - matches, a matrix product per block of samples and training sprites. Only the pairs present
in both sets are kept: a pair missing from either side never matches. Measured on 2 CPU cores, 1,000 samples
against 10,000 training sprites at 24x24: 0.9 s with 8 random colours, where comparing the index arrays directly
(an (8,M,HW) block of != at a time) takes 31 s. The cost grows with the pairs present (uniformly random data
over 222 colours, the worst case: ~37 s), but real sprites use few colours per position (CryptoPunks: 4,556 of
576 x 222 pairs, 0.7 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.palette import Sprites, paired_indices
from spriteforge.metrics.stats import DEFAULT_BOOTSTRAP, mean_estimate

NEAR_COPY_FRACTION = 0.02  # a sample within 2% of its pixels of a training sprite is a near copy
_BLOCK_BYTES = 128 << 20  # one float32 one-hot block of sprites: bounds memory per operand
_MAX_BLOCK = 4096  # sprites per block: also bounds the (block x block) float32 match matrix to 64 MB


def novelty(
    samples: Sprites,
    training: Sprites,
    device: str | torch.device = "cpu",
    chunk: int | None = None,
    near_fraction: float = NEAR_COPY_FRACTION,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """Distance of each sample (N,H,W) to its nearest training sprite (M,H,W); both index the same palette.

    chunk: sprites per one-hot block (default: as many as fit in 128 MB, at most 4,096).
    Returns Estimates `nearest_distance` (pixels), `nearest_distance_fraction` (share of H*W), `copies` (share
    at distance 0) and `near_copies` (share within `near_fraction` of H*W pixels, copies included), and the
    arrays `distances` (N,) and `nearest` (N,) (training index of the nearest sprite, the first one on ties).
    """
    first, second = _comparable(samples, training)
    pixels = first.shape[1] * first.shape[2]
    distances, nearest = nearest_training(first, second, torch.device(device), chunk)
    return {
        "nearest_distance": mean_estimate(distances, resamples, seed),
        "nearest_distance_fraction": mean_estimate(distances / pixels, resamples, seed),
        "copies": mean_estimate(distances == 0, resamples, seed),
        "near_copies": mean_estimate(distances <= near_fraction * pixels, resamples, seed),
        "distances": distances,
        "nearest": nearest,
    }


def nearest_training(
    samples: np.ndarray, training: np.ndarray, device: torch.device, chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """((N,) Hamming distance to the nearest training sprite, (N,) its index) for (N,H,W) and (M,H,W) indices."""
    pixels = samples.shape[1] * samples.shape[2]
    sample_columns, training_columns, width = _shared_columns(samples, training)
    rows = chunk or max(1, min(_MAX_BLOCK, _BLOCK_BYTES // (4 * (width + 1))))
    best = torch.full((len(samples),), -1.0, device=device)
    nearest = torch.zeros(len(samples), dtype=torch.int64, device=device)
    for start in range(0, len(samples), rows):
        block = _one_hot(sample_columns[start : start + rows], width, device)  # (b,C)
        best_block, nearest_block = best[start : start + rows], nearest[start : start + rows]
        for offset in range(0, len(training), rows):
            matches = block @ _one_hot(training_columns[offset : offset + rows], width, device).T  # (b,t)
            index = matches.argmax(dim=1)  # the first maximum: ties go to the lowest training index
            value = matches.gather(1, index[:, None])[:, 0]
            better = value > best_block  # strict, so earlier blocks keep their ties too
            best_block[better], nearest_block[better] = value[better], index[better] + offset
    return (pixels - best.round().long()).cpu().numpy(), nearest.cpu().numpy()


def _comparable(samples: Sprites, training: Sprites) -> tuple[np.ndarray, np.ndarray]:
    """The two (N,H,W), (M,H,W) index arrays, after checking they can be compared pixel by pixel."""
    first, second = paired_indices(samples, training)
    if first.shape[1:] != second.shape[1:]:
        raise SpriteforgeError(
            f"novelty needs samples and training sprites of one size: samples are {first.shape[2]}x{first.shape[1]}, "
            f"training sprites {second.shape[2]}x{second.shape[1]}."
        )
    if not len(first) or not len(second):
        raise SpriteforgeError(f"novelty needs sprites on both sides: got {len(first)} and {len(second)}.")
    return first, second


def _shared_columns(samples: np.ndarray, training: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Each pixel's one-hot column among the C (position, colour) pairs present in both sets, as (N,HW) and (M,HW)
    int64 tensors; pixels whose pair is absent from the other set get the spare column C, dropped later."""
    colors = int(max(samples.max(), training.max())) + 1
    position = np.arange(samples.shape[1] * samples.shape[2])
    pair_of_samples = position * colors + samples.reshape(len(samples), -1).astype(np.int64)  # (N,HW)
    pair_of_training = position * colors + training.reshape(len(training), -1).astype(np.int64)  # (M,HW)
    shared = _present(pair_of_samples, position.size * colors) & _present(pair_of_training, position.size * colors)
    width = int(shared.sum())
    column = np.full(position.size * colors, width, dtype=np.int64)
    column[shared] = np.arange(width)
    return torch.from_numpy(column[pair_of_samples]), torch.from_numpy(column[pair_of_training]), width


def _present(pairs: np.ndarray, total: int) -> np.ndarray:
    """(total,) bool: which (position, colour) pairs occur at least once."""
    return np.bincount(pairs.ravel(), minlength=total) > 0


def _one_hot(columns: torch.Tensor, width: int, device: torch.device) -> torch.Tensor:
    """(b,HW) columns -> (b,C) float32 rows with a 1 in each pixel's column; the spare column C is cut off.

    Counts up to H*W = 4,096 are exact in float32 (and in TF32 matmuls: the inputs are 0 and 1)."""
    columns = columns.to(device)
    rows = torch.zeros(len(columns), width + 1, device=device)
    return rows.scatter_(1, columns, 1.0)[:, :width]
