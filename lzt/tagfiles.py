"""Small `label: value` files for tag post-processing: per-label thresholds and output names.

Same syntax as vocabulary files: one `label: value` per line, `#` comments, blank lines ignored.
"""

from __future__ import annotations

from pathlib import Path

from lzt.errors import LztError


def _pairs(path: Path) -> list[tuple[int, str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LztError(f"cannot read {path}: {exc}") from exc
    pairs = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        label, sep, value = line.partition(":")
        if not sep or not label.strip() or not value.strip():
            raise LztError(f"{path}:{line_no}: expected `label: value`, got {raw.strip()!r}")
        pairs.append((line_no, label.strip(), value.strip()))
    return pairs


def _check_labels(path: Path, pairs: list[tuple[int, str, str]], labels: list[str]) -> None:
    known = set(labels)
    for line_no, label, _ in pairs:
        if label not in known:
            raise LztError(f"{path}:{line_no}: {label!r} is not a label of this classifier")


def read_thresholds(path: Path, labels: list[str]) -> dict[str, float]:
    pairs = _pairs(path)
    _check_labels(path, pairs, labels)
    thresholds = {}
    for line_no, label, value in pairs:
        try:
            thresholds[label] = float(value)
        except ValueError as exc:
            raise LztError(f"{path}:{line_no}: {value!r} is not a number") from exc
    return thresholds


def read_renames(path: Path, labels: list[str]) -> dict[str, str]:
    pairs = _pairs(path)
    _check_labels(path, pairs, labels)
    return {label: value for _, label, value in pairs}


def parse_label_list(values: list[str], labels: list[str]) -> frozenset[str]:
    """`--exclude-tags person,car --exclude-tags dog` -> {person, car, dog}; unknown names are errors."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = names - set(labels)
    if unknown:
        raise LztError(f"--exclude-tags names labels this classifier lacks: {', '.join(sorted(unknown))}")
    return frozenset(names)
