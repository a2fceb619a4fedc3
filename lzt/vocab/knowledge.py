"""What lzt knows about each label of a vocabulary: its kind, how a caption phrases it, where it
is photographed and with what. The template writer composes sentences from it, label sets are
drawn with its co-occurrences, and LLM sentences are judged against it.

A knowledge file is JSON Lines beside its vocabulary (`coco.txt` -> `coco.knowledge.jsonl`), one
object per label in the vocabulary's order:

    {"label": "dog", "kind": "animal", "np": "a dog", "settings": ["park"],
     "companions": ["person", "frisbee"], "never": ["underwater"], "details": ["sleeping", "wet"]}

`label`, `kind`, `np`, `settings` and `companions` are required; `pp` is required for the kinds
scene, event and weather, `vp` for activities; `never` and `details` are optional. np, pp and vp
must mention the label (its name or a synonym, singular or plural, as sentences are verified);
settings, companions and never name labels of the same vocabulary (by name, not synonym), never
the label itself; settings are labels of kind scene. A vocabulary without a knowledge file gets
knowledge guessed from its names (lzt.vocab.kinds): kinds and phrasing, but no companions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lzt.errors import LztError
from lzt.files import nonblank_lines
from lzt.vocab.kinds import guess_kind_in_tree, guessed_phrases
from lzt.vocab.mentions import MentionMatcher
from lzt.vocab.vocabulary import KINDS, Vocabulary, load_vocabulary

# Kinds that need a prepositional phrase ("on a beach", "at a wedding", "at sunset").
NEEDS_PP = ("scene", "event", "weather")
MAX_SETTINGS, MAX_COMPANIONS, MAX_DETAILS = 5, 8, 6
_FIELDS = {"label", "kind", "np", "pp", "vp", "settings", "companions", "never", "details"}
_REQUIRED = ("label", "kind", "np", "settings", "companions")
# Kinds that go with any photo unless a `never` says otherwise: a black and white photo, at night.
UNIVERSAL_KINDS = ("style", "weather")
# A label that is a companion of more than this share of the vocabulary (`person` in COCO), and of
# more than HUB_MIN labels, does not make two of its companions related: a toilet and a giraffe
# both go with people.
HUB_SHARE = 0.4
HUB_MIN = 8

NEVER, COMPANION, RELATED, COMPATIBLE, UNRELATED = "never", "companion", "related", "compatible", "unrelated"


@dataclass(frozen=True)
class LabelKnowledge:
    """One label's entry: kind, phrasing (np, pp, vp), settings, companions, never, details.
    `written` is False for entries guessed from the name (no settings, companions or never)."""

    label: str
    kind: str
    np: str
    pp: str | None = None
    vp: str | None = None
    settings: tuple[str, ...] = ()
    companions: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    written: bool = True

    def to_dict(self) -> dict:
        """The JSON object of a knowledge file (without the `written` flag)."""
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "written"}
        return {k: v for k, v in data.items() if v is not None and (v != [] or k in _REQUIRED)}


@dataclass
class Knowledge:
    """The knowledge of every label of a vocabulary, in its order, and the relations it implies."""

    vocabulary: Vocabulary
    entries: tuple[LabelKnowledge, ...]
    source: str = "guessed"
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _neighbours: list[dict[int, float]] = field(default_factory=list, repr=False)
    _never: set[frozenset[int]] = field(default_factory=set, repr=False)
    _hubs: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._index = self.vocabulary.index()
        n = len(self.entries)
        self._neighbours = [{} for _ in range(n)]
        for i, entry in enumerate(self.entries):
            # Rank-weighted and symmetric: the first companions count most; A listing B is B with A.
            for rank, name in enumerate(entry.settings):
                self._link(i, self._index[name], 1.0 / (1 + 0.25 * rank))
            for rank, name in enumerate(entry.companions):
                self._link(i, self._index[name], 1.0 / (1 + 0.25 * rank))
            for name in entry.never:
                self._never.add(frozenset((i, self._index[name])))
        self._hubs = {i for i in range(n) if len(self._neighbours[i]) > max(HUB_SHARE * n, HUB_MIN)}

    def _link(self, a: int, b: int, weight: float) -> None:
        self._neighbours[a][b] = self._neighbours[a].get(b, 0.0) + weight
        self._neighbours[b][a] = self._neighbours[b].get(a, 0.0) + weight

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> LabelKnowledge:
        return self.entries[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index(self, name: str) -> int:
        """The label's position in the vocabulary."""
        return self._index[name]

    @property
    def written(self) -> int:
        """How many entries were written (not guessed)."""
        return sum(entry.written for entry in self.entries)

    def neighbours(self, index: int) -> dict[int, float]:
        """Labels photographed with label `index` (companions and settings, both directions), with weights."""
        return self._neighbours[index]

    def is_never(self, a: int, b: int) -> bool:
        """True when either label lists the other under `never`."""
        return frozenset((a, b)) in self._never

    def relation(self, a: int, b: int) -> str:
        """How plausible labels a and b are in one photo: `never` (listed so), `companion` (one
        lists the other as companion or setting), `related` (they share a setting or a companion
        that is not a hub), `compatible` (a style or weather label, or a label without written
        knowledge: nothing says otherwise), else `unrelated`."""
        if a == b:
            return COMPANION
        if self.is_never(a, b):
            return NEVER
        if b in self._neighbours[a]:
            return COMPANION
        shared = (set(self._neighbours[a]) & set(self._neighbours[b])) - self._hubs
        if shared:
            return RELATED
        ea, eb = self.entries[a], self.entries[b]
        if not (ea.written and eb.written) or ea.kind in UNIVERSAL_KINDS or eb.kind in UNIVERSAL_KINDS:
            return COMPATIBLE
        return UNRELATED

    def digest(self) -> str:
        """A short hash of every entry: corpora record which knowledge drew their label sets."""
        text = json.dumps([[d[k] for k in sorted(d)] for d in map(asdict, self.entries)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def guess_entry(label) -> LabelKnowledge:
    """An entry from a label's name alone (lzt.vocab.kinds): kind (the vocabulary's `[kind]`
    when given), np, pp, vp; no settings, companions or never."""
    kind = label.kind or guess_kind_in_tree(label.name, label.parents)
    np, pp, vp = guessed_phrases(label, kind)
    return LabelKnowledge(label.name, kind, np, pp, vp, written=False)


def knowledge_file_for(vocabulary: Vocabulary) -> Path | None:
    """The knowledge file beside a vocabulary file (`coco.txt` -> `coco.knowledge.jsonl`), if any."""
    source = Path(vocabulary.source) if vocabulary.source and not vocabulary.source.startswith("<") else None
    if source is None or source.suffix != ".txt":
        return None
    path = source.with_name(source.stem + ".knowledge.jsonl")
    return path if path.is_file() else None


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"\"{what}\" must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _entry(obj: dict) -> LabelKnowledge:
    """An entry from one JSON object, with its shape checked (not yet its references)."""
    unknown = set(obj) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))} (fields: {', '.join(sorted(_FIELDS))})")
    missing = [key for key in _REQUIRED if key not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    for key in ("label", "kind", "np", "pp", "vp"):
        if key in obj and obj[key] is not None and (not isinstance(obj[key], str) or not obj[key].strip()):
            raise ValueError(f"\"{key}\" must be a non-empty string")
    return LabelKnowledge(
        obj["label"].strip(), obj["kind"].strip(), obj["np"].strip(), (obj.get("pp") or "").strip() or None,
        (obj.get("vp") or "").strip() or None, _strings(obj["settings"], "settings"), _strings(obj["companions"], "companions"),
        _strings(obj.get("never", []), "never"), _strings(obj.get("details", []), "details"),
    )


class _Checker:
    """Every problem of a knowledge file against its vocabulary, each as `file:line: message`."""

    def __init__(self, vocabulary: Vocabulary, source: str):
        self.vocabulary, self.source = vocabulary, source
        self.index = vocabulary.index()
        self.synonym_of = {s.lower(): label.name for label in vocabulary.labels for s in label.synonyms}
        self.matcher = MentionMatcher(vocabulary)
        self.problems: list[str] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.source}:{line}: {message}")

    def phrases(self, line: int, entry: LabelKnowledge) -> None:
        i = self.index[entry.label]
        if entry.kind not in KINDS:
            self.problem(line, f"{entry.label!r}: unknown kind {entry.kind!r} (kinds: {', '.join(KINDS)})")
        if entry.kind in NEEDS_PP and entry.pp is None:
            self.problem(line, f"{entry.label!r}: a {entry.kind} needs \"pp\" (e.g. \"on a beach\", \"at a wedding\", \"at sunset\")")
        if entry.kind == "activity" and entry.vp is None:
            self.problem(line, f"{entry.label!r}: an activity needs \"vp\" (e.g. \"skiing down a slope\")")
        for key in ("np", "pp", "vp"):
            phrase = getattr(entry, key)
            if phrase is not None and i not in self.matcher.label_indices(phrase):
                self.problem(line, f"{entry.label!r}: \"{key}\" {phrase!r} does not mention the label (its name or a synonym, as whole words)")

    def references(self, line: int, entry: LabelKnowledge, kinds: dict[str, str]) -> None:
        limits = {"settings": MAX_SETTINGS, "companions": MAX_COMPANIONS, "never": None}
        for key, limit in limits.items():
            names = getattr(entry, key)
            if limit is not None and len(names) > limit:
                self.problem(line, f"{entry.label!r}: at most {limit} \"{key}\", not {len(names)}")
            if len(set(names)) != len(names):
                self.problem(line, f"{entry.label!r}: \"{key}\" names a label twice")
            for name in names:
                if name == entry.label:
                    self.problem(line, f"{entry.label!r}: \"{key}\" names the label itself")
                elif name not in self.index:
                    hint = f" (a synonym of {self.synonym_of[name.lower()]!r}: use the label name)" if name.lower() in self.synonym_of else ""
                    self.problem(line, f"{entry.label!r}: \"{key}\" names {name!r}, which is not a label of {self.vocabulary.source or 'the vocabulary'}{hint}")
                elif key == "settings" and kinds.get(name, "scene") != "scene":
                    self.problem(line, f"{entry.label!r}: setting {name!r} is a {kinds[name]}, not a scene")
        clash = set(entry.never) & (set(entry.companions) | set(entry.settings))
        if clash:
            self.problem(line, f"{entry.label!r}: {', '.join(sorted(clash))} both a companion/setting and \"never\"")
        if len(entry.details) > MAX_DETAILS:
            self.problem(line, f"{entry.label!r}: at most {MAX_DETAILS} \"details\", not {len(entry.details)}")


def _read_entries(path: Path, checker: _Checker) -> list[tuple[int, LabelKnowledge]]:
    entries: list[tuple[int, LabelKnowledge]] = []
    seen: dict[str, int] = {}
    for number, raw in nonblank_lines(path, "knowledge file"):
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            entry = _entry(obj)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            checker.problem(number, str(exc))
            continue
        if entry.label not in checker.index:
            checker.problem(number, f"{entry.label!r} is not a label of {checker.vocabulary.source or 'the vocabulary'}")
            continue
        if entry.label in seen:
            checker.problem(number, f"{entry.label!r} is already described on line {seen[entry.label]}")
            continue
        if entries and checker.index[entry.label] < checker.index[entries[-1][1].label]:
            checker.problem(number, f"{entry.label!r} is out of the vocabulary's order (after {entries[-1][1].label!r})")
        seen[entry.label] = number
        entries.append((number, entry))
    return entries


def knowledge_problems(labels, path: str | Path, *, partial: bool = False) -> list[str]:
    """Every problem of a knowledge file for a vocabulary (`file:line: message` each); empty when
    it is valid. partial: labels the file leaves out are not a problem (they will be guessed)."""
    return _load(load_vocabulary(labels), Path(path), partial)[1]


def _load(vocabulary: Vocabulary, path: Path, partial: bool) -> tuple[list[LabelKnowledge] | None, list[str]]:
    checker = _Checker(vocabulary, str(path))
    entries = _read_entries(path, checker)
    kinds = {entry.label: entry.kind for _, entry in entries}
    for number, entry in entries:
        checker.phrases(number, entry)
        checker.references(number, entry, kinds)
    described = {entry.label for _, entry in entries}
    missing = [name for name in vocabulary.names if name not in described]
    if missing and not partial:
        checker.problems.append(f"{path}: {len(missing)} label(s) not described: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if checker.problems:
        return None, checker.problems
    by_name = {entry.label: entry for _, entry in entries}
    return [by_name.get(label.name) or guess_entry(label) for label in vocabulary.labels], []


def load_knowledge(labels, path: str | Path | None = None, *, partial: bool = False) -> Knowledge:
    """The knowledge of a vocabulary (a built-in set name, a vocabulary file, a list of labels,
    or a `Vocabulary`), validated.

    path: a knowledge file; None: the file beside the vocabulary file (`coco.knowledge.jsonl`
        beside `coco.txt`), else knowledge guessed from the label names (lzt.vocab.kinds).
    partial: labels the file leaves out are guessed instead of being an error.
    A problem (bad JSON, unknown kind or label, a phrase that does not mention its label, a
    reference to a label that does not exist) is an LztError naming the file and line."""
    vocabulary = load_vocabulary(labels)
    if path is None:
        path = knowledge_file_for(vocabulary)
        if path is None:
            return Knowledge(vocabulary, tuple(guess_entry(label) for label in vocabulary.labels), "guessed")
    path = Path(path)
    entries, problems = _load(vocabulary, path, partial)
    if entries is None:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise LztError(problems[0] + more)
    return Knowledge(vocabulary, tuple(entries), str(path))
