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
# # 10. Visualising convolutions
#
# Every encoder in spriteforge is a stack of small convolutions: 3x3 ones that keep the size and 4x4 ones with
# stride 2 that halve it. This notebook first runs hand-made kernels over a sprite to show what one convolution
# computes, then opens a VAE trained on real Kenney sprites and asks each layer what it responds to.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch
import torch.nn.functional as F
from _learn import budget, data_dir, figure_dir, tiny

FIGURES = figure_dir()
DATA = data_dir()
SOURCE = DATA / "kenney" / "tiles" / "roguelike_characters" if DATA is not None else "procedural"
sprites = sf.load_sprites(SOURCE, count=budget(100_000, 64))
print(len(sprites), "sprites of", sprites.size)


def show(ax, image, title="", **kwargs):
    ax.imshow(image, interpolation="nearest", **kwargs)
    ax.set_facecolor("#b0b0b0")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## One convolution, by hand
#
# A convolution slides a small grid of weights (the *kernel*) over the image; each output pixel is the weighted
# sum of the input pixels under it. Different weights detect different things. On one sprite's brightness:

# %%
sprite = sprites.to_rgba()[int(np.argmax(sprites.colors_per_sprite()))]  # (H,W,4)
alpha = sprite[..., 3:] / 255
brightness = torch.from_numpy((sprite[..., :3] @ [0.299, 0.587, 0.114] / 255 * alpha[..., 0]).astype(np.float32))
kernels = {
    "blur": torch.full((3, 3), 1 / 9),
    "vertical edges": torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "horizontal edges": torch.tensor([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "outline (Laplacian)": torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
}
fig, axes = plt.subplots(2, len(kernels) + 1, figsize=(2.3 * (len(kernels) + 1), 4.6))
show(axes[0, 0], sprite, "sprite")
show(axes[1, 0], brightness.numpy(), "brightness", cmap="gray")
for col, (name, kernel) in enumerate(kernels.items(), start=1):
    out = F.conv2d(brightness[None, None], kernel[None, None], padding=1)[0, 0]  # (H,W), same size
    limit = float(out.abs().max()) or 1.0
    reach = float(kernel.abs().max())
    show(axes[0, col], kernel.numpy(), name, cmap="RdBu_r", vmin=-reach, vmax=reach)
    show(axes[1, col], out.numpy(), "", cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.tight_layout()
fig.savefig(FIGURES / "10_kernels.png", dpi=110)

# %% [markdown]
# Top: the kernels (red positive, blue negative); bottom: their responses. The edge kernels answer where
# brightness changes from left to right or top to bottom, with a sign for the direction; the Laplacian lights up
# the outline. A trained network learns its own kernels, many per layer, over all four RGBA channels.
#
# ## A trained encoder
#
# A VAE in `rgba` mode reads the sprite's four colour channels directly, so its first-layer kernels are small
# RGBA images we can look at. 75 seconds of training on Kenney's roguelike characters:

# %%
run = sf.train(
    "vae",
    SOURCE,
    tempfile.mkdtemp() + "/vae",
    representation="rgba",
    time=None if tiny() else "75s",
    overrides=[
        f"train.max_steps={budget(100_000, 2)}",
        f"data.count={len(sprites)}",
        "train.logger=none",
        "train.progress=false",
        "train.val_every=100000",
        "train.sample_every=100000",
    ],
)
convolutions = [m for m in run.model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
for i, conv in enumerate(convolutions, start=1):
    print(
        f"layer {i}: {conv.in_channels:>3} -> {conv.out_channels:>3} channels, {conv.kernel_size[0]}x"
        f"{conv.kernel_size[1]} kernel, stride {conv.stride[0]}"
    )

# %% [markdown]
# The first layer's 3x3 kernels, each drawn as a tiny image: its RGB weights scaled to [0, 1] (grey is zero),
# its alpha weights below it. Look for edge shapes (positive on one side, negative on the other) and colour-opponent
# ones (one hue against another): the same kind of detectors as the hand-made ones, found from data.

# %%
weights = convolutions[0].weight.detach()  # (C_out, 4, 3, 3): RGBA in, as the codec feeds it
count = weights.shape[0]
columns = 8
fig, axes = plt.subplots(2 * -(-count // columns), columns, figsize=(columns * 1.0, 2.1 * -(-count // columns)))
for ax in axes.flat:
    ax.axis("off")
for i in range(count):
    rgb = weights[i, :3].permute(1, 2, 0)
    rgb = (rgb / (2 * rgb.abs().max()) + 0.5).numpy()  # zero -> grey
    a = (weights[i, 3] / weights[i, 3].abs().max()).numpy()
    show(axes[2 * (i // columns), i % columns], rgb, f"{i}")
    show(axes[2 * (i // columns) + 1, i % columns], a, "", cmap="RdBu_r", vmin=-1, vmax=1)
fig.tight_layout()

# %% [markdown]
# ## What each layer responds to
#
# A forward hook on each layer's activation records its output while `run.encode` runs the encoder over every
# sprite. For each layer, six of its channels (the most active on average), and for each channel the six places
# in the whole dataset where it fires hardest, cut out at that unit's **receptive field**: the input pixels it can
# see. The field grows with depth (3 pixels, 6, 10, 16, ...), so early layers answer to small patterns and deep
# ones to whole sprites.

# %%
activations = {}
activation_layers = [m for m in run.model.encoder.modules() if isinstance(m, torch.nn.SiLU)]
hooks = [
    layer.register_forward_hook(lambda module, inputs, output, i=i: activations.setdefault(i, []).append(output))
    for i, layer in enumerate(activation_layers)
]
try:
    with torch.no_grad():  # inference only: no graph kept for the recorded activations
        run.encode(sprites)
finally:
    for hook in hooks:
        hook.remove()
activations = {i: torch.cat(chunks) for i, chunks in activations.items()}  # layer -> (N,C,h,w)

# Receptive field of each layer: size r, step j between neighbouring units, offset of unit 0's centre.
fields, r, j, start = [], 1, 1, 0.0
for conv in convolutions:
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    r, start, j = r + (k - 1) * j, start + ((k - 1) / 2 - p) * j, j * s
    fields.append((r, j, start))

rgba = sprites.to_rgba()
H, W = sprites.size


def patch(index, y, x, layer):
    """The input pixels unit (y,x) of `layer` sees in sprite `index`, padded with transparency: (r,r,4)."""
    size, step, offset = fields[layer]
    top = int(round(offset + y * step - (size - 1) / 2))
    left = int(round(offset + x * step - (size - 1) / 2))
    out = np.zeros((size, size, 4), np.uint8)
    ys, xs = slice(max(top, 0), min(top + size, H)), slice(max(left, 0), min(left + size, W))
    out[ys.start - top : ys.stop - top, xs.start - left : xs.stop - left] = rgba[index, ys, xs]
    return out


layers = [0, 2, 4, 6] if len(activation_layers) >= 7 else list(range(len(activation_layers)))
channels_shown, top = 6, 6
fig = plt.figure(figsize=(14, 2.3 * len(layers)))
outer = fig.add_gridspec(len(layers), channels_shown, hspace=0.45, wspace=0.15)
for row, layer in enumerate(layers):
    act = activations[layer]  # (N,C,h,w)
    chosen = act.mean((0, 2, 3)).argsort(descending=True)[:channels_shown]
    for col, channel in enumerate(chosen.tolist()):
        flat = act[:, channel].flatten()
        inner = outer[row, col].subgridspec(2, 3, wspace=0.05, hspace=0.05)
        for k, position in enumerate(flat.topk(top).indices.tolist()):
            index, rest = divmod(position, act.shape[2] * act.shape[3])
            y, x = divmod(rest, act.shape[3])
            ax = fig.add_subplot(inner[k // 3, k % 3])
            show(ax, patch(index, y, x, layer))
            if k == 1:
                ax.set_title(f"layer {layer + 1}, ch {channel}\nfield {fields[layer][0]} px", fontsize=8)
fig.savefig(FIGURES / "10_top_patches.png", dpi=110, bbox_inches="tight")

# %% [markdown]
# Layer 1 units see 3x3 pixels: a flat colour (light grey, orange, brown) against transparency or another colour,
# in one position of the window. Layer 3 (10 pixels) answers to parts: the brim of a hat, the shoulders of a shirt,
# the rim of a shield. By layer 5 the field covers the whole 16-pixel sprite and a channel's top patches are whole
# items of one kind (round shields, helmets, belts) whatever their colour; layer 7 adds where on the canvas they
# sit. Duplicates in a row are one sprite whose strongest unit sits at several positions.
#
# The same recordings, as maps over one sprite: where each layer's most active channels fire.

# %%
index = int(np.argmax(sprites.colors_per_sprite()))
fig, axes = plt.subplots(len(layers), 7, figsize=(11, 1.7 * len(layers)))
for row, layer in enumerate(layers):
    act = activations[layer][index]  # (C,h,w)
    show(axes[row, 0], rgba[index], "" if row else "sprite")
    axes[row, 0].set_ylabel(f"layer {layer + 1}\n{act.shape[1]}x{act.shape[2]}", fontsize=8, rotation=0, ha="right")
    for col, channel in enumerate(act.mean((1, 2)).argsort(descending=True)[:6].tolist(), start=1):
        show(axes[row, col], act[channel].numpy(), f"ch {channel}", cmap="magma")
fig.tight_layout()
fig.savefig(FIGURES / "10_feature_maps.png", dpi=110)

# %% [markdown]
# Each halving trades resolution for channels: 16x16 maps in layer 1, 2x2 in layer 7, where each unit is a
# summary of a quarter of the sprite. The encoder's last step flattens these into the latent code that notebook 2
# explores.
#
# **Where next.** `spriteforge/nn/blocks.py` holds the stacks (`DownStack`, `UpStack`); any run's encoder can be
# opened the same way, with hooks, without changing the model.
