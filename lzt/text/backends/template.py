"""`template`: deterministic sentences from fixed patterns; no LLM, no network, no cost."""

from __future__ import annotations

import random
from typing import Sequence

from lzt.config import LLMConfig
from lzt.text.backends.base import BackendShape, LabelSet, register_backend
from lzt.vocab import article, join_phrases

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




class TemplateKind:
    name = "template"
    description = "fixed sentence patterns, no LLM: instant and deterministic"
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
