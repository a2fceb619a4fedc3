"""Which tags a record keeps, and under which names: top-k, thresholds, exclusions, renames;
and the small `label: value` files users keep them in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from lzt.errors import LztError, UsageError
from lzt.files import read_pairs

Tags = list[tuple[str, float]]


@dataclass(frozen=True)
class Selection:
    """A label is kept when it is not excluded, scores at least its threshold (its own from
    `per_label`, else `threshold`) and at least `min_score` (a floor for every label); of those,
    the `topk` best (None: all). `rename` changes the names written out, not what is scored."""

    topk: int | None = 10
    threshold: float | None = None
    per_label: dict[str, float] = field(default_factory=dict)
    min_score: float | None = None
    exclude: frozenset[str] = frozenset()
    rename: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.topk is not None and self.topk < 1:
            raise UsageError("`topk` must be at least 1 (or None for every label that qualifies)")
        object.__setattr__(self, "exclude", frozenset(self.exclude))

    def check(self, labels: Sequence[str]) -> None:
        """Every label named in the selection must be one of the classifier's."""
        known = set(labels)
        for what, names in (("per_label", self.per_label), ("exclude", self.exclude), ("rename", self.rename)):
            unknown = sorted(set(names) - known)
            if unknown:
                raise UsageError(f"`Selection.{what}` names labels this classifier lacks: {', '.join(unknown)}")

    def thresholds(self, labels: Sequence[str]) -> torch.Tensor:
        """(C,) the score each label must reach; -inf where nothing applies, +inf if excluded."""
        values = []
        for label in labels:
            candidates = [v for v in (self.per_label.get(label, self.threshold), self.min_score) if v is not None]
            values.append(max(candidates) if candidates else -math.inf)
        excluded = torch.tensor([label in self.exclude for label in labels], dtype=torch.bool)
        return torch.tensor(values).masked_fill(excluded, math.inf)


def select_tags(scores: torch.Tensor, labels: Sequence[str], selection: Selection) -> list[Tags]:
    """Best-first (label, score) lists, one per row of `scores`; scores rounded to 4 decimals."""
    thresholds = selection.thresholds(labels).to(scores.device)
    masked = scores.masked_fill(~(scores >= thresholds), -math.inf)
    k = len(labels) if selection.topk is None else min(selection.topk, len(labels))
    values, indices = masked.topk(k, dim=1)
    names = [selection.rename.get(label, label) for label in labels]
    return [
        [(names[i], round(v, 4)) for v, i in zip(row_values, row_indices) if v != -math.inf]
        for row_values, row_indices in zip(values.cpu().tolist(), indices.cpu().tolist())
    ]


# --- `label: value` files ------------------------------------------------------------------------


def _known(path: Path, label: str, line: int, labels: Sequence[str]) -> str:
    if label not in labels:
        raise LztError(f"{path}:{line}: {label!r} is not a label of this classifier")
    return label


def read_thresholds(path: str | Path, labels: Sequence[str]) -> dict[str, float]:
    """`label: 0.25` per line (`#` comments) -> per-label thresholds."""
    path = Path(path)
    thresholds = {}
    for line in read_pairs(path, "thresholds"):
        label = _known(path, line.name, line.number, labels)
        try:
            thresholds[label] = float(str(line.value))
        except ValueError as exc:
            raise LztError(f"{path}:{line.number}: {line.value!r} is not a number") from exc
    return thresholds


def read_renames(path: str | Path, labels: Sequence[str]) -> dict[str, str]:
    """`label: output name` per line (`#` comments) -> output names."""
    path = Path(path)
    return {_known(path, line.name, line.number, labels): str(line.value) for line in read_pairs(path, "renames")}


def parse_label_list(values: Iterable[str], labels: Sequence[str]) -> frozenset[str]:
    """`["person,car", "dog"]` -> {person, car, dog}; a name the classifier lacks is an error."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = names - set(labels)
    if unknown:
        raise UsageError(f"`Selection.exclude` names labels this classifier lacks: {', '.join(sorted(unknown))}")
    return frozenset(names)
