"""The review page's HTTP side (Starlette): the page itself, a paging JSON API over the review
database, thumbnails by photo id, and decision writes. Imported only through lzt.review.server,
which checks first that the `review` extra is installed.

Security (see the README, "`lzt review`"):
- every request needs the token: in the URL (`?token=...`, as Jupyter does), or in the cookie the
  page sets for its thumbnails; writes (POST) need it in the `X-Lzt-Token` header, which no
  cross-site form or image can send, so another web page cannot write a decision;
- the Host header must name this machine (loopback) or the host served, against DNS rebinding;
- thumbnails are addressed by photo id, never by a path from the client, and only files inside
  the folders under review are read (lzt.review.thumbnails);
- responses forbid framing, sniffing and referrers (the token never leaves in a Referer).
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lzt.errors import LztError, UsageError
from lzt.review.apply import apply_review, export_decisions
from lzt.review.store import PhotoQuery, ReviewStore
from lzt.review.thumbnails import ThumbnailError, Thumbnails

TOKEN_HEADER = "x-lzt-token"
MAX_PAGE = 500
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
                                 b"connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def cookie_name(port: int) -> str:
    """Cookies ignore ports: one name per port keeps two reviews on one machine apart."""
    return f"lzt-review-{port}"


class Guard:
    """ASGI middleware: the Host check and the token check before anything else runs, and the
    security headers on every response."""

    def __init__(self, app: Any, token: str, hosts: set[str] | None):
        self.app = app
        self.token = token.encode()
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        refusal = self.refusal(scope)
        if refusal is not None:
            await Response(refusal, status_code=403, media_type="text/plain")(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = {name.decode("latin-1"): value for name, value in scope.get("headers", [])}
        host = headers.get("host", b"").decode("latin-1")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.hosts is not None and hostname.strip("[]").lower() not in self.hosts:
            return "forbidden: unexpected Host header"
        if scope["method"] in ("GET", "HEAD"):
            offered = [value.encode() for value in parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])]
            cookies = SimpleCookie(headers.get("cookie", b"").decode("latin-1"))
            name = cookie_name(scope.get("server", ("", 0))[1] or 0)
            if name in cookies:
                offered.append(cookies[name].value.encode())
        else:
            offered = []
        if TOKEN_HEADER in headers:
            offered.append(headers[TOKEN_HEADER])
        if not any(hmac.compare_digest(candidate, self.token) for candidate in offered):
            return "forbidden: open the URL with the token that `lzt review` printed"
        return None


def _query(params: Any) -> PhotoQuery:
    def number(name: str) -> float | None:
        value = params.get(name)
        if value in (None, ""):
            return None
        try:
            return float(value)
        except ValueError:
            raise UsageError(f"{name} must be a number, not {value!r}") from None

    return PhotoQuery(
        label=params.get("label") or None, where=params.get("where") or "tags", min_score=number("min"),
        max_score=number("max"), status=params.get("status") or "all", sort=params.get("sort") or "score",
        descending=(params.get("order") or "desc") != "asc",
    )


def _integer(value: Any, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be an integer, not {value!r}") from None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise UsageError("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


def build_app(store: ReviewStore, token: str, thumbnails: Thumbnails, apply: dict[str, Any], hosts: set[str] | None) -> Any:
    """The ASGI application: Starlette routes behind the Guard. `apply`: keyword arguments of
    apply_review for the page's Apply button; `hosts`: the names the Host header may carry
    (None: any, for a server bound to every interface)."""
    static = resources.files("lzt.review") / "static"

    async def index(request: Request) -> Response:
        page = (static / "index.html").read_text(encoding="utf-8")
        response = Response(page, media_type="text/html; charset=utf-8")
        if request.query_params.get("token"):
            response.set_cookie(cookie_name(request.url.port or 0), token, httponly=True, samesite="strict", path="/")
        return response

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response((static / name).read_text(encoding="utf-8"), media_type=STATIC[name])

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; the page has none

    def info(request: Request) -> Response:
        return JSONResponse({
            "vocabulary": store.vocabulary, "labels": store.labels(), "summary": store.summary(),
            "database": str(store.path), "apply": {k: (v.value if hasattr(v, "value") else v) for k, v in _describe(apply).items()},
            "page_size": 60,
        })

    def photos(request: Request) -> Response:
        query = _query(request.query_params)
        offset = max(0, _integer(request.query_params.get("offset"), "offset", 0))
        limit = min(MAX_PAGE, max(1, _integer(request.query_params.get("limit"), "limit", 60)))
        return JSONResponse({"total": store.count(query), "offset": offset, "items": store.page(query, offset, limit)})

    def photo(request: Request) -> Response:
        found = store.photos([request.path_params["id"]])
        if not found:
            return JSONResponse({"error": "no such photo in this review"}, status_code=404)
        return JSONResponse(found[0])

    async def decide(request: Request) -> Response:
        body = await _json(request)
        photo_id = _integer(body.get("photo"), "photo", -1)
        return JSONResponse(await run_in_threadpool(store.decide, photo_id, str(body.get("label", "")), str(body.get("decision", ""))))

    async def bulk(request: Request) -> Response:
        body = await _json(request)
        view = body.get("filter") or {}
        if not isinstance(view, dict):
            raise UsageError("filter must be an object")
        expected = None if body.get("expected") is None else _integer(body.get("expected"), "expected", 0)
        count = await run_in_threadpool(
            store.decide_all, _query(view), str(body.get("label", "")), str(body.get("decision", "")), expected
        )
        return JSONResponse({"photos": count})

    async def apply_now(request: Request) -> Response:
        report = await run_in_threadpool(lambda: apply_review(store, **apply))
        return JSONResponse(asdict(report))

    def export(request: Request) -> Response:
        import io

        buffer = io.StringIO()
        export_decisions(store, buffer)
        return Response(buffer.getvalue(), media_type="application/x-ndjson",
                        headers={"content-disposition": 'attachment; filename="decisions.jsonl"'})

    def thumbnail(request: Request) -> Response:
        path = store.photo_path(request.path_params["id"])
        if path is None:
            return Response("no such photo in this review", status_code=404, media_type="text/plain")
        data = thumbnails.get(path, store.roots())
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def usage_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def thumbnail_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ThumbnailError)
        return Response(str(exc), status_code=exc.status, media_type="text/plain")

    async def lzt_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=500)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/api/info", info, methods=["GET"]),
        Route("/api/photos", photos, methods=["GET"]),
        Route("/api/photos/{id:int}", photo, methods=["GET"]),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/bulk", bulk, methods=["POST"]),
        Route("/api/apply", apply_now, methods=["POST"]),
        Route("/api/export", export, methods=["GET"]),
        Route("/thumb/{id:int}", thumbnail, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        UsageError: usage_error, ThumbnailError: thumbnail_error, LztError: lzt_error,
    })
    return Guard(app, token, hosts)


def _describe(apply: dict[str, Any]) -> dict[str, Any]:
    options = apply.get("options")
    described = {"format": apply.get("format", "xmp"), "reviewed_only": apply.get("reviewed_only", False),
                 "every_photo": apply.get("every_photo", False)}
    if options is not None:
        described.update(on_existing=options.on_existing, xmp_naming=options.xmp_naming, xmp_parent=options.xmp_parent,
                         caption_ext=options.caption_ext)
    return described

