"""Label tensors as networks take them: one (B,L) float row per sprite, or one learned (B,dim) vector per sprite."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


class LabelEmbedding(nn.Module):
    """Labels -> (B,dim) condition vectors: (B,) categories index a table, (B,L) multi-hot (or blended) rows go
    through a linear layer.

    With `null_label` it also learns a "no label" (the table's last row, or a vector for multi-hot labels) for
    classifier-free guidance; forward's `drop` (B,) bool then marks the sprites that get it (label dropout in
    training, the unconditional half under guidance), and labels=None gives it to every sprite."""

    def __init__(self, spec: LabelSpec, dim: int, *, null_label: bool = False) -> None:
        super().__init__()
        self.categorical = spec.kind == CATEGORICAL
        self.classes = len(spec)
        if self.categorical:
            self.table = nn.Embedding(self.classes + int(null_label), dim)
        else:
            self.project = nn.Linear(self.classes, dim)
            self.null = nn.Parameter(torch.zeros(dim)) if null_label else None

    def forward(self, labels: Tensor | None, drop: Tensor | None = None) -> Tensor:
        if drop is None:
            if labels is None:
                raise ValueError("label embedding: give labels, or `drop` to use the null label")
            return self.table(labels.long()) if self.categorical else self.project(labels.float())
        if self.categorical:
            rows = torch.full(drop.shape, self.classes, dtype=torch.long, device=drop.device)  # the null label
            if labels is not None:
                rows = torch.where(drop, rows, labels.long())
            return self.table(rows)
        if self.null is None:
            raise ValueError("label embedding: built without a null label, so no label can be dropped")
        null = self.null.expand(len(drop), -1)  # (B,dim)
        if labels is None:
            return null
        return torch.where(drop[:, None], null, self.project(labels.float()))
