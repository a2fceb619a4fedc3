"""Vocabulary files: label names and synonyms; the built-in sets in label_sets/.

File syntax (documented in the README):
    # a comment              (also after a label: `dog  # pets`)
    dog                      a label
    tv: television, tv monitor   a label with synonyms
    beach: seaside [scene]   a label with its kind (see lzt.vocab.kinds), for the template writer
    [animals|birds]          a section: the labels below sit under animals > birds
    owl                      ... so owl's keyword path is animals|birds|owl
    raptors|eagle: erne      a path of its own, inside the section: animals|birds|raptors|eagle
    []                       back to the top level
Blank lines are ignored. Parents are keyword-tree nodes (XMP hierarchies), not labels: only
labels are scored. Label names and synonyms are compared case-insensitively; a name or synonym
used twice is an error naming both lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lzt.errors import LztError, UsageError
from lzt.files import read_lines, read_text, resource_dir

# The kinds of label the knowledge of a vocabulary knows (lzt.vocab.knowledge); a vocabulary line
# may name one in brackets at its end: `beach: seaside [scene]`.
KINDS = ("object", "animal", "person", "food", "plant", "vehicle", "scene", "activity", "event", "weather", "style", "material")
_KIND = re.compile(r"\[\s*([A-Za-z]+)\s*\]\s*$")


@dataclass(frozen=True)
class Label:
    name: str
    synonyms: tuple[str, ...] = ()
    kind: str | None = None  # given in the vocabulary file (`[scene]`); None: guessed when needed
    parents: tuple[str, ...] = ()  # its place in a keyword tree, root first (`animals`, `birds`)

    @property
    def terms(self) -> tuple[str, ...]:
        """Every way a sentence may mention this label (name first)."""
        return (self.name, *self.synonyms)

@dataclass(frozen=True)
class Vocabulary:
    """The labels a classifier knows, in order (the order of its score columns)."""

    labels: tuple[Label, ...]
    source: str = ""

    @property
    def names(self) -> list[str]:
        """The label names, in order."""
        return [label.name for label in self.labels]

    def __len__(self) -> int:
        return len(self.labels)

    def index(self) -> dict[str, int]:
        """Label name -> its position (its score column)."""
        return {label.name: i for i, label in enumerate(self.labels)}

    def parents(self) -> dict[str, tuple[str, ...]]:
        """Label name -> its parents, root first, for the labels that sit in a keyword tree."""
        return {label.name: label.parents for label in self.labels if label.parents}

@dataclass(frozen=True)
class LabelLine:
    """A vocabulary line as written: its number, the name and the synonyms (not yet checked)."""

    number: int
    raw: str
    name: str
    synonyms: tuple[str, ...]
    kind: str | None = None
    parents: tuple[str, ...] = ()  # the section's path, then the line's own (`birds|owl`)

_SPACES = re.compile(r"\s+")

def clean_term(term: str) -> str:
    """A name or synonym as the parser reads it: stripped, runs of whitespace as one space."""
    return _SPACES.sub(" ", term.strip())

def split_kind(text: str) -> tuple[str, str | None]:
    """`seaside [scene]` -> (`seaside`, `scene`); text without a bracketed kind -> (text, None).
    The kind is lower-cased but not checked here (the vocabulary parser checks it)."""
    match = _KIND.search(text)
    if match is None:
        return text, None
    return text[: match.start()].rstrip(), match.group(1).lower()


PATH_SEPARATOR = "|"  # between the nodes of a keyword path, as in Lightroom's lr:hierarchicalSubject


def split_path(text: str) -> tuple[str, ...]:
    """`animals | birds` -> (`animals`, `birds`); an empty node stays empty (the parser rejects it)."""
    return tuple(clean_term(node) for node in text.split(PATH_SEPARATOR)) if text.strip() else ()


def _label_line(number: int, raw: str, name: str, value: str | None, section: tuple[str, ...] = ()) -> LabelLine:
    kind = None
    if value is not None:
        value, kind = split_kind(value)
    else:
        name, kind = split_kind(name)
    synonyms = tuple(clean_term(s) for s in value.split(",")) if value else ()  # `dog:` has none
    *own, leaf = split_path(name) or ("",)
    return LabelLine(number, raw, clean_term(leaf), synonyms, kind, (*section, *own))


def section_header(raw: str) -> tuple[str, ...] | None:
    """The path of a section header line (`[animals|birds]`), `()` for `[]`; None for other lines."""
    content = raw.split("#", 1)[0].strip()
    if not (content.startswith("[") and content.endswith("]")):
        return None
    return split_path(content[1:-1])


def label_lines(text: str) -> list[LabelLine]:
    """Every label line of a vocabulary text, with the parents its section and its own path give,
    without any check (the checker reports them all)."""
    lines: list[LabelLine] = []
    section: tuple[str, ...] = ()
    for line in read_lines(text):
        header = section_header(line.raw)
        if header is not None:
            section = header
        else:
            lines.append(_label_line(line.number, line.raw, line.name, line.value, section))
    return lines

def parse_vocabulary(text: str, source: str = "<text>") -> Vocabulary:
    return _vocabulary(label_lines(text), source)


def _vocabulary(lines: Sequence[LabelLine], source: str) -> Vocabulary:
    labels: list[Label] = []
    seen: dict[str, int] = {}  # lower-cased term -> line where it first appeared
    for line in lines:
        if not line.name:
            raise LztError(f"{source}:{line.number}: empty label name in {line.raw!r}")
        if any(not s for s in line.synonyms):
            raise LztError(f"{source}:{line.number}: empty synonym in {line.raw!r}")
        if any(not node for node in line.parents):
            path = PATH_SEPARATOR.join((*line.parents, line.name))
            raise LztError(f"{source}:{line.number}: empty parent in the keyword path {path!r} of {line.raw!r} (a path is `animals|birds|owl`)")
        if line.kind is not None and line.kind not in KINDS:
            raise LztError(f"{source}:{line.number}: unknown kind [{line.kind}] in {line.raw!r} (kinds: {', '.join(KINDS)})")
        for term in (line.name, *line.synonyms):
            key = term.lower()
            if key in seen:
                raise LztError(f"{source}:{line.number}: {term!r} is a duplicate of line {seen[key]}")
            seen[key] = line.number
        labels.append(Label(line.name, line.synonyms, line.kind, line.parents))
    if not labels:
        raise LztError(f"{source}: the vocabulary holds no labels")
    return Vocabulary(tuple(labels), source)


def builtin_label_sets() -> dict[str, Path]:
    """Built-in vocabularies by name (`voc`, `coco`, ...), from label_sets/*.txt."""
    return {p.stem: p for p in sorted(resource_dir("label_sets").glob("*.txt"))}

def resolve_vocabulary_file(spec: str | Path) -> Path:
    """A path, or the name of a built-in set (`coco`)."""
    path = Path(spec)
    if path.exists():
        return path
    builtins = builtin_label_sets()
    if str(spec) in builtins:
        return builtins[str(spec)]
    raise LztError(f"no vocabulary file {str(spec)!r} (built-in sets: {', '.join(builtins)})")


def load_vocabulary(spec: str | Path | Sequence[str] | Vocabulary) -> Vocabulary:
    """A vocabulary from a built-in set's name (`coco`), a vocabulary file, or a Python list of
    labels (each item a name, or `name: synonym, synonym` as in a file)."""
    if isinstance(spec, Vocabulary):
        return spec
    if isinstance(spec, (str, Path)):
        path = resolve_vocabulary_file(spec)
        if path.is_dir():
            raise LztError(f"{path} is a folder, not a vocabulary file")
        return parse_vocabulary(read_text(path, "vocabulary"), str(path))
    items = list(spec)
    if not all(isinstance(item, str) for item in items):
        raise UsageError("`labels` must be a set name, a file, or a list of label strings")
    # Items are names (or `name: synonym, ... [kind]`), never comments: a `#` in one is part of it.
    lines = []
    for number, item in enumerate(items, start=1):
        name, sep, synonyms = item.partition(":")
        lines.append(_label_line(number, item, name.strip(), synonyms.strip() if sep else None))
    return _vocabulary(lines, "<list>")

def multi_hot(label_lists: Iterable[Iterable[str]], names: Sequence[str]) -> np.ndarray:
    """(N, C) bool targets: row n marks the labels of item n among `names` (each must be one)."""
    index = {name: i for i, name in enumerate(names)}
    rows = list(label_lists)
    targets = np.zeros((len(rows), len(names)), dtype=bool)
    for row, labels in enumerate(rows):
        for label in labels:
            targets[row, index[label]] = True
    return targets
