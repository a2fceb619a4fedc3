"""Fakes that several test files share, imported as `fakes` (tests/ is on sys.path).

ScriptedWriter: a deterministic in-process sentence backend (the SentenceBackend contract) for
tests about the corpus file, resume and top-up, where the model's prose does not matter;
ScriptedKind registers one in the backend registry, as a plugin does.

FaultProxy: a fault-injecting HTTP proxy that stands in front of a REAL OpenAI-compatible server
(the local llama.cpp server) and, request by request, follows a schedule of faults.

Schedule entries (one per POST; "ok" once the schedule runs out):
    ok              forward to the real server
    429:S           HTTP 429 with Retry-After: S (seconds)
    500 / 502 / 503 that HTTP status with an OpenAI-style JSON error body
    400             a non-retryable client error
    timeout:S       hold the request S seconds without answering (the client should give up)
    drop            close the connection without any response
    echo-auth:CODE  answer CODE with the request's Authorization header in the body (a server
                    that leaks the key into its error message)

With `reasoning_model=True` the proxy also answers like OpenAI's o-series models: HTTP 400 for
`max_tokens` (they want `max_completion_tokens`) and for a non-default `temperature`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence

from lzt.errors import LLMError
from lzt.text.backends import BackendShape, LLMConfig


class ScriptedWriter:
    """Mentions every requested label except those in `never`; fails (LLMError, as a real
    backend does after its retries) from request `fail_at` on; remembers every label set it
    was asked for and the most requests it had in flight at once."""

    name = "scripted"
    prompt_id = "scripted-v1"

    def __init__(self, sets_per_request: int = 3, never: Sequence[str] = (), fail_at: int | None = None, delay: float = 0.0):
        self.sets_per_request = sets_per_request
        self.never = set(never)
        self.fail_at = fail_at
        self.delay = delay
        self.asked: list[list[str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def write(self, label_sets: Sequence[Sequence[str]]) -> list[str | None]:
        with self._lock:
            if self.fail_at is not None and len(self.asked) // self.sets_per_request >= self.fail_at:
                raise LLMError("scripted failure")
            self.asked.extend(list(s) for s in label_sets)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        return [self.sentence(labels) for labels in label_sets]

    def sentence(self, labels: Sequence[str]) -> str:
        said = [label for label in labels if label not in self.never]
        return f"A photo of {' and '.join(said)}." if said else "An empty room."

    def close(self) -> None:
        pass


class ScriptedKind:
    """A backend kind (the registry's contract, as a plugin would write one) that hands out one
    given ScriptedWriter: `register_backend(ScriptedKind(writer))`, then `LLMConfig("scripted")`."""

    name = "scripted"
    description = "scripted sentences for tests"
    default_concurrency = 2

    def __init__(self, writer: ScriptedWriter):
        self.writer = writer

    def prompt(self, config: LLMConfig) -> None:
        return None

    def sets_per_request(self, config: LLMConfig) -> int:
        return self.writer.sets_per_request

    def shape(self, config: LLMConfig) -> BackendShape:
        return BackendShape(self.writer.name, self.writer.prompt_id, self.writer.sets_per_request)

    def create(self, config: LLMConfig, seed: int) -> ScriptedWriter:
        return self.writer


@dataclass
class Hit:
    at: float  # time.monotonic() when the request arrived
    path: str
    action: str


class FaultProxy:
    def __init__(self, upstream: str, schedule: Sequence[str] = (), reasoning_model: bool = False):
        self.upstream = upstream.rstrip("/")  # e.g. http://127.0.0.1:PORT (no /v1)
        self.schedule = list(schedule)
        self.reasoning_model = reasoning_model
        self.bodies: list[dict] = []  # JSON bodies of the POSTs, in arrival order
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_action(self, path: str) -> str:
        with self._lock:
            action = self.schedule.pop(0) if self.schedule else "ok"
            self.hits.append(Hit(time.monotonic(), path, action))
            return action

    def actions(self) -> list[str]:
        return [hit.action for hit in self.hits]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy.next_action(self.path)
                kind, _, argument = action.partition(":")
                options = json.loads(body or b"{}")
                proxy.bodies.append(options)
                if kind == "ok" and proxy.reasoning_model and "max_tokens" in options:
                    self._error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")
                elif kind == "ok" and proxy.reasoning_model and options.get("temperature", 1) != 1:
                    self._error(400, f"Unsupported value: 'temperature' does not support {options['temperature']} with this model. Only the default (1) value is supported.")
                elif kind == "ok":
                    self._forward(body)
                elif kind == "429":
                    self._error(429, "rate limited", {"Retry-After": argument or "1"})
                elif kind in ("400", "500", "502", "503"):
                    self._error(int(kind), f"injected {kind}")
                elif kind == "timeout":
                    time.sleep(float(argument))
                    self._drop()
                elif kind == "drop":
                    self._drop()
                elif kind == "echo-auth":
                    self._error(int(argument or 401), f"bad key {self.headers.get('Authorization')}")
                else:
                    raise ValueError(f"unknown fault {action!r}")

            def _forward(self, body: bytes | None) -> None:
                if body and proxy.reasoning_model:  # llama.cpp knows only max_tokens
                    options = json.loads(body)
                    options["max_tokens"] = options.pop("max_completion_tokens", None)
                    body = json.dumps(options).encode()
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=self.command,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                except (urllib.error.URLError, OSError):  # the real server is gone
                    self._drop()
                    return
                self._send(status, payload)

            def _error(self, status: int, message: str, headers: dict | None = None) -> None:
                payload = json.dumps({"error": {"message": message, "type": "injected", "code": status}}).encode()
                self._send(status, payload, headers)

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up first
                    self.close_connection = True

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        return Handler
