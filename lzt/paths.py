"""User folders: the cache (embeddings, corpora, default classifiers)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LZT_CACHE_DIR"


def cache_dir() -> Path:
    """$LZT_CACHE_DIR, else the platform's user cache folder (~/.cache/lzt on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lzt", appauthor=False))
