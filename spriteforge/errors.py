"""The one exception type users see.

Anything raised as `SpriteforgeError` is bad input or a bad environment, not a bug: the CLI prints its message
(which names the file or value and the fix) and exits with code 2, without a traceback.
"""


class SpriteforgeError(Exception):
    """Bad input or environment, explained in a message that names the file or value and the fix.

    `value` names the input the error is about ("labels", "data.labels") when a front end asks for it in its own
    words: models speak of values, the CLI adds the flag that sets one (cli.FLAGS)."""

    def __init__(self, message: str, *, value: str | None = None) -> None:
        super().__init__(message)
        self.value = value
