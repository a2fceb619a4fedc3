"""The plausibility filter: whether an LLM's sentence may join a corpus, beyond mentioning a label.

A language model asked for "a stork, a fish, a greeting card and a tattoo" writes "A stork is a
fish, and a greeting card is a tattoo."; it mentions the labels, so verification alone keeps it.
This filter rejects a sentence for any of these reasons (each a short code, with the words that
triggered it):

never        two labels it mentions are listed as `never` together in the knowledge
unrelated    two labels it mentions, both with written knowledge, are not plausible companions:
             neither names the other as companion or setting, and they share no setting or
             companion other than a hub (lzt.vocab.knowledge.Knowledge.relation; photo styles
             and weather go with anything)
equation     it equates two labels: "X is a Y", "X are Y", "X becomes a Y", "X looks like a Y",
             "X turned into a Y", "X as a Y", "X dressed as a Y" (at most two words between the
             verb and Y)
definition   it defines a label instead of showing it: "X is a ...", "X are the ...", "X was one of ..."
             (a caption says "a dog is sitting on a sofa", not "a dog is a loyal friend")
abstract     it talks about meaning, not a scene: "example of", "symbol of", "metaphor", "iconic",
             "represents", "mythical", "fictional", "movie", "film", "narrative", "concept",
             "in the world of", "imagine"
grammar      it breaks a rule of lzt.text.grammar (a/an, repeated word, an article before a mass
             noun, an -ing activity or a style, a number and a noun that disagree, no capital,
             no final stop)
meta         it talks about the task instead of a photo: "sentence", "the words", "keywords",
             "describe", "I am", "as an AI", "here is"
length       fewer than 4 or more than 40 words
repetition   it mentions one label three times or more
crowded      it mentions more than 5 labels (CoMC's label sets have 1 to 5; a longer list is
             an inventory, not a caption)

Template sentences are composed from the knowledge and are not filtered; the filter applies where
LLM sentences are accepted into a corpus (lzt.text.corpus), and `lzt corpus check` reports it.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations, pairwise

from lzt.text.grammar import GrammarChecker
from lzt.text.sampling import MAX_LABELS_PER_SET
from lzt.vocab.knowledge import NEVER, UNRELATED, Knowledge
from lzt.vocab.mentions import MentionMatcher

FILTER_ID = "plausibility-v1"
MIN_WORDS, MAX_WORDS = 4, 40
_EQUATION = re.compile(
    r"^\s*,?\s*(?:which\s+|who\s+|that\s+)?(?:is|are|was|were|be|becomes?|became|turns?\s+into|turned\s+into|"
    r"looks?\s+like|resembles?|as|dressed\s+(?:up\s+)?as|disguised\s+as|made\s+into|transformed\s+into|pretending\s+to\s+be)"
    r"\s+(?:(?:a|an|the|another|some|actually|just|also|not|really)\s+)*(?:[\w'-]+\s+){0,2}$",
    re.IGNORECASE,
)
_META = re.compile(
    r"(?<![\w-])(?:sentences?|the words?|keywords?|describe[sd]?|describing|as an ai|i am|i'm|i can|i will|here is|here's|"
    r"the following|use the|mention(?:s|ed)?|prompt|caption:|labels?:)(?![\w-])",
    re.IGNORECASE,
)


_DEFINITION = re.compile(
    r"^\s*,?\s*(?:is|are|was|were)\s+(?:a|an|the|one|two|three|some|just|not|also|often|usually|actually|truly|really)\b", re.IGNORECASE
)
_ABSTRACT = re.compile(
    r"(?<![\w-])(?:examples? of|symbols? of|symboli[sz]es?|metaphors?|iconic|represents?|representation|representing|mythical|"
    r"fictional|movie|film|narrative|concepts?|in the world of|imagine|imagined|famous)(?![\w-])",
    re.IGNORECASE,
)


class PlausibilityFilter:
    """Judges sentences against a vocabulary's knowledge: `reasons(sentence)` lists why one should
    not join a corpus (empty: it may). See this module's docstring for the rules."""

    id = FILTER_ID

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        self.matcher = MentionMatcher(knowledge.vocabulary)
        self.grammar = GrammarChecker(knowledge, self.matcher)
        self.names = knowledge.vocabulary.names
        # A meta word that is a label's form is the label, not talk about the task.
        self._label_words = {f.lower() for label in knowledge.vocabulary.labels for f in label.terms}

    def pair_problems(self, labels: list[int]) -> list[str]:
        """`never: a ~ b` and `unrelated: a ~ b` for the pairs among these label indices."""
        problems = []
        for a, b in combinations(sorted(set(labels)), 2):
            relation = self.knowledge.relation(a, b)
            if relation in (NEVER, UNRELATED):
                problems.append(f"{relation}: {self.names[a]} ~ {self.names[b]}")
        return problems

    def reasons(self, sentence: str) -> list[str]:
        """Why the sentence should not join a corpus; empty when it may."""
        text = (sentence or "").strip()
        mentions = self.matcher.mentions(text)
        reasons = self.pair_problems([m.label for m in mentions])
        for first, second in pairwise(mentions):
            if first.label != second.label and _EQUATION.match(text[first.end : second.start]):
                reasons.append(f"equation: {text[first.start : second.end]}")
        for mention in mentions:
            if _DEFINITION.match(text[mention.end :]):
                reasons.append(f"definition: {text[mention.start : mention.end + 12].strip()}")
                break
        abstract = next((m for m in _ABSTRACT.finditer(text) if m.group(0).lower() not in self._label_words), None)
        if abstract is not None:
            reasons.append(f"abstract: {abstract.group(0)}")
        reasons += [f"grammar: {v.rule} ({v.text})" for v in self.grammar.violations(text, mentions)]
        for match in _META.finditer(text):
            if match.group(0).lower() not in self._label_words:
                reasons.append(f"meta: {match.group(0)}")
                break
        words = len(text.split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            reasons.append(f"length: {words} words")
        repeated = [self.names[i] for i, n in Counter(m.label for m in mentions).items() if n >= 3]
        if repeated:
            reasons.append(f"repetition: {', '.join(repeated)}")
        labels = {m.label for m in mentions}
        if len(labels) > MAX_LABELS_PER_SET:
            reasons.append(f"crowded: {len(labels)} labels")
        return reasons

    def accepts(self, sentence: str) -> bool:
        """True when the sentence may join a corpus."""
        return not self.reasons(sentence)
