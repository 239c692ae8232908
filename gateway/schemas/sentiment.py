"""Schemas of the /sentiment routes (the original design's JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, Field, StrictBool, StrictStr

from gateway.schemas.common import RequestBody, Ticker
from investiq.core.finbert import Label


class SentimentRequest(RequestBody):
    synonyms: ClassVar[dict[str, str]] = {"cache": "use_cache"}  # "cache": false ignored served a cached answer
    texts: list[StrictStr] = Field(description="Headlines or short news texts (limits: settings).")
    symbol: Ticker | None = Field(
        None, description="Ticker the texts are about; stored with each prediction, in upper case."
    )
    use_cache: StrictBool = Field(True, description="False: score again even if the text was seen.")


class SentimentPrediction(BaseModel):
    label: Label
    confidence: float = Field(
        description="Probability of the label: FinBERT's softmax; the lexicon's, a score from its evidence, "
        "calibrated only roughly (0.58 with no evidence at all; see the README)."
    )
    score: float = Field(description="p(positive) - p(negative), in [-1, 1].")
    probabilities: dict[Label, float]
    cached: bool


class SentimentResponse(BaseModel):
    predictions: list[SentimentPrediction]
    model: str = Field(description="finbert, or lexicon when the finance lexicon fallback answers.")
    model_version: str
    processing_time_ms: float


def response_json(
    predictions: Sequence[dict[str, Any]], model: str, model_version: str, processing_time_ms: float
) -> bytes:
    """A `SentimentResponse` as JSON, written directly from plain values (each prediction: the fields of
    `SentimentPrediction`). FastAPI would validate the answer into the models again and serialize them
    through pydantic, which costs more than the rest of the route; the route declares the model for the
    API document and returns these bytes. tests/gateway/test_gateway_cost.py holds the two equal."""
    body = {
        "predictions": predictions,
        "model": model,
        "model_version": model_version,
        "processing_time_ms": processing_time_ms,
    }
    # Compact and UTF-8, as pydantic writes it; every float here is finite (softmax, a duration).
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
