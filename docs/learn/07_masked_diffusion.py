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
# Sampling starts from an all-mask grid and unmasks it in parallel steps (MaskGIT, Chang et al. 2022): at each
# step the model proposes a colour for every masked pixel, keeps the most confident proposals and masks the rest
# again. This notebook watches that order, shows why pure confidence order fails on sprites and what spriteforge
# does about it, then uses the same mechanism to inpaint and vary sprites.

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
# Kenney's 1-bit pack on black (873 tiles of 16x16 in 8 colours, the quality benchmark's set), else procedural.
SOURCE = DATA / "kenney" / "focused_873" if DATA is not None else "procedural"
QUIET = ["train.logger=none", "train.progress=false", "train.val_every=100000", "train.sample_every=100000"]
overrides = [f"train.max_steps={budget(100_000, 2)}", f"data.count={budget(2000, 64)}", *QUIET]


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
pixels, S = 16 * 16, 64  # the sampler's default number of steps
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
# One call. The `cpu15` preset is spriteforge's best 16x16 recipe for a CPU: a small U-Net with dropout, trained on
# the sprites and their mirror images (docs/experiments/time_budget.md). It trains for three and a half minutes
# (`time="210s"`, the learning rate fitted to the budget); the more steps a machine fits in, the better the
# sprites (the committed pictures come from a run of 1,864 steps on a 2-core CPU).

# %%
run = sf.train(
    "discrete_diffusion",
    SOURCE,
    tempfile.mkdtemp() + "/masked",
    preset="tiny" if tiny() else "cpu15",
    overrides=overrides,
    time=None if tiny() else "210s",  # a laptop trains for this long
)
print(f"trained {run.metrics['steps']} steps")
palette, K = run.palette, len(run.palette)
print(f"{K} palette entries; index {K} is the mask token")

# %% [markdown]
# ## Watching the sampler
#
# `run.sample` returns only the finished sprites. To see the steps without changing the sampler, a PyTorch
# *forward pre-hook* on the model's U-Net (`run.model.unet`, a `torch.nn.Module`) records what it is given at each
# call: the one-hot token grid, whose last channel is the mask. One call per step (no guidance, so no second,
# unconditional pass).


# %%
def sample_with_steps(n, seed, **options):
    """`run.sample(n, ...)` and the (B,H,W) token grid (K = masked) before each step and after the last."""
    states = []

    def record(module, inputs):
        states.append(inputs[0].argmax(1).clone())  # (B,K+1,H,W) one-hot -> (B,H,W) tokens

    hook = run.model.unet.register_forward_pre_hook(record)
    try:
        final = run.sample(n, seed=seed, steps=S, **options)
    finally:
        hook.remove()
    return final, [*states, torch.from_numpy(final.indices)]


def commit_step(frames):
    """The step at which each pixel was committed, (B,H,W): the number of frames in which it is still masked."""
    return torch.stack([f == K for f in frames]).sum(0).numpy()


n = budget(6, 2)
final, all_frames = sample_with_steps(n, seed=3)
frames = all_frames[:-1:8] + [all_frames[-1]]  # every 8th of the 64 steps, and the result
MASK_COLOUR = np.array([220, 60, 200, 255], np.uint8)  # magenta: neither black background nor a palette colour


def to_rgba(tokens):
    """(B,H,W) tokens -> (B,H,W,4): palette colours, masked pixels dark grey."""
    tokens = tokens.numpy()
    rgba = palette.to_rgba(np.where(tokens == K, 0, tokens))
    rgba[tokens == K] = MASK_COLOUR
    return rgba


order = commit_step(all_frames)
fig, axes = plt.subplots(n, len(frames) + 1, figsize=(1.15 * (len(frames) + 1), 1.25 * n), squeeze=False)
for row in range(n):
    for col, frame in enumerate(frames):
        show(axes[row, col], to_rgba(frame)[row], f"step {8 * col}" if row == 0 and col < len(frames) - 1 else "")
    axes[row, len(frames)].imshow(order[row], cmap="viridis", vmin=1, vmax=S, interpolation="nearest")
    axes[row, len(frames)].set_xticks([])
    axes[row, len(frames)].set_yticks([])
axes[0, len(frames) - 1].set_title("result", fontsize=9)
axes[0, len(frames)].set_title("order", fontsize=9)
fig.tight_layout()
fig.savefig(FIGURES / "07_unmasking.png", dpi=120)

# %% [markdown]
# The last column colours each pixel by the step that committed it (dark: early, yellow: late). The same, as an
# animation:

# %%
scale = 8
strip = [np.concatenate(list(to_rgba(frame)), axis=1) for frame in frames]  # each (H, n*W, 4)
strip = [np.kron(frame, np.ones((scale, scale, 1), np.uint8)) for frame in strip]  # nearest-neighbour upscale
images = [Image.fromarray(frame).convert("RGBA") for frame in strip]
background = [Image.new("RGBA", images[0].size, (176, 176, 176, 255)) for _ in images]
gif = [Image.alpha_composite(b, i).convert("P", palette=Image.Palette.ADAPTIVE) for b, i in zip(background, images)]
gif[0].save(FIGURES / "07_unmasking.gif", save_all=True, append_images=gif[1:] + [gif[-1]] * 3, duration=350, loop=0)

# %% [markdown]
# ## Why not simply the surest pixels first?
#
# Pure MaskGIT order, committing exactly the most confident proposals, fails on sprites. Most of every sprite is
# background (black here), so at the first step, knowing nothing, the model's proposal at *every* pixel is most
# likely black, and a black proposal is a sure one (say $\log p = \log 0.7 \approx -0.4$, against
# $\log 0.05 \approx -3$ for one of the object's colours). Greedy order commits black first; each committed black
# pixel makes its neighbours surer of black still, and when the object's turn comes there is no room left: the
# sprite comes out as a few specks on black.
#
# spriteforge's sampler changes two things. It adds Gumbel noise to the log-score that ranks the pixels
# (`choice_noise`, MaskGIT's "choice temperature"), annealed from its full scale at the first step to 0 at the
# last. At the default scale, 4, the noise outweighs that gap early on, so the first steps commit a random mix of
# background and object pixels and the object is placed before the background closes in; the late steps follow
# the score and settle the details. And by default it ranks by *occupancy* (`order="occupancy"`): how sure the
# model is that the pixel is background or not, rather than how sure it is of the exact colour drawn. An object
# pixel's probability is spread over the object's colours, so by exact colour it always looks less sure than the
# background; "not background" sums them, whatever the palette's size. On these 8-colour sprites the two orders
# behave alike; on all Kenney tiles (255 colours) occupancy cuts near-empty samples from 31% to 9%
# (docs/experiments/time_budget.md). Below: the same seeds decoded as pure MaskGIT (`order="confidence"`,
# `choice_noise=0`), with noise added, and with spriteforge's defaults, each above its order map.

# %%
real = run.training_data()
n_compare = budget(8, 2)
orders = {  # name -> sampling options
    "MaskGIT\nconfidence\nnoise 0": {"order": "confidence", "choice_noise": 0.0},
    "confidence\nnoise 4": {"order": "confidence", "choice_noise": 4.0},
    "default\noccupancy\nnoise 4": {},
}
fig, axes = plt.subplots(2 * len(orders), n_compare, figsize=(1.1 * n_compare + 1.4, 2.4 * len(orders)), squeeze=False)
for i, (name, options) in enumerate(orders.items()):
    result, steps_seen = sample_with_steps(n_compare, seed=7, **options)
    when = commit_step(steps_seen)
    for col in range(n_compare):
        show(axes[2 * i, col], result.to_rgba()[col])
        axes[2 * i + 1, col].imshow(when[col], cmap="viridis", vmin=1, vmax=S, interpolation="nearest")
        axes[2 * i + 1, col].set_xticks([])
        axes[2 * i + 1, col].set_yticks([])
    axes[2 * i, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right")
    axes[2 * i + 1, 0].set_ylabel("order", fontsize=8, rotation=0, ha="right")
fig.tight_layout()
fig.savefig(FIGURES / "07_orders.png", dpi=120)

# %% [markdown]
# How much of each sprite is object, over more samples: the share of pixels that are not the background colour
# (the commonest palette index of the training set), and the share of near-empty sprites (under 5% object).

# %%
background_index = np.bincount(real.indices.ravel()).argmax()
count = budget(128, 4)
decoded = {"training sprites": real.indices[:count]}
decoded |= {name.replace("\n", " "): run.sample(count, seed=8, **opts).indices for name, opts in orders.items()}
for name, indices in decoded.items():
    object_share = (indices != background_index).mean((1, 2))  # (N,) per sprite
    print(f"{name:>30}: {object_share.mean():4.0%} object pixels, {(object_share < 0.05).mean():4.0%} near-empty")

# %% [markdown]
# ## Temperature
#
# `temperature` $\tau$ is the softmax temperature of each colour proposal: $\tau = 0$ takes the most likely colour,
# clean and repetitive; higher $\tau$ explores, and past 1 it produces speckle.

# %%
temperatures = [0.0, 1.0, 2.0]
fig, axes = plt.subplots(len(temperatures), n, figsize=(1.1 * n + 1.4, 1.15 * len(temperatures)), squeeze=False)
for row, tau in enumerate(temperatures):
    sprites = run.sample(n, seed=4, steps=S, temperature=tau).to_rgba()
    for col in range(n):
        show(axes[row, col], sprites[col])
    axes[row, 0].set_ylabel(f"τ={tau:g}", fontsize=8, rotation=0, ha="right")
fig.tight_layout()

# %% [markdown]
# ## Inpainting and variations
#
# Inpainting is sampling that starts from a sprite with only some pixels masked: the known pixels are tokens
# like any other and are never touched, so they come back exactly. `run.vary` masks a random share (`strength`)
# of a sprite's pixels and unmasks them again. Both take the same sampling options.

# %%
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
# together only by the 40% that stayed. In the committed pictures the completions continue the sprite in kind: its
# colour and its scattered marks, with a stray second colour here and there at the larger strengths.
#
# **Where next.** `spriteforge/models/discrete_diffusion.py` (the sampler is `_unmask`) and
# `spriteforge/diffusion/masking.py` (the schedule). From the command line:
# `spriteforge inpaint RUN --image sprite.png --mask mask.png --n 8 --out grid.png`.
