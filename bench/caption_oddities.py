"""Count the kinds of odd captions issue 14's review found in the shipped corpora, over every
verified sentence of a corpus file (not a sample), so that a change to the template writer can be
judged by numbers before and after:

two-places       two place phrases ("at a protest in a valley", "a bed in a hotel room ... a dog
                 running across a field"), or two place labels (scene, event) that the knowledge
                 does not list as companions ("a city skyline at a castle")
surface          a large or fixed thing, a vehicle or a big animal put "on a table" (or a desk,
                 bed, couch, counter, shelf): "a plastic chair on a table", "On a table, a sink
                 with ...", "a donut, a chair and an umbrella on a dining table"
indoor-outdoor   an indoor-only label (every setting its knowledge lists is indoors) with an
                 outdoor phrase: "a washing machine ... on farmland in a flood", "in the snow"
style-framing    a photo style (selfie, macro, ...) with a framing phrase ("at close range",
                 "from above", "seen from the side", "up close")
stacked          a scene, event or weather label with a setting or time phrase the writer adds on
                 its own: a context ("in bright daylight", "on a sunny day", "in the morning
                 light"), a thing's detail ("grazing in a field", "in the snow") beside the
                 label's own phrase
shared-setting   a sentence whose labels include a pair the knowledge does not relate (the
                 uniform share) that still puts them in one place phrase or on one surface

Only the template writer's sentences are counted (the kept LLM sentences are the same before and
after). The word lists below are this script's own, not the composer's, so the counts are a check of the
composer rather than a restatement of it. Sentences are matched as text: a count is an upper bound
of each pattern (a cat on a couch next to a chair counts as `surface`).

    python -m bench.caption_oddities label_sets/coco.corpus.jsonl.gz [more corpora] [--examples 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter
from itertools import combinations
from pathlib import Path

from lzt.text.check import _builtin_for
from lzt.vocab import load_vocabulary
from lzt.vocab.knowledge import COMPANION, UNRELATED, Knowledge, load_knowledge
from lzt.vocab.mentions import MentionMatcher

PATTERNS = ("two-places", "surface", "indoor-outdoor", "style-framing", "stacked", "shared-setting")
# "next to", "beside", "near" join two subjects more often than they place them: left out.
_LOCATIVE = r"(?:in front of|in|on|at|by|along|across|through|over|above|under|down|against|among|inside|outside|around)"
# Places a detail or a verb phrase may name, besides the scene labels of the built-in sets.
_EXTRA_PLACES = (
    "street", "field", "pasture", "meadow", "hillside", "woods", "savanna", "zoo", "skate park", "station", "intersection",
    "runway", "tracks", "court", "harbor", "river", "lake", "grass", "slope", "snowy slope", "bay", "shallows", "race track",
    "busy street", "street corner", "sidewalk", "road", "paddock", "watering hole", "home plate", "hill", "beach", "kitchen",
    "bathroom", "small bathroom", "living room", "hotel room", "park", "water", "rocks", "tall grass", "curb", "sidelines",
    "ground", "mat", "stage", "ramp",
)
_SURFACES = ("table", "dining table", "desk", "bed", "couch", "sofa", "counter", "countertop", "kitchen counter", "coffee table", "shelf")
# Things never put on a table, bed or couch (head nouns), besides people, vehicles and big animals.
_LARGE = {
    "chair", "armchair", "stool", "sofa", "couch", "bed", "table", "desk", "bench", "oven", "stove", "sink", "refrigerator",
    "fridge", "freezer", "dishwasher", "machine", "toilet", "bathtub", "piano", "wardrobe", "dresser", "cabinet", "bookshelf",
    "fireplace", "tv", "television", "door", "window", "counter", "countertop", "treadmill", "crib",
}
_BIG_ANIMALS = {"horse", "cow", "elephant", "bear", "giraffe", "zebra", "sheep", "camel", "tiger", "lion", "whale", "whales", "deer", "moose"}
_INDOOR_WORDS = {
    "room", "kitchen", "bathroom", "bedroom", "office", "classroom", "library", "hallway", "garage", "attic", "basement",
    "nursery", "elevator", "shop", "supermarket", "mall", "bakery", "bookstore", "restaurant", "cafe", "bar", "nightclub",
    "hospital", "museum", "gallery", "theater", "gym", "church", "cathedral", "synagogue", "factory", "warehouse", "indoors",
    "subway", "store", "studio",
}
_OUTDOOR_CONTEXTS = ("on a sunny day", "in bright daylight")
_CONTEXTS = (
    "up close", "on a sunny day", "in soft light", "from above", "in the afternoon", "seen from the side", "in natural light",
    "on an ordinary day", "in the morning light", "at close range", "in bright daylight",
)
_TIMES = ("at night", "in the rain", "in the snow", "on a sunny", "in the sun", "in the fog")
_FRAMING = ("up close", "at close range", "from above", "seen from the side", "a close-up of")


def _phrase(words: list[str]) -> re.Pattern:
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"\b{_LOCATIVE}\s+(?:(?:a|an|the)\s+)?(?:(?!and\b|with\b)[\w'-]+\s+){{0,2}}?(?:{alternatives})\b", re.IGNORECASE)


class Oddities:
    """The patterns of one vocabulary's sentences, from its knowledge and this script's lists."""

    def __init__(self, knowledge: Knowledge, place_words: set[str]):
        self.knowledge = knowledge
        self.matcher = MentionMatcher(knowledge.vocabulary)
        self.places = _phrase(sorted(place_words))
        self.surfaces = re.compile(rf"\bon\s+(?:a|an|the)\s+(?:[\w'-]+\s+){{0,2}}?(?:{'|'.join(_SURFACES)})\b", re.IGNORECASE)
        entries = knowledge.entries
        self.kind = [e.kind for e in entries]
        self.indoor = [bool(e.settings) and all(_indoors(knowledge[s]) for s in e.settings) for e in entries]
        self.large = [e.kind == "vehicle" or _head(e.label) in _LARGE or (e.kind == "animal" and _head(e.label) in _BIG_ANIMALS) for e in entries]
        self.outdoor_pps = [e.pp for e in entries if e.pp and ((e.kind == "scene" and not _indoors(e)) or (e.kind == "weather" and e.label not in ("night", "nighttime")))]
        self.style_nps = [e.np.lower() for e in entries if e.kind == "style"]

    def patterns(self, sentence: str, requested: list[str] | None = None) -> list[str]:
        """The patterns a sentence shows; `requested`: the labels it was written for, when its
        phrases name more ("people eating" names `person`: not a pair of the set)."""
        found = self.matcher.label_indices(sentence)
        asked = [self.knowledge.index(name) for name in requested] if requested else found
        lower = sentence.lower()
        weather = lower
        for i in found:  # "under a starry sky" is a time, not a second place
            if self.kind[i] == "weather" and self.knowledge.entries[i].pp:
                weather = weather.replace(str(self.knowledge.entries[i].pp).lower(), " | ")
        places = [m.group(0).lower() for m in self.places.finditer(weather)]
        surface = any(self._misplaced_surface(sentence, m, found) for m in self.surfaces.finditer(sentence))
        place_labels = [i for i in found if self.kind[i] in ("scene", "event")]
        out = []
        two = len(set(places)) >= 2 and not self._companions(place_labels, len(set(places)))
        if two or any(self.knowledge.relation(a, b) != COMPANION for a, b in combinations(place_labels, 2)):
            out.append("two-places")
        if surface:
            out.append("surface")
        outdoor = any(pp.lower() in lower for pp in self.outdoor_pps) or any(c in lower for c in _OUTDOOR_CONTEXTS)
        if outdoor and any(self.indoor[i] for i in found):
            out.append("indoor-outdoor")
        if any(self.kind[i] == "style" for i in found) and any(f in lower and not any(f in s for s in self.style_nps) for f in _FRAMING):
            out.append("style-framing")
        settings = [i for i in found if self.kind[i] in ("scene", "event", "weather")]
        rest = lower
        for i in settings:  # what is left once each label's own phrase is taken out
            rest = rest.replace((self.knowledge.entries[i].pp or "\0").lower(), " | ")
        if settings and (any(c in rest for c in _CONTEXTS + _TIMES) or self.places.search(rest)):
            out.append("stacked")
        if (places or self.surfaces.search(sentence)) and any(self.knowledge.relation(a, b) == UNRELATED for a, b in combinations(asked, 2)):
            out.append("shared-setting")
        return out

    def _companions(self, place_labels: list[int], phrases: int) -> bool:
        """Two place phrases that are the pp's of scene labels listed as companions are one place."""
        return phrases <= len(place_labels) and all(self.knowledge.relation(a, b) == COMPANION for a, b in combinations(place_labels, 2))

    def _misplaced_surface(self, sentence: str, match: re.Match, found: list[int]) -> bool:
        """Whether a large thing is put on the surface `match` names: the surface opens the
        sentence ("On a table, a sink ..."), or follows a large thing ("a chair on a table"), or
        closes a list that holds one ("a donut, a chair and an umbrella on a dining table").
        "Sitting on a couch" (a verb) and the surface label itself do not count."""
        before = sentence[: match.start()].rstrip()
        if before.split()[-1:] and before.split()[-1].lower().endswith("ing"):
            return False
        mentions = [m for m in self.matcher.mentions(before) if self.large[m.label]]
        on_surface = {m.label for m in self.matcher.mentions(match.group(0))}
        if not before or before.lower() in ("in this picture:",):
            return any(self.large[i] and i not in on_surface for i in found)
        last = self.matcher.mentions(before)[-1:] if self.matcher.mentions(before) else []
        if last and last[0].end >= len(before) - 1 and self.large[last[0].label]:
            return True  # "a chair on a table"
        after = sentence[match.end() :].lstrip()
        listed = "," in before or " and " in before
        return listed and not after.startswith((",", "and ", "with ")) and any(m.label not in on_surface for m in mentions)


def _head(name: str) -> str:
    return name.lower().split()[-1]


def _indoors(entry) -> bool:
    return entry.kind == "scene" and _head(entry.label) in _INDOOR_WORDS


def place_words() -> set[str]:
    """Scene labels (names and synonyms) of every built-in set, and _EXTRA_PLACES."""
    words = set(_EXTRA_PLACES)
    for name in ("nuswide", "everyday"):
        knowledge = load_knowledge(name)
        for entry, label in zip(knowledge.entries, knowledge.vocabulary.labels):
            if entry.kind == "scene":
                words.add(label.name.lower())
                words.update(s.lower() for s in label.synonyms)
    return words


def measure(path: Path, places: set[str], examples: int) -> tuple[int, Counter, dict[str, list[str]]]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as handle:
        header = json.loads(handle.readline())
        rows = [json.loads(line) for line in handle]
    vocabulary = _builtin_for(header.get("vocabulary", "")) or load_vocabulary(path.name.split(".")[0])
    odd = Oddities(load_knowledge(vocabulary), places)
    counts: Counter = Counter()
    shown: dict[str, list[str]] = {}
    total = 0
    for row in rows:
        if "set" not in row or row.get("rejected") or not row.get("labels") or row.get("model") != "template":
            continue
        total += 1
        for pattern in odd.patterns(row["sentence"], row.get("requested")):
            counts[pattern] += 1
            if len(shown.setdefault(pattern, [])) < examples:
                shown[pattern].append(row["sentence"])
    return total, counts, shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--examples", type=int, default=0, help="example sentences printed per pattern")
    args = parser.parse_args()
    places = place_words()
    print("| corpus | sentences | " + " | ".join(PATTERNS) + " |")
    print("|---|---:|" + "---:|" * len(PATTERNS))
    found = []
    for path in args.corpora:
        total, counts, shown = measure(path, places, args.examples)
        print(f"| {path.name} | {total:,} | " + " | ".join(f"{counts[p]:,} ({counts[p] / max(1, total):.1%})" for p in PATTERNS) + " |")
        found.append((path, shown))
    for path, shown in found:
        for pattern, sentences in shown.items():
            for sentence in sentences:
                print(f"{path.name.split('.')[0]} {pattern}: {sentence}")


if __name__ == "__main__":
    main()
