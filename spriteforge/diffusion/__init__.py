"""Noise processes and samplers: maths only, no networks (the network knows nothing of the noise process)."""

from spriteforge.diffusion.gaussian import SCHEDULES, NoiseSchedule
from spriteforge.diffusion.masking import masked_after, masking_ratio

__all__ = ["SCHEDULES", "NoiseSchedule", "masked_after", "masking_ratio"]
