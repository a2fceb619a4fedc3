"""Grammar rules a corpus sentence is checked against (`lzt corpus check`, the plausibility filter).

Each rule looks at the words around label mentions, using the knowledge of how a label is
phrased, so that it catches what template and small-model sentences get wrong without parsing:

a-an             `a` before a vowel sound or `an` before a consonant sound ("a apple", "an dog")
repeated-word    the same word twice in a row ("the the", "a a")
article-mass     `a`/`an` right before a label that takes none and ends the phrase there: a mass
                 noun ("a rice."), an activity's -ing form ("a diving."), a photo style that
                 needs a noun ("a sepia and a golf cart")
number           `a`/`an` before a plural ("a dogs and"), or a number before a singular
                 ("two dog.") of a countable label
lowercase-start  the sentence starts with a lower-case letter
unfinished       the sentence does not end with `.`, `!`, `?` (or a closing quote after one)

"Ends the phrase there": the next word is the end of the sentence, punctuation, a conjunction or
a preposition. "a snow leopard" or "a rain jacket" is left alone (another noun follows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lzt.vocab.forms import indefinite, plural
from lzt.vocab.knowledge import Knowledge, LabelKnowledge
from lzt.vocab.mentions import Mention, MentionMatcher, form_key

RULES = ("a-an", "repeated-word", "article-mass", "number", "lowercase-start", "unfinished")
_ARTICLE_WORD = re.compile(r"(?<![\w'-])(a|an)\s+([\w][\w'-]*)", re.IGNORECASE)
_REPEATED = re.compile(r"(?<![\w'-])([a-z]+)\s+\1(?![\w'-])", re.IGNORECASE)
_REPEAT_OK = {"had", "that", "very", "so", "no", "bye", "ha", "ho", "yeah", "knock", "really", "far"}
_ENDS_PHRASE = {
    "and", "or", "but", "with", "in", "on", "at", "of", "near", "next", "beside", "by", "under", "from", "for",
    "is", "are", "was", "were", "that", "which", "while", "during", "behind", "above", "below", "over", "to", "as",
    "into", "onto", "inside", "outside", "around", "through", "against", "along", "across", "among", "between",
}
_NUMBER_WORDS = {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "several", "many", "numerous", "few", "multiple", "both"}
_WORD_AFTER = re.compile(r"\s*([A-Za-z][\w'-]*|[^\sA-Za-z]|$)")


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, and the words that broke it."""

    rule: str
    text: str


def _ends_phrase(sentence: str, end: int) -> bool:
    """The word after position `end` ends a noun phrase: nothing, punctuation, a conjunction
    or a preposition."""
    match = _WORD_AFTER.match(sentence, end)
    if match is None:
        return True
    token = match.group(1)
    return token == "" or not token[:1].isalpha() or token.lower() in _ENDS_PHRASE


_DETERMINED = re.compile(r"^(a|an|the|some|one|two|three|several|many|people|\d+)\s", re.IGNORECASE)


def _mass_forms(entry: LabelKnowledge, matcher: MentionMatcher, label: int) -> set[str]:
    """Forms of the label its knowledge phrases without an article: a bare noun phrase ("rice",
    "snow", "people"), or a singular after a container ("a bowl of rice", "a cup of coffee")."""
    forms = set()
    np = entry.np.strip()
    for mention in matcher.mentions(np):
        if mention.label != label:
            continue
        form = form_key(mention.text)
        container = re.match(r"^(a|an)\s+[\w-]+\s+of\s+", np, re.IGNORECASE)  # "a bowl of rice": rice, not a synonym "ball of yarn"
        in_container = container is not None and mention.start >= container.end() and mention.end == len(np) and not form.endswith("s")
        if not _DETERMINED.match(np) or in_container:
            forms.add(form)
    return forms


def _style_modifiers(entry: LabelKnowledge, matcher: MentionMatcher, label: int) -> set[str]:
    """Forms of a style label its knowledge puts before a noun ("a black and white photo")."""
    if entry.kind != "style":
        return set()
    return {
        form_key(m.text) for m in matcher.mentions(entry.np)
        if m.label == label and entry.np[m.end:].strip(" .")
    }


class GrammarChecker:
    """Checks sentences against RULES with the knowledge of a vocabulary."""

    def __init__(self, knowledge: Knowledge, matcher: MentionMatcher | None = None):
        self.knowledge = knowledge
        self.matcher = matcher or MentionMatcher(knowledge.vocabulary)
        entries = knowledge.entries
        self.mass = [_mass_forms(e, self.matcher, i) for i, e in enumerate(entries)]
        self.modifiers = [_style_modifiers(e, self.matcher, i) for i, e in enumerate(entries)]
        # Singular forms whose plural differs ("dog"/"dogs"), and those plurals, per label.
        self.singulars: list[set[str]] = []
        self.plurals: list[set[str]] = []
        for label in knowledge.vocabulary.labels:
            singular = {t.lower() for t in label.terms if plural(t).lower() != t.lower()}
            self.singulars.append(singular)
            self.plurals.append({plural(t).lower() for t in singular} - singular)

    def violations(self, sentence: str, mentions: list[Mention] | None = None) -> list[Violation]:
        """Every rule the sentence breaks (empty: none). `mentions`: the sentence's mentions when
        the caller already found them with this checker's matcher (they are not looked up again)."""
        found: list[Violation] = []
        text = sentence.strip()
        if mentions is None or text != sentence:  # positions are in the stripped text
            mentions = self.matcher.mentions(text)
        if not text:
            return [Violation("unfinished", "")]
        for match in _ARTICLE_WORD.finditer(text):
            word = match.group(2)
            if word[:1].isdigit() or word.lower() in ("a", "an"):
                continue
            if indefinite(word).lower() != match.group(1).lower():
                found.append(Violation("a-an", match.group(0)))
        for match in _REPEATED.finditer(text):
            if match.group(1).lower() not in _REPEAT_OK:
                found.append(Violation("repeated-word", match.group(0)))
        found += self._mentions(text, mentions)
        if text[:1].isalpha() and text[:1].islower():
            found.append(Violation("lowercase-start", text.split(" ", 1)[0]))
        if not re.search(r"[.!?][\"'”’)\]]*$", text):
            found.append(Violation("unfinished", text[-20:]))
        return found

    def _mentions(self, text: str, mentions: list[Mention]) -> list[Violation]:
        found = []
        for mention in mentions:
            previous = re.search(r"([\w'-]+)\s+$", text[: mention.start])
            if previous is None or not _ends_phrase(text, mention.end):
                continue
            word = previous.group(1).lower()
            form = form_key(mention.text)
            i = mention.label
            quoted = f"{previous.group(1)} {mention.text}"
            if word in ("a", "an"):
                entry = self.knowledge.entries[i]
                if (entry.kind == "activity" and form.endswith("ing")) or form in self.mass[i] or form in self.modifiers[i]:
                    found.append(Violation("article-mass", quoted))
                elif form in self.plurals[i] and form not in self.singulars[i]:
                    found.append(Violation("number", quoted))
            elif (word in _NUMBER_WORDS and form in self.singulars[i] and form not in self.mass[i] and form not in self.modifiers[i]
                  and self.knowledge.entries[i].kind in ("person", "animal", "object", "vehicle", "plant", "food")):
                found.append(Violation("number", quoted))
        return found
