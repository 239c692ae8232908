"""/sentiment: FinBERT sentiment of news texts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.deps import Sentiment
from gateway.logs import annotate
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE
from gateway.schemas.sentiment import SentimentPrediction, SentimentRequest, SentimentResponse

router = APIRouter(prefix="/sentiment", tags=["sentiment"], responses=ERROR_RESPONSES)


@router.get("/health", **HEALTH_ROUTE)
async def health(service: Sentiment) -> JSONResponse:
    """healthy, or degraded (with the reason) when the lexicon fallback answers instead of FinBERT."""
    return JSONResponse(service.health())


@router.post("/predict", response_model=SentimentResponse)
async def predict(body: SentimentRequest, service: Sentiment) -> SentimentResponse:
    result = await service.predict(body.texts, body.symbol, body.use_cache)
    annotate(model=result.model, model_version=result.model_version)
    return SentimentResponse(
        predictions=[SentimentPrediction(**vars(p)) for p in result.predictions],
        model=result.model,
        model_version=result.model_version,
        processing_time_ms=result.processing_time_ms,
    )
