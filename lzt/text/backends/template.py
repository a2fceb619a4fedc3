"""`template`: captions composed from the vocabulary's knowledge; no LLM, no network, no cost."""

from __future__ import annotations

from typing import Sequence

from lzt.config import LLMConfig
from lzt.text.backends.base import BackendShape, LabelSet, register_backend
from lzt.text.compose import SentenceComposer
from lzt.vocab.knowledge import Knowledge, load_knowledge


class TemplateBackend:
    """Captions and alt texts composed from what lzt knows about each label (lzt.text.compose):
    its kind, phrasing, settings and details; no LLM, no network, no cost.

    The corpus code hands it the vocabulary's knowledge (`use_knowledge`); without it, each set's
    labels are phrased from their names alone. The same seed and the same label sets asked in the
    same order give the same sentences, so a corpus is reproducible."""

    name = "template"
    prompt_id = "template-v3"
    sets_per_request = 64
    judged = False  # composed from the knowledge, so the plausibility filter (for LLM prose) skips it

    def __init__(self, seed: int = 0, knowledge: Knowledge | None = None):
        self.seed = seed
        self.composer = SentenceComposer(knowledge, seed) if knowledge is not None else None

    def use_knowledge(self, knowledge: Knowledge) -> None:
        """Compose from this knowledge (the corpus code calls it with the plan's)."""
        if self.composer is None or self.composer.knowledge is not knowledge:
            self.composer = SentenceComposer(knowledge, self.seed)

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]:
        sentences: list[str | None] = []
        for labels in label_sets:
            composer = self.composer
            if composer is None or any(name not in composer.knowledge for name in labels):
                composer = SentenceComposer(load_knowledge(list(labels)), self.seed)
            sentences.append(composer.sentence(list(labels)))
        return sentences

    def close(self) -> None:
        pass


class TemplateKind:
    name = "template"
    judged = False  # see TemplateBackend.judged
    description = "captions composed from the vocabulary's knowledge, no LLM: instant and deterministic"
    default_concurrency = 1

    def prompt(self, config: LLMConfig) -> None:
        return None

    def sets_per_request(self, config: LLMConfig) -> int:
        return TemplateBackend.sets_per_request

    def shape(self, config: LLMConfig) -> BackendShape:
        return BackendShape(TemplateBackend.name, TemplateBackend.prompt_id, TemplateBackend.sets_per_request)

    def create(self, config: LLMConfig, seed: int) -> TemplateBackend:
        return TemplateBackend(seed)


register_backend(TemplateKind())
