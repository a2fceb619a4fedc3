"""Sentence writers behind one small contract.

A backend turns label sets into one sentence each: `write(label_sets) -> list[str | None]`
(None where it produced nothing usable). `sets_per_request` tells the corpus builder how many
label sets one request carries, so that retries, resume and cost estimates stay per request.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

LabelSet = Sequence[str]


class SentenceBackend(Protocol):
    name: str  # recorded in every corpus line (e.g. "template", "openai:gpt-4o-mini")
    prompt_id: str  # which prompt produced the sentences
    sets_per_request: int

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]: ...

    def close(self) -> None: ...


def article(noun: str) -> str:
    """`a`/`an` phrase for a singular noun, bare for nouns that are already plural."""
    from lzt.labels import _UNCHANGED

    if noun.lower().split(" ")[-1] in _UNCHANGED and noun.lower().endswith("s"):
        return f"some {noun}"
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def join_phrases(phrases: Sequence[str]) -> str:
    """`a cat`, `a cat and a dog`, `a cat, a dog and a car`."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


_SCENES = (
    "a photo of {things}.",
    "a picture showing {things}.",
    "there is {things} in this photo.",
    "an image with {things}.",
    "a snapshot of {things}.",
    "{things} can be seen in the picture.",
    "a close-up photo of {things}.",
    "a photo of {things} together.",
    "a scene with {things}.",
    "a casual photo of {things}.",
)


class TemplateBackend:
    """Deterministic sentences from fixed patterns: no LLM, no network, no cost.

    Each sentence depends only on its label set and the seed, so a corpus is reproducible
    and resumable like an LLM one.
    """

    name = "template"
    prompt_id = "template-v1"
    sets_per_request = 64

    def __init__(self, seed: int = 0):
        self.seed = seed

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]:
        sentences: list[str | None] = []
        for labels in label_sets:
            rng = random.Random(f"{self.seed}|{'|'.join(labels)}")
            pattern = rng.choice(_SCENES)
            text = pattern.format(things=join_phrases([article(label) for label in labels]))
            sentences.append(text[0].upper() + text[1:])
        return sentences

    def close(self) -> None:
        pass


# --- prompts and replies -------------------------------------------------------------------------

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


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file from prompts/: `{labels}` (one set) or `{items}`+`{count}` (several)."""

    id: str
    text: str

    @property
    def batched(self) -> bool:
        return "{items}" in self.text

    def render(self, label_sets: Sequence[LabelSet]) -> str:
        if self.batched:
            items = "\n".join(f"{n}. {', '.join(labels)}" for n, labels in enumerate(label_sets, start=1))
            return self.text.replace("{count}", str(len(label_sets))).replace("{items}", items)
        (labels,) = label_sets
        return self.text.replace("{labels}", join_phrases([article(l) for l in labels]))


def load_prompt(spec: str) -> PromptTemplate:
    """A prompt by name (`sentence`, `sentences-batch`) or path."""
    from lzt.errors import LztError
    from lzt.resources import resource_dir

    path = Path(spec)
    if not path.is_file():
        path = resource_dir("prompts") / f"{spec}.txt"
    if not path.is_file():
        raise LztError(f"no prompt {spec!r} (built-in: sentence, sentences-batch; or a file path)")
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if not l.startswith("#")]
    text = "\n".join(lines).strip()
    if "{labels}" not in text and "{items}" not in text:
        raise LztError(f"{path}: a prompt needs {{labels}} (one label set) or {{items}} (a numbered list)")
    return PromptTemplate(path.stem, text)


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


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _is_echo(sentence: str, prompt: str | None) -> bool:
    """Small models often repeat the instruction ("Write one sentence ... a cat."), which
    mentions the labels and would pass verification without describing anything."""
    return bool(prompt) and _normalised(sentence) in _normalised(prompt)


def parse_reply(reply: str, expected: int, prompt: str | None = None) -> list[str | None]:
    """`expected` sentences from a reply: numbered items by number, else the non-empty lines
    in order. Intros, bullets, quotes, extra prose, missing items, echoes of `prompt` and
    over-long output are tolerated; a missing or unusable item is None."""
    lines = [re.sub(r"\*\*|__", "", l) for l in (reply or "").splitlines() if l.strip()]
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


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 60.0  # per request, seconds

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is longer."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))
        return max(backoff, min(retry_after or 0.0, self.max_delay * 5))


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    if not hasattr(headers, "get"):
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def needs_api_key(base_url: str | None) -> bool:
    """OpenAI itself needs a key; self-hosted servers (vLLM, Ollama, llama.cpp) usually don't."""
    return base_url is None or "api.openai.com" in base_url


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp servers.

    The API key comes from the environment ($OPENAI_API_KEY by default) and is never printed:
    error messages are scrubbed of it. The client's own retries are off: lzt retries itself so
    that 429/5xx/timeouts/connection errors all get the same backoff, jitter and Retry-After
    handling, and so that `close()` can stop a backoff wait at once.
    """

    sets_per_request: int

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        prompt: PromptTemplate | None = None,
        sets_per_request: int | None = None,
        max_tokens_per_sentence: int = 40,
        temperature: float = 0.8,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] | None = None,
        warn: Callable[[str], None] = lambda message: None,
        health: Callable[[], str | None] | None = None,
        name: str | None = None,
    ):
        import openai

        from lzt.errors import LztError

        api_key = os.environ.get(api_key_env) or None
        if not api_key and needs_api_key(base_url):
            raise LztError(f"--llm openai needs an API key in ${api_key_env} (or a --base-url of a self-hosted server)")
        self._secret = api_key
        self.prompt = prompt or load_prompt("sentences-batch")
        self.sets_per_request = (sets_per_request or BATCH_SETS_PER_REQUEST) if self.prompt.batched else 1
        self.model = model
        self.name = name or f"openai:{model}"
        self.prompt_id = self.prompt.id
        self.max_tokens = max_tokens_per_sentence * self.sets_per_request + 20
        self._token_param = "max_tokens"  # switched to max_completion_tokens if the server asks
        self.temperature: float | None = temperature
        self.retry = retry
        self._closed = threading.Event()
        self.sleep = sleep or self._interruptible_sleep
        self.warn = warn
        self.health = health
        self.client = openai.OpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=0, timeout=retry.timeout
        )

    def _interruptible_sleep(self, seconds: float) -> None:
        self._closed.wait(seconds)

    def _request(self, prompt: str) -> str:
        options: dict = {self._token_param: self.max_tokens}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            timeout=self.retry.timeout,
            **options,
        )
        return response.choices[0].message.content or ""

    def _adapt(self, exc: BaseException) -> bool:
        """Newer OpenAI models refuse `max_tokens` (want `max_completion_tokens`) or a custom
        temperature; adjust once instead of failing. True when something was changed."""
        import openai

        if not isinstance(exc, openai.BadRequestError):
            return False
        message = str(exc)
        if "max_completion_tokens" in message and self._token_param == "max_tokens":
            self._token_param = "max_completion_tokens"
            return True
        if "temperature" in message and self.temperature is not None:
            self.temperature = None
            return True
        return False

    def _complete(self, prompt: str) -> str:
        from lzt.errors import LztError

        attempt = 0
        while True:
            if self._closed.is_set():
                raise LztError("LLM backend closed")
            try:
                return self._request(prompt)
            except Exception as exc:
                if self._adapt(exc):
                    continue
                problem = self.health() if self.health else None
                if problem:
                    raise LztError(problem) from exc
                if not _retryable(exc) or attempt >= self.retry.attempts - 1:
                    raise LztError(f"LLM request failed: {self.describe(exc)}") from exc
                wait_s = self.retry.delay(attempt, _retry_after(exc))
                self.warn(f"LLM request failed ({self.describe(exc)}); retrying in {wait_s:.1f}s")
                self.sleep(wait_s)
                attempt += 1

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]:
        prompt = self.prompt.render(label_sets)
        return parse_reply(self._complete(prompt), len(label_sets), prompt)

    def describe(self, exc: BaseException) -> str:
        """One line about a failed request, with the API key scrubbed out."""
        status = getattr(exc, "status_code", None)
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        return f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"

    def close(self) -> None:
        """Stops backoff waits at once; requests still in flight end on their own."""
        self._closed.set()
        self.client.close()


# --- choosing a backend --------------------------------------------------------------------------

LLM_KINDS = ("template", "openai", "local")
BATCH_SETS_PER_REQUEST = 10  # label sets per request with a batched prompt (capable models)


def default_prompt(kind: str) -> str:
    """Small local models follow one-sentence prompts only; remote ones can batch."""
    return "sentence" if kind == "local" else "sentences-batch"


def sets_per_request_for(kind: str, prompt: str | None) -> int:
    """What a backend of this kind would use, without starting or contacting anything."""
    if kind == "template":
        return TemplateBackend.sets_per_request
    if kind == "local":
        return 1
    return BATCH_SETS_PER_REQUEST if load_prompt(prompt or default_prompt(kind)).batched else 1


@dataclass
class BackendShape:
    """What a corpus plan records about a backend (see plan_corpus), known without starting
    or contacting it: for --dry-run and for finding a finished corpus."""

    name: str
    prompt_id: str
    sets_per_request: int


def backend_shape(kind: str, model: str | None, prompt: str | None) -> BackendShape:
    """The name, prompt id and batch size make_backend's backend will have."""
    from lzt.errors import UsageError

    if kind == "template":
        return BackendShape(TemplateBackend.name, TemplateBackend.prompt_id, TemplateBackend.sets_per_request)
    if kind not in LLM_KINDS:
        raise UsageError(f"unknown --llm {kind!r} (choose from {', '.join(LLM_KINDS)})")
    prompt_id = load_prompt(prompt or default_prompt(kind)).id
    if kind == "local":
        from lzt.local_llm import resolve_gguf

        return BackendShape(f"local:{resolve_gguf(model).stem}", prompt_id, 1)
    if not model:
        raise UsageError("--llm openai needs --llm-model (e.g. gpt-4o-mini, or the name your server serves)")
    return BackendShape(f"openai:{model}", prompt_id, sets_per_request_for(kind, prompt))


def make_backend(
    kind: str,
    model: str | None,
    base_url: str | None,
    seed: int,
    prompt: str | None,
    warn,
    api_key_env: str = "OPENAI_API_KEY",
) -> SentenceBackend:
    from lzt.errors import UsageError

    if kind == "template":
        return TemplateBackend(seed)
    template = load_prompt(prompt or default_prompt(kind)) if kind in LLM_KINDS else None
    if kind == "openai":
        if not model:
            raise UsageError("--llm openai needs --llm-model (e.g. gpt-4o-mini, or the name your server serves)")
        return OpenAIBackend(
            model, base_url or os.environ.get("OPENAI_BASE_URL"), api_key_env=api_key_env,
            prompt=template, sets_per_request=BATCH_SETS_PER_REQUEST, warn=warn,
        )
    if kind == "local":
        from lzt.local_llm import LocalBackend

        return LocalBackend(gguf=model, prompt=template, seed=seed, warn=warn)
    raise UsageError(f"unknown --llm {kind!r} (choose from {', '.join(LLM_KINDS)})")
