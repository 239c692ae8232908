"""Schemas of the /price routes (the original design's JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.common import FiniteFloat, Name
from investiq.core.patchtst import FLAT_BAND


class PriceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: Name
    prices: list[FiniteFloat] | None = Field(
        None, description="Closes, oldest first (at least the model's context length); omitted: recent bars."
    )
    interval: str | None = Field(None, description="Bar interval of `prices`; must be the model's (e.g. 15m).")


class BatchPriceRequest(BaseModel):
    requests: list[PriceRequest]


class PriceResponse(BaseModel):
    symbol: str
    direction: Literal["up", "down", "flat"] = Field(
        description=f"Sign of the median forecast's return at the horizon (flat when |return| < {FLAT_BAND:g})."
    )
    confidence: float = Field(
        description="max(P(up), 1 - P(up)) at the horizon: the calibrated probability of the more likely sign "
        "(0.5 = no idea), bounded to what the model's validation part supported."
    )
    predicted_prices: list[float] = Field(
        description="Median forecast closes for the next `horizon` bars (the 0.5 quantile)."
    )
    predicted_return: float = Field(description="Simple return of the median forecast to the last step.")
    horizon: int
    interval: str
    current_price: float
    last_bar_time: datetime
    target_time: datetime
    model_version: str
    probability_up: list[float] = Field(
        description="Per step h: P(close at step h > current_price), calibrated on the model's validation "
        "bars and bounded to the range calibration saw."
    )
    quantiles: dict[str, list[float]] = Field(
        description='Forecast closes per step at each quantile level (the level as key, "0.05" ... "0.95", in '
        "ascending order; prices ascend with the level): 0.1-0.9 is an 80% interval, 0.05-0.95 a 90% one, "
        "their widths calibrated on the model's validation bars."
    )
    volatility: float = Field(
        description="One-step log-return volatility (EWMA of the input closes) the forecast is scaled by."
    )


class BatchPriceResponse(BaseModel):
    predictions: list[PriceResponse]
    processing_time_ms: float


class PriceEvaluationResponse(BaseModel):
    symbol: str
    days: int
    count: int = Field(description="Resolved forecasts made in the window.")
    hits: int
    pending: int = Field(description="Forecasts in the window whose outcome is not known yet.")
    hit_rate: float | None
    ci95: tuple[float, float] | None = Field(description="Exact (Clopper-Pearson) 95% interval of the hit rate.")
    mae: float | None = Field(description="Mean absolute error of the price at the horizon.")
