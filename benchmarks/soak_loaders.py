"""Soak of the image loaders with hostile files, for docs/reliability.md (not in CI; tests/test_loader_fuzz.py is
the bounded version in `make test`).

    PYTHONPATH=. .venv/bin/python benchmarks/soak_loaders.py --files 10000 --out benchmarks/results/soak_loaders.json

Makes `--files` hostile files (the kinds of tests/hostile_images.py, in turn, each from its own seed) and puts
every one through each loader: as a sprite sheet (`load_sprites(file, tile=...)`), single-file conversion
(`convert_file`) and, for files with bytes, as a palette file (`Palette.load` of the same bytes named .hex/.gpl/.json).
Then, in folders of `--per-folder` files plus one good sprite: folder loading with palette extraction
(`load_sprites(folder, max_colors=16)`) and folder conversion (`convert_folder`). Each call ends as one of:
ok, clear error (SpriteforgeError; for a single file, naming it), unclear error (a SpriteforgeError that does not
name the file), other exception, or hang (still running after `--deadline` seconds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the hostile kinds are shared with the fuzz tests

from hostile_images import FILE_KINDS, KINDS, Hang, deadline, write_hostile  # noqa: E402, I001
from spriteforge import io  # noqa: E402
from spriteforge.convert.pixelize import PixelizeConfig, convert_file, convert_folder, pixelizer  # noqa: E402
from spriteforge.data.palette import Palette  # noqa: E402
from spriteforge.data.sprites import load_sprites  # noqa: E402
from spriteforge.errors import SpriteforgeError  # noqa: E402

OUTCOMES = ("ok", "clear error", "unclear error", "other exception", "hang")


def outcome(
    examples: dict[str, str], seconds: float, names: Path | None, function: Callable[..., object], *args, **kwargs
) -> str:
    """Run `function(*args, **kwargs)` and classify how it ended; keep the first message of each unexpected outcome
    as an example."""
    try:
        with deadline(seconds):
            function(*args, **kwargs)
        return "ok"
    except SpriteforgeError as error:
        if names is None or names.name in str(error):
            return "clear error"
        examples.setdefault("unclear error", f"{names}: {error}")
        return "unclear error"
    except Hang:
        examples.setdefault("hang", str(names))
        return "hang"
    except Exception as error:  # noqa: BLE001  # counting these is the point of the soak
        examples.setdefault("other exception", f"{names}: {type(error).__name__}: {error}")
        return "other exception"


def extract_palette(folder: Path, out: Path, **options: object) -> None:
    """What `spriteforge palette extract FOLDER` does."""
    load_sprites(folder, max_colors=16, **options).palette.save(out)


def soak(files: int, per_folder: int, seconds: float, work: Path) -> dict:
    convert = pixelizer(PixelizeConfig(size=8, palette="pico8"))
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, str] = {}
    good = np.zeros((8, 8, 4), np.uint8)
    good[2:6, 2:6] = (250, 200, 40, 255)
    for start in range(0, files, per_folder):
        folder = work / f"batch{start:06d}"
        folder.mkdir()
        io.write_png(folder / "good.png", good)
        for number in range(start, min(start + per_folder, files)):
            kind = KINDS[number % len(KINDS)]
            rng = random.Random(number)
            path = write_hostile(kind, rng, folder, stem=f"f{number:05d}")
            tile = rng.randint(1, 9)
            counts["sheet"][outcome(examples, seconds, path, load_sprites, path, tile=tile)] += 1
            single = work / "single.png"
            counts["convert FILE"][outcome(examples, seconds, path, convert_file, path, single, convert)] += 1
            if kind in FILE_KINDS:
                palette_file = work / f"palette{rng.choice(['.hex', '.gpl', '.json'])}"
                palette_file.write_bytes(path.read_bytes())
                counts["palette file"][outcome(examples, seconds, palette_file, Palette.load, palette_file)] += 1
        palette = work / "extracted.hex"
        counts["folder + palette extract"][outcome(examples, seconds, None, extract_palette, folder, palette)] += 1
        cropped = outcome(examples, seconds, None, extract_palette, folder, palette, size=16, crop=True)
        counts["folder --size 16 --crop + palette extract"][cropped] += 1
        converted = work / f"converted{start:06d}"
        counts["convert DIR"][
            outcome(examples, seconds, None, convert_folder, folder, converted, convert, progress=False)
        ] += 1
    return {
        "files": files,
        "per_folder": per_folder,
        "deadline_s": seconds,
        "by_loader": {loader: {o: counts[loader][o] for o in OUTCOMES} for loader in counts},
        "examples": examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--per-folder", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds before a call counts as a hang")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/soak_loaders.json")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        results = soak(args.files, args.per_folder, args.deadline, Path(work))
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"| loader | {' | '.join(OUTCOMES)} |\n|---|{'---|' * len(OUTCOMES)}")
    for loader, row in results["by_loader"].items():
        print(f"| {loader} | {' | '.join(f'{row[o]:,}' for o in OUTCOMES)} |")
    print(f"{args.files:,} files in {results['seconds']} s; examples: {results['examples'] or 'none'}; -> {args.out}")


if __name__ == "__main__":
    main()
