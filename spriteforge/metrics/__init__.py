"""Metrics: FID/KID/precision-recall on Inception features, pixel-art statistics, novelty, reconstruction.

Every figure is an `Estimate`: a value, the number of samples behind it and, where it applies, a bootstrap
confidence interval.
"""

# The metric groups `spriteforge eval` knows, in report order (kept here so the CLI can list them cheaply).
METRIC_GROUPS = ("fid", "kid", "pr", "palette", "novelty", "recon", "conditional")
