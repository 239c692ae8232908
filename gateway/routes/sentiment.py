"""/sentiment: FinBERT sentiment of news texts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from gateway.deps import Health, Sentiment
from gateway.json_body import JsonRoute
from gateway.logs import annotate
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE
from gateway.schemas.sentiment import SentimentRequest, SentimentResponse, response_json

router = APIRouter(prefix="/sentiment", tags=["sentiment"], responses=ERROR_RESPONSES, route_class=JsonRoute)


@router.get("/health", **HEALTH_ROUTE)
async def health(health: Health) -> JSONResponse:
    """healthy; degraded (with the reason) when the lexicon fallback answers instead of FinBERT; unhealthy when
    the backend cannot answer with FinBERT (Triton down, the model unloaded)."""
    report = await health.sentiment()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.post("/predict", response_model=SentimentResponse)
async def predict(body: SentimentRequest, service: Sentiment) -> Response:
    """Score headlines: a label (positive, negative or neutral; a tie for the largest probability is neutral), its
    confidence, score = P(positive) - P(negative) and the three probabilities, per text in the order sent, with
    the model that answered (`finbert`, or `lexicon` while the offline fallback serves) and its version. Every
    prediction is journaled. use_cache false forces a fresh forward pass."""
    # The JSON is written directly (response_json) and the predictions are journaled once it is sent: the
    # gateway's own cost per headline is what the agent waits on (benchmarks/results/gateway_profile.md).
    result = await service.score(body.texts, body.use_cache)
    annotate(model=result.model, model_version=result.model_version)
    content = response_json(
        [vars(p) for p in result.predictions], result.model, result.model_version, result.processing_time_ms
    )
    journal = BackgroundTask(service.journal, result, body.symbol)
    return Response(content, media_type="application/json", background=journal)
