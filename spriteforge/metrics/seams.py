"""Do tiles repeat without a seam? Neighbouring-pixel changes across the seams of 3x3 copies versus inside a tile.

A tile repeated in a grid shows a seam where its right edge meets its own left edge (and its bottom its top) and
the pixels there change more often than neighbouring pixels anywhere else: an outline, a band of another colour. So
each tile is placed 3x3 times, every pair of neighbouring pixels (left-right and top-bottom) is classed as crossing
a seam or lying inside a copy, and the share of pairs whose colours differ is compared between the two classes.
A seamless tile has a seam share like its inside share (ratio about 1); a framed tile, far more (ratio >> 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COPIES = 3  # 3x3 copies: every seam of the middle copy has a copy on both sides


@dataclass(frozen=True)
class SeamStatistics:
    """Shares of neighbouring-pixel pairs whose palette indices differ: inside the copies, and across the seams."""

    inside: float
    seam: float
    pairs_inside: int
    pairs_seam: int

    @property
    def ratio(self) -> float:
        """seam / inside: about 1 for seamless tiles; inf when only the seams change."""
        if self.inside == 0:
            return 1.0 if self.seam == 0 else float("inf")
        return self.seam / self.inside

    def to_json(self) -> dict[str, float | int]:
        return {
            "inside_change": self.inside,
            "seam_change": self.seam,
            "ratio": self.ratio,
            "pairs_inside": self.pairs_inside,
            "pairs_seam": self.pairs_seam,
        }


def seam_statistics(indices: np.ndarray) -> SeamStatistics:
    """(N,H,W) palette indices of N tiles -> the change shares of their 3x3 repetitions."""
    if indices.ndim != 3 or min(indices.shape[1:]) < 2:
        raise ValueError(f"seam_statistics: expected (N,H,W) tiles of at least 2x2 pixels, got {indices.shape}")
    height, width = indices.shape[1:]
    tiled = np.tile(indices, (1, COPIES, COPIES))  # (N,3H,3W)
    across = tiled[:, :, 1:] != tiled[:, :, :-1]  # (N,3H,3W-1): pair (x, x+1)
    down = tiled[:, 1:, :] != tiled[:, :-1, :]  # (N,3H-1,3W): pair (y, y+1)
    # A pair crosses a seam when its first pixel is the last column (row) of a copy.
    across_seam = np.arange(COPIES * width - 1) % width == width - 1  # (3W-1,)
    down_seam = np.arange(COPIES * height - 1) % height == height - 1  # (3H-1,)
    seam_changes = across[:, :, across_seam].sum() + down[:, down_seam, :].sum()
    inside_changes = across[:, :, ~across_seam].sum() + down[:, ~down_seam, :].sum()
    pairs_seam = across[:, :, across_seam].size + down[:, down_seam, :].size
    pairs_inside = across[:, :, ~across_seam].size + down[:, ~down_seam, :].size
    return SeamStatistics(
        inside=float(inside_changes / pairs_inside),
        seam=float(seam_changes / pairs_seam),
        pairs_inside=int(pairs_inside),
        pairs_seam=int(pairs_seam),
    )
