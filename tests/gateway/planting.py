"""Resolved price forecasts with known outcomes, planted in a real journal: what the live-skill tests read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.services.resolver import outcome
from investiq.core.journal import open_journal
from investiq.core.journal.predictions import PriceRow, Resolution, insert_price, resolve_price

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
VERSION = "v1"


@dataclass(frozen=True)
class Planted:
    """One forecast with its outcome: the last close, the median, the close at the horizon, P(up), and the
    80 % interval's half-width as a share of the last close (the 90 % one is twice as wide)."""

    last: float
    predicted: float
    actual: float
    p: float = 0.5
    band: float = 0.05
    base: float = 0.5


def plant(
    db: Path,
    rows: Sequence[Planted],
    symbol: str = "SPX",
    horizon: int = 1,
    first: datetime = START,
    resolved_at: datetime | None = None,
    version: str = VERSION,
) -> None:
    """Daily forecasts of `symbol` by `version`, `horizon` days ahead, one a day from `first`, resolved with their
    outcomes a day after the last is due (or at `resolved_at`); in one transaction."""
    conn = open_journal(db)
    try:
        conn.execute("BEGIN")
        before = conn.execute("SELECT coalesce(max(id), 0) FROM price_predictions").fetchone()[0]
        made = [first + timedelta(days=i) for i in range(len(rows))]
        direction = ["up" if r.predicted > r.last else "down" for r in rows]
        insert_price(
            [
                PriceRow(
                    created_at=at.isoformat(),
                    symbol=symbol,
                    model_name="patchtst",
                    model_version=version,
                    interval="1d",
                    horizon_steps=horizon,
                    last_price=r.last,
                    last_bar_time=at.isoformat(),
                    predicted_price=r.predicted,
                    predicted_return=r.predicted / r.last - 1,
                    direction=d,
                    confidence=max(r.p, 1 - r.p),
                    forecast_json="[]",
                    target_time=(at + timedelta(days=horizon)).isoformat(),
                    latency_ms=1.0,
                    probability_up=r.p,
                    base_probability_up=r.base,
                    quantiles=(
                        f'{{"0.05": {r.last * (1 - 2 * r.band)}, "0.1": {r.last * (1 - r.band)}, '
                        f'"0.9": {r.last * (1 + r.band)}, "0.95": {r.last * (1 + 2 * r.band)}}}'
                    ),
                )
                for at, r, d in zip(made, rows, direction, strict=True)
            ]
        )(conn)
        resolutions = [
            Resolution(before + 1 + i, r.actual, outcome(d, r.last, r.actual))
            for i, (r, d) in enumerate(zip(rows, direction, strict=True))
        ]
        stamp = resolved_at or made[-1] + timedelta(days=horizon + 1)
        resolve_price(resolutions, stamp.isoformat())(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
