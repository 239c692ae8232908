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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.services.bayesian import BayesianService, StrategyStats
from investiq.core.bayes.allocation import DEFAULT_METHOD
from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, observe
from investiq.core.finbert import LABELS
from investiq.core.journal import bayesian as store
from investiq.core.journal.predictions import (
    price_days_since,
    resolved_in_window,
    sentiment_labels_by_day,
    sentiment_scores_since,
)
from investiq.core.skill import POOLED, Skill, SkillBook, family_worse


@dataclass(frozen=True)
class Tally:
    """Price forecasts of one day or one model version, as the journal holds them: every request a row (a
    forecast asked again for its bar is a row too). What they scored is a Skill (`JournalView`)."""

    forecasts: int = 0  # made
    resolved: int = 0  # horizon passed and scored

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.forecasts + other.forecasts, self.resolved + other.resolved)


@dataclass(frozen=True)
class JournalView:
    since: datetime  # start of the window, UTC
    now: datetime
    price_days: dict[date, Tally]
    versions: dict[str, Tally]  # in order of first use
    version_changes: list[tuple[date, str]]  # each model version and the first day it served in the window
    sentiment_days: dict[date, dict[str, int]]  # label -> predictions
    scores: NDArray[np.float64]  # (n,) sentiment score p_pos - p_neg of every prediction
    weight_days: dict[date, dict[str, float]]  # strategy weights at the end of each day
    latest: list[StrategyStats]  # what the gateway serves now (from bayesian_state)
    events_in_window: int
    events_total: int
    skill: dict[str, list[tuple[date, Skill]]]  # per model version: its live record up to the end of each day
    # What the resolved forecasts made in the window scored, each counted once however often it was asked, with
    # intervals by block bootstrap over horizon periods (investiq/core/skill.py), as /price/skill serves them:
    scored: Skill  # every version's together
    scored_by_version: dict[str, Skill]
    scored_by_day: dict[date, Skill]  # the forecasts made that day
    scored_until_day: dict[date, Skill]  # those made from the window's start to that day's end
    # per version: the symbols whose own MAE ratio's 95% interval lies above 1, [ratio, low, high] (as
    # /price/health's symbols_worse_than_random_walk): the pooled record does not move for one bad symbol
    worse_symbols: dict[str, dict[str, list[float]]]
    # per version: (symbols judged, those worse with all of them judged together: /price/health's
    # symbols_worse_all_judged, by the gateway's own code)
    worse_all_judged: dict[str, tuple[int, dict[str, list[float]]]]
    unscorable: int  # resolved rows left out because they cannot be scored (a NaN actual, a last close of 0)

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
    """Everything of the last `days` days before `now` (timezone-aware) from a read-only connection, all of one
    snapshot of the journal: one read transaction (separate autocommit queries each saw the journal of their own
    moment, and a live gateway writes between them)."""
    conn.execute("BEGIN")
    try:
        return _read(conn, service, days, now)
    finally:
        conn.execute("ROLLBACK")  # read only: nothing to commit


def _read(conn: sqlite3.Connection, service: BayesianService, days: int, now: datetime) -> JournalView:
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
        latest=service.stats_from(
            store.load_states(conn, service.half_life_days), DEFAULT_METHOD, now.timestamp()
        ),
        events_in_window=sum(1 for e in events if e["closed_ts"] >= since.timestamp()),
        events_total=store.count_events(conn),
        **_scored(conn, since),
    )


def _scored(conn: sqlite3.Connection, since: datetime) -> dict[str, Any]:
    """JournalView's figures from the resolved forecasts made in the window (by their `created_at`): each
    version's live record as it stood at the end of each day that had forecasts (their origin, the last bar's
    day), and what they scored, every version's together, by version, by day and up to each day.

    Two passes, tallied as rows are read: in the order the gateway counts them (resolved_at, id), so the figures
    are /price/skill's to the last bit; and in the order they were asked, so a forecast asked on both sides of
    midnight counts once, on the day it was first asked (it counted on both, a review)."""
    from investiq.core.skill_outcomes import outcome_of_row

    book = SkillBook()
    days: dict[str, set[date]] = {}
    for r in resolved_in_window(conn, since.isoformat(), "resolved_at, id"):
        o = outcome_of_row(r)
        if book.add([o]):
            days.setdefault(o.model_version, set()).add(datetime.fromtimestamp(o.origin_ts, timezone.utc).date())

    def end(d: date) -> float:
        return datetime.combine(d + timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()

    by_day: dict[date, Skill] = {}
    until_day: dict[date, Skill] = {}
    one, running, current, seen = SkillBook(), SkillBook(), None, set()
    for r in resolved_in_window(conn, since.isoformat(), "day, created_at, id"):
        day = date.fromisoformat(r["day"])
        if day != current:
            if current is not None and one.forecasts:
                by_day[current], until_day[current] = one.skill(None), running.skill(None)
            one, current = SkillBook(), day
        o = outcome_of_row(r)
        if o.key in seen:  # asked before, on this day or an earlier one
            continue
        if one.add([o]):
            running.add([o])
            seen.add(o.key)
    if current is not None and one.forecasts:
        by_day[current], until_day[current] = one.skill(None), running.skill(None)
    return {
        "skill": {v: [(d, book.skill(v, until_ts=end(d))) for d in sorted(ds)] for v, ds in days.items()},
        "scored": book.skill(None),
        "scored_by_version": {v: book.skill(v) for v in days},
        "scored_by_day": by_day,
        "scored_until_day": until_day,
        "worse_symbols": {v: _worse(book, v) for v in days},
        "worse_all_judged": {v: _worse_all_judged(book, v) for v in days},
        "unscorable": book.unscorable,
    }


def _worse(book: SkillBook, version: str) -> dict[str, list[float]]:
    """`version`'s symbols whose own MAE ratio is significantly above 1 (95% each), [ratio, low, high]."""
    out = {}
    for v, symbol in book.groups():
        ratio = book.skill(version, symbol).mae_ratio if v == version and symbol != POOLED else None
        if ratio is not None and ratio.ci95 is not None and ratio.ci95[0] > 1 and ratio.value is not None:
            out[symbol] = [round(ratio.value, 4), round(ratio.ci95[0], 4), round(ratio.ci95[1], 4)]
    return out


def _worse_all_judged(book: SkillBook, version: str) -> tuple[int, dict[str, list[float]]]:
    """(symbols judged, those significantly worse than the random walk with all of them judged together): the
    gateway's own `family_worse` (Bonferroni, as /price/health's symbols_worse_all_judged), run on the window's
    book; at 95 % each, one symbol in 20 of a model no worse than the random walk is flagged by chance."""
    window = "window"
    snapshot = {(v, s): {window: book.skill(v, s)} for v, s in book.groups() if v == version}
    judged = sum(1 for (_, s), w in snapshot.items() if s != POOLED and w[window].mae_ratio.ci95 is not None)
    return judged, family_worse(book, snapshot, version, window, None)


def _price(
    conn: sqlite3.Connection, since_iso: str
) -> tuple[dict[date, Tally], dict[str, Tally], list[tuple[date, str]]]:
    rows = price_days_since(conn, since_iso)
    by_day: dict[date, Tally] = {}
    by_version: dict[str, Tally] = {}
    changes: list[tuple[date, str]] = []  # one per version, on its first day: gateways mid-rollout alternate rows
    for r in rows:
        if r["day"] is None:  # a timestamp SQLite cannot read: nothing to place it on
            continue
        day = date.fromisoformat(r["day"])
        # resolved is resolved, scorable or not: one with no actual (a hole in the bars) read as pending (a review)
        one = Tally(1, int(r["resolved_at"] is not None))
        by_day[day] = by_day.get(day, Tally()) + one
        if r["model_version"] not in by_version:
            changes.append((day, r["model_version"]))
        by_version[r["model_version"]] = by_version.get(r["model_version"], Tally()) + one
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
        weights[day] = {s.strategy_name: s.weight for s in service.stats_from(states, DEFAULT_METHOD, end)}
    return weights
