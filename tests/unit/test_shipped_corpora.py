"""The corpora shipped in label_sets/ reach their floors (issue 14), are drawn from the knowledge
shipped beside them, and read as captions: `pytest -s tests/unit/test_shipped_corpora.py` prints a
random sample of 50 sentences of each (LZT_SAMPLE_SEED picks another sample)."""

from __future__ import annotations

import gzip
import json
import os
import random

import pytest

from lzt.classifier.default import shipped_corpus
from lzt.text.check import check_corpus
from lzt.vocab import builtin_label_sets, load_vocabulary
from lzt.vocab.knowledge import knowledge_file_for, load_knowledge

# label sets (verified sentences) in all, and sentences per label
FLOORS = {"coco": (40_000, 400), "voc": (0, 400), "nuswide": (0, 400), "everyday": (0, 30)}
SAMPLE = 50


def test_every_builtin_set_has_a_floor():
    assert set(FLOORS) == set(builtin_label_sets())


def knowledge_or_skip(name: str):
    vocabulary = load_vocabulary(name)
    if knowledge_file_for(vocabulary) is None:
        pytest.skip(f"label_sets/{name}.knowledge.jsonl is not there yet: join it, then `python scripts/build_shipped_corpus.py {name}`")
    return load_knowledge(vocabulary)


@pytest.fixture(scope="module", params=sorted(FLOORS))
def report(request):
    name = request.param
    knowledge = knowledge_or_skip(name)
    return name, knowledge, check_corpus(shipped_corpus(name), name, knowledge)


def test_shipped_corpus_reaches_its_floors(report):
    name, _, found = report
    min_sets, min_per_label = FLOORS[name]
    assert found.problems(min_per_label, min_sets or None) == []
    assert found.verified >= min_sets and min(found.per_label) >= min_per_label


def test_shipped_corpus_is_clean_and_up_to_date(report):
    """No duplicate, no grammar violation, no `never` pair, stored labels as verified now, and
    drawn with the knowledge shipped beside it (else: rebuild it with the script)."""
    name, knowledge, found = report
    assert (found.duplicates, found.grammar_violations, sum(found.never_pairs.values()), found.stale) == (0, 0, 0, 0)
    assert found.dropped == 0  # LLM sentences the filter dropped are kept as `rejected` lines, for the record
    with gzip.open(shipped_corpus(name), "rt", encoding="utf-8") as handle:
        header = json.loads(handle.readline())
    assert header["knowledge"] == knowledge.digest(), f"rebuild: python scripts/build_shipped_corpus.py {name}"
    assert header["sampling"] == "cooccurrence-v2" and header["filter"] == "plausibility-v1"
    # Most pairs go together; the uniform share keeps some that the knowledge does not relate.
    assert 0 < found.unrelated_sentences < 0.2 * found.verified
    assert set(found.sizes) == {1, 2, 3, 4, 5}  # CoMC's label sets: 1 to 5 labels


def test_print_a_sample_of_each_shipped_corpus(report):
    name, _, found = report
    with gzip.open(shipped_corpus(name), "rt", encoding="utf-8") as handle:
        rows = [row for row in map(json.loads, handle) if "set" in row and not row.get("rejected")]
    rng = random.Random(int(os.environ.get("LZT_SAMPLE_SEED", "0")))
    sample = rng.sample(rows, SAMPLE)
    print(f"\n--- {SAMPLE} random sentences of label_sets/{name}.corpus.jsonl.gz ({found.verified:,} in all) ---")
    for row in sample:
        print(f"[{row['model'] if row['model'] == 'template' else 'llm'}] {row['sentence']}")
    assert all(row["sentence"] and row["labels"] for row in sample)
