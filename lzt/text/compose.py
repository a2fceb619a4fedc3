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

A caption describes one photo, so it has at most one place. A scene label becomes the setting
("on a beach") only when it fits every other label of the set (the knowledge relates them, and
nothing found only indoors is put outdoors or the other way round); a second scene or event is
named beside it only when the knowledge lists the two as companions (the sampler draws no other
pair). The same goes for an event ("at a wedding") and an outdoor weather ("in the snow": not
for a washing machine). No detail or verb phrase then adds a second place ("a sheep in a
pasture" next to "in a valley"), and without a setting at most one of them places its subject.
Things go on a table, desk, bed or couch only when all of them are small and go with it (no
sink, oven or chair on a table). A set whose labels the knowledge does not relate (CoMC's
uniform share) is a plain list with no shared place, surface or "next to": several things in
one photo. A photo style frames the photo, so no "up close" or "from above" is added to it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from lzt.text.grammar import GrammarChecker
from lzt.text.sampling import PLACE_KINDS
from lzt.vocab import join_phrases, plural
from lzt.vocab.forms import UNCHANGED_PLURALS, indefinite
from lzt.vocab.kinds import guess_kind, is_indoor_place, is_mass_noun, names_a_place
from lzt.vocab.knowledge import COMPANION, NEVER, RELATED, UNRELATED, Knowledge, LabelKnowledge
from lzt.vocab.mentions import MentionMatcher

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
_SEATS = {"bed", "couch", "sofa", "bench"}  # surfaces people sit or lie on
_SMALL_THINGS = ("object", "food", "animal", "plant")
# Things too big, or fixed in place, to stand on a table, desk, bed or couch (by the label's last
# word or two): furniture, appliances, fixtures; and animals too big for one.
_LARGE = {
    "chair", "armchair", "stool", "sofa", "couch", "bed", "table", "desk", "bench", "oven", "stove", "sink", "refrigerator",
    "fridge", "freezer", "dishwasher", "washing machine", "toilet", "bathtub", "bath", "shower", "piano", "wardrobe",
    "dresser", "cabinet", "bookshelf", "bookcase", "fireplace", "door", "window", "curtain", "rug", "carpet", "chandelier",
    "ceiling fan", "fountain", "shrub", "tree", "street light", "lamppost", "trash can", "vacuum cleaner", "chalkboard",
    "whiteboard", "treadmill", "crib", "mirror", "tv", "tv monitor", "television", "microwave",
}
_LARGE_ANIMALS = {"horse", "cow", "sheep", "elephant", "bear", "zebra", "giraffe", "camel", "deer", "goat", "pig", "donkey"}
# Context for sentences without a place (the matcher throws out any that names a vocabulary label).
# Framing and light go with any photo but one that has a style of its own.
_FRAMINGS = ("up close", "from above", "seen from the side", "at close range")
_LIGHTS = ("in soft light", "in natural light")
_TIMES = ("in the afternoon", "in the morning light")
_OUTDOORS = ("on a sunny day", "in bright daylight")  # only for things found outdoors
# Places with rooms and grounds alike: "a notebook at a school", "a bus at a school".
_EITHER_PLACES = {"school", "university", "hotel", "stage", "station", "train station", "airport", "swimming pool", "pool", "zoo", "stadium", "sports stadium", "market"}
# Weather labels that are times of day or seasons: indoors too ("a lamp at night").
_TIME_WORDS = {
    "night", "nighttime", "evening", "morning", "afternoon", "midnight", "dusk", "dawn", "twilight", "sunset", "sunrise",
    "spring", "summer", "autumn", "fall", "winter",
}
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
    if last.endswith("men") and last not in ("specimen", "abdomen"):  # "firemen": a plural
        return False
    if len(last) > 5 and last.endswith("ed") and not last.endswith(("bed", "shed", "sled", "seed", "weed", "reed", "speed", "steed", "breed")):
        return False  # "tattooed": an adjective, not "a tattooed"
    return entry.kind == "person" or guess_kind(synonym) == entry.kind


def _is_surface(entry: LabelKnowledge) -> bool:
    return entry.label in _SURFACES or entry.np.lower().split(" ", 1)[-1] in _SURFACES


def _is_seat(entry: LabelKnowledge) -> bool:
    return any(word in _SEATS for word in (entry.label.lower(), entry.np.lower().split(" ", 1)[-1]))


def _is_large(entry: LabelKnowledge) -> bool:
    words = entry.label.lower().split()
    if entry.kind == "animal":  # a cat on a couch, not a horse (a teddy bear is an object)
        return words[-1] in _LARGE_ANIMALS
    return entry.kind in ("person", "vehicle") or words[-1] in _LARGE or " ".join(words[-2:]) in _LARGE


def where(entry: LabelKnowledge) -> str | None:
    """Where a label is photographed: "indoors", "outdoors", or None (either, or not known).
    A scene by its name (lzt.vocab.kinds.INDOOR_PLACES; a school or a hotel is both); weather
    outdoors, except times of day and seasons; anything else by the settings its knowledge lists
    (all indoors, or none)."""
    if entry.kind == "scene":
        if entry.label.lower() in _EITHER_PLACES:
            return None
        return "indoors" if is_indoor_place(entry.label) else "outdoors"
    if entry.kind == "weather":
        return None if entry.label.lower().split()[-1] in _TIME_WORDS else "outdoors"
    if not entry.settings:
        return None
    indoor = [is_indoor_place(name) for name in entry.settings]
    return "indoors" if all(indoor) else "outdoors" if not any(indoor) else None


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


@dataclass
class _Plan:
    """What a label set's sentences share, whatever the arrangement: the place, occasion and
    times that fit every label (their pp's close the sentence), the labels that become plain
    noun phrases instead, and whether the set is a collage of unrelated things."""

    roles: _Roles
    tails: list[LabelKnowledge]  # event, scene, weather whose pp fits every other label
    listed: list[LabelKnowledge]  # scenes, events and weather named as noun phrases
    collage: bool


class _Fit:
    """Which labels go together in one photo, and which phrase may be said of which (from the
    knowledge's relations and where each label is photographed)."""

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge

    def relation(self, a: LabelKnowledge, b: LabelKnowledge) -> str:
        return self.knowledge.relation(self.knowledge.index(a.label), self.knowledge.index(b.label))

    def setting(self, setting: LabelKnowledge, other: LabelKnowledge) -> bool:
        """Whether the pp of `setting` (a scene, event or weather) can be said of `other`:
        "a dog on a beach", not "a washing machine on farmland" or "a computer in the snow"."""
        if other is setting or other.kind == "style":
            return True
        relation = self.relation(setting, other)
        if relation == NEVER:
            return False
        if relation == COMPANION or other.kind == "person":  # people are photographed anywhere
            return True
        here, there = where(setting), where(other)
        if here and there and here != there:  # indoors and outdoors
            return False
        if setting.kind in PLACE_KINDS and other.kind in PLACE_KINDS:
            return not (setting.written and other.written)  # two places: only companions ("a beach by the ocean")
        if here == there == "indoors" and setting.kind == "scene":
            return False  # an indoor thing is in the rooms its knowledge lists: no bed "in a theater"
        if setting.kind == "scene" and other.kind == "animal" and other.settings:
            return self.habitat(other, setting)
        if setting.kind == "event" and other.kind == "activity":
            return False  # not "bungee jumping at a protest": only an activity the knowledge puts there
        if relation == RELATED:
            return True
        if relation == UNRELATED:
            return False
        # Compatible: a guessed label, or weather, which goes with anything found outdoors; an
        # object or food whose knowledge says nothing of where it is may be indoors.
        return not (setting.kind == "weather" and here == "outdoors" and other.written and other.kind in ("object", "food") and there is None)

    def habitat(self, animal: LabelKnowledge, scene: LabelKnowledge) -> bool:
        """Whether an animal is found at a scene: one of its settings, or a place one of them is
        in (an elk "in a valley" is also "in the mountains"); not a tiger "in a town"."""
        return any(name == scene.label or scene.label in self.knowledge[name].settings for name in animal.settings)

    def surface(self, thing: LabelKnowledge, surface: LabelKnowledge) -> bool:
        """Whether `thing` can stand on `surface`: small, and the knowledge puts them together
        (an animal only as a companion: a cat on a couch)."""
        if thing.kind not in _SMALL_THINGS or _is_large(thing) or _is_surface(thing):
            return False
        relation = self.relation(thing, surface)
        # On a table, desk or counter goes what goes with it; on a bed, couch or bench only what
        # the knowledge puts there (a cat, a pillow; not a vase and a clock).
        return relation == COMPANION or (relation == RELATED and thing.kind != "animal" and not _is_seat(surface))

    def outdoors(self, entry: LabelKnowledge) -> bool:
        """Found outdoors, as far as the knowledge says ("on a sunny day" fits it)."""
        found = where(entry)
        return found == "outdoors" or (found is None and entry.kind in ("vehicle", "animal", "plant", "person", "activity", "weather"))

    def plan(self, entries: Sequence[LabelKnowledge]) -> _Plan:
        roles = _split(entries)
        others = [e for e in entries if e.kind not in ("style", "person")]  # people go with anything (but a `never`)
        collage = any(self.relation(a, b) in (NEVER, UNRELATED) for n, a in enumerate(others) for b in others[n + 1 :])
        collage |= any(self.relation(a, b) == NEVER for a in entries for b in entries if a is not b)
        tails: list[LabelKnowledge] = []
        if not collage:
            # The place: a scene that fits every label and that the set's other scenes are found
            # in ("a glacier in the mountains"); two scenes that merely go together ("a road",
            # "a street") are both named, and neither is the place.
            place = next((scene for scene in roles.scenes if all(self.setting(scene, e) for e in entries)
                          and all(scene.label in other.settings for other in roles.scenes if other is not scene)), None)
            # One time: a time of day first ("the full moon ... at night", not "nighttime under the moon").
            weather = sorted(roles.weather, key=lambda e: where(e) is not None)
            for entry in [*roles.events[:1], *([place] if place else []), *weather]:
                # Two times read as a stack ("in the sun under clouds"): the second is named instead.
                stack = entry.kind == "weather" and any(t.kind == "weather" for t in tails)
                if entry.pp and not stack and all(self.setting(entry, e) for e in entries) and all(self.setting(t, entry) for t in tails):
                    tails.append(entry)
        listed = [e for e in roles.scenes + roles.events + roles.weather if e not in tails]
        return _Plan(roles, tails, listed, collage)


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
        self.fit = _Fit(knowledge)
        # The vocabulary's own places, besides lzt.vocab.kinds.PLACE_WORDS: "by a waterfall" places a thing.
        self._places = frozenset(
            form.lower() for label, entry in zip(knowledge.vocabulary.labels, knowledge.entries) if entry.kind == "scene"
            for form in (label.name, *label.synonyms)
        )

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
        plan = self.fit.plan(entries)
        for _ in range(ATTEMPTS):
            text = _Arrangement(plan, rng, self._synonyms, self.fit, self._places).sentence()
            mentions = self.matcher.mentions(text)
            found = {mention.label for mention in mentions}
            if wanted <= found <= allowed and len(text.split()) >= MIN_WORDS and not self.grammar.violations(text, mentions):
                return text
        return self._plain(plan)

    def _plain(self, plan: _Plan) -> str:
        """The fallback: the labels' own phrases in a list, the place and times at the end."""
        roles = plan.roles
        nps = [e.np for e in roles.persons + roles.things + roles.activities + plan.listed]
        body = join_phrases(nps) + "".join(f" {e.pp}" for e in plan.tails if e.pp)
        if roles.styles:
            return _finish(f"{roles.styles[0].np} of {body}" if body else roles.styles[0].np)
        return _finish(f"a photo of {body}" if nps else f"a photo taken {body.strip()}")


class _Arrangement:
    """One random arrangement of a label set's phrases, within its plan."""

    def __init__(self, plan: _Plan, rng: random.Random, synonyms: dict[str, tuple[str, ...]], fit: _Fit, places: frozenset[str]):
        self.plan = plan
        self.roles = plan.roles
        self.rng = rng
        self.synonyms = synonyms
        self.fit = fit
        self.places = places
        self.actor_clause = False
        self.surface: str | None = None
        # One place per photo: a setting, a surface, or one detail or verb phrase that places its subject.
        self.placed = bool(plan.tails)
        self.placed_by_detail = False  # set by np() when the noun phrase it made has such a detail

    def places_something(self, phrase: str) -> bool:
        """Whether a detail or verb phrase puts its subject somewhere ("grazing in a field")."""
        return names_a_place(phrase, self.places)

    def place_free(self) -> bool:
        """Whether a detail or verb phrase may still place its subject: nothing places the photo
        yet, no place or surface of the set is named as a noun ("a vase on a table" beside "a
        dining table"), and the set is no collage (a place of one thing reads as everyone's)."""
        return not (self.placed or self.plan.collage or self.plan.listed or any(_is_surface(t) for t in self.roles.things))

    def vp_ok(self, entry: LabelKnowledge) -> bool:
        """A verb phrase that places its subject ("skiing down a slope", "dancing on a stage")
        only where nothing else does (not "dancing on a stage on a street")."""
        if not entry.vp or not self.places_something(entry.vp):
            return True
        return self.place_free()

    def use_vp(self, entry: LabelKnowledge) -> str:
        assert entry.vp is not None
        if self.places_something(entry.vp):
            self.placed = True
        return entry.vp

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
            if self.places_something(detail):  # "a sheep in a pasture": the one place of the photo
                if self.place_free():
                    self.placed = self.placed_by_detail = True
                else:
                    detail = ""
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
        """The noun phrases and clauses of people, things and activities, and the scenes,
        events and weather the plan names as noun phrases."""
        rng, roles = self.rng, self.roles
        parts: list[str] = []
        persons = list(roles.persons)
        things = list(roles.things)
        doings = [e for e in roles.activities if e.vp] + [t for t in things if t.vp and t.kind != "person"]
        doings = [e for e in doings if self.vp_ok(e)]
        rng.shuffle(doings)
        self.actor_clause = False
        if persons and doings and rng.random() < 0.85:
            actor = persons.pop(0)
            used = doings[:1]  # one thing done: "walking a dog and riding a horse" reads like a circus
            parts.append(f"{self.np(actor, plural_ok=False, detail_ok=False)} {self.use_vp(used[0])}")
            self.actor_clause = True
            for entry in used:
                if entry in things:
                    things.remove(entry)
        # A table, bed or couch is where the other things are: "a cake and a knife on a dining table",
        # when all of them are small enough to be on it and go with it (not a sink or a chair on a
        # table), no one is doing something, and nothing else places them.
        self.surface = None
        surfaces = [t for t in things if _is_surface(t)]
        fits = surfaces and all(self.fit.surface(t, surfaces[0]) for t in things if t is not surfaces[0])
        fits = fits and (not persons or _is_seat(surfaces[0]))  # a woman and a cat on a couch, not on a dining table
        if fits and len(things) > 1 and not self.actor_clause and not self.plan.collage and not self._surface_clash(surfaces[0]) and rng.random() < 0.6:
            things.remove(surfaces[0])
            self.surface = "on " + self.np(surfaces[0], plural_ok=False, detail_ok=False)
            self.placed = True
        activities = [a for a in roles.activities if not any(a.vp and a.vp in p for p in parts)]
        for activity in activities:
            if activity.vp and self.vp_ok(activity) and rng.random() < 0.3:
                parts.append(f"someone {self.use_vp(activity)}")
            else:
                parts.append(self.np(activity, plural_ok=False))
        for person in persons:
            parts.append(self.np(person))
        # A material is a subject like a thing ("sand and a towel"): the knowledge says what is
        # photographed with what, not what is made of what. A thing placed by its detail does
        # not close a list ("a sink, a cup and a bottle on a shelf" puts all three there).
        placed_thing = None
        for thing in things:
            self.placed_by_detail = False
            parts.append(self.np(thing))
            if self.placed_by_detail:
                placed_thing = parts[-1]
        if placed_thing is not None and len(parts) > 1 and parts[-1] is placed_thing:
            parts.insert(1 if self.actor_clause else 0, parts.pop())
        for entry in self.plan.listed:  # a second scene beside the setting ("the ocean ... on a beach"), or a collage's
            parts.append(self.np(entry, plural_ok=False))
        return parts

    def _surface_clash(self, surface: LabelKnowledge) -> bool:
        """A setting the surface itself does not fit (no dining table in a valley)."""
        return any(not self.fit.setting(tail, surface) for tail in self.plan.tails)

    def join(self, parts: list[str]) -> str:
        """Subjects in one phrase: "a cat on a couch", "a dog next to a bicycle", "a, b and c";
        a collage, or a list with places or a table in it, only as a list (unrelated things are
        not "next to" each other, and a truck is not "with a valley")."""
        rng = self.rng
        if len(parts) == 1:
            return parts[0]
        # "A truck with a valley", "a cup with a table": places, a table that holds nothing, and
        # unrelated things, in a plain list.
        if self.plan.collage or self.plan.listed or (self.surface is None and any(_is_surface(t) for t in self.roles.things)):
            return join_phrases(parts[1:] + parts[:1]) if self.actor_clause and rng.random() < 0.5 else join_phrases(parts)
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
        roles, plan = self.roles, self.plan
        parts = self.subjects()
        place = next((e for e in plan.tails if e.kind == "scene"), None)
        occasion = next((e for e in plan.tails if e.kind == "event"), None)
        times = [e for e in plan.tails if e.kind == "weather"]
        # Occasion, place, then times: "at a wedding on a beach at sunset".
        tails = [e.pp for e in (occasion, place, *times) if e is not None and e.pp]
        if self.surface:
            tails.insert(0, self.surface)
        styled = bool(roles.styles)  # the body must then be a noun phrase: "a macro photo of ..."
        if parts:
            body, fronted = self.with_tails(self.join(parts), tails, front_ok=not styled, styled=styled)
        elif place is not None:
            body, fronted = self.scene_only(place, [e.pp for e in (occasion, *times) if e is not None and e.pp], styled), False
        elif occasion is not None:
            body, fronted = self.time_only(occasion, [e.pp for e in times if e.pp], styled), False
        elif times:
            body, fronted = self.time_only(times[0], [e.pp for e in times[1:] if e.pp], styled), False
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
        framed = any(framing in body for framing in _FRAMINGS)  # not "a close-up of a cup up close"
        choices = [(text, weight) for text, weight in _OPENERS if (single and not framed) or text != "A close-up of "]
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

    def contexts(self) -> tuple[str, ...]:
        """The phrases that may close a sentence without a place: none for a photo style (it
        frames the photo itself); framing and light always; times of day when nothing places
        the subjects (not "a car in the rain in the afternoon"); daylight only outdoors."""
        entries = self.roles.persons + self.roles.things + self.roles.activities
        choices: tuple[str, ...] = ("", "", "", *_FRAMINGS, *_LIGHTS)
        if not self.placed:
            choices += _TIMES
            if entries and all(self.fit.outdoors(e) for e in entries) and not self.plan.collage:
                choices += _OUTDOORS
        return choices

    def with_tails(self, body: str, tails: list[str], front_ok: bool, styled: bool = False) -> tuple[str, bool]:
        """Place, time and occasion after the subjects, or one of them in front; whether one
        was put in front (then the sentence takes no opener)."""
        rng = self.rng
        if not tails:  # a context only for one or two subjects ("up close" after five things reads oddly), none beside a named place or time
            context = rng.choice(self.contexts()) if not (styled or self.plan.listed) and body.count(",") + body.count(" and ") < 2 else ""
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

    def time_only(self, entry: LabelKnowledge, tails: list[str], noun_phrase: bool) -> str:
        rng = self.rng
        shape = rng.randrange(3)
        tail = "".join(f" {t}" for t in tails)
        if shape == 0 and entry.pp and not noun_phrase:
            return f"a photo taken {entry.pp}{tail}"
        if shape == 1 and entry.pp and not noun_phrase:
            return f"a view {entry.pp}{tail}"
        if noun_phrase and entry.pp:
            return f"{rng.choice(_FILLERS)} {entry.pp}{tail}"
        return self.np(entry, plural_ok=False) + tail

    def styled(self, style: LabelKnowledge, body: str) -> str:
        rng = self.rng
        opener = self.np(style, plural_ok=False, detail_ok=False)
        if not body:  # "a sepia photo of a quiet moment", not "a quiet moment, a sepia photo"
            return _finish(f"{opener} of {rng.choice(_FILLERS)}")
        if rng.random() < 0.75:
            return _finish(f"{opener} of {_lower_first(body)}")
        return _finish(f"{body}, {_lower_first(opener)}")
