"""What every tutorial in docs/learn shares: where the data is, how long to train, where pictures go.

The notebooks import it as `import _learn as L` (they run with docs/learn as the working directory). It holds
no maths and no model code: everything a tutorial teaches is in the tutorial, through spriteforge's public API.

Environment variables:
    SPRITEFORGE_TEST_DATA     the shared CC0 data folder (kenney/, ...); default <repo>/../shared/data. When it is
                              absent, tutorials fall back to `sf.load_sprites("procedural")` (generated offline).
    SPRITEFORGE_LEARN_TINY=1  tiny budgets (a few training steps, few samples) so that CI runs every notebook in
                              seconds; the pictures are then meaningless and go to the build folder, not docs/.
    SPRITEFORGE_LEARN_BUILD   where runs and tiny-mode pictures go; default docs/learn/_build (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

LEARN_DIR = Path(__file__).resolve().parent
REPO_ROOT = LEARN_DIR.parents[1]
# Full-mode pictures are the ones README and docs/learn/README.md show.
DOCS_FIGURES = REPO_ROOT / "docs" / "images" / "learn"


def tiny() -> bool:
    """True when SPRITEFORGE_LEARN_TINY=1: CI's budget, seconds per notebook."""
    return os.environ.get("SPRITEFORGE_LEARN_TINY", "") == "1"


def budget(full: int, tiny_value: int) -> int:
    """The number (training steps, samples, epochs) to use: `full` on a laptop, `tiny_value` in CI."""
    return tiny_value if tiny() else full


def data_dir() -> Path | None:
    """The shared CC0 data folder ($SPRITEFORGE_TEST_DATA, else <repo>/../shared/data), or None when it is absent:
    then use `sf.load_sprites("procedural")`, which needs no files."""
    folder = Path(os.environ.get("SPRITEFORGE_TEST_DATA") or REPO_ROOT.parent / "shared" / "data").expanduser()
    return folder.resolve() if folder.is_dir() else None


def kenney_dir() -> Path | None:
    """The Kenney packs (CC0): tiles/<pack>/*.png and labels.csv (file, pack, ...), or None when absent."""
    base = data_dir()
    folder = base / "kenney" if base is not None else None
    return folder if folder is not None and (folder / "labels.csv").is_file() else None


def build_dir() -> Path:
    """The git-ignored working folder for runs and tiny-mode pictures."""
    folder = Path(os.environ.get("SPRITEFORGE_LEARN_BUILD") or LEARN_DIR / "_build")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def figure_dir() -> Path:
    """Where a notebook saves its pictures: docs/images/learn in full mode (committed, shown in the docs); in tiny
    mode a folder of the build dir, so that CI never overwrites the real pictures with tiny-budget ones."""
    folder = build_dir() / "figures-tiny" if tiny() else DOCS_FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(fig: object, name: str) -> Path:
    """Save a matplotlib figure as figure_dir()/name (a .png name) and return the path."""
    path = figure_dir() / name
    fig.savefig(path, dpi=100, bbox_inches="tight")  # type: ignore[attr-defined]
    return path


def run_dir(name: str) -> Path:
    """A fresh (not yet existing) run folder build_dir()/runs/name: a previous run of the same name is removed, so
    that re-running a notebook trains again instead of refusing to overwrite."""
    folder = build_dir() / "runs" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def sprite_grid(rgba: np.ndarray, columns: int | None = None, gap: int = 1, background: int = 200) -> np.ndarray:
    """(N,H,W,4) uint8 sprites -> one (rows*(H+gap)+gap, columns*(W+gap)+gap, 4) image for plt.imshow, with
    transparent pixels shown on a light grey background (matplotlib would otherwise show them as white)."""
    count, height, width, _ = rgba.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    grid = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 4), background, np.uint8)
    grid[..., 3] = 255
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    # Composite each sprite over the background: out = a * colour + (1 - a) * background.
    flat = (alpha * rgba[..., :3] + (1.0 - alpha) * background).round().astype(np.uint8)
    for i in range(count):
        top, left = gap + (i // columns) * (height + gap), gap + (i % columns) * (width + gap)
        grid[top : top + height, left : left + width, :3] = flat[i]
    return grid


def show(ax: object, sprites: object, title: str | None = None, columns: int | None = None) -> None:
    """Draw a SpriteSet or (N,H,W,4) uint8 array as one grid on a matplotlib axis, pixels crisp, no ticks."""
    rgba = sprites.to_rgba() if hasattr(sprites, "to_rgba") else np.asarray(sprites)
    ax.imshow(sprite_grid(rgba, columns), interpolation="nearest")  # type: ignore[attr-defined]
    ax.set_axis_off()  # type: ignore[attr-defined]
    if title:
        ax.set_title(title, fontsize=10)  # type: ignore[attr-defined]


def train_settings(steps: int, *more: str) -> list[str]:
    """`overrides` for sf.train in a tutorial: `steps` training steps, no progress bar, no checkpoints or sample grids
    along the way, one validation at the end; `more` are added ("vae.beta=4", ...)."""
    return [
        f"train.max_steps={steps}",
        f"train.val_every={steps}",
        "train.sample_every=0",
        "train.checkpoint_every=0",
        "train.progress=false",
        *more,
    ]
