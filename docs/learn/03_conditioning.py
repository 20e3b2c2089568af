# %% [markdown]
# # 3. Conditioning: labelled and conditional VAEs
#
# A plain VAE cannot be *asked* for anything: its samples are whatever the prior draws. Labels change that.
# A label vector `y` (one-hot for a category, multi-hot for attributes) can be given to the networks in two ways:
#
# | model | encoder sees | decoder sees | can be asked for a label |
# |---|---|---|---|
# | plain VAE | sprite | `z` | no |
# | **labelled** VAE | sprite, `y` | `z` | no: `y` only helps the encoder |
# | **conditional** VAE (CVAE) | sprite, `y` | `z`, `y` | yes: choose `y`, draw `z` |
#
# In a CVAE the code `z` no longer has to carry what the label says, so it is free to hold everything else
# (colours, pose, details). That split is what lets us ask for combinations that no training sprite has.
#
# The data: procedural sprites with multi-hot attributes, the six kinds plus one we compute, `big` (a silhouette
# larger than its kind's median). We **hold out every big tree** from training, to ask for one later.

# %%
import csv
import shutil

import _learn as L
import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch

COUNT = L.budget(3000, 192)
STEPS = L.budget(1500, 3)
everything = sf.load_sprites("procedural", size=16, count=COUNT)
kinds = list(everything.label_spec.names)
area = (everything.indices > 0).sum(axis=(1, 2))  # opaque pixels per sprite
big = np.zeros(len(everything), bool)
for k in range(len(kinds)):
    mine = everything.labels == k
    big[mine] = area[mine] > np.median(area[mine])
held_out = (everything.labels == kinds.index("tree")) & big
print(f"{len(everything)} sprites, {held_out.sum()} big trees held out")

# %% [markdown]
# spriteforge reads labels from a CSV with a `file` column (the same as `spriteforge train --labels`), so we
# write the training sprites as PNGs with such a CSV. Without `label_column`, every 0/1 column is an attribute.

# %%
folder = L.build_dir() / "03_attributes"
shutil.rmtree(folder, ignore_errors=True)  # a fresh folder: a previous run may have written more sprites
training = everything.subset(np.flatnonzero(~held_out))
files = training.save_each(folder / "sprites")
labels_csv = folder / "labels.csv"
with open(labels_csv, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["file", *kinds, "big"])
    for file, kind, is_big in zip(files, training.labels, big[~held_out]):
        writer.writerow([f"sprites/{file.name}", *(int(kind == k) for k in range(len(kinds))), int(is_big)])
labelled_sprites = sf.load_sprites(folder / "sprites", labels=labels_csv)
print(labelled_sprites.label_spec.counts(labelled_sprites.labels))


def train(conditioning: str) -> sf.Run:
    settings = L.train_settings(
        STEPS,
        "vae.latent_dim=16",
        "vae.channels=[32,64]",
        "vae.kl_warmup_steps=300",
        f"vae.conditioning={conditioning}",
    )
    return sf.train(
        "vae", folder / "sprites", L.run_dir(f"03_{conditioning}"), labels=labels_csv, logger="none", overrides=settings
    )


runs = {conditioning: train(conditioning) for conditioning in ("labelled", "conditional")}

# %% [markdown]
# ## Asking a conditional VAE for each kind
#
# `run.sample(n, labels=[...])` names the attributes wanted; every attribute not named is asked *absent*.
# One row per kind, same seed, so the `z` in each column is the same code: only the label changes down a column.

# %%
cvae = runs["conditional"]
fig, axes = plt.subplots(len(kinds), 1, figsize=(8, 1.1 * len(kinds)))
for ax, kind in zip(axes, kinds):
    L.show(ax, cvae.sample(10, seed=0, labels=[kind]), kind, columns=10)
L.save_figure(fig, "03_conditional_by_kind.png")

# %% [markdown]
# ## Same code, another label
#
# Encode real sprites with their own labels, keep the codes, and decode them with every other kind's label.
# What survives across a row is what `z` carries (colours, size, placement); what changes is what the label says.
# The labelled VAE cannot do this: its decoder never sees a label.

# %%
sources = labelled_sprites.subset(np.arange(6))
with torch.no_grad():
    indices = torch.from_numpy(cvae.palette.index(sources.to_rgba())).long()  # (6, H, W) in the run's palette
    codes = cvae.model.eval().encode(indices, cvae.labels_of(sources))  # (6, D)
    columns = [sources.to_rgba()]
    for kind in kinds:
        logits = cvae.model.decode(codes, cvae.label_rows([kind], len(sources)))  # (6, K, H, W)
        columns.append(cvae.palette.to_rgba(logits.argmax(1).numpy()))
table = np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])  # row per source: original, then each kind
fig, ax = plt.subplots(figsize=(7, 6))
L.show(ax, table, "original | decoded as " + ", ".join(kinds), columns=len(columns))
L.save_figure(fig, "03_same_code_other_label.png")

# %% [markdown]
# ## Attribute vectors
#
# Without a label-aware decoder there is still latent arithmetic: the mean code of the sprites *with* an attribute
# minus the mean code of those *without* is a direction in latent space (`run.attribute_vector`); adding it to a
# sprite's code is `run.edit`. Here on the labelled VAE, for `big`: the sprites grow, with varying success, because
# "big" is only one of many things that differ between the two groups.

# %%
originals, edited = runs["labelled"].edit(labelled_sprites, "big", strength=1.5, n=10)
fig, axes = plt.subplots(2, 1, figsize=(8, 2.4))
L.show(axes[0], originals, "small sprites", columns=10)
L.show(axes[1], edited, "code + 1.5 x (mean code of big - mean code of small), labelled VAE", columns=10)
L.save_figure(fig, "03_attribute_vector.png")

# %% [markdown]
# ## An unseen combination: a big tree
#
# The CVAE never saw a big tree. It saw trees (all small) and big sprites of every other kind. Asking for
# `["tree", "big"]` combines the two; we measure the silhouettes of the samples against the real big trees that
# were held out.

# %%
n = L.budget(200, 8)
asked = {
    "tree": cvae.sample(n, seed=2, labels=["tree"]),
    "tree + big (never seen)": cvae.sample(n, seed=2, labels=["tree", "big"]),
}
real_small = everything.subset(np.flatnonzero((everything.labels == kinds.index("tree")) & ~big))
real_big = everything.subset(np.flatnonzero(held_out))
fig, axes = plt.subplots(1, 2, figsize=(13, 3), gridspec_kw={"width_ratios": [2, 1]})
strip = np.concatenate([real_small.to_rgba()[:8], real_big.to_rgba()[:8], *(s.to_rgba()[:8] for s in asked.values())])
L.show(axes[0], strip, "rows: real small trees | held-out big trees | asked tree | asked tree + big", columns=8)
for name, group in {"real small trees": real_small, "held-out big trees": real_big, **asked}.items():
    axes[1].hist(
        (group.indices > 0).sum(axis=(1, 2)), bins=20, range=(0, 256), histtype="step", density=True, label=name
    )
axes[1].set_xlabel("opaque pixels per sprite")
axes[1].legend(fontsize=7)
L.save_figure(fig, "03_unseen_combination.png")
for name, group in {"real small trees": real_small, "held-out big trees": real_big, **asked}.items():
    print(f"{name:>24}: mean opaque pixels {(group.indices > 0).sum(axis=(1, 2)).mean():.1f}")

# %% [markdown]
# How far the samples move towards the held-out big trees is the honest measure of how well "big" was separated
# from "tree" in this small model; a labelled VAE cannot even be asked. On Kenney's tiles the same commands work
# with the pack as a category (`--labels kenney/labels.csv --label-column pack`, see the README), and
# `spriteforge eval --classifier` scores how often samples show what was asked.
#
# Next: [4. Gumbel-softmax](04_gumbel_softmax.py).
