# %% [markdown]
# # 4. Gumbel-softmax
#
# Some latent codes are better discrete: a sprite is "a tree *or* a slime", a tile is "wall *or* floor". But a
# network cannot backpropagate through drawing a category. The **Gumbel-softmax** (Jang et al. 2017; Maddison
# et al. 2017's *Concrete* distribution) replaces the draw with a differentiable one that becomes exact as a
# temperature goes to zero. spriteforge's `gumbel_vae` uses it for a latent of N categorical variables.

# %%
import _learn as L
import matplotlib.pyplot as plt
import numpy as np
import spriteforge as sf
import torch
import torch.nn.functional as F

# %% [markdown]
# ## Step 1: the Gumbel-max trick
#
# With class probabilities `pi` and `g_i = -log(-log u_i)`, `u_i ~ Uniform(0, 1)` independent (Gumbel noise),
#
# $$\arg\max_i \,(\log \pi_i + g_i) \;\sim\; \mathrm{Categorical}(\pi).$$
#
# Drawing a category becomes an argmax of noisy logits. Checked by counting:

# %%
generator = torch.Generator().manual_seed(0)
probs = torch.tensor([0.6, 0.3, 0.1])
draws = L.budget(100_000, 10_000)
uniform = torch.rand(draws, 3, generator=generator)
gumbel = -torch.log(-torch.log(uniform))  # (draws, 3) Gumbel(0, 1) noise
counts = torch.bincount((probs.log() + gumbel).argmax(1), minlength=3)
print("pi:             ", probs.numpy())
print("argmax shares:  ", (counts / draws).numpy().round(3))

# %% [markdown]
# ## Step 2: relax the argmax with a temperature
#
# Replace the argmax by a softmax at temperature `tau`:
#
# $$y = \mathrm{softmax}\big((\log \pi + g) / \tau\big).$$
#
# `y` is a point of the **probability simplex** (non-negative, sums to one). With three categories the simplex is a
# triangle whose corners are the one-hot vectors. At high `tau` the samples crowd the centre (every category a
# bit); as `tau` falls they are pushed into the corners, and their corner frequencies are `pi`.


# %%
def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hand-written Gumbel-softmax sample over the last axis: softmax((logits + g) / tau), g ~ Gumbel(0, 1)."""
    u = torch.rand(logits.shape, generator=generator).clamp_min(1e-20)
    g = -torch.log(-torch.log(u))
    return torch.softmax((logits + g) / tau, dim=-1)


def to_triangle(y: np.ndarray) -> np.ndarray:
    """(N, 3) simplex points -> (N, 2) positions in an equilateral triangle with corners at the one-hot vectors."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return y @ corners


temperatures = (10.0, 2.0, 1.0, 0.5, 0.1)
points = L.budget(2000, 200)
logits = probs.log().expand(points, 3)
fig, axes = plt.subplots(1, len(temperatures), figsize=(3 * len(temperatures), 3))
for ax, tau in zip(axes, temperatures):
    xy = to_triangle(gumbel_softmax(logits, tau, generator).numpy())
    ax.fill([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="0.93", zorder=0)
    ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.4)
    for name, (x, y) in zip(["A 0.6", "B 0.3", "C 0.1"], [(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)]):
        ax.annotate(name, (x, y), ha="center", va="top" if y == 0 else "bottom", fontsize=8)
    ax.set_title(f"tau = {tau}", fontsize=10)
    ax.set_aspect("equal")
    ax.set_axis_off()
L.save_figure(fig, "04_simplex.png")

# %% [markdown]
# ## Step 3: ours against PyTorch's
#
# `torch.nn.functional.gumbel_softmax`, which spriteforge's `gumbel_vae` calls, draws its noise as `-log(e)` with
# `e ~ Exponential(1)`: the same Gumbel distribution (`-log u` is exponential when `u` is uniform). Drawing that
# noise from the same seed, the hand-written formula gives PyTorch's numbers exactly:

# %%
batch_logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
torch.manual_seed(7)
theirs = F.gumbel_softmax(batch_logits, tau=0.5)
torch.manual_seed(7)
noise = -torch.empty_like(batch_logits).exponential_().log()  # PyTorch's draw of the Gumbel noise
ours = torch.softmax((batch_logits + noise) / 0.5, dim=-1)
print("largest difference:", (ours - theirs).abs().max().item())
assert torch.allclose(ours, theirs)

# %% [markdown]
# And in distribution, with independent noise: the mean of many samples per category, ours and theirs, at a
# low and a high temperature (the means are not `pi` at high `tau`: the relaxation is biased away from zero).

# %%
many = probs.log().expand(L.budget(50_000, 2_000), 3)
for tau in (0.1, 2.0):
    print(
        f"tau={tau}: ours {gumbel_softmax(many, tau, generator).mean(0).numpy().round(3)}",
        f"torch {F.gumbel_softmax(many, tau=tau).mean(0).numpy().round(3)}",
    )

# %% [markdown]
# ## Step 4: straight-through
#
# A decoder trained on soft vectors is then sampled on one-hot ones, which it has never seen. The
# **straight-through** estimator (`hard=True`) sends the exact one-hot vector forward and the soft sample's gradient
# backward: `y = one_hot(argmax y_soft) - y_soft.detach() + y_soft`. Same noise, two versions: the forward values
# differ, the gradients are identical.

# %%
weights = torch.tensor([1.0, -2.0, 0.5])  # a stand-in downstream loss: sum(w * y)
results = {}
for hard in (False, True):
    x = probs.log().clone().requires_grad_(True)
    torch.manual_seed(3)
    y = F.gumbel_softmax(x, tau=0.5, hard=hard)
    (weights * y).sum().backward()
    results[hard] = (y.detach(), x.grad)
    print(f"hard={hard!s:>5}: forward {y.detach().numpy().round(3)}, gradient {x.grad.numpy().round(4)}")
assert torch.allclose(results[False][1], results[True][1])

# %% [markdown]
# ## In a model: the gumbel_vae
#
# `gumbel_vae`'s code is N variables of C categories (here 16 x 8): each block of the encoder's output goes through
# Gumbel-softmax, the KL term is against a uniform prior on each variable, and sampling draws one category per
# variable uniformly. The temperature anneals during training, `tau = max(tau_min, tau0 * exp(-rate * step))`,
# from soft codes (low-variance gradients) towards nearly one-hot ones (what sampling feeds the decoder).

# %%
STEPS = L.budget(1500, 3)
COUNT = L.budget(2048, 128)
settings = L.train_settings(
    STEPS, f"data.count={COUNT}", "gumbel_vae.latent_dim=128", "gumbel_vae.categories=8",
    "gumbel_vae.channels=[32,64]", "gumbel_vae.anneal_rate=0.003", "gumbel_vae.hard=true",
)  # fmt: skip
run = sf.train("gumbel_vae", "procedural", L.run_dir("04_gumbel_vae"), logger="none", overrides=settings)
sprites = sf.load_sprites("procedural", size=16, count=COUNT)

codes = run.encode(sprites.subset(np.arange(6)))  # (6, N*C): each block of C sums to 1
fig, axes = plt.subplots(1, 3, figsize=(15, 3.4), gridspec_kw={"width_ratios": [1, 1.6, 1.6]})
steps = np.arange(STEPS + 1)
axes[0].plot(steps, [run.model.temperature(int(s)) for s in steps])
axes[0].set_xlabel("training step")
axes[0].set_ylabel("tau")
axes[0].set_title("the annealed temperature", fontsize=10)
axes[1].imshow(codes[0].reshape(-1, 8).T, cmap="Greys", vmin=0, vmax=1, aspect="auto")
axes[1].set_xlabel("variable")
axes[1].set_ylabel("category")
axes[1].set_title("one sprite's code: q(category) per variable", fontsize=10)
L.show(axes[2], run.sample(16, seed=0), "samples: one uniform category per variable", columns=8)
L.save_figure(fig, "04_gumbel_vae.png")

# %% [markdown]
# A sharp column in the middle panel is a variable the encoder is sure about; a grey one carries little about this
# sprite. Try `gumbel_vae.hard=false`, a slower `anneal_rate`, or more categories, and compare the samples.
#
# Next: [5. VQ-VAE and priors](05_vqvae.py).
