"""/bayesian: strategy weights learnt from closed trades."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from gateway.deps import Bayesian, Health
from gateway.json_body import UniqueKeysJsonRoute
from gateway.logs import annotate
from gateway.schemas.bayesian import (
    AllStatsResponse,
    StrategyStatsResponse,
    SyncRequest,
    SyncResponse,
    TradeUpdateRequest,
    TradeUpdateResponse,
    WeightsResponse,
)
from gateway.schemas.common import ERROR_RESPONSES, HEALTH_ROUTE, ErrorResponse
from gateway.services.bayesian import StrategyStats, TradeOutcome
from investiq.core.bayes.allocation import DEFAULT_METHOD, Method
from investiq.core.errors import InvalidInputError


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
    """Whether the journal can be read and written for the Bayesian service; unhealthy with the reason."""
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
    """Learn from one closed trade of a strategy (won and/or profit_loss; closed_at, default now; trade_id makes
    retries safe). Answers whether it was counted (false for a retry already learnt) and the strategy's
    posterior after it. A retry that tells another outcome is a 409: a learnt trade is not corrected."""
    outcome = TradeOutcome(
        strategy_name=body.strategy_name,
        won=body.won,
        profit_loss=body.profit_loss,
        closed_ts=body.closed_ts,
        trade_id=body.trade_key,
    )
    counted, stats = await service.update(outcome)
    return TradeUpdateResponse(counted=counted, strategy=_stats(stats))


@router.get("/weights", response_model=WeightsResponse)
async def weights(service: Bayesian, method: MethodQuery = DEFAULT_METHOD) -> WeightsResponse:
    """The weights for combining the strategies, summing to 1: by posterior mean win rate (mean, the default),
    by probability of having the best win rate (thompson) or the best mean P&L per trade (pnl); each within the
    floor and cap of the settings; a strategy with fewer than bayes_min_trades effective trades keeps its prior
    share, and is listed in `unproven` (a new user's walkthrough saw equal weights and nothing saying why)."""
    stats = await service.all_stats(method)
    return WeightsResponse(
        weights={s.strategy_name: s.weight for s in stats},
        method=method,
        as_of=datetime.now(timezone.utc),
        unproven=[s.strategy_name for s in stats if not s.proven],
    )


@router.get("/all-stats", response_model=AllStatsResponse)
async def all_stats(service: Bayesian, method: MethodQuery = DEFAULT_METHOD) -> AllStatsResponse:
    """Every strategy's posterior (win rate with its credible interval, P&L per trade, effective trades after
    the half-life's decay) and its weight by `method`."""
    stats = await service.all_stats(method)
    return AllStatsResponse(
        strategies=[_stats(s) for s in stats], method=method, half_life_days=service.half_life_days
    )


@router.post(
    "/sync-from-database",
    response_model=SyncResponse,
    responses={
        409: {"model": ErrorResponse, "description": "The agent's trades table lacks the columns it reads."}
    },
)
async def sync_from_database(
    request: Request,
    service: Bayesian,
    body: Annotated[SyncRequest | None, Body()] = None,
    days: Annotated[
        int,
        Query(
            ge=1,
            description="Learn from trades closed in the last N days (at most the setting bayes_max_sync_days).",
        ),
    ] = 30,
) -> SyncResponse:
    """Merge the agent's `trades` closed in the last `days` days into what /bayesian/update recorded: each trade
    is learnt from once (recognised by its id; rows without one by strategy, close time and P&L), and nothing
    recorded is ever removed, whether or not the trades table holds it. A trades table without the columns the
    sync reads is a 409 naming them."""
    if body is not None and body.days is not None:
        # a body's days was ignored: {"days": 0} synced the default 30 days, 200 (a review)
        if "days" in request.query_params and body.days != days:
            raise InvalidInputError(f"days given twice, {days} in the query and {body.days} in the body: give one")
        days = body.days
    report = await service.sync(days)
    return SyncResponse(
        days=report.days,
        trades_imported=report.imported,
        already_recorded=report.already_recorded,
        skipped=report.skipped,
        strategies=report.strategies,
    )


def _stats(s: StrategyStats) -> StrategyStatsResponse:
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
