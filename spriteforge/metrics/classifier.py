"""The attribute classifier: a small CNN trained on real sprites, the judge of conditional models.

    rgba (B,4,H,W) in [0,1] --DownStack--> (B,C,h,w) --flatten, linear--> logits (B,L)

It reads colours, not palette indices, so it judges samples of any run whatever its palette. Categorical labels
(Kenney packs) get a softmax over the L classes, multi-hot attributes (CryptoPunks' 92) one sigmoid each. It trains
on a seeded split and reports, on the held-out part, accuracy and each attribute's ROC AUC (rank-based). A trained
classifier is a folder, loaded without pickle:

    CLS/classifier.json       config, sprite size, held-out metrics
    CLS/labels.json           the label vocabulary
    CLS/palette.hex           the palette of the sprites it was trained on
    CLS/weights.safetensors   the network
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from spriteforge import io
from spriteforge.data.labels import CATEGORICAL, LabelSpec
from spriteforge.data.palette import Palette
from spriteforge.data.sprites import SpriteSet, load_sprites
from spriteforge.engine import run as runfiles
from spriteforge.engine.batches import SpriteBatches
from spriteforge.errors import SpriteforgeError
from spriteforge.nn.blocks import DownStack, check_halvable
from spriteforge.progress import track

CONFIG = "classifier.json"
WEIGHTS = "weights.safetensors"


@dataclass
class ClassifierConfig:
    channels: list[int] = field(default_factory=lambda: [32, 64])  # one strided conv level per entry
    steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 0


class AttributeNet(nn.Module):
    """(B,4,H,W) rgba -> (B,L) logits."""

    def __init__(self, size: int, labels: int, channels: list[int]) -> None:
        super().__init__()
        if not channels:
            raise SpriteforgeError("classifier: channels must list at least one level.")
        check_halvable("classifier", size, size, len(channels), f", or fewer levels (channels={channels})")
        side = size // 2 ** len(channels)
        self.features = nn.Sequential(DownStack(4, channels), nn.Flatten())  # (B, C*side*side): where matters
        self.head = nn.Linear(channels[-1] * side * side, labels)

    def forward(self, rgba: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(rgba))


@dataclass
class Classifier:
    """A trained attribute classifier: `probabilities` of each label for any sprites of its size."""

    net: AttributeNet
    labels: LabelSpec
    palette: Palette
    size: int
    config: ClassifierConfig
    metrics: dict[str, Any]

    @torch.no_grad()
    def probabilities(self, sprites: SpriteSet, batch_size: int = 512) -> np.ndarray:
        """(N,L): softmax over classes (categorical) or one sigmoid per attribute (multi-hot)."""
        if sprites.size != (self.size, self.size):
            raise SpriteforgeError(
                f"the classifier was trained on {self.size}x{self.size} sprites, not {sprites.size[1]}x{sprites.size[0]}."
            )
        self.net.eval()
        rgba = torch.from_numpy(sprites.to_rgba()).permute(0, 3, 1, 2).float() / 255.0  # (N,4,H,W)
        device = next(self.net.parameters()).device
        logits = torch.cat([self.net(chunk.to(device)).cpu() for chunk in rgba.split(batch_size)])
        return _probabilities(logits, self.labels).numpy()

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with io.atomic_path(out / WEIGHTS) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "spriteforge-classifier-1"})
        self.palette.save(out / runfiles.PALETTE)
        io.write_text(out / runfiles.LABELS, self.labels.to_json())
        document = {"size": self.size, "config": asdict(self.config), "metrics": self.metrics}
        io.write_text(out / CONFIG, json.dumps(document, indent=2) + "\n")


def _probabilities(logits: torch.Tensor, labels: LabelSpec) -> torch.Tensor:
    return logits.softmax(-1) if labels.kind == CATEGORICAL else logits.sigmoid()


def _loss(logits: torch.Tensor, target: torch.Tensor, labels: LabelSpec) -> torch.Tensor:
    if labels.kind == CATEGORICAL:
        return F.cross_entropy(logits, target.long())
    return F.binary_cross_entropy_with_logits(logits, target.float())


def train_classifier(
    data: str | Path,
    labels: str | Path,
    out: str | Path,
    *,
    label_column: str | None = None,
    size: int | None = None,
    crop: bool = False,
    config: ClassifierConfig | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Classifier:
    """Train on a seeded split of labelled sprites, measure held-out accuracy and AUC, save the folder `out`.

    overrides: ClassifierConfig fields (steps, batch_size, lr, channels, val_fraction, seed)."""
    out = Path(out)
    if (out / CONFIG).exists():
        raise SpriteforgeError(f"{out} already holds a classifier: choose another --out, or delete it.")
    config = config or ClassifierConfig()
    unknown = sorted(set(overrides) - set(asdict(config)))
    if unknown:
        raise SpriteforgeError(
            f"classifier: unknown setting(s) {', '.join(unknown)}; known: {', '.join(asdict(config))}."
        )
    config = ClassifierConfig(**{**asdict(config), **overrides})
    sprites = load_sprites(data, size=size, crop=crop, labels=labels, label_column=label_column)
    train_set, held_out = sprites.split(config.val_fraction, seed=config.seed)
    if not len(held_out):
        raise SpriteforgeError(
            f"{data}: too few sprites ({len(sprites)}) to hold any out; use more, or a larger val_fraction."
        )
    spec = sprites.label_spec
    if spec is None:  # load_sprites attaches a spec whenever it is given labels
        raise SpriteforgeError(f"{labels}: no labels were read for the sprites in {data}.")
    torch.manual_seed(config.seed)
    net = AttributeNet(sprites.size[0], len(spec), config.channels)
    _fit(net, train_set, spec, config, progress)
    classifier = Classifier(net, spec, sprites.palette, sprites.size[0], config, {})
    classifier.metrics = {"train_sprites": len(train_set), **held_out_metrics(classifier, held_out)}
    classifier.save(out)
    return classifier


def _fit(net: AttributeNet, sprites: SpriteSet, spec: LabelSpec, config: ClassifierConfig, progress: bool) -> None:
    """AdamW with cosine decay over seeded shuffled batches; the sprites go in as RGBA of their palette."""
    batches = SpriteBatches(
        sprites.indices,
        sprites.labels,
        min(config.batch_size, len(sprites)),
        num_colors=len(sprites.palette),
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    colors = torch.from_numpy(sprites.palette.colors.copy()).float() / 255.0  # (K,4)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    stream = (batch for _ in iter(int, 1) for batch in batches)  # endless: epoch after epoch
    net.train()
    for _ in track(range(config.steps), "training classifier", enabled=progress):
        batch = next(stream)
        rgba = colors[batch["indices"]].permute(0, 3, 1, 2)  # (B,4,H,W)
        loss = _loss(net(rgba), batch["labels"], spec)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


def held_out_metrics(classifier: Classifier, sprites: SpriteSet) -> dict[str, Any]:
    """Accuracy (top-1, or per-attribute at 0.5 and whole-row exact match) and per-label ROC AUC (one vs rest)."""
    if sprites.labels is None:
        raise SpriteforgeError(f"held-out metrics need labelled sprites; these {len(sprites)} have no labels.")
    probabilities = classifier.probabilities(sprites)  # (N,L)
    spec = classifier.labels
    if spec.kind == CATEGORICAL:
        truth = np.eye(len(spec), dtype=np.float32)[sprites.labels.astype(np.int64)]
        metrics = {"accuracy": float((probabilities.argmax(1) == sprites.labels).mean())}
    else:
        truth = sprites.labels
        predicted = probabilities > 0.5
        metrics = {
            "accuracy": float((predicted == (truth > 0.5)).mean()),
            "exact_match": float((predicted == (truth > 0.5)).all(1).mean()),
        }
    aucs = {name: auc(probabilities[:, i], truth[:, i]) for i, name in enumerate(spec.names)}
    defined = [value for value in aucs.values() if value is not None]
    return {
        "held_out_sprites": len(sprites),
        **metrics,
        "mean_auc": float(np.mean(defined)) if defined else None,
        "auc": aucs,  # None where the held-out set has only positives or only negatives
    }


def auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """ROC AUC by ranks (Mann-Whitney U): the chance a random positive scores above a random negative, ties
    counting half. None when there are no positives or no negatives."""
    positive = np.asarray(truth) > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Runs of equal values: each gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of (start+1 .. end)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> Classifier:
    """A classifier folder written by `train_classifier` / `spriteforge classifier train`."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise SpriteforgeError(
            f"{path}: not a classifier (no {CONFIG}). Give the folder `spriteforge classifier train --out` wrote."
        )
    document = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    config = ClassifierConfig(**document["config"])
    labels = LabelSpec.from_json((path / runfiles.LABELS).read_text(encoding="utf-8"))
    net = AttributeNet(document["size"], len(labels), config.channels)
    try:
        net.load_state_dict(load_file(str(path / WEIGHTS)))
    except Exception as error:  # missing, corrupt or foreign weights: all bad input
        raise SpriteforgeError(f"{path / WEIGHTS}: cannot load ({error}). Train the classifier again.") from None
    palette = Palette.load(path / runfiles.PALETTE)
    return Classifier(net.to(device).eval(), labels, palette, document["size"], config, document["metrics"])
