"""The one exception type users see.

Anything raised as `SpriteforgeError` is bad input or a bad environment, not a bug: the CLI prints its message
(which names the file or value and the fix) and exits with code 2, without a traceback.
"""


class SpriteforgeError(Exception):
    """Bad input or environment, explained in a message that names the file or value and the fix."""
