"""Output names in other languages for the built-in vocabularies (`--lang`).

Translations change only the names written out (captions, XMP keywords, JSON), never what is
scored: they become a Selection's `rename`. They live in label_sets/i18n/<set>.<lang>.tsv, one
`label<TAB>name` line per label in the vocabulary's order, then one `[parent]<TAB>name` line per
node of the vocabulary's keyword tree (provenance in label_sets/i18n/README.md).
A classifier's labels are matched to a built-in set by their names, so any classifier built from
`--labels coco` (or the default `everyday`) can be written in another language; a user's own
vocabulary is renamed with a `--rename` file instead.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable, Sequence

from lzt.errors import LztError, UsageError
from lzt.files import read_text, resource_dir
from lzt.vocab.vocabulary import builtin_label_sets, load_vocabulary

LANGUAGES = ("de", "fr", "es", "it", "pt", "nl", "ja", "zh")


def translation_file(label_set: str, lang: str) -> Path:
    """label_sets/i18n/<label_set>.<lang>.tsv (which may not exist)."""
    return resource_dir("label_sets") / "i18n" / f"{label_set}.{lang}.tsv"


def read_translations(label_set: str, lang: str) -> dict[str, str]:
    """label -> its name in `lang`, for the built-in set `label_set`; every label of the set has
    exactly one, and a file that says otherwise is an LztError naming the line."""
    return dict(_read(label_set, lang)[0])  # a copy: the cached one stays as read


def read_parent_translations(label_set: str, lang: str) -> dict[str, str]:
    """parent -> its name in `lang`, for every node of the keyword tree of the built-in set
    `label_set` (the `[parent]<TAB>name` lines); a node without one is an LztError."""
    return dict(_read(label_set, lang)[1])


@functools.cache  # one read per set and language: --lang asks for the names, then the parents'
def _read(label_set: str, lang: str) -> tuple[dict[str, str], dict[str, str]]:
    if lang not in LANGUAGES:
        raise UsageError(f"`lang` must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    path = translation_file(label_set, lang)
    if not path.is_file():
        raise LztError(f"no {lang} names for the {label_set!r} vocabulary ({path} is missing)")
    vocabulary = load_vocabulary(label_set)
    labels, nodes = vocabulary.names, {node for path in vocabulary.parents().values() for node in path}
    names: dict[str, str] = {}
    parents: dict[str, str] = {}
    for number, line in enumerate(read_text(path, "translations").splitlines(), start=1):
        key, tab, name = line.partition("\t")
        if not tab or not name.strip() or "\t" in name:
            raise LztError(f"{path}:{number}: expected `label<TAB>name` or `[parent]<TAB>name`, got {line!r}")
        is_parent = key.startswith("[") and key.endswith("]")
        target, known, what = (parents, nodes, "a parent") if is_parent else (names, labels, "a label")
        key = key[1:-1] if is_parent else key
        if key not in known or key in target:
            raise LztError(f"{path}:{number}: {key!r} is {'listed twice' if key in target else f'not {what} of ' + label_set}")
        target[key] = name.strip()
    _require_every(path, lang, labels, names, "name")
    _require_every(path, lang, sorted(nodes), parents, "name for the parent")
    return names, parents


def _require_every(path: Path, lang: str, wanted: Iterable[str], found: dict[str, str], what: str) -> None:
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LztError(f"{path}: no {lang} {what} {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")


def builtin_set_of(labels: Sequence[str]) -> str | None:
    """The built-in set whose labels are exactly `labels` (in any order), else None."""
    wanted = set(labels)
    for name in builtin_label_sets():
        if set(load_vocabulary(name).names) == wanted:
            return name
    return None


def translated_names(labels: Sequence[str], lang: str) -> dict[str, str]:
    """A classifier's labels -> their names in `lang` (a Selection's `rename`), when the labels
    are those of a built-in set; a UsageError otherwise (rename your own labels with a file)."""
    return read_translations(_builtin_set(labels), lang)


def translated_parents(labels: Sequence[str], lang: str) -> dict[str, str]:
    """The nodes of a classifier's keyword tree -> their names in `lang`, when its labels are
    those of a built-in set (as translated_names)."""
    return read_parent_translations(_builtin_set(labels), lang)


def _builtin_set(labels: Sequence[str]) -> str:
    label_set = builtin_set_of(labels)
    if label_set is None:
        raise UsageError(
            "`lang` names the labels of the built-in vocabularies (coco, voc, nuswide, everyday); "
            "this classifier has labels of its own: give their names in a `rename` file"
        )
    return label_set
