"""Root routes: the whole stack's /health and Prometheus /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.deps import Health
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE

router = APIRouter(tags=["stack"], responses=ERROR_RESPONSES)


@router.get("/health", **HEALTH_ROUTE)
async def health(service: Health) -> JSONResponse:
    """healthy | degraded | unhealthy, per component, with the reason when not healthy (503 if unhealthy)."""
    report = await service.stack()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.get(
    "/metrics",
    response_class=Response,  # no JSON: errors stay documented as JSON, the 200 as the text it is
    responses={
        200: {"description": "Prometheus metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency by route and status, journal counters."""
    state = request.app.state
    state.metrics.journal_committed.set(state.writer.committed)
    state.metrics.journal_failed.set(state.writer.failed)
    state.metrics.journal_pending.set(state.writer.pending)
    state.metrics.sentiment_cache_hit_rate.set(state.sentiment.cache.hit_rate)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
