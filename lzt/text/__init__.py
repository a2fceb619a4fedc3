"""The text side: label-set sampling, prompts, sentence writers (a registry), mention
verification, resumable corpus files, and the corpora a classifier is trained on."""

from lzt.text.backends import LLMConfig, backend_names, create_backend, register_backend
from lzt.text.corpus import CorpusEntry, GenerationStats, read_corpus
from lzt.text.generate import RequestEstimate, generate_corpus, obtain_corpus, plan_requests

__all__ = [
    "CorpusEntry", "GenerationStats", "LLMConfig", "RequestEstimate", "backend_names", "create_backend",
    "generate_corpus", "obtain_corpus", "plan_requests", "read_corpus", "register_backend",
]
