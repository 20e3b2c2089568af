# %% [markdown]
# # 1. Sprites are palette indices
#
# A pixel-art sprite is not a photograph. It is a small grid in which every pixel is one of a handful of colours,
# the **palette**. spriteforge stores a sprite exactly that way: an `(H, W)` array of small integers, each an
# index into a `(K, 4)` RGBA palette whose entry 0 is transparent.
#
# This tutorial shows the representation, and then the reason the whole project is built on it: a model that
# *chooses an index* can only output palette colours, while a model that *regresses RGB values* blurs and invents
# colours that the artist never used.

# %%
import _learn as L
import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch

# Kenney's Tiny Dungeon tiles (CC0) when the shared data is here, else the offline procedural sprites.
kenney = L.kenney_dir()
DATA = str(kenney / "tiles" / "tiny_dungeon") if kenney else "procedural"
COUNT = 512  # procedural only: how many to generate (Tiny Dungeon has 128 tiles)
sprites = sf.load_sprites(DATA, size=16, count=COUNT)
print(sf.describe(sprites))

# %% [markdown]
# ## One sprite, three views
#
# `sprites.indices` is `(N, H, W)` integers and `sprites.palette` turns them into colours. The index map is what a
# model sees and outputs; the RGBA picture is only drawn at the very end.

# %%
sprite = sprites.subset([7])
index_map = sprite.indices[0]  # (H, W) integers into the palette
palette_rgba = sprites.palette.to_rgba(np.arange(len(sprites.palette))[None])  # (1, K, 4): the palette as a strip

fig, axes = plt.subplots(1, 3, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
L.show(axes[0], sprite, "the sprite (RGBA)")
axes[1].imshow(index_map, cmap="tab20", interpolation="nearest")
for (row, col), value in np.ndenumerate(index_map):
    axes[1].text(col, row, str(value), ha="center", va="center", fontsize=6)
axes[1].set_title("its indices (H x W integers)", fontsize=10)
axes[1].set_axis_off()
used = np.unique(index_map)
axes[2].imshow(L.sprite_grid(palette_rgba.reshape(-1, 1, 1, 4), columns=min(16, len(sprites.palette)), gap=0))
axes[2].set_title(f"the palette: {len(sprites.palette)} entries, this sprite uses {len(used)}", fontsize=10)
axes[2].set_axis_off()
L.save_figure(fig, "01_palette_indices.png")

# %% [markdown]
# ## Why not regress colours?
#
# Suppose that in some position of the training sprites, half the pixels are red and half are blue. A model
# trained with mean squared error on RGB values is rewarded for predicting the **mean** of what it might see: purple.
# Purple is in no sprite and in no palette. A categorical model predicts a probability for each palette entry
# (50% red, 50% blue) and then *picks one*: whatever it draws is a palette colour.

# %%
red, blue = np.array([220, 40, 40]), np.array([40, 80, 220])
mse_optimum = (red + blue) / 2  # argmin_c E||c - x||^2 = E[x]
swatches = np.stack([red, blue, mse_optimum]).astype(np.uint8)[:, None, None, :]
fig, ax = plt.subplots(figsize=(4, 1.6))
ax.imshow(np.concatenate(list(np.repeat(np.repeat(swatches, 20, 1), 20, 2)), axis=1))
ax.set_xticks([10, 30, 50], ["red (50%)", "blue (50%)", "MSE answer"])
ax.set_yticks([])
plt.show()

# %% [markdown]
# ## The same autoencoder, two output layers
#
# We train the same small convolutional autoencoder twice on the same sprites, with the same seed and steps.
# Only the output differs:
#
# * `representation="rgba"`: 4 numbers per pixel in [0, 1], mean squared error against the true colour;
# * `representation="index"`: K logits per pixel, cross-entropy against the true index.
#
# (`sf.train` is the same call the CLI makes; `L.train_settings` just asks for few steps and a quiet run.)

# %%
STEPS = L.budget(800, 3)
settings = L.train_settings(STEPS, "data.size=16", f"data.count={COUNT}")
runs = {
    rep: sf.train("ae", DATA, L.run_dir(f"01_{rep}"), representation=rep, logger="none", overrides=settings)
    for rep in ("rgba", "index")
}

# %% [markdown]
# The RGBA model's raw output is a colour per pixel, before any snapping to the palette. `run.model.reconstruct`
# (part of every autoencoder's contract) gives it as `(N, 4, H, W)` in [0, 1]; `run.reconstruct` gives the
# finished, palette-exact sprites (the index model's argmax, the RGBA model's nearest palette colour).

# %%
shown = sprites.subset(np.arange(min(8, len(sprites))))
indices = torch.from_numpy(shown.indices)
with torch.no_grad():
    raw = runs["rgba"].model.eval().reconstruct(indices)  # (N, 4, H, W) in [0, 1]
raw_rgba = (raw.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (N, H, W, 4)

rows = {
    "original": shown,
    "RGB regression, raw output": raw_rgba,
    "RGB regression, snapped to the palette": runs["rgba"].reconstruct(shown),
    "palette indices (argmax)": runs["index"].reconstruct(shown),
}
fig, axes = plt.subplots(len(rows), 1, figsize=(8, 6.5))
for ax, (title, images) in zip(axes, rows.items()):
    L.show(ax, images, title, columns=len(shown))
L.save_figure(fig, "01_rgb_vs_index.png")

# %% [markdown]
# ## Counting what went wrong
#
# Two numbers per model, over all the sprites:
#
# * **exact pixels**: the share of pixels whose final colour is the original's;
# * **stray colours**: distinct opaque colours in the model's raw output that are not in the palette.
#   The index model has none by construction: its output *is* a palette index.

# %%
palette_colours = {tuple(c) for c in sprites.palette.to_rgba(np.arange(len(sprites.palette))[None])[0]}
with torch.no_grad():
    raw_all = runs["rgba"].model.reconstruct(torch.from_numpy(sprites.indices))
raw_all = (raw_all.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8).reshape(-1, 4)
opaque = raw_all[raw_all[:, 3] >= 128]
stray = {tuple(c) for c in opaque} - palette_colours
for rep, run in runs.items():
    exact = (run.reconstruct(sprites).indices == sprites.indices).mean()
    print(
        f"{rep:>5}: exact pixels {exact:6.1%}",
        f"| stray colours in the raw output: {len(stray)}" if rep == "rgba" else "| stray colours: 0",
    )

# %% [markdown]
# The RGBA model smears edges and invents in-between colours; snapping to the palette afterwards makes every
# pixel legal again, but it picks the *nearest* colour to a blurred guess, which is often the wrong one (an
# outline turns into a body colour, a highlight disappears). The index model spends its capacity on deciding
# *which* colour, which is the question pixel art asks. Every model in spriteforge can run either way
# (`--representation index|rgba`), and every one of them outputs palette indices at the end.
#
# Next: [2. Autoencoders and VAEs](02_autoencoders_vae.py).
