"""SQL of the prediction logs (written through the writer's fire-and-forget `log`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SentimentRow:
    created_at: str
    symbol: str | None
    text: str
    label: str
    confidence: float
    score: float
    p_positive: float
    p_negative: float
    p_neutral: float
    model_name: str
    model_version: str
    latency_ms: float
    cached: bool


def insert_sentiment(rows: Sequence[SentimentRow]) -> Callable[[sqlite3.Connection], None]:
    """A writer job inserting `rows` in one statement (all or nothing)."""

    def job(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO sentiment_predictions (created_at, symbol, text, label, confidence, score, "
            "p_positive, p_negative, p_neutral, model_name, model_version, latency_ms, cached) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.created_at,
                    r.symbol,
                    r.text,
                    r.label,
                    r.confidence,
                    r.score,
                    r.p_positive,
                    r.p_negative,
                    r.p_neutral,
                    r.model_name,
                    r.model_version,
                    r.latency_ms,
                    int(r.cached),
                )
                for r in rows
            ],
        )

    return job
