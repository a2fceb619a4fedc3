"""The text corpus: sampled label sets, sentences written for them, verified mentions, JSONL.

A corpus file is append-only JSON Lines. The first line is a header naming what the corpus is
(vocabulary hash, seed, sampling settings); every other line is one label set's outcome:
    {"set": 17, "request": 2, "sentence": "...", "labels": [...], "requested": [...],
     "model": "...", "prompt": "..."}
`labels` are the labels the sentence really mentions (may differ from `requested`); a line with
no labels is a dropped sentence (`sentence` may be null), kept so that a resumed run does not
ask for it again; a line with `"rejected": [reasons]` (and no labels) is an LLM sentence the
plausibility filter (lzt.text.plausibility) turned away. Top-up rounds for labels short of verified sentences add a plan line
    {"topup": 1, "sets": [["cat", "dog"], ["tv monitor"], ...]}
before their outcome lines, whose "set"/"request" are strings ("t1.0", "t1.1", ...) so that
they never collide with the sampled sets of a later, larger run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from lzt.errors import LztError
from lzt.text.backends.base import BackendShape, SentenceBackend
from lzt.text.mentions import MentionMatcher
from lzt.text.plausibility import PlausibilityFilter
from lzt.text.sampling import SAMPLING_ID, CooccurrenceSampler, topup_label_sets
from lzt.vocab import Label, Vocabulary
from lzt.vocab.knowledge import Knowledge, load_knowledge

CORPUS_FORMAT = "lzt-corpus"
TOPUP_ROUNDS = 3  # a label the model never names stops costing requests after this many


# --- the corpus file ---------------------------------------------------------------------------


def vocabulary_digest(vocabulary: Vocabulary) -> str:
    text = "\n".join(f"{label.name}:{','.join(label.synonyms)}" for label in vocabulary.labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CorpusEntry:
    sentence: str
    labels: list[str]


@dataclass
class GenerationStats:
    """One run's counts; `verified`/`dropped` cover this run only, `corpus_verified` the file."""

    requested_sets: int = 0  # label sets the file should hold, top-up included
    already_done: int = 0
    written: int = 0
    verified: int = 0
    dropped: int = 0  # the sentence mentions no label (or there was none)
    rejected: int = 0  # it mentions labels, but the plausibility filter turned it away
    requests: int = 0
    failed_requests: int = 0
    topup_sets: int = 0
    corpus_verified: int = 0
    short_labels: list[str] = field(default_factory=list)  # under min_per_label after top-up
    complete_before: bool = False  # the file was already complete: nothing was asked
    started: float = field(default_factory=time.monotonic)

    @property
    def drop_rate(self) -> float:
        """Dropped and rejected sentences over all sentences of this run."""
        return (self.dropped + self.rejected) / max(1, self.verified + self.dropped + self.rejected)

    @property
    def done(self) -> int:
        """Label sets the file holds now (before this run and during it)."""
        return self.already_done + self.written

    @property
    def seconds(self) -> float:
        """Time since the run started."""
        return time.monotonic() - self.started


@dataclass
class CorpusPlan:
    """What a corpus file should hold: the label sets, grouped into requests."""

    vocabulary: Vocabulary
    sets: list[list[int]]
    sets_per_request: int
    header: dict = field(default_factory=dict)
    knowledge: Knowledge | None = None  # what drew the sets; the template writer composes from it
    plausibility: PlausibilityFilter | None = None  # judges LLM sentences; None: verification only
    sampler: CooccurrenceSampler | None = None  # draws top-up sets too

    def requests(self) -> list[list[int]]:
        """Set indices per request."""
        ids = list(range(len(self.sets)))
        return [ids[i : i + self.sets_per_request] for i in range(0, len(ids), self.sets_per_request)]


def plan_corpus(
    vocabulary: Vocabulary, sentences: int, seed: int, min_per_label: int, backend: SentenceBackend | BackendShape,
    knowledge: Knowledge | None = None, plausibility: PlausibilityFilter | None = None,
) -> CorpusPlan:
    """The label sets a corpus of `sentences` sets (raised for coverage) asks `backend` for,
    drawn with the co-occurrences of `knowledge` (None: the vocabulary's own, lzt.vocab.knowledge).
    plausibility: the filter LLM sentences must pass (None: verification only)."""
    knowledge = knowledge if knowledge is not None else load_knowledge(vocabulary)
    sampler = CooccurrenceSampler(knowledge, seed)
    sets = sampler.sets(sentences, min_per_label)
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
        "sampling": SAMPLING_ID,
        "knowledge": knowledge.digest(),
        "filter": plausibility.id if plausibility is not None else None,
        # The vocabulary itself, so that building from this file needs no separate vocabulary.
        "label_names": [[label.name, *label.synonyms] for label in vocabulary.labels],
    }
    return CorpusPlan(vocabulary, sets, backend.sets_per_request, header, knowledge, plausibility, sampler)


def corpus_vocabulary(path: Path) -> Vocabulary:
    """The vocabulary a corpus file was generated for (recorded in its header)."""
    header, _, _ = _read_lines(Path(path))
    if header is None or not header.get("label_names"):
        raise LztError(f"{path} does not record its vocabulary: pass `labels`")
    return Vocabulary(tuple(Label(names[0], tuple(names[1:])) for names in header["label_names"]), str(path))


def _read_lines(path: Path) -> tuple[dict | None, list[dict], int]:
    """Header, records, and the byte length of the valid prefix. Only the last line may be
    broken (written partly when the process died); a broken line before it is an error."""
    header, records, valid_end = None, [], 0
    # Shipped corpora are gzipped (read-only); files being written are plain.
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rb") as handle:
        lines = handle.readlines()
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        try:
            obj = json.loads(raw) if raw.endswith(b"\n") or not last else None
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            if last:
                break
            raise LztError(f"{path}:{number} is not a JSON object; the corpus file is damaged")
        valid_end += len(raw)
        if header is None and obj.get("format") == CORPUS_FORMAT:
            header = obj
        else:
            records.append(obj)
    return header, records, valid_end


def _same_corpus(existing: dict, header: dict) -> bool:
    keys = ("vocabulary", "seed", "min_per_label", "sets_per_request", "model", "prompt", "sampling", "knowledge", "filter")
    return all(existing.get(k) == header.get(k) for k in keys)


@dataclass
class _Request:
    key: int | str  # "request" in the lines: plan requests count 0.., top-up ones "t<round>.<n>"
    set_ids: list  # "set" in the lines: plan sets are ints, top-up sets "t<round>.<n>"
    label_sets: list[list[str]]


class _CorpusFile:
    """The corpus being appended to: what it already holds, and whole requests appended with
    one write + fsync each, so a crash loses at most the requests still in flight."""

    def __init__(self, path: Path, plan: CorpusPlan, writable: bool = True):
        self.path = path
        self.done: set = set()
        self.label_counts = [0] * len(plan.vocabulary)
        self.verified_lines = 0
        self.topup_rounds: dict[int, list[list[str]]] = {}
        self._index = plan.vocabulary.index()
        self.handle = None
        if path.exists() and path.stat().st_size > 0:
            self._load(plan, truncate_torn_tail=writable)
        elif writable:
            path.write_text(json.dumps(plan.header) + "\n", encoding="utf-8")
        if writable:
            self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115  (appended to per request; close() closes it)

    def _load(self, plan: CorpusPlan, truncate_torn_tail: bool) -> None:
        header, records, valid_end = _read_lines(self.path)
        if header is None:
            raise LztError(f"{self.path} exists and is not an lzt corpus; choose another `out`")
        if not _same_corpus(header, plan.header):
            raise LztError(
                f"{self.path} was generated with other settings (vocabulary, seed, model, prompt, knowledge or filter); "
                "use another `out`, or delete it to start over"
            )
        if truncate_torn_tail and valid_end < self.path.stat().st_size:
            with open(self.path, "r+b") as handle:  # drop the torn tail before appending
                handle.truncate(valid_end)
        for record in records:
            if "topup" in record:
                self.topup_rounds[int(record["topup"])] = record["sets"]
            elif "set" in record:
                self._count(record)

    def _count(self, record: dict) -> None:
        self.done.add(record["set"])
        self.verified_lines += bool(record.get("labels"))
        for label in record.get("labels") or ():
            if label in self._index:
                self.label_counts[self._index[label]] += 1

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        if self.handle is None:
            raise LztError(f"{self.path} was opened read-only")
        self.handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self.handle.flush()
        os.fsync(self.handle.fileno())
        for record in records:
            if "set" in record:
                self._count(record)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


_END = object()


def _unordered(items: Iterable, call: Callable, concurrency: int, stop: Callable[[], bool]) -> Iterator[tuple]:
    """(item, result or exception) as calls finish, at most `concurrency` in flight; no new call
    once `stop()` is true. Daemon threads, so that Ctrl-C leaves at once instead of waiting
    for requests in flight (they were not written, so a resumed run asks them again)."""
    results: queue.Queue = queue.Queue()
    source = iter(items)
    in_flight = 0

    def work(item) -> None:
        try:
            outcome = call(item)
        except BaseException as exc:  # handed to the main thread, which decides
            outcome = exc
        results.put((item, outcome))

    while True:
        while in_flight < concurrency and not stop():
            item = next(source, _END)
            if item is _END:
                break
            threading.Thread(target=work, args=(item,), daemon=True, name="lzt-llm-request").start()
            in_flight += 1
        if in_flight == 0:
            return
        item, outcome = results.get()
        in_flight -= 1
        yield item, outcome


class _Generation:
    """One run of write_corpus: requests out, verified lines in."""

    def __init__(self, plan, backend, corpus: _CorpusFile, stats, concurrency, on_progress):
        self.plan, self.backend, self.corpus, self.stats = plan, backend, corpus, stats
        self.concurrency = max(1, concurrency)
        self.on_progress = on_progress or (lambda stats: None)
        self.matcher = MentionMatcher(plan.vocabulary)
        # The template writer's sentences are composed from the knowledge: only LLM prose is judged.
        self.judge = plan.plausibility if getattr(backend, "judged", True) else None

    def records(self, request: _Request, sentences: Sequence[str | None]) -> list[dict]:
        records = []
        for set_id, requested, sentence in zip(request.set_ids, request.label_sets, sentences):
            if set_id in self.corpus.done:
                continue  # a request rerun because only part of it reached the disk
            labels = self.matcher.labels(sentence) if sentence else []
            rejected = self.judge.reasons(sentence) if labels and sentence and self.judge is not None else []
            record = {
                "set": set_id, "request": request.key, "sentence": sentence, "labels": [] if rejected else labels,
                "requested": list(requested), "model": self.backend.name, "prompt": self.backend.prompt_id,
            }
            if rejected:
                record["rejected"] = rejected
            self.stats.verified += bool(labels) and not rejected
            self.stats.dropped += not labels
            self.stats.rejected += bool(rejected)
            records.append(record)
        return records

    def run(self, requests: list[_Request]) -> None:
        """All requests, in order of completion. A request that fails after its retries stops
        new ones; those in flight are still written; then the error is raised."""
        failure: list[LztError] = []
        calls = _unordered(requests, lambda r: self.backend.write(r.label_sets), self.concurrency, lambda: bool(failure))
        for request, outcome in calls:
            self.stats.requests += 1
            if isinstance(outcome, BaseException):
                self.stats.failed_requests += 1
                if not isinstance(outcome, LztError):
                    raise outcome  # a bug, not a failed request
                failure.append(outcome)
                continue
            records = self.records(request, outcome)
            self.corpus.append(records)
            self.stats.written += len(records)
            self.on_progress(self.stats)
        if failure:
            raise failure[0]

    def plan_requests(self) -> list[_Request]:
        names = self.plan.vocabulary.names
        requests = []
        for number, ids in enumerate(self.plan.requests()):
            if not all(i in self.corpus.done for i in ids):
                requests.append(_Request(number, ids, [[names[j] for j in self.plan.sets[i]] for i in ids]))
        return requests

    def topup_requests(self, round_: int, sets: list[list[str]]) -> list[_Request]:
        size = self.plan.sets_per_request
        requests = []
        for start in range(0, len(sets), size):
            ids = [f"t{round_}.{i}" for i in range(start, min(start + size, len(sets)))]
            if not all(i in self.corpus.done for i in ids):
                requests.append(_Request(f"t{round_}.{start // size}", ids, sets[start : start + size]))
        return requests

    def topup(self) -> None:
        """Rounds of extra sets for labels short of verified sentences. Each round's sets are
        written to the file before they are asked, so a resumed run finishes that same round."""
        min_per_label, seed = self.plan.header.get("min_per_label", 0), self.plan.header.get("seed", 0)
        names = self.plan.vocabulary.names
        for round_ in range(1, TOPUP_ROUNDS + 1):
            sets = self.corpus.topup_rounds.get(round_)
            if sets is None:
                indices = topup_label_sets(self.corpus.label_counts, min_per_label, seed, round_, sampler=self.plan.sampler)
                if not indices:
                    return
                sets = [[names[j] for j in s] for s in indices]
                self.corpus.append([{"topup": round_, "sets": sets}])
                self.corpus.topup_rounds[round_] = sets
            requests = self.topup_requests(round_, sets)
            pending = sum(len(r.set_ids) for r in requests)
            self.stats.requested_sets += pending
            self.stats.topup_sets += pending
            self.run(requests)


def corpus_is_complete(plan: CorpusPlan, path: Path) -> bool:
    """True when write_corpus would make no request for this plan and file, so a caller
    can skip starting an LLM at all (a cached corpus, a finished `lzt generate`)."""
    path = Path(path)
    if not path.is_file():
        return False
    corpus = _CorpusFile(path, plan, writable=False)
    if any(i not in corpus.done for i in range(len(plan.sets))):
        return False
    min_per_label, seed = plan.header.get("min_per_label", 0), plan.header.get("seed", 0)
    for round_ in range(1, TOPUP_ROUNDS + 1):
        sets = corpus.topup_rounds.get(round_)
        if sets is None:
            return not topup_label_sets(corpus.label_counts, min_per_label, seed, round_, sampler=plan.sampler)
        if any(f"t{round_}.{i}" not in corpus.done for i in range(len(sets))):
            return False
    return True


def write_corpus(
    plan: CorpusPlan,
    backend: SentenceBackend,
    path: Path,
    concurrency: int = 4,
    on_progress: Callable[[GenerationStats], None] | None = None,
) -> GenerationStats:
    """Run the requests that `path` does not hold yet, appending each request's lines as one
    write as soon as it completes, then top up labels that have fewer than the plan's
    `min_per_label` verified sentences. Safe to interrupt at any point and run again: no
    request whose lines are on disk is asked again, and no line is written twice."""
    path = Path(path)
    use_knowledge(backend, plan)
    corpus = _CorpusFile(path, plan)
    try:
        done_in_plan = sum(1 for i in range(len(plan.sets)) if i in corpus.done)
        stats = GenerationStats(requested_sets=len(plan.sets), already_done=done_in_plan)
        generation = _Generation(plan, backend, corpus, stats, concurrency, on_progress)
        generation.on_progress(stats)  # show where a resumed run starts before its first reply
        generation.run(generation.plan_requests())
        generation.topup()
        min_per_label = plan.header.get("min_per_label", 0)
        names = plan.vocabulary.names
        stats.short_labels = [names[i] for i, c in enumerate(corpus.label_counts) if c < min_per_label]
        stats.corpus_verified = corpus.verified_lines
    finally:
        corpus.close()
    return stats


def read_corpus_file(path: Path) -> tuple[dict, list[dict]]:
    """A finished corpus file's header and records; an LztError when it is missing or not one."""
    path = Path(path)
    if not path.is_file():
        raise LztError(f"no corpus file at {path}")
    header, records, _ = _read_lines(path)
    if header is None:
        raise LztError(f"{path} is not an lzt corpus file")
    return header, records


def read_corpus(path: Path, vocabulary: Vocabulary) -> list[CorpusEntry]:
    """Verified sentences of a corpus file (re-checked against `vocabulary`)."""
    _, records = read_corpus_file(path)
    matcher = MentionMatcher(vocabulary)
    entries = []
    for record in records:
        sentence = record.get("sentence")
        if sentence and not record.get("rejected"):
            labels = matcher.labels(sentence)  # the vocabulary may have gained synonyms since
            if labels:
                entries.append(CorpusEntry(sentence, labels))
    if not entries:
        raise LztError(f"{path} holds no sentence that mentions a label of this vocabulary")
    return entries


def entries_from_backend(plan: CorpusPlan, backend: SentenceBackend) -> Iterator[CorpusEntry]:
    """In-memory generation for backends that cost nothing (template): no file involved."""
    use_knowledge(backend, plan)
    matcher = MentionMatcher(plan.vocabulary)
    names = plan.vocabulary.names
    for request in plan.requests():
        sentences = backend.write([[names[j] for j in plan.sets[i]] for i in request])
        for sentence in sentences:
            labels = matcher.labels(sentence) if sentence else []
            if sentence and labels:
                yield CorpusEntry(sentence, labels)


def balanced_subset(entries: Sequence[CorpusEntry], vocabulary: Vocabulary, budget: int, seed: int = 0) -> list[CorpusEntry]:
    """At most `budget` entries chosen so that the rarest labels keep as many sentences as
    possible: passes over the entries in a seeded order, the n-th pass taking an entry when one
    of its labels has fewer than n sentences so far. The entries keep their corpus order."""
    if len(entries) <= budget:
        return list(entries)
    index = vocabulary.index()
    order = list(range(len(entries)))
    random.Random(f"{seed}|balanced-subset").shuffle(order)
    counts = [0] * len(vocabulary)
    taken: set[int] = set()
    cap = 0
    while len(taken) < budget:
        cap += 1
        before = len(taken)
        for i in order:
            if i in taken:
                continue
            labels = [index[name] for name in entries[i].labels if name in index]
            if any(counts[j] < cap for j in labels):
                taken.add(i)
                for j in labels:
                    counts[j] += 1
                if len(taken) >= budget:
                    break
        if len(taken) == before:
            break
    return [entries[i] for i in sorted(taken)]


def use_knowledge(backend: SentenceBackend, plan: CorpusPlan) -> None:
    """Hand the plan's knowledge to a backend that composes from it (the template writer)."""
    bind = getattr(backend, "use_knowledge", None)
    if bind is not None and plan.knowledge is not None:
        bind(plan.knowledge)


def corpus_digest(entries: Iterable[CorpusEntry]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(json.dumps([entry.sentence, entry.labels]).encode() + b"\n")
    return digest.hexdigest()
