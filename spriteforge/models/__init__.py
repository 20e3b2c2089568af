"""Model families. Importing this package registers every model (one file per family)."""

from spriteforge.models import diffusion, discrete_diffusion, vae  # noqa: F401
