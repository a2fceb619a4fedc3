"""Reply parsing (lzt.text.replies.parse_reply / clean_sentence) and mention verification
(lzt.text.mentions.MentionMatcher) on the tricky cases real models produce."""

from __future__ import annotations

import pytest

from lzt.text.mentions import MentionMatcher
from lzt.text.prompts import load_prompt
from lzt.text.replies import clean_sentence, parse_reply
from lzt.vocab import parse_vocabulary

VOCAB = parse_vocabulary(
    """
cat: kitten
dog: puppy
hot dog
person: people, man, woman
tv monitor: television, tv
dining table: table
potted plant: houseplant
t-shirt: tee
bus
glass
mouse
knife
sheep
"""
)


@pytest.fixture(scope="module")
def matcher() -> MentionMatcher:
    return MentionMatcher(VOCAB)


# --- mentions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, labels",
    [
        ("A cat sleeps.", ["cat"]),
        ("Two CATS and a Dog.", ["cat", "dog"]),  # case, plural
        ("A kitten and three puppies.", ["cat", "dog"]),  # synonyms, synonym plural -ies
        ("Buses pass glasses and knives.", ["bus", "glass", "knife"]),  # -es, -ves plurals
        ("Mice in the kitchen.", ["mouse"]),  # irregular plural
        ("Men and women walk.", ["person"]),  # plural of synonyms
        ("A flock of sheep.", ["sheep"]),  # unchanged plural
        ("A category of catalogues.", []),  # "cat" inside other words
        ("The scatter plot.", []),
        ("A hot dog on a plate.", ["hot dog"]),  # "hot dog" is not a dog
        ("Hot dogs and dogs.", ["dog", "hot dog"]),
        ("A hot-dog stand.", ["hot dog"]),  # hyphen inside a multi-word label
        ("A dining table with a TV monitor.", ["dining table", "tv monitor"]),  # multi-word
        ("Two tv-monitors on the dining-table.", ["dining table", "tv monitor"]),
        ("A potted   plant.", ["potted plant"]),  # runs of spaces
        ("A red T-shirt and a t shirt.", ["t-shirt"]),  # a label written with a hyphen
        ("A cat-like statue.", []),  # hyphenated compounds are other words
        ("The dog's bowl; the cats' toys.", ["cat", "dog"]),  # possessives
        ("A dog, a cat.", ["cat", "dog"]),  # punctuation right after
        ("(dog) [cat] \"bus\"", ["bus", "cat", "dog"]),
        ("A DOG!", ["dog"]),
        ("A television and a table.", ["dining table", "tv monitor"]),
        ("dog_house and cat2", []),  # word characters glued on
        ("", []),
    ],
)
def test_mentions(matcher: MentionMatcher, sentence: str, labels: list[str]) -> None:
    assert matcher.labels(sentence) == sorted(labels, key=VOCAB.names.index)


def test_mentions_keep_vocabulary_order(matcher: MentionMatcher) -> None:
    assert matcher.labels("a bus, a sheep and a cat") == ["cat", "bus", "sheep"]
    assert matcher.label_indices("a bus, a sheep and a cat") == [0, 8, 12]


def test_labels_with_regex_characters() -> None:
    vocab = parse_vocabulary("c++ book\nu.s. flag\ncat (animal)")
    matcher = MentionMatcher(vocab)
    assert matcher.labels("A C++ book near a U.S. flag.") == ["c++ book", "u.s. flag"]
    assert matcher.labels("a cat (animal) here") == ["cat (animal)"]
    assert matcher.labels("a ucs flag") == []


# --- replies: one label set per request ----------------------------------------------------


@pytest.mark.parametrize(
    "reply, sentence",
    [
        ("A cat sits on a chair.", "A cat sits on a chair."),
        ('"A cat sits on a chair."', "A cat sits on a chair."),
        ("“A cat sits on a chair.”", "A cat sits on a chair."),
        ("**A cat sleeps on the sofa.**", "A cat sleeps on the sofa."),
        ("Sure! Here is your sentence:\n\"A cat sits on a chair.\"", "A cat sits on a chair."),
        ("Here is a sentence describing the photo: A cat and a dog play.", "A cat and a dog play."),
        ("Certainly, here's one: a dog runs.", "a dog runs."),
        ("Sentence: A dog runs in the park.", "A dog runs in the park."),
        ("Caption 1: A dog runs in the park.", "A dog runs in the park."),
        ("1. A dog runs in the park.", "A dog runs in the park."),
        ("- A dog runs in the park.", "A dog runs in the park."),
        ("A cat sits on a chair. It looks happy. The sun shines.", "A cat sits on a chair."),
        ("Wow! A cat sits on a chair.", "Wow! A cat sits on a chair."),  # short opener kept
        ('"Mr. Smith walks his dog in the park." he said.', "Mr. Smith walks his dog in the park."),
        ("A photo by Dr. Lee shows a dog. Nice.", "A photo by Dr. Lee shows a dog."),
        ("1.5 people stood near the bus.", "1.5 people stood near the bus."),  # not a list number
        ("2023: a cat won the show.", "2023: a cat won the show."),
        ("A cat sleeps on the sofa", "A cat sleeps on the sofa"),  # no final stop
        ("\n\n  A dog barks.  \n\n", "A dog barks."),
        ("Here is a cat on a sofa.", "Here is a cat on a sofa."),  # "Here is" without a colon is prose
    ],
)
def test_single_reply(reply: str, sentence: str) -> None:
    assert parse_reply(reply, 1) == [sentence]


@pytest.mark.parametrize("reply", ["", "   \n ", "Sure!", "Sure, here is the sentence:", '""'])
def test_single_reply_without_sentence(reply: str) -> None:
    assert parse_reply(reply, 1) == [None]


def test_echoed_instruction_is_skipped() -> None:
    prompt = load_prompt("sentence").render([["cat", "dog"]])
    echo = prompt.splitlines()[0]
    assert parse_reply(echo, 1, prompt) == [None]
    assert parse_reply(f"{echo}\nA cat chases a dog across the yard.", 1, prompt) == [
        "A cat chases a dog across the yard."
    ]
    # Without the prompt the echo cannot be told apart from a sentence.
    assert parse_reply(echo, 1)[0] is not None


def test_over_long_output_is_cut_at_a_word() -> None:
    sentence = parse_reply("a dog " * 200, 1)[0]
    assert sentence is not None and len(sentence) <= 300
    assert sentence.endswith("dog") or sentence.endswith("a")
    assert "  " not in sentence


# --- replies: several label sets per request -----------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "1. A cat sits.\n2. A dog barks loudly.\n3. A bus drives by.",
        "1) A cat sits.\n2) A dog barks loudly.\n3) A bus drives by.",
        "(1) A cat sits.\n(2) A dog barks loudly.\n(3) A bus drives by.",
        "[1] A cat sits.\n[2] A dog barks loudly.\n[3] A bus drives by.",
        "#1 A cat sits.\n#2 A dog barks loudly.\n#3 A bus drives by.",
        "1: A cat sits.\n2: A dog barks loudly.\n3: A bus drives by.",
        "Item 1: A cat sits.\nItem 2: A dog barks loudly.\nItem 3: A bus drives by.",
        "Sentence 1 - A cat sits.\nSentence 2 - A dog barks loudly.\nSentence 3 - A bus drives by.",
        "**1.** A cat sits.\n**2.** A dog barks loudly.\n**3.** A bus drives by.",
        "- 1. A cat sits.\n- 2. A dog barks loudly.\n- 3. A bus drives by.",
        'Sure, here are the sentences:\n\n1. "A cat sits."\n2. "A dog barks loudly."\n3. "A bus drives by."\n\nLet me know!',
        "3. A bus drives by.\n1. A cat sits.\n2. A dog barks loudly.",  # out of order
        "1. A cat sits.\n2. A dog barks loudly.\n3. A bus drives by.\n4. An extra one.\n5. Another.",
        "- A cat sits.\n- A dog barks loudly.\n- A bus drives by.",  # bullets, no numbers
        "A cat sits.\nA dog barks loudly.\nA bus drives by.",  # plain lines
    ],
)
def test_batch_reply_numbering_styles(reply: str) -> None:
    assert parse_reply(reply, 3) == ["A cat sits.", "A dog barks loudly.", "A bus drives by."]


def test_batch_reply_missing_and_duplicate_items() -> None:
    assert parse_reply("1. A cat sits.\n3. A bus drives.\nThat is all!", 3) == ["A cat sits.", None, "A bus drives."]
    assert parse_reply("1. A cat sits.\n1. Again a cat.\n2. A dog.", 2) == ["A cat sits.", "A dog."]
    assert parse_reply("A cat sits.", 3) == ["A cat sits.", None, None]
    assert parse_reply("", 2) == [None, None]


def test_batch_reply_drops_echoed_items() -> None:
    prompt = load_prompt("sentences-batch").render([["cat", "dog"], ["bus"]])
    reply = "1. cat, dog\n2. A red bus stops at the corner."
    assert parse_reply(reply, 2, prompt) == [None, "A red bus stops at the corner."]


@pytest.mark.parametrize(
    "line, cleaned",
    [
        ("  'A dog.'  ", "A dog."),
        ("`A dog runs.`", "A dog runs."),
        ("«A dog runs.»", "A dog runs."),
        ("Answer: A dog runs.", "A dog runs."),
        ("Description: __A dog__ runs.", "A dog runs."),
        ("   ", None),
        ("''", None),
    ],
)
def test_clean_sentence(line: str, cleaned: str | None) -> None:
    assert clean_sentence(line) == cleaned
