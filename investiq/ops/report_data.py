"""What `investiq report` shows, read from the journal: forecasts, sentiment and the strategy weights.

Reading only: the caller passes a read-only connection. Days are UTC calendar days (SQLite `date()`
of the ISO timestamps the gateway writes). Strategy weights are not stored per day, so they are
rebuilt by replaying `bayesian_events` (the source of truth) in closing order through the gateway's
own posterior and allocation code: the last replayed point is what `GET /bayesian/weights` serves.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
from numpy.typing import NDArray

from gateway.services.bayesian import BayesianService, StrategyStats
from investiq.core.bayes.allocation import Method
from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, observe
from investiq.core.finbert import LABELS
from investiq.core.forecast_stats import HitRate, hit_rate
from investiq.core.journal import bayesian as store
from investiq.core.journal.predictions import (
    price_days_since,
    resolved_after,
    sentiment_labels_by_day,
    sentiment_scores_since,
)
from investiq.core.skill import Skill, SkillBook

WEIGHT_METHOD: Method = "mean"  # the default of GET /bayesian/weights


@dataclass(frozen=True)
class Tally:
    """Price forecasts of one day or one model version."""

    forecasts: int = 0  # made
    resolved: int = 0  # horizon passed and scored
    calls: int = 0  # resolved that called a direction: a 'flat' forecast, the random walk's, calls none
    hits: int = 0  # calls that the move bore out
    ups: int = 0  # calls whose actual price ended above the last price: what "always up" gets right on them
    hits_up: int = 0  # hits among those: the rest of the hits were down calls that were right

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.forecasts + other.forecasts,
            self.resolved + other.resolved,
            self.calls + other.calls,
            self.hits + other.hits,
            self.ups + other.ups,
            self.hits_up + other.hits_up,
        )

    @property
    def interval(self) -> HitRate:
        return scored(self.hits, self.calls, self.ups, self.hits_up)


def scored(hits: int, n: int, ups: int, hits_up: int) -> HitRate:
    """The hit rate of `hits` out of `n` calls with its exact 95% interval and paired p-value against always-up
    (`ups` of the outcomes were up, `hits_up` of the hits among them).

    The journal's `correct` already applies the resolver's rule (NULL for a 'flat' forecast, which calls no
    direction), so `hit_rate` is given calls and outcomes with these counts, not calls re-derived from prices.
    """
    right_up, right_down, wrong_up = hits_up, hits - hits_up, ups - hits_up
    wrong_down = n - right_up - right_down - wrong_up  # called up, went down
    calls = np.repeat([True, False, False, True], [right_up, right_down, wrong_up, wrong_down])
    outcomes = np.repeat([True, False, True, False], [right_up, right_down, wrong_up, wrong_down])
    return hit_rate(calls, outcomes)


@dataclass(frozen=True)
class JournalView:
    since: datetime  # start of the window, UTC
    now: datetime
    price_days: dict[date, Tally]
    versions: dict[str, Tally]  # in order of first use
    version_changes: list[tuple[date, str]]  # day on which each run of a model version began
    sentiment_days: dict[date, dict[str, int]]  # label -> predictions
    scores: NDArray[np.float64]  # (n,) sentiment score p_pos - p_neg of every prediction
    weight_days: dict[date, dict[str, float]]  # strategy weights at the end of each day
    latest: list[StrategyStats]  # what the gateway serves now (from bayesian_state)
    events_in_window: int
    events_total: int
    skill: dict[str, list[tuple[date, Skill]]]  # per model version: its live record up to the end of each day

    @property
    def price(self) -> Tally:
        return sum(self.price_days.values(), Tally())

    @property
    def empty(self) -> bool:
        return not (self.price_days or self.sentiment_days or self.events_in_window or self.latest)

    def days(self) -> list[date]:
        """From the first day with anything in the window to today: the x axis all plots share."""
        seen = [*self.price_days, *self.sentiment_days]
        seen += [d for d, w in self.weight_days.items() if w]
        first = min(seen, default=self.now.date())
        return [first + timedelta(days=i) for i in range((self.now.date() - first).days + 1)]


def read(conn: sqlite3.Connection, service: BayesianService, days: int, now: datetime) -> JournalView:
    """Everything of the last `days` days before `now` (timezone-aware) from a read-only connection."""
    since = now - timedelta(days=days)
    price_days, versions, changes = _price(conn, since.isoformat())
    sentiment_days, scores = _sentiment(conn, since.isoformat())
    events = store.events_until(conn, now.timestamp())
    window = [since.date() + timedelta(days=i) for i in range((now.date() - since.date()).days + 1)]
    weight_days = _replay(events, window, service, now.timestamp())
    return JournalView(
        since=since,
        now=now,
        price_days=price_days,
        versions=versions,
        version_changes=changes,
        sentiment_days=sentiment_days,
        scores=scores,
        weight_days={d: w for d, w in weight_days.items() if w},
        latest=service.stats_from(store.load_states(conn, service.half_life_days), WEIGHT_METHOD, now.timestamp()),
        events_in_window=sum(1 for e in events if e["closed_ts"] >= since.timestamp()),
        events_total=store.count_events(conn),
        skill=_skill(conn, since),
    )


def _skill(conn: sqlite3.Connection, since: datetime) -> dict[str, list[tuple[date, Skill]]]:
    """Each model version's live record (pooled over symbols) over the resolved forecasts made in the
    window, as it stood at the end of each day that had forecasts (their origin, the last bar's day)."""
    from investiq.core.skill import outcome_of_row

    book, mark = SkillBook(), ("", 0)
    days: dict[str, set[date]] = {}
    while batch := resolved_after(conn, *mark):
        mark = (batch[-1]["resolved_at"], int(batch[-1]["id"]))
        chosen = [outcome_of_row(r) for r in batch if r["created_at"] >= since.isoformat()]
        book.add(chosen)
        for o in chosen:
            days.setdefault(o.model_version, set()).add(datetime.fromtimestamp(o.origin_ts, timezone.utc).date())

    def end(d: date) -> float:
        return datetime.combine(d + timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()

    return {v: [(d, book.skill(v, until_ts=end(d))) for d in sorted(ds)] for v, ds in days.items()}


def _price(
    conn: sqlite3.Connection, since_iso: str
) -> tuple[dict[date, Tally], dict[str, Tally], list[tuple[date, str]]]:
    rows = price_days_since(conn, since_iso)
    by_day: dict[date, Tally] = {}
    by_version: dict[str, Tally] = {}
    changes: list[tuple[date, str]] = []
    for r in rows:
        if r["day"] is None:  # a timestamp SQLite cannot read: nothing to place it on
            continue
        day = date.fromisoformat(r["day"])
        resolved = r["actual_price"] is not None
        called = resolved and r["correct"] is not None
        up = called and r["actual_price"] > r["last_price"]
        one = Tally(1, int(resolved), int(called), int(called and r["correct"]), int(up), int(up and r["correct"]))
        by_day[day] = by_day.get(day, Tally()) + one
        by_version[r["model_version"]] = by_version.get(r["model_version"], Tally()) + one
        if not changes or changes[-1][1] != r["model_version"]:
            changes.append((day, r["model_version"]))
    return by_day, by_version, changes


def _sentiment(conn: sqlite3.Connection, since_iso: str) -> tuple[dict[date, dict[str, int]], NDArray[np.float64]]:
    by_day: dict[date, dict[str, int]] = {}
    for r in sentiment_labels_by_day(conn, since_iso):
        by_day.setdefault(date.fromisoformat(r["day"]), dict.fromkeys(LABELS, 0))[r["label"]] = r["n"]
    return by_day, np.array(sentiment_scores_since(conn, since_iso), dtype=np.float64)


def _replay(
    events: list[sqlite3.Row], days: list[date], service: BayesianService, now_ts: float
) -> dict[date, dict[str, float]]:
    """Fold the events (sorted by closed_ts) day by day; weights as the gateway computes them at each day's end.

    Events before the first day still count (decayed), as they do in the gateway's state.
    """
    states: dict[str, Evidence] = {}
    weights: dict[date, dict[str, float]] = {}
    i = 0
    for day in days:
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
        end = min(midnight + SECONDS_PER_DAY, now_ts)
        while i < len(events) and events[i]["closed_ts"] <= end:
            name, won, pnl, ts = events[i]
            start = states.get(name) or Evidence(ref_ts=ts)
            states[name] = observe(start, ts, None if won is None else bool(won), pnl, service.half_life_days)
            i += 1
        weights[day] = {s.strategy_name: s.weight for s in service.stats_from(states, WEIGHT_METHOD, end)}
    return weights
