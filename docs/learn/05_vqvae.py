# %% [markdown]
# # 5. VQ-VAE, Pixel VQ-VAE and priors over codes
#
# A **VQ-VAE** (van den Oord et al. 2017) keeps a *grid* of codes instead of one vector: the encoder turns a
# 16x16 sprite into an 8x8 (or 4x4) grid of D-dimensional vectors, and each vector is replaced by the nearest of K
# learned **codebook** vectors. A sprite becomes a small picture of code numbers, and the decoder paints pixels
# from it. Training pulls the codebook towards the encoder's outputs (here by moving averages) and a *commitment*
# term pulls the encoder towards its chosen codes.
#
# A VQ-VAE cannot generate on its own: it has no distribution over code grids. A **prior** learns one (a small
# transformer or PixelCNN that predicts each code from the ones before it), and its samples are decoded.

# %%
import _learn as L
import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch

# Kenney's 1-Bit Pack tiles (CC0, 7 colours) when the shared data is here, else the procedural sprites.
kenney = L.kenney_dir()
DATA = str(kenney / "tiles" / "1bit_pack_colored") if kenney else "procedural"
COUNT = L.budget(1024, 96)
sprites = sf.load_sprites(DATA, size=16, count=COUNT)
STEPS = L.budget(1200, 3)
NUM_CODES = 64
common = [f"data.count={COUNT}", "data.size=16", "train.lr=0.001"]


def train_vq(model: str, *more: str) -> sf.Run:
    settings = L.train_settings(
        STEPS, *common, f"{model}.width=32", f"{model}.channels=[64]", f"{model}.num_codes={NUM_CODES}",
        f"{model}.code_dim=16", *more,
    )  # fmt: skip
    return sf.train(model, DATA, L.run_dir(f"05_{model}"), logger="none", overrides=settings)


# %% [markdown]
# ## Two VQ-VAEs
#
# `pixel_vqvae` is the VQ-VAE with the options of the *Pixel VQ-VAE* paper (Saravanan & Guzdial 2022), made for
# pixel art:
#
# * `kernel=2`: stride-2 kernels that do not overlap, so each downsampling maps one 2x2 block of pixels to one
#   cell (the plain VQ-VAE's 4x4 kernels blend neighbouring blocks);
# * `adapter`: 1x1 convolutions as the first and last layers, so colours are mixed per pixel before any
#   neighbourhood is;
# * `pixelsight`: 1x1 projections into and out of the quantiser (the plain VQ-VAE uses 3x3 convolutions), so the
#   vector a cell is quantised from, and what its code adds back, belong to that cell alone.
#
# One halving (`channels=[64]`) gives an 8x8 grid of codes for a 16x16 sprite; K = 64 codes.

# %%
runs = {"vqvae": train_vq("vqvae"), "pixel_vqvae": train_vq("pixel_vqvae")}
shown = sprites.subset(np.arange(10))
fig, axes = plt.subplots(3, 1, figsize=(8, 4))
L.show(axes[0], shown, "originals", columns=10)
for ax, (name, run) in zip(axes[1:], runs.items()):
    exact = (run.reconstruct(sprites).indices == sprites.indices).mean()
    L.show(
        ax, run.reconstruct(shown), f"{name} reconstructions ({exact:.1%} exact pixels over all sprites)", columns=10
    )
L.save_figure(fig, "05_reconstructions.png")

# %% [markdown]
# ## Code grids drawn as pictures
#
# `run.encode(sprites)` gives each sprite's code grid, `(N, 8, 8)` integers in [0, K). Drawn with one colour per
# code, a grid is a coarse map of the sprite: background, outline, fill each get their own codes, and equal
# blocks get equal codes.

# %%
vq = runs["pixel_vqvae"]
grids = vq.encode(sprites)  # (N, h, w) code numbers
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for column in range(6):
    L.show(axes[0, column], sprites.subset([column]))
    axes[1, column].imshow(grids[column], cmap="tab20b", vmin=0, vmax=NUM_CODES - 1, interpolation="nearest")
    for (row, col), code in np.ndenumerate(grids[column]):
        axes[1, column].text(col, row, str(code), ha="center", va="center", fontsize=6, color="white")
    axes[1, column].set_axis_off()
axes[0, 0].set_title("sprite", fontsize=10, loc="left")
axes[1, 0].set_title("its 8x8 code grid", fontsize=10, loc="left")
L.save_figure(fig, "05_code_grids.png")

# %% [markdown]
# ## Codebook usage
#
# A codebook can collapse: a few codes do all the work and the rest are never chosen ("dead codes"; spriteforge
# re-seeds codes unused for `restart_after` steps). Two numbers say how well it is used: how many codes appear,
# and the **perplexity** `exp(entropy of the code frequencies)`, the number of equally used codes that would
# give the same entropy.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
for ax, (name, run) in zip(axes, runs.items()):
    frequency = np.bincount(run.encode(sprites).ravel(), minlength=NUM_CODES) / grids.size
    used = frequency[frequency > 0]
    perplexity = float(np.exp(-(used * np.log(used)).sum()))
    ax.bar(np.arange(NUM_CODES), np.sort(frequency)[::-1])
    ax.set_title(f"{name}: {len(used)} of {NUM_CODES} codes used, perplexity {perplexity:.1f}", fontsize=10)
    ax.set_xlabel("codes, most used first")
    ax.set_ylabel("share of grid cells")
L.save_figure(fig, "05_codebook_usage.png")

# %% [markdown]
# ## What each code paints
#
# Decode a grid filled with a single code (`run.model.decode(codes)`, the contract's decoder) to see the texture
# that code stands for: the VQ-VAE's vocabulary of textures, the 24 most used shown (the decoder's 3x3 layers let
# neighbours shape each other, so a code in a real grid paints a little differently from this pure pattern).

# %%
h, w = grids.shape[1:]
frequency = np.bincount(grids.ravel(), minlength=NUM_CODES)
top = np.argsort(frequency)[::-1][:24].copy()  # a copy: torch takes no negative strides
with torch.no_grad():
    filled = torch.from_numpy(top).long()[:, None, None].expand(-1, h, w)  # (24, h, w): one code everywhere
    painted = vq.model.eval().decode(filled).argmax(1).numpy()  # (24, H, W) palette indices
fig, ax = plt.subplots(figsize=(9, 3))
L.show(ax, sf.SpriteSet(painted, vq.palette), "each of the 24 most used codes, decoded over a whole grid", columns=12)
L.save_figure(fig, "05_codebook.png")

# %% [markdown]
# ## A prior over code grids
#
# The prior reads a code grid in raster order and learns `p(code_i | codes before i)`: a language model whose
# words are codes. It is trained on the frozen VQ-VAE (`prior.vqvae=RUN`), which gives it the data, palette and
# size; sampling draws a grid code by code and decodes it.

# %%
prior_settings = L.train_settings(
    L.budget(1500, 3), f"prior.vqvae={vq.path}", "prior.arch=transformer", "prior.width=64", "prior.layers=2",
    "train.lr=0.001",
)  # fmt: skip
prior = sf.train("prior", out=L.run_dir("05_prior"), logger="none", overrides=prior_settings)
samples = prior.sample(16, seed=0)
sample_grids = vq.encode(samples)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
L.show(axes[0], samples, "prior samples, decoded", columns=8)
axes[1].imshow(
    np.concatenate(list(sample_grids[:8]), axis=1), cmap="tab20b", vmin=0, vmax=NUM_CODES - 1, interpolation="nearest"
)
axes[1].set_title("the first eight sampled code grids (re-encoded)", fontsize=10)
axes[1].set_axis_off()
L.save_figure(fig, "05_prior_samples.png")

# %% [markdown]
# The prior's `temperature` and `top_k` sampling options trade variety for coherence
# (`prior.sample(16, temperature=0.8, top_k=8)`). The CLI does all of this too:
# `spriteforge train --model pixel_vqvae`, then `spriteforge train --model prior --set prior.vqvae=RUN`.
#
# Next: [6. Diffusion](06_diffusion.py).
