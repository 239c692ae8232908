"""Pure ASGI middleware: request ids and access log, request metrics, the request body's size limit (413) and
deadline (408)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.logs import REQUEST_ID_HEADER, start_request
from gateway.metrics import Metrics
from gateway.security import is_health_path, key_accepted

access_log = logging.getLogger("gateway.access")
# Ids we echo and log must be safe in a header and a log line; anything else is replaced, not cleaned.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_LOGGED_PATH = 200  # raw paths are the client's: a scanner's megabyte URL must not become a log line


ROUTE_TEMPLATE = "investiq.route_template"  # in a scope answered before routing: the template its path takes


def route_of(scope: Scope) -> str:
    """The matched route template (bounded: fit for labels), or "unmatched" (404, or rejected before routing)."""
    return getattr(scope.get("route"), "path", None) or scope.get(ROUTE_TEMPLATE) or "unmatched"


def route_templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """Each route template of the app's schema with the pattern of the paths it takes, for naming the route of a
    request answered before routing (`name_route`)."""
    return [(compile_path(path)[0], path) for path in app.openapi()["paths"]]


def name_route(scope: Scope, templates: list[tuple[re.Pattern[str], str]]) -> None:
    """Name in `scope` the route template that the path takes (whatever the method), for a request answered before
    routing: the rate limit's 429s were all counted and logged as "unmatched", so an operator could not tell which
    route a client flooded."""
    scope[ROUTE_TEMPLATE] = next((path for pattern, path in templates if pattern.match(scope["path"])), None)


def new_request_id() -> str:
    """32 random hex digits, uuid4().hex's form. From the process's Mersenne Twister (seeded by the OS at start)
    rather than a getrandom system call: an id names a request in logs and guards nothing, and this costs
    ~1 µs against uuid4's ~5 µs on the loop thread."""
    return f"{random.getrandbits(128):032x}"


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is 1-64 characters of [A-Za-z0-9._-]; else None."""
    wanted = REQUEST_ID_HEADER.lower().encode()
    for name, value in scope.get("headers") or []:
        if name == wanted:
            text = value.decode("latin-1")
            return text if _VALID_REQUEST_ID.fullmatch(text) else None
    return None


SENT_METHOD = "investiq.sent_method"  # the method a HEAD request came with, in its scope (answered as GET)


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID if valid, else 32 random hex digits), echoes it on the
    response, and writes one access line when the request is done: INFO, WARNING for 4xx, ERROR for 5xx, so that a
    gateway run at --log-level warning still shows each failed request with its id.

    The context is deliberately not reset afterwards: the 500 handler and the server's traceback log run
    outside this middleware (Starlette's ServerErrorMiddleware, uvicorn) and must still see the id. Each
    request starts a fresh context, and uvicorn runs each request in a task of its own, so nothing leaks.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_request_id()
        start_request(request_id)
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        # HEAD is GET without the body (RFC 9110), on every GET route: FastAPI's routes answered it 405 (a review;
        # load balancers and probes send it)
        method = scope["method"]
        head = method == "HEAD"
        # The app gets a copy that says GET: the server's own scope must keep HEAD, or uvicorn expects the body
        # that Content-Length announces, logs "Response content shorter than Content-Length" and drops the
        # connection (the next request on it was reset: a new user's walkthrough). Routing writes the route into
        # the copy, which the access line reads.
        inner = {**scope, "method": "GET", SENT_METHOD: method} if head else scope

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(inner, receive, send_with_id)
        finally:
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            fields = {
                "method": method,
                "route": route_of(inner),
                "path": scope["path"][:_MAX_LOGGED_PATH],
                "status": status,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
            }
            access_log.log(level, "request", extra=fields)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            sent = scope.get(SENT_METHOD, scope["method"])  # HEAD, answered as GET
            self.metrics.observe_request(sent, route_of(scope), status, time.perf_counter() - start)


class HostGuardMiddleware:
    """421 for a request whose Host header names none of `app.state.allowed_hosts` (None: every host; set by
    `investiq serve` for a gateway without an API key on a loopback address, investiq/ops/bootstrap.py). A web page
    open on the agent's machine can have its name resolve to 127.0.0.1 (DNS rebinding) and post to the keyless
    gateway there: fake trades moved the strategy weights, and a text/plain POST reloaded a model (a review). The
    browser sends the page's own name in Host, which is refused."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = scope["app"].state.allowed_hosts if scope["type"] == "http" else None
        if allowed is not None:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").lower()
            name = host.rpartition("]")[0].lstrip("[") if host.startswith("[") else host.partition(":")[0]
            if name not in allowed:
                self.metrics.count_error("misdirected_request")
                detail = (
                    f"Host {host[:80]!r} is not this gateway's: without an API key it answers requests addressed "
                    "to localhost, 127.0.0.1 or ::1 only (against DNS rebinding); name a proxy's host in the "
                    "setting allowed_hosts, or set an API key"
                )
                await _answer(send, 421, "misdirected_request", detail)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Rejects bodies over `max_bytes` with 413, by Content-Length or while streaming, and bodies not complete
    within `timeout_s` of the request's start with 408 (the server's body deadline, gateway/server.py; None:
    no deadline here).

    A streamed body that grows too large, or stops arriving, gets its answer at once; the app is then told
    the client disconnected, and whatever it still tries to send is dropped. The 408 says `connection: close`,
    so the server closes the connection after it. Once the body is complete, receiving (e.g. to notice a
    disconnect) is not timed.

    A request without the API key a route requires hears that 401 before anything else, its size included: its
    Content-Length over the limit is answered 413 only if something tries to read its body (nothing does: the
    route checks the key first), and not a byte of it is read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics, timeout_s: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        size = int(declared) if declared is not None and declared.isdigit() else 0
        oversized = size if size > self.max_bytes else None  # the declared size, when over the limit
        if oversized is not None and not _refused_for_its_key(scope):
            await self._reject(send, oversized)
            return
        encoding = _content_encoding(scope, headers)
        if encoding is not None and not _refused_for_its_key(scope):
            # a gzip body was read as text: a 422 "'utf-8' codec can't decode byte 0x8b" (a review)
            self.metrics.count_error("unsupported_media_type")
            named = encoding.decode("latin-1")
            detail = f"Content-Encoding {named!r} is not supported: send the body uncompressed"
            await _answer(send, 415, "unsupported_media_type", detail)
            return
        # A request the key check will refuse is that 401 first, its body unread (the route checks the key before
        # it reads: gateway/security.py `guard`); the 413 by Content-Length waits for the first attempt to read it.
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        seen = 0
        started = rejected = complete = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected, complete
            if rejected:
                return {"type": "http.disconnect"}
            if oversized is not None:
                rejected = True
                if not started:
                    await self._reject(send, oversized)
                return {"type": "http.disconnect"}
            if deadline is None or complete:
                message = await receive()
            else:
                try:
                    message = await _within(receive(), deadline - time.monotonic())
                except TimeoutError:
                    rejected = True
                    if not started:
                        await self._timed_out(send, seen, declared)
                    return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes and not rejected:
                    rejected = True
                    if not started:
                        await self._reject(send, seen)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _reject(self, send: Send, size: int) -> None:
        self.metrics.count_error("payload_too_large")  # answered here, never seen by the exception handlers
        detail = (
            f"request body of {size} bytes or more exceeds the limit of {self.max_bytes} bytes "
            "(setting max_body_bytes); send fewer or shorter items per request"
        )
        await _answer(send, 413, "payload_too_large", detail)

    async def _timed_out(self, send: Send, seen: int, declared: bytes | None) -> None:
        self.metrics.count_error("request_timeout")
        of = f" of the {int(declared)} declared" if declared is not None and declared.isdigit() else ""
        detail = (
            f"the request body was not complete after {self.timeout_s:g} s (setting http_body_timeout_s): "
            f"{seen} bytes{of} arrived"
        )
        await _answer(send, 408, "request_timeout", detail, close=True)


def _content_encoding(scope: Scope, headers: dict[bytes, bytes]) -> bytes | None:
    """The first coding other than identity that a request with a body says its body is in (every
    Content-Encoding header, each a list), or None: a probe's GET with the header carries no body to decode."""
    if headers.get(b"content-length", b"0") in (b"0", b"") and b"transfer-encoding" not in headers:
        return None
    codings = [
        c.strip().lower() for k, v in scope.get("headers") or [] if k == b"content-encoding" for c in v.split(b",")
    ]
    return next((c for c in codings if c not in (b"identity", b"")), None)


def _refused_for_its_key(scope: Scope) -> bool:
    """Whether the app will answer this request 401 (gateway/security.py): a key is set, the request did not send
    it, and its path is not a health check's (by the raw path: this runs before routing)."""
    app = scope.get("app")
    expected = getattr(getattr(app, "state", None), "api_key", None)
    return not key_accepted(expected, scope) and not is_health_path(scope.get("path", ""))


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[Message], seconds: float) -> Message:
        """`awaitable`'s result, or TimeoutError after `seconds`: a timer on the running task, where
        `asyncio.wait_for` (3.10) makes a task of its own per call, on every request's body."""
        async with asyncio.timeout(max(seconds, 0.0)):
            return await awaitable

else:  # Python 3.10

    async def _within(awaitable: Awaitable[Message], seconds: float) -> Message:
        try:
            return await asyncio.wait_for(awaitable, max(seconds, 0.0))
        except asyncio.TimeoutError:  # not yet the built-in TimeoutError on 3.10
            raise TimeoutError from None


async def _answer(send: Send, status: int, kind: str, detail: str, *, close: bool = False) -> None:
    body: dict[str, Any] = {"error": kind, "detail": detail}
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # as every other error body
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
