"""Captions and alt texts composed from what lzt knows about each label (lzt.vocab.knowledge):
the template writer's sentences.

A label set is split by kind into roles: a photo style opens the sentence ("A black and white
photo of ..."), people and things are its subjects (with an article, a quantity, a plural, a
detail or a synonym now and then), an activity or a thing a person does something with gives
the verb ("a man riding a bicycle"), a scene gives the place ("on a beach"), weather and time of
day the time ("at sunset"), an event the occasion ("at a wedding"). The parts are arranged in one
of several caption and alt-text structures. Grammar comes from the knowledge's own phrases (its
noun phrases carry their article or none, for mass nouns) and lzt's pluralizer.

Every sentence is checked with the mention matcher: it must mention each requested label, and no
other label except those the labels' own phrases name ("a bowl of rice" names `bowl`); another
arrangement is tried when it does not (a filler such as "on a sunny day" may name a label of the
vocabulary). A sentence depends only on the seed, the label set and how many times that set was
asked before, so a corpus is reproducible.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from lzt.text.grammar import GrammarChecker
from lzt.vocab import join_phrases, plural
from lzt.vocab.forms import UNCHANGED_PLURALS, indefinite
from lzt.vocab.kinds import guess_kind, is_mass_noun
from lzt.vocab.knowledge import COMPANION, RELATED, Knowledge, LabelKnowledge
from lzt.vocab.mentions import MentionMatcher

SUBJECT_KINDS = ("person", "animal", "object", "food", "plant", "vehicle", "material")
COUNTABLE_KINDS = ("person", "animal", "object", "food", "plant", "vehicle")
ATTEMPTS = 12  # arrangements tried before the plain fallback
MIN_WORDS = 3  # "Snow." is no caption: another arrangement is tried
_PREPOSITIONS = {
    "on", "in", "at", "with", "under", "by", "from", "of", "near", "inside", "behind", "beside", "for", "without", "into",
    "over", "across", "along", "against", "through", "above", "below", "around", "among", "between", "beneath", "outside",
    "next", "to", "atop", "up", "down", "off", "out", "like", "after", "before", "during", "toward", "towards", "underneath",
}
_NUMBERS = ("two", "two", "two", "three", "several", "a few")
_GROUPS = ("a group of", "a pair of")  # people and animals only
# Things other things are put on: "a cat on a couch", "a laptop on a desk".
_SURFACES = {"table", "dining table", "desk", "bed", "couch", "sofa", "bench", "counter", "countertop", "coffee table", "kitchen counter"}
_SMALL_THINGS = ("object", "food", "animal", "plant")
# Context for one-label sentences: the matcher throws out any that names a vocabulary label.
_CONTEXTS = (
    "", "", "", "up close", "on a sunny day", "in soft light", "from above", "in the afternoon", "seen from the side",
    "in natural light", "on an ordinary day", "in the morning light", "at close range", "in bright daylight",
)
_FILLERS = ("an everyday scene", "a quiet moment", "a familiar place", "a simple scene", "an ordinary day")
_OPENERS = (
    ("", 6), ("A photo of ", 3), ("A picture of ", 1), ("An image of ", 1), ("Photo of ", 1), ("A snapshot of ", 1),
    ("A close-up of ", 1), ("There is ", 1), ("This photo shows ", 1), ("In this picture: ", 1),
)
_DETERMINER = re.compile(r"^(a|an|the|some)\s+(.*)$", re.IGNORECASE)
_CONNECTORS = (" and ", " and ", " with ", " next to ", " beside ", " near ", " and ")


@dataclass
class _Roles:
    styles: list[LabelKnowledge]
    scenes: list[LabelKnowledge]
    weather: list[LabelKnowledge]
    events: list[LabelKnowledge]
    activities: list[LabelKnowledge]
    persons: list[LabelKnowledge]
    things: list[LabelKnowledge]


def _split(entries: Sequence[LabelKnowledge]) -> _Roles:
    roles = _Roles([], [], [], [], [], [], [])
    for entry in entries:
        bucket = {
            "style": roles.styles, "scene": roles.scenes, "weather": roles.weather, "event": roles.events,
            "activity": roles.activities, "person": roles.persons,
        }.get(entry.kind, roles.things)
        bucket.append(entry)
    # The place of the sentence is the scene the others are found in (their settings name it):
    # "a laundry room in an apartment building", not "an apartment building in a laundry room".
    names = {scene.label for scene in roles.scenes}
    roles.scenes.sort(key=lambda scene: -sum(scene.label in other.settings for other in roles.scenes if other.label in names))
    return roles


def _fits(synonym: str, entry: LabelKnowledge) -> bool:
    """Whether a synonym can stand for the label with `a`/`an`: a count noun of the same kind
    ("a kitten" for a cat, "a man" for a person; not "cattle", "foliage", or "forest" for a tree)."""
    last = synonym.split(" ")[-1].lower()
    if last in UNCHANGED_PLURALS or is_mass_noun(synonym):
        return False
    if last.endswith("s") and not last.endswith(("ss", "us", "is")):  # "spectators", "tacos": a plural
        return False
    return entry.kind == "person" or guess_kind(synonym) == entry.kind


def _is_surface(entry: LabelKnowledge) -> bool:
    return entry.label in _SURFACES or entry.np.lower().split(" ", 1)[-1] in _SURFACES


def _follows_noun(detail: str) -> bool:
    """Whether a detail goes after its noun ("a dog on a leash", "a car parked on a street")
    rather than before it ("a sleeping dog", "a black and white cow")."""
    words = detail.lower().split()
    if words[0] in _PREPOSITIONS:
        return True
    return len(words) > 1 and (words[0].endswith(("ing", "ed")) or any(w in _PREPOSITIONS for w in words))


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (`TV`)."""
    first = text.split(" ", 1)[0]
    return text if first.isupper() and len(first) > 1 else text[:1].lower() + text[1:]


def _finish(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().rstrip(",")
    text = re.sub(r"\s+([,.])", r"\1", text)
    return _capitalize(text) + ("" if text.endswith((".", "!", "?")) else ".")


class SentenceComposer:
    """Writes one caption per label set from the knowledge of its labels; seeded and reproducible.

    `sentence(labels)` returns a sentence that mentions every label of the set (and no other,
    except labels the knowledge's own phrases name); asking the same set again gives another
    arrangement (the n-th ask of a set is the same for the same seed)."""

    def __init__(self, knowledge: Knowledge, seed: int = 0):
        self.knowledge = knowledge
        self.seed = seed
        self.matcher = MentionMatcher(knowledge.vocabulary)
        self.grammar = GrammarChecker(knowledge, self.matcher)
        self._asked: dict[tuple[str, ...], int] = {}
        self._synonyms = {label.name: label.synonyms for label in knowledge.vocabulary.labels}
        self._inherent: dict[str, set[int]] = {}
        for entry in knowledge.entries:
            phrases = " | ".join(p for p in (entry.np, entry.pp, entry.vp) if p)
            self._inherent[entry.label] = set(self.matcher.label_indices(phrases))

    def sentence(self, labels: Sequence[str]) -> str:
        """A caption that mentions every label of `labels` (names of the vocabulary)."""
        key = tuple(labels)
        variant = self._asked.get(key, 0)
        self._asked[key] = variant + 1
        return self.compose(labels, variant)

    def compose(self, labels: Sequence[str], variant: int = 0) -> str:
        """The `variant`-th sentence for this label set (a pure function of seed, labels, variant)."""
        entries = [self.knowledge[name] for name in labels]
        wanted = {self.knowledge.index(name) for name in labels}
        allowed = wanted.union(*(self._inherent[name] for name in labels))
        rng = random.Random(f"{self.seed}|{'|'.join(labels)}|{variant}")
        for _ in range(ATTEMPTS):
            text = _Arrangement(entries, rng, self._synonyms, self.knowledge).sentence()
            found = set(self.matcher.label_indices(text))
            if wanted <= found <= allowed and len(text.split()) >= MIN_WORDS and not self.grammar.violations(text):
                return text
        return self._plain(entries)

    def _plain(self, entries: Sequence[LabelKnowledge]) -> str:
        """The fallback: the labels' own phrases in a list, places and times at the end."""
        roles = _split(entries)
        nps = [e.np for e in roles.persons + roles.things + roles.activities]
        nps += [e.np for e in roles.scenes if not nps] + [e.np for e in roles.weather + roles.events if not nps]
        tail = [e.pp for e in roles.scenes + roles.events + roles.weather if e.pp and e.np not in nps]
        body = join_phrases(nps) + "".join(f" {pp}" for pp in tail)
        if roles.styles:
            return _finish(f"{roles.styles[0].np} of {body}" if body else roles.styles[0].np)
        return _finish(f"a photo of {body}" if nps else f"a photo taken {body.strip()}")


class _Arrangement:
    """One random arrangement of a label set's phrases."""

    def __init__(self, entries: Sequence[LabelKnowledge], rng: random.Random, synonyms: dict[str, tuple[str, ...]], knowledge: Knowledge):
        self.roles = _split(entries)
        self.rng = rng
        self.synonyms = synonyms
        self.knowledge = knowledge
        self.actor_clause = False
        self.surface: str | None = None

    def plausible(self, a: str, b: str) -> bool:
        """Whether the knowledge names a and b together, directly or through a shared companion."""
        return self.knowledge.relation(self.knowledge.index(a), self.knowledge.index(b)) in (COMPANION, RELATED)

    # --- noun phrases -----------------------------------------------------------------------

    def np(self, entry: LabelKnowledge, plural_ok: bool = True, detail_ok: bool = True) -> str:
        """The entry's noun phrase, sometimes with a synonym, a quantity or a detail."""
        rng = self.rng
        base = entry.np
        match = _DETERMINER.match(base)
        determiner, rest = (match.group(1).lower(), match.group(2)) if match else ("", base)
        simple = determiner in ("a", "an") and rest.lower() == entry.label.lower()
        if simple and entry.kind in COUNTABLE_KINDS and rng.random() < (0.45 if entry.kind == "person" else 0.15):
            synonyms = [s for s in self._synonyms(entry) if _fits(s, entry)]
            if synonyms:
                rest = rng.choice(synonyms)
        detail = ""
        if detail_ok and entry.details and rng.random() < 0.35:
            detail = rng.choice(entry.details)
        after = ""
        if detail and _follows_noun(detail):
            after, detail = " " + detail, ""
        if determiner in ("a", "an") and plural_ok and entry.kind in COUNTABLE_KINDS and rng.random() < 0.12:
            number = rng.choice(_NUMBERS + (_GROUPS if entry.kind in ("person", "animal") else ()))
            return f"{number} {detail + ' ' if detail else ''}{plural(rest)}{after}"
        core = f"{detail} {rest}" if detail else rest
        if determiner in ("a", "an"):
            return f"{indefinite(core)} {core}{after}"
        if determiner:
            return f"{determiner} {core}{after}"
        return f"{core}{after}"

    def _synonyms(self, entry: LabelKnowledge) -> list[str]:
        return list(self.synonyms.get(entry.label, ()))

    # --- clauses ------------------------------------------------------------------------------

    def subjects(self) -> list[str]:
        """The noun phrases and clauses of people, things and activities."""
        rng, roles = self.rng, self.roles
        parts: list[str] = []
        persons = list(roles.persons)
        things = list(roles.things)
        doings = [e for e in roles.activities if e.vp] + [t for t in things if t.vp and t.kind != "person"]
        rng.shuffle(doings)
        self.actor_clause = False
        if persons and doings and rng.random() < 0.85:
            actor = persons.pop(0)
            used = doings[:1]  # one thing done: "walking a dog and riding a horse" reads like a circus
            parts.append(f"{self.np(actor, plural_ok=False, detail_ok=False)} {used[0].vp}")
            self.actor_clause = True
            for entry in used:
                if entry in things:
                    things.remove(entry)
        # A table, bed or couch is where the other things are: "a cake and a knife on a dining table".
        self.surface = None
        smalls = [t for t in things if t.kind in _SMALL_THINGS and not _is_surface(t)]
        surfaces = [t for t in things if _is_surface(t)]
        # ...when everything else is small enough to be on it (not a car on a sofa), goes with it
        # (the knowledge says so: a cake on a dining table, not a sink), and no one is doing something.
        fits = surfaces and all(t.kind in _SMALL_THINGS and self.plausible(t.label, surfaces[0].label) for t in things if t is not surfaces[0])
        if fits and smalls and not self.actor_clause and rng.random() < 0.6:
            things.remove(surfaces[0])
            self.surface = "on " + self.np(surfaces[0], plural_ok=False)
        activities = [a for a in roles.activities if not any(a.vp and a.vp in p for p in parts)]
        for activity in activities:
            if activity.vp and rng.random() < 0.3:
                parts.append(f"someone {activity.vp}")
            else:
                parts.append(self.np(activity, plural_ok=False))
        for person in persons:
            parts.append(self.np(person))
        # A material is a subject like a thing ("sand and a towel"): the knowledge says what is
        # photographed with what, not what is made of what.
        for thing in things:
            parts.append(self.np(thing))
        for scene in roles.scenes[1:]:
            parts.append(self.np(scene, plural_ok=False))
        for weather in roles.weather[1:]:
            parts.append(self.np(weather, plural_ok=False))
        return parts

    def join(self, parts: list[str]) -> str:
        """Subjects in one phrase: "a cat on a couch", "a dog next to a bicycle", "a, b and c"."""
        rng = self.rng
        if len(parts) == 1:
            return parts[0]
        if self.actor_clause:  # "a man riding a horse": keep the others out of the verb's reach
            actor, others = parts[0], join_phrases(parts[1:])
            shape = rng.randrange(3)
            if shape == 0:
                return join_phrases([*parts[1:], actor])
            if shape == 1:
                return f"{actor}, with {others} nearby"
            return f"{actor} next to {others}"
        if len(parts) == 2:
            return parts[0] + rng.choice(_CONNECTORS) + parts[1]
        if rng.random() < 0.3:
            return f"{parts[0]} with {join_phrases(parts[1:])}"
        return join_phrases(parts)

    def sentence(self) -> str:
        roles = self.roles
        parts = self.subjects()
        place = roles.scenes[0] if roles.scenes else None
        when = roles.weather[0] if roles.weather else None
        event = roles.events[0] if roles.events else None
        tails = [e.pp for e in (event, place, when) if e is not None and e.pp]
        if self.surface:
            tails.insert(0, self.surface)
        if place is not None and not place.pp:  # a scene without pp (written knowledge requires one)
            parts.append(self.np(place, plural_ok=False))
        if event is not None and not event.pp:
            parts.append(self.np(event, plural_ok=False))
        styled = bool(roles.styles)  # the body must then be a noun phrase: "a macro photo of ..."
        if parts:
            body, fronted = self.with_tails(self.join(parts), tails, front_ok=not styled)
        elif place is not None:
            body, fronted = self.scene_only(place, [e.pp for e in (event, when) if e is not None and e.pp], styled), False
        elif (occasion := event or when) is not None:
            body, fronted = self.time_only(occasion, styled), False
        else:
            body, fronted = "", False
        if styled:
            return self.styled(roles.styles[0], body)
        if not parts or not body or fronted:
            return _finish(body)
        single = len(parts) == 1 and not tails and not roles.activities
        return _finish(self.opener(single, parts, body) + body)

    def opener(self, single: bool, parts: list[str], body: str) -> str:
        rng = self.rng
        choices = [(text, weight) for text, weight in _OPENERS if single or text != "A close-up of "]
        texts, weights = zip(*choices)
        opener = rng.choices(texts, weights)[0]
        if opener == "There is ":
            first = body.split(" ", 1)[0].lower()
            if len(parts) > 1:
                opener = ""  # "there is a cat with two dogs": leave the agreement puzzles out
            elif first in ("two", "three", "four", "several", "people") or body.lower().startswith(("a few", "a group", "a pair")):
                opener = "There are "
            elif first not in ("a", "an"):
                opener = ""  # "there is rice" reads oddly in a caption
        return opener

    def with_tails(self, body: str, tails: list[str], front_ok: bool) -> tuple[str, bool]:
        """Place, time and occasion after the subjects, or one of them in front; whether one
        was put in front (then the sentence takes no opener)."""
        rng = self.rng
        if not tails:  # a context only for one or two subjects: "up close" after five things reads oddly
            context = rng.choice(_CONTEXTS) if body.count(",") + body.count(" and ") < 2 else ""
            return f"{body} {context}".strip(), False
        if front_ok and rng.random() < 0.2:
            front = tails.pop(rng.randrange(len(tails)))
            rest = " ".join(tails)
            return f"{front}, {body}{' ' + rest if rest else ''}", True
        return f"{body} {' '.join(tails)}", False

    def scene_only(self, place: LabelKnowledge, tails: list[str], noun_phrase: bool) -> str:
        rng = self.rng
        shape = rng.randrange(4)
        np = self.np(place, plural_ok=False)
        tail = " ".join(tails)
        if shape == 0 and not noun_phrase:
            return f"a view of {np} {tail}"
        if shape == 1 and place.pp and not noun_phrase:
            return f"a photo taken {place.pp} {tail}"
        return f"{np} {tail}"

    def time_only(self, entry: LabelKnowledge, noun_phrase: bool) -> str:
        rng = self.rng
        shape = rng.randrange(3)
        if shape == 0 and entry.pp and not noun_phrase:
            return f"a photo taken {entry.pp}"
        if shape == 1 and entry.pp and not noun_phrase:
            return f"a view {entry.pp}"
        if noun_phrase and entry.pp:
            return f"{rng.choice(_FILLERS)} {entry.pp}"
        return self.np(entry, plural_ok=False)

    def styled(self, style: LabelKnowledge, body: str) -> str:
        rng = self.rng
        opener = self.np(style, plural_ok=False, detail_ok=False)
        if not body:
            body = rng.choice(_FILLERS)
        if rng.random() < 0.75:
            return _finish(f"{opener} of {_lower_first(body)}")
        return _finish(f"{body}, {_lower_first(opener)}")

