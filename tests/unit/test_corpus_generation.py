"""The corpus file: append-only writing, resume after a crash or a torn write, top-up of labels
short of verified sentences, the bound on requests in flight. The LLM here is a scripted
in-process writer (fakes.ScriptedWriter), since these tests are about the file;
tests/e2e/test_llm_local.py runs the same code against the real local model server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import pytest

from fakes import ScriptedKind, ScriptedWriter
from lzt.errors import LztError, LztWarning
from lzt.text import LLMConfig, backend_names, generate_corpus, register_backend
from lzt.text.backends import base
from lzt.text.corpus import TOPUP_ROUNDS, corpus_is_complete, plan_corpus, read_corpus, write_corpus
from lzt.text.sampling import sample_label_sets, topup_label_sets
from lzt.vocab import load_vocabulary

VOC = load_vocabulary("voc")


def lines(path: Path) -> tuple[dict, list[dict]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return rows[0], rows[1:]


def outcome_lines(path: Path) -> list[dict]:
    return [r for r in lines(path)[1] if "set" in r]


def assert_no_duplicates(path: Path) -> None:
    counts = Counter(r["set"] for r in outcome_lines(path))
    assert [s for s, n in counts.items() if n > 1] == []


def test_fresh_run_writes_one_line_per_set(tmp_path: Path) -> None:
    writer = ScriptedWriter()
    plan = plan_corpus(VOC, 30, seed=1, min_per_label=1, backend=writer)
    stats = write_corpus(plan, writer, tmp_path / "c.jsonl", concurrency=2)
    header, _ = lines(tmp_path / "c.jsonl")
    rows = outcome_lines(tmp_path / "c.jsonl")
    assert header["format"] == "lzt-corpus" and header["model"] == "scripted"
    assert sorted(r["set"] for r in rows) == list(range(len(plan.sets)))
    assert all(r["labels"] == sorted(r["requested"], key=VOC.names.index) for r in rows)
    assert stats.written == stats.verified == len(plan.sets) and stats.dropped == 0
    assert stats.requests == len(plan.requests())
    assert corpus_is_complete(plan, tmp_path / "c.jsonl")


def test_resume_after_failure_asks_only_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    failing = ScriptedWriter(fail_at=4)
    plan = plan_corpus(VOC, 40, seed=2, min_per_label=0, backend=failing)
    with pytest.raises(LztError, match="scripted failure"):
        write_corpus(plan, failing, path, concurrency=1)
    first = outcome_lines(path)
    assert len(first) == 4 * failing.sets_per_request
    assert not corpus_is_complete(plan, path)

    writer = ScriptedWriter()
    stats = write_corpus(plan, writer, path, concurrency=3)
    assert stats.already_done == len(first)
    assert len(writer.asked) == len(plan.sets) - len(first)  # nothing asked twice
    assert sorted(r["set"] for r in outcome_lines(path)) == list(range(len(plan.sets)))
    assert_no_duplicates(path)


def test_failure_stops_new_requests_and_keeps_finished_ones(tmp_path: Path) -> None:
    writer = ScriptedWriter(fail_at=2, delay=0.05)
    plan = plan_corpus(VOC, 60, seed=3, min_per_label=0, backend=writer)
    with pytest.raises(LztError):
        write_corpus(plan, writer, tmp_path / "c.jsonl", concurrency=4)
    # Requests 0 and 1 were in flight when 2 and 3 failed: they are written, nothing else starts.
    assert len(outcome_lines(tmp_path / "c.jsonl")) == len(writer.asked) == 2 * writer.sets_per_request


def test_torn_last_line_is_cut_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter(sets_per_request=1)
    plan = plan_corpus(VOC, 12, seed=4, min_per_label=0, backend=writer)
    with pytest.raises(LztError):
        write_corpus(plan, ScriptedWriter(sets_per_request=1, fail_at=5), path, concurrency=1)
    with open(path, "a") as handle:
        handle.write('{"set": 5, "request": 5, "sentence": "A half-writ')  # the process died here
    stats = write_corpus(plan, writer, path, concurrency=2)
    assert stats.already_done == 5 and stats.written == len(plan.sets) - 5
    assert sorted(r["set"] for r in outcome_lines(path)) == list(range(len(plan.sets)))
    assert_no_duplicates(path)


def test_damaged_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter()
    plan = plan_corpus(VOC, 10, seed=5, min_per_label=0, backend=writer)
    write_corpus(plan, writer, path)
    text = path.read_text().splitlines()
    text[2] = "not json"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(LztError, match=":3 is not a JSON object"):
        write_corpus(plan, writer, path)


def test_other_settings_or_other_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter()
    write_corpus(plan_corpus(VOC, 10, seed=5, min_per_label=0, backend=writer), writer, path)
    with pytest.raises(LztError, match="other settings"):
        write_corpus(plan_corpus(VOC, 10, seed=6, min_per_label=0, backend=writer), writer, path)
    other = tmp_path / "notes.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(LztError, match="not an lzt corpus"):
        write_corpus(plan_corpus(VOC, 10, seed=5, min_per_label=0, backend=writer), writer, other)


def test_a_larger_run_extends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter()
    small = plan_corpus(VOC, 30, seed=7, min_per_label=1, backend=writer)
    write_corpus(small, writer, path)
    large = plan_corpus(VOC, 60, seed=7, min_per_label=1, backend=writer)
    assert large.sets[: len(small.sets)] == small.sets  # sampling is prefix-stable
    more = ScriptedWriter()
    write_corpus(large, more, path)
    assert len(more.asked) == len(large.sets) - len(small.sets)
    assert sorted(r["set"] for r in outcome_lines(path)) == list(range(len(large.sets)))


def test_topup_fills_labels_short_of_verified_sentences(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    class ShyWriter(ScriptedWriter):
        """Names "sheep" only once the plan's sets are all asked, that is in top-up sets."""

        quiet_for = 0

        def sentence(self, labels: Sequence[str]) -> str:
            said = [label for label in labels if label != "sheep" or len(self.asked) > self.quiet_for]
            return f"A photo of {' and '.join(said)}." if said else "An empty field."

    writer = ShyWriter(sets_per_request=4)
    plan = plan_corpus(VOC, 30, seed=8, min_per_label=3, backend=writer)
    writer.quiet_for = len(plan.sets)
    stats = write_corpus(plan, writer, path)
    counts = Counter(label for r in outcome_lines(path) for label in r["labels"])
    assert all(counts[name] >= 3 for name in VOC.names), counts
    assert stats.topup_sets > 0 and stats.short_labels == []
    plan_lines = [r for r in lines(path)[1] if "topup" in r]
    assert [r["topup"] for r in plan_lines] == [1]
    assert Counter(s[0] for s in plan_lines[0]["sets"])["sheep"] >= 1
    topup_rows = [r for r in outcome_lines(path) if isinstance(r["set"], str)]
    assert len(topup_rows) == stats.topup_sets
    assert corpus_is_complete(plan, path)
    again = ShyWriter(sets_per_request=4)
    again.quiet_for = len(plan.sets)
    write_corpus(plan, again, path)
    assert again.asked == []  # a finished corpus costs nothing


def test_topup_gives_up_after_its_rounds(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter(never=["tv monitor"])
    plan = plan_corpus(VOC, 30, seed=9, min_per_label=2, backend=writer)
    stats = write_corpus(plan, writer, path)
    assert stats.short_labels == ["tv monitor"]
    rounds = [r["topup"] for r in lines(path)[1] if "topup" in r]
    assert rounds == list(range(1, TOPUP_ROUNDS + 1))
    again = ScriptedWriter(never=["tv monitor"])
    write_corpus(plan, again, path)
    assert again.asked == [] and corpus_is_complete(plan, path)


def test_topup_resumes_the_same_round(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    plan = plan_corpus(VOC, 25, seed=10, min_per_label=3, backend=ScriptedWriter(sets_per_request=1))
    main_requests = len(plan.requests())
    # Everything sheep-related is dropped in the main plan; the run dies two requests into top-up.
    dying = ScriptedWriter(sets_per_request=1, never=["sheep", "cow"], fail_at=main_requests + 2)
    with pytest.raises(LztError):
        write_corpus(plan, dying, path, concurrency=1)
    planned = [r for r in lines(path)[1] if "topup" in r]
    assert len(planned) == 1
    writer = ScriptedWriter(sets_per_request=1)
    write_corpus(plan, writer, path, concurrency=1)
    # The resumed run first asks the rest of round 1, exactly as planned...
    rest = planned[0]["sets"][2:]
    assert writer.asked[: len(rest)] == rest
    assert sorted(r["set"] for r in outcome_lines(path) if str(r["set"]).startswith("t1.")) == sorted(
        f"t1.{i}" for i in range(len(planned[0]["sets"]))
    )
    # ...then a round 2 for the two top-up sentences the dying writer dropped.
    assert [r["topup"] for r in lines(path)[1] if "topup" in r] == [1, 2]
    assert_no_duplicates(path)
    counts = Counter(label for r in outcome_lines(path) for label in r["labels"])
    assert counts["sheep"] >= 3 and counts["cow"] >= 3


def test_requests_in_flight_are_bounded(tmp_path: Path) -> None:
    writer = ScriptedWriter(sets_per_request=1, delay=0.03)
    plan = plan_corpus(VOC, 24, seed=11, min_per_label=0, backend=writer)
    write_corpus(plan, writer, tmp_path / "c.jsonl", concurrency=3)
    assert writer.max_in_flight == 3


def test_progress_callback_sees_every_request(tmp_path: Path) -> None:
    writer = ScriptedWriter(never=["cat"])
    plan = plan_corpus(VOC, 20, seed=12, min_per_label=0, backend=writer)
    seen = []
    stats = write_corpus(plan, writer, tmp_path / "c.jsonl", on_progress=lambda s: seen.append((s.done, s.verified, s.dropped)))
    assert len(seen) == stats.requests + 1  # once before the first request, then per request
    assert seen[0] == (0, 0, 0)
    assert seen[-1] == (len(plan.sets), stats.verified, stats.dropped)
    assert stats.dropped == sum(1 for s in plan.sets if [VOC.names[i] for i in s] == ["cat"])


def test_read_corpus_keeps_verified_sentences_only(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = ScriptedWriter(never=["cat"])
    plan = plan_corpus(VOC, 40, seed=13, min_per_label=1, backend=writer)
    write_corpus(plan, writer, path)
    entries = read_corpus(path, VOC)
    verified = [r for r in outcome_lines(path) if r["labels"]]
    assert len(entries) == len(verified) and all(e.labels for e in entries)
    assert all("cat" not in e.labels for e in entries)


def test_sampling_covers_every_label_and_is_deterministic() -> None:
    sets = sample_label_sets(20, 10, seed=0, min_per_label=4)
    counts = Counter(i for s in sets for i in s)
    assert min(counts[i] for i in range(20)) >= 4
    assert all(1 <= len(s) <= 5 and len(set(s)) == len(s) for s in sets)
    assert sets == sample_label_sets(20, 10, seed=0, min_per_label=4)


def test_topup_sets_lead_with_the_short_label() -> None:
    sets = topup_label_sets([5, 0, 3, 5], min_per_label=5, seed=0, round_=1)
    assert Counter(s[0] for s in sets) == {1: 5, 2: 2}
    assert all(len(set(s)) == len(s) <= 4 for s in sets)
    assert sets == topup_label_sets([5, 0, 3, 5], min_per_label=5, seed=0, round_=1)
    assert topup_label_sets([5, 5], min_per_label=5, seed=0, round_=1) == []


def test_generate_corpus_with_a_registered_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The public generate_corpus with a backend kind registered as a plugin registers one."""
    monkeypatch.setattr(base.BACKENDS, "_entries", dict(base.BACKENDS._entries))  # the registration ends with this test
    writer = ScriptedWriter(never=["cat"])
    register_backend(ScriptedKind(writer))
    assert "scripted" in backend_names()
    out = tmp_path / "new" / "c.jsonl"
    with pytest.warns(LztWarning, match=r"1 label\(s\) still have fewer than 2 verified sentences after top-up: cat"):
        stats = generate_corpus(["cat", "dog", "bus: coach"], out, llm=LLMConfig("scripted"), sentences=12, min_per_label=2, seed=3)
    header, _ = lines(out)
    assert header["model"] == "scripted" and header["label_names"] == [["cat"], ["dog"], ["bus", "coach"]]
    assert stats.short_labels == ["cat"] and stats.requests == len(set(r["request"] for r in outcome_lines(out)))
    asked = len(writer.asked)
    again = generate_corpus(["cat", "dog", "bus: coach"], out, llm=LLMConfig("scripted"), sentences=12, min_per_label=2, seed=3)
    assert again.complete_before and len(writer.asked) == asked  # a finished file costs nothing
