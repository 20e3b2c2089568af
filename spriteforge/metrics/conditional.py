"""Conditional accuracy: do sprites sampled for labels show those labels, to a classifier trained on real sprites?

The label requests are the run's held-out label rows (its validation split), drawn with a seed; for multi-hot
attributes a fifth of the requests are combinations that occur nowhere in the data (a held-out row plus one more
attribute), since sampling by new combinations is what a conditional model is for.

    categorical   a sample is right when the classifier's most likely class is the one asked
    multi-hot     per sample: the share of asked attributes the classifier finds present (p > 0.5) and the share of
                  the others it finds absent; "overall" is the mean of the two (balanced, so 90 easy absences do not
                  drown 2 asked attributes), "exact" asks for every attribute to be right
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spriteforge.data.labels import CATEGORICAL
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.stats import mean_estimate

if TYPE_CHECKING:
    from spriteforge.engine.trained import Run
    from spriteforge.metrics.classifier import Classifier

UNSEEN_SHARE = 0.2  # multi-hot: share of requests that are combinations absent from the data
THRESHOLD = 0.5


def conditional_accuracy(
    run: Run, classifier: Classifier | None = None, n: int = 1000, seed: int = 0, **opts: Any
) -> dict[str, Any]:
    """{"available": True, "overall": Estimate dict, ..., "per_label": {name: Estimate dict}} for a conditional run
    judged by `classifier`; {"available": False, "reason": ...} when it cannot be measured. `opts` are the model's
    sample options (e.g. guidance=3)."""
    labels = run.labels if is_conditional(run) else None
    if labels is None:
        return {"available": False, "reason": "the run is not conditional"}
    if classifier is None:
        return {
            "available": False,
            "reason": "needs an attribute classifier: give --classifier CLS (spriteforge classifier train)",
        }
    if classifier.labels.kind != labels.kind or classifier.labels.names != labels.names:
        raise SpriteforgeError(
            f"the classifier knows {classifier.labels.kind} labels {', '.join(classifier.labels.names[:6])}..., the run "
            f"{labels.kind} labels {', '.join(labels.names[:6])}...: train the classifier on the run's labels CSV."
        )
    requests, unseen = label_requests(run, n, seed)
    samples, _ = run.generate(len(requests), seed=seed, labels=torch.from_numpy(requests), **opts)
    probabilities = classifier.probabilities(samples)  # (n,L)
    if labels.kind == CATEGORICAL:
        return _categorical(probabilities, requests, labels.names)
    return _multi_hot(probabilities, requests, unseen, labels.names)


def label_requests(run: Run, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) or (n,L) label rows to sample for, and (n,) bool: which are combinations absent from the data."""
    data = run.training_data()
    if run.labels is None or data.labels is None:
        raise SpriteforgeError(f"{run.path}: label requests need a run trained with labels.")
    _, held_out = data.split(run.config.train.val_fraction, seed=run.config.train.seed)
    pool = held_out.labels if held_out.labels is not None and len(held_out) else data.labels
    rng = np.random.default_rng(seed)
    rows = pool[rng.choice(len(pool), n)]
    unseen = np.zeros(n, dtype=bool)
    if run.labels.kind == CATEGORICAL:
        return rows, unseen
    existing = {row.tobytes() for row in data.labels.astype(np.float32)}
    for i in rng.choice(n, int(n * UNSEEN_SHARE), replace=False):
        absent = np.flatnonzero(rows[i] < 0.5)
        for extra in rng.permutation(absent):  # the first added attribute that makes a new combination
            candidate = rows[i].copy()
            candidate[extra] = 1.0
            if candidate.astype(np.float32).tobytes() not in existing:
                rows[i], unseen[i] = candidate, True
                break
    return rows.astype(np.float32), unseen


def _categorical(probabilities: np.ndarray, requests: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    right = probabilities.argmax(1) == requests
    per_label = {
        name: mean_estimate(right[requests == i]).to_dict() for i, name in enumerate(names) if (requests == i).any()
    }
    return {"available": True, "overall": mean_estimate(right).to_dict(), "per_label": per_label}


def _multi_hot(
    probabilities: np.ndarray, requests: np.ndarray, unseen: np.ndarray, names: tuple[str, ...]
) -> dict[str, Any]:
    asked, found = requests > 0.5, probabilities > THRESHOLD  # (n,L) each
    present = (found & asked).sum(1) / np.maximum(asked.sum(1), 1)  # (n,) asked attributes found
    absent = (~found & ~asked).sum(1) / np.maximum((~asked).sum(1), 1)  # (n,) unasked attributes not found
    balanced = (present + absent) / 2
    per_label = {
        name: mean_estimate(found[asked[:, i], i]).to_dict() for i, name in enumerate(names) if asked[:, i].any()
    }
    result = {
        "available": True,
        "overall": mean_estimate(balanced).to_dict(),
        "asked_present": mean_estimate(present).to_dict(),
        "unasked_absent": mean_estimate(absent).to_dict(),
        "exact": mean_estimate((found == asked).all(1)).to_dict(),
        "per_label": per_label,  # how often an asked attribute is found, per attribute
    }
    if unseen.any():
        result["unseen_overall"] = mean_estimate(balanced[unseen]).to_dict()
    return result


def is_conditional(run: Run) -> bool:
    """True when the run has labels and its model samples from them."""
    return run.labels is not None and run.model.is_conditional
