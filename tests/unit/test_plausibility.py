"""The plausibility filter (lzt.text.plausibility) and grammar rules (lzt.text.grammar): the
sentences issue 14 quotes are turned away, good captions pass, and generate_corpus applies the
filter to LLM sentences (recorded as rejected lines), never to the template writer's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pytest

from fakes import ScriptedKind, ScriptedWriter
from lzt.config import LLMConfig
from lzt.text import generate_corpus, read_corpus, register_backend
from lzt.text.backends import base
from lzt.text.grammar import GrammarChecker
from lzt.text.plausibility import PlausibilityFilter
from lzt.vocab import article, load_vocabulary
from lzt.vocab.knowledge import UNRELATED, load_knowledge

ODD = load_knowledge(["stork", "fish", "greeting card", "tattoo", "astronaut", "cricket", "shopping cart", "diving", "sepia", "golf cart", "scene"])
COCO = load_knowledge("coco")


def codes(judge: PlausibilityFilter, sentence: str) -> set[str]:
    return {reason.split(":", 1)[0] for reason in judge.reasons(sentence)}


@pytest.mark.parametrize("sentence,expected", [
    ("A Stork is a fish, and a greeting card is a tattoo.", {"equation", "definition"}),
    ("An astronaut is a cricket in the middle of a shopping cart.", {"equation", "definition"}),
    ("A scene with a diving.", {"grammar"}),
    ("A photo of a sepia and a golf cart.", {"grammar"}),
    ("Here is a sentence that mentions a stork.", {"meta"}),
    ("A stork.", {"length"}),
    ("A stork, a stork and another stork by the water.", {"repetition"}),
    ("The shopping cart is a symbol of modern life and consumption.", {"definition", "abstract"}),
    ("A stork, a fish, a greeting card, a tattoo, an astronaut and a cricket.", {"crowded"}),
])
def test_sentences_from_the_issue_are_turned_away(sentence, expected):
    assert expected <= codes(PlausibilityFilter(ODD), sentence)


@pytest.mark.parametrize("sentence,expected", [
    ("A giraffe standing next to a toilet in a small bathroom.", "never: giraffe ~ toilet"),
    ("A baseball bat lying next to a giraffe.", "unrelated: giraffe ~ baseball bat"),
])
def test_pairs_the_knowledge_rules_out(sentence, expected):
    assert expected in PlausibilityFilter(COCO).reasons(sentence)


@pytest.mark.parametrize("sentence", [
    "A man throwing a frisbee to a dog in a park.",
    "A pizza and two glasses of wine on a wooden dining table.",
    "A woman holding an umbrella waits at a traffic light next to a bus.",
    "A cat sleeping on a couch next to a remote control.",
])
def test_plausible_captions_pass(sentence):
    assert PlausibilityFilter(COCO).reasons(sentence) == []


@pytest.mark.parametrize("sentence,rule", [
    ("A apple and a banana.", "a-an"),
    ("An dog on a bench.", "a-an"),
    ("A cat on the the couch.", "repeated-word"),
    ("A broccoli on a plate.", "article-mass"),
    ("Two dog on a bench.", "number"),
    ("A dogs and a cat.", "number"),
    ("a dog on a bench.", "lowercase-start"),
    ("A dog on a bench", "unfinished"),
])
def test_grammar_rules(sentence, rule):
    assert rule in {v.rule for v in GrammarChecker(COCO).violations(sentence)}


@pytest.mark.parametrize("sentence", [
    "An umbrella next to a uniform.", "A hot dog with broccoli.", "Two dogs and an hour.", "A snowboard on a pair of skis.",
    "A bowl of broccoli.", "A few knives and a fork.",
])
def test_grammar_rules_leave_correct_sentences_alone(sentence):
    assert GrammarChecker(COCO).violations(sentence) == []


class JumbledWriter(ScriptedWriter):
    """Writes "A X is a Y." for every third label set of two or more labels (an equation), a
    plain caption otherwise."""

    def sentence(self, labels: Sequence[str]) -> str:
        self.count = getattr(self, "count", 0) + 1
        if len(labels) >= 2 and self.count % 3 == 0:
            return f"{article(labels[0]).capitalize()} is {article(labels[1])}."
        return "A photo of " + " and ".join(article(label) for label in labels) + "."


def test_generate_corpus_judges_llm_sentences_and_records_the_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(base.BACKENDS, "_entries", dict(base.BACKENDS._entries))  # the registration ends with this test
    register_backend(ScriptedKind(JumbledWriter(sets_per_request=5)))
    out = tmp_path / "c.jsonl"
    stats = generate_corpus("coco", out, llm=LLMConfig("scripted"), sentences=120, min_per_label=0, seed=2)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    header, lines = rows[0], [r for r in rows[1:] if "set" in r]
    assert header["filter"] == "plausibility-v1" and header["sampling"] == "cooccurrence-v2"
    assert header["knowledge"] == COCO.digest()
    rejected = [r for r in lines if r.get("rejected")]
    assert stats.rejected == len(rejected) > 0 and stats.verified == len(lines) - len(rejected) - stats.dropped
    assert any(reason.startswith("equation") for r in rejected for reason in r["rejected"])
    assert all(r["labels"] == [] for r in rejected)
    judge = PlausibilityFilter(COCO)
    entries = read_corpus(out, load_vocabulary("coco"))
    assert len(entries) == stats.verified
    assert all(judge.reasons(entry.sentence) == [] for entry in entries)
    index = COCO.vocabulary.index()
    assert not any(COCO.relation(index[a], index[b]) == UNRELATED for e in entries for a in e.labels for b in e.labels if a != b)


def test_the_template_writer_is_not_judged(tmp_path: Path):
    out = tmp_path / "t.jsonl"
    stats = generate_corpus("coco", out, sentences=400, min_per_label=0, seed=0)
    header = json.loads(out.read_text().splitlines()[0])
    assert header["filter"] is None and stats.rejected == 0 and stats.verified == 400
    # Its uniform share keeps pairs the knowledge does not relate, which an LLM sentence could not bring.
    index = COCO.vocabulary.index()
    entries = read_corpus(out, COCO.vocabulary)
    assert any(COCO.relation(index[a], index[b]) == UNRELATED for e in entries for a in e.labels for b in e.labels if a != b)
