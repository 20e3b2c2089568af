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
# # 7. Masked (discrete) diffusion: unmasking a sprite
#
# Gaussian diffusion (notebook 6) adds noise to numbers. Pixel art is not numbers but a choice of one palette
# entry per pixel, so spriteforge's `discrete_diffusion` corrupts the choice itself: a share of the pixels is
# replaced by a **mask** token. The U-Net sees the partly masked grid and predicts a palette colour for every
# masked pixel (cross-entropy on those pixels only). There is nothing to snap: every output is an index.
#
# Sampling starts from an all-mask grid and unmasks it in a few parallel steps (MaskGIT, Chang et al. 2022):
# at each step the model proposes a colour for every masked pixel, keeps the most confident proposals and masks
# the rest again. This notebook watches that order, then uses the same mechanism to inpaint and vary sprites.

# %%
import math
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch
from _learn import budget, data_dir, figure_dir, tiny
from PIL import Image

FIGURES = figure_dir()
DATA = data_dir()
SOURCE = DATA / "kenney" / "tiles" if DATA is not None else "procedural"
QUIET = ["train.logger=none", "train.progress=false", "train.val_every=100000", "train.sample_every=100000"]
overrides = [f"train.max_steps={budget(100_000, 2)}", *QUIET]
if DATA is not None:  # every Kenney tile, cut to 16x16, in at most 32 colours
    overrides += ["data.size=16", "data.crop=true", "data.max_colors=32", f"data.count={budget(100_000, 64)}"]
else:
    overrides += [f"data.count={budget(2000, 64)}"]


def show(ax, image, title=""):
    """One sprite (H,W,4) uint8, drawn pixel for pixel on a grey background."""
    ax.imshow(image, interpolation="nearest")
    ax.set_facecolor("#b0b0b0")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## How much is masked, and when
#
# Training draws a "time" $r \sim U(0, 1)$ and masks a share $\gamma(r) = \cos(r\pi/2)$ of the pixels; sampling
# with $S$ steps leaves $\lfloor N \gamma((s+1)/S) \rfloor$ of $N$ pixels masked after step $s$. The cosine keeps
# the first steps cautious (few pixels committed while little is known) and the last ones fast.

# %%
pixels, S = 16 * 16, 8  # 8 steps, so that every step fits in a figure (the default is 64)
after = [pixels] + [math.floor(pixels * math.cos((s + 1) / S * math.pi / 2)) for s in range(S)]
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.step(range(S + 1), after, where="post", label="cosine (MaskGIT)")
ax.step(range(S + 1), [pixels * (1 - s / S) for s in range(S + 1)], where="post", ls="--", label="linear")
ax.set_xlabel("step")
ax.set_ylabel("pixels still masked")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## Training
#
# One call, on every Kenney tile (or the procedural set offline). The `cpu` preset is a small U-Net; 100 seconds
# on a laptop (`time="100s"`) give plausible tiles.

# %%
run = sf.train(
    "discrete_diffusion",
    SOURCE,
    tempfile.mkdtemp() + "/masked",
    preset="tiny" if tiny() else "cpu",
    overrides=overrides,
    time=None if tiny() else "100s",  # a laptop trains for this long
)
palette, K = run.palette, len(run.palette)
print(f"{K} palette entries; index {K} is the mask token")

# %% [markdown]
# ## Watching the sampler
#
# `run.sample` returns only the finished sprites. To see the steps without changing the sampler, a PyTorch
# *forward pre-hook* records what the U-Net is given at each call: the one-hot token grid, whose last channel is
# the mask. One call per step (no guidance, so no second, unconditional pass).

# %%
states = []  # one (B,H,W) token grid per step, K = masked


def record(module, inputs):
    states.append(inputs[0].argmax(1).clone())  # (B,K+1,H,W) one-hot -> (B,H,W) tokens


n = budget(6, 2)
hook = run.model.unet.register_forward_pre_hook(record)
try:
    final = run.sample(n, seed=3, steps=S)
finally:
    hook.remove()
frames = [*states, torch.from_numpy(final.indices)]  # S+1 grids: before each step, and the result
MASK_COLOUR = np.array([60, 60, 70, 255], np.uint8)


def to_rgba(tokens):
    """(B,H,W) tokens -> (B,H,W,4): palette colours, masked pixels dark grey."""
    tokens = tokens.numpy()
    rgba = palette.to_rgba(np.where(tokens == K, 0, tokens))
    rgba[tokens == K] = MASK_COLOUR
    return rgba


# The step at which each pixel was committed: the first frame in which it is no longer masked.
masked = torch.stack([f == K for f in frames])  # (S+1,B,H,W)
order = masked.sum(0).numpy()  # pixels masked in more frames were committed later

fig, axes = plt.subplots(n, len(frames) + 1, figsize=(1.15 * (len(frames) + 1), 1.25 * n), squeeze=False)
for row in range(n):
    for col, frame in enumerate(frames):
        show(axes[row, col], to_rgba(frame)[row], f"step {col}" if row == 0 and col < len(frames) - 1 else "")
    axes[row, len(frames)].imshow(order[row], cmap="viridis", vmin=1, vmax=len(frames) - 1, interpolation="nearest")
    axes[row, len(frames)].set_xticks([])
    axes[row, len(frames)].set_yticks([])
axes[0, len(frames) - 1].set_title("result", fontsize=9)
axes[0, len(frames)].set_title("order", fontsize=9)
fig.tight_layout()
fig.savefig(FIGURES / "07_unmasking.png", dpi=120)

# %% [markdown]
# The last column colours each pixel by the step that committed it (dark: early, yellow: late). Confidence decides
# the order, loosened by the `choice_noise` below: the transparent background, the surest colour, tends to go
# first, and the centre, where the object goes, last, once its surroundings are known. (The committed picture was
# made before `choice_noise` existed, with the order noise tied to the temperature: its undertrained model commits
# transparency so eagerly that little object is left, the failure docs/experiments/time_budget.md measures and
# the default `choice_noise` cures.) The same, as an animation:

# %%
scale = 8
strip = [np.concatenate(list(to_rgba(frame)), axis=1) for frame in frames]  # each (H, n*W, 4)
strip = [np.kron(frame, np.ones((scale, scale, 1), np.uint8)) for frame in strip]  # nearest-neighbour upscale
images = [Image.fromarray(frame).convert("RGBA") for frame in strip]
background = [Image.new("RGBA", images[0].size, (176, 176, 176, 255)) for _ in images]
gif = [Image.alpha_composite(b, i).convert("P", palette=Image.Palette.ADAPTIVE) for b, i in zip(background, images)]
gif[0].save(FIGURES / "07_unmasking.gif", save_all=True, append_images=gif[1:] + [gif[-1]] * 3, duration=350, loop=0)

# %% [markdown]
# ## Temperature and choice noise
#
# Two options shape the sampler. `temperature` $\tau$ is the softmax temperature of each colour proposal: $\tau = 0$
# takes the most likely colour, clean and repetitive; higher $\tau$ explores, and past 1 it produces speckle.
# `choice_noise` is Gumbel noise on the confidence that decides *which* pixels to commit, annealed to 0 over the
# steps. At 0 the order is greedy (pure MaskGIT): on sprites the surest colour is the background, so it is
# committed everywhere first and sprites come out nearly empty; the default, 4, mixes the order so that objects
# survive (docs/decisions.md).

# %%
settings = [(0.0, 4.0), (1.0, 4.0), (2.0, 4.0), (1.0, 0.0)]
fig, axes = plt.subplots(len(settings), n, figsize=(1.1 * n + 1.4, 1.15 * len(settings)), squeeze=False)
for row, (tau, noise) in enumerate(settings):
    sprites = run.sample(n, seed=4, steps=S, temperature=tau, choice_noise=noise).to_rgba()
    for col in range(n):
        show(axes[row, col], sprites[col])
    axes[row, 0].set_ylabel(f"τ={tau:g}\nnoise={noise:g}", fontsize=8, rotation=0, ha="right")
fig.tight_layout()

# %% [markdown]
# ## Inpainting and variations
#
# Inpainting is sampling that starts from a sprite with only some pixels masked: the known pixels are tokens
# like any other and are never touched, so they come back exactly. `run.vary` masks a random share (`strength`)
# of a sprite's pixels and unmasks them again. Both take the same sampling options.

# %%
real = run.training_data()
sprite = real.to_rgba()[int(np.argmax(real.colors_per_sprite()))]  # (H,W,4), a busy training sprite
H, W = sprite.shape[:2]
masks = {"right half": np.zeros((H, W), bool), "centre": np.zeros((H, W), bool)}
masks["right half"][:, W // 2 :] = True
masks["centre"][H // 4 : 3 * H // 4, W // 4 : 3 * W // 4] = True
rows = [(f"inpaint\n{name}", mask, run.inpaint(sprite, mask, n=n, seed=5, steps=S)) for name, mask in masks.items()]
rows += [(f"vary\nstrength {s:g}", None, run.vary(sprite, s, n=n, seed=6, steps=S)) for s in (0.1, 0.3, 0.6)]

fig, axes = plt.subplots(len(rows), n + 1, figsize=(1.15 * (n + 1) + 1, 1.25 * len(rows)), squeeze=False)
for row, (name, mask, result) in enumerate(rows):
    given = sprite.copy()
    if mask is not None:
        given[mask] = MASK_COLOUR
    show(axes[row, 0], given)
    axes[row, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right")
    for col, image in enumerate(result.to_rgba()):
        show(axes[row, col + 1], image)
    if mask is not None:  # the promise: pixels outside the mask are the sprite's own
        assert (result.to_rgba()[:, ~mask] == sprite[~mask]).all()
fig.tight_layout()
fig.savefig(FIGURES / "07_inpaint_vary.png", dpi=120)

# %% [markdown]
# The `assert` in the loop checks the promise: outside the mask, every completion keeps the sprite's pixels
# exactly. Small strengths give near-copies with a few pixels changed; at 0.6 most of the sprite is new, held
# together only by the 40% that stayed. The undertrained model again leans to transparency where it has too little
# context (the right half); with a known frame around it (the centre) it continues the surrounding colours.
#
# **Where next.** `spriteforge/models/discrete_diffusion.py` (the sampler is `_unmask`) and
# `spriteforge/diffusion/masking.py` (the schedule). From the command line:
# `spriteforge inpaint RUN --image sprite.png --mask mask.png --n 8 --out grid.png`.
