"""SQL of the prediction logs (written through the writer's fire-and-forget `log`)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple


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


@dataclass(frozen=True)
class PriceRow:
    created_at: str
    symbol: str
    model_name: str
    model_version: str
    interval: str
    horizon_steps: int
    last_price: float
    last_bar_time: str
    predicted_price: float
    predicted_return: float
    direction: str
    confidence: float
    forecast_json: str
    target_time: str
    latency_ms: float
    # The probabilistic forecast at the horizon (schema 3); None leaves the column NULL.
    probability_up: float | None = None  # P(close at the horizon > last_price)
    base_probability_up: float | None = None  # what the model serves without skill (its training up-rate)
    quantiles: str | None = None  # JSON object: quantile level ("0.05") -> forecast close at the horizon
    volatility: float | None = None  # one-step log-return volatility the forecast was scaled by
    intervals: str | None = None  # "gaps_ahead" or "pooled": how the quantiles were fitted (schema 7)


def insert_price(rows: Sequence[PriceRow]) -> Callable[[sqlite3.Connection], None]:
    names = list(PriceRow.__dataclass_fields__)

    def job(conn: sqlite3.Connection) -> None:
        conn.executemany(
            f"INSERT INTO price_predictions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [tuple(getattr(r, n) for n in names) for r in rows],
        )

    return job


def due_price_predictions(conn: sqlite3.Connection, now_iso: str, per_series: int = 1000) -> list[sqlite3.Row]:
    """Unresolved forecasts whose target time has passed: the oldest `per_series` and the newest `per_series` of
    each (symbol, interval), oldest first. Per series, so that rows of a series that can never resolve (a symbol no
    source knows) hold back no other series: with one limit over all rows, a thousand of them stopped every
    resolution. Both ends of a series: its newest rows alone were read until 2026-12-05, and an agent polling one
    symbol every 6 minutes journals a thousand forecasts due but still waiting for their H-th bar within the 4
    days a daily one waits, so the series' older, resolvable forecasts were never read again (an audit); its
    oldest alone, a thousand forecasts older than any bar the source keeps, waiting for ever, would hold back its
    newer ones (a review). Only a thousand of both at once starve the rows between them."""
    return list(
        conn.execute(
            "SELECT id, symbol, interval, horizon_steps, last_price, last_bar_time, direction, predicted_price "
            "FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY symbol, interval ORDER BY target_time, id) "
            "AS oldest, ROW_NUMBER() OVER (PARTITION BY symbol, interval ORDER BY target_time DESC, id DESC) "
            "AS newest "
            "FROM price_predictions WHERE resolved_at IS NULL AND target_time <= ?) "
            "WHERE oldest <= ? OR newest <= ? ORDER BY target_time, id",
            (now_iso, per_series, per_series),
        )
    )


class Resolution(NamedTuple):
    """What the market did to one forecast."""

    id: int
    actual_price: float
    correct: bool | None  # None: the forecast called no direction
    outcome_bar_time: str | None = None  # ISO time the H-th bar closed (None: not known)


RESOLVE = (
    "UPDATE price_predictions SET actual_price = ?, correct = ?, outcome_bar_time = ?, resolved_at = ? "
    "WHERE id = ? AND resolved_at IS NULL"
)


def _flag(correct: bool | None) -> int | None:
    return None if correct is None else int(correct)


def _after_every_stamp(conn: sqlite3.Connection, now: datetime) -> str:
    """`now` as a resolved_at stamp, or a microsecond past the latest stamp in the journal where that is not
    earlier (the index on resolved_at answers MAX at once)."""
    latest = conn.execute("SELECT MAX(resolved_at) FROM price_predictions").fetchone()[0]
    if latest is None:
        return now.isoformat()
    stamped = datetime.fromisoformat(latest)
    stamped = stamped if stamped.tzinfo else stamped.replace(tzinfo=timezone.utc)
    if stamped >= now:
        now = stamped + timedelta(microseconds=1)
    return now.isoformat()


class Resolved(NamedTuple):
    """What a `resolve_price` job changed: rows resolved (not those another process resolved first), and of them
    the unscorable ones (no actual)."""

    rows: int
    unscorable: int


def resolve_price(
    resolutions: Sequence[Resolution | tuple[int, float, bool | None]], resolved_at: str | None = None
) -> Callable[[sqlite3.Connection], Resolved]:
    """A writer job: a Resolution per forecast ((id, actual_price, correct) without the outcome bar's time);
    a row already resolved is left alone. `resolved_at` None (the resolver's): stamped when the job runs, inside
    its write transaction, so that stamps follow the order in which resolutions commit, whichever process makes
    them; a gateway counts resolved rows past a watermark of (resolved_at, id) (gateway/services/skill.py), and a
    pass that started earlier but committed later had stamped rows behind it, never to be counted. For the same
    reason a stamp is always later than every one before it, a microsecond past the latest where the clock reads
    earlier (stepped back by NTP, or another host's resolver behind): rows stamped behind the watermark were never
    counted until a restart (an audit). Returns what it changed (`Resolved`): with two resolvers at once, the
    second's rows were counted as resolved again."""

    def job(conn: sqlite3.Connection) -> Resolved:
        stamp = resolved_at or _after_every_stamp(conn, datetime.now(timezone.utc))
        rows = [Resolution(*r) for r in resolutions]

        def rows_with(actual: bool) -> list[Resolution]:  # an actual price, or none (unscorable: stored NULL)
            return [r for r in rows if (r.actual_price is not None and math.isfinite(r.actual_price)) == actual]

        changed = []
        for part in (rows_with(True), rows_with(False)):
            cursor = conn.executemany(
                RESOLVE, [(r.actual_price, _flag(r.correct), r.outcome_bar_time, stamp, r.id) for r in part]
            )
            changed.append(max(cursor.rowcount, 0))
        return Resolved(sum(changed), changed[1])

    return job


def resolved_in_window(conn: sqlite3.Connection, since_iso: str, order: str) -> sqlite3.Cursor:
    """The resolved forecasts made since `since_iso` (by their `created_at`, in SQL: a short window reads only its
    own rows; `investiq report`), as `resolved_after` reads them, in `order` (an ORDER BY of the caller's own,
    never a request's), one at a time (nothing kept)."""
    return conn.execute(
        f"SELECT {RESOLVED_COLUMNS} FROM price_predictions "
        f"WHERE resolved_at IS NOT NULL AND created_at >= ? AND date(created_at) IS NOT NULL ORDER BY {order}",
        (since_iso,),
    )


def resolved_price_predictions(conn: sqlite3.Connection, symbol: str, since_iso: str) -> list[sqlite3.Row]:
    """The resolved forecasts of `symbol` made since `since_iso` (RESOLVED_COLUMNS), oldest first."""
    return list(
        conn.execute(
            f"SELECT {RESOLVED_COLUMNS} FROM price_predictions "
            "WHERE symbol = ? AND created_at >= ? AND resolved_at IS NOT NULL ORDER BY created_at",
            (symbol, since_iso),
        )
    )


def pending_price_predictions(conn: sqlite3.Connection, symbol: str, since_iso: str) -> list[sqlite3.Row]:
    """Forecasts of `symbol` made since `since_iso` whose outcome is not known yet: what tells one apart."""
    return list(
        conn.execute(
            "SELECT model_version, symbol, last_bar_time, created_at, horizon_steps, interval "
            "FROM price_predictions WHERE symbol = ? AND created_at >= ? AND resolved_at IS NULL",
            (symbol, since_iso),
        )
    )


RESOLVED_COLUMNS = (
    "id, created_at, symbol, model_name, model_version, interval, horizon_steps, last_price, last_bar_time, "
    "predicted_price, actual_price, correct, probability_up, base_probability_up, quantiles, intervals, "
    "resolved_at, outcome_bar_time, "
    "date(created_at) AS day"  # the UTC day SQLite reads, as price_days_since groups by it
)


def resolved_after(
    conn: sqlite3.Connection, resolved_at: str, row_id: int, limit: int = 10_000
) -> list[sqlite3.Row]:
    """Price forecasts resolved after the watermark (resolved_at, id), in that order: what a live skill
    tally has not counted yet (index price_predictions_resolved: no scan of older rows). Two seeks of the index
    (resolved_at, id), merged in its order: the watermark's stamp after its id, then every later stamp. Written as
    `resolved_at > ? OR (resolved_at = ? AND id > ?)`, SQLite seeked from the index's start and each refresh read
    every resolved row (33 ms on 500k, a review); as a row value, `(resolved_at, id) > (?, ?)`, SQLite 3.40 seeks
    on resolved_at alone and read every row of the watermark's stamp (one resolver pass stamps thousands)."""
    return list(
        conn.execute(
            f"SELECT * FROM (SELECT {RESOLVED_COLUMNS} FROM price_predictions WHERE resolved_at = ?1 AND id > ?2 "
            f"UNION ALL SELECT {RESOLVED_COLUMNS} FROM price_predictions WHERE resolved_at > ?1) "
            "ORDER BY resolved_at, id LIMIT ?3",
            (resolved_at, row_id, limit),
        )
    )


@dataclass(frozen=True)
class Pruned:
    sentiment: int  # sentiment predictions deleted
    price_unresolved: int  # price forecasts deleted that were never resolved (no bars came for them)

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.sentiment + other.sentiment, self.price_unresolved + other.price_unresolved)


def price_days_since(conn: sqlite3.Connection, since_iso: str) -> sqlite3.Cursor:
    """Every price forecast made since `since_iso`, in order: its UTC day (None where SQLite cannot read the
    time), model_version, last_price, actual_price, correct and resolved_at (`investiq report`)."""
    return conn.execute(
        "SELECT date(created_at) AS day, model_version, last_price, actual_price, correct, resolved_at "
        "FROM price_predictions WHERE created_at >= ? ORDER BY created_at, id",
        (since_iso,),
    )


def sentiment_labels_by_day(conn: sqlite3.Connection, since_iso: str) -> sqlite3.Cursor:
    """(day, label, n): how many headlines scored since `since_iso` got each label on each UTC day."""
    return conn.execute(
        "SELECT date(created_at) AS day, label, count(*) AS n FROM sentiment_predictions "
        "WHERE created_at >= ? AND date(created_at) IS NOT NULL GROUP BY day, label ORDER BY day",
        (since_iso,),
    )


def sentiment_scores_since(conn: sqlite3.Connection, since_iso: str) -> list[float]:
    """The score (P(positive) - P(negative)) of every headline scored since `since_iso`, as the labels by day count
    them: a time SQLite cannot read is on no day (counted here, report.json said 0 predictions, mean score 0.9)."""
    rows = conn.execute(
        "SELECT score FROM sentiment_predictions WHERE created_at >= ? AND date(created_at) IS NOT NULL",
        (since_iso,),
    )
    return [float(score) for (score,) in rows]


# Rows of each table one prune job deletes: a few thousand take the write lock for milliseconds, not the seconds
# that one DELETE of a long history held it for (1.6M rows, past the agent's 5 s busy timeout, a review).
PRUNE_BATCH = 4000


def prune(before_iso: str, batch: int = PRUNE_BATCH) -> Callable[[sqlite3.Connection], Pruned]:
    """A writer job deleting up to `batch` rows of each kind made before `before_iso`, oldest first: sentiment
    predictions, and price forecasts never resolved whose target time is before it too; run again until it deletes
    fewer (gateway/services/retention.py). Only then can no outcome come for a forecast: one made before the
    cutoff is not due yet under a horizon longer than the retention (12 daily bars, 7 days), and was deleted
    unscored (a review). Resolved price forecasts are kept: they are the live-skill record of each model version
    (gateway/services/skill.py), a row each, no bigger than a log line. Returns what was deleted."""

    def job(conn: sqlite3.Connection) -> Pruned:
        sentiment = conn.execute(
            "DELETE FROM sentiment_predictions WHERE id IN (SELECT id FROM sentiment_predictions "
            "WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (before_iso, batch),
        ).rowcount
        price = conn.execute(
            "DELETE FROM price_predictions WHERE id IN (SELECT id FROM price_predictions "
            "WHERE resolved_at IS NULL AND target_time < ? AND created_at < ? ORDER BY target_time LIMIT ?)",
            (before_iso, before_iso, batch),
        ).rowcount
        return Pruned(sentiment, price)

    return job
