"""Photo managers' keyword trees -> an lzt vocabulary (`lzt labels import`), keeping synonyms and
the hierarchy.

Sources:
- Lightroom Classic's keyword export (Metadata > Export Keywords): a text file (UTF-8, with or
  without a BOM; else Windows-1252; UTF-16 with a BOM), one keyword per line, one leading TAB per
  level; `{word}` lines are synonyms of the keyword one level above them; `[word]` keywords are
  not exported by Lightroom (categories): they are parents only, never labels.
- digiKam's database (`digikam4.db`, SQLite): the `Tags` table (id, pid, name; pid 0 is the top
  level), opened read-only. Its internal subtree (`_Digikam_Internal_Tags_`: colour and pick
  labels, versioning marks) and the tags that hold unnamed faces (`unknownPerson`,
  `unconfirmedPerson`, `ignoredPerson` in `TagProperties`) are bookkeeping, not keywords: they
  are left out without a note. digiKam has no synonyms.

Every other keyword becomes a label whose parents are its ancestors: an inner keyword such as
`birds` is a label and a parent (only the keywords without child keywords are labels with
`leaves_only`). The vocabulary groups labels under one section header per parent path, in tree
order, and parses back to the same labels, parents and synonyms (`Label.parents`).

What cannot be carried over is left out and noted (`KeywordImport.skipped`), the rest imported:
- a label name or synonym holding a character the vocabulary syntax reserves (`|` `:` `,` `#`
  `[` `]`): the synonym is dropped; the keyword is no label, but stays the parent of the
  keywords below it (a section header can hold those characters, except `|` and `#`);
- a keyword name that is empty or holds `|`, `#` or a control character (no header can hold
  it): the keyword and everything below it;
- a keyword whose name (case-insensitively) is already a label elsewhere in the tree: the first
  occurrence in tree order is the label, the later ones stay parents of what is below them;
- a synonym equal to another label's name or to a synonym kept for another label (a synonym
  that repeats its own label's name is dropped silently: nothing is lost);
- digiKam tags whose parent links form a cycle or point to a missing tag, with those below them.
The synonyms of a keyword that is no label (a category; an inner keyword with `leaves_only`) go
with it, without a note: they name a parent, and parents are not scored.
Names are compared as the vocabulary compares them: runs of whitespace as one space, any case.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Sequence

from lzt.errors import LztError, UsageError, warn
from lzt.files import atomic_write, is_sqlite
from lzt.version import __version__
from lzt.vocab.vocabulary import PATH_SEPARATOR, Vocabulary, clean_term, parse_vocabulary, split_path


class KeywordFormat(str, Enum):
    """Keyword trees `import_keywords` reads: `lightroom` (Lightroom Classic's keyword export, a
    TAB-indented text file), `digikam` (digiKam's SQLite database), or `auto` (an SQLite file is
    digiKam's, anything else Lightroom's)."""

    auto = "auto"
    lightroom = "lightroom"
    digikam = "digikam"


@dataclass(frozen=True)
class KeywordImport:
    """What `import_keywords` made: `text` (the vocabulary file, comment header included),
    `vocabulary` (that text parsed), `format` (the source's, never `auto`), `parents` (distinct
    keyword-tree nodes above the labels), `excluded` (keywords left out on request), `skipped`
    (one human-readable note per thing that could not be carried over: where, what and why)."""

    text: str
    vocabulary: Vocabulary
    format: KeywordFormat
    parents: int
    excluded: int = 0
    skipped: tuple[str, ...] = ()

    @property
    def labels(self) -> int:
        """The number of labels."""
        return len(self.vocabulary)

    @property
    def synonyms(self) -> int:
        """The number of synonyms kept, over all labels."""
        return sum(len(label.synonyms) for label in self.vocabulary.labels)


# --- the tree both sources read into --------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """A keyword's or synonym's place in the source: its rank there (notes follow it) and how a
    note names it (`line 12`, `tag 34`)."""

    rank: int
    text: str

    def __str__(self) -> str:
        return self.text


_Notes = list[tuple[int, str]]  # (rank in the source, note): sorted before they are shown


@dataclass
class _Keyword:
    name: str
    where: _Where
    exportable: bool = True  # False for Lightroom's [categories]: a tree node, never a label
    synonyms: list[tuple[str, _Where]] = field(default_factory=list)
    children: list[_Keyword] = field(default_factory=list)


@dataclass(frozen=True)
class _Label:
    name: str
    parents: tuple[str, ...]
    where: _Where
    synonyms: tuple[tuple[str, _Where], ...]


# Characters that end a vocabulary line or that no text file should hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RESERVED_IN_NODE = "|#"  # the path separator and the comment sign: not even a header holds them
_RESERVED_IN_LABEL = "|:,#[]"  # also the synonym colon and comma, and the brackets of kinds and headers


def _reserved(name: str, reserved: str) -> str | None:
    """Why `name` cannot be written where `reserved` characters are special, or None."""
    if not name:
        return "its name is empty"
    if _CONTROL.search(name):
        return "its name holds a control character"
    found = "".join(dict.fromkeys(ch for ch in name if ch in reserved))
    if not found:
        return None
    return f"{' and '.join(repr(ch) for ch in found)} {'is' if len(found) == 1 else 'are'} reserved in a vocabulary"


def _place(name: str, parents: Sequence[str]) -> str:
    return f"{name!r} under {PATH_SEPARATOR.join(parents)}" if parents else repr(name)


def _note(notes: _Notes, where: _Where, message: str) -> None:
    notes.append((where.rank, f"{where}: {message}"))


def _count(number: int, noun: str) -> str:
    return f"the {noun}" if number == 1 else f"the {number} {noun}s"


def _size(node: _Keyword) -> int:
    """The keywords of a subtree, itself included (iteratively: a tree may be deep)."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        count += 1
        stack.extend(current.children)
    return count


# --- the public function ------------------------------------------------------------------------------


def import_keywords(
    path: str | Path, format: KeywordFormat | str = KeywordFormat.auto, *, leaves_only: bool = False,
    exclude: Sequence[str] = (), out: str | Path | None = None,
) -> KeywordImport:
    """Read a photo manager's keyword tree (see `KeywordFormat`) and make an lzt vocabulary of it:
    labels with their synonyms and their parents in the tree (section headers). Nothing in the
    source is changed: a digiKam database is opened read-only.

    leaves_only: only keywords without child keywords become labels (the others stay parents).
    exclude: keywords to leave out with everything below them, each a name (matching a keyword of
        that name anywhere, any case: `People`) or a path from the top (`Places|Work`).
    out: when given, the vocabulary is also written there (atomically; never over `path`).
    What cannot be carried over is noted in `skipped` (see this module's docstring); a source
    that cannot be read, or that yields no label, is an LztError naming it."""
    path, patterns = Path(path), _exclusions(exclude)
    format, roots, notes, described = _read(path, format)
    labels, excluded = _labels(roots, leaves_only, patterns, notes)
    skipped = tuple(note for _, note in sorted(notes, key=lambda note: note[0]))
    if not labels:
        raise LztError(f"{path}: no keyword can be a label ({len(notes)} skipped, {excluded} excluded"
                       f"{', inner keywords left out by `leaves_only`' if leaves_only else ''})")
    for exclusion in patterns.values():
        if not exclusion.hits:
            warn(f"nothing to exclude: no keyword {exclusion.entry!r} in {path}")
    text = _vocabulary_text(labels, _header(path, described, labels, leaves_only, exclude), skipped)
    vocabulary = parse_vocabulary(text, str(out) if out is not None else f"<imported {path.name}>")
    nodes = {label.parents[:depth] for label in vocabulary.labels for depth in range(1, len(label.parents) + 1)}
    result = KeywordImport(text, vocabulary, format, len(nodes), excluded, skipped)
    if out is not None:
        _save(result.text, Path(out), path)
    return result


def _read(path: Path, format: KeywordFormat | str) -> tuple[KeywordFormat, list[_Keyword], _Notes, str]:
    """(the source's format, its keyword tree, notes on what could not be read, how the vocabulary's
    header describes the source)."""
    try:
        format = KeywordFormat(format)
    except ValueError:
        raise UsageError(f"unknown keyword source {format!r} (known: {', '.join(f.value for f in KeywordFormat)})") from None
    if not path.is_file():
        raise LztError(f"no such keyword file: {path}" if not path.exists() else f"{path} is not a file")
    sqlite = is_sqlite(path, "keyword file")
    if format is KeywordFormat.auto:
        format = KeywordFormat.digikam if sqlite else KeywordFormat.lightroom
    elif format is KeywordFormat.lightroom and sqlite:
        raise LztError(f"{path} is an SQLite database (digiKam's?), not a Lightroom keyword export")
    elif format is KeywordFormat.digikam and not sqlite:
        raise LztError(f"{path} is not an SQLite database, so not a digiKam database (digikam4.db)")
    if format is KeywordFormat.digikam:
        return (format, *_read_digikam(path), "a digiKam database")
    roots, encoding = _read_lightroom(path)
    return format, roots, [], f"a Lightroom keyword export, {encoding}"


def _header(path: Path, described: str, labels: list[_Label], leaves_only: bool, exclude: Sequence[str]) -> list[str]:
    """The vocabulary's opening comments: where it comes from, when it was made, what it holds."""
    counts = f"{len(labels)} labels, {sum(len(label.synonyms) for label in labels)} synonyms"
    settings = ["leaves only" if leaves_only else "", f"excluding {', '.join(map(repr, exclude))}" if exclude else ""]
    return [
        f"lzt vocabulary imported from {_printable(str(path))} ({described}) by lzt {__version__}",
        f"made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {counts}" + "".join(f"; {s}" for s in settings if s),
        "a [section] header names the parents, in the keyword tree, of the labels below it",
    ]


def _printable(text: str) -> str:
    return repr(text) if _CONTROL.search(text) else text


def _save(text: str, out: Path, source: Path) -> None:
    if out.exists() and out.resolve() == source.resolve():
        raise UsageError(f"`out` is the file being imported ({source}): choose another file")
    try:
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise LztError(f"cannot write the vocabulary {out}: {exc.strerror or exc}") from exc


@dataclass
class _Exclusion:
    entry: str  # as given, for messages
    hits: int = 0  # keywords it left out (the subtrees' tops)


_Patterns = dict[tuple[str, ...], _Exclusion]  # keyed by the entry's path in lower case


def _exclusions(exclude: Sequence[str]) -> _Patterns:
    """Each `exclude` entry as a lower-case path, with its count of matches (so far 0)."""
    patterns: _Patterns = {}
    for entry in exclude:
        pattern = tuple(clean_term(node).lower() for node in split_path(entry))
        if not pattern or not all(pattern):
            raise UsageError(f"`exclude` holds an empty keyword name in {entry!r}")
        patterns[pattern] = _Exclusion(entry)
    return patterns


def _matching(path: tuple[str, ...], patterns: _Patterns) -> tuple[str, ...] | None:
    if not patterns:
        return None
    lowered = tuple(node.lower() for node in path)
    for pattern in patterns:
        if (len(pattern) == 1 and pattern[0] == lowered[-1]) or pattern == lowered:
            return pattern
    return None


# --- tree -> labels -----------------------------------------------------------------------------------


def _labels(
    roots: list[_Keyword], leaves_only: bool, patterns: _Patterns, notes: _Notes,
) -> tuple[list[_Label], int]:
    """The labels of a keyword tree in tree order, names and synonyms unique (case-insensitively);
    what cannot be carried over is added to `notes`. Returns (labels, keywords excluded)."""
    candidates: list[_Label] = []
    excluded = 0
    stack: list[tuple[_Keyword, tuple[str, ...]]] = [(root, ()) for root in reversed(roots)]
    while stack:  # pre-order, iteratively: a tree may be deeper than Python's recursion limit
        node, parents = stack.pop()
        name = clean_term(node.name)
        pattern = _matching((*parents, name), patterns)
        if pattern is not None:
            patterns[pattern].hits += 1
            excluded += _size(node)
            continue
        problem = _reserved(name, _RESERVED_IN_NODE)
        if problem is not None:
            below = _size(node) - 1
            with_below = f" with {_count(below, 'keyword')} below it" if below else ""
            _note(notes, node.where, f"{_place(name, parents)} skipped{with_below}: {problem}")
            continue
        if node.exportable and not (leaves_only and node.children):
            problem = _reserved(name, _RESERVED_IN_LABEL)
            if problem is None:
                candidates.append(_Label(name, parents, node.where, tuple(node.synonyms)))
            else:
                kept = "; kept as the parent of the keywords below it" if node.children else ""
                _note(notes, node.where, f"{_place(name, parents)} cannot be a label: {problem}{kept}")
        stack.extend((child, (*parents, name)) for child in reversed(node.children))
    return _unique(candidates, notes), excluded


def _unique(candidates: list[_Label], notes: _Notes) -> list[_Label]:
    """Names first (a label's name wins over another's synonym), then synonyms, in tree order."""
    first: dict[str, _Label] = {}
    for label in candidates:
        key = label.name.lower()
        if key in first:
            lost = f" (its synonyms are dropped with it: {', '.join(repr(s) for s, _ in label.synonyms)})" if label.synonyms else ""
            _note(notes, label.where, f"{_place(label.name, label.parents)} is already a label "
                                      f"({first[key].where}: {_place(first[key].name, first[key].parents)}); the first is kept{lost}")
        else:
            first[key] = label
    owners: dict[str, _Label] = {}  # a kept synonym (lower case) -> its label
    labels = []
    for label in first.values():
        synonyms: list[tuple[str, _Where]] = []
        for raw, where in label.synonyms:
            synonym, key = clean_term(raw), clean_term(raw).lower()
            if key == label.name.lower() or key in {s.lower() for s, _ in synonyms}:
                continue  # repeats its own label: nothing is lost
            problem = _reserved(synonym, _RESERVED_IN_LABEL)
            other = first.get(key) or owners.get(key)
            if problem is None and other is not None:
                role = "name" if key in first else "synonym"
                problem = f"it is the {role} of the label {_place(other.name, other.parents)} ({other.where})"
            if problem is not None:
                _note(notes, where, f"synonym {synonym!r} of {_place(label.name, label.parents)} dropped: {problem}")
                continue
            owners[key] = label
            synonyms.append((synonym, where))
        labels.append(_Label(label.name, label.parents, label.where, tuple(synonyms)))
    return labels


def _vocabulary_text(labels: list[_Label], header: list[str], notes: Sequence[str]) -> str:
    """One section per parent path, in the order the tree first reaches it."""
    groups: dict[tuple[str, ...], list[_Label]] = {}
    for label in labels:
        groups.setdefault(label.parents, []).append(label)
    lines = [f"# {line}" for line in header]
    for number, (parents, members) in enumerate(groups.items()):
        lines.append("")
        if parents or number:  # the file starts at the top level: no `[]` needed there
            lines.append(f"[{PATH_SEPARATOR.join(parents)}]")
        for label in members:
            synonyms = ", ".join(synonym for synonym, _ in label.synonyms)
            lines.append(f"{label.name}: {synonyms}" if synonyms else label.name)
    if notes:
        lines += ["", f"# not imported ({len(notes)}):", *(f"#   {note}" for note in notes)]
    return "\n".join(lines) + "\n"


# --- Lightroom Classic: Metadata > Export Keywords --------------------------------------------------


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """(text, encoding name) of a keyword export; binary data is an LztError naming its line."""
    replaced = True  # undecodable bytes become U+FFFD, which then marks binary data
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = data.decode("utf-16", errors="replace"), "UTF-16"
    else:
        try:
            text, encoding, replaced = data.decode("utf-8-sig"), "UTF-8", False
        except UnicodeDecodeError:
            # Older Lightroom versions on Windows wrote the system's code page.
            text, encoding = data.decode("cp1252", errors="replace"), "Windows-1252"
    bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f" + (r"\ufffd]" if replaced else "]"), text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise LztError(f"{path}:{line}: binary data, not text: neither a Lightroom keyword export nor a digiKam database")
    return text, encoding


def _read_lightroom(path: Path) -> tuple[list[_Keyword], str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LztError(f"cannot read keyword file {path}: {exc.strerror or exc}") from exc
    text, encoding = _decode(data, path)
    roots: list[_Keyword] = []
    stack: list[_Keyword] = []  # stack[d]: the last keyword read at depth d
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip()
        body = line.lstrip("\t")
        depth = len(line) - len(body)
        if not body:
            continue
        if body[0].isspace():
            raise LztError(f"{path}:{number}: indented with spaces; Lightroom's keyword export indents each level with one TAB")
        where = _Where(number, f"line {number}")
        if body.startswith("{") and body.endswith("}"):  # a synonym of the keyword one level up
            if not 0 < depth <= len(stack):
                raise LztError(f"{path}:{number}: the synonym {body!r} is not one TAB deeper than a keyword")
            stack[depth - 1].synonyms.append((body[1:-1], where))
            continue
        if depth > len(stack):
            above = f"the keyword above it has {len(stack) - 1}" if stack else "it is the first keyword"
            raise LztError(f"{path}:{number}: {body!r} is indented by {depth} TAB{'s' if depth > 1 else ''}, but {above} (one TAB per level)")
        category = body.startswith("[") and body.endswith("]")
        node = _Keyword(body[1:-1] if category else body, where, exportable=not category)
        (stack[depth - 1].children if depth else roots).append(node)
        del stack[depth:]
        stack.append(node)
    if not roots:
        raise LztError(f"{path}: holds no keywords (an empty Lightroom keyword export?)")
    return roots, encoding


# --- digiKam: digikam4.db -----------------------------------------------------------------------------

_INTERNAL_TAGS = "_Digikam_Internal_Tags_"
_FACE_BOOKKEEPING = ("unknownPerson", "unconfirmedPerson", "ignoredPerson")


def _read_digikam(path: Path) -> tuple[list[_Keyword], _Notes]:
    """The tag tree of a digiKam database, and notes on the tags no top-level tag leads to."""
    uri = f"{path.resolve().as_uri()}?mode=ro"  # read-only: the database is never changed
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "Tags" not in tables:
                raise LztError(f"{path}: an SQLite database without digiKam's Tags table: not a digiKam database")
            rows = db.execute("SELECT id, pid, name FROM Tags").fetchall()
            hidden: set[int] = set()
            if "TagProperties" in tables:
                marks = ", ".join("?" * len(_FACE_BOOKKEEPING))
                hidden = {row[0] for row in db.execute(f"SELECT tagid FROM TagProperties WHERE property IN ({marks})", _FACE_BOOKKEEPING)}
    except sqlite3.Error as exc:
        raise LztError(f"cannot read the digiKam database {path}: {exc}") from exc
    names = {tag: name if isinstance(name, str) else "" if name is None else str(name) for tag, _, name in rows}
    parent = {tag: pid for tag, pid, _ in rows}
    children: dict[object, list[int]] = defaultdict(list)
    for tag, pid in parent.items():
        if tag != 0:  # MySQL-era databases keep a root row with id 0: the top level itself
            children[pid].append(tag)
    for tags in children.values():
        tags.sort(key=lambda tag: (names[tag].lower(), tag))  # as digiKam's tag tree shows them

    roots: list[_Keyword] = []
    reached = {0}
    stack: list[tuple[int, list[_Keyword]]] = [(tag, roots) for tag in reversed(children[0])]
    while stack:
        tag, level = stack.pop()
        reached.add(tag)
        if tag in hidden or (parent[tag] == 0 and names[tag] == _INTERNAL_TAGS):
            _mark(tag, children, reached)  # bookkeeping, not keywords: left out without a note
            continue
        node = _Keyword(names[tag], _Where(len(reached), f"tag {tag}"))  # ranked in tree order
        level.append(node)
        stack.extend((child, node.children) for child in reversed(children[tag]))
    return roots, _orphans(parent, names, children, reached)


def _mark(tag: int, children: dict[object, list[int]], reached: set[int]) -> None:
    stack = [tag]
    while stack:
        current = stack.pop()
        reached.add(current)
        stack.extend(child for child in children[current] if child not in reached)


def _orphans(parent: dict[int, object], names: dict[int, str], children: dict[object, list[int]], reached: set[int]) -> _Notes:
    """A note per group of tags the top level does not lead to: a tag whose parent is missing, or
    a cycle of parent links, each with the tags below it. Every such tag's chain of parents ends
    in one or the other, so following the chains (each tag once) finds them all."""
    heads: list[tuple[list[int], str]] = []
    state: dict[int, int] = {}  # tag -> the walk that visited it
    for walk, start in enumerate(sorted(tag for tag in parent if tag not in reached)):
        tag = start
        trail: list[int] = []
        while tag in parent and tag not in reached and tag not in state:
            state[tag] = walk
            trail.append(tag)
            tag = parent[tag]  # type: ignore[assignment]
        if tag in state and state[tag] == walk:  # this walk came back to itself: a cycle
            cycle = trail[trail.index(tag):]
            loop = " -> ".join(str(t) for t in [*cycle, cycle[0]])
            heads.append((cycle, f"their parent links form a cycle ({loop})" if len(cycle) > 1 else "it is its own parent"))
        elif tag not in parent and tag not in reached:  # the chain ends at a tag that does not exist
            heads.append(([trail[-1]], f"its parent tag {tag!r} does not exist"))
    notes: _Notes = []
    for group, reason in heads:
        before = len(reached)
        for tag in group:
            _mark(tag, children, reached)
        below = len(reached) - before - len(group)
        tags = ", ".join(f"tag {tag} {names[tag]!r}" for tag in group)
        with_below = f" and {_count(below, 'tag')} below" if below else ""
        notes.append((len(parent) + 1 + len(notes), f"{tags}{with_below} skipped: {reason}"))  # after the tree's notes
    return notes
