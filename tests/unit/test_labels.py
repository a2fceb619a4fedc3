import pytest

from lzt.errors import LztError
from lzt.vocab import load_vocabulary, parse_vocabulary, plural, surface_forms


def test_syntax_comments_synonyms_and_blank_lines():
    vocab = parse_vocabulary("# animals\n\ndog\ntv: television,  tv monitor  # screens\n  hot   dog \n")
    assert vocab.names == ["dog", "tv", "hot dog"]
    assert vocab.labels[1].synonyms == ("television", "tv monitor")
    assert vocab.labels[1].terms == ("tv", "television", "tv monitor")


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("dog\ncat\nDog\n", 3, "duplicate of line 1"),
        ("dog\ncat: kitty, Dog\n", 2, "duplicate of line 1"),
        ("dog\n: puppy\n", 2, "empty label"),
        ("dog: puppy,,hound\n", 1, "empty synonym"),
    ],
)
def test_bad_vocabularies_name_the_line(text, line, fragment):
    with pytest.raises(LztError) as error:
        parse_vocabulary(text, "v.txt")
    assert f"v.txt:{line}:" in str(error.value) and fragment in str(error.value)


def test_empty_vocabulary_is_an_error():
    with pytest.raises(LztError, match="no labels"):
        parse_vocabulary("# nothing\n\n")


def test_builtin_sets_by_name_and_path(tmp_path):
    assert len(load_vocabulary("coco")) == 80
    assert len(load_vocabulary("voc")) == 20
    (tmp_path / "v.txt").write_text("a\nb\n")
    assert load_vocabulary(tmp_path / "v.txt").names == ["a", "b"]
    with pytest.raises(LztError, match="built-in sets"):
        load_vocabulary("no-such-set")


@pytest.mark.parametrize(
    "singular, expected",
    [("dog", "dogs"), ("bus", "buses"), ("box", "boxes"), ("strawberry", "strawberries"), ("toy", "toys"),
     ("knife", "knives"), ("person", "people"), ("sheep", "sheep"), ("tomato", "tomatoes"), ("photo", "photos"),
     ("wine glass", "wine glasses"), ("cell phone", "cell phones"), ("mouse", "mice"), ("scissors", "scissors"),
     ("fireman", "firemen"), ("snowman", "snowmen"), ("human", "humans"), ("taco", "tacos"), ("hippo", "hippos"),
     ("potato", "potatoes"), ("headscarf", "headscarves"), ("bird of prey", "birds of prey"), ("wolf", "wolves")],
)
def test_plural(singular, expected):
    assert plural(singular) == expected


def test_surface_forms_cover_synonyms_and_plurals():
    vocab = parse_vocabulary("couch: sofa\n")
    assert surface_forms(vocab.labels[0]) == {"couch", "couches", "sofa", "sofas"}


def test_a_colon_without_synonyms_is_a_plain_label():
    vocab = parse_vocabulary("dog:\ncat:   # pets\n")
    assert vocab.names == ["dog", "cat"] and all(label.synonyms == () for label in vocab.labels)


def test_vocabulary_from_a_python_list():
    vocab = load_vocabulary(["dog:", "tv: television, tv monitor", "c# book"])
    assert vocab.names == ["dog", "tv", "c# book"]  # a `#` in an item is part of the name
    assert vocab.labels[0].synonyms == () and vocab.labels[1].synonyms == ("television", "tv monitor")
    with pytest.raises(LztError, match="duplicate of line 1"):
        load_vocabulary(["dog", "Dog"])


@pytest.mark.parametrize(
    ("noun", "phrase"),
    [("apple", "an apple"), ("uniform", "a uniform"), ("hour", "an hour"), ("X-ray", "an X-ray"), ("LED lamp", "an LED lamp"),
     ("lp", "an lp"), ("dj", "a dj"), ("mp3 player", "an mp3 player"), ("tv", "a tv"), ("lynx", "a lynx")],
)
def test_the_article_follows_the_sound(noun: str, phrase: str) -> None:
    """Initialisms are said letter by letter, written in capitals or not (an lp, a dj)."""
    from lzt.vocab.forms import article

    assert article(noun) == phrase
