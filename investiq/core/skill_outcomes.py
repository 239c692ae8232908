"""Resolved forecasts read from the journal (`outcome_of_row`) as `Outcome`s, each the sums one forecast adds to
the live skill (investiq/core/skill.py): pure, no I/O.

Per row (a resolved forecast at its horizon):
    calls      the forecast called a direction, up or down (a 'flat' one, the random walk's, calls none)
    hit        that direction had the sign of the move (`correct`, as the resolver sets it)
    call_up    the close rose, counted over the calls: the always-up call's hit on the same forecasts
    brier      (P(up) - up)^2, and of the base rate the model would serve without skill
    cover80/90 the actual close within the 0.1-0.9 / 0.05-0.95 quantiles; and again over the forecasts whose
               intervals were fitted to the gaps ahead (`intervals` 'gaps_ahead': investiq/core/gaps.py)
    error      |forecast - actual| / last close, and the random walk's |last - actual| / last
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.market import INTERVAL_SECONDS

COLUMNS = (
    "n",
    "calls",
    "hits",
    "call_ups",
    "n_probability",
    "brier",
    "brier_base",
    "n_intervals",
    "cover80",
    "cover90",
    "error",
    "error_random_walk",
    "n_gaps_ahead",
    "cover80_gaps_ahead",
    "cover90_gaps_ahead",
    "edge",  # per call: right (1) or not (0), less always-up's (1 where the close rose): the paired difference
    "down_calls",  # the calls that were "down": the only ones whose edge is not 0
    "brier_coin",  # the Brier score of P(up) 0.5: 0.25 for every forecast with a P(up)
)
COLUMN = {name: i for i, name in enumerate(COLUMNS)}
SAME_PROBABILITY = 1e-6  # probabilities closer than this are one (float32 rounding, not a forecast)
# A median closer to the last close than this, relatively, is the last close: the graph computes in float32 and
# the journal keeps the close sent in float64, so the random walk's median differs from it by up to half a float32
# step (6e-8 relative), which a tie (a close that did not move) scored as an error the random walk had not made
SAME_CLOSE = 2e-7


OutcomeKey = tuple[str, str, str, float, float]  # (version, symbol, what the time is, POSIX seconds, horizon s)


@dataclass(frozen=True)
class Outcome:
    """One resolved forecast at its horizon (a journal row of price_predictions)."""

    origin_ts: float  # POSIX seconds of the forecast's last bar: where its horizon starts
    symbol: str
    model_version: str
    horizon_seconds: float  # horizon_steps x the bar interval
    last_price: float
    predicted_price: float
    actual_price: float
    correct: bool | None  # None: the forecast called no direction ('flat')
    probability_up: float | None = None
    base_probability_up: float | None = None
    quantiles: dict[str, float] | None = None  # level ("0.05") -> close at the horizon
    intervals: str | None = None  # "gaps_ahead" or "pooled": how the quantiles were fitted (None: not recorded)
    span_seconds: float | None = None  # from the last bar to when the H-th bar closed (None: not recorded)
    outcome_ts: float | None = None  # POSIX seconds of when the H-th bar closed (None: not recorded)

    @property
    def key(self) -> OutcomeKey:
        """Which forecast this is: the same one asked again counts once (`SkillBook.add`). By the bar it was
        scored on where the resolver recorded it: one forecast's last bar dated two ways (a US close at 21:00 UTC,
        and the next bar's label, 04:00 the next day) fell in two cells of `forecast_key`'s grid and counted twice
        (a review). Else by `forecast_key`'s origin."""
        if self.outcome_ts is not None:
            return self.model_version, self.symbol, "outcome", self.outcome_ts, self.horizon_seconds
        return self.origin_key

    @property
    def origin_key(self) -> OutcomeKey:
        """The key of a row without outcome_ts (resolved before journal schema 8) of the same forecast."""
        return self.model_version, self.symbol, "origin", self.origin_ts, self.horizon_seconds

    @property
    def scorable(self) -> bool:
        """Whether the row can be scored: its closes and forecast finite numbers and its last close not 0. A NaN
        actual the journal stored as NULL, a last close of 0 or an infinite price raised or scored NaN, and one
        such row stopped the whole report (a review); `SkillBook.add` leaves them out and counts them."""
        prices = (self.last_price, self.predicted_price, self.actual_price)
        return all(isinstance(p, int | float) and math.isfinite(p) for p in prices) and self.last_price != 0

    def row(self) -> NDArray[np.float64]:
        values = np.zeros(len(COLUMNS))
        up = float(self.actual_price > self.last_price)
        values[COLUMN["n"]] = 1
        if self.correct is not None:
            values[COLUMN["calls"]] = 1
            values[COLUMN["hits"]] = float(self.correct)
            values[COLUMN["call_ups"]] = up
            values[COLUMN["edge"]] = float(self.correct) - up
            values[COLUMN["down_calls"]] = float(self.correct) != up  # right where it fell, or wrong where it rose
        if self.probability_up is not None and self.base_probability_up is not None:
            p = self.probability_up
            # The graph computes in float32, the base rate is recorded in float64: a P(up) that is the base
            # rate serves it to about 1e-8, and must score exactly what the base rate scores.
            p = self.base_probability_up if abs(p - self.base_probability_up) < SAME_PROBABILITY else p
            values[COLUMN["n_probability"]] = 1
            values[COLUMN["brier"]] = (p - up) ** 2
            values[COLUMN["brier_base"]] = (self.base_probability_up - up) ** 2
            values[COLUMN["brier_coin"]] = 0.25
        q = self.quantiles or {}
        if all(k in q for k in ("0.05", "0.1", "0.9", "0.95")):
            values[COLUMN["n_intervals"]] = 1
            values[COLUMN["cover80"]] = float(q["0.1"] <= self.actual_price <= q["0.9"])
            values[COLUMN["cover90"]] = float(q["0.05"] <= self.actual_price <= q["0.95"])
            if self.intervals == "gaps_ahead":
                values[COLUMN["n_gaps_ahead"]] = 1
                values[COLUMN["cover80_gaps_ahead"]] = values[COLUMN["cover80"]]
                values[COLUMN["cover90_gaps_ahead"]] = values[COLUMN["cover90"]]
        median = self.predicted_price
        median = self.last_price if abs(median / self.last_price - 1) < SAME_CLOSE else median
        values[COLUMN["error"]] = abs(median - self.actual_price) / self.last_price
        values[COLUMN["error_random_walk"]] = abs(self.last_price - self.actual_price) / self.last_price
        return values


def quantiles_from_json(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    try:
        levels = {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):  # {"0.05": null}: not the gateway's writing; no interval to score
        return None
    return levels if all(math.isfinite(v) for v in levels.values()) else None


ForecastKey = tuple[str, str, float, float]  # (model version, symbol, origin POSIX seconds, horizon seconds)


def forecast_key(row: Any) -> ForecastKey:
    """Which forecast a journal row is (the same one asked again for its bar has the same key); a resolved one
    is told by the bar it was scored on (`Outcome.key`), a pending one by this.

    The origin is the forecast's last bar time, on a grid of half its interval: a caller that sends its closes
    without `last_bar_time` gets the request's time, and polling every few seconds made each poll a forecast of
    its own. Bar times one interval apart stay apart on that grid; polls within half an interval count once, and
    over one interval two or three times (in `n`: the intervals go by horizon periods, which they do not add
    to)."""
    origin = datetime.fromisoformat(row["last_bar_time"] or row["created_at"])
    if origin.tzinfo is None:  # bar times of the cache are UTC
        origin = origin.replace(tzinfo=timezone.utc)
    step = INTERVAL_SECONDS.get(row["interval"], 86_400)
    grid = step / 2
    horizon = row["horizon_steps"] * step
    return row["model_version"], row["symbol"], math.floor(origin.timestamp() / grid) * grid, float(horizon)


def _timestamp(text: str) -> float:
    """POSIX seconds of an ISO time (UTC where it names no zone, as the bar cache's times)."""
    at = datetime.fromisoformat(text)
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


def outcome_of_row(row: Any) -> Outcome:
    """A resolved journal row (journal.predictions.RESOLVED_COLUMNS) as an Outcome; one that cannot be read (a
    time that is not one, a price or P(up) that is not a number: not the gateway's writing) as one that cannot
    be scored, which `SkillBook.add` counts: it raised, and stopped every reader of the journal (a review)."""
    try:
        return _outcome(row)
    except (ValueError, TypeError, AttributeError, OverflowError):
        nan = math.nan
        # an origin of its own (a NaN equals nothing), so that each such row counts once: one key for every such
        # row of a symbol and version counted five of them as one (a review)
        return Outcome(float("nan"), str(row["symbol"]), str(row["model_version"]), 0.0, nan, nan, nan, None)


def _outcome(row: Any) -> Outcome:
    version, symbol, origin_ts, horizon_seconds = forecast_key(row)
    span, outcome_ts, closed = None, None, _column(row, "outcome_bar_time")
    if closed:
        try:
            outcome_ts = _timestamp(closed)
            span = outcome_ts - _timestamp(row["last_bar_time"]) if row["last_bar_time"] else None
        except ValueError:  # a time Python cannot read: as if not recorded
            span = None
    return Outcome(
        origin_ts=origin_ts,
        symbol=symbol,
        model_version=version,
        horizon_seconds=horizon_seconds,
        last_price=row["last_price"],
        predicted_price=row["predicted_price"],
        actual_price=row["actual_price"],
        correct=None if row["correct"] is None else bool(row["correct"]),
        probability_up=_probability(row["probability_up"]),
        base_probability_up=_probability(row["base_probability_up"]),
        quantiles=quantiles_from_json(row["quantiles"]),
        intervals=_column(row, "intervals"),
        span_seconds=span,
        outcome_ts=outcome_ts,
    )


def _probability(value: Any) -> float | None:
    """A recorded probability, or None where it is not one (no number, or outside [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None
    return float(value)


def _column(row: Any, name: str) -> Any:
    """A column of a journal row, None where the row lacks it (a SELECT * of a journal before the migration that
    added it; RESOLVED_COLUMNS names it, and a reader checks the schema version first: investiq/ops/report.py)."""
    return row[name] if name in row.keys() else None  # noqa: SIM118 (sqlite3.Row has no __contains__ of names)
