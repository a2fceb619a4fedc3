"""The contract of an output format, and the registry built-in and plugin formats join.

A format makes a Writer from OutputOptions: `write(record)` for every record in order, then
`close()`. Stream formats print to `OutputOptions.stream`; file formats write beside the images
and never touch the images themselves. A writer that cannot write one record's output raises
WriteError: the record counts as skipped and the run goes on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Protocol, TextIO

from lzt.errors import LztError
from lzt.plugins import Registry
from lzt.tagging import Record


class WriteError(LztError):
    """One record's output (a caption, a sidecar) could not be written; it was left as it was."""


class OnExisting(str, Enum):
    """What a file format does when the caption or sidecar already exists."""

    skip = "skip"  # leave it untouched
    overwrite = "overwrite"  # replace what lzt wrote before (XMP: other keywords stay)
    append = "append"  # merge: add new tags, remove nothing, no duplicates


class XmpNaming(str, Enum):
    full = "full"  # photo.jpg.xmp (darktable, digiKam)
    stem = "stem"  # photo.xmp (Lightroom, Capture One)


@dataclass(frozen=True)
class OutputOptions:
    """stream: where stream formats print (default: sys.stdout when the writer is made);
    caption_ext: extension of caption files; on_existing: see OnExisting; xmp_naming: see
    XmpNaming; xmp_parent: parent of XMP hierarchical keywords (`lzt|dog`; empty: plain `dog`)."""

    stream: TextIO | None = field(default=None, compare=False)
    caption_ext: str = ".txt"
    on_existing: OnExisting = OnExisting.overwrite
    xmp_naming: XmpNaming = XmpNaming.full
    xmp_parent: str = "lzt"

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_existing", OnExisting(self.on_existing))
        object.__setattr__(self, "xmp_naming", XmpNaming(self.xmp_naming))

    def output_stream(self) -> TextIO:
        """Where stream formats print: `stream`, else sys.stdout."""
        return self.stream if self.stream is not None else sys.stdout


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
