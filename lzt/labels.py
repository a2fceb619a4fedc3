"""Vocabulary files: label names, synonyms and plural forms; the built-in sets in label_sets/.

File syntax (documented in the README):
    # a comment              (also after a label: `dog  # pets`)
    dog                      a label
    tv: television, tv monitor   a label with synonyms
Blank lines are ignored. Label names and synonyms are compared case-insensitively; a name or
synonym used twice is an error naming both lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lzt.errors import LztError
from lzt.resources import resource_dir


@dataclass(frozen=True)
class Label:
    name: str
    synonyms: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Every way a sentence may mention this label (name first)."""
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[Label, ...]
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def __len__(self) -> int:
        return len(self.labels)

    def index(self) -> dict[str, int]:
        return {label.name: i for i, label in enumerate(self.labels)}


_SPACES = re.compile(r"\s+")


def _clean(term: str) -> str:
    return _SPACES.sub(" ", term.strip())


def parse_vocabulary(text: str, source: str = "<text>") -> Vocabulary:
    labels: list[Label] = []
    seen: dict[str, int] = {}  # lower-cased term -> line where it first appeared
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name_part, _, synonym_part = line.partition(":")
        name = _clean(name_part)
        if not name:
            raise LztError(f"{source}:{line_no}: empty label name in {raw.strip()!r}")
        synonyms = tuple(_clean(s) for s in synonym_part.split(",")) if synonym_part else ()
        if any(not s for s in synonyms):
            raise LztError(f"{source}:{line_no}: empty synonym in {raw.strip()!r}")
        for term in (name, *synonyms):
            key = term.lower()
            if key in seen:
                raise LztError(
                    f"{source}:{line_no}: {term!r} is a duplicate of line {seen[key]}"
                )
            seen[key] = line_no
        labels.append(Label(name, synonyms))
    if not labels:
        raise LztError(f"{source}: the vocabulary holds no labels")
    return Vocabulary(tuple(labels), source)


def builtin_label_sets() -> dict[str, Path]:
    """Built-in vocabularies by name (`voc`, `coco`, ...), from label_sets/*.txt."""
    return {p.stem: p for p in sorted(resource_dir("label_sets").glob("*.txt"))}


def load_vocabulary(spec: str | Path) -> Vocabulary:
    """A built-in set's name (`coco`) or a path to a vocabulary file."""
    path = Path(spec)
    if not path.exists():
        builtins = builtin_label_sets()
        if str(spec) in builtins:
            path = builtins[str(spec)]
        else:
            names = ", ".join(builtins)
            raise LztError(f"no vocabulary file {str(spec)!r} (built-in sets: {names})")
    if path.is_dir():
        raise LztError(f"{path} is a folder, not a vocabulary file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LztError(f"cannot read vocabulary {path}: {exc}") from exc
    return parse_vocabulary(text, str(path))


# --- plural forms, for recognising mentions ------------------------------------------------

_IRREGULAR_PLURALS = {
    "person": "people", "man": "men", "woman": "women", "child": "children",
    "mouse": "mice", "goose": "geese", "foot": "feet", "tooth": "teeth",
    "ox": "oxen", "knife": "knives", "leaf": "leaves", "wolf": "wolves",
    "calf": "calves", "shelf": "shelves", "loaf": "loaves", "half": "halves",
    "life": "lives", "wife": "wives", "thief": "thieves", "scarf": "scarves",
    "cactus": "cacti", "fungus": "fungi", "octopus": "octopuses",
}
# Same in singular and plural, or already plural.
_UNCHANGED = {"sheep", "deer", "fish", "moose", "bison", "aircraft", "people", "scissors",
              "skis", "glasses", "jeans", "pants", "shorts", "luggage", "cattle", "broccoli",
              "salmon", "shrimp", "squid", "series", "species", "trousers", "clothes"}


_O_ES = {"tomato", "potato", "hero", "echo", "torpedo", "veto", "mosquito", "volcano", "domino", "tornado"}
_MAN_EXCEPTIONS = {"human", "german", "shaman", "talisman", "caiman", "ottoman"}


def plural(word_or_phrase: str) -> str:
    """English plural of a noun or noun phrase: the head noun is inflected
    (`wine glass` -> `wine glasses`, `bird of prey` -> `birds of prey`)."""
    head, of, tail = word_or_phrase.partition(" of ")
    if of:
        return plural(head) + of + tail
    before, sep, last = word_or_phrase.rpartition(" ")
    lower = last.lower()
    if lower in _UNCHANGED:
        result = last
    elif lower in _IRREGULAR_PLURALS:
        result = _match_case(last, _IRREGULAR_PLURALS[lower])
    elif lower.endswith("man") and lower not in _MAN_EXCEPTIONS:
        result = last[:-3] + "men"  # fireman -> firemen, snowman -> snowmen
    elif lower.endswith(("scarf", "wolf", "leaf", "knife", "wife", "half", "shelf")):
        stem = last[:-2] if lower.endswith("fe") else last[:-1]
        result = stem + "ves"
    elif re.search(r"(s|x|z|ch|sh)$", lower):
        result = last + "es"
    elif re.search(r"[^aeiou]y$", lower):
        result = last[:-1] + "ies"
    elif lower in _O_ES:
        result = last + "es"
    else:
        result = last + "s"
    return before + sep + result


def _match_case(template: str, word: str) -> str:
    return word.capitalize() if template[:1].isupper() else word


def surface_forms(label: Label) -> set[str]:
    """Lower-cased singular and plural forms of the name and every synonym."""
    forms: set[str] = set()
    for term in label.terms:
        forms.add(term.lower())
        forms.add(plural(term).lower())
    return forms
