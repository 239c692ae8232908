"""Optional API key: every route but the health checks requires `X-API-Key` when a key is set."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=HEADER, auto_error=False, description="Required when ML_API_KEY is set.")


def is_health_path(path: str) -> bool:
    return path == "/health" or path.endswith("/health")


def check_api_key(expected: str | None, provided: str | None) -> None:
    """Raise 401 unless `provided` equals `expected`; compared in constant time."""
    if expected is None:
        return
    if provided is None or not hmac.compare_digest(provided.encode(), expected.encode()):
        reason = "missing" if provided is None else "wrong"
        raise HTTPException(
            status_code=401,
            detail=f"{reason} API key: send header {HEADER} with the key configured in ML_API_KEY",
            headers={"WWW-Authenticate": "APIKey"},
        )


async def require_api_key(request: Request, provided: str | None = Security(api_key_header)) -> None:
    """App-wide dependency: new routes are protected by default; health paths are exempt."""
    if not is_health_path(request.url.path):
        check_api_key(request.app.state.api_key, provided)
