"""/bayesian: strategy weights learnt from closed trades."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from gateway.deps import Bayesian, Health
from gateway.json_body import UniqueKeysJsonRoute
from gateway.logs import annotate
from gateway.schemas.bayesian import (
    AllStatsResponse,
    StrategyStatsResponse,
    SyncResponse,
    TradeUpdateRequest,
    TradeUpdateResponse,
    WeightsResponse,
)
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE, ErrorResponse
from gateway.services.bayesian import BayesianService, StrategyStats, TradeOutcome
from investiq.core.bayes.allocation import Method


async def _annotate() -> None:
    """Every route here answers from the Bayesian model, which has no version: its state is the journal."""
    annotate(model="bayesian")


router = APIRouter(
    prefix="/bayesian",
    tags=["bayesian"],
    dependencies=[Depends(_annotate)],
    responses=ERROR_RESPONSES,
    route_class=UniqueKeysJsonRoute,
)
MethodQuery = Annotated[
    Method,
    Query(
        description="mean: posterior mean win rate; thompson: P(best win rate); pnl: P(best mean P&L per trade). "
        "mean and thompson ignore P&L."
    ),
]


@router.get("/health", **HEALTH_ROUTE)
async def health(service: Health) -> JSONResponse:
    report = await service.bayesian()
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.post(
    "/update",
    response_model=TradeUpdateResponse,
    responses={
        409: {
            "model": ErrorResponse,
            "description": "The trade_id was recorded for another strategy, or with another outcome (won or P&L).",
        }
    },
)
async def update(body: TradeUpdateRequest, service: Bayesian) -> TradeUpdateResponse:
    outcome = TradeOutcome(
        strategy_name=body.strategy_name,
        won=body.won,
        profit_loss=body.profit_loss,
        closed_ts=body.closed_ts,
        trade_id=body.trade_key,
    )
    counted, stats = await service.update(outcome)
    return TradeUpdateResponse(counted=counted, strategy=_stats(service, stats))


@router.get("/weights", response_model=WeightsResponse)
async def weights(service: Bayesian, method: MethodQuery = "mean") -> WeightsResponse:
    stats = await service.all_stats(method)
    return WeightsResponse(
        weights={s.strategy_name: s.weight for s in stats}, method=method, as_of=datetime.now(timezone.utc)
    )


@router.get("/all-stats", response_model=AllStatsResponse)
async def all_stats(service: Bayesian, method: MethodQuery = "mean") -> AllStatsResponse:
    stats = await service.all_stats(method)
    return AllStatsResponse(
        strategies=[_stats(service, s) for s in stats], method=method, half_life_days=service.half_life_days
    )


@router.post("/sync-from-database", response_model=SyncResponse)
async def sync_from_database(
    service: Bayesian,
    days: Annotated[
        int,
        Query(
            ge=1,
            description="Learn from trades closed in the last N days (at most bayes_max_sync_days, 3650).",
        ),
    ] = 30,
) -> SyncResponse:
    """Merge the agent's `trades` closed in the last `days` days into what /bayesian/update recorded: each trade
    is learnt from once (recognised by its id; rows without one by strategy, close time and P&L), and nothing
    recorded is ever removed, whether or not the trades table holds it."""
    report = await service.sync(days)
    return SyncResponse(
        days=report.days,
        trades_imported=report.imported,
        already_recorded=report.already_recorded,
        skipped=report.skipped,
        strategies=report.strategies,
    )


def _stats(service: BayesianService, s: StrategyStats) -> StrategyStatsResponse:
    post, ev = s.posterior, s.evidence
    fields: dict[str, Any] = {
        "strategy_name": s.strategy_name,
        "win_rate": post.win_rate,
        "total_samples": ev.wins + ev.losses,
        "wins": ev.wins,
        "losses": ev.losses,
        "alpha": post.alpha,
        "beta": post.beta,
        "mean_pnl": post.mu,
        "credible_interval_95": post.win_rate_interval(),
        "pnl_credible_interval_95": post.pnl_interval(),
        "effective_samples": post.effective_trades,
        "proven": s.proven,
        "weight": s.weight,
    }
    return StrategyStatsResponse(**fields)
