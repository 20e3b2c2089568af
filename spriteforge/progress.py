"""Progress bars, always on stderr: a command whose stdout is piped somewhere is never polluted by a bar.

Downloads, Inception features, the evaluation classifier's training, dataset preparation and folder conversion all
draw theirs through these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich import progress
from rich.console import Console

Item = TypeVar("Item")


@contextmanager
def progress_bar(
    description: str,
    total: int | None,
    *,
    enabled: bool = True,
    completed: int = 0,
    transfer: bool = False,
    transient: bool = True,
) -> Iterator[Callable[[int], None]]:
    """Yield a function to call with each step's size; it draws a bar when enabled and the total is known.

    transfer: count bytes (size and speed) instead of items; transient: the bar disappears when done."""
    if not enabled or total is None:
        yield lambda n: None
        return
    counts = (
        (progress.DownloadColumn(), progress.TransferSpeedColumn()) if transfer else (progress.MofNCompleteColumn(),)
    )
    columns = (progress.TextColumn("{task.description}"), progress.BarColumn(), *counts, progress.TimeRemainingColumn())
    with progress.Progress(*columns, console=Console(stderr=True), transient=transient) as bar:
        task = bar.add_task(description, completed=completed, total=total)
        yield lambda n: bar.advance(task, n)


def track(items: Sequence[Item], description: str, *, enabled: bool = True) -> Iterable[Item]:
    """`items`, one by one, with a transient bar."""
    return progress.track(
        items, description=description, console=Console(stderr=True), transient=True, disable=not enabled
    )
