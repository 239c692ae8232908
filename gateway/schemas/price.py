"""Schemas of the /price routes (the original design's JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.common import FiniteFloat, Name


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
    direction: Literal["up", "down", "flat"]
    confidence: float = Field(
        description="Phi(|forecast log return| / (recent one-step volatility * sqrt(horizon))): "
        "0.5 = lost in the noise; a derived score, not a calibrated probability."
    )
    predicted_prices: list[float] = Field(description="Forecast closes for the next `horizon` bars.")
    predicted_return: float = Field(description="Forecast simple return to the last step.")
    horizon: int
    interval: str
    current_price: float
    last_bar_time: datetime
    target_time: datetime
    model_version: str


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
