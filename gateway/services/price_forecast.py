"""What the price service takes and gives: a query (`PriceQuery`), a forecast (`PriceForecast`), one window's slice
of the graph's outputs (`WindowForecast`, `split_outputs`), the API's names of quantile levels, when a bar closes
(`closed_after`), and the warning for closes sent without their interval. The service itself is
gateway/services/price.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gateway.backends.base import Tensors
from investiq.core.bar_intervals import session_dates
from investiq.core.errors import BackendUnavailableError
from investiq.core.patchtst import OUTPUT, PROBABILITY_UP, QUANTILES, VOLATILITY, PatchTSTMeta

DAY = 86_400


def closed_after(label: datetime, step_s: int) -> datetime:
    """When a bar labelled `label` (by when it opens, as Yahoo's) closed: an interval later, the next bar's label.

    Except a daily or longer bar, whose label names a session date that the resolver's bars may label otherwise:
    Yahoo at the exchange's own midnight, from 06:00 UTC (UTC-6) to 11:00 UTC the day before (UTC+13), a bar file
    at 00:00 UTC of the date (`bar_times._local_days`). Its date is the UTC date half a day after the label (a date
    sent without a time, at UTC midnight, is that date; New York's midnight, 04:00 UTC, and Tokyo's, 15:00 UTC
    the day before, are theirs), and it closes half an interval into that date (noon UTC for a day): after the
    market's own bar and before its next under either labelling, for every exchange from UTC-11 to UTC+12 (not
    Auckland in its summer, UTC+13, whose bars a file labels on another date than Yahoo does by 11 hours). A
    Thursday sent as "2026-09-24" was scored from Monday's bar on in Frankfurt, one bar late east of UTC (a
    review); New York's bars sent with their offset ("2024-04-22T00:00:00-04:00") closed at 04:00 UTC the next
    day, after the next bar of a bar file, and were scored one bar late there (another)."""
    if step_s >= DAY:
        date: datetime = session_dates(pd.DatetimeIndex([label]))[0].to_pydatetime()
        return date + timedelta(seconds=step_s / 2)
    return label + timedelta(seconds=step_s)


class DataUnavailableError(BackendUnavailableError):
    """Recent bars for a symbol cannot be had now (no cache, data source unreachable)."""

    kind = "data_unavailable"


@dataclass(frozen=True)
class PriceQuery:
    symbol: str
    prices: list[float] | None
    interval: str | None
    last_bar_time: datetime | None = None  # of the last of `prices` (aware); None: now
    bar_times: list[datetime] | None = None  # of each of `prices` (aware): where the window sits in its sessions
    horizon: int | None = None  # the steps the caller expects; None: the model's


def unchecked_interval(q: PriceQuery, sent: object, meta: PatchTSTMeta) -> list[str]:
    """A warning where closes were sent with neither `interval` nor `bar_times` to a model trained on the offline
    sample (`up`'s first model: daily index bars): whatever their bars, they are read as the model's, and a new
    user's 15-minute closes got a 12-day forecast with no word of it (a walkthrough)."""
    if sent is None or q.interval is not None or q.bar_times is not None or meta.source != "sample":
        return []
    return [
        f"the model serving is the offline first model, trained on {meta.interval} bars of "
        f"{', '.join(meta.symbols)} (the sample that ships with the arch package): these closes are read as "
        f"{meta.interval} bars; send interval or bar_times to have that checked, and train a model on your own "
        "bars (investiq train patchtst)"
    ]


@dataclass(frozen=True)
class PriceForecast:
    symbol: str
    direction: str
    confidence: float  # max(P(up), 1 - P(up)) at the horizon
    predicted_prices: list[float]  # the median path
    predicted_return: float
    horizon: int
    interval: str
    current_price: float
    last_bar_time: str
    target_time: str
    model_version: str
    model: str  # PATCHTST, or RANDOM_WALK when validation confirmed no skill (PatchTSTMeta.served_as)
    skill: dict[str, Any] | None  # live skill of this version (SkillService.block); None without a tracker
    probability_up: list[float]  # per step
    quantiles: dict[str, list[float]]  # quantile_key(level) -> closes per step
    volatility: float
    warnings: list[str]  # what in the request makes the forecast doubtful (investiq/core/splits.py)
    intervals: str = "pooled"  # "gaps_ahead" where the quantiles took the factors for the gaps ahead
    probability_up_source: str = "model"  # or "base_rate" (PatchTSTMeta.probability_up_source)


@dataclass(frozen=True)
class WindowForecast:
    """One window's slice of the graph's outputs (investiq/core/patchtst.py)."""

    median: NDArray[np.float32]  # [horizon]
    quantiles: NDArray[np.float32]  # [horizon, K]
    probability_up: NDArray[np.float32]  # [horizon]
    volatility: float
    intervals: str = "pooled"  # or "gaps_ahead" (PriceService._across_gaps)

    def problem(self) -> str | None:
        """Why this forecast cannot be served, or None: prices must be finite and > 0, P(up) a
        probability, the volatility finite and >= 0. A NaN must reach neither JSON nor the journal."""
        prices = np.concatenate([self.median, self.quantiles.reshape(-1)])
        if not (np.isfinite(prices).all() and (prices > 0).all()):
            return "its forecast is not a finite positive price"
        p = self.probability_up
        if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
            return "its probability of an up move is not a number in [0, 1]"
        if not (np.isfinite(self.volatility) and self.volatility >= 0):
            return "its volatility is not a finite number >= 0"
        return None


def split_outputs(outputs: Tensors) -> list[WindowForecast]:
    """The batch's outputs, one WindowForecast per window, in order."""

    def tensor(name: str) -> NDArray[np.float32]:
        return np.asarray(outputs[name], dtype=np.float32)

    median, quantiles, p_up, vol = tensor(OUTPUT), tensor(QUANTILES), tensor(PROBABILITY_UP), tensor(VOLATILITY)
    return [WindowForecast(median[i, :, 0], quantiles[i], p_up[i], float(vol[i, 0])) for i in range(len(median))]


def quantile_key(level: float) -> str:
    """A quantile level as the API and the journal name it: "0.05", "0.5", "0.95"."""
    return str(float(level))
