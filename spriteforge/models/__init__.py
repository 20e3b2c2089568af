"""Model families. Importing this package registers every model (one file per family)."""

from spriteforge.models import vae  # noqa: F401
from spriteforge.models import gumbel_vae  # noqa: F401
