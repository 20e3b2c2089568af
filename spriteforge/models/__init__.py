"""Model families. Importing this package registers every model (one file per family)."""

from spriteforge.models import cyclegan, diffusion, discrete_diffusion, gumbel_vae, priors, vae, vqvae  # noqa: F401
