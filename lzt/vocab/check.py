"""Lint a vocabulary file for duplicates and near-duplicates that would split scores.

Two labels that name the same concept ("car" and "automobile", "t-shirt" and "t shirt") each get
half of the sentences and half of the classifier's confidence; two labels that share a surface
form ("glass", whose plural is "glasses", and "glasses") make the mention matcher give every
"glasses" to whichever label comes first. This module finds such pairs:

errors (must be fixed; `# allow:` cannot silence them)
    duplicate          the same name or synonym twice (the parse error of lzt.vocab)
    parse              any other parse error (empty name or synonym, empty file)
    form-collision     a singular/plural form of one label is a form of another ("glass"/"glasses")
    spacing            forms equal once spaces, hyphens, apostrophes and dots are ignored
                       ("t-shirt" / "t shirt" / "tshirt")
warnings (review; silence a reviewed pair with an allow line)
    edit-distance      terms of two labels, both >= 5 letters, one edit apart in the way two
                       spellings of a word are: a vowel or doubled letter more or less, one
                       vowel for another, s/z, c/s, a swap ("color"/"colour", "dessert"/"desert")
    stem               both terms derived from one stem by -ing/-er ("dancer"/"dancing")
    variant            one label is another plus a generic modifier ("baby elephant" / "elephant",
                       "mountain view" / "mountain")
    stale-allow        an allow line that matches no warning (a typo, or the pair was fixed)
    style              (only with style=True) name not lowercase, or longer than 3 words
notes (informational; shown by `lzt labels check --notes`)
    edit-distance      one edit apart in any other way ("horse"/"house", "table"/"cable")
    stem               a word and a derived form ("box"/"boxing", "farm"/"farmer")
    contained          a term of one label is a whole-word part of another's ("tennis ball" /
                       "ball"): hierarchical, and fine; the matcher takes the longest match, so a
                       sentence naming "tennis ball" does not count as "ball"
    redundant-synonym  a synonym that lzt already generates (a plural of the name)

Allow syntax, anywhere in the file (a comment, so the vocabulary parser ignores it):
    # allow: colour ~ color
    # allow: mouse ~ moose; dessert ~ desert        (several pairs: `;` or `,` between them)
Each side is a label name or the exact term the warning quotes; order does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from lzt.errors import LztError
from lzt.vocab.forms import plural, surface_forms
from lzt.vocab.vocabulary import Label, label_lines, parse_vocabulary

ERROR, WARNING, NOTE = "error", "warning", "note"

# Leading words that make a variant, not a new concept: "small dog" splits "dog".
GENERIC_MODIFIERS = frozenset(
    ["small", "little", "tiny", "big", "large", "huge", "giant", "tall", "long", "short", "wide", "narrow", "old", "new", "young", "baby", "adult", "modern", "ancient", "vintage", "antique", "cute", "pretty", "beautiful", "lovely", "nice", "ugly", "wild", "tame", "happy", "sad", "wet", "dry", "empty", "full", "fresh", "clean", "dirty", "dark", "bright", "colorful", "colourful", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey", "golden", "silver", "single", "two", "three", "many", "several", "group", "of", "some", "lots", "a", "an", "the"]
)
# Trailing words that make a variant: "mountain view" splits "mountain".
GENERIC_SUFFIXES = frozenset(
    ["scene", "view", "photo", "photograph", "picture", "image", "shot", "closeup", "close-up", "landscape", "background"]
)
_NORMALIZE = re.compile(r"[\s\-'’.]+")
_ALLOW = re.compile(r"^\s*#\s*allow\s*:\s*(.*)$", re.IGNORECASE)
_WORD_RE = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | note
    kind: str
    message: str
    line: int | None = None
    pair: tuple[str, ...] = ()  # label names involved
    terms: tuple[str, ...] = ()  # the terms that triggered it (lower case)
    sides: tuple[frozenset, ...] = ()  # per label: its name and the term involved, for allow lines

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.severity}: [{self.kind}] {self.message}"


@dataclass
class Report:
    source: str
    n_labels: int = 0
    findings: list[Finding] = field(default_factory=list)
    allowed: list[Finding] = field(default_factory=list)

    def of(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def errors(self) -> list[Finding]:
        return self.of(ERROR)

    @property
    def warnings(self) -> list[Finding]:
        return self.of(WARNING)

    @property
    def notes(self) -> list[Finding]:
        return self.of(NOTE)

    @property
    def ok(self) -> bool:
        return not self.errors

    def kinds(self, severity: str | None = None) -> set[str]:
        return {f.kind for f in self.findings if severity is None or f.severity == severity}

    def summary(self) -> str:
        return (
            f"{self.source}: {self.n_labels} labels: {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings ({len(self.allowed)} more allowed), "
            f"{len(self.notes)} notes"
        )


def _ref(term: str, label: Label) -> str:
    """'x' when x is the label's name, else 'x' (label 'y')."""
    return repr(term) if term.lower() == label.name.lower() else f"{term!r} ({label.name!r})"


# --- helpers ------------------------------------------------------------------------------------


def _clean(term: str) -> str:
    return re.sub(r"\s+", " ", term.strip())


def _words(term: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD_RE.split(term.lower()) if w)


def normalize(term: str) -> str:
    """The term with case, spaces, hyphens, apostrophes and dots ignored: 't-shirt' -> 'tshirt'."""
    return _NORMALIZE.sub("", term.lower())


def one_edit(a: str, b: str) -> tuple[str, int, str, str] | None:
    """The single edit turning a into b, or None if they are equal or further apart.

    Returns (kind, position, letter_in_a, letter_in_b) with kind one of "substitute",
    "insert" (b has the extra letter), "delete" (a has it) or "swap" (two neighbours swapped).
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return None
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        if a[i + 1:] == b[i + 1:]:
            return ("substitute", i, a[i], b[i])
        if i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]:
            return ("swap", i, a[i:i + 2], b[i:i + 2])
        return None
    if len(a) < len(b):
        return ("insert", i, "", b[i]) if a[i:] == b[i + 1:] else None
    return ("delete", i, a[i], "") if a[i + 1:] == b[i:] else None


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or swap)."""
    return a == b or one_edit(a, b) is not None


_VOWELS = set("aeiou")
_SPELLING_SWAPS = {frozenset("sz"), frozenset("cs")}  # organise/organize, licence/license


def looks_like_spelling_variant(a: str, b: str) -> bool:
    """One edit of the kind that separates spellings of one word rather than two words:
    a vowel or a doubled letter added or dropped (color/colour, traveler/traveller,
    whisky/whiskey), one vowel for another (pajamas/pyjamas), s/z or c/s, or two neighbours
    swapped (theater/theatre). "horse"/"house" or "table"/"cable" are one edit apart too,
    but not like this."""
    edit = one_edit(a, b)
    if edit is None:
        return False
    kind, i, x, y = edit
    if kind == "swap":
        return True
    if kind == "substitute":
        vowels = _VOWELS | {"y"}
        return (x in vowels and y in vowels) or frozenset((x, y)) in _SPELLING_SWAPS
    longer, letter = (b, y) if kind == "insert" else (a, x)
    neighbours = longer[max(i - 1, 0):i] + longer[i + 1:i + 2]
    return letter in _VOWELS or letter in neighbours


def _deletion_keys(s: str) -> set[str]:
    return {s} | {s[:i] + s[i + 1:] for i in range(len(s))} | {
        s[:i] + s[i + 1] + s[i] + s[i + 2:] for i in range(len(s) - 1)
    }


_DERIVATIONAL = ("ings", "ing", "ers", "er")


def stem(word: str) -> str:
    """A crude English stem, only for spotting variants like dancer/dancing/dance."""
    return _stem(word)[0]


def _stem(word: str) -> tuple[str, bool]:
    """(stem, whether an -ing/-er suffix was removed)."""
    w = word.lower()
    derived = False
    for suffix, repl in (("ings", ""), ("ing", ""), ("ers", ""), ("er", ""), ("ies", "y"),
                         ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: len(w) - len(suffix)] + repl
            derived = suffix in _DERIVATIONAL
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    return w, derived


def _term_stem(term: str) -> tuple[str, bool]:
    """The stems of a term's words, and whether its last word is derived (-ing, -er)."""
    stems = [_stem(w) for w in _words(term)]
    return " ".join(s for s, _ in stems), bool(stems) and stems[-1][1]


def parse_allow_lines(text: str) -> list[tuple[int, str, str]]:
    """(line, a, b) for every `# allow: a ~ b; c ~ d` entry."""
    entries = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        match = _ALLOW.match(raw)
        if not match:
            continue
        for part in re.split(r"[;,]", match.group(1)):
            if not part.strip():
                continue
            a, sep, b = part.partition("~")
            if not sep or not a.strip() or not b.strip():
                raise LztError(f"line {line_no}: allow entries look like 'a ~ b', not {part.strip()!r}")
            entries.append((line_no, _clean(a).lower(), _clean(b).lower()))
    return entries


# --- the check ----------------------------------------------------------------------------------


def check_text(text: str, source: str = "<text>", *, style: bool = False) -> Report:
    report = Report(source)
    rows = [(line.number, line.name, list(line.synonyms)) for line in label_lines(text)]
    report.n_labels = len(rows)

    # Exact duplicates: all of them, not only the first one the parser stops at.
    first_seen: dict[str, tuple[int, str]] = {}
    for line_no, name, synonyms in rows:
        for term in (name, *synonyms):
            key = term.lower()
            if not key:
                continue
            if key in first_seen:
                other_line, other_name = first_seen[key]
                where = "the same label" if other_name == name and other_line == line_no else f"label {other_name!r}"
                report.findings.append(Finding(
                    ERROR, "duplicate",
                    f"{term!r} (label {name!r}) is already used by {where} on line {other_line}",
                    line_no, (other_name, name), (key,)))
            else:
                first_seen[key] = (line_no, name)
    if report.errors:
        return report
    try:
        vocabulary = parse_vocabulary(text, source)
    except LztError as exc:
        report.findings.append(Finding(ERROR, "parse", str(exc)))
        return report
    try:
        allow_entries = parse_allow_lines(text)
    except LztError as exc:
        report.findings.append(Finding(ERROR, "parse", str(exc)))
        return report

    labels = list(vocabulary.labels)
    lines = [row[0] for row in rows]
    findings: list[Finding] = []
    reported: set[frozenset[int]] = set()  # label pairs with an error or warning already
    noted: set[tuple[str, frozenset[int]]] = set()  # (kind, pair) of notes already made

    def add(severity: str, kind: str, message: str, i: int, j: int, terms: tuple[str, ...]):
        """terms: the term of label i, then the term of label j (one shared form: once)."""
        if severity == NOTE and (kind, frozenset((i, j))) in noted:
            return
        ti, tj = terms[0], terms[-1]
        sides = (frozenset({labels[i].name.lower(), ti.lower()}),
                 frozenset({labels[j].name.lower(), tj.lower()}))
        findings.append(Finding(severity, kind, message, lines[max(i, j)],
                                (labels[min(i, j)].name, labels[max(i, j)].name), terms, sides))
        if severity != NOTE:
            reported.add(frozenset((i, j)))
        else:
            noted.add((kind, frozenset((i, j))))

    # 1. form collisions: a singular or plural form shared by two labels.
    form_owner: dict[str, int] = {}
    origin: dict[tuple[int, str], str] = {}
    for i, label in enumerate(labels):
        for term in label.terms:
            for form in (term.lower(), plural(term).lower()):
                origin.setdefault((i, form), term)
        for form in sorted(surface_forms(label)):
            j = form_owner.setdefault(form, i)
            if j != i and frozenset((i, j)) not in reported:
                add(ERROR, "form-collision",
                    f"{form!r} is a form of both {labels[j].name!r} (from {origin[(j, form)]!r}) "
                    f"and {labels[i].name!r} (from {origin[(i, form)]!r}); the matcher would "
                    f"credit every mention to {labels[j].name!r}", j, i, (form,))

    # 2. spacing/punctuation variants.
    norm_owner: dict[str, tuple[int, str]] = {}
    for i, label in enumerate(labels):
        for form in sorted(surface_forms(label)):
            key = normalize(form)
            j, other = norm_owner.setdefault(key, (i, form))
            if j != i and frozenset((i, j)) not in reported:
                add(ERROR, "spacing",
                    f"{_ref(other, labels[j])} and {_ref(form, labels[i])} differ only "
                    f"in spaces, hyphens or punctuation", j, i, (other, form))

    # 3. edit distance <= 1 between terms of >= 5 letters.
    singular_terms = [(i, t.lower()) for i, label in enumerate(labels) for t in label.terms]
    buckets: dict[str, list[tuple[int, str]]] = {}
    for i, term in singular_terms:
        key = normalize(term)
        if len(key) < 5:
            continue
        for k in _deletion_keys(key):
            buckets.setdefault(k, []).append((i, term))
    seen_pairs: set[tuple[str, str]] = set()
    for entries in buckets.values():
        for (i, a), (j, b) in combinations(entries, 2):
            if i == j or frozenset((i, j)) in reported or (a, b) in seen_pairs:
                continue
            seen_pairs.add((a, b))
            seen_pairs.add((b, a))
            na, nb = normalize(a), normalize(b)
            if within_one_edit(na, nb):
                if looks_like_spelling_variant(na, nb):
                    add(WARNING, "edit-distance",
                        f"{_ref(a, labels[i])} and {_ref(b, labels[j])} are one edit apart, "
                        f"like two spellings of one word", i, j, (a, b))
                else:
                    add(NOTE, "edit-distance",
                        f"{_ref(a, labels[i])} and {_ref(b, labels[j])} are one edit apart",
                        i, j, (a, b))

    # 4. same stem: two derived forms (dancer / dancing) warn; a base word and a derived one
    #    (box / boxing, farm / farmer) are usually different things: a note.
    stem_owner: dict[str, list[tuple[int, str, bool]]] = {}
    for i, term in singular_terms:
        key, derived = _term_stem(term)
        if len(key) >= 3:
            stem_owner.setdefault(key, []).append((i, term, derived))
    for key, stemmed in stem_owner.items():
        for (j, other, d_other), (i, term, d_term) in combinations(stemmed, 2):
            if i == j or frozenset((i, j)) in reported:
                continue
            if d_other and d_term:
                add(WARNING, "stem",
                    f"{_ref(other, labels[j])} and {_ref(term, labels[i])} share the stem "
                    f"{key!r}: the same concept?", j, i, (other, term))
            elif d_other or d_term:
                add(NOTE, "stem",
                    f"{_ref(other, labels[j])} and {_ref(term, labels[i])} share the stem {key!r}",
                    j, i, (other, term))

    # 5. multi-word terms containing another label's term: variants (warning) or hierarchy (note).
    term_owner: dict[tuple[str, ...], tuple[int, str]] = {}
    for i, term in singular_terms:
        for form in (term, plural(term).lower()):
            term_owner.setdefault(_words(form), (i, term))
    for j, term in singular_terms:
        words = _words(term)
        if len(words) < 2:
            continue
        found: dict[int, tuple[str, int, int]] = {}
        for start in range(len(words)):
            for end in range(len(words), start, -1):
                if end - start == len(words):
                    continue
                hit = term_owner.get(words[start:end])
                if hit and hit[0] != j and hit[0] not in found:
                    found[hit[0]] = (hit[1], start, end)
        for i, (inner, start, end) in found.items():
            rest = words[:start] + words[end:]
            if frozenset((i, j)) in reported:
                continue
            leading, trailing = words[:start], words[end:]
            if (
                (not trailing and all(w in GENERIC_MODIFIERS for w in leading))
                or (not leading and all(w in GENERIC_SUFFIXES for w in trailing))
                or (all(w in GENERIC_MODIFIERS for w in leading) and all(w in GENERIC_SUFFIXES for w in trailing))
            ):
                add(WARNING, "variant",
                    f"{_ref(term, labels[j])} is {_ref(inner, labels[i])} plus "
                    f"{' '.join(rest)!r}: a variant that would split scores", i, j, (inner, term))
            else:
                role = "head" if end == len(words) else "modifier"
                add(NOTE, "contained",
                    f"{_ref(term, labels[j])} contains {_ref(inner, labels[i])} as "
                    f"its {role}: a mention of {term!r} counts only for {labels[j].name!r}",
                    i, j, (inner, term))

    # 6. redundant synonyms (already generated from the name).
    for i, label in enumerate(labels):
        generated = {label.name.lower(), plural(label.name).lower()}
        for synonym in label.synonyms:
            if synonym.lower() in generated:
                findings.append(Finding(NOTE, "redundant-synonym",
                                        f"synonym {synonym!r} of {label.name!r} is generated anyway "
                                        f"(plural forms are automatic)", lines[i], (label.name,),
                                        (synonym.lower(),)))

    # 7. style of built-in sets.
    if style:
        for i, label in enumerate(labels):
            for term in label.terms:
                if term != term.lower():
                    findings.append(Finding(WARNING, "style", f"{term!r} is not lower case",
                                            lines[i], (label.name,), (term.lower(),)))
            if len(_words(label.name)) > 3:
                findings.append(Finding(WARNING, "style", f"label {label.name!r} is longer than "
                                        f"3 words", lines[i], (label.name,), (label.name.lower(),)))

    # Allow lines silence warnings of a reviewed pair.
    used = [False] * len(allow_entries)
    for finding in findings:
        if finding.severity == WARNING and finding.sides:
            sides = finding.sides
            silenced = False
            for entry, (_, a, b) in enumerate(allow_entries):
                if (a in sides[0] and b in sides[1]) or (b in sides[0] and a in sides[1]):
                    used[entry] = True
                    silenced = True
            if silenced:
                report.allowed.append(finding)
                continue
        report.findings.append(finding)
    for entry, (line_no, a, b) in enumerate(allow_entries):
        if not used[entry]:
            report.findings.append(Finding(WARNING, "stale-allow",
                                           f"'allow: {a} ~ {b}' matches no warning", line_no))
    report.findings.sort(key=lambda f: ({ERROR: 0, WARNING: 1, NOTE: 2}[f.severity], f.line or 0))
    return report


def check_file(path: str | Path, *, style: bool = False) -> Report:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report = Report(str(path))
        report.findings.append(Finding(ERROR, "parse", f"cannot read {path}: {exc}"))
        return report
    return check_text(text, str(path), style=style)
