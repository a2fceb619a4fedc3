"""Errors the CLI turns into one readable line and an exit code (no traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3  # the run finished, but some files could not be read and were skipped
EXIT_INTERRUPTED = 130


class LztError(Exception):
    """An expected failure: bad input, missing weights, a mismatched classifier file..."""

    exit_code = EXIT_ERROR


class UsageError(LztError):
    """Options that contradict each other or name something that does not exist."""

    exit_code = EXIT_USAGE


class OutputClosed(Exception):
    """stdout's reader went away (`lzt tag ... | head`). Not an OSError on purpose: click turns
    EPIPE into exit status 1, while a closed pipe is a normal way for a pipeline to end."""
