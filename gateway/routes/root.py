"""Root routes: the whole stack's /health, the probes /health/live and /health/ready, Prometheus /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.deps import Health
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE
from gateway.services.health import SCRAPE_DEADLINE_S, journal_writable

router = APIRouter(tags=["stack"], responses=ERROR_RESPONSES)
NO_KEY: dict[str, Any] = {"security": [{}]}  # the probes (kubelet, compose healthchecks) send no API key


@router.get("/health", **HEALTH_ROUTE)
async def health(service: Health) -> JSONResponse:
    """healthy | degraded | unhealthy, per component, with the reason when not healthy (503 if unhealthy)."""
    report = await service.stack()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.get("/health/live", openapi_extra=NO_KEY)
async def live() -> dict[str, str]:
    """Liveness: 200 whenever the process answers at all (its event loop runs). Nothing else is checked:
    a stack that is degraded or cannot serve is for /health/ready, not a reason to restart it."""
    return {"status": "alive"}


@router.get(
    "/health/ready",
    responses={503: {"description": "Not ready: `ready` false, with the reason."}},
    openapi_extra=NO_KEY,
)
async def ready(service: Health) -> JSONResponse:
    """Readiness: 200 when this process can serve (its journal writer runs, on the file at the journal's path), 503
    with the reason otherwise.
    Each model's readiness is reported beside it and does not decide it (Triton down: 200, that model false)."""
    report = await service.readiness()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


@router.get(
    "/metrics",
    response_class=Response,  # no JSON: errors stay documented as JSON, the 200 as the text it is
    responses={
        200: {"description": "Prometheus metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics(request: Request, health: Health) -> Response:
    """Prometheus text format: requests and latency by route and status, journal counters, the models
    served (investiq_model_info), whether the backend can answer with each (investiq_backend_ready) and
    inference latency by model."""
    state = request.app.state
    # backend_models follows the PatchTST version a shared Triton serves first (another gateway's reload moved
    # it), so investiq_model_info names it; where this gateway cannot read that version, price is not ready (it
    # said 1 while every forecast was a 503, an audit)
    ready = await health.backend_models(SCRAPE_DEADLINE_S)
    state.metrics.backend_ready(ready)
    state.metrics.journal.update(state.writer.committed, state.writer.failed)
    state.metrics.journal_pending.set(state.writer.pending)
    state.metrics.journal_writable.set(journal_writable(state.writer))
    state.metrics.sentiment_cache_hit_rate.set(state.sentiment.cache.hit_rate)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
