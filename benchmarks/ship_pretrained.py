"""Ship a trained run inside the package as `pretrained:NAME` (maintainers; users load them, they do not add them).

    python benchmarks/ship_pretrained.py RUN --name NAME --description "one line" --data "Kenney focused_873 (CC0)" \\
        --command "spriteforge train ..." [--card-from benchmarks/results/leaderboard_focused_873.json [--row FAMILY]] \\
        [--dtype float16|float32] [--check 256] [--into DIR]

Copies what loading RUN needs (config.yaml, palette.hex, labels.json, metrics.json, weights.safetensors) into
spriteforge/pretrained/NAME/ with a card.json (engine/pretrained.py `install`): refused for a run whose config mentions
CryptoPunks, and when the shipped models would pass 10 MB together. With --card-from, the card carries the run's
leaderboard row (by default the row named like RUN's folder without its stage suffix: runs/leaderboard/focused_873/
discrete_diffusion.0 -> discrete_diffusion). With float16 weights, --check N samples N sprites from the run and from the
shipped entry with one seed and records how far they agree (palette-exact, share of equal pixels) on the card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import spriteforge as sf
from spriteforge import io
from spriteforge.engine import pretrained
from spriteforge.errors import SpriteforgeError
from spriteforge.metrics.evaluate import requested_labels

ROOT = Path(__file__).resolve().parents[1]
LICENCE = "CC0-1.0 (Kenney, www.kenney.nl)"
NOT_FIGURES = ("name", "grid")  # a leaderboard row's keys that are not measurements
NEAR_EMPTY = 0.05  # benchmarks/leaderboard.py's threshold: fewer than 5% of the pixels off the background


def leaderboard_card(file: Path, row_name: str) -> dict[str, Any]:
    """The card's `leaderboard`: the named row of every table (sample count) of a benchmarks/leaderboard.py result."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        tables = document["tables"]
    except (OSError, ValueError, KeyError) as error:
        raise SpriteforgeError(f"--card-from {file}: not a leaderboard result ({error}).") from None
    found = {
        count: {key: value for key, value in row.items() if key not in NOT_FIGURES}
        for count, rows in tables.items()
        for row in rows
        if row.get("name") == row_name
    }
    if not found:
        names = sorted({row.get("name") for rows in tables.values() for row in rows})
        raise SpriteforgeError(f"--row {row_name!r}: not in {file}; its rows: {', '.join(map(str, names))}.")
    shown = file.resolve().relative_to(ROOT).as_posix() if file.resolve().is_relative_to(ROOT) else file.name
    return {
        "source": shown,
        "dataset": document.get("dataset"),
        "device": document.get("device"),
        "budget_seconds": document.get("budget_seconds"),
        "row": row_name,
        "tables": found,
    }


def fp16_check(run: Path, entry: Path, n: int) -> dict[str, Any]:
    """The same seeded samples from the float32 run and the shipped entry: whether both are palette-exact, the share
    of pixels and of whole sprites that are equal, and each one's share of near-empty sprites (as the leaderboard
    counts them, against the commonest colour of the samples)."""
    original, shipped = sf.load_run(run), sf.load_run(entry)
    labels = requested_labels(original, n, seed=0)
    first, first_adherence = original.generate(n, seed=0, labels=labels)
    second, second_adherence = shipped.generate(n, seed=0, labels=labels)
    same = first.indices == second.indices  # (n,H,W)
    background = int(np.bincount(first.indices.ravel()).argmax())
    return {
        "samples": n,
        "palette_exact": bool(first_adherence.min() == 1.0 and second_adherence.min() == 1.0),
        "pixel_agreement": round(float(same.mean()), 4),
        "sprite_agreement": round(float(same.all(axis=(1, 2)).mean()), 4),
        "float32_near_empty": round(_near_empty_share(first.indices, background), 4),
        "float16_near_empty": round(_near_empty_share(second.indices, background), 4),
    }


def _near_empty_share(indices: np.ndarray, background: int) -> float:
    """Share of sprites with fewer than NEAR_EMPTY of their pixels off the background colour."""
    off = (indices != background).reshape(len(indices), -1).mean(1)
    return float((off < NEAR_EMPTY).mean())


def default_row(run: Path) -> str:
    """The leaderboard names a family's run folder FAMILY.STAGE: the row is FAMILY."""
    return run.resolve().name.rsplit(".", 1)[0]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the trained run folder")
    parser.add_argument("--name", required=True, help="ships as pretrained:NAME")
    parser.add_argument("--description", required=True, help="one line: what it makes")
    parser.add_argument("--data", required=True, help="the training data in words, e.g. 'Kenney focused_873 (CC0)'")
    parser.add_argument("--command", required=True, help="the command that trained it")
    parser.add_argument("--licence", default=LICENCE, help=f"the training data's licence (default: {LICENCE})")
    parser.add_argument("--card-from", type=Path, help="a benchmarks/results/leaderboard_<set>.json")
    parser.add_argument("--row", help="its row (default: RUN's folder name without the .STAGE suffix)")
    parser.add_argument("--dtype", choices=(pretrained.FLOAT16, pretrained.FLOAT32), default=pretrained.FLOAT16)
    parser.add_argument("--check", type=int, default=256, help="float16: sprites compared with float32 (0: none)")
    parser.add_argument("--into", type=Path, help="the pretrained directory (default: the package's)")
    args = parser.parse_args(argv)
    leaderboard = {} if args.card_from is None else leaderboard_card(args.card_from, args.row or default_row(args.run))
    card = pretrained.Card(args.description, args.data, args.licence, args.command, leaderboard=leaderboard)
    entry = pretrained.install(args.run, args.name, card, dtype=args.dtype, into=args.into)
    if args.dtype == pretrained.FLOAT16 and args.check > 0:
        shipped = pretrained.Card.from_json((entry / pretrained.CARD).read_text(encoding="utf-8"))
        shipped.fp16_check = fp16_check(args.run, entry, args.check)
        io.write_text(entry / pretrained.CARD, shipped.to_json())
    print((entry / pretrained.CARD).read_text(encoding="utf-8"))
    print(f"shipped {args.run} as {pretrained.PREFIX}{args.name} in {entry}")
    return entry


if __name__ == "__main__":
    try:
        main()
    except SpriteforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
