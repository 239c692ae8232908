"""Optional API key: every route but the health checks requires `X-API-Key` when a key is set."""

from __future__ import annotations

import hmac
import re

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from starlette.types import Scope

from investiq.core.settings import API_KEY_HEADER

_HEADER_BYTES = API_KEY_HEADER.lower().encode()  # as ASGI gives header names
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required when the variable api_key_env names (ML_API_KEY by default) is set.",
)

_CHECKED = "investiq.key_checked"  # in the ASGI scope: this request's key was checked
# `/health`, `/<service>/health` and the probes `/health/live`, `/health/ready`, nothing deeper: a raw
# path such as /price/evaluate/health (symbol "health") ends in /health too and must not pass as one.
_HEALTH = re.compile(r"(/[A-Za-z0-9_-]+)?/health|/health/(live|ready)")


def is_health_path(path: str) -> bool:
    """True for a health check's path. Give the matched route's template where there is one."""
    return _HEALTH.fullmatch(path) is not None


def key_matches(expected: str, provided: bytes) -> bool:
    """`provided` (the header's bytes, as sent) equals the key; constant time in the key's content."""
    return hmac.compare_digest(provided, expected.encode())


def provided_key(scope: Scope) -> bytes | None:
    """The request's X-API-Key as sent: the first such header, the one Starlette's `Headers.get` gives FastAPI."""
    for name, value in scope.get("headers") or []:
        if name == _HEADER_BYTES:
            return bytes(value)
    return None


def key_accepted(expected: str | None, scope: Scope) -> bool:
    """True when no key is set or the request sent it: what `require_api_key` lets through on a route."""
    if expected is None:
        return True
    provided = provided_key(scope)
    return provided is not None and key_matches(expected, provided)


def check_api_key(expected: str | None, scope: Scope, variable: str) -> None:
    """Raise 401 unless the request sent `expected` (`key_accepted`), the key the environment variable `variable`
    holds (setting api_key_env). The message never repeats either value."""
    if key_accepted(expected, scope):
        return
    reason = "missing" if provided_key(scope) is None else "wrong"
    raise HTTPException(
        status_code=401,
        detail=f"{reason} API key: send header {API_KEY_HEADER} with the key configured in {variable}",
        headers={"WWW-Authenticate": "APIKey"},
    )


async def require_api_key(request: Request, _: str | None = Security(api_key_header)) -> None:
    """App-wide dependency: new routes are protected by default; health routes are exempt. (The `Security`
    parameter puts the scheme in the API document; the key is read from the raw headers, as the fast lane and
    the rate limiter read it.)

    The exemption goes by the matched route's template, not the raw path, so that a path parameter
    that happens to read "health" (GET /price/evaluate/health) cannot skip the key.
    """
    if not request.scope.get(_CHECKED):
        guard(request, getattr(request.scope.get("route"), "path", None))


def guard(request: Request, template: str | None) -> None:
    """401 for a request to the route of path `template` without the key, unless that route is a health check.
    Routes that parse a body call it before (json_body.JsonRoute): FastAPI parses a body before dependencies
    run, and a caller without the key must hear 401, not what is wrong with its JSON."""
    if template is None or not is_health_path(template):
        state = request.app.state
        check_api_key(state.api_key, request.scope, state.api_key_env)
    request.scope[_CHECKED] = True  # require_api_key need not compare the key again
