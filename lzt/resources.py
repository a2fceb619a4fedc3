"""Where the built-in label sets and prompt templates live, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """`label_sets` or `prompts`: the repo's top-level folder, else the copy inside the wheel."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"lzt resource folder {name!r} is missing from this installation")
