"""The template writer (lzt.text.compose) and the co-occurrence sampler (lzt.text.sampling):
captions that mention exactly their labels with correct grammar for every kind, label sets that
go together, and both reproducible from a seed."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest

from lzt.config import LLMConfig
from lzt.text.backends import create_backend
from lzt.text.backends.template import TemplateBackend
from lzt.text.compose import SentenceComposer
from lzt.text.generate import obtain_corpus
from lzt.text.grammar import GrammarChecker
from lzt.text.sampling import KIND_LIMITS, RANDOM_SHARE, CooccurrenceSampler
from lzt.vocab import load_vocabulary, plural
from lzt.vocab.knowledge import COMPANION, NEVER, RELATED, UNRELATED, load_knowledge

KNOWLEDGE = {name: load_knowledge(name) for name in ("coco", "voc", "nuswide")}


@pytest.mark.parametrize("name", sorted(KNOWLEDGE))
def test_every_caption_mentions_its_labels_with_correct_grammar(name):
    knowledge = KNOWLEDGE[name]
    composer = SentenceComposer(knowledge, seed=1)
    grammar = GrammarChecker(knowledge)
    sets = CooccurrenceSampler(knowledge, seed=1).sets(600, 1)
    names = knowledge.vocabulary.names
    kinds = Counter()
    for indices in sets:
        labels = [names[i] for i in indices]
        sentence = composer.sentence(labels)
        found = set(composer.matcher.labels(sentence))
        assert set(labels) <= found, (labels, sentence)
        extra = found - set(labels)  # only labels the knowledge's own phrases name ("a bowl of rice")
        assert all(any(e in composer.matcher.labels(p) for lab in labels for p in (knowledge[lab].np, knowledge[lab].pp or "", knowledge[lab].vp or "")) for e in extra), sentence
        assert grammar.violations(sentence) == [], sentence
        assert sentence[0].isupper() and sentence.endswith(".") and len(sentence.split()) >= 3
        kinds.update(knowledge[label].kind for label in labels)
    assert len(kinds) >= 3


def test_grammar_of_each_kind():
    """Mass nouns without an article, plurals from lzt's pluralizer, a/an by sound, places and
    times as prepositional phrases, a style opening the caption, an activity as a verb."""
    coco, nuswide = SentenceComposer(KNOWLEDGE["coco"]), SentenceComposer(KNOWLEDGE["nuswide"])
    broccoli = [coco.compose(["broccoli"], v) for v in range(40)]
    assert not any(" a broccoli" in s.lower() for s in broccoli)
    umbrellas = [coco.compose(["umbrella"], v) for v in range(80)]
    assert any("an umbrella" in s or "an open umbrella" in s for s in umbrellas)
    assert any(plural("umbrella") in s for s in umbrellas)  # "two umbrellas", "several striped umbrellas"
    assert not any(" a umbrella" in s for s in umbrellas)
    knives = [coco.compose(["knife", "fork"], v) for v in range(80)]
    assert any("knives" in s for s in knives) and not any("knifes" in s for s in knives)
    beach = [nuswide.compose(["dog", "beach", "sunset"], v) for v in range(40)]
    assert all("beach" in s and "sunset" in s for s in beach)
    assert any("on a beach" in s.lower() for s in beach) and any("at sunset" in s.lower() for s in beach)
    reflection = [nuswide.compose(["reflection", "lake", "mountain"], v) for v in range(40)]
    assert any(s.startswith("A reflection of ") for s in reflection)
    riders = [coco.compose(["person", "bicycle"], v) for v in range(40)]
    assert any("riding a bicycle" in s or "riding a bike" in s for s in riders)
    surfers = [nuswide.compose(["surf", "ocean"], v) for v in range(40)]
    assert any("surfer" in s or "surfing a wave" in s for s in surfers)


def test_captions_are_reproducible_and_varied():
    knowledge = KNOWLEDGE["coco"]
    one, two, other = SentenceComposer(knowledge, 0), SentenceComposer(knowledge, 0), SentenceComposer(knowledge, 1)
    sets = [["dog", "frisbee", "person"], ["cup"], ["pizza", "knife", "fork", "dining table"]] * 4
    first = [one.sentence(s) for s in sets]
    assert first == [two.sentence(s) for s in sets]  # same seed, same order: same sentences
    assert first != [other.sentence(s) for s in sets]
    assert len(set(first)) == len(first)  # a set asked again gets another arrangement


def test_template_backend_composes_from_the_vocabulary_knowledge():
    backend = create_backend(LLMConfig("template"), seed=0)
    assert isinstance(backend, TemplateBackend) and backend.prompt_id == "template-v2"
    # Without knowledge, the labels are phrased from their names (guessed kinds).
    (sentence,) = backend.write([["rice", "beach"]])
    assert "rice" in sentence.lower() and "beach" in sentence and "a rice" not in sentence.lower()
    entries, info = obtain_corpus(load_vocabulary("voc"), sentences=200, min_per_label=2)
    assert info["source"] == "template" and len(entries) >= 200
    assert all(entry.labels for entry in entries)


def test_a_users_vocabulary_gets_grammatical_captions(tmp_path):
    vocabulary = tmp_path / "mine.txt"
    vocabulary.write_text("dog: puppy\nbeach: seaside [scene]\nsnorkel gear\nrain\nskiing\nmacro\nrice\n", encoding="utf-8")
    entries, _ = obtain_corpus(load_vocabulary(str(vocabulary)), sentences=150, min_per_label=3)
    grammar = GrammarChecker(load_knowledge(str(vocabulary)))
    assert all(grammar.violations(entry.sentence) == [] for entry in entries)
    assert any("on a beach" in e.sentence or "on a seaside" in e.sentence for e in entries)
    assert any("in the rain" in e.sentence for e in entries)
    assert any(e.sentence.startswith("A macro photo") for e in entries)


# --- label sets ---------------------------------------------------------------------------------


def relation_shares(knowledge, sets) -> Counter:
    shares = Counter()
    for indices in sets:
        for a, b in combinations(indices, 2):
            shares[knowledge.relation(a, b)] += 1
    return shares


def test_label_sets_prefer_companions_and_never_pair_the_impossible():
    knowledge = KNOWLEDGE["coco"]
    sets = CooccurrenceSampler(knowledge, seed=0).sets(4000, 2)
    shares = relation_shares(knowledge, sets)
    total = sum(shares.values())
    assert shares[NEVER] == 0
    plausible = (shares[COMPANION] + shares[RELATED]) / total
    assert plausible > 0.8, shares
    # CoMC's uniform sampling would make most pairs unrelated; a share of uniform sets remains.
    uniform = relation_shares(knowledge, [__import__("random").Random(0).sample(range(80), 3) for _ in range(2000)])
    assert uniform[UNRELATED] / sum(uniform.values()) > 0.5
    assert 0 < shares[UNRELATED] / total < 2 * RANDOM_SHARE
    sizes = Counter(len(s) for s in sets)
    assert set(sizes) == {1, 2, 3, 4, 5}


def test_label_sets_cover_every_label_respect_kind_limits_and_are_prefix_stable():
    knowledge = KNOWLEDGE["nuswide"]
    sampler = CooccurrenceSampler(knowledge, seed=3)
    sets = sampler.sets(500, 6)
    counts = Counter(i for s in sets for i in s)
    assert min(counts[i] for i in range(len(knowledge))) >= 6
    for indices in sets:
        kinds = Counter(knowledge.entries[i].kind for i in indices)
        assert all(kinds[kind] <= limit for kind, limit in KIND_LIMITS.items()), indices
        assert len(set(indices)) == len(indices)
    more = CooccurrenceSampler(knowledge, seed=3).sets(len(sets) + 300, 6)
    assert more[: len(sets)] == sets and len(more) == len(sets) + 300
    assert CooccurrenceSampler(knowledge, seed=4).sets(500, 6) != sets
