"""The contract of a sentence writer, and the registry that built-in and plugin writers join.

A backend turns label sets into one sentence each: `write(label_sets) -> list[str | None]`
(None where it produced nothing usable). `sets_per_request` tells the corpus builder how many
label sets one request carries, so that retries, resume and cost estimates stay per request.

A kind of backend (`template`, `openai`, `local`, or a plugin's) registers a BackendKind: how to
describe the backend without starting it (`shape`, for plans, dry runs and finished corpora) and
how to create it. Plugins register from an entry point in the `lzt.backends` group.

Optional: a backend with a `use_knowledge(knowledge)` method is handed the vocabulary's knowledge
before it writes (the template writer composes from it); a kind and backend with `judged = False`
are not checked by the plausibility filter (only the template writer, whose sentences come from
the knowledge itself; every LLM's are judged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from lzt.config import LLMConfig
from lzt.plugins import Registry
from lzt.text.prompts import PromptTemplate

LabelSet = Sequence[str]


class SentenceBackend(Protocol):
    name: str  # recorded in every corpus line (e.g. "template", "openai:gpt-4o-mini")
    prompt_id: str  # which prompt produced the sentences
    sets_per_request: int

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackendShape:
    """What a corpus records about its backend, known without starting or contacting it."""

    name: str
    prompt_id: str
    sets_per_request: int


class BackendKind(Protocol):
    name: str  # the `kind` users choose (`--llm NAME`)
    description: str  # one line for help texts
    default_concurrency: int

    def prompt(self, config: LLMConfig) -> PromptTemplate | None:
        """The prompt requests will use; None for writers that send no prompt."""

    def sets_per_request(self, config: LLMConfig) -> int: ...

    def shape(self, config: LLMConfig) -> BackendShape:
        """Name, prompt id and batch size; may check that the backend is usable (a model file)."""

    def create(self, config: LLMConfig, seed: int) -> SentenceBackend: ...


BACKENDS: Registry[BackendKind] = Registry("sentence writer", "lzt.backends", "LLMConfig.kind", ("template", "openai", "local"))


def register_backend(kind: BackendKind) -> BackendKind:
    """Make a backend kind available by its name; built-ins register this way too."""
    return BACKENDS.register(kind.name, kind)
