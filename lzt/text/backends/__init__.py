"""Sentence writers in a registry: the built-ins (template, openai, local) and plugins.

A plugin package adds a kind by registering a BackendKind (see base.py) when an entry point of
the `lzt.backends` group is loaded, exactly as the built-in modules below register theirs.
"""

from __future__ import annotations

from lzt.config import LLMConfig
from lzt.text.backends import local, openai, template  # noqa: F401  (the built-ins register themselves)
from lzt.text.backends.base import BACKENDS, BackendKind, BackendShape, SentenceBackend, register_backend


def backend_names() -> list[str]:
    """Registered kinds: the built-ins from the cheapest (template) to the offline model, then plugins."""
    return BACKENDS.names()


def backend_kind(name: str) -> BackendKind:
    return BACKENDS.get(name)


def backend_shape(config: LLMConfig) -> BackendShape:
    """The name, prompt id and batch size the backend of `config` will have; starts nothing."""
    return backend_kind(config.kind).shape(config)


def create_backend(config: LLMConfig, seed: int = 0) -> SentenceBackend:
    """Start (if needed) and return the backend of `config`; close() it when done."""
    return backend_kind(config.kind).create(config, seed)


def writes_without_llm(config: LLMConfig) -> bool:
    """True for writers that send no prompt (template): free, instant, no model to start."""
    return backend_kind(config.kind).prompt(config) is None


def concurrency(config: LLMConfig) -> int:
    return config.concurrency or backend_kind(config.kind).default_concurrency


__all__ = [
    "BackendKind", "BackendShape", "LLMConfig", "SentenceBackend", "backend_kind", "backend_names",
    "backend_shape", "concurrency", "create_backend", "register_backend", "writes_without_llm",
]
