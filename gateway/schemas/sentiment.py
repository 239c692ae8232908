"""Schemas of the /sentiment routes (the original design's JSON)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from gateway.schemas.common import Name
from investiq.core.finbert import Label


class SentimentRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    texts: list[StrictStr] = Field(description="Headlines or short news texts (limits: settings).")
    symbol: Name | None = Field(None, description="Ticker the texts are about; stored with each prediction.")
    use_cache: StrictBool = Field(True, description="False: score again even if the text was seen.")


class SentimentPrediction(BaseModel):
    label: Label
    confidence: float = Field(description="Probability of the label.")
    score: float = Field(description="p(positive) - p(negative), in [-1, 1].")
    probabilities: dict[Label, float]
    cached: bool


class SentimentResponse(BaseModel):
    predictions: list[SentimentPrediction]
    model: str = Field(description="finbert, or lexicon when the finance lexicon fallback answers.")
    model_version: str
    processing_time_ms: float
