"""The exceptions and the warning category of lzt's public API.

Messages name the library's parameters in backticks (`image_size`); the command line rewrites
them into its flags (`--image-size`), so one message serves both audiences.
"""

from __future__ import annotations

import warnings


class LztError(Exception):
    """An expected failure with a one-line reason: bad input, missing weights, a damaged file."""


class UsageError(LztError, ValueError):
    """Arguments that contradict each other or name something that does not exist."""


class InputError(UsageError):
    """Pixels or embeddings handed to a Tagger that do not have the expected shape or type."""


class WeightsUnavailable(LztError):
    """CLIP weights that are neither on this machine nor downloadable from here."""


class ClassifierFileError(LztError):
    """A classifier file that is missing, damaged, edited, too new, or built for another model."""


class LLMError(LztError):
    """A sentence writer (LLM server or endpoint) that failed after its retries."""


class OutputClosed(Exception):
    """stdout's reader went away (`lzt tag ... | head`). Not an OSError on purpose: click turns
    EPIPE into exit status 1, while a closed pipe is a normal way for a pipeline to end."""


class LztWarning(UserWarning):
    """Something the caller should know that does not stop the work: random weights, a cache
    that had to be disabled, labels left short of sentences."""


def warn(message: str) -> None:
    """Issue an LztWarning. Python shows it once per call site by default; the CLI shows each."""
    warnings.warn(message, LztWarning, stacklevel=3)
