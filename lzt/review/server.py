"""Serving a review: the page and its API (lzt.review.web) on uvicorn, bound to loopback by
default, behind a random token. Needs the `review` extra (Starlette and uvicorn)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from lzt.config import OnExisting, OutputOptions
from lzt.errors import LztError, UsageError
from lzt.files import user_cache_dir
from lzt.output.xmp import REVIEW_PARENT
from lzt.review.store import ReviewStore
from lzt.review.thumbnails import DEFAULT_SIZE, Thumbnails

DEFAULT_HOST = "127.0.0.1"
SHUTDOWN_GRACE = 3  # seconds open connections get when the server stops


def _require_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise LztError(f"the review page needs the review extra: pip install 'lzt[review]' ({exc.name} is missing)") from None


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def review_app(
    store: ReviewStore,
    token: str,
    *,
    thumbnails: Thumbnails | None = None,
    format: str = "xmp",
    options: OutputOptions = OutputOptions(xmp_parent=REVIEW_PARENT),
    reviewed_only: bool = False,
    every_photo: bool = False,
    hosts: set[str] | None = None,
) -> Any:
    """The review page as an ASGI application (Starlette) over `store`, answering only requests
    that carry `token`. thumbnails: where thumbnails are made and cached (default: the user cache
    folder's `thumbnails/`). format, options, reviewed_only, every_photo: what the page's Apply
    button does (see apply_review). hosts: the names the Host header may carry (default: the
    loopback names; an empty set: any)."""
    _require_extra()
    from lzt.review.web import LOOPBACK, build_app

    if not token:
        raise UsageError("the review page's token must not be empty")
    allowed = set(LOOPBACK) if hosts is None else ({h.lower() for h in hosts} or None)
    apply = {"format": format, "options": options, "reviewed_only": reviewed_only, "every_photo": every_photo}
    return build_app(store, token, thumbnails or Thumbnails(user_cache_dir() / "thumbnails"), apply, allowed)


class ReviewServer:
    """The review page served on `host`:`port` (port 0: a free one, known as soon as the server
    is made). `url` holds the token. `serve_forever()` blocks until Ctrl-C; `start()` serves
    from a background thread until `stop()` (or use it as a context manager).

    host: 127.0.0.1 by default; any other address exposes the page (token-protected) to the
        network. token: a new random one by default. Other arguments as for review_app."""

    def __init__(
        self,
        store: ReviewStore,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        token: str | None = None,
        thumbnail_dir: str | Path | None = None,
        thumbnail_size: int = DEFAULT_SIZE,
        format: str = "xmp",
        options: OutputOptions = OutputOptions(on_existing=OnExisting.overwrite, xmp_parent=REVIEW_PARENT),
        reviewed_only: bool = False,
        every_photo: bool = False,
    ):
        _require_extra()
        self.store = store
        self.host = host
        self.token = token or secrets.token_urlsafe(32)
        hosts = {"localhost", "127.0.0.1", "::1", host} if is_loopback(host) else (set() if _wildcard(host) else {host})
        thumbnails = Thumbnails(Path(thumbnail_dir) if thumbnail_dir else user_cache_dir() / "thumbnails", thumbnail_size)
        self.app = review_app(store, self.token, thumbnails=thumbnails, format=format, options=options,
                              reviewed_only=reviewed_only, every_photo=every_photo, hosts=hosts)
        self.socket = _bind(host, port)
        self.port = self.socket.getsockname()[1]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, token included (what `lzt review` prints)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _wildcard(self.host):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self.token}"

    def _uvicorn(self) -> Any:
        import uvicorn

        # log_config=None: the library configures no logging; access lines would only be noise.
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=SHUTDOWN_GRACE, log_level="warning")
        self._server = uvicorn.Server(config)
        return self._server

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or SIGTERM); returns after a clean shutdown."""
        try:
            self._uvicorn().run(sockets=[self.socket])
        except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
            pass
        finally:
            self.socket.close()

    def start(self) -> ReviewServer:
        """Serve from a background thread; returns once the server accepts connections."""
        server = self._uvicorn()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self.socket]}, name="lzt-review", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LztError("the review server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop a server started with start(), and wait for it."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=SHUTDOWN_GRACE + 10)
            self._thread = None
        self.socket.close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now, so the port is known before serving starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise LztError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise LztError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock
