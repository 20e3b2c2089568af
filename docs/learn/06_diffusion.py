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
# # 6. Diffusion: sprites out of noise
#
# A diffusion model learns to undo noise. Training takes a sprite $x_0$, drowns it in Gaussian noise to a random
# step $t$, and asks a U-Net which noise $\varepsilon$ was added. Sampling starts from pure noise and removes a
# little of the predicted noise, step after step, until a sprite is left.
#
# This notebook looks at each piece on real Kenney sprites: the forward (noising) process, *analog bits* (how a
# continuous model can output palette indices), the DDPM and DDIM samplers, and classifier-free guidance.

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch
from _learn import budget, data_dir, figure_dir, tiny

FIGURES = figure_dir()
DATA = data_dir()
if DATA is not None:  # two Kenney packs that look nothing alike, labelled by pack: 1-bit icons and RPG terrain
    KENNEY, PACKS, COUNT = DATA / "kenney", ("1bit_pack_colored", "roguelike_rpg"), budget(100_000, 64)
    SOURCE = Path(tempfile.mkdtemp()) / "two_packs"  # links to the two packs' tiles, and their rows of labels.csv
    SOURCE.mkdir()
    header, *rows = (KENNEY / "labels.csv").read_text().splitlines()  # file,pack,... with file = tiles/PACK/NAME
    rows = [row for row in rows if row.split(",")[1] in PACKS]
    for row in rows:
        (SOURCE / Path(row.split(",")[0]).name).symlink_to(KENNEY / row.split(",")[0])
    LABELS = SOURCE.parent / "labels.csv"  # rows are matched to sprites by file name
    LABELS.write_text("\n".join([header, *rows]) + "\n")
    sprites = sf.load_sprites(SOURCE, size=16, max_colors=32, count=COUNT, labels=LABELS, label_column="pack")
else:  # offline: the procedural set, labelled by kind
    SOURCE, LABELS, COUNT = "procedural", None, budget(2000, 64)
    sprites = sf.load_sprites("procedural", count=COUNT)
print(len(sprites), "sprites of", sprites.size, "in", len(sprites.palette), "colours")


def show(ax, image, title=""):
    """One sprite (H,W,4) uint8 or (H,W,3) float, drawn pixel for pixel on a grey background."""
    ax.imshow(image, interpolation="nearest")
    ax.set_facecolor("#b0b0b0")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## The forward process
#
# spriteforge's `ddpm` model in `rgba` mode sees a sprite as four channels in $[-1, 1]$. Noising to step $t$ needs
# no loop: with $\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$,
#
# $$x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I).$$
#
# `sf.NoiseSchedule` holds exactly these constants. Below, one sprite at growing $t$ under the *linear* schedule
# (DDPM's) and the *cosine* one (improved DDPM's), and under each picture the same noisy image snapped to the
# nearest palette colour: what the model would output if it stopped there.

# %%
sprite = sprites.subset([int(np.argmax(sprites.colors_per_sprite()))])  # the most colourful sprite
x0 = torch.from_numpy(sprite.to_rgba()[0]).permute(2, 0, 1)[None].float() / 127.5 - 1  # (1,4,H,W) in [-1,1]
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
steps = [0, 50, 100, 200, 300, 500, 700, 999]
palette = sprite.palette


def to_image(x):
    """(1,4,H,W) in [-1,1] -> (H,W,4) uint8, the colours clipped as a PNG would store them."""
    return ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()


schedules = {name: sf.NoiseSchedule(name, 1000) for name in ("linear", "cosine")}
fig, axes = plt.subplots(4, len(steps), figsize=(1.3 * len(steps), 6.2))
for row, (name, schedule) in enumerate(schedules.items()):
    for col, t in enumerate(steps):
        x_t = to_image(schedule.add_noise(x0, noise, torch.tensor([t])))
        show(axes[2 * row, col], x_t, f"{name} t={t}")
        show(axes[2 * row + 1, col], palette.to_rgba(palette.index(x_t)), "snapped")
fig.tight_layout()
fig.savefig(FIGURES / "06_forward.png", dpi=120)

# %% [markdown]
# The linear schedule destroys the sprite early: by $t = 300$ little of it is left, and the last half of the steps
# only move noise to noise. The cosine schedule spends its steps more evenly. The curves say the same:
# $\sqrt{\bar\alpha_t}$ is how much of the sprite is left, $\sqrt{1 - \bar\alpha_t}$ how much noise.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for name, schedule in schedules.items():
    signal = schedule.alphas_cumprod.sqrt()
    ax.plot(signal, label=f"{name}: signal $\\sqrt{{\\bar\\alpha_t}}$")
    ax.plot((1 - schedule.alphas_cumprod).sqrt(), "--", label=f"{name}: noise $\\sqrt{{1-\\bar\\alpha_t}}$")
ax.set_xlabel("step t")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "06_schedules.png", dpi=120)

# %% [markdown]
# ## Analog bits: diffusion on palette indices
#
# Snapping a noisy colour to the nearest palette entry works, but two palette colours can be close in RGB (dark
# blue, dark grey) and far apart in meaning. The `index` representation (`representation="index"`, Chen et al.
# 2022's *analog bits*) writes each pixel's palette **index** $k$ in binary, as $\lceil \log_2 K \rceil$ channels
# of $\pm 1$. The network diffuses those bits like any image; the output is decoded by the nearest code, so every
# pixel is an index of the palette. Here are the bit planes of the sprite, and the same bits noised and decoded:

# %%
indices = torch.from_numpy(sprite.indices[0].astype(np.int64))  # (H,W)
bits = max(1, int(np.ceil(np.log2(len(palette)))))
codes = ((torch.arange(len(palette))[:, None] >> torch.arange(bits)) % 2).float() * 2 - 1  # (K,bits) in {-1,+1}
planes = codes[indices].permute(2, 0, 1)[None]  # (1,bits,H,W)


def decode_bits(x):
    """(1,bits,H,W) -> (H,W) index of the nearest code: the model's own decoding."""
    pixels = x[0].permute(1, 2, 0).reshape(-1, bits)
    return torch.cdist(pixels, codes).argmin(1).view(x.shape[2:]).numpy()


fig, axes = plt.subplots(2, max(bits, len(steps)), figsize=(1.3 * max(bits, len(steps)), 3.2))
for ax in axes.flat:
    ax.axis("off")
for b in range(bits):
    axes[0, b].imshow(planes[0, b], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    axes[0, b].set_title(f"bit {b}", fontsize=9)
bit_noise = torch.randn(planes.shape, generator=torch.Generator().manual_seed(0))
for col, t in enumerate(steps):
    noisy = schedules["cosine"].add_noise(planes, bit_noise, torch.tensor([t]))
    show(axes[1, col], palette.to_rgba(decode_bits(noisy)), f"bits t={t}")
    axes[1, col].axis("on")
fig.tight_layout()
fig.savefig(FIGURES / "06_analog_bits.png", dpi=120)

# %% [markdown]
# How many pixels still decode to the right colour after noising, in each representation? Averaged over many noise
# draws and sprites, under the cosine schedule:

# %%
batch = sprites.subset(np.arange(min(len(sprites), 256)))
rgba0 = torch.from_numpy(batch.to_rgba()).permute(0, 3, 1, 2).float() / 127.5 - 1  # (B,4,H,W)
bits0 = codes[torch.from_numpy(batch.indices.astype(np.int64))].permute(0, 3, 1, 2)  # (B,bits,H,W)
grid = np.arange(0, 1000, 25)
right = {"rgba, nearest colour": [], "analog bits, nearest code": []}
for t in grid:
    tt = torch.full((len(batch),), int(t))
    noisy_rgba = (schedules["cosine"].add_noise(rgba0, torch.randn_like(rgba0), tt).clamp(-1, 1) + 1) * 127.5
    snapped = palette.index(noisy_rgba.round().byte().permute(0, 2, 3, 1).numpy())
    right["rgba, nearest colour"].append((snapped == batch.indices).mean())
    noisy_bits = schedules["cosine"].add_noise(bits0, torch.randn_like(bits0), tt).permute(0, 2, 3, 1)
    decoded = torch.cdist(noisy_bits.reshape(1, -1, bits), codes[None])[0].argmin(1).view(batch.indices.shape)
    right["analog bits, nearest code"].append((decoded.numpy() == batch.indices).mean())
fig, ax = plt.subplots(figsize=(6, 3))
for name, values in right.items():
    ax.plot(grid, values, label=name)
ax.axhline(1 / len(palette), color="gray", lw=0.8, ls=":", label="chance (1/K)")
ax.set_xlabel("step t (cosine)")
ax.set_ylabel("pixels decoded right")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Both curves start at 1 and fall to chance: at the end of the forward process the information is gone in either
# code. In between, the bits hold out far longer. Two codes always differ by 2 in at least one bit channel, while
# two palette colours can sit a few hundredths apart in RGBA, so a little noise already snaps a pixel to its
# neighbour colour (compare the rows at t = 100-200 in the two pictures above). The flip side: a wrong bit jumps to
# an unrelated colour (flip the top bit of 5 bits and index 3 becomes 19), where a wrong RGBA snap lands on a
# similar one.
#
# ## Training a diffusion model
#
# One call trains a conditional U-Net (label = the Kenney pack) on analog bits. The `cpu` preset is small enough
# for a laptop; Gaussian diffusion learns slowly, so this is the notebook's long wait: three and a half minutes
# (`time="210s"`, about 2,000 steps, the learning rate fitted to the budget). Raise `time` for better sprites.

# %%
QUIET = ["train.logger=none", "train.progress=false", "train.val_every=100000", "train.sample_every=100000"]
overrides = [f"train.max_steps={budget(100_000, 2)}", f"data.count={COUNT}", *QUIET]
if LABELS is not None:
    overrides += ["data.size=16", "data.max_colors=32", "data.label_column=pack"]
started = time.perf_counter()
run = sf.train(
    "ddpm",
    SOURCE,
    tempfile.mkdtemp() + "/ddpm",
    labels=LABELS,
    preset="tiny" if tiny() else "cpu",
    representation="index",
    overrides=overrides,
    time=None if tiny() else "210s",  # a laptop trains for this long
)
seconds = time.perf_counter() - started
print(f"{run.metrics['steps']} steps in {seconds:.0f} s; labels: {run.labels.names if run.labels else None}")
T = run.config.model_config.timesteps

# %% [markdown]
# ## DDPM and DDIM
#
# Both samplers walk the same trained network backwards; they differ in the step.
# **DDPM** draws $x_{t-1}$ from the Gaussian posterior $q(x_{t-1} \mid x_t, \hat x_0)$: fresh noise at every step,
# and it needs many steps. **DDIM** takes the deterministic step that keeps the predicted noise $\hat\varepsilon$
# (`eta=0`), so the same starting noise always gives the same sprite, and large strides over $t$ still work.
# `eta` blends between them (`eta=1` has DDPM's noise level). Every row below starts from the same noise (the same
# `seed`); the clock says what each costs.

# %%
settings = [
    ("ddpm", 50, 0.0),
    ("ddim", 50, 0.0),
    ("ddim", 20, 0.0),
    ("ddim", 10, 0.0),
    ("ddim", 4, 0.0),
    ("ddim", 20, 1.0),
]
n = budget(8, 2)
fig, axes = plt.subplots(len(settings), n, figsize=(1.1 * n + 1.6, 1.2 * len(settings)), squeeze=False)
for row, (sampler, count, eta) in enumerate(settings):
    started = time.perf_counter()
    rows = run.sample(n, seed=1, sampler=sampler, steps=min(count, T), eta=eta).to_rgba()
    seconds = time.perf_counter() - started
    for col in range(n):
        show(axes[row, col], rows[col])
    axes[row, 0].set_ylabel(
        f"{sampler} {min(count, T)}\neta={eta:g}\n{seconds:.1f} s", fontsize=8, rotation=0, ha="right"
    )
fig.tight_layout()
fig.savefig(FIGURES / "06_samplers.png", dpi=120)

# %% [markdown]
# The DDIM rows with `eta=0` keep (nearly) the same picture as their step count falls from 50 to 10: DDIM maps
# each starting noise to one output, and fewer steps cost little while the clock falls in proportion. DDPM and
# `eta=1` inject fresh noise on the way, so the same seed lands elsewhere. At 4 steps DDIM starts to break the
# picture into speckle.
#
# ## Classifier-free guidance
#
# During training, 10% of the sprites were shown with the *null* label (`label_dropout`), so one network knows both
# $\hat\varepsilon(x_t, y)$ and $\hat\varepsilon(x_t, \varnothing)$. Guidance extrapolates from the
# unconditional prediction towards the conditional one:
#
# $$\hat\varepsilon_w = \hat\varepsilon(x_t, \varnothing) + w \,\big(\hat\varepsilon(x_t, y) - \hat\varepsilon(x_t, \varnothing)\big).$$
#
# $w = 0$ ignores the label, $w = 1$ is the plain conditional model, $w > 1$ exaggerates what the label changes:
# more typical of the pack, less varied.

# %%
if run.labels is None:
    print("This run has no labels: guidance needs a conditional run (train with labels).")
else:
    wanted = [name for name in ("1bit_pack_colored", "roguelike_rpg") if name in run.labels.names]
    wanted = wanted if len(wanted) == 2 else list(run.labels.names[:2])
    weights = [0.0, 1.0, 3.0, 6.0]
    fig, axes = plt.subplots(len(wanted) * len(weights), n, figsize=(1.1 * n + 2, 1.1 * len(wanted) * len(weights)))
    axes = np.asarray(axes).reshape(len(wanted) * len(weights), n)
    for i, label in enumerate(wanted):
        for j, w in enumerate(weights):
            rows = run.sample(n, seed=2, labels=[label], guidance=w, steps=min(20, T)).to_rgba()
            row = i * len(weights) + j
            for col in range(n):
                show(axes[row, col], rows[col])
            axes[row, 0].set_ylabel(f"{label}\nw={w:g}", fontsize=8, rotation=0, ha="right")
    fig.tight_layout()
    fig.savefig(FIGURES / "06_guidance.png", dpi=120)

# %% [markdown]
# With $w = 0$ both packs' rows are identical: the same seed, and the label ignored. Raising $w$ moves each
# pack's rows apart, towards what the model has learned of that pack after three and a half minutes: filled RPG
# terrain (grass, earth, stone) for `roguelike_rpg`, sparse pixels on a transparent background for the 1-bit icons,
# whose shapes it has not learned yet. Large $w$ gives more typical, less varied sprites, the usual price of
# guidance.
#
# **Where next.** The model file `spriteforge/models/diffusion.py` reads top to bottom; the maths is in
# `spriteforge/diffusion/gaussian.py`. From the command line:
# `spriteforge sample RUN --sampler ddim --steps 20 --eta 0 --guidance 3 --label pack=tiny_dungeon`.
