"""How long-running library calls report progress and information without printing anything.

- Progress: pass `progress=` a callable `(description, total, unit) -> context manager yielding
  advance(n)`. The CLI passes rich progress bars; the default reports nothing.
- Information (the device in use, a classifier being built once) goes to the `lzt` logger at
  INFO level. lzt never configures logging; an application (or the CLI) decides what to show.
- Warnings are `LztWarning`s (lzt.errors).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator, Protocol

logger = logging.getLogger("lzt")

Advance = Callable[[int], None]


class Progress(Protocol):
    def __call__(self, description: str, total: int | None, unit: str) -> ContextManager[Advance]: ...


@contextmanager
def no_progress(description: str, total: int | None, unit: str) -> Iterator[Advance]:
    """The default: nothing is shown."""
    yield _ignore


def _ignore(n: int = 1) -> None:
    """An `advance` that shows nothing."""
