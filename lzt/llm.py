"""Sentence writers behind one small contract.

A backend turns label sets into one sentence each: `write(label_sets) -> list[str | None]`
(None where it produced nothing usable). `sets_per_request` tells the corpus builder how many
label sets one request carries, so that retries, resume and cost estimates stay per request.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

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

_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(?:\(?(\d{1,4})[.):\]]|#(\d{1,4})[.:)]?|(?:item|sentence)\s+(\d{1,4})\s*[:.)-])\s*(.*)$", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:sure|here(?:'s| is| are)|certainly|okay|ok)\b.*[:!.]\s*$", re.IGNORECASE)
_QUOTES = "\"'“”‘’`«»"
MAX_SENTENCE_CHARS = 300


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


def clean_sentence(text: str) -> str | None:
    """One sentence from a model's line: no quotes, labels like "Sentence:", or run-ons."""
    text = re.sub(r"^\s*(?:sentence|caption|answer)\s*\d*\s*:\s*", "", text.strip(), flags=re.IGNORECASE)
    text = text.strip().strip(_QUOTES).strip()
    text = re.sub(r"\*\*|__", "", text)
    if not text:
        return None
    # Keep the first sentence only; small models ramble on.
    match = re.match(r"(.+?[.!?])(?:\s|$)", text)
    if match and len(match.group(1)) >= 12:
        text = match.group(1)
    text = text.strip().strip(_QUOTES).strip()
    if len(text) > MAX_SENTENCE_CHARS:
        text = text[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0]
    return text or None


def parse_reply(reply: str, expected: int) -> list[str | None]:
    """`expected` sentences from a reply: numbered items by number, else the non-empty lines
    in order; extra prose, missing items and over-long output are tolerated."""
    lines = [l for l in (reply or "").splitlines() if l.strip()]
    if expected == 1:
        body = [l for l in lines if not _PREAMBLE.match(l.strip())]
        candidate = body[0] if body else (lines[0] if lines else "")
        numbered = _NUMBERED.match(candidate)
        if numbered:
            candidate = numbered.group(4)
        return [clean_sentence(candidate)]
    by_number: dict[int, str] = {}
    for line in lines:
        match = _NUMBERED.match(line)
        if match:
            number = int(next(g for g in match.groups()[:3] if g))
            if 1 <= number <= expected and number not in by_number:
                by_number[number] = match.group(4)
    if by_number:
        return [clean_sentence(by_number[n]) if n in by_number else None for n in range(1, expected + 1)]
    body = [l for l in lines if not _PREAMBLE.match(l.strip())]
    sentences = [clean_sentence(l) for l in body[:expected]]
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
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
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
        return exc.status_code == 408 or exc.status_code == 409 or exc.status_code >= 500
    return False


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp servers.

    The API key comes from the environment ($OPENAI_API_KEY by default) and is never printed.
    The client's own retries are off: lzt retries itself so that 429/5xx/timeouts/connection
    errors all get the same backoff, jitter and Retry-After handling.
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
        sleep=time.sleep,
        warn=lambda message: None,
    ):
        import openai

        from lzt.errors import LztError

        api_key = os.environ.get(api_key_env)
        local = base_url is not None and re.match(r"https?://(localhost|127\.|\[::1\])", base_url)
        if not api_key and not local:
            raise LztError(f"--llm openai needs an API key in ${api_key_env} (or a --base-url of a local server)")
        self.prompt = prompt or load_prompt("sentences-batch")
        self.sets_per_request = sets_per_request or (10 if self.prompt.batched else 1)
        if not self.prompt.batched:
            self.sets_per_request = 1
        self.model = model
        self.name = f"openai:{model}"
        self.prompt_id = self.prompt.id
        self.max_tokens = max_tokens_per_sentence * self.sets_per_request + 20
        self.temperature = temperature
        self.retry = retry
        self.sleep = sleep
        self.warn = warn
        self.client = openai.OpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=0, timeout=retry.timeout
        )

    def _complete(self, prompt: str) -> str:
        from lzt.errors import LztError

        for attempt in range(self.retry.attempts):
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                )
                return response.choices[0].message.content or ""
            except Exception as exc:
                if not _retryable(exc) or attempt == self.retry.attempts - 1:
                    raise LztError(f"LLM request failed: {_describe(exc)}") from exc
                wait_s = self.retry.delay(attempt, _retry_after(exc))
                self.warn(f"LLM request failed ({_describe(exc)}); retrying in {wait_s:.1f}s")
                self.sleep(wait_s)
        raise AssertionError("unreachable")

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]:
        return parse_reply(self._complete(self.prompt.render(label_sets)), len(label_sets))

    def close(self) -> None:
        self.client.close()


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return f"HTTP {status}: {text}" if status else f"{type(exc).__name__}: {text}"


# --- choosing a backend --------------------------------------------------------------------------

LLM_KINDS = ("template", "openai", "local")


def make_backend(kind: str, model: str | None, base_url: str | None, seed: int, prompt: str | None, warn) -> SentenceBackend:
    from lzt.errors import UsageError

    if kind == "template":
        return TemplateBackend(seed)
    if kind == "openai":
        if not model:
            raise UsageError("--llm openai needs --llm-model (e.g. gpt-4o-mini, or the name your server serves)")
        return OpenAIBackend(model, base_url or os.environ.get("OPENAI_BASE_URL"), prompt=load_prompt(prompt or "sentences-batch"), warn=warn)
    if kind == "local":
        from lzt.local_llm import LocalBackend

        return LocalBackend(gguf=model, prompt=load_prompt(prompt or "sentence"), seed=seed, warn=warn)
    raise UsageError(f"unknown --llm {kind!r} (choose from {', '.join(LLM_KINDS)})")
