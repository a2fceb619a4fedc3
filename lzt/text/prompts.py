"""Prompt files in prompts/: LLM prompts (`{labels}` or `{items}`) and single-label templates
(`a photo of a {}.`), by name or path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lzt.errors import LztError
from lzt.files import prompt_file, read_text, resource_dir
from lzt.vocab import Vocabulary, article, join_phrases

LabelSet = Sequence[str]


def _prompt_names(has: str) -> list[str]:
    return sorted(p.stem for p in resource_dir("prompts").glob("*.txt") if has in p.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class PromptTemplate:
    """An LLM prompt: `{labels}` (one label set per request) or `{items}`+`{count}` (several)."""

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
        return self.text.replace("{labels}", join_phrases([article(label) for label in labels]))


def load_prompt(spec: str | Path) -> PromptTemplate:
    """An LLM prompt by name (`sentence`, `sentences-batch`) or path."""
    path = prompt_file(spec)
    if path is None:
        raise LztError(f"no prompt {str(spec)!r} (built-in: {', '.join(_prompt_names('{labels}') + _prompt_names('{items}'))}; or a file path)")
    lines = [line for line in read_text(path, "prompt").splitlines() if not line.startswith("#")]
    text = "\n".join(lines).strip()
    if "{labels}" not in text and "{items}" not in text:
        raise LztError(f"{path}: a prompt needs {{labels}} (one label set) or {{items}} (a numbered list)")
    return PromptTemplate(path.stem, text)


def load_prompt_templates(spec: str | Path) -> list[str]:
    """A single-label prompt ensemble by name (`imagenet80`, `photo7`) or path; `{}` is the label."""
    path = prompt_file(spec)
    if path is None:
        raise LztError(f"no prompt templates {str(spec)!r} (built-in: {', '.join(_prompt_names('{}'))})")
    lines = [line.strip() for line in read_text(path, "prompt templates").splitlines()]
    templates = [line for line in lines if line and not line.startswith("#")]
    if not templates or any("{}" not in t for t in templates):
        raise LztError(f"{path}: every template line needs a {{}} where the label goes")
    return templates


def single_label_texts(vocabulary: Vocabulary, templates: Sequence[str]) -> list[str]:
    """Label-major: all templates of label 0, then label 1, ..."""
    return [template.format(name) for name in vocabulary.names for template in templates]
