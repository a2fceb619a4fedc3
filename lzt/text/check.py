"""`lzt corpus check`: what a corpus file holds and what is wrong with it.

Counts per label (mentions in verified sentences, re-verified against the vocabulary), label sets,
duplicates, sources (the writer of each line: `template`, `local:...`, `openai:...`), grammar-rule
violations (lzt.text.grammar), implausible pairs (`never` in the knowledge) and unrelated ones,
lines the plausibility filter rejected, and the label co-occurrence matrix. Floors (a minimum of
mentions per label, of label sets) turn it into a pass/fail check.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from lzt.text.corpus import corpus_vocabulary, read_corpus_file, vocabulary_digest
from lzt.text.grammar import RULES, GrammarChecker
from lzt.text.replies import sentence_key
from lzt.vocab import Vocabulary, builtin_label_sets, load_vocabulary
from lzt.vocab.knowledge import NEVER, UNRELATED, Knowledge, load_knowledge
from lzt.vocab.mentions import MentionMatcher

EXAMPLES = 3  # example sentences kept per problem


@dataclass
class CorpusCheck:
    """The findings of check_corpus. Counts are over verified sentences (those that mention a
    label of the vocabulary and were not rejected), except `dropped` and `rejected`."""

    path: str
    labels: list[str]
    knowledge: str  # where the knowledge came from (a file, or "guessed")
    lines: int = 0  # outcome lines (with or without a sentence)
    verified: int = 0  # sentences that mention at least one label: the label sets trained on
    dropped: int = 0  # lines whose sentence mentions no label (or that have none)
    rejected: int = 0  # LLM sentences the plausibility filter turned away when they were written
    stale: int = 0  # verified sentences whose stored labels differ from what they mention now
    per_label: list[int] = field(default_factory=list)
    duplicates: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    sources: Counter = field(default_factory=Counter)
    grammar: Counter = field(default_factory=Counter)
    grammar_examples: dict[str, list[str]] = field(default_factory=dict)
    never_pairs: Counter = field(default_factory=Counter)
    never_examples: list[str] = field(default_factory=list)
    unrelated_sentences: int = 0
    unrelated_by_source: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)  # labels per verified sentence
    cooccurrence: Counter = field(default_factory=Counter)  # (i, j), i < j -> sentences

    @property
    def grammar_violations(self) -> int:
        """Sentences that break at least one grammar rule are counted once per rule broken."""
        return sum(self.grammar.values())

    def sentences_per_label(self) -> dict[str, int]:
        """Label name -> verified sentences that mention it."""
        return dict(zip(self.labels, self.per_label))

    def problems(self, min_per_label: int | None = None, min_sets: int | None = None) -> list[str]:
        """The floors this corpus does not reach (empty when it reaches them all)."""
        problems = []
        if min_sets is not None and self.verified < min_sets:
            problems.append(f"{self.verified:,} label sets (verified sentences), fewer than {min_sets:,}")
        if min_per_label is not None:
            short = [(name, n) for name, n in zip(self.labels, self.per_label) if n < min_per_label]
            if short:
                named = ", ".join(f"{name} ({n})" for name, n in short[:8]) + (" ..." if len(short) > 8 else "")
                problems.append(f"{len(short)} label(s) with fewer than {min_per_label} sentences: {named}")
        return problems

    def top_pairs(self, n: int = 10) -> list[tuple[str, str, int]]:
        """The n most frequent label pairs."""
        return [(self.labels[i], self.labels[j], c) for (i, j), c in self.cooccurrence.most_common(n)]

    def as_dict(self) -> dict:
        """Everything, JSON-ready (the `--json` object); the co-occurrence matrix is sparse:
        label -> {other label: sentences}, both directions."""
        matrix: dict[str, dict[str, int]] = {}
        for (i, j), count in sorted(self.cooccurrence.items()):
            matrix.setdefault(self.labels[i], {})[self.labels[j]] = count
            matrix.setdefault(self.labels[j], {})[self.labels[i]] = count
        counts = self.per_label or [0]
        return {
            "path": self.path, "labels": len(self.labels), "knowledge": self.knowledge,
            "lines": self.lines, "verified": self.verified, "dropped": self.dropped, "rejected": self.rejected, "stale": self.stale,
            "per_label": self.sentences_per_label(),
            "per_label_summary": {"min": min(counts), "median": statistics.median(counts), "max": max(counts)},
            "labels_per_sentence": {str(k): v for k, v in sorted(self.sizes.items())},
            "duplicates": self.duplicates, "duplicate_examples": self.duplicate_examples,
            "sources": dict(self.sources.most_common()),
            "grammar": {rule: self.grammar.get(rule, 0) for rule in RULES}, "grammar_examples": self.grammar_examples,
            "never_pairs": {f"{self.labels[i]} ~ {self.labels[j]}": c for (i, j), c in self.never_pairs.most_common()},
            "never_examples": self.never_examples,
            "unrelated_sentences": self.unrelated_sentences, "unrelated_by_source": dict(self.unrelated_by_source),
            "cooccurrence": matrix,
        }


def _builtin_for(digest: str) -> Vocabulary | None:
    """The built-in vocabulary whose digest a corpus header records, if any."""
    for path in builtin_label_sets().values():
        vocabulary = load_vocabulary(path)
        if vocabulary_digest(vocabulary) == digest:
            return vocabulary
    return None


def _source(record: dict) -> str:
    return str(record.get("model") or "unknown")


def check_corpus(path: str | Path, labels=None, knowledge: str | Path | Knowledge | None = None) -> CorpusCheck:
    """Check a corpus file (plain or gzipped JSON Lines from `generate_corpus`).

    labels: the vocabulary (a set name, a file, a list); None: the one the corpus header records
        (a built-in set when the header's vocabulary digest is one's, so its knowledge is used).
    knowledge: a knowledge file or `Knowledge`; None: the vocabulary's own (or guessed)."""
    path = Path(path)
    header, records = read_corpus_file(path)
    if labels is not None:
        vocabulary = load_vocabulary(labels)
    else:
        vocabulary = _builtin_for(header.get("vocabulary", "")) or corpus_vocabulary(path)
    if not isinstance(knowledge, Knowledge):
        knowledge = load_knowledge(vocabulary, knowledge)
    matcher = MentionMatcher(vocabulary)
    grammar = GrammarChecker(knowledge, matcher)
    report = CorpusCheck(str(path), vocabulary.names, knowledge.source, per_label=[0] * len(vocabulary))
    seen: set[str] = set()
    names = vocabulary.names  # a property that builds its list: once, not per sentence
    for record in records:
        if "set" not in record:
            continue  # a top-up plan line
        report.lines += 1
        if record.get("rejected"):
            report.rejected += 1
            continue
        sentence = record.get("sentence") or ""
        mentions = matcher.mentions(sentence)
        found = sorted({mention.label for mention in mentions})  # as matcher.label_indices gives them
        if not found:
            report.dropped += 1
            continue
        report.verified += 1
        source = _source(record)
        report.sources[source] += 1
        report.sizes[len(found)] += 1
        if sorted(record.get("labels") or []) != sorted(names[i] for i in found):
            report.stale += 1
        for i in found:
            report.per_label[i] += 1
        key = sentence_key(sentence)
        if key in seen:
            report.duplicates += 1
            if len(report.duplicate_examples) < EXAMPLES:
                report.duplicate_examples.append(sentence)
        seen.add(key)
        for violation in grammar.violations(sentence, mentions):
            report.grammar[violation.rule] += 1
            examples = report.grammar_examples.setdefault(violation.rule, [])
            if len(examples) < EXAMPLES:
                examples.append(sentence)
        unrelated = False
        for a, b in combinations(found, 2):
            report.cooccurrence[(a, b)] += 1
            relation = knowledge.relation(a, b)
            if relation == NEVER:
                report.never_pairs[(a, b)] += 1
                if len(report.never_examples) < EXAMPLES:
                    report.never_examples.append(sentence)
            unrelated |= relation == UNRELATED
        if unrelated:
            report.unrelated_sentences += 1
            report.unrelated_by_source[source] += 1
    return report


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def summary(report: CorpusCheck, top: int = 10) -> list[str]:
    """The human-readable report, one line per finding."""
    counts = report.per_label or [0]
    low = min(range(len(counts)), key=counts.__getitem__)
    high = max(range(len(counts)), key=counts.__getitem__)
    verified = report.verified
    lines = [
        f"{report.path}: {report.lines:,} lines, {verified:,} verified sentences (label sets) for {len(report.labels):,} labels; "
        f"{report.dropped:,} mention no label, {report.rejected:,} were rejected by the plausibility filter",
        "sources: " + "; ".join(f"{name} {n:,} ({_share(n, verified)})" for name, n in report.sources.most_common()),
        f"sentences per label: min {counts[low]:,} ({report.labels[low]}), median {statistics.median(counts):,.0f}, "
        f"max {counts[high]:,} ({report.labels[high]}); labels per sentence: "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(report.sizes.items())),
        f"duplicates: {report.duplicates:,} sentences repeat an earlier one ({_share(report.duplicates, verified)})",
        f"grammar: {report.grammar_violations:,} violations"
        + (" (" + ", ".join(f"{rule} {n:,}" for rule, n in report.grammar.most_common()) + ")" if report.grammar else ""),
        f"implausible pairs (never): {sum(report.never_pairs.values()):,}"
        + (" (" + ", ".join(f"{report.labels[i]} ~ {report.labels[j]} {c}" for (i, j), c in report.never_pairs.most_common(5)) + ")" if report.never_pairs else "")
        + f"; sentences with a pair the knowledge does not relate: {report.unrelated_sentences:,} ({_share(report.unrelated_sentences, verified)})",
        f"knowledge: {report.knowledge}; stale labels (stored labels differ from the mentions): {report.stale:,}",
    ]
    if top and report.cooccurrence:
        lines.append("most frequent pairs: " + ", ".join(f"{a} + {b} {c:,}" for a, b, c in report.top_pairs(top)))
    for rule, examples in report.grammar_examples.items():
        lines.append(f"  {rule}: e.g. {examples[0]!r}")
    for example in report.never_examples[:1]:
        lines.append(f"  never: e.g. {example!r}")
    return lines
