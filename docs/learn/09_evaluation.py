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
# # 9. Evaluation: what the numbers say, and what they do not
#
# `spriteforge eval` (or `sf.evaluate`) scores a run with a row of numbers: FID, KID, precision, recall, palette
# adherence, novelty. Each answers one narrow question. The best way to learn which is to feed the metrics sets of
# sprites whose flaw we *know*, made by hand from real Kenney tiles, and see which number notices.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
from _learn import budget, data_dir, figure_dir, tiny

FIGURES = figure_dir()
DATA = data_dir()
SOURCE = DATA / "kenney" / "tiles" / "1bit_pack_colored" if DATA is not None else "procedural"
real = sf.load_sprites(SOURCE, count=budget(2000, 16))
reference, held_out = real.split(0.5, seed=0)  # the "training set", and real sprites the model never saw
n = budget(200, 4)
print(f"{len(reference)} reference sprites, {len(held_out)} held out; every test set has {n} sprites")


def show(ax, image, title=""):
    ax.imshow(image, interpolation="nearest")
    ax.set_facecolor("#b0b0b0")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## Seven sets with known flaws
#
# Each is a SpriteSet of `n` sprites, compared with the reference half:
#
# | set | made by | a perfect metric would say |
# |---|---|---|
# | held-out real | other real sprites | as good as it gets |
# | shifted | the held-out sprites moved 3 pixels right (wrapping round) | same art, misplaced |
# | recoloured | the held-out sprites in the PICO-8 palette | right shapes, wrong colours |
# | speckled | 10% of their pixels set to random palette colours | noisy, off-style |
# | one sprite | the first held-out sprite, n times | perfect quality, no variety |
# | copies | sprites of the reference set itself | memorised: nothing new |
# | noise | every pixel a random palette colour | not sprites at all |

# %%
rng = np.random.default_rng(0)
base = held_out.subset(np.arange(n))
palette = real.palette
speckled = base.indices.copy()
spots = rng.random(speckled.shape) < 0.10
speckled[spots] = rng.integers(1, len(palette), spots.sum())
sets = {
    "held-out real": base,
    "shifted": sf.SpriteSet(np.roll(base.indices, 3, axis=2), palette),
    "recoloured": base.with_palette("pico8"),
    "speckled": sf.SpriteSet(speckled, palette),
    "one sprite": base.subset(np.zeros(n, int)),
    "copies": reference.subset(np.arange(n)),
    "noise": sf.SpriteSet(rng.integers(0, len(palette), base.indices.shape), palette),
}
shown = min(n, 6)
fig, axes = plt.subplots(len(sets), shown, figsize=(1.1 * shown + 1.2, 1.1 * len(sets)), squeeze=False)
for row, (name, sprites) in enumerate(sets.items()):
    for col, image in enumerate(sprites.to_rgba()[:shown]):
        show(axes[row, col], image)
    axes[row, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right")
fig.tight_layout()

# %% [markdown]
# ## Scoring them
#
# FID, KID and precision/recall compare *Inception-v3 features*: a network trained on photos describes each sprite
# (upscaled by nearest neighbour onto a 299x299 grey canvas) by 2,048 numbers.
# - **FID** fits a Gaussian to each set's features and measures the distance between the two: one number for
#   "how different are the distributions", quality and variety mixed. Lower is better.
# - **KID** is the same question with a kernel (an unbiased MMD): less biased at small sample counts.
# - **Precision**: the share of generated sprites that fall near some real sprite (fidelity). **Recall**: the
#   share of real sprites that some generated sprite falls near (coverage).
#
# Novelty and colours per sprite need no network: novelty is the Hamming distance (differing pixels, on palette
# indices) from each sprite to its nearest reference sprite, and the share of exact **copies**.
#
# `sf.evaluate_sprites` computes all of them for any SpriteSet (`sf.evaluate` does the same for a run's samples);
# `bootstrap=0` skips the confidence intervals, which this comparison does not need.

# %%
rows = {}
for name, sprites in sets.items():
    seen = sf.evaluate_sprites(sprites, reference, name=name, metrics=["fid", "kid", "pr"], bootstrap=0, progress=False)
    # Novelty compares palette indices, so it scores the sprites written in the reference palette.
    in_reference_palette = sf.SpriteSet(palette.index(sprites.to_rgba()), palette)
    copied = sf.evaluate_sprites(in_reference_palette, reference, name=name, training=reference, metrics=["novelty"])
    rows[name] = {
        "FID": seen.metrics["fid"].value,
        "KID": seen.metrics["kid"].value,
        "precision": seen.metrics["precision"].value,
        "recall": seen.metrics["recall"].value,
        "copies": copied.metrics["copies"].value,
        "colours/sprite": float(sprites.colors_per_sprite().mean()),
    }
metrics = list(next(iter(rows.values())))
print(f"{'':>14}" + "".join(f"{m:>15}" for m in metrics))
for name, values in rows.items():
    print(f"{name:>14}" + "".join(f"{values[m]:>15.3f}" for m in metrics))

# %%
fig = plt.figure(figsize=(13, 4.6))
grid = fig.add_gridspec(1, 2, width_ratios=[1, 3.2])
left = grid[0].subgridspec(len(sets), 4)
for row, (name, sprites) in enumerate(sets.items()):
    for col, image in enumerate(sprites.to_rgba()[:4]):
        ax = fig.add_subplot(left[row, col])
        show(ax, image)
        if col == 0:
            ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
right = grid[1].subgridspec(1, 4, wspace=0.08)
names = list(sets)
for i, metric in enumerate(["FID", "precision", "recall", "copies"]):
    ax = fig.add_subplot(right[0, i])
    ax.barh(range(len(names)), [rows[name][metric] for name in names], color="#5b7fb0")
    ax.set_yticks(range(len(names)), names if i == 0 else [""] * len(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_title(metric + (" (lower is better)" if metric in ("FID", "copies") else ""), fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "09_metrics.png", dpi=110)

# %% [markdown]
# What to read in it (the numbers are from one full-mode run on the Kenney 1-Bit Pack, 200 sprites per set):
# - **Held-out real** is not at FID 0 (about 25 here): two finite samples of one distribution differ. That floor
#   is the best any model can reach at this `n`; compare runs by their distance to it, never to zero.
# - **Copies** score *better* than held-out real on FID, KID and precision (FID about 19): memorising the training
#   set wins FID. Only novelty catches it (copies = 1.0). Always report both.
# - **One sprite** has perfect precision (it is a real sprite) and zero recall: precision and recall tell fidelity
#   and variety apart where FID blends them into one number.
# - **Shifted** sprites are the same art, yet FID rises (to about 32) and recall falls: a 3-pixel shift is a
#   fifth of a 16-pixel sprite, and Inception sees framing as well as art.
# - **Recoloured** sprites, a palette swap any pixel artist would accept, cost more FID than the shift (about 44)
#   and much precision: FID cannot tell a change of style from a mistake. Colours per sprite stays 1.0.
# - **Speckled** sprites, 10% stray pixels, are nearly as far as noise to Inception (FID near 200): it is very
#   sensitive to high-frequency texture. Here FID and pixel-art sense agree; colours per sprite (1 in every real
#   1-Bit tile, about 7 speckled) says *why*, which FID cannot.
#
# ## FID depends on how many sprites you draw
#
# FID is biased: with fewer samples the fitted covariance is noisier and the distance larger. The same held-out
# sprites, scored in growing subsets:

# %%
counts = [c for c in (10, 25, 50, 100, 200) if c <= n] or [n]
floor = [
    sf.evaluate_sprites(base.subset(np.arange(c)), reference, name=f"{c}", metrics=["fid"], bootstrap=0, progress=False)
    .metrics["fid"]
    .value
    for c in counts
]
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(counts, floor, "o-")
ax.set_xscale("log")
ax.set_xlabel("sprites scored")
ax.set_ylabel("FID of real vs real")
fig.tight_layout()
fig.savefig(FIGURES / "09_fid_bias.png", dpi=110)

# %% [markdown]
# Two runs scored with different sample counts cannot be compared by FID: `sf.evaluate` fixes `n` and the seed,
# and reports a bootstrap interval with every figure.
#
# ## A real evaluation, and palette adherence
#
# A model that outputs colours (`representation="rgba"`) is snapped to the nearest palette colour at the end.
# **Palette adherence** is the share of pixels that were already exactly a palette colour *before* snapping: how
# much the snap had to fix. Index models output palette indices, so theirs is 1.0 by construction. Here an rgba
# VAE trained for 45 seconds, scored by `sf.evaluate` on the same reference set:

# %%
run = sf.train(
    "vae",
    SOURCE,
    tempfile.mkdtemp() + "/vae",
    representation="rgba",
    time=None if tiny() else "45s",
    overrides=[
        f"train.max_steps={budget(100_000, 2)}",
        f"data.count={len(real)}",
        "train.logger=none",
        "train.progress=false",
        "train.val_every=100000",
        "train.sample_every=100000",
    ],
)
evaluation = sf.evaluate(run, reference, n=n, metrics=["fid", "kid", "pr", "palette", "novelty"], progress=False)
for name, value in evaluation.table():
    print(f"{name:>32}  {value}")

# %% [markdown]
# In the full-mode run, 45 seconds of training gave a VAE that draws one blurry blob over and over, and the
# report says so from several sides: precision 1.0 with recall 0.0 (the "one sprite" pattern above), FID near
# 270, palette adherence 0.0 (not one pixel was exactly a palette colour before snapping), and silhouette
# statistics far from the real tiles' (about 1.2 connected components per sprite against 7.3, the bounding box
# 87% filled against 48%). The report pairs each statistic of the samples with the same one of the real sprites
# (`real_...`), so "colours per sprite" or "stray pixels" can be read against what real tiles do. What none of these numbers says:
# whether a sprite is *good* (readable at 16 pixels, consistent lighting, a clear silhouette). Look at the samples.
#
# **Where next.** `docs/metrics.md` defines each metric and its interval; `spriteforge eval RUN --data DATA` and
# `spriteforge compare RUN1 RUN2 --data DATA` run them from the command line.
