"""Backend choice, retry timing rules, prompts, and the `lzt generate` CLI paths that need no
model server (template writer, --dry-run, errors before anything starts)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from lzt.errors import LztError, UsageError
from lzt.text.backends import LLMConfig, backend_kind, backend_shape, create_backend
from lzt.text.backends.openai import RetryPolicy, _retry_after, needs_api_key
from lzt.text.backends.template import TemplateBackend
from lzt.text.prompts import load_prompt
from support import invoke


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """`lzt ARGS` in this process: exit code, stdout, stderr."""
    run = invoke(*args, check=None)
    return run.returncode, run.stdout, run.stderr


# --- retry timing ------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    random.seed(0)
    for attempt in range(8):
        delays = [policy.delay(attempt, None) for _ in range(200)]
        cap = min(60.0, 2.0**attempt)
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > 0.8 * cap and min(delays) < 0.2 * cap  # spread over [0, cap]


def test_retry_after_wins_when_longer() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    assert policy.delay(0, 7.0) == 7.0
    assert policy.delay(0, 10_000.0) == 10.0  # a silly Retry-After is capped at 5 x max_delay
    assert policy.delay(0, 0.0) <= 0.1


def response_with(headers: dict) -> SimpleNamespace:
    return SimpleNamespace(response=SimpleNamespace(headers=headers))


def test_retry_after_header_forms() -> None:
    assert _retry_after(response_with({"retry-after": "3"})) == 3.0
    assert _retry_after(response_with({"retry-after": "1.5"})) == 1.5
    assert _retry_after(response_with({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= _retry_after(response_with({"retry-after": when})) <= 31
    assert _retry_after(response_with({"retry-after": "soon"})) is None
    assert _retry_after(response_with({})) is None
    assert _retry_after(ValueError("no response")) is None


# --- choosing a backend --------------------------------------------------------------------------


def test_api_key_needed_for_openai_only() -> None:
    assert needs_api_key(None) and needs_api_key("https://api.openai.com/v1")
    assert not needs_api_key("http://localhost:11434/v1") and not needs_api_key("http://10.0.0.5:8000/v1")


def test_openai_without_key_or_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LztError, match=r"API key in \$OPENAI_API_KEY"):
        create_backend(LLMConfig("openai", "gpt-4o-mini"), 0)
    with pytest.raises(UsageError, match=r"`LLMConfig\.model`"):
        create_backend(LLMConfig("openai"), 0)
    with pytest.raises(UsageError, match=r"unknown `LLMConfig\.kind`"):
        create_backend(LLMConfig("gpt"), 0)


def test_self_hosted_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = create_backend(LLMConfig("openai", "llama3.2", "http://localhost:11434/v1"), 0)
    try:
        assert backend.name == "openai:llama3.2" and backend.sets_per_request == 10
        assert backend.prompt_id == "sentences-batch"
    finally:
        backend.close()
    one = create_backend(LLMConfig("openai", "llama3.2", "http://localhost:11434/v1", prompt="sentence"), 0)
    assert one.sets_per_request == 1
    one.close()


def test_backend_shape_matches_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    backend = create_backend(LLMConfig("openai", "gpt-4o-mini"), 0)
    shape = backend_shape(LLMConfig("openai", "gpt-4o-mini"))
    assert (shape.name, shape.prompt_id, shape.sets_per_request) == (backend.name, backend.prompt_id, backend.sets_per_request)
    backend.close()
    template = TemplateBackend(0)
    assert backend_shape(LLMConfig("template")).name == template.name
    assert backend_kind("local").sets_per_request(LLMConfig("local")) == 1
    assert backend_kind("openai").sets_per_request(LLMConfig("openai", prompt="sentence")) == 1


def test_prompts_by_name_and_path(tmp_path: Path) -> None:
    one = load_prompt("sentence")
    assert not one.batched and "a cat, a dog and an apple" in one.render([["cat", "dog", "apple"]])
    batch = load_prompt("sentences-batch")
    text = batch.render([["cat"], ["dog", "car"]])
    assert batch.batched and "1. cat\n2. dog, car" in text and "{count}" not in text and " 2 " in text
    custom = tmp_path / "mine.txt"
    custom.write_text("# my prompt\nDescribe {labels} in one line.\n")
    assert load_prompt(str(custom)).render([["bus"]]) == "Describe a bus in one line."
    custom.write_text("No placeholder here.\n")
    with pytest.raises(LztError, match="needs"):
        load_prompt(str(custom))
    with pytest.raises(LztError, match="no prompt"):
        load_prompt("no-such-prompt")


# --- the CLI without a model server --------------------------------------------------------------


def test_dry_run_spends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "c.jsonl"
    code, stdout, _ = run_cli(
        ["generate", "--labels", "voc", "--llm", "openai", "--llm-model", "gpt-4o-mini", "--sentences", "1000", "--out", str(out), "--dry-run"],
    )
    assert code == 0 and not out.exists()
    assert "1000 label sets, 100 requests" in stdout and "prompt + " in stdout
    prompt_tokens = int(stdout.split("about ")[1].split(" prompt")[0].replace(",", ""))
    assert 5_000 < prompt_tokens < 50_000
    code, stdout, _ = run_cli(["generate", "--labels", "voc", "--llm", "local", "--sentences", "40", "--out", str(out), "--dry-run"])
    assert code == 0 and "40 label sets, 40 requests" in stdout and not out.exists()
    # Without --llm, `lzt generate` uses the template writer, like build-classifier.
    code, stdout, _ = run_cli(["generate", "--labels", "voc", "--sentences", "40", "--out", str(out), "--dry-run"])
    assert code == 0 and "the template writer makes no LLM requests" in stdout and not out.exists()


def test_generate_with_the_template_writer_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "c.jsonl"
    args = ["generate", "--labels", "voc", "--llm", "template", "--sentences", "50", "--out", str(out)]
    code, stdout, stderr = run_cli(args)
    assert code == 0 and stdout == ""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["format"] == "lzt-corpus" and len(rows) == 51
    assert "50 verified, 0 dropped (drop rate 0.0%)" in stderr
    code, _, stderr = run_cli(args)
    assert code == 0 and "nothing to do" in stderr and len(out.read_text().splitlines()) == 51


def test_generate_refuses_another_corpus(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    run_cli(["generate", "--labels", "voc", "--llm", "template", "--sentences", "30", "--out", str(out)])
    code, _, stderr = run_cli(["generate", "--labels", "voc", "--llm", "template", "--seed", "3", "--sentences", "30", "--out", str(out)])
    assert code == 1 and "other settings" in stderr


def test_generate_openai_errors_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = tmp_path / "c.jsonl"
    code, _, stderr = run_cli(["generate", "--labels", "voc", "--llm", "openai", "--out", str(out)])
    assert code == 2 and "--llm-model" in stderr
    code, _, stderr = run_cli(["generate", "--labels", "voc", "--llm", "openai", "--llm-model", "gpt-4o-mini", "--out", str(out)])
    assert code == 1 and "OPENAI_API_KEY" in stderr and not out.exists()
