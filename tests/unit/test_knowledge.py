"""Per-label knowledge (label_sets/*.knowledge.jsonl, lzt.vocab.knowledge): the shipped files
follow the schema, the loader refuses broken files with one clear line, a vocabulary file may
give a label's kind, and kinds are guessed where no knowledge exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lzt.errors import LztError
from lzt.vocab import builtin_label_sets, load_vocabulary, parse_vocabulary
from lzt.vocab.kinds import guess_kind, guessed_phrases
from lzt.vocab.knowledge import (
    COMPANION,
    COMPATIBLE,
    NEVER,
    RELATED,
    UNRELATED,
    knowledge_file_for,
    knowledge_problems,
    load_knowledge,
)
from lzt.vocab.mentions import MentionMatcher
from lzt.vocab.vocabulary import KINDS, Label

SHIPPED = [name for name in sorted(builtin_label_sets()) if knowledge_file_for(load_vocabulary(name)) is not None]


def test_every_dataset_vocabulary_ships_its_knowledge_with_provenance():
    assert {"coco", "voc", "nuswide"} <= set(SHIPPED)
    for name in SHIPPED:
        folder = builtin_label_sets()[name].parent
        provenance = (folder / f"{name}.knowledge.md").read_text(encoding="utf-8")
        assert "AI coding agent" in provenance and "label by label" in provenance


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_knowledge_follows_the_schema(name):
    """Every label once, in the vocabulary's order; kinds valid; phrases mention their label;
    references are label names of the same vocabulary; no self reference; settings are scenes."""
    vocabulary = load_vocabulary(name)
    path = knowledge_file_for(vocabulary)
    assert knowledge_problems(name, path) == []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["label"] for row in rows] == vocabulary.names
    matcher = MentionMatcher(vocabulary)
    kinds = {row["label"]: row["kind"] for row in rows}
    for i, row in enumerate(rows):
        assert row["kind"] in KINDS
        for key in ("np", "pp", "vp"):
            if key in row:
                assert i in matcher.label_indices(row[key]), (row["label"], key, row[key])
        if row["kind"] in ("scene", "event", "weather"):
            assert row.get("pp"), row["label"]
        if row["kind"] == "activity":
            assert row.get("vp"), row["label"]
        for key in ("settings", "companions", "never"):
            for other in row.get(key, []):
                assert other in kinds and other != row["label"], (row["label"], key, other)
        assert all(kinds[s] == "scene" for s in row["settings"]), row["label"]
        assert len(row["settings"]) <= 5 and len(row["companions"]) <= 8 and len(row.get("details", [])) <= 6


def test_shipped_knowledge_knows_what_goes_together():
    coco = load_knowledge("coco")
    index = coco.index
    assert coco.relation(index("fork"), index("knife")) == COMPANION
    assert coco.relation(index("knife"), index("fork")) == COMPANION  # listing is symmetric
    assert coco.relation(index("giraffe"), index("toilet")) == NEVER
    assert coco.relation(index("toaster"), index("refrigerator")) == COMPANION
    assert coco.relation(index("giraffe"), index("baseball bat")) == UNRELATED
    assert coco["broccoli"].np == "broccoli" and coco["apple"].np == "an apple"
    nuswide = load_knowledge("nuswide")
    assert nuswide["beach"].pp == "on a beach" and nuswide["sunset"].kind == "weather"
    assert nuswide.relation(nuswide.index("sunset"), nuswide.index("toy")) == COMPATIBLE  # weather goes with anything
    assert nuswide.relation(nuswide.index("whales"), nuswide.index("street")) == NEVER


def test_relations_through_a_shared_companion(tmp_path: Path):
    vocabulary = tmp_path / "v.txt"
    vocabulary.write_text("cat\nmouse\ncheese\nrocket\n", encoding="utf-8")
    knowledge = tmp_path / "v.knowledge.jsonl"
    rows = [
        {"label": "cat", "kind": "animal", "np": "a cat", "settings": [], "companions": ["mouse"]},
        {"label": "mouse", "kind": "animal", "np": "a mouse", "settings": [], "companions": ["cheese"]},
        {"label": "cheese", "kind": "food", "np": "cheese", "settings": [], "companions": []},
        {"label": "rocket", "kind": "vehicle", "np": "a rocket", "settings": [], "companions": [], "never": ["cheese"]},
    ]
    knowledge.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    known = load_knowledge(str(vocabulary))  # the file beside the vocabulary is found
    assert known.source == str(knowledge) and known.written == 4
    assert known.relation(0, 1) == COMPANION and known.relation(0, 2) == RELATED  # cat and cheese share the mouse
    assert known.relation(2, 3) == NEVER and known.relation(0, 3) == UNRELATED


# --- broken knowledge files: one line naming file and line --------------------------------------


def write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "k.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


VOC_ROWS = [json.loads(line) for line in (builtin_label_sets()["voc"].with_name("voc.knowledge.jsonl")).read_text().splitlines()]


@pytest.mark.parametrize("change,message", [
    (lambda rows: rows[0].update(kind="machine"), r"k.jsonl:1: 'aeroplane': unknown kind 'machine'"),
    (lambda rows: rows[2].update(np="a feathered friend"), r"k.jsonl:3: 'bird': \"np\" 'a feathered friend' does not mention the label"),
    (lambda rows: rows[7].update(companions=["dog", "kitten"]), r"k.jsonl:8: 'cat': \"companions\" names 'kitten'.*a synonym of 'cat'"),
    (lambda rows: rows[11].update(companions=["person", "wolf"]), r"k.jsonl:12: 'dog': \"companions\" names 'wolf', which is not a label"),
    (lambda rows: rows[11].update(never=["dog"]), r"k.jsonl:12: 'dog': \"never\" names the label itself"),
    (lambda rows: rows[11].update(settings=["person"]), r"k.jsonl:12: 'dog': setting 'person' is a person, not a scene"),
    (lambda rows: rows[11].update(colour="brown"), r"k.jsonl:12: unknown field\(s\) colour"),
    (lambda rows: rows[11].pop("companions"), r"k.jsonl:12: missing field\(s\) companions"),
    (lambda rows: rows[11].update(never=["person"]), r"'dog': person both a companion/setting and \"never\""),
    (lambda rows: rows.__setitem__(3, "{not json"), r"k.jsonl:4: "),
    (lambda rows: rows.pop(5), r"1 label\(s\) not described: bus"),
    (lambda rows: rows.insert(0, rows.pop(4)), r"k.jsonl:2: 'aeroplane' is out of the vocabulary's order"),
    (lambda rows: rows.append(dict(rows[0])), r"k.jsonl:21: 'aeroplane' is already described on line 1"),
    (lambda rows: rows[14].update(kind="activity"), r"'person': an activity needs \"vp\""),
])
def test_broken_knowledge_is_one_clear_error(tmp_path: Path, change, message):
    rows = [dict(r) for r in VOC_ROWS]
    change(rows)
    with pytest.raises(LztError, match=message):
        load_knowledge("voc", write(tmp_path, rows))


def test_partial_knowledge_guesses_the_rest(tmp_path: Path):
    path = write(tmp_path, VOC_ROWS[:10])
    with pytest.raises(LztError, match=r"10 label\(s\) not described"):
        load_knowledge("voc", path)
    known = load_knowledge("voc", path, partial=True)
    assert known.written == 10 and not known["tv monitor"].written and known["tv monitor"].kind == "object"
    assert known.relation(known.index("tv monitor"), known.index("bus")) == COMPATIBLE  # guessed: nothing says otherwise
    assert known.relation(known.index("tv monitor"), known.index("cow")) == NEVER  # the cow's entry says so


# --- kinds in vocabulary files, and guessed ones ------------------------------------------------


def test_vocabulary_lines_may_name_a_kind():
    vocabulary = parse_vocabulary("beach: seaside [scene]\nyoga [activity]\ndog: puppy\ntv: television, tv monitor  # a comment\n")
    assert vocabulary.labels[0] == Label("beach", ("seaside",), "scene")
    assert vocabulary.labels[1] == Label("yoga", (), "activity")
    assert vocabulary.labels[2].kind is None and vocabulary.labels[3].synonyms == ("television", "tv monitor")
    assert load_vocabulary(["beach: seaside [scene]", "dog"]).labels[0].kind == "scene"
    with pytest.raises(LztError, match=r"v.txt:2: unknown kind \[place\]"):
        parse_vocabulary("dog\nbeach [place]\n", "v.txt")


def test_a_kind_given_in_the_vocabulary_wins_over_the_guess():
    known = load_knowledge(["tennis [event]", "tennis court", "pond [scene]", "dog"])
    assert known["tennis"].kind == "event" and known["tennis"].pp == "at a tennis"
    assert known["tennis court"].kind == "scene" and known["pond"].pp == "in a pond"


@pytest.mark.parametrize("name,kind,np,pp,vp", [
    ("dog", "animal", "a dog", None, None),
    ("umbrella", "object", "an umbrella", None, None),
    ("uniform", "object", "a uniform", None, None),
    ("rice", "food", "rice", None, None),
    ("sunglasses", "object", "a pair of sunglasses", None, None),
    ("beach", "scene", "a beach", "on a beach", None),
    ("living room", "scene", "a living room", "in a living room", None),
    ("airport", "scene", "an airport", "at an airport", None),
    ("underwater", "scene", "an underwater scene", "underwater", None),
    ("wedding", "event", "a wedding", "at a wedding", None),
    ("sunset", "weather", "a sunset", "at sunset", None),
    ("rain", "weather", "rain", "in the rain", None),
    ("night", "weather", "the night", "at night", None),
    ("skiing", "activity", "people skiing", None, "skiing"),
    ("tennis", "activity", "people playing tennis", None, "playing tennis"),
    ("black and white", "style", "a black and white photo", None, None),
    ("aerial view", "style", "an aerial view", None, None),
    ("selfie", "style", "a selfie", None, None),
    ("marble", "material", "marble", None, None),
    ("building", "scene", "a building", "in a building", None),
    ("painting", "activity", "people painting", None, "painting"),
])
def test_guessed_kinds_and_phrasing(name, kind, np, pp, vp):
    assert guess_kind(name) == kind
    assert guessed_phrases(Label(name), kind) == (np, pp, vp)


def test_a_vocabulary_without_knowledge_is_guessed_and_its_phrases_mention_it():
    vocabulary = load_vocabulary(["dog", "beach", "skiing", "black and white", "rice", "birthday party", "hot dog"])
    known = load_knowledge(vocabulary)
    assert known.source == "guessed" and known.written == 0
    matcher = MentionMatcher(vocabulary)
    for i, entry in enumerate(known.entries):
        for phrase in (entry.np, entry.pp, entry.vp):
            if phrase:
                assert i in matcher.label_indices(phrase), phrase
