"""stderr for people, stdout for data: messages, warnings and progress bars on stderr only.

rich honours NO_COLOR and turns colour and live bars off when stderr is not a terminal.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    """Settings of the running command that the logging and warning hooks consult."""

    debug = False
    quiet = False
    translate: Callable[[str], str] = staticmethod(lambda message: message)


class Ui:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        State.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            console.print(State.translate(message), markup=False)

    def warn(self, message: str) -> None:
        """Warnings are shown even with --quiet: they say something is off."""
        console.print(f"warning: {State.translate(message)}", style="bold yellow", markup=False)

    def error(self, message: str) -> None:
        console.print(f"error: {State.translate(message)}", style="bold red", markup=False)

    @contextmanager
    def progress(self, description: str, total: int | None, unit: str = "") -> Iterator[Callable[[int], None]]:
        """Yields `advance(n)`. No bar with --quiet or when stderr is not a terminal."""
        if self.quiet or not console.is_terminal:
            yield _ignore
            return
        columns = [
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                bar.advance(task, n)

            yield advance


def _ignore(n: int = 1) -> None:
    """An `advance` that shows nothing."""
