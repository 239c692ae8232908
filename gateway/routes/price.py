"""/price: PatchTST forecasts of the next bars, their direction, and how past forecasts fared."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from gateway.deps import Health, Price
from gateway.json_body import JsonRoute
from gateway.logs import annotate
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE, Symbol
from gateway.schemas.price import (
    BatchPriceRequest,
    BatchPriceResponse,
    PriceEvaluationResponse,
    PriceRequest,
    PriceResponse,
    PriceSkillResponse,
)
from gateway.services.price_forecast import PriceQuery
from gateway.services.resolver import evaluate as evaluate_forecasts
from investiq.core.errors import ModelNotReadyError
from investiq.core.patchtst import PATCHTST

router = APIRouter(prefix="/price", tags=["price"], responses=ERROR_RESPONSES, route_class=JsonRoute)
MODEL = PATCHTST  # the name the service's /health and the journal give it


def _query(body: PriceRequest) -> PriceQuery:
    return PriceQuery(body.symbol, body.prices, body.interval, body.last_bar_time, body.bar_times, body.horizon)


@router.get("/health", **HEALTH_ROUTE)
async def health(health: Health) -> JSONResponse:
    """The price model serving (version, interval, what it was trained on and until, whether it serves the
    random-walk baseline), its live skill and the resolver; degraded or unhealthy with the reason."""
    report = await health.price()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.post("/predict", response_model=PriceResponse)
async def predict(body: PriceRequest, service: Price) -> Response:
    """Forecast the next bars of one symbol, from the closes sent (oldest first, at least the model's context
    length) or from recent bars the gateway fetches: the median path, quantile paths, a calibrated P(up) per step,
    direction and confidence, the live skill of the model on this symbol, and warnings about the input (an
    unadjusted split, closes that do not move, stale bars). Every forecast is journaled and later scored."""
    # The JSON is the model's, as FastAPI would write it; returned as bytes so that a valid request can take the
    # fast lane (gateway/fastlane.py).
    (forecast,) = await service.predict([_query(body)])
    annotate(model=MODEL, model_version=forecast.model_version)
    return Response(PriceResponse(**vars(forecast)).model_dump_json(), media_type="application/json")


@router.post("/batch_predict", response_model=BatchPriceResponse)
async def batch_predict(body: BatchPriceRequest, service: Price) -> BatchPriceResponse:
    """Forecasts for several symbols in one forward pass: `requests` holds one /price/predict body each; one bad
    item is a 422 naming it, and nothing of the batch is answered or journaled then."""
    start = time.perf_counter()
    forecasts = await service.predict([_query(r) for r in body.requests])
    # One forward pass serves a batch, so one version; joined should a reload land in between.
    annotate(model=MODEL, model_version=",".join(sorted({f.model_version for f in forecasts})))
    return BatchPriceResponse(
        predictions=[PriceResponse(**vars(f)) for f in forecasts],
        processing_time_ms=(time.perf_counter() - start) * 1000,
    )


@router.get("/evaluate/{symbol}", response_model=PriceEvaluationResponse)
async def evaluate(
    request: Request,
    service: Price,
    symbol: Annotated[Symbol, Path(description="Ticker")],
    days: Annotated[int, Query(ge=1, le=3650, description="Forecasts made in the last N days.")] = 30,
) -> PriceEvaluationResponse:
    """How the forecasts made for `symbol` in the last `days` days did against the bars that followed: the hit
    rate of their directional calls with its interval, always-up's on the same calls and the edge over it, the
    MAE, the forecasts still pending, and the live skill windows of the model serving."""
    annotate(model=MODEL)
    state = request.app.state
    report = await asyncio.to_thread(evaluate_forecasts, state.db_path, symbol, days, None, state.busy_timeout_ms)
    if service.meta is not None and service.skill is not None:
        report["skill"] = service.skill.windows_of(service.meta.version, symbol)
    return PriceEvaluationResponse.model_validate(report)


@router.get("/skill", response_model=PriceSkillResponse)
async def skill(service: Price) -> PriceSkillResponse:
    """Live skill of every model version that served, pooled and per symbol, in every window."""
    annotate(model=MODEL)
    if service.skill is None:
        raise ModelNotReadyError("live skill is not tracked by this gateway")
    return PriceSkillResponse.model_validate(service.skill.report(service.meta.version if service.meta else None))
