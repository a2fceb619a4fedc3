"""`openai`: any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp servers)."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from lzt.config import LLMConfig
from lzt.errors import LLMError, UsageError
from lzt.errors import warn as issue_warning
from lzt.text.backends.base import BackendShape, LabelSet, register_backend
from lzt.text.prompts import PromptTemplate, load_prompt
from lzt.text.replies import parse_reply

BATCH_SETS_PER_REQUEST = 10  # label sets per request with a batched prompt (capable models)
DEFAULT_PROMPT = "sentences-batch"  # capable models write 10 sentences per request reliably


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
        warn: Callable[[str], None] = issue_warning,
        health: Callable[[], str | None] | None = None,
        name: str | None = None,
    ):
        import openai

        api_key = os.environ.get(api_key_env) or None
        if not api_key and needs_api_key(base_url):
            raise LLMError(f"OpenAI needs an API key in ${api_key_env} (or set `LLMConfig.base_url` to a self-hosted server)")
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
        attempt = 0
        while True:
            if self._closed.is_set():
                raise LLMError("LLM backend closed")
            try:
                return self._request(prompt)
            except Exception as exc:
                if self._closed.is_set():  # closed while in flight (Ctrl-C, an error elsewhere): no retry notice
                    raise LLMError("LLM backend closed") from exc
                if self._adapt(exc):
                    continue
                problem = self.health() if self.health else None
                if problem:
                    raise LLMError(problem) from exc
                if not _retryable(exc) or attempt >= self.retry.attempts - 1:
                    raise LLMError(f"LLM request failed: {self.describe(exc)}") from exc
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




class OpenAIKind:
    name = "openai"
    description = "any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp"
    default_concurrency = 4

    def _model(self, config: LLMConfig) -> str:
        if not config.model:
            raise UsageError("the openai writer needs `LLMConfig.model` (e.g. gpt-4o-mini, or the name your server serves)")
        return config.model

    def prompt(self, config: LLMConfig) -> PromptTemplate:
        return load_prompt(config.prompt or DEFAULT_PROMPT)

    def sets_per_request(self, config: LLMConfig) -> int:
        return BATCH_SETS_PER_REQUEST if self.prompt(config).batched else 1

    def shape(self, config: LLMConfig) -> BackendShape:
        return BackendShape(f"openai:{self._model(config)}", self.prompt(config).id, self.sets_per_request(config))

    def create(self, config: LLMConfig, seed: int) -> OpenAIBackend:
        return OpenAIBackend(
            self._model(config), config.base_url or os.environ.get("OPENAI_BASE_URL"), api_key_env=config.api_key_env,
            prompt=self.prompt(config), sets_per_request=BATCH_SETS_PER_REQUEST,
        )


register_backend(OpenAIKind())
