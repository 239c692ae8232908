"""Outcome tracking: once a forecast's horizon has passed, fill in what the market did.

The actual price is the close of the H-th bar after the forecast's last bar (H = horizon in bars),
read from the bar cache, refreshed through the data source when needed. The bar is counted by position, so no break
between two of the bars from the forecast's last one to its H-th may be longer than LONG_WEEKEND (5 days: nights,
weekends, Easter): a hole in the cache is fetched over once per series and pass, and one the source cannot fill
makes the forecast unscorable (its actual stored NULL; counted in `investiq_price_unscorable_total` and
/price/evaluate's `unscorable`). A market closed longer (Shanghai at the Lunar New Year and in Golden Week, Tokyo
at the year's end) cannot be told from sessions a source lacks: forecasts across such a closure are unscorable.
A hole of up to 5 days, or a bar missing within a session, still shifts the bar scored. A forecast whose bars are
not there yet is left for a later pass. `correct` compares the forecast direction with the sign of
the actual move; a 'flat' forecast (a median within the flat band of the last close: the random walk's,
always) calls no direction, so its `correct` is NULL and hit rates leave it out. Scored as a call that the
close stays within 1 bp over the horizon, the random walk was "wrong" on nearly every forecast.

Only final closes score. A data source returns the bar in progress with the others; the cache leaves it out
(investiq/core/market_fetch.py `fetch_into`), but one written before 2026-12-04 kept it until a later fetch
overwrote it. So the H-th bar counts as final when a later bar is cached (it was written again after it closed), or
once it has closed and the bars were fetched again in this pass (for a cache of closed bars only, one fetch per
series and pass more than needed); while the source cannot be reached, a forecast whose H-th bar is the
newest cached one waits. A forecast whose last bar the cache does not reach back to waits too: counting from the
first cached bar would score it against the wrong one. One symbol's failure (a name no cache file can have, an
unreadable file, a source that refuses it) leaves its forecasts waiting and the others resolving.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from gateway.metrics import Metrics
from investiq.core.bar_cache import BarCache
from investiq.core.bar_intervals import interval_step
from investiq.core.errors import DataError, JournalUnavailableError
from investiq.core.journal import BUSY_TIMEOUT_MS, JournalError, connect
from investiq.core.journal.predictions import (
    Resolution,
    Resolved,
    due_price_predictions,
    pending_price_predictions,
    resolve_price,
    resolved_price_predictions,
)
from investiq.core.journal.writer import JournalWriter
from investiq.core.market_fetch import Fetch, fetch_back, fetch_into, recent_bars
from investiq.core.market_splits import CACHE_SPLIT_CHANGE, SPLIT_AGREE
from investiq.core.skill import SkillBook
from investiq.core.skill_outcomes import forecast_key, outcome_of_row
from investiq.core.splits import never_splits
from investiq.core.stale import LONG_WEEKEND
from investiq.core.yahoo import YahooError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolveReport:
    resolved: int  # rows this pass resolved (not those another process resolved first)
    waiting: int  # due, but the bars are not there yet
    errors: dict[str, str]  # symbol -> why its bars could not be had
    unscorable: int = 0  # of the resolved, those whose bars have a hole the source cannot fill (no actual)


def outcome(direction: str, last_price: float, actual: float) -> bool | None:
    """Whether the direction called was the move's; None for 'flat', which calls none."""
    if direction == "flat":
        return None
    move = actual / last_price - 1
    return (move > 0) if direction == "up" else (move < 0)


Series = tuple[tuple[str, str], list[sqlite3.Row]]  # (symbol, interval) and its due forecasts


def resolve_due(
    db_path: Path,
    writer: JournalWriter,
    cache: BarCache,
    fetch: Fetch,
    now: datetime | None = None,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    progress: Callable[[list[Series]], Iterable[Series]] = lambda series: series,
    stop: threading.Event | None = None,
) -> ResolveReport:
    """One pass over the due forecasts (blocking: run it off the event loop). `progress` wraps the list of series
    to score, (symbol, interval) and their due rows, as they are scored (`investiq resolve`: a bar). Once `stop`
    is set (the gateway stopping) the pass ends before its next series and writes nothing: the next one scores
    them."""
    now = now or datetime.now(timezone.utc)
    conn = connect(db_path, busy_timeout_ms, readonly=True)
    try:
        due = due_price_predictions(conn, now.isoformat())
    finally:
        conn.close()
    groups: dict[tuple[str, str], list[sqlite3.Row]] = defaultdict(list)
    for row in due:
        groups[(row["symbol"], row["interval"])].append(row)
    resolutions: list[Resolution] = []
    errors: dict[str, str] = {}
    for (symbol, interval), rows in progress(list(groups.items())):
        if stop is not None and stop.is_set():
            return ResolveReport(0, len(due), errors, 0)
        try:
            resolutions.extend(_resolve_series(symbol, interval, rows, cache, fetch, now))
        except DataError as exc:  # Yahoo's reason without the command line's advice: the caller adds its own
            errors[symbol] = exc.reason if isinstance(exc, YahooError) else str(exc)
        except OSError as exc:  # the cache's file system: one series must not keep the others from resolving
            errors[symbol] = f"cannot read or write its cached bars: {exc}"
        except (ValueError, TypeError) as exc:  # a journaled time that is not one, or without its zone (not the
            # gateway's writing): a traceback that stopped every series
            errors[symbol] = f"a forecast in the journal cannot be read (its last_bar_time?): {exc}"
    if stop is not None and stop.is_set():
        return ResolveReport(0, len(due), errors, 0)
    done = writer.submit(resolve_price(resolutions)).result(timeout=60) if resolutions else Resolved(0, 0)
    return ResolveReport(done.rows, len(due) - len(resolutions), errors, done.unscorable)


def _resolve_series(
    symbol: str, interval: str, rows: list[sqlite3.Row], cache: BarCache, fetch: Fetch, now: datetime
) -> list[Resolution]:
    """What the market did to the forecasts of one series whose H-th bar is final (module docstring). Raises
    DataError only when nothing can be scored: no bars cached, and the source refused."""
    refused: DataError | None = None
    try:
        recent_bars(symbol, interval, 1, cache, fetch, now=now)  # refreshes the cache when stale
    except DataError as exc:
        refused = exc  # bars already cached still score where final
    bars = cache.read(symbol, interval)
    if bars is None:
        if refused is not None:
            raise refused
        return []
    step, stamp = interval_step(interval), pd.Timestamp(now)
    fetched_again = False  # in this pass, after the newest cached bar closed
    refilled = False  # in this pass, over a hole in the cache (`_broken`)
    out, times = [], {}
    for row in rows:
        try:
            times[row["id"]] = _bar_time(row["last_bar_time"])
        except (ValueError, TypeError):  # not the gateway's writing: that forecast alone cannot be scored
            out.append(Resolution(row["id"], float("nan"), None, None))
    rows = [row for row in rows if row["id"] in times]
    if not rows:
        return out
    earliest = min(times.values())
    if refused is None and not (bars.index < earliest).any():  # e.g. a forecast older than a new symbol's cache
        try:
            # from NEARBY bars before it, which `on_basis` looks at, and across a long weekend: a forecast dated
            # by the request at a weekend found no bar before it in the 3 hours of 15m bars looked back (a review)
            span = max(2 * (NEARBY + 1) * step, LONG_WEEKEND + (NEARBY + 1) * step)
            back = fetch_back(cache, fetch, symbol, interval, earliest - span, stamp)
            if back is not None:
                bars, fetched_again = back, True
        except DataError as exc:
            refused = exc
    for row in sorted(rows, key=lambda r: times[r["id"]]):
        last_bar_time = times[row["id"]]
        if not (bars.index < last_bar_time).any():
            continue  # the cache does not reach back to the forecast's last bar
        # The bars after the forecast's last one: those that open at or after it closed (bars are labelled by
        # when they open; last_bar_time is when the last bar closed). `>` scored an intraday forecast one bar
        # late: the next bar opens exactly when the last one closes.
        at = int(bars.index.searchsorted(last_bar_time)) + row["horizon_steps"] - 1  # the H-th bar
        if at == len(bars) - 1 and not fetched_again:  # the newest cached bar: cached while it formed, maybe
            if refused is not None or bars.index[at] + step > stamp:
                continue  # the source refused, or the bar has not closed yet
            try:
                bars = fetch_into(cache, fetch, symbol, interval, bars.index[at] - step, stamp)
            except DataError as exc:
                refused = exc
                continue
            fetched_again = True
            at = int(bars.index.searchsorted(last_bar_time)) + row["horizon_steps"] - 1
        if at >= len(bars) or (at == len(bars) - 1 and bars.index[at] + step > stamp):
            continue  # not there yet, or still forming
        last = at - row["horizon_steps"]  # the cached bar of the forecast's last close
        if _broken(bars.index, last, at, step):
            # A hole: the H-th cached bar is not the H-th bar. A review: after an outage longer than the 60 days of
            # 15m bars Yahoo keeps, the refresh left a hole and forecasts were scored 16 days late (daily ones 14
            # days late, on sessions a source lacked); one with a +8 % move inside the hole was taken for a split
            # and rewritten. Fetched over once per series and pass, to now from the bar before the origin of the
            # oldest such forecast (the rows go oldest first); while the source refuses, the forecast waits.
            if not refilled:
                if refused is not None:
                    continue
                try:
                    bars = fetch_into(cache, fetch, symbol, interval, bars.index[last], stamp)
                except DataError as exc:
                    refused = exc
                    continue
                refilled = fetched_again = True  # fetched to now: every cached bar after the origin is final
                at = int(bars.index.searchsorted(last_bar_time)) + row["horizon_steps"] - 1
                last = at - row["horizon_steps"]
                if at >= len(bars) or (at == len(bars) - 1 and bars.index[at] + step > stamp):
                    continue  # not there yet, or still forming
            if _broken(bars.index, last, at, step):  # the source has no more of it: unscorable
                out.append(Resolution(row["id"], float("nan"), None, None))  # stored NULL: `Outcome.scorable`
                continue
        nearby = bars["close"].iloc[max(last - NEARBY, 0) : last + NEARBY + 1].to_numpy()
        actual = (
            float(bars["close"].iloc[at])
            if never_splits(symbol)
            else on_basis(bars["close"].iloc[at], bars["close"].iloc[last], row["last_price"], nearby)
        )
        closed = (bars.index[at] + step).isoformat()  # when the H-th bar closed: the horizon's real span ends
        out.append(Resolution(row["id"], actual, outcome(row["direction"], row["last_price"], actual), closed))
    return out


def _broken(index: pd.DatetimeIndex, last: int, at: int, step: pd.Timedelta) -> bool:
    """Whether the cached bars from the forecast's last one (`last`) to its H-th (`at`) break for longer than
    LONG_WEEKEND: sessions missing from the cache. Whole breaks, bar to bar (labelled by when they open, closing a
    step later): the forecast's origin lies in the one after its last bar, and measured on either side of it a hole
    of up to 10 days passed (a review's 15m forecast dated inside a 6-day hole, scored 4 days late)."""
    closes = index[last:at] + step
    opens = index[last + 1 : at + 1]
    return bool(((opens - closes) > LONG_WEEKEND).any())


NEARBY = 5  # cached bars either side of a forecast's last one whose close, matched, says no split came between


def _bar_time(text: str) -> pd.Timestamp:
    """A journaled bar time in UTC; one without its zone is UTC, as the journal reads every time (a row written
    so by another program stopped its whole series: a naive time cannot be compared with the cache's)."""
    moment = pd.Timestamp(text)
    if pd.isna(moment):
        raise ValueError(f"no time: {text!r}")
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def on_basis(actual: float, cached_last: float, last_price: float, nearby: Iterable[float] = ()) -> float:
    """The H-th bar's close on the forecast's price basis. The cache holds one basis, split-adjusted (a split
    rescales all of it: investiq/core/market_splits.py `split_factor`); where its close of the forecast's last bar
    differs from the forecast's last price beyond CACHE_SPLIT_CHANGE (a split since the forecast), the move over
    the cached bars is applied to the last price. Compared as they stood, a forecast made before a 10-for-1 split
    scored a 90 % fall. Unless the last price is the close of a cached bar `nearby` (within SPLIT_AGREE): the same
    basis, the forecast dated a bar or a day off (closes sent without their times during a session are dated then),
    and a volatile symbol's real move. A review's VIX forecast of 17.31, dated Monday while the cache's Monday
    closed at 37.32, had its outcome 18.72 rewritten to 8.68 and scored wrong."""
    if abs(cached_last / last_price - 1) <= CACHE_SPLIT_CHANGE:
        return float(actual)
    if any(abs(close / last_price - 1) <= SPLIT_AGREE for close in nearby):
        return float(actual)
    return float(last_price * actual / cached_last)


async def resolve_periodically(
    db_path: Path,
    writer: JournalWriter,
    cache: BarCache,
    fetch: Fetch,
    every_s: float,
    metrics: Metrics,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> None:
    """The gateway's background task; a failing pass is logged and retried at the next tick. Each pass is counted,
    with the forecasts it left waiting and the symbols whose bars it could not get, in `metrics`. The first pass
    runs at start: until it has, those two gauges read 0 whatever the journal holds, and a gateway restarted
    every few hours kept resetting the alert that waits 6 hours on them (an audit). Cancelled (the gateway
    stopping), a pass under way ends at its next series: stopping waited for the whole pass (a review)."""
    stop = threading.Event()
    try:
        while True:
            try:
                report = await asyncio.to_thread(
                    resolve_due, db_path, writer, cache, fetch, None, busy_timeout_ms, stop=stop
                )
            except Exception as exc:
                writer.saw(exc)  # a damaged journal is unwritable: readiness says so (it failed each pass, unsaid)
                metrics.resolver_runs.labels("failed").inc()
                log.exception("resolving price forecasts failed; will retry")
                await asyncio.sleep(every_s)
                continue
            metrics.resolver_runs.labels("ok").inc()
            metrics.resolved.inc(report.resolved)
            metrics.unscorable.inc(report.unscorable)
            metrics.forecasts_waiting.set(report.waiting)
            metrics.resolver_symbols_failing.set(len(report.errors))
            if report.resolved or report.errors:
                log.info(
                    "resolved %d price forecasts (%d waiting; errors: %s)",
                    report.resolved,
                    report.waiting,
                    report.errors or "none",
                )
            await asyncio.sleep(every_s)
    finally:
        stop.set()


def evaluate(
    db_path: Path, symbol: str, days: int, now: datetime | None = None, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> dict[str, object]:
    """How the forecasts of `symbol` made in the last `days` days fared, every model version's together: the
    hit rate of the directional calls ('flat' forecasts call none: counted, not in the hit rate) with its
    block-bootstrap interval over periods of one horizon (investiq/core/skill.py; none on too few periods),
    always-up's on the same calls and the paired difference, and the MAE. A forecast asked again for the same bar
    counts once."""
    since = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat()
    try:
        conn = connect(db_path, busy_timeout_ms, readonly=True)
    except JournalError as exc:  # a journal moved away or replaced: a 503 saying so, not a 500
        raise JournalUnavailableError(str(exc)) from exc
    try:
        rows = resolved_price_predictions(conn, symbol, since)
        pending = len(set(map(forecast_key, pending_price_predictions(conn, symbol, since))))
    finally:
        conn.close()
    book = SkillBook()
    counted = [o for o in map(outcome_of_row, rows) if book.add([o])]
    skill = book.skill(None, symbol)
    hit_rate = skill.hit_rate
    report: dict[str, object] = {
        "symbol": symbol,
        "days": days,
        "count": len(counted),
        "buckets": skill.buckets,
        "calls": hit_rate.n,
        "hits": round((hit_rate.value or 0.0) * hit_rate.n),
        "pending": pending,
        "unscorable": book.unscorable,
        "hit_rate": hit_rate.value,
        "ci95": hit_rate.ci95,
        "always_up_rate": skill.always_up_rate.value,
        "edge_over_always_up": skill.edge_over_always_up.value,
        "edge_ci95": skill.edge_over_always_up.ci95,
        "mae": None,
        "model_versions": dict(Counter(o.model_version for o in counted)),
    }
    if counted:
        report.update(mae=sum(abs(o.predicted_price - o.actual_price) for o in counted) / len(counted))
    return report
