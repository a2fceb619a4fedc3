"""Sentences out of an LLM's reply: numbering, bullets, quotes, chatty intros and echoes."""

from __future__ import annotations

import re

# An item marker at the start of a line: "1.", "1)", "(1)", "1:", "[1]", "#1", "Item 1:",
# "Sentence 1 -". The lookahead keeps "1.5 people" as text; at most 3 digits keeps "2023: ...".
_NUMBERED = re.compile(
    r"^\s*(?:[-*•·]\s*)?(?:[(\[]?(\d{1,3})[.):\]](?=\s|$)|#(\d{1,3})[.:)]?(?=\s|$)"
    r"|(?:item|sentence|caption)\s*(\d{1,3})\s*[:.)\-])\s*(.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[-*•·]\s+")
# Chatty openers: "Sure!", "Certainly, ", then "Here is a sentence about a cat:" (the colon
# matters: "Here is a cat on a sofa." is a real sentence).
_OPENER = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|great)\b[\s,!.]*", re.IGNORECASE)
_INTRO = re.compile(r"^(?:here(?:'s|’s| is| are)|below (?:is|are))\b[^:\n]*:\s*", re.IGNORECASE)
_FIELD = re.compile(r"^(?:sentence|caption|answer|description|output|response)\s*\d*\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’`«»"
# Words ending in "." that do not end a sentence.
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "prof", "mt", "no"}
MAX_SENTENCE_CHARS = 300
MIN_FIRST_SENTENCE_CHARS = 12  # "Wow! A cat..." keeps going past "Wow!"



def _strip_intro(text: str) -> str:
    """Drop "Sure! Here is your sentence:" and the like from the start of a line."""
    text = _OPENER.sub("", text.strip(), count=1)
    return _INTRO.sub("", text, count=1).strip()


def first_sentence(text: str) -> str:
    """The text up to its first sentence end, skipping abbreviations and very short openers."""
    for match in re.finditer(r"[.!?]+(?=[\s" + re.escape(_QUOTES) + r")]|$)", text):
        head = text[: match.end()]
        word = re.search(r"([\w.]+?)[.!?]+$", head)
        if word and word.group(1).lower() in _ABBREVIATIONS:
            continue
        if len(head.strip()) >= MIN_FIRST_SENTENCE_CHARS:
            return head
    return text


def clean_sentence(text: str) -> str | None:
    """One sentence from a model's line: no bullets, quotes, markdown, "Sentence:" fields,
    chatty intros or run-ons; None when nothing is left."""
    text = re.sub(r"\*\*|__", "", text or "")
    text = _BULLET.sub("", text)
    text = _strip_intro(text)
    text = _FIELD.sub("", text).strip().strip(_QUOTES).strip()
    if not text:
        return None
    # Keep the first sentence only; small models ramble on.
    text = first_sentence(text).strip().strip(_QUOTES).strip()
    if len(text) > MAX_SENTENCE_CHARS:
        text = text[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0]
    return text or None


def sentence_key(text: str) -> str:
    """A sentence compared without case, punctuation or spacing (duplicates, echoed prompts)."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _is_echo(sentence: str, prompt: str | None) -> bool:
    """Small models often repeat the instruction ("Write one sentence ... a cat."), which
    mentions the labels and would pass verification without describing anything."""
    return prompt is not None and bool(prompt) and sentence_key(sentence) in sentence_key(prompt)


def parse_reply(reply: str, expected: int, prompt: str | None = None) -> list[str | None]:
    """`expected` sentences from a reply: numbered items by number, else the non-empty lines
    in order. Intros, bullets, quotes, extra prose, missing items, echoes of `prompt` and
    over-long output are tolerated; a missing or unusable item is None."""
    lines = [re.sub(r"\*\*|__", "", line) for line in (reply or "").splitlines() if line.strip()]
    by_number: dict[int, str] = {}
    for line in lines:
        match = _NUMBERED.match(line)
        if match:
            number = int(next(g for g in match.groups()[:3] if g))
            sentence = clean_sentence(match.group(4))
            if 1 <= number <= expected and number not in by_number and sentence and not _is_echo(sentence, prompt):
                by_number[number] = sentence
    if by_number:
        return [by_number.get(n) for n in range(1, expected + 1)]
    sentences: list[str | None] = []
    for line in lines:
        sentence = clean_sentence(_NUMBERED.sub(r"\4", line) if _NUMBERED.match(line) else line)
        if sentence and not _is_echo(sentence, prompt):
            sentences.append(sentence)
    sentences = sentences[:expected]
    return sentences + [None] * (expected - len(sentences))


# --- OpenAI-compatible servers -------------------------------------------------------------------

