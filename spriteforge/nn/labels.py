"""Label tensors as the vectors networks take: one (B,L) float row per sprite, whatever the label kind."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spriteforge.data.labels import CATEGORICAL, LabelSpec
from spriteforge.errors import SpriteforgeError


def label_matrix(labels: torch.Tensor, vocabulary: LabelSpec) -> torch.Tensor:
    """(B,) categories -> (B,L) one-hot; (B,L) rows (multi-hot, or any blend of labels) -> as they are, float."""
    if labels.dim() == 1 and vocabulary.kind == CATEGORICAL:
        return F.one_hot(labels.long(), len(vocabulary)).float()
    if labels.dim() != 2 or labels.shape[1] != len(vocabulary):
        raise SpriteforgeError(
            f"labels of shape {tuple(labels.shape)}: this run expects (B,) categories or (B,{len(vocabulary)}) rows."
        )
    return labels.float()
