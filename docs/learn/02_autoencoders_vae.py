# %% [markdown]
# # 2. Autoencoders and VAEs
#
# An **autoencoder** squeezes a sprite through a small vector, the *latent code* `z`, and learns to rebuild the
# sprite from it: `encoder(sprite) = z`, `decoder(z) = logits over the palette for every pixel`. A **variational**
# autoencoder (VAE) makes the code a distribution: the encoder outputs a mean and a variance, training samples `z`
# from it, and a KL term pulls every code distribution towards the standard normal `N(0, I)`:
#
# $$\mathcal{L} = \underbrace{-\log p(\text{sprite} \mid z)}_{\text{reconstruction}}
#   + \beta \, \mathrm{KL}\big(q(z \mid \text{sprite}) \,\|\, \mathcal{N}(0, I)\big)$$
#
# That KL term is what makes the latent space a place you can *sample* from and *walk* through.
# We use the procedural sprites (six kinds, made offline) so that the latent space can be coloured by kind.

# %%
import _learn as L
import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch

COUNT = L.budget(2048, 128)
sprites = sf.load_sprites("procedural", size=16, count=COUNT)
kinds = sprites.label_spec.names
STEPS = L.budget(1000, 3)


def train(model: str, name: str, *more: str) -> sf.Run:
    """The same small conv network every time; only the model and `more` settings change."""
    settings = L.train_settings(STEPS, f"data.count={COUNT}", f"{model}.channels=[32,64]", *more)
    return sf.train(model, "procedural", L.run_dir(f"02_{name}"), logger="none", overrides=settings)


ae = train("ae", "ae", "ae.latent_dim=16")
vae = train("vae", "vae", "vae.latent_dim=16", "vae.kl_warmup_steps=200")

# %% [markdown]
# ## Reconstructions and samples
#
# Both rebuild their training sprites well. To *generate*, we need a distribution of codes to draw from: the VAE
# has one by construction (`N(0, I)`); for the plain AE spriteforge fits a Gaussian to its training codes, which
# is a guess: nothing in the AE's training made the space between codes decode to sprites.

# %%
shown = sprites.subset(np.arange(12))
rows = {
    "originals": shown,
    "AE reconstructions": ae.reconstruct(shown),
    "VAE reconstructions": vae.reconstruct(shown),
    "AE samples (Gaussian fitted to its codes)": ae.sample(12, seed=0),
    "VAE samples (z ~ N(0, I))": vae.sample(12, seed=0),
}
fig, axes = plt.subplots(len(rows), 1, figsize=(9, 7))
for ax, (title, images) in zip(axes, rows.items()):
    L.show(ax, images, title, columns=12)
L.save_figure(fig, "02_reconstructions_samples.png")

# %% [markdown]
# ## The latent space
#
# `run.encode(sprites)` gives each sprite's code (the posterior mean for the VAE), `(N, 16)`. Projected on its
# two principal directions, the codes of each kind gather in their own region, although the model was never told
# the kinds. The KL term keeps the VAE's cloud round and centred; the AE's may sit anywhere at any scale.


# %%
def principal_plane(codes: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2): the codes' coordinates along their two largest principal directions."""
    centred = codes - codes.mean(0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T


fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, (name, run) in zip(axes, {"AE": ae, "VAE": vae}.items()):
    plane = principal_plane(run.encode(sprites))
    for k, kind in enumerate(kinds):
        chosen = sprites.labels == k
        ax.scatter(plane[chosen, 0], plane[chosen, 1], s=6, label=kind)
    ax.set_title(f"{name} codes, first two principal directions", fontsize=10)
axes[1].legend(markerscale=3, fontsize=8)
L.save_figure(fig, "02_latent_space.png")

# %% [markdown]
# ## A map of a two-dimensional latent space
#
# With only two latent dimensions the whole space can be drawn: decode a grid of codes `z = (z1, z2)` in
# [-2, 2]^2 and put each sprite where its code is. `run.model.decode(z)` (the contract every latent model keeps)
# gives `(N, K, H, W)` logits; the argmax is a palette index for every pixel.

# %%
vae2 = train("vae", "vae_2d", "vae.latent_dim=2", "vae.kl_warmup_steps=200")
side = 9
axis = np.linspace(-2, 2, side, dtype=np.float32)
grid = torch.from_numpy(np.stack(np.meshgrid(axis, -axis), -1).reshape(-1, 2))  # (side*side, 2), z2 up
with torch.no_grad():
    decoded = vae2.model.eval().decode(grid).argmax(1).numpy()  # (side*side, H, W) palette indices
fig, ax = plt.subplots(figsize=(6, 6))
L.show(ax, sf.SpriteSet(decoded, vae2.palette), "decoder(z) for z on a grid in [-2, 2]^2", columns=side)
L.save_figure(fig, "02_latent_map.png")

# %% [markdown]
# ## beta: how hard the KL term pulls
#
# `beta` trades reconstruction against a well-behaved latent space. Small beta: sharp reconstructions, codes
# that wander away from `N(0, I)`, so prior samples land in holes. Large beta: codes packed into the prior, so
# samples look like sprites, but the code carries less about each sprite and reconstructions lose detail.


# %%
def train_beta(beta: float) -> sf.Run:
    return train("vae", f"vae_beta{beta}", "vae.latent_dim=16", "vae.kl_warmup_steps=200", f"vae.beta={beta}")


by_beta = {0.1: train_beta(0.1), 1.0: vae, 4.0: train_beta(4.0)}  # beta=1 is the VAE above
fig, axes = plt.subplots(len(by_beta), 2, figsize=(12, 1.4 * len(by_beta) + 0.5))
for row, (beta, run) in zip(axes, by_beta.items()):
    exact = (run.reconstruct(sprites).indices == sprites.indices).mean()
    L.show(
        row[0],
        run.reconstruct(shown.subset(np.arange(8))),
        f"beta={beta}: reconstructions ({exact:.1%} exact pixels)",
        columns=8,
    )
    L.show(row[1], run.sample(8, seed=1), f"beta={beta}: samples", columns=8)
L.save_figure(fig, "02_beta.png")

# %% [markdown]
# ## Interpolation
#
# A straight line between two codes, decoded step by step (`run.interpolate(first, second, steps)`). In the VAE's
# latent space the path passes through sprite-like codes; its decoded midpoints are sprites, not a cross-fade.

# %%
first, second = sprites.subset([0, 1, 2]), sprites.subset([3, 4, 5])
path = vae.interpolate(first, second, steps=8)
fig, ax = plt.subplots(figsize=(8, 3.2))
L.show(ax, path, "VAE: three latent walks, left to right", columns=8)
L.save_figure(fig, "02_interpolation.png")

# %% [markdown]
# The CLI does the same: `spriteforge train --model vae`, `spriteforge sample RUN`,
# `spriteforge interpolate RUN`. Next: [3. Conditioning](03_conditioning.py).
