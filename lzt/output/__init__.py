"""Output formats in a registry: JSON Lines and CSV on stdout, caption files, XMP sidecars, and
formats added by plugins (an entry point in the `lzt.formats` group that registers a Format)."""

from __future__ import annotations

from lzt.config import OnExisting, OutputOptions, XmpNaming
from lzt.output import captions, streams, xmp  # noqa: F401  (the built-ins register themselves)
from lzt.output.background import BackgroundWriter
from lzt.output.base import FORMATS, Format, WriteError, Writer, register_format


def format_names() -> list[str]:
    """Registered formats: the built-ins (jsonl, the default, first), then plugins'."""
    return FORMATS.names()


def get_format(name: str) -> Format:
    return FORMATS.get(name)


def make_writer(name: str, options: OutputOptions = OutputOptions()) -> Writer:
    """A writer of the named format (`jsonl`, `csv`, `txt`, `xmp`, or a plugin's)."""
    return get_format(name).create(options)


__all__ = [
    "BackgroundWriter", "Format", "OnExisting", "OutputOptions", "WriteError", "Writer", "XmpNaming", "format_names",
    "get_format", "make_writer", "register_format",
]
