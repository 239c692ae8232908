"""Operator routes: which versions serve, and switching to the newest one (API key required)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.deps import Health, Models
from gateway.heap import resettle
from gateway.schemas.common import ERROR_RESPONSES, ErrorResponse

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/models")
async def serving(service: Models, health: Health) -> dict[str, Any]:
    """The serving version of each model and the versions kept for rollback; PatchTST's as a Triton shared with
    other gateways serves it (followed first, as /price/health does)."""
    await health.follow_price()
    return service.serving()


@router.post(
    "/models/{model}/reload",
    responses={409: {"model": ErrorResponse, "description": "Not loaded; the version before still serves."}},
)
async def reload(model: str, service: Models) -> dict[str, Any]:
    """Serve the model repository's newest version of MODEL (hot swap; 409 and no change if it fails)."""
    try:
        return await service.reload(model)
    finally:  # even a reload that failed may have swapped the backend already
        resettle()  # the replaced version's objects, frozen at start-up, become collectable (one full collection)
