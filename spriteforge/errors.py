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


class Interrupted(Exception):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM (a scheduler), after saving a checkpoint it resumes from.

    The CLI prints the message and exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signal_number: int, run: object = None, step: int | None = None) -> None:
        super().__init__(signal_number, run, step)
        self.signal_number = signal_number
        self.run = run  # the run folder, once known
        self.step = step  # the step of the checkpoint a resume starts from; None when there is none

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number

    def __str__(self) -> str:
        if self.step is None:
            return f"interrupted before the first checkpoint: delete {self.run} and train again."
        return f"interrupted at step {self.step}; resume with `spriteforge train --resume {self.run}`"
