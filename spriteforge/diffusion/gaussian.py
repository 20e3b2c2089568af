"""Gaussian diffusion (Ho et al. 2020; DDIM, Song et al. 2021): schedules, forward noising, reverse steps.

Symbols as in the papers: beta_t the noise added at step t, alpha_t = 1 - beta_t, alpha_bar_t = prod_{s<=t} alpha_s,
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps                      (forward process, any t at once)
    v   = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0                      (Salimans & Ho 2022)
Timesteps t run 0..T-1. Sampling with fewer steps respaces: `set_timesteps` picks a subsequence of the same T
steps and every reverse step reads alpha_bar at its own t and at the previous chosen t, so one trained network
serves any step count (respacing wraps the schedule, it never builds a second one).
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "v", "x0")


def betas_for(schedule: str, timesteps: int) -> torch.Tensor:
    """(T,) float64 betas. linear: 1e-4 .. 0.02 at T=1000, scaled by 1000/T so any T keeps the same end points of
    alpha_bar (improved-diffusion); cosine: alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) pi/2), s = 0.008.
    Both keep beta <= 0.999 (a linear schedule with T < 50 would otherwise pass 1: use cosine for so few steps)."""
    if schedule == "linear":
        scale = 1000.0 / timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64).clamp(max=0.999)
    if schedule == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        alpha_bar = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


class NoiseSchedule:
    """The maths of one Gaussian noise process with T steps; holds no network and no state but its constants."""

    def __init__(self, schedule: str = "linear", timesteps: int = 1000) -> None:
        self.timesteps = timesteps
        self.betas = betas_for(schedule, timesteps)  # (T,) float64
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # alpha_bar_t

    def alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar at integer timesteps t (B,), shaped (B,1,1,1) like `like`; t = -1 means alpha_bar = 1 (x_0)."""
        table = torch.cat([self.alphas_cumprod.new_ones(1), self.alphas_cumprod]).to(like.device)
        return table[t.long().to(like.device) + 1].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    # -- forward process --------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0): sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps."""
        a = self.alpha_bar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def target(self, prediction: str, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network regresses for a parameterisation: eps, v or x_0."""
        if prediction == "eps":
            return noise
        if prediction == "x0":
            return x0
        a = self.alpha_bar(t, x0)
        return a.sqrt() * noise - (1 - a).sqrt() * x0

    def predict_x0(self, prediction: str, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """A network output in any parameterisation -> the estimate of x_0 at x_t."""
        a = self.alpha_bar(t, x_t)
        if prediction == "eps":
            return (x_t - (1 - a).sqrt() * output) / a.sqrt()
        if prediction == "x0":
            return output
        return a.sqrt() * x_t - (1 - a).sqrt() * output  # from v

    def eps_from_x0(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise that takes x_0 to x_t: (x_t - sqrt(alpha_bar) x_0) / sqrt(1 - alpha_bar)."""
        a = self.alpha_bar(t, x_t)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    # -- reverse process --------------------------------------------------------------------------
    def set_timesteps(self, steps: int) -> list[int]:
        """Descending timesteps for `steps` reverse steps, evenly spaced from 0 ("leading" spacing, as diffusers'
        DDIM): 5 of 1000 -> [800, 600, 400, 200, 0]. steps = T gives every step, T-1 .. 0."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps {steps}: choose between 1 and {self.timesteps}")
        ratio = self.timesteps // steps
        return [i * ratio for i in reversed(range(steps))]

    def ddim_step(
        self, x0: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, eta: float, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """x_t -> x_{t_prev} (t_prev = -1: the last step, to x_0), given the estimates of x_0 and eps:
            sigma = eta sqrt((1 - a_prev)/(1 - a_t)) sqrt(1 - a_t/a_prev)
            x_prev = sqrt(a_prev) x_0 + sqrt(1 - a_prev - sigma^2) eps + sigma z.
        eta = 0 is deterministic DDIM; eta = 1 is the DDPM posterior (same mean and variance as `ddpm_step`)."""
        a_t, a_prev = (self.alpha_bar(torch.tensor([s]), x0) for s in (t, t_prev))
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        x_prev = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
        return x_prev + sigma * noise if eta > 0 and noise is not None else x_prev

    def ddpm_step(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """Ancestral sampling from the posterior q(x_{t_prev} | x_t, x_0) with the respaced beta = 1 - a_t/a_prev:
        mean = sqrt(a_prev) beta / (1 - a_t) x_0 + sqrt(1 - beta) (1 - a_prev) / (1 - a_t) x_t
        var  = (1 - a_prev) / (1 - a_t) beta   (beta-tilde; no noise on the last step)."""
        a_t, a_prev = (self.alpha_bar(torch.tensor([s]), x0) for s in (t, t_prev))
        beta = 1 - a_t / a_prev
        mean = a_prev.sqrt() * beta / (1 - a_t) * x0 + (1 - beta).sqrt() * (1 - a_prev) / (1 - a_t) * x_t
        if t_prev < 0 or noise is None:
            return mean
        return mean + ((1 - a_prev) / (1 - a_t) * beta).sqrt() * noise
