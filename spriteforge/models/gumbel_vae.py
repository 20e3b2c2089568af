"""Gumbel-softmax VAE: a categorical latent of N variables x C categories (Jang et al. 2017; Pallets' GumbelVAE).

    indices (B,H,W) --AE body--> logits (B,N*C) --Gumbel-softmax(tau)--> z (B,N*C), N blocks of C summing to 1
    z --AE decoder--> logits (B,K,H,W) [index mode] or rgba (B,4,H,W) [rgba mode]

Everything but the latent is the autoencoder's (vae.py): the conv/mlp bodies, the index/rgba decoders, and the
labelled/conditional option. Here the code is `latent_dim` = N*C numbers, N = latent_dim / categories one-hot
blocks; the prior is uniform over each variable's categories, so the KL per variable is log C - H(q).

The temperature anneals as tau = max(tau_min, tau0 * exp(-anneal_rate * step)): soft samples early (low-variance
gradients), near one-hot ones later (what the decoder sees at sampling time). `hard` uses the straight-through
estimator: the forward pass is exactly one-hot, the gradient is the soft sample's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from spriteforge.errors import SpriteforgeError
from spriteforge.models.base import DataSpec, register
from spriteforge.models.vae import VAE, VAEConfig


@dataclass
class GumbelVAEConfig(VAEConfig):
    latent_dim: int = 240  # the code's size, N variables x C categories (here 30 x 8)
    categories: int = 8  # C, categories per variable
    tau0: float = 1.0  # temperature at step 0
    tau_min: float = 0.5  # the annealing floor
    anneal_rate: float = 1e-3  # tau = max(tau_min, tau0 * exp(-anneal_rate * step))
    hard: bool = False  # straight-through: one-hot forward pass, soft gradient


@register("gumbel_vae")
class GumbelVAE(VAE):
    """Categorical-latent VAE (Gumbel-softmax relaxation, uniform prior); conv or mlp body, any conditioning.

    beta, kl_warmup_steps and free_bits work as in the VAE; free bits count per categorical variable."""

    Config = GumbelVAEConfig
    config: GumbelVAEConfig
    presets = {"tiny": {"latent_dim": 8, "categories": 4, "channels": [8, 16], "hidden": [32]}}

    def __init__(self, config: GumbelVAEConfig, spec: DataSpec) -> None:
        if config.categories < 2 or config.latent_dim % config.categories:
            raise SpriteforgeError(
                f"gumbel_vae: latent_dim={config.latent_dim} must be a multiple of categories={config.categories} "
                "(>= 2): the code is latent_dim / categories variables of `categories` each."
            )
        if not 0 < config.tau_min <= config.tau0:
            raise SpriteforgeError(f"gumbel_vae: need 0 < tau_min ({config.tau_min}) <= tau0 ({config.tau0}).")
        super().__init__(config, spec)

    @property
    def variables(self) -> int:
        return self.config.latent_dim // self.config.categories

    @staticmethod
    def latent_outputs(latent_dim: int) -> int:
        return latent_dim  # one logit per category of every variable

    def temperature(self, step: int) -> float:
        config = self.config
        return max(config.tau_min, config.tau0 * math.exp(-config.anneal_rate * step))

    def _blocks(self, flat: torch.Tensor) -> torch.Tensor:
        """(B,N*C) -> (B,N,C)."""
        return flat.reshape(flat.shape[0], self.variables, self.config.categories)

    def code_of(self, posterior: torch.Tensor) -> torch.Tensor:
        """(B,N*C) logits -> (B,N*C) posterior probabilities (each variable's block sums to 1): the mean code."""
        return self._blocks(posterior.float()).softmax(-1).flatten(1)

    @property
    def latent_unit(self) -> int:
        """One variable is a block of `categories` probabilities: fusion takes whole blocks from one sprite."""
        return self.config.categories

    def _latent_and_penalty(
        self, posterior: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        logits = self._blocks(posterior.float())  # (B,N,C)
        z = F.gumbel_softmax(logits, tau=self.temperature(step), hard=self.config.hard, dim=-1)  # (B,N,C)
        log_q = logits.log_softmax(-1)
        kl_per_variable = (log_q.exp() * (log_q + math.log(self.config.categories))).sum(-1)  # (B,N) KL(q || uniform)
        kl = kl_per_variable.sum(1).mean()
        free_bits = self.config.free_bits
        penalised = kl_per_variable.mean(0).clamp(min=free_bits).sum() if free_bits else kl
        return z.flatten(1), {"kl": (kl, self._beta(step) * penalised)}

    def _prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """(n,N*C): every variable one-hot on a uniformly drawn category."""
        device = self.to_latent.weight.device
        drawn = torch.randint(self.config.categories, (n, self.variables), generator=generator, device=device)
        return F.one_hot(drawn, self.config.categories).float().flatten(1)

    def loss(self, batch: dict[str, Any], *, step: int, group: str | None = None) -> dict[str, torch.Tensor]:
        terms = super().loss(batch, step=step, group=group)
        terms["tau"] = torch.tensor(self.temperature(step))
        return terms
