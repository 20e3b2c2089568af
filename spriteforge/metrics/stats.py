"""Estimates with their sample count and bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP = 200


@dataclass(frozen=True)
class Estimate:
    """A metric value computed from `n` samples, with a 95% bootstrap interval [low, high] when one applies."""

    value: float
    n: int
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def format(self, digits: int = 4) -> str:
        """'0.8123 [0.8001, 0.8240] (n=1000)' or '0.8123 (n=1000)'."""
        interval = f" [{self.low:.{digits}f}, {self.high:.{digits}f}]" if self.low is not None else ""
        return f"{self.value:.{digits}f}{interval} (n={self.n})"


def bootstrap_values(
    statistic: Callable[[np.ndarray], float], count: int, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> np.ndarray:
    """(resamples,) values of `statistic(indices)`, each on `count` indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, count, count)) for _ in range(resamples)])


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The central 95% of bootstrap values."""
    tail = (1.0 - CONFIDENCE) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    count: int,
    resamples: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of `statistic(indices)` over `resamples` draws of `count` indices with replacement."""
    return percentile_interval(bootstrap_values(statistic, count, resamples, seed))


def mean_estimate(values: np.ndarray, resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Estimate:
    """The mean of per-sample values, with a bootstrap interval (none for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or resamples < 1:
        return Estimate(float(values.mean()) if len(values) else float("nan"), len(values))
    low, high = bootstrap(lambda idx: float(values[idx].mean()), len(values), resamples, seed)
    return Estimate(float(values.mean()), len(values), low, high)
