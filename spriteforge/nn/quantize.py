"""Vector quantisation (van den Oord et al. 2017): the bottleneck of the VQ-VAE family.

    z (B,D,h,w) --nearest codebook vector--> codes (B,h,w) long, z_q (B,D,h,w)

The codebook is learned either by exponential moving averages of the encoder outputs assigned to each code
(Laplace-smoothed counts, as in the VQ-VAE paper's appendix and Sonnet's VectorQuantizerEMA) or by gradients
(the codebook loss ||sg(z) - e||^2). The commitment cost beta ||z - sg(e)||^2 keeps the encoder near its codes.
Codes no batch has used for `restart_after` training steps are re-seeded from random encoder outputs of the
current batch, so codebook usage stays high (dead-code restarts, as in Jukebox).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantiser with a straight-through gradient.

    ema_decay > 0: the codebook is a buffer moved by EMA (no gradient); ema_decay = 0: it is a parameter learned by
    the codebook loss. restart_after = 0 disables dead-code restarts."""

    # Buffers (and the codebook, a buffer or a Parameter) declared for the type checker: register_buffer leaves them
    # typed as nn.Module.__getattr__'s `Tensor | Module`.
    codebook: Tensor  # (K,D)
    cluster_size: Tensor  # (K,), EMA only
    embed_sum: Tensor  # (K,D), EMA only
    idle_steps: Tensor  # (K,) long

    def __init__(
        self,
        num_codes: int,
        dim: int,
        commitment: float = 0.25,
        ema_decay: float = 0.99,
        restart_after: int = 100,
        epsilon: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_codes, self.dim = num_codes, dim
        self.commitment, self.ema_decay, self.restart_after, self.epsilon = (
            commitment,
            ema_decay,
            restart_after,
            epsilon,
        )
        initial = torch.randn(num_codes, dim) / dim**0.5  # (K,D), the scale of a unit-variance encoder output / sqrt(D)
        if ema_decay > 0:
            self.register_buffer("codebook", initial)
            self.register_buffer("cluster_size", torch.ones(num_codes))  # EMA of assignment counts (K,)
            self.register_buffer("embed_sum", initial.clone())  # EMA of the sum of assigned vectors (K,D)
        else:
            self.codebook = nn.Parameter(initial)
        self.register_buffer("idle_steps", torch.zeros(num_codes, dtype=torch.long))  # training steps since last use

    @property
    def uses_ema(self) -> bool:
        return self.ema_decay > 0

    def codes_of(self, z: Tensor) -> Tensor:
        """(B,D,h,w) -> (B,h,w) index of the nearest codebook vector (squared Euclidean)."""
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, self.dim)  # (N,D)
        with torch.autocast(z.device.type, enabled=False):  # float32 distances, as in training
            return self._nearest(flat).view(z.shape[0], *z.shape[2:])

    def lookup(self, codes: Tensor) -> Tensor:
        """(B,h,w) long -> (B,D,h,w) codebook vectors."""
        return self.codebook[codes.long()].permute(0, 3, 1, 2)

    def _nearest(self, flat: Tensor) -> Tensor:
        codebook = self.codebook.float()
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.T + codebook.pow(2).sum(1)  # (N,K)
        return distances.argmin(1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """z (B,D,h,w) -> (z_q with straight-through gradient (B,D,h,w), codes (B,h,w), terms).

        terms: "vq" (commitment + codebook loss, to add to the loss), "usage" (share of the K codes this batch
        used), "perplexity" (exp of the entropy of the batch's code histogram; K when all are used equally)."""
        # Distances and EMA statistics in float32 whatever the autocast dtype: under bf16 autocast the matrix
        # products would otherwise run in bf16, picking other codes and writing bf16 sums into float32 buffers.
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z.float())

    def _quantize(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.dim)  # (N,D), N = B*h*w
        codes = self._nearest(flat)  # (N,)
        one_hot = F.one_hot(codes, self.num_codes).float()  # (N,K)
        quantized = self.codebook.float()[codes]  # (N,D)
        vq = self.commitment * F.mse_loss(flat, quantized.detach())
        if not self.uses_ema:
            vq = vq + F.mse_loss(quantized, flat.detach())  # moves the codebook towards the encoder outputs
        if self.training:
            with torch.no_grad():
                counts = one_hot.sum(0)  # (K,)
                if self.uses_ema:
                    self._ema_update(counts, one_hot.T @ flat)
                self._restart_dead_codes(counts, flat)
        histogram = one_hot.mean(0)  # (K,)
        terms = {
            "vq": vq,
            "usage": (histogram > 0).float().mean(),
            "perplexity": torch.exp(-(histogram * (histogram + 1e-10).log()).sum()),
        }
        straight_through = flat + (quantized - flat).detach()  # forward: quantized; backward: identity to z
        z_q = straight_through.view(z.shape[0], *z.shape[2:], self.dim).permute(0, 3, 1, 2)
        return z_q, codes.view(z.shape[0], *z.shape[2:]), terms

    def _ema_update(self, counts: Tensor, sums: Tensor) -> None:
        """N_k <- d N_k + (1-d) n_k; m_k <- d m_k + (1-d) sum of assigned z; e_k = m_k / Laplace-smoothed N_k."""
        self.cluster_size.lerp_(counts, 1 - self.ema_decay)
        self.embed_sum.lerp_(sums, 1 - self.ema_decay)
        total = self.cluster_size.sum()
        # Laplace smoothing keeps a code with (almost) no assignments from dividing by zero.
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])

    def _restart_dead_codes(self, counts: Tensor, flat: Tensor) -> None:
        """Codes unused for `restart_after` steps take the values of random encoder outputs of this batch."""
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        if not self.restart_after:
            return
        dead = (self.idle_steps >= self.restart_after).nonzero().squeeze(1)  # (R,)
        if not len(dead):
            return
        chosen = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]  # (R,D)
        self.codebook.data[dead] = chosen.to(self.codebook.dtype)
        if self.uses_ema:  # restart the code's statistics as one fresh assignment
            self.cluster_size[dead] = 1.0
            self.embed_sum[dead] = chosen
        self.idle_steps[dead] = 0
