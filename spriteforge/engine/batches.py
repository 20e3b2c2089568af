"""Batches straight from one device-resident tensor: no DataLoader workers, no per-item Python.

Sprites are tiny (a 10,000-sprite 24x24 dataset is 5.8 MB as uint8), so the whole set lives on the training
device; an epoch is a seeded permutation sliced into batches, augmented on the device. The iterator is
stateful (epoch, batch position), so a resumed run continues with exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from spriteforge.data.augment import AugmentConfig, augment


class SpriteBatches:
    """An iterable of {"indices": (B,H,W) long, "labels": ...} batches over a whole (N,H,W) tensor.

    shuffle: a new seeded permutation each epoch (training); otherwise fixed order (validation).
    domain_a: an optional (M,4,H,W) float pool of images from a second domain (two-domain models); each batch then
    also carries "domain_a" (B,4,H,W): B rows drawn from the pool, seeded by (seed, epoch, position) when shuffling,
    else rows in order, so unpaired batches repeat exactly on resume.
    rank/world_size: each process of a multi-GPU run takes its own interleaved share of every epoch.
    """

    def __init__(
        self,
        indices: np.ndarray,
        labels: np.ndarray | None,
        batch_size: int,
        *,
        num_colors: int,
        shuffle: bool,
        seed: int = 0,
        augment_config: AugmentConfig | None = None,
        drop_last: bool = False,
        domain_a: np.ndarray | None = None,
    ) -> None:
        self.indices = torch.from_numpy(np.ascontiguousarray(indices))  # (N,H,W) uint8/int32
        self.labels = None if labels is None else torch.from_numpy(np.ascontiguousarray(labels))
        self.domain_a = None if domain_a is None else torch.from_numpy(np.ascontiguousarray(domain_a))  # (M,4,H,W)
        self.batch_size = batch_size
        self.num_colors = num_colors
        self.shuffle = shuffle
        self.seed = seed
        self.augment_config = augment_config or AugmentConfig()
        self.drop_last = drop_last
        self.rank, self.world_size = 0, 1
        self.epoch, self.position = 0, 0  # the next batch to yield
        self.completed = 0  # batches of this epoch already trained on (position runs ahead during a step)

    def to(self, device: torch.device | str) -> SpriteBatches:
        self.indices = self.indices.to(device)
        self.labels = None if self.labels is None else self.labels.to(device)
        self.domain_a = None if self.domain_a is None else self.domain_a.to(device)
        return self

    def shard(self, rank: int, world_size: int) -> SpriteBatches:
        self.rank, self.world_size = rank, world_size
        return self

    def __len__(self) -> int:
        per_rank = len(self.indices) // self.world_size
        return per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        count = len(self.indices)
        if not self.shuffle:
            order = torch.arange(count)
        else:
            order = torch.randperm(count, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        per_rank = count // self.world_size
        return order[self.rank :: self.world_size][:per_rank].to(self.indices.device)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.position >= len(self):  # the previous epoch was used up: start the next one
            self.epoch, self.position, self.completed = self.epoch + 1, 0, 0
        order = self._order(self.epoch)
        while self.position < len(self):
            position = self.position
            chosen = order[position * self.batch_size : (position + 1) * self.batch_size]
            self.position += 1
            yield self._batch(chosen, position)

    def mark_completed(self) -> None:
        """Called after each optimisation step: batches up to here are trained on and need not be replayed."""
        self.completed = self.position

    def _batch(self, chosen: torch.Tensor, position: int) -> dict[str, Any]:
        indices = self.indices[chosen].long()  # (B,H,W)
        # Seeded by (seed, epoch, position): a resumed run repeats the exact augmentation and second-domain draw.
        generator = torch.Generator(device=indices.device)
        generator.manual_seed((self.seed * 100_003 + self.epoch) * 1_000_003 + position)
        if self.shuffle and self.augment_config.active:
            indices = augment(indices, self.augment_config, self.num_colors, generator)
        batch: dict[str, Any] = {"indices": indices}
        if self.labels is not None:
            batch["labels"] = self.labels[chosen]
        if self.domain_a is not None:
            pool = len(self.domain_a)
            rows = (
                torch.randint(pool, (len(chosen),), generator=generator, device=indices.device)
                if self.shuffle
                else chosen % pool
            )
            batch["domain_a"] = self.domain_a[rows].float()
        return batch

    # Lightning saves and restores these with the checkpoint (stateful training iterables). The saved position is
    # that of the last completed step, so a checkpoint written mid-step (Ctrl-C) replays the interrupted batch.
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.completed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.completed = self.position
