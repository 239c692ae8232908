"""The error tree of investiq/core/errors.py, translated to HTTP in one place (`install_handlers`).

Services raise those errors; foreign exceptions are translated at the boundary that meets them.
Every response body is {"error": kind, "detail": message}, the message naming the offending value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.logs import REQUEST_ID_HEADER, current_request
from gateway.metrics import Metrics
from investiq.core.errors import InvalidInputError, InvestIQError, UnavailableError

# Kinds of the HTTP errors raised by FastAPI, Starlette and gateway/security.py; others are "http_error".
HTTP_KINDS = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": kind, "detail": detail, **extra}


# Problems listed in a 422, each told once: a bad array or batch gets one line per field, not one per item.
MAX_LISTED = 20
# Pydantic's lead-in to a custom validator's message; the field and the reason say enough.
VALUE_ERROR = "Value error, "


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pattern(err: dict[str, Any]) -> tuple[tuple[str, ...], str, str]:
    """What errors that differ only in list indices share: the field with each index as `*`, the type and the
    message (two windows of a batch refused for different reasons are two problems, not '2 items' of the first)."""
    loc = tuple("*" if isinstance(part, int) else str(part) for part in err.get("loc", ()))
    return loc, str(err.get("type")), str(err.get("msg"))


def as_sent(value: Any) -> str:
    """A value received as JSON writes it (null, false, "101.5", NaN), not as Python does (None, False, '101.5'):
    the client sent JSON (a new user's walkthrough read "got None" as a server fault). Characters that do not
    print (U+200B, a lone surrogate, a newline) are escaped; what JSON cannot write (bytes) is shown by repr."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
    return text if text.isprintable() else json.dumps(value)


def _told(err: dict[str, Any]) -> tuple[str, str, str | None]:
    """The field, the message, and the value received as shown (None where there is none to show).

    Values are shown as JSON and truncated: they may be NaN or a megabyte of text; so are messages, which may
    quote one (an unknown field's name).
    """
    where = ".".join(str(part) for part in err.get("loc", ())) or "request"
    message = str(err.get("msg", "invalid")).removeprefix(VALUE_ERROR)
    if err.get("type") == "json_invalid":  # FastAPI's: loc is (body, offset), the reason in ctx
        reason = err.get("ctx", {}).get("error")
        return "body", f"invalid JSON at character {err['loc'][-1]}: {reason}", None
    if err.get("type") == "missing":
        if where == "body":  # no body at all: say what to send
            return where, "empty: send a JSON object (Content-Type: application/json)", None
        return where, message, None
    return where, _clip(message, 300), _clip(as_sent(err.get("input")), 80)


def _item(first: dict[str, Any], pattern: tuple[str, ...], count: int) -> dict[str, str]:
    """One problem as listed: as the error says it, or, for `count` alike, once, naming the first."""
    where, message, shown = _told(first)
    if count == 1:
        return {"field": where, "message": message if shown is None else f"{message} (got {shown})"}
    first_one = f"at {where}" if shown is None else f"got {shown} at {where}"
    return {"field": ".".join(pattern), "message": f"{count} items: {message} ({first_one})"}


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """One readable line plus the list, e.g. "body.profit_loss: Input should be a finite number (got nan)".

    Errors alike but for list indices (512 closes sent as strings) are told once, with their count and the first
    ("body.prices.*: 512 items: ... (got '500' at body.prices.0)"), and at most MAX_LISTED problems are: each
    item told made a 1 MB batch of string closes a 32 MB answer that held up the server.
    """
    firsts: dict[tuple[tuple[str, ...], str, str], dict[str, Any]] = {}
    counts: dict[tuple[tuple[str, ...], str, str], int] = {}
    for err in exc.errors():
        key = _pattern(err)
        firsts.setdefault(key, err)
        counts[key] = counts.get(key, 0) + 1
    items = [_item(firsts[key], key[0], counts[key]) for key in list(firsts)[:MAX_LISTED]]
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in items)
    if len(firsts) > MAX_LISTED:
        detail += f"; ... and {len(firsts) - MAX_LISTED} more"
    return detail, items


def install_handlers(app: FastAPI) -> None:
    """Every error response is counted in `investiq_errors_total{kind}` here (413s: BodyLimitMiddleware)."""
    metrics: Metrics = app.state.metrics  # fails at start-up, not at the first error, if it is missing

    async def on_investiq(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvestIQError)
        if exc.kind == InvestIQError.kind:
            raise exc  # no HTTP meaning of its own: a bug, answered (and logged) as any unexpected error
        metrics.count_error(exc.kind)
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, UnavailableError) else None
        return JSONResponse(error_body(exc.kind, str(exc)), status_code=exc.status_code, headers=retry)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if any(e.get("loc") == ("body",) and isinstance(e.get("input"), bytes) for e in exc.errors()):
            # FastAPI hands the body over undecoded when the Content-Type is not JSON: say so, not "not a dict".
            metrics.count_error("unsupported_media_type")
            sent = request.headers.get("content-type")
            detail = f"Content-Type {sent!r} is not JSON" if sent else "no Content-Type"
            detail += ": send the body as JSON with Content-Type application/json"
            return JSONResponse(error_body("unsupported_media_type", detail), status_code=415)
        metrics.count_error("validation")  # schema mismatch, told apart from a service's invalid_input
        detail, items = describe_validation(exc)
        return JSONResponse(error_body(InvalidInputError.kind, detail, errors=items), status_code=422)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body" (not UTF-8, nested too deep): say why, and answer
            # like any other invalid JSON.
            metrics.count_error("validation")
            detail = f"body: cannot be read as JSON: {exc.__cause__}"
            return JSONResponse(error_body(InvalidInputError.kind, detail), status_code=422)
        kind = HTTP_KINDS.get(exc.status_code, "http_error")
        metrics.count_error(kind)
        detail = _routing_detail(request, exc) or str(exc.detail)
        return JSONResponse(error_body(kind, detail), status_code=exc.status_code, headers=exc.headers)

    async def on_unhandled(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server logs the traceback (with the request id).
        kind = InvestIQError.kind
        metrics.count_error(kind)
        context = current_request()
        where = f" (request id {context.request_id})" if context else ""
        return JSONResponse(
            error_body(kind, f"unexpected error{where}: the gateway log has the details"),
            status_code=500,
            headers={REQUEST_ID_HEADER: context.request_id} if context else None,
        )

    app.add_exception_handler(InvestIQError, on_investiq)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unhandled)


def _nearest_route(request: Request) -> str:
    """A hint for a path with a trailing slash: the route without it, where there is one, else the route whose
    template goes on from it (`/price/evaluate/` -> /price/evaluate/{symbol}; it advised /price/evaluate, itself
    a 404: a new user's walkthrough)."""
    path = request.url.path
    if not path.endswith("/") or path == "/":
        return ""
    templates = list(request.app.openapi().get("paths", {}))  # every route, as /openapi.json lists it (cached)
    stripped = path.rstrip("/")
    if any(re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), stripped) for t in templates):
        return f"; without the trailing slash: {stripped}"
    longer = sorted(t for t in templates if t.startswith(path) and "{" in t)
    return f"; the route is {longer[0]}" if longer else ""


def _routing_detail(request: Request, exc: StarletteHTTPException) -> str | None:
    """What to do after Starlette's bare "Not Found" / "Method Not Allowed" (a new user's review: `GET /` said
    "Not Found", a GET on a POST route did not say POST): the path and method, the methods the route takes, and
    where the routes are listed. None for any other error, or one a route raised with its own detail."""
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no route {where}{_nearest_route(request)}: the routes are listed at /docs (and /openapi.json)"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{where}: this route takes {allowed or 'other methods'}; see /docs"
    return None
