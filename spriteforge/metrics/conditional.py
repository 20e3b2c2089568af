"""Conditional accuracy: do sprites sampled for a label show that label?

Measuring it needs an attribute classifier trained on real sprites (`spriteforge classifier train`), which is
not built yet. Until it is, this says so instead of returning a number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spriteforge.engine.run import Run


def conditional_accuracy(run: Run) -> dict[str, Any]:
    """{"available": False, "reason": ...}: why no conditional accuracy can be reported for this run.

    A run is conditional when it has a label vocabulary and its model accepts labels.
    """
    if is_conditional(run):
        return {
            "available": False,
            "reason": "needs an attribute classifier (spriteforge classifier train), which is not built yet",
        }
    return {"available": False, "reason": "the run is not conditional"}


def is_conditional(run: Run) -> bool:
    """True when the run has labels and its model samples from them."""
    return run.labels is not None and run.model.is_conditional
