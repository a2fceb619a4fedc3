"""English surface forms of labels: plurals for recognising mentions, articles for writing."""

from __future__ import annotations

import re
from typing import Sequence

from lzt.vocab.vocabulary import Label

_IRREGULAR_PLURALS = {
    "person": "people", "man": "men", "woman": "women", "child": "children",
    "mouse": "mice", "goose": "geese", "foot": "feet", "tooth": "teeth",
    "ox": "oxen", "knife": "knives", "leaf": "leaves", "wolf": "wolves",
    "calf": "calves", "shelf": "shelves", "loaf": "loaves", "half": "halves",
    "life": "lives", "wife": "wives", "thief": "thieves", "scarf": "scarves",
    "cactus": "cacti", "fungus": "fungi", "octopus": "octopuses",
}
# Same in singular and plural, or already plural.
UNCHANGED_PLURALS = frozenset({
    "sheep", "deer", "fish", "moose", "bison", "aircraft", "people", "scissors",
    "skis", "glasses", "jeans", "pants", "shorts", "luggage", "cattle", "broccoli",
    "salmon", "shrimp", "squid", "series", "species", "trousers", "clothes",
    "sunglasses", "goggles", "binoculars", "headphones", "earphones", "pliers", "tongs", "pajamas", "pyjamas",
    "leggings", "tights", "overalls",
})
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
    if lower in UNCHANGED_PLURALS:
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


# Spelling is not sound: "a uniform", "a one-way street", "an hour", "an honest man".
_CONSONANT_SOUND = re.compile(r"^(?:uni(?!n)|unanim|use|usu|uti|ute|ure|ura|uku|ubiq|uto|eu|ewe|one\b|once|ouija)", re.IGNORECASE)
_VOWEL_SOUND = re.compile(r"^(?:hour|honest|honou?r|heir)", re.IGNORECASE)
# Letters said as letters ("an X-ray", "an LED lamp", "a UFO"): those whose name starts with a vowel sound.
_VOWEL_LETTERS = set("aefhilmnorsx")


def indefinite(word: str) -> str:
    """`a` or `an` for the word that follows it, by sound: an apple, a uniform, an hour, an X-ray."""
    word = word.strip()
    if not word:
        return "a"
    first = re.split(r"[\s\-]", word, maxsplit=1)[0]
    if len(first) > 1 and first.isupper() and first.isalpha():  # an acronym, spelled letter by letter
        return "an" if first[0].lower() in _VOWEL_LETTERS else "a"
    if 1 < len(first) <= 4 and first.isalnum() and not re.search(r"[aeiouy]", first, re.IGNORECASE):
        return "an" if first[0].lower() in _VOWEL_LETTERS else "a"  # no vowel: an initialism, "an lp", "a dj", "an mp3"
    if len(first) == 1 and first.isalpha():  # "an x-ray", "a t-shirt"
        return "an" if first.lower() in _VOWEL_LETTERS else "a"
    if _VOWEL_SOUND.match(word):
        return "an"
    if _CONSONANT_SOUND.match(word):
        return "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def article(noun: str) -> str:
    """`a`/`an` phrase for a singular noun, `some` for nouns that are already plural."""
    if noun.lower().split(" ")[-1] in UNCHANGED_PLURALS and noun.lower().endswith("s"):
        return f"some {noun}"
    return f"{indefinite(noun)} {noun}"


def join_phrases(phrases: Sequence[str]) -> str:
    """`a cat`, `a cat and a dog`, `a cat, a dog and a car`."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
