"""Schemas of the /price routes (the original design's JSON)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gateway.schemas.common import (
    FiniteFloat,
    RequestBody,
    Ticker,
    UtcDateTime,
    refuse_too_many_unknown,
    unknown_fields,
)
from investiq.core.patchtst import FLAT_BAND
from investiq.core.skill import MIN_BUCKETS

# Bar times before this cannot be scored: the resolver's bar times are pandas Timestamps (from 1677-09-21). A
# forecast dated in year 1 was answered and journaled, and stayed pending for ever (a security audit).
EARLIEST_BAR = datetime(1678, 1, 1, tzinfo=timezone.utc)


def _scorable(value: datetime) -> datetime:
    if value < EARLIEST_BAR:
        raise ValueError(
            f"{value.isoformat()} is before {EARLIEST_BAR.date()}: forecasts of bars that old are not scored"
        )
    return value


class PriceRequest(RequestBody):
    # not "close": an agent may send its last close
    synonyms: ClassVar[dict[str, str]] = {"closes": "prices", "timestamps": "bar_times", "times": "bar_times"}

    symbol: Ticker
    prices: list[FiniteFloat] | None = Field(
        None, description="Closes, oldest first (at least the model's context length); omitted: recent bars."
    )
    interval: str | None = Field(None, description="Bar interval of `prices`; must be the model's (e.g. 15m).")
    horizon: int | None = Field(
        None, ge=1, strict=True, description="Bars ahead the caller expects; must be the model's (e.g. 12)."
    )
    last_bar_time: UtcDateTime | None = Field(
        None,
        description="When the bar of the last close in `prices` closed (ISO 8601; naive = UTC); only with "
        "`prices`; omitted: with `bar_times`, the last of them plus one interval (bars labelled by when they "
        "open, as Yahoo's and the gateway's own: send last_bar_time for bars labelled by their close; a daily "
        "bar at UTC midnight, a date, closes at noon UTC), else now. "
        "The horizon (target_time) and the resolver's outcome count from it, so a "
        "caller replaying history, or sending bars that closed a while ago, is scored against the right bars. "
        "Not later than now, nor before 1678 (not scored), nor more than two bars and the window's widest gap "
        "after bar_times[-1].",
    )
    bar_times: list[UtcDateTime] | None = Field(
        None,
        description="The times of the bars of `prices`, one per close, oldest first (ISO 8601; naive = UTC; "
        "labelled by when each bar opens or when it closes, either, but one way for all); only with `prices`. "
        "They show where the window sits in its sessions, so that its intervals widen across a night or a "
        "weekend and narrow within a session, as calibration fitted them, as for bars the gateway fetches "
        "itself; omitted: intervals pooled over every place in a session. Their spacing must be the model's "
        "interval (nights and weekends apart); none later than now, nor than `last_bar_time`, nor before 1678.",
    )

    @field_validator("last_bar_time")
    @classmethod
    def _not_ahead(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value > datetime.now(timezone.utc) + timedelta(minutes=1):
            raise ValueError(f"{value.isoformat()} is in the future: send the time the last bar closed")
        return _scorable(value.astimezone(timezone.utc))

    @field_validator("bar_times")
    @classmethod
    def _in_utc(cls, value: list[datetime] | None) -> list[datetime] | None:
        """In UTC, each: offsets that differ (local times across a change of daylight saving) are one clock."""
        return None if value is None else [_scorable(t.astimezone(timezone.utc)) for t in value]

    @model_validator(mode="after")
    def _time_with_prices(self) -> PriceRequest:
        for name in ("last_bar_time", "bar_times"):
            if getattr(self, name) is not None and self.prices is None:
                raise ValueError(f"{name} goes with prices: without them the bars' own times are used")
        times, prices = self.bar_times, self.prices
        if times is not None and prices is not None:
            if len(times) != len(prices):
                raise ValueError(f"bar_times has {len(times)} times for {len(prices)} prices: send one per close")
            late = next((i for i in range(1, len(times)) if times[i] <= times[i - 1]), None)
            if late is not None:
                raise ValueError(
                    f"bar_times[{late}] = {times[late].isoformat()} is not after bar_times[{late - 1}] = "
                    f"{times[late - 1].isoformat()}: send the times oldest first, one per bar"
                )
            if times and times[-1] > datetime.now(timezone.utc) + timedelta(minutes=1):
                raise ValueError(f"bar_times[-1] = {times[-1].isoformat()} is in the future: send the bars' times")
            if times and self.last_bar_time is not None and self.last_bar_time < times[-1]:
                raise ValueError(
                    f"last_bar_time {self.last_bar_time.isoformat()} is before bar_times[-1] = "
                    f"{times[-1].isoformat()}: the last bar cannot close before it is labelled"
                )
        return self


class BatchPriceRequest(RequestBody):
    requests: list[PriceRequest]

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        """The bound on unknown names holds for the whole body: its items' distinct names together (each item is
        checked on its own as well, and a name repeated across items is checked once: `_resemblance`)."""
        if isinstance(data, dict) and "requests" not in data and ("symbol" in data or "prices" in data):
            # "body.requests: Field required" told a caller who sent one forecast's body nothing (a walkthrough)
            raise ValueError(
                'requests is missing: this route takes {"requests": [...]}, one /price/predict body each; '
                "for one symbol, POST /price/predict"
            )
        if isinstance(data, dict) and isinstance(data.get("requests"), list):
            names: dict[str, None] = {}  # distinct, in order
            for item in data["requests"]:
                if isinstance(item, dict):
                    names.update(dict.fromkeys(unknown_fields(PriceRequest, item)))
            refuse_too_many_unknown(PriceRequest, list(names), None)
        return data


class SkillFigure(BaseModel):
    value: float | None = Field(description="The estimate; null without evidence.")
    ci95: tuple[float, float] | None = Field(
        description="95% block-bootstrap interval over non-overlapping horizon periods (overlapping forecasts "
        f"share outcomes, so they are not counted as independent); null on fewer than {MIN_BUCKETS} periods. "
        "A share (hit rates, coverage) is given at least Wilson's interval on its n, as if each were independent."
    )
    n: int = Field(description="Resolved forecasts it rests on (a forecast asked again for its bar counts once).")
    periods: int = Field(description=f"Horizon periods with evidence for it: an interval needs {MIN_BUCKETS}.")


class Skill(BaseModel):
    """How a model version's forecasts have really done, from the resolver's outcomes."""

    n: int = Field(description="Resolved forecasts counted.")
    buckets: int = Field(description="Non-overlapping horizon periods they fall in: the effective sample size.")
    span: float | None = Field(
        None,
        description="Periods (a horizon's bar time, horizon x interval) a horizon really took, on average over "
        "the forecasts counted, from when the resolver found each H-th bar closed: 1 round the clock, ~1.4 on "
        "daily stock bars (weekends), ~5 on hourly ones (nights); null where none recorded it. "
        "Where it is above 1, `buckets` counts more periods than there were independent horizons.",
    )
    hit_rate: SkillFigure = Field(
        description="Share of the directional calls (up or down) that the move bore out; its n counts the calls. "
        "A flat forecast, the random walk's, calls no direction and is left out."
    )
    always_up_rate: SkillFigure = Field(description="What always calling up would have scored on the same ones.")
    edge_over_always_up: SkillFigure = Field(
        description="hit_rate - always_up_rate over the same calls, with a paired interval (both from the same "
        "resampled periods): wholly above 0, the calls beat always-up; wholly below, they lose to it."
    )
    brier: SkillFigure = Field(description="Brier score of P(up) at the horizon (0 is perfect, 0.25 a coin).")
    brier_skill: SkillFigure = Field(
        description="1 - Brier / Brier of the training up-rate (what the model serves without skill); > 0 beats it"
    )
    brier_skill_vs_coin: SkillFigure = Field(
        description="1 - Brier / 0.25, a coin's: > 0 beats P(up) 0.5. A P(up) that is its base scores 0 in "
        "brier_skill whatever the base; this shows a base that is off (0.555 where 17 % rose)."
    )
    coverage80: SkillFigure = Field(description="Share of actual closes inside the 0.1-0.9 quantiles.")
    coverage90: SkillFigure = Field(description="Share of actual closes inside the 0.05-0.95 quantiles.")
    mae_ratio: SkillFigure = Field(
        description="MAE of the forecast close at the horizon / the random walk's (last close); < 1 beats it."
    )
    coverage80_gaps_ahead: SkillFigure = Field(
        description="coverage80 over the forecasts whose intervals were fitted to the gaps ahead (their "
        "`intervals`: gaps_ahead); its n counts them, and the rest were pooled."
    )
    coverage90_gaps_ahead: SkillFigure = Field(description="coverage90 over the same forecasts.")
    first: float | None = Field(description="POSIX time of the earliest forecast's last bar (its origin).")
    last: float | None = Field(description="POSIX time of the latest forecast's last bar.")


class SkillBlock(BaseModel):
    """A forecast's `skill`: the live record of the version that made it."""

    scope: Literal["symbol", "pooled"] = Field(
        description="symbol: this symbol's record; pooled: all symbols' (while this one has fewer than "
        "skill_min_resolved resolved forecasts)."
    )
    window: str = Field(description='Forecasts made in this window, e.g. "30d".')
    n: int = Field(description="Resolved forecasts counted (0: no record yet).")
    record: Skill | None = Field(description="The figures; null while nothing is resolved.")


class PriceResponse(BaseModel):
    symbol: str
    direction: Literal["up", "down", "flat"] = Field(
        description=f"Sign of the median forecast's return at the horizon (flat when |return| < {FLAT_BAND:g}: "
        "no direction called, left out of hit rates)."
    )
    confidence: float = Field(
        description="max(P(up), 1 - P(up)) at the horizon (0.5 = no idea), bounded to what the model's "
        "validation part supported. The median agrees with P(up): 'up' comes with P(up) above 0.5, 'down' with "
        "P(up) below it, and P(up) 0.5 with 'flat'; the random walk's forecast is always 'flat', its P(up) the "
        "base rate (probability_up_source), so its confidence is that rate's, not a view of this window. "
        "1 - P(up) holds the closes that do not move (ties: tick-bound prices): it is not P(down)."
    )
    predicted_prices: list[float] = Field(
        description="Median forecast closes for the next `horizon` bars (the 0.5 quantile)."
    )
    predicted_return: float = Field(description="Simple return of the median forecast to the last step.")
    horizon: int
    interval: str
    current_price: float
    last_bar_time: datetime = Field(
        description="When the bar of current_price closed: the request's last_bar_time (or the time it came), or, "
        "from cached bars, the last bar's opening time plus one interval. The horizon's bars are the first "
        "`horizon` that open at or after it."
    )
    target_time: datetime = Field(
        description="last_bar_time plus `horizon` intervals of clock time: the earliest the outcome can be known "
        "(a market's nights, weekends and holidays push the horizon's last bar later; a daily bar's "
        "last_bar_time is noon UTC of its date, so round the clock the outcome comes up to half a day later)."
    )
    model_version: str
    model: Literal["patchtst", "random_walk"] = Field(
        description="patchtst, or random_walk when the model's validation part confirmed no skill: the forecast "
        "is then the last close, intervals from volatility and the training up-rate, and is named so."
    )
    skill: SkillBlock | None = Field(
        description="The live record of this model version (see /price/skill); null when not tracked."
    )
    probability_up: list[float] = Field(
        description="Per step h: P(close at step h > current_price), calibrated on the model's validation "
        "bars and bounded to the range calibration saw."
    )
    probability_up_source: Literal["model", "base_rate"] = Field(
        "model",
        description="model: P(up) moves with the network's answer for this window (validation kept a slope); "
        "base_rate: validation found no skill in it, so P(up) is the model's base rate (its training up-rate, or "
        "0.5) for every window whatever the closes: not a view of this window.",
    )
    quantiles: dict[str, list[float]] = Field(
        description='Forecast closes per step at each quantile level (the level as key, "0.05" ... "0.95", in '
        "ascending order; prices ascend with the level): 0.1-0.9 is an 80% interval, 0.05-0.95 a 90% one, "
        "their widths calibrated on the model's validation bars. One distribution with probability_up: at each "
        "step a level above 1 - P(up) is at or above current_price, a level below it at or under it."
    )
    intervals: Literal["gaps_ahead", "pooled"] = Field(
        "pooled",
        description="gaps_ahead: the quantiles were fitted to the nights and weekends this forecast's path "
        "crosses (the bar times were known: bars the gateway fetched, or `bar_times` sent; and they show "
        "sessions); pooled: fitted over every place in a session alike (no bar times, a round-the-clock market, "
        "or a model that recorded no factors).",
    )
    volatility: float = Field(
        description="One-step log-return volatility (EWMA of the input closes) the forecast is scaled by."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What in the request makes this forecast doubtful, each naming the close and what to do; "
        "empty when nothing does: a one-bar move in the sent `prices` that looks like a stock split left "
        "unadjusted (near a split ratio and extreme for the series), which the forecast takes for a real move; "
        "closes that do not move (the last 10 all equal, or half the window's moves zero), whose volatility and "
        "intervals understate the risk.",
    )


class BatchPriceResponse(BaseModel):
    predictions: list[PriceResponse]
    processing_time_ms: float


class PriceEvaluationResponse(BaseModel):
    """Every model version's forecasts of the symbol together; a forecast asked again for the same bar (one
    forecast: version, last bar, horizon) counts once."""

    symbol: str
    days: int
    count: int = Field(description="Resolved forecasts made in the window, each counted once.")
    buckets: int = Field(
        0,
        description="Periods of one horizon their origins fall in: forecasts within one horizon share their "
        "moves, so this, not count, is the sample size.",
    )
    calls: int = Field(
        0,
        description="Of those, the ones that called a direction (up or down): a flat forecast, the random walk's, "
        "calls none and is not in the hit rate.",
    )
    hits: int = Field(description="Directional calls that the move bore out.")
    pending: int = Field(description="Forecasts in the window whose outcome is not known yet.")
    unscorable: int = Field(
        0,
        description="Resolved forecasts left out of every figure, each counted once: the bars after them have a "
        "hole of over 5 days that the source could not fill (an outage longer than it keeps bars, or a market "
        "closed that long), or a price is not a finite number or the last close 0.",
    )
    hit_rate: float | None = Field(description="hits / calls; null without a call.")
    ci95: tuple[float, float] | None = Field(
        description="95% interval of the hit rate: block bootstrap over the periods of one horizon (expanded "
        f"percentile); null on fewer than {MIN_BUCKETS} periods, too few for its 95% to mean 95%."
    )
    always_up_rate: float | None = Field(
        None, description="What always calling up scored on the same calls: the bar a hit rate must clear."
    )
    edge_over_always_up: float | None = Field(None, description="hit_rate - always_up_rate.")
    edge_ci95: tuple[float, float] | None = Field(
        None,
        description="Its 95% interval, paired (both from the same resampled periods): wholly above 0, the calls "
        "beat always-up; null as ci95.",
    )
    mae: float | None = Field(description="Mean absolute error of the price at the horizon.")
    model_versions: dict[str, int] = Field(
        default_factory=dict, description="Resolved forecasts counted, by the model version that made them."
    )
    skill: dict[str, Skill] | None = Field(
        None,
        description="Live skill of the serving version for this symbol, per window (as /price/skill); "
        "null when no model serves.",
    )


class VersionSkill(BaseModel):
    serving: bool
    pooled: dict[str, Skill] = Field(description="Figures pooled over symbols, per window.")
    symbols: dict[str, dict[str, Skill]] = Field(description="Per symbol, per window.")


class PriceSkillResponse(BaseModel):
    serving_version: str | None
    windows: list[str] = Field(
        description='Windows of forecasts: e.g. "30d", "90d" and "all" (every forecast of the version, across '
        "rollbacks and re-promotions)."
    )
    judged_window: str = Field(
        description="The window /price/health judges the serving version on now (health_window, or the first "
        'longer one that holds enough); Prometheus repeats its figures as window="judged".'
    )
    health_window: str = Field(
        description="The first window: /price/health and each forecast's `skill` judge on it, or, while it holds "
        "too few periods of one horizon, on the first longer one (then all) that holds enough; their `window` "
        "names which."
    )
    min_resolved: int = Field(description="Resolved forecasts needed before /price/health judges a version.")
    resolved_counted: int = Field(
        description="Distinct resolved forecasts counted since the gateway started (one asked again counts once)."
    )
    refreshed_at: float | None = Field(description="POSIX time of the last count.")
    versions: dict[str, VersionSkill]
