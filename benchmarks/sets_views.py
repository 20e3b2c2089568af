"""Experiment: character views as sheet completion on the LPC characters (docs/experiments/sets.md).

    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/sets_views.py prepare --work /tmp/sets
    flock /tmp/spriteforge-cpu.lock .venv/bin/spriteforge train --model discrete_diffusion --preset cpu \\
        --data /tmp/sets/lpc16 --set data.sheet_csv=/tmp/sets/lpc16/labels.csv \\
        --set data.sheet_set_column=character_id --set data.sheet_slot_column=view --time 12m --logger none \\
        --out /tmp/sets/run
    flock /tmp/spriteforge-cpu.lock .venv/bin/python benchmarks/sets_views.py evaluate --work /tmp/sets

prepare: the 600 x 4 views of lpc_views (64x64) are downscaled to --size pixels with the project's own pixelizer
(cell grid of data/cells.py, `edge` downscale) into one palette of 47 colours extracted from the originals, so every
prepared sprite is exactly in the palette; labels.csv is copied beside them.
evaluate: on the run's held-out characters (its validation split: never trained on), the front view (slot 2) is
given and the other three views are completed; each generated view is compared with the real views of the same slot
of every held-out character (see `consistency`), beside two baselines that use no model: the same view of the
training character whose front is nearest the given front, and the given front itself as the guess. Writes benchmarks/results/sets_views.json and the picture
docs/images/sets_lpc_views.png (LPC characters: CC-BY-SA 3.0 / GPL 3.0, credit the LPC artists).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import spriteforge as sf
from spriteforge import io
from spriteforge.convert.pixelize import PixelizeConfig, convert_folder, pixelizer

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPRITEFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))
VIEWS = {0: "back", 1: "left", 2: "front", 3: "right"}  # lpc_views' view folders
GIVEN = 2  # the front view


def prepare(work: Path, size: int) -> Path:
    """lpc_views downscaled to size x size in one palette: work/lpc{size}/VIEW/ID.png and labels.csv."""
    source = DATA / "lpc_views"
    palette_file = work / "lpc48.hex"
    if not palette_file.exists():
        sf.load_sprites(source, max_colors=48).palette.save(palette_file)
    prepared = work / f"lpc{size}"
    if not (prepared / "labels.csv").exists():
        config = PixelizeConfig(size=size, palette=str(palette_file), downscale="edge")
        print(convert_folder(source, prepared, pixelizer(config), progress=False).summary())
        shutil.copy(source / "labels.csv", prepared / "labels.csv")
    return prepared


def distances(generated: np.ndarray, real: np.ndarray, palette: sf.Palette) -> dict[str, np.ndarray]:
    """(G,H,W) and (R,H,W) index sprites -> {name: (G,R) distances}: `pixels`, the mean absolute RGBA difference
    (shape and colour, in place); `colours`, the total variation between the two sprites' colour histograms (which
    colours and how much of each, wherever they are)."""
    to_rgba = lambda x: palette.to_rgba(x).astype(np.float32).reshape(len(x), -1) / 255.0  # noqa: E731
    g, r = to_rgba(generated), to_rgba(real)
    pixels = np.abs(g[:, None] - r[None]).mean(-1)
    k = len(palette)
    hist = lambda x: np.stack([np.bincount(s.ravel(), minlength=k)[1:] for s in x]).astype(np.float32)  # noqa: E731
    hg, hr = hist(generated), hist(real)
    hg /= np.maximum(hg.sum(1, keepdims=True), 1)
    hr /= np.maximum(hr.sum(1, keepdims=True), 1)
    colours = 0.5 * np.abs(hg[:, None] - hr[None]).sum(-1)
    return {"pixels": pixels, "colours": colours}


def consistency(distance: np.ndarray, owner: np.ndarray) -> dict[str, float]:
    """(G,R) distances of G guesses to the R real views, and (G,) the real character each guess should be.

    win_rate: over every guess and every other character, how often the guess is nearer its own character's real
    view than that other character's (ties count half); 0.5 is chance. top1: how often its own character's view is
    the nearest of all R; 1/R is chance."""
    own = distance[np.arange(len(owner)), owner][:, None]  # (G,1)
    others = np.ones_like(distance, dtype=bool)
    others[np.arange(len(owner)), owner] = False
    wins = (own < distance) + 0.5 * (own == distance)
    return {
        "win_rate": round(float(wins[others].mean()), 4),
        "top1": round(float((distance.argmin(1) == owner).mean()), 4),
    }


def evaluate(work: Path, n: int, seed: int) -> dict:
    run = sf.load_run(work / "run")
    sheets = run.training_data()
    train_set, held_out = sheets.split(run.config.train.val_fraction, seed=run.config.train.seed)
    palette, m = run.palette, len(held_out)
    print(f"{len(train_set)} training and {m} held-out characters, sheets {held_out.size[1]}x{held_out.size[0]}")
    fronts = held_out.slot(GIVEN).to_rgba()
    started = time.perf_counter()
    completed = [run.complete({GIVEN: front}, n, seed=seed + i) for i, front in enumerate(fronts)]
    seconds = time.perf_counter() - started
    owner = np.repeat(np.arange(m), n)
    given_exact = all(
        (sets.slot(GIVEN).indices == held_out.slot(GIVEN).indices[i]).all() for i, sets in enumerate(completed)
    )
    # Baseline: copy the view of the training character whose front is nearest the given front (pixel distance).
    nearest = distances(held_out.slot(GIVEN).indices, train_set.slot(GIVEN).indices, palette)["pixels"].argmin(1)
    results: dict = {
        "held_out_characters": m,
        "completions_per_character": n,
        "sampling_seconds": round(seconds, 1),
        "given_slot_bit_exact": bool(given_exact),
        "views": {},
    }
    for slot in (0, 1, 3):
        real = held_out.slot(slot).indices
        generated = np.concatenate([sets.slot(slot).indices for sets in completed])
        guesses = {
            "nearest_front_copy": train_set.slot(slot).indices[nearest],
            "given_front_itself": held_out.slot(GIVEN).indices,
        }
        view: dict = {}
        for name, table in distances(generated, real, palette).items():
            view[name] = {"model": consistency(table, owner)}
            for baseline, guess in guesses.items():
                view[name][baseline] = consistency(distances(guess, real, palette)[name], np.arange(m))
        results["views"][VIEWS[slot]] = view
    picture(held_out, completed, ROOT / "docs" / "images" / "sets_lpc_views.png")
    return results


def picture(held_out: sf.SpriteSet, completed: list[sf.SpriteSet], out: Path, characters: int = 4) -> None:
    """One column per held-out character: its real set on top, then three sets completed from its front view."""
    rows = [held_out.subset(slice(0, characters)).to_rgba()]
    rows += [np.stack([completed[i].to_rgba()[k] for i in range(characters)]) for k in range(3)]
    io.write_png(out, io.make_grid(np.concatenate(rows), columns=characters, padding=1, scale=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("prepare", "evaluate"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/sets"))
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--n", type=int, default=4, help="completions per held-out character")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.step == "prepare":
        print(prepare(args.work, args.size))
        return
    results = evaluate(args.work, args.n, args.seed)
    results["run"] = json.loads((args.work / "run" / "metrics.json").read_text())
    out = ROOT / "benchmarks" / "results" / "sets_views.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
