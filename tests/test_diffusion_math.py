"""The noise-process maths pinned to exact values (diffusion/gaussian.py, diffusion/masking.py): no networks."""

from __future__ import annotations

import math

import pytest
import torch
from spriteforge.diffusion import NoiseSchedule, masked_after, masking_ratio


def test_ddim_timesteps_for_small_step_counts() -> None:
    schedule = NoiseSchedule("linear", 1000)
    assert schedule.set_timesteps(5) == [800, 600, 400, 200, 0]  # as diffusers' DDIM ("leading", offset 0)
    assert schedule.set_timesteps(1) == [0]
    assert schedule.set_timesteps(3) == [666, 333, 0]
    assert schedule.set_timesteps(1000) == list(range(999, -1, -1))
    assert NoiseSchedule("cosine", 10).set_timesteps(4) == [6, 4, 2, 0]
    with pytest.raises(ValueError):
        schedule.set_timesteps(1001)


def test_linear_schedule_values() -> None:
    schedule = NoiseSchedule("linear", 1000)
    assert float(schedule.betas[0]) == pytest.approx(1e-4, abs=1e-15)
    assert float(schedule.betas[-1]) == pytest.approx(0.02, abs=1e-15)
    assert float(schedule.alphas_cumprod[0]) == pytest.approx(0.9999, abs=1e-15)
    assert float(schedule.alphas_cumprod[1]) == pytest.approx(0.9999 * (1 - (1e-4 + 0.0199 / 999)), abs=1e-15)
    assert float(schedule.alphas_cumprod[-1]) == pytest.approx(4.0358e-5, rel=1e-4)  # DDPM's alpha_bar_T
    # Fewer timesteps keep the same end points of beta, scaled by 1000/T (improved-diffusion).
    assert NoiseSchedule("linear", 100).betas[[0, -1]].tolist() == pytest.approx([1e-3, 0.2])


def test_cosine_schedule_follows_its_closed_form() -> None:
    schedule = NoiseSchedule("cosine", 1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 1, 250, 499, 998):
        assert float(schedule.alphas_cumprod[t]) == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert float(schedule.betas.max()) == pytest.approx(0.999)  # clipped near t = T


def test_alpha_bar_lookup_and_the_final_step() -> None:
    schedule = NoiseSchedule("linear", 1000)
    like = torch.zeros(2, 3, 4, 4)
    a = schedule.alpha_bar(torch.tensor([0, -1]), like)
    assert a.shape == (2, 1, 1, 1)
    assert a.flatten().tolist() == pytest.approx([0.9999, 1.0])


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_parameterisations_recover_x0(prediction: str) -> None:
    schedule = NoiseSchedule("cosine", 1000)
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(3, 4, 8, 8, generator=generator) * 2 - 1, torch.randn(3, 4, 8, 8, generator=generator)
    t = torch.tensor([0, 500, 990])
    x_t = schedule.add_noise(x0.double(), noise.double(), t)
    target = schedule.target(prediction, x0.double(), noise.double(), t)
    recovered = schedule.predict_x0(prediction, target, x_t, t)
    assert torch.allclose(recovered, x0.double(), atol=1e-9)
    assert torch.allclose(schedule.eps_from_x0(x_t, recovered, t), noise.double(), atol=1e-6)


def test_ddim_with_eta_zero_and_a_perfect_eps_lands_on_x0() -> None:
    schedule = NoiseSchedule("linear", 1000)
    x0 = torch.linspace(-1, 1, 32, dtype=torch.float64).view(1, 2, 4, 4)
    eps = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = 600
    x_t = schedule.add_noise(x0, eps, torch.tensor([t]))
    x0_hat = schedule.predict_x0("eps", eps, x_t, torch.tensor([t]))
    assert torch.allclose(schedule.ddim_step(x0_hat, eps, t, -1, eta=0.0, noise=None), x0, atol=1e-12)
    # One DDIM step to t_prev with a perfect eps is the forward process at t_prev with the same noise.
    x_prev = schedule.ddim_step(x0_hat, eps, t, 400, eta=0.0, noise=None)
    assert torch.allclose(x_prev, schedule.add_noise(x0, eps, torch.tensor([400])), atol=1e-12)


def test_ddim_eta_one_is_the_ddpm_posterior() -> None:
    """The DDPM ancestral step and DDIM with eta = 1 have the same mean and variance (Song et al. 2021, eq. 16)."""
    schedule = NoiseSchedule("linear", 1000)
    generator = torch.Generator().manual_seed(2)
    x0, eps, z = (torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    t, t_prev = 700, 500
    x_t = schedule.add_noise(x0, eps, torch.tensor([t]))
    ddim_mean = schedule.ddim_step(x0, eps, t, t_prev, eta=1.0, noise=torch.zeros_like(z))
    ddpm_mean = schedule.ddpm_step(x0, x_t, t, t_prev, noise=None)
    assert torch.allclose(ddim_mean, ddpm_mean, atol=1e-12)
    ddim_noise = schedule.ddim_step(x0, eps, t, t_prev, eta=1.0, noise=z) - ddim_mean
    ddpm_noise = schedule.ddpm_step(x0, x_t, t, t_prev, noise=z) - ddpm_mean
    assert torch.allclose(ddim_noise, ddpm_noise, atol=1e-12)
    # Every step (t_prev = t - 1) uses the schedule's own beta_t: variance (1 - a_{t-1}) / (1 - a_t) beta_t.
    a = schedule.alphas_cumprod
    step = schedule.ddpm_step(x0, x_t, t, t - 1, noise=z) - schedule.ddpm_step(x0, x_t, t, t - 1, noise=None)
    sigma = math.sqrt(float((1 - a[t - 1]) / (1 - a[t]) * schedule.betas[t]))
    assert torch.allclose(step, sigma * z, atol=1e-12)


def test_masking_schedule_values() -> None:
    assert masking_ratio(torch.tensor([0.0, 0.5, 1.0])).tolist() == pytest.approx([1.0, math.sqrt(0.5), 0.0], abs=1e-7)
    # 256 masked pixels, 8 steps: floor(256 cos((s+1)/8 pi/2)), 0 at the end.
    left, still = [], 256
    for step in range(8):
        still = masked_after(step, 8, 256, still)
        left.append(still)
    assert left == [251, 236, 212, 181, 142, 97, 49, 0]
    # At least one pixel is unmasked per step, even when the schedule would keep them all.
    assert masked_after(0, 16, 3, 3) == 2
    assert masked_after(0, 1, 5, 5) == 0
