# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Images to pixel art
#
# Shrinking a photo does not make pixel art. Pixel art has three properties a resized photo lacks: an exact grid
# (every pixel one flat colour), a small palette, and deliberate patterns where a photo has gradients. spriteforge's
# classical *pixelizer* (`sf.pixelize`) builds each one in turn, with no training; a *CycleGAN* learns the whole
# mapping from unpaired examples instead. This notebook takes both apart on public-domain photos.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
from _learn import budget, data_dir, figure_dir, tiny
from PIL import Image

FIGURES = figure_dir()
DATA = data_dir()


def load(path):
    """An image file as (H,W,4) uint8 RGBA."""
    return np.asarray(Image.open(path).convert("RGBA"))


def synthetic(seed, size=240):
    """Offline stand-in for a photo: soft discs over a gradient, (size,size,4) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([x, y, 1 - x * y], -1)
    for _ in range(6):
        cy, cx, r = rng.random(3) * [1, 1, 0.3] + [0, 0, 0.1]
        image = np.where(((y - cy) ** 2 + (x - cx) ** 2 < r**2)[..., None], rng.random(3) * (1 - y[..., None]), image)
    return np.concatenate([(image * 255).astype(np.uint8), np.full((size, size, 1), 255, np.uint8)], -1)


if DATA is not None:  # CC0 / public-domain photos (the same files scikit-image ships)
    PHOTOS = DATA / "photos"
    cat, astronaut, coffee = (load(PHOTOS / name) for name in ("chelsea.png", "astronaut.png", "coffee.png"))
else:
    PHOTOS = None
    cat, astronaut, coffee = (synthetic(seed) for seed in range(3))


def show(ax, image, title=""):
    ax.imshow(image, interpolation="nearest")
    ax.set_facecolor("#b0b0b0")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def pixel_art(image, **settings):
    """One image -> (h,w,4) uint8 pixel art, through sf.pixelize with these PixelizeConfig settings."""
    return sf.pixelize(image, sf.PixelizeConfig(**settings)).to_rgba()[0]


# %% [markdown]
# ## 1. The grid
#
# The output's longer side has `size` pixels; the image is cut into that many cells (of possibly non-integer
# size, so cells differ by at most one source pixel), and each cell becomes **one** output pixel. How a cell's
# colour is chosen is the `downscale` option: `area` averages it, `median` takes the per-channel median (robust to
# a few stray pixels), `edge` lets the darker side win where the cell straddles an edge, so thin dark lines (the
# cat's whiskers and eye rims) survive, as an artist would keep them.

# %%
size = 32
height, width = cat.shape[:2]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
show(axes[0], cat, f"photo {width}x{height}, {size}-pixel grid")
rows = round(size * min(height, width) / max(height, width))
for x in np.linspace(0, width, size + 1):
    axes[0].axvline(x - 0.5, color="white", lw=0.4)
for y in np.linspace(0, height, rows + 1):
    axes[0].axhline(y - 0.5, color="white", lw=0.4)
for ax, method in zip(axes[1:], ("area", "median", "edge")):
    show(ax, pixel_art(cat, size=size, palette="auto:16", downscale=method), f"downscale={method}, auto:16")
fig.tight_layout()
fig.savefig(FIGURES / "08_grid.png", dpi=110)

# %% [markdown]
# ## 2. The palette
#
# `auto:K` fits K colours (the transparent entry included) to the cells by k-means: the colours go where the image
# needs them. A named palette is used as it is: its colours fix the mood whatever the image (`sf.Palette.names()`
# lists those that ship).

# %%
palettes = ["auto:4", "auto:8", "auto:16", "gameboy", "pico8", "db32"]
fig, axes = plt.subplots(2, len(palettes), figsize=(2.1 * len(palettes), 4.4))
for col, name in enumerate(palettes):
    art = sf.pixelize(astronaut, sf.PixelizeConfig(size=48, palette=name))
    show(axes[0, col], art.to_rgba()[0], name)
    show(axes[1, col], art.palette.swatch(cell=8, columns=8), f"{len(art.palette) - 1} colours")
fig.tight_layout()
fig.savefig(FIGURES / "08_palettes.png", dpi=110)
print("shipped palettes:", sf.Palette.names())

# %% [markdown]
# ## 3. Dithering
#
# With few colours, a gradient becomes bands. Dithering trades colour accuracy for texture: neighbouring pixels
# alternate between two palette colours so that, seen from afar, they mix. `bayer4` and `bayer8` are *ordered*
# dithers (a fixed threshold matrix: a regular, tileable pattern, the classic pixel-art look); `floyd` is
# Floyd-Steinberg *error diffusion* (each pixel's rounding error is pushed to its unvisited neighbours: organic,
# noisier). A ramp shows the patterns bare; the coffee cup shows them at work, in the Game Boy's four greens.

# %%
ramp = np.zeros((12, 64, 4), np.uint8)
ramp[..., :3] = np.linspace(0, 255, 64)[None, :, None].astype(np.uint8)
ramp[..., 3] = 255
dithers = ["none", "bayer4", "bayer8", "floyd"]
fig, axes = plt.subplots(len(dithers), 2, figsize=(10, 1.9 * len(dithers)), gridspec_kw={"width_ratios": [2.2, 1]})
for row, dither in enumerate(dithers):
    show(axes[row, 0], pixel_art(ramp, size=64, palette="gameboy", dither=dither), f"dither={dither}")
    show(axes[row, 1], pixel_art(coffee, size=64, palette="gameboy", dither=dither))
fig.tight_layout()
fig.savefig(FIGURES / "08_dithering.png", dpi=110)

# %% [markdown]
# On the ramp, the patterns appear only at the transitions between two greens: spriteforge's ordered dither mixes
# two colours only where neither alone is close enough (it charges a pattern for its texture), so flat areas stay
# flat. Floyd-Steinberg here passes on only three quarters of the error: full diffusion on a 64-pixel image is
# mostly noise. Which dither is "right" is a matter of style; flat-shaded art usually wants `none`.
#
# ## 4. A learned converter: CycleGAN
#
# The pixelizer follows rules. A CycleGAN (Zhu et al. 2017) learns the mapping from two unpaired sets, random crops
# of photos (domain A) and real sprites (domain B): a generator $G_{AB}$ turns crops into sprites, a second one
# $G_{BA}$ turns them back, two discriminators judge realism, and the *cycle* loss
# $\lVert G_{BA}(G_{AB}(a)) - a \rVert_1$ keeps the content. spriteforge's $G_{AB}$ ends in logits over the sprites'
# palette, so its outputs are palette-exact on the exact grid by construction.
#
# Adversarial training is slow to get anywhere: trained from scratch, this CycleGAN collapses to a few terrain
# fragments whatever the photo, after minutes and still after 8 of them (docs/experiments/convert.md). The
# *residual* CycleGAN (`cyclegan.residual=true`) starts from the pixelizer instead: its $G_{AB}$ outputs the
# pixelizer's nearest palette colour plus a learned correction that may only move a pixel to a nearby colour, so
# it cannot lose the picture, and training only teaches it where to deviate. This notebook trains both, for 90
# and 150 seconds on a laptop CPU.

# %%
if PHOTOS is None:  # offline: synthetic photos and procedural sprites
    PHOTOS = Path(tempfile.mkdtemp()) / "photos"
    PHOTOS.mkdir()
    for seed in range(4):
        Image.fromarray(synthetic(seed)).save(PHOTOS / f"synthetic_{seed}.png")
    SPRITES, extra = "procedural", [f"data.count={budget(2000, 64)}"]
else:
    SPRITES, extra = (
        DATA / "kenney" / "tiles" / "roguelike_rpg",
        [
            "data.size=16",
            "data.max_colors=32",
            f"data.count={budget(100_000, 64)}",
        ],
    )


def train_cyclegan(name, seconds, *more):
    """A small CycleGAN from the photos (domain A) to the sprites, trained for `seconds` (full mode)."""
    run = sf.train(
        "cyclegan",
        SPRITES,
        tempfile.mkdtemp() + "/" + name,
        time=None if tiny() else f"{seconds}s",
        overrides=[
            f"train.max_steps={budget(100_000, 2)}",
            f"data.domain_a={PHOTOS}",
            f"data.domain_a_count={budget(512, 16)}",
            "cyclegan.width=16",
            "cyclegan.disc_width=16",
            "cyclegan.blocks=3",
            "train.batch_size=8",
            "train.logger=none",
            "train.progress=false",
            "train.val_every=100000",
            "train.sample_every=100000",
            *extra,
            *more,
        ],
    )
    print(f"{name}: trained {run.metrics['steps']} steps")
    return run


plain = train_cyclegan("cyclegan", 90)
residual = train_cyclegan("residual", 150, "cyclegan.residual=true")

# %% [markdown]
# Each photo below at 16 pixels, four ways: the pixelizer with its own fitted palette, the pixelizer restricted
# to the runs' palette (the sprites' colours), and the two CycleGANs' $G_{AB}$ (`sf.generator_converter`), which use
# that same palette.

# %%
palette_file = str(plain.path / "palette.hex")  # both runs index the same sprites' palette
photos = [cat, astronaut, coffee]
columns = {
    "photo": lambda image: image,
    "pixelize auto:16": lambda image: pixel_art(image, size=16, palette="auto:16"),
    "pixelize, run's palette": lambda image: pixel_art(image, size=16, palette=palette_file),
    "CycleGAN": lambda image: sf.generator_converter(plain.path, size=16)(image).to_rgba()[0],
    "residual CycleGAN": lambda image: sf.generator_converter(residual.path, size=16)(image).to_rgba()[0],
}
fig, axes = plt.subplots(len(photos), len(columns), figsize=(2.4 * len(columns), 2.3 * len(photos)))
for row, image in enumerate(photos):
    for col, (name, convert) in enumerate(columns.items()):
        show(axes[row, col], convert(image), name if row == 0 else "")
fig.tight_layout()
fig.savefig(FIGURES / "08_cyclegan.png", dpi=110)

# %% [markdown]
# In the committed figure the plain CycleGAN has collapsed, as expected: the same terrain colours whatever the
# photo. The residual one keeps each photo's layout (the cat's face, the astronaut's suit, the cup) and moves some
# pixels to other palette colours, not always for the better (the green patches beside the astronaut): 150 seconds
# teach it where to deviate only roughly. `docs/experiments/convert.md` measures both against the pixelizer.
#
# **Where next.** `spriteforge/convert/pixelize.py` describes each step of the pixelizer; from the command line:
# `spriteforge convert photo.jpg --size 48 --palette db32 --dither bayer4 --scale 4 --out art.png` and
# `spriteforge convert photo.jpg --model RUN --size 16 --scale 8 --out sprite.png`.
