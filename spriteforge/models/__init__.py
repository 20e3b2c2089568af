"""Model families. Importing this package registers every model (one file per family)."""

from spriteforge.models import vae  # noqa: F401
