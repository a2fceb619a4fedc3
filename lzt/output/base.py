"""The contract of an output format, and the registry built-in and plugin formats join.

A format makes a Writer from OutputOptions: `write(record)` for every record in order, then
`close()`. Stream formats print to `OutputOptions.stream`; file formats write beside the images
and never touch the images themselves. A writer that cannot write one record's output raises
WriteError: the record counts as skipped and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from lzt.config import OutputOptions
from lzt.errors import LztError
from lzt.plugins import Registry
from lzt.record import Record


class WriteError(LztError):
    """One record's output (a caption, a sidecar) could not be written; it was left as it was."""


class Writer(Protocol):
    def write(self, record: Record) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Format:
    name: str  # what users choose (`--format NAME`)
    description: str  # one line for help texts
    create: Callable[[OutputOptions], Writer]
    stream: bool  # prints to a stream (stdout) rather than writing files


FORMATS: Registry[Format] = Registry("output format", "lzt.formats", "format", ("jsonl", "csv", "txt", "xmp"))


def register_format(format_: Format) -> Format:
    """Make an output format available by its name; built-ins register this way too."""
    return FORMATS.register(format_.name, format_)
