"""The text corpus: sampled label sets, sentences written for them, verified mentions, JSONL.

A corpus file is append-only JSON Lines. The first line is a header naming what the corpus is
(vocabulary hash, seed, sampling settings); every other line is one label set's outcome:
    {"set": 17, "request": 2, "sentence": "...", "labels": [...], "requested": [...],
     "model": "...", "prompt": "..."}
`labels` are the labels the sentence really mentions (may differ from `requested`); a line with
no labels is a dropped sentence, kept so that a resumed run does not ask for it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from lzt.errors import LztError
from lzt.labels import Vocabulary, surface_forms
from lzt.llm import SentenceBackend
from lzt.resources import resource_dir

CORPUS_FORMAT = "lzt-corpus"
MAX_LABELS_PER_SET = 5


# --- sampling ----------------------------------------------------------------------------------


def sample_label_sets(
    n_labels: int, total: int, seed: int, min_per_label: int, max_k: int = MAX_LABELS_PER_SET
) -> list[list[int]]:
    """CoMC's sampling (k uniform in 1..max_k, k distinct labels) with guaranteed coverage.

    First `min_per_label` rounds each walk a fresh permutation of the whole vocabulary in chunks
    of random size, so every label appears at least that often whatever the vocabulary size;
    then CoMC's uniform sampling fills up to `total`. The list is a prefix-stable function of
    the arguments: asking for more sets later extends it.
    """
    rng = random.Random(seed)
    max_k = max(1, min(max_k, n_labels))
    sets: list[list[int]] = []
    for _ in range(min_per_label):
        order = list(range(n_labels))
        rng.shuffle(order)
        start = 0
        while start < n_labels:
            k = rng.randint(1, max_k)
            sets.append(order[start : start + k])
            start += k
    while len(sets) < total:
        sets.append(rng.sample(range(n_labels), rng.randint(1, max_k)))
    return sets


# --- verification ------------------------------------------------------------------------------


class MentionMatcher:
    """Finds which labels a sentence mentions: name or synonym, singular or plural,
    case-insensitive, whole words only, longest match first (so `hot dog` is not a `dog`)."""

    def __init__(self, vocabulary: Vocabulary):
        self.names = vocabulary.names
        self._form_to_label: dict[str, int] = {}
        for index, label in enumerate(vocabulary.labels):
            for form in surface_forms(label):
                self._form_to_label.setdefault(form, index)
        forms = sorted(self._form_to_label, key=len, reverse=True)
        # Spaces inside a multi-word label match any run of spaces or hyphens ("hot-dog").
        alternatives = "|".join(re.escape(f).replace(r"\ ", r"[\s\-]+") for f in forms)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    def label_indices(self, sentence: str) -> list[int]:
        found = set()
        for match in self._pattern.finditer(sentence):
            key = re.sub(r"[\s\-]+", " ", match.group(0).lower())
            if key in self._form_to_label:
                found.add(self._form_to_label[key])
        return sorted(found)

    def labels(self, sentence: str) -> list[str]:
        return [self.names[i] for i in self.label_indices(sentence)]


# --- single-label texts ------------------------------------------------------------------------


def load_prompt_templates(spec: str) -> list[str]:
    """A prompt-ensemble file by name (`imagenet80`, `photo7`) or path; `{}` is the label."""
    path = Path(spec)
    if not path.is_file():
        path = resource_dir("prompts") / f"{spec}.txt"
    if not path.is_file():
        names = sorted(p.stem for p in resource_dir("prompts").glob("*.txt") if "{}" in p.read_text())
        raise LztError(f"no prompt templates {spec!r} (built-in: {', '.join(names)})")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    templates = [line for line in lines if line and not line.startswith("#")]
    if not templates or any("{}" not in t for t in templates):
        raise LztError(f"{path}: every template line needs a {{}} where the label goes")
    return templates


def single_label_texts(vocabulary: Vocabulary, templates: Sequence[str]) -> list[str]:
    """Label-major: all templates of label 0, then label 1, ..."""
    return [template.format(name) for name in vocabulary.names for template in templates]


# --- the corpus file ---------------------------------------------------------------------------


def vocabulary_digest(vocabulary: Vocabulary) -> str:
    text = "\n".join(f"{l.name}:{','.join(l.synonyms)}" for l in vocabulary.labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CorpusEntry:
    sentence: str
    labels: list[str]


@dataclass
class GenerationStats:
    requested_sets: int = 0
    already_done: int = 0
    written: int = 0
    verified: int = 0
    dropped: int = 0
    requests: int = 0
    failed_requests: int = 0

    @property
    def drop_rate(self) -> float:
        return self.dropped / max(1, self.verified + self.dropped)


@dataclass
class CorpusPlan:
    """What a corpus file should hold: the label sets, grouped into requests."""

    vocabulary: Vocabulary
    sets: list[list[int]]
    sets_per_request: int
    header: dict = field(default_factory=dict)

    def requests(self) -> list[list[int]]:
        """Set indices per request."""
        ids = list(range(len(self.sets)))
        return [ids[i : i + self.sets_per_request] for i in range(0, len(ids), self.sets_per_request)]


def plan_corpus(
    vocabulary: Vocabulary, sentences: int, seed: int, min_per_label: int, backend: SentenceBackend
) -> CorpusPlan:
    sets = sample_label_sets(len(vocabulary), sentences, seed, min_per_label)
    header = {
        "format": CORPUS_FORMAT,
        "version": 1,
        "vocabulary": vocabulary_digest(vocabulary),
        "labels": len(vocabulary),
        "seed": seed,
        "min_per_label": min_per_label,
        "sets_per_request": backend.sets_per_request,
        "model": backend.name,
        "prompt": backend.prompt_id,
    }
    return CorpusPlan(vocabulary, sets, backend.sets_per_request, header)


def _read_lines(path: Path) -> tuple[dict | None, list[dict], int]:
    """Header, records, and the byte length of the valid prefix (a torn last line is cut)."""
    header, records, valid_end = None, [], 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # written partly when the process died
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                break
            valid_end += len(raw)
            if header is None and obj.get("format") == CORPUS_FORMAT:
                header = obj
            else:
                records.append(obj)
    return header, records, valid_end


def _same_corpus(existing: dict, header: dict) -> bool:
    keys = ("vocabulary", "seed", "min_per_label", "sets_per_request", "model", "prompt")
    return all(existing.get(k) == header.get(k) for k in keys)


def open_for_resume(path: Path, plan: CorpusPlan) -> set[int]:
    """Prepare `path` to receive the plan's lines; returns the set indices already written."""
    if not path.exists() or path.stat().st_size == 0:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(plan.header) + "\n")
        return set()
    header, records, valid_end = _read_lines(path)
    if header is None:
        raise LztError(f"{path} exists and is not an lzt corpus; choose another --out")
    if not _same_corpus(header, plan.header):
        raise LztError(
            f"{path} was generated with other settings (vocabulary, seed, model or prompt); "
            "use another --out, or delete it to start over"
        )
    if valid_end < path.stat().st_size:
        with open(path, "r+b") as handle:  # drop the torn tail before appending
            handle.truncate(valid_end)
    return {int(r["set"]) for r in records if "set" in r}


def generate_corpus(
    plan: CorpusPlan,
    backend: SentenceBackend,
    path: Path,
    concurrency: int = 4,
    on_progress: Callable[[GenerationStats], None] | None = None,
) -> GenerationStats:
    """Run the requests that `path` does not hold yet, appending each request's lines as one
    write as soon as it completes. Safe to interrupt at any point and run again."""
    path = Path(path)
    done = open_for_resume(path, plan)
    matcher = MentionMatcher(plan.vocabulary)
    names = plan.vocabulary.names
    todo = [req for req in plan.requests() if not all(i in done for i in req)]
    stats = GenerationStats(requested_sets=len(plan.sets), already_done=len(done))
    request_ids = {tuple(req): n for n, req in enumerate(plan.requests())}

    def run(request: list[int]) -> list[str | None]:
        return backend.write([[names[j] for j in plan.sets[i]] for i in request])

    with open(path, "a", encoding="utf-8") as out, ThreadPoolExecutor(max(1, concurrency)) as pool:
        pending: dict[Future, list[int]] = {}
        queue = iter(todo)
        for request in queue:
            pending[pool.submit(run, request)] = request
            if len(pending) >= concurrency:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                request = pending.pop(future)
                stats.requests += 1
                try:
                    sentences = future.result()
                except LztError:
                    stats.failed_requests += 1
                    raise
                lines = []
                for set_index, sentence in zip(request, sentences):
                    if set_index in done:
                        continue
                    requested = [names[j] for j in plan.sets[set_index]]
                    labels = matcher.labels(sentence) if sentence else []
                    stats.verified += bool(labels)
                    stats.dropped += not labels
                    lines.append(json.dumps({
                        "set": set_index, "request": request_ids[tuple(request)],
                        "sentence": sentence, "labels": labels, "requested": requested,
                        "model": backend.name, "prompt": backend.prompt_id,
                    }, ensure_ascii=False) + "\n")
                out.write("".join(lines))
                out.flush()
                os.fsync(out.fileno())
                stats.written += len(lines)
                if on_progress:
                    on_progress(stats)
                next_request = next(queue, None)
                if next_request is not None:
                    pending[pool.submit(run, next_request)] = next_request
    return stats


def read_corpus(path: Path, vocabulary: Vocabulary) -> list[CorpusEntry]:
    """Verified sentences of a corpus file (re-checked against `vocabulary`)."""
    path = Path(path)
    if not path.is_file():
        raise LztError(f"no corpus file at {path}")
    header, records, _ = _read_lines(path)
    if header is None:
        raise LztError(f"{path} is not an lzt corpus file")
    matcher = MentionMatcher(vocabulary)
    entries = []
    for record in records:
        sentence = record.get("sentence")
        if sentence:
            labels = matcher.labels(sentence)  # the vocabulary may have gained synonyms since
            if labels:
                entries.append(CorpusEntry(sentence, labels))
    if not entries:
        raise LztError(f"{path} holds no sentence that mentions a label of this vocabulary")
    return entries


def entries_from_backend(plan: CorpusPlan, backend: SentenceBackend) -> Iterator[CorpusEntry]:
    """In-memory generation for backends that cost nothing (template): no file involved."""
    matcher = MentionMatcher(plan.vocabulary)
    names = plan.vocabulary.names
    for request in plan.requests():
        sentences = backend.write([[names[j] for j in plan.sets[i]] for i in request])
        for sentence in sentences:
            labels = matcher.labels(sentence) if sentence else []
            if labels:
                yield CorpusEntry(sentence, labels)


def corpus_digest(entries: Iterable[CorpusEntry]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(json.dumps([entry.sentence, entry.labels]).encode() + b"\n")
    return digest.hexdigest()
