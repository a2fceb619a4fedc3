"""The built-in vocabularies in label_sets/ and the near-duplicate checker (`lzt labels check`)."""

from __future__ import annotations

import pytest

from lzt.errors import UsageError
from lzt.text.mentions import MentionMatcher
from lzt.vocab import builtin_label_sets, load_vocabulary
from lzt.vocab.check import (
    ERROR,
    NOTE,
    WARNING,
    check_file,
    check_text,
    looks_like_spelling_variant,
    within_one_edit,
)
from support import invoke

SIZES = {"voc": 20, "coco": 80, "nuswide": 81}
NUSWIDE_81 = (  # noqa: SIM905  (one string reads like the official list)
    "airport animal beach bear birds boats book bridge buildings cars castle cat cityscape clouds "
    "computer coral cow dancing dog earthquake elk fire fish flags flowers food fox frost garden "
    "glacier grass harbor horses house lake leaf map military moon mountain nighttime ocean person "
    "plane plants police protest railroad rainbow reflection road rocks running sand sign sky snow "
    "soccer sports statue street sun sunset surf swimmers tattoo temple tiger tower town toy train "
    "tree valley vehicle water waterfall wedding whales window zebra"
).split()
BUILTINS = sorted(builtin_label_sets())


# --- the shipped sets ---------------------------------------------------------------------------


def test_the_four_sets_are_built_in():
    assert {"voc", "coco", "nuswide", "everyday"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_set_parses(name):
    vocabulary = load_vocabulary(name)
    assert len(vocabulary) > 0
    assert len(set(vocabulary.names)) == len(vocabulary)


@pytest.mark.parametrize("name,size", sorted(SIZES.items()))
def test_builtin_set_sizes(name, size):
    assert len(load_vocabulary(name)) == size


def test_everyday_has_at_least_1000_labels():
    assert len(load_vocabulary("everyday")) >= 1000


def test_nuswide_is_the_official_concepts81_list_in_order():
    assert len(NUSWIDE_81) == 81
    assert load_vocabulary("nuswide").names == NUSWIDE_81


def test_nuswide_plural_names_also_match_their_singular():
    matcher = MentionMatcher(load_vocabulary("nuswide"))
    assert matcher.labels("a bird on a boat near a flag") == ["birds", "boats", "flags"]
    assert matcher.labels("one whale and two cars") == ["cars", "whales"]


@pytest.mark.parametrize("name", BUILTINS)
def test_checker_passes_on_builtin_set(name):
    report = check_file(builtin_label_sets()[name], style=True)
    assert report.errors == [], [f.format(report.source) for f in report.errors]
    # Warnings of the shipped sets are reviewed: fixed, or recorded with an `# allow:` line.
    assert report.warnings == [], [f.format(report.source) for f in report.warnings]
    assert report.n_labels == len(load_vocabulary(name))


@pytest.mark.parametrize("name", ["nuswide", "everyday"])
def test_every_term_of_a_builtin_set_matches_its_own_label(name):
    """No name, synonym or generated plural is claimed by another label in the matcher."""
    vocabulary = load_vocabulary(name)
    matcher = MentionMatcher(vocabulary)
    for label in vocabulary.labels:
        for term in label.terms:
            assert matcher.labels(f"there is {term} here") == [label.name], term


def test_everyday_style():
    vocabulary = load_vocabulary("everyday")
    for name in vocabulary.names:
        assert name == name.lower() and name.strip() == name
        assert 1 <= len(name.split()) <= 3, name


# --- the checker catches planted near-duplicates ------------------------------------------------


def kinds(text: str, severity: str) -> set[str]:
    return check_text(text).kinds(severity)


def test_exact_duplicates_are_all_reported():
    report = check_text("dog\ncat: kitty\ndog\nkitten: kitty\n")
    assert [f.kind for f in report.errors] == ["duplicate", "duplicate"]
    assert report.errors[0].line == 3 and report.errors[1].line == 4
    assert not report.ok


def test_case_insensitive_duplicate():
    assert "duplicate" in kinds("Dog\ndog\n", ERROR)


@pytest.mark.parametrize("text", [
    "dog\ndogs\n",                      # name = plural of another name
    "glass\nglasses\n",                 # plural('glass') == 'glasses'
    "car: automobiles\nautomobile\n",   # synonym vs name, through the plural
    "person\npeople\n",                 # irregular plural
    "leaf\nfoliage: leaves\n",
])
def test_singular_plural_collisions_are_errors(text):
    report = check_text(text)
    assert [f.kind for f in report.errors] == ["form-collision"], report.findings


@pytest.mark.parametrize("text", [
    "t-shirt\nt shirt\n",
    "t-shirt\ntshirt\n",
    "ice cream\nice-cream\n",
    "hot dog: hotdog\nsausage: hot-dog\n",
    "jack-o'-lantern\njack o lantern\n",
])
def test_spacing_and_hyphen_variants_are_errors(text):
    assert kinds(text, ERROR) == {"spacing"}


@pytest.mark.parametrize("text", [
    "color\ncolour\n",        # a vowel more
    "theater\ntheatre\n",     # swapped neighbours
    "traveler\ntraveller\n",  # a doubled letter
    "pajamas\npyjamas\n",     # one vowel for another
    "whisky\nwhiskey\n",
    "organise\norganize\n",
    "dessert\ndesert\n",      # a real pair, but exactly the kind of thing to review
])
def test_spelling_variants_warn(text):
    report = check_text(text)
    assert report.ok
    assert report.kinds(WARNING) == {"edit-distance"}


@pytest.mark.parametrize("text", ["horse\nhouse\n", "table\ncable\n", "chair\nchain\n"])
def test_other_one_edit_pairs_are_only_notes(text):
    report = check_text(text)
    assert report.warnings == [] and report.kinds(NOTE) == {"edit-distance"}


def test_short_words_are_not_compared():
    assert check_text("cat\ncar\nbat\nhat\n").findings == []


def test_edit_helpers():
    assert within_one_edit("color", "colour") and within_one_edit("abcd", "abdc")
    assert not within_one_edit("color", "colours")
    assert looks_like_spelling_variant("grey", "gray")
    assert not looks_like_spelling_variant("horse", "house")
    assert not looks_like_spelling_variant("bride", "bridge")


def test_derived_forms_of_one_stem_warn():
    assert "stem" in kinds("dancer\ndancing\n", WARNING)
    assert "stem" in kinds("swimmer\nswimming\n", WARNING)
    report = check_text("box\nboxing\n")  # a word and a derived one: usually two things
    assert report.warnings == [] and "stem" in report.kinds(NOTE)


@pytest.mark.parametrize("text", [
    "dog\nsmall dog\n",
    "elephant\nbaby elephant\n",
    "mountain\nmountain view\n",
    "beach: shore\nbeautiful shore photo\n",
    "car: automobile\nred automobile\n",
])
def test_attribute_variants_warn(text):
    assert kinds(text, WARNING) == {"variant"}


def test_hierarchical_labels_are_notes_not_warnings():
    report = check_text("ball\ntennis ball\ndog\nhot dog\nbear\nteddy bear\n")
    assert report.errors == [] and report.warnings == []
    assert report.kinds(NOTE) == {"contained"}
    assert len(report.notes) == 3


def test_allow_line_silences_a_reviewed_warning():
    text = "color\ncolour\nhorse\ndog\nsmall dog\n# allow: colour ~ color; small dog ~ dog\n"
    report = check_text(text)
    assert report.warnings == [] and len(report.allowed) == 2


def test_allow_line_matches_label_names_for_synonym_warnings():
    text = "paint: colour\nhue: tint, color\n# allow: paint ~ hue\n"
    report = check_text(text)
    assert report.warnings == [] and len(report.allowed) == 1


def test_allow_line_cannot_silence_an_error():
    report = check_text("glass\nglasses\n# allow: glass ~ glasses\n")
    assert "form-collision" in report.kinds(ERROR)
    assert "stale-allow" in report.kinds(WARNING)


def test_stale_allow_line_warns():
    report = check_text("dog\ncat\n# allow: dog ~ wolf\n")
    assert report.ok and report.kinds(WARNING) == {"stale-allow"}
    assert report.warnings[0].line == 3


def test_malformed_allow_line_is_an_error():
    assert "parse" in kinds("dog\n# allow: dog wolf\n", ERROR)


def test_redundant_synonym_is_a_note():
    report = check_text("person: people\nmouse: mice, computer mouse\n")
    assert report.warnings == []
    assert [f.kind for f in report.notes] == ["redundant-synonym", "redundant-synonym"]


def test_style_checks_only_when_asked():
    text = "Dog\nperson riding a red bicycle\n"
    assert check_text(text).warnings == []
    assert [f.kind for f in check_text(text, style=True).warnings] == ["style", "style"]


def test_empty_vocabulary_is_an_error():
    assert "parse" in kinds("# nothing here\n", ERROR)


# --- `lzt labels check` ------------------------------------------------------------------------


def check_command(*args: str):
    return invoke("labels", "check", *args, check=None)


def test_check_command_fails_on_planted_duplicates(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# planted\nt-shirt\nt shirt\nglass\nglasses\ncolor\ncolour\n", encoding="utf-8")
    result = check_command(str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: error: [spacing]" in result.stdout
    assert f"{bad}:5: error: [form-collision]" in result.stdout
    assert "warning: [edit-distance]" in result.stdout
    assert "2 errors, 1 warnings" in result.stdout


def test_check_command_strict_fails_on_warnings(tmp_path):
    warn = tmp_path / "warn.txt"
    warn.write_text("color\ncolour\n", encoding="utf-8")
    assert check_command(str(warn)).returncode == 0
    assert check_command("--strict", str(warn)).returncode == 1


def test_check_command_passes_on_all_builtin_sets_strictly():
    result = check_command("--all", "--style", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("voc", "coco", "nuswide", "everyday"):
        assert f"{name}.txt:" in result.stdout
    assert " 0 errors, 0 warnings" in result.stdout


def test_check_command_accepts_builtin_names():
    result = check_command("-q", "voc", "coco")
    assert result.returncode == 0
    assert "voc.txt: 20 labels: 0 errors" in result.stdout


def test_check_command_unknown_file():
    result = check_command("no-such-vocabulary")
    assert result.returncode == 1 and "no vocabulary file" in result.stderr


def test_check_command_needs_a_file_or_all():
    result = check_command()
    assert result.returncode == 2 and "--all" in result.stderr


# --- `lzt labels` -------------------------------------------------------------------------------


def test_lzt_labels_lists_the_builtin_sets():
    result = invoke("labels", check=None)
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines() if line}
    assert {"voc", "coco", "nuswide", "everyday"} <= set(rows)
    for name, size in SIZES.items():
        assert rows[name][1] == f"{size} labels"
    assert int(rows["everyday"][1].split()[0]) >= 1000


@pytest.mark.parametrize("name", ["coco", "voc", "nuswide", "everyday"])
def test_every_label_has_one_name_per_language_and_no_two_share_one(name):
    """label_sets/i18n: each file lists every label of its set once, in order, then every node of
    its keyword tree once; two labels (or two nodes) never get the same name (case and spaces
    aside), so a translated keyword names one label."""
    from lzt.vocab.translations import LANGUAGES, read_parent_translations, read_translations, translation_file

    vocabulary = load_vocabulary(name)
    nodes = sorted({node for path in vocabulary.parents().values() for node in path})
    for lang in LANGUAGES:
        names = read_translations(name, lang)
        parents = read_parent_translations(name, lang)
        keys = [line.split("\t")[0] for line in translation_file(name, lang).read_text(encoding="utf-8").splitlines()]
        rows = [key for key in keys if not key.startswith("[")]
        assert rows == vocabulary.names, f"{name}.{lang}: not every label once in the vocabulary's order"
        assert keys[: len(rows)] == rows, f"{name}.{lang}: the parents' lines come after the labels'"
        assert sorted(parents) == nodes
        for what, translated in (("labels", [names[label] for label in vocabulary.names]), ("parents", list(parents.values()))):
            folded = [value.strip().casefold() for value in translated]
            assert len(set(folded)) == len(folded), f"{name}.{lang}: names shared by two {what}"


def test_translated_names_are_for_builtin_vocabularies_only():
    from lzt import translated_names

    names = translated_names(load_vocabulary("coco").names[::-1], "de")
    assert names["dog"] == "Hund" and len(names) == 80
    with pytest.raises(UsageError, match="rename"):
        translated_names(["dog", "my cat"], "de")
    with pytest.raises(UsageError, match="lang"):
        translated_names(load_vocabulary("coco").names, "xx")
