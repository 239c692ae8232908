"""The error tree of investiq/core/errors.py, translated to HTTP in one place (`install_handlers`).

Services raise those errors; foreign exceptions are translated at the boundary that meets them.
Every response body is {"error": kind, "detail": message}, the message naming the offending value.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.logs import REQUEST_ID_HEADER, current_request
from gateway.metrics import Metrics
from investiq.core.errors import InvalidInputError, InvestIQError

# Kinds of the HTTP errors raised by FastAPI, Starlette and gateway/security.py; others are "http_error".
HTTP_KINDS = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_body(kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": kind, "detail": detail, **extra}


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """One readable line plus the list, e.g. "body.profit_loss: Input should be a finite number (got nan)".

    Inputs are shown with repr and truncated: they may be NaN (not JSON) or a megabyte of text.
    """
    items = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ())) or "request"
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":  # FastAPI's: loc is (body, offset), the reason in ctx
            reason = err.get("ctx", {}).get("error")
            where, message = "body", f"invalid JSON at character {err['loc'][-1]}: {reason}"
        elif err.get("type") == "missing" and where == "body":  # no body at all: say what to send
            message = "empty: send a JSON object (Content-Type: application/json)"
        elif err.get("type") != "missing":
            message += f" (got {shown})"
        items.append({"field": where, "message": message})
    return "; ".join(f"{i['field']}: {i['message']}" for i in items), items


def install_handlers(app: FastAPI) -> None:
    """Every error response is counted in `investiq_errors_total{kind}` here (413s: BodyLimitMiddleware)."""
    metrics: Metrics = app.state.metrics  # fails at start-up, not at the first error, if it is missing

    async def on_investiq(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvestIQError)
        if exc.kind == InvestIQError.kind:
            raise exc  # no HTTP meaning of its own: a bug, answered (and logged) as any unexpected error
        metrics.count_error(exc.kind)
        return JSONResponse(error_body(exc.kind, str(exc)), status_code=exc.status_code)

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

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body" (not UTF-8, nested too deep): say why, and answer
            # like any other invalid JSON.
            metrics.count_error("validation")
            detail = f"body: cannot be read as JSON: {exc.__cause__}"
            return JSONResponse(error_body(InvalidInputError.kind, detail), status_code=422)
        kind = HTTP_KINDS.get(exc.status_code, "http_error")
        metrics.count_error(kind)
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

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
