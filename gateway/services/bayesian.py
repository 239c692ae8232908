"""Strategy weights learnt from closed trades, with state in the journal.

Writes (update, sync) run as jobs in the journal writer and return once committed; reads open
their own read-only connection, so weights always come from what is durable. Nothing is cached in
memory: after a restart the same state gives the same weights.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from investiq.core.bayes.allocation import DEFAULT_METHOD, AllocationRules, Method, is_proven
from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, Posterior, Prior, observe
from investiq.core.bayes.weights import strategy_weights
from investiq.core.errors import ConflictError, InvalidInputError, JournalUnavailableError
from investiq.core.journal import BUSY_TIMEOUT_MS, JournalError, connect, timestamps, trades
from investiq.core.journal import bayesian as store
from investiq.core.journal.writer import JournalWriter

T = TypeVar("T")
# Weighings (`_weigh`) at once: their Python part holds the GIL, and many at once in worker threads kept the event
# loop from answering anything, /health/live too (1,003 strategies, 20 concurrent all-stats: a liveness probe took
# 4.47 s, a security audit). The others wait on the event loop without contending: 0.52 s, and 6 Thompson
# weighings at once 8.0 -> 6.4 s (one at a time: 0.26 s and 12.0 s; 2-core Zen 4, /tmp script, 2026-12-06).
WEIGHINGS = 2
CLOCK_SKEW_S = 300.0  # a closed_at this far ahead of our clock is accepted (as sent: the agent's clock may lead)
# The posterior sums squared P&L: past ~1e154 they overflow, and one such trade would leave state that no
# later request can read. No single trade makes 1e15 in any currency (the sync's scan and the backtest skip them).
MAX_ABS_PNL = trades.MAX_ABS_PNL


@dataclass(frozen=True)
class BayesConfig:
    """The bayes_* settings (gateway/wiring.py bayes_config): their defaults are the settings'."""

    prior: Prior
    half_life_days: float
    rules: AllocationRules
    seed: int
    max_sync_days: int


@dataclass(frozen=True)
class TradeOutcome:
    strategy_name: str
    won: bool | None
    profit_loss: float | None
    closed_ts: float | None  # None: now
    trade_id: str | None = None


@dataclass(frozen=True)
class StrategyStats:
    strategy_name: str
    evidence: Evidence
    posterior: Posterior
    weight: float
    proven: bool  # ranked by the method its weight came from (pnl: on the trades with a P&L)


@dataclass(frozen=True)
class SyncReport:
    days: int
    imported: int  # trades learnt from in this sync
    skipped: dict[str, int]  # rows not learnt from, by reason
    strategies: list[str]  # every strategy with a posterior afterwards
    already_recorded: int = 0  # rows of the window already learnt from (an update or an earlier sync)


class BayesianService:
    def __init__(
        self,
        writer: JournalWriter,
        db_path: Path,
        config: BayesConfig,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = writer
        self._db_path = db_path
        self._config = config
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self._weighing = asyncio.Semaphore(WEIGHINGS)

    async def update(self, trade: TradeOutcome) -> tuple[bool, StrategyStats]:
        """Learn from one closed trade; (counted, stats). A trade_id already recorded for the same strategy is
        acknowledged and not counted again (counted False); recorded for another strategy, it is a
        ConflictError naming both, and nothing changes. Without a trade_id, a trade whose row a sync learnt
        (`store.synced`: strategy, closed_at and P&L) is acknowledged too."""
        now = self._clock()
        closed_ts = now if trade.closed_ts is None else trade.closed_ts
        if not timestamps.in_range(closed_ts):
            raise InvalidInputError(f"closed_at is outside {timestamps.RANGE} once converted to UTC")
        if closed_ts > now + CLOCK_SKEW_S:
            raise InvalidInputError(
                f"closed_at {timestamps.iso(closed_ts)} is in the future (now is {timestamps.iso(now)})"
            )
        if trade.profit_loss is not None and abs(trade.profit_loss) > MAX_ABS_PNL:
            raise InvalidInputError(f"profit_loss {trade.profit_loss!r} is beyond ±{MAX_ABS_PNL:g}")
        half_life = self._config.half_life_days
        name = trade.strategy_name
        event = store.TradeEvent(name, trade.won, trade.profit_loss, closed_ts, "update", trade.trade_id, now)

        def job(conn: sqlite3.Connection) -> tuple[bool, store.TradeEvent | None]:
            # The lookup and the insert run in one transaction of the one writer: no other write between them.
            if trade.trade_id is not None and (before := store.recorded(conn, trade.trade_id)) is not None:
                return False, before
            if (
                trade.trade_id is None
                and trade.closed_ts is not None
                and store.synced(conn, name, closed_ts, trade.profit_loss, event.won)
            ):
                return False, None  # a sync learnt its row first
            current = store.load_state(conn, name, half_life) or Evidence(ref_ts=closed_ts)
            if not store.insert_event(conn, event):  # not reached: the id was looked up just before
                return False, None
            learnt = observe(current, closed_ts, trade.won, trade.profit_loss, half_life)
            store.save_state(conn, name, learnt, now, half_life)
            return True, None

        counted, before = await self._write(job)
        if before is not None:
            # Answered here, not raised in the job: a refused request is not a failed journal write.
            if before.strategy_name != name:
                raise ConflictError(
                    f"trade_id {trade.trade_id!r} was recorded for strategy {before.strategy_name!r}; this update "
                    f"names strategy {name!r}: nothing was changed (send each trade under one id and one strategy)"
                )
            if (change := changed_outcome(before, trade)) is not None:
                raise ConflictError(
                    f"trade_id {trade.trade_id!r} was recorded ({before.source}) with {change}: nothing was "
                    "changed (a recorded trade is not corrected; a retry sends the same outcome)"
                )
        return counted, await self.stats_of(name)

    async def refold(self) -> int:
        """At start: store the states folded with this half-life where they were folded with another (a changed
        bayes_half_life_days), so that reads find them as stored (`store.refold_in_steps`): replayed on a read
        connection, each strategy saved in a write transaction of its own, so that the agent writes in between
        (one transaction replaying them all held the write lock for seconds, a review). Nothing to refold, no
        write: a write job per start, of nothing, was a journal commit of its own."""
        return await asyncio.to_thread(
            store.refold_in_steps,
            self._db_path,
            self._writer,
            self._config.half_life_days,
            self._clock(),
            self._busy_timeout_ms,
        )

    async def stats_of(self, name: str) -> StrategyStats:
        """One strategy's stats (its weight among all); the prior's if it has no state."""
        stats = await self._weigh(DEFAULT_METHOD, also=name)
        return next(s for s in stats if s.strategy_name == name)

    async def sync(self, days: int) -> SyncReport:
        """Learn from the agent's trades closed in the last `days` days that are not recorded yet.

        A merge, never a replacement: every recorded event stays (those of /bayesian/update included, whether or
        not the trades table holds them), and a trade is counted once. A row is recognised by its id (the
        trade_id an update gave, or the id a previous sync recorded), or by its strategy, close time and P&L as
        a trade recorded without an id (a row without one, or an update that gave none). Idempotent: a second
        sync imports nothing new. A row recognised as a trade an update sent without an id takes the row's id, so
        that an update sending that id later is a retry. Learnt in steps (`_SyncStep`), each committed whole: a
        sync that fails part way (503) has learnt the steps before, and the next one goes on from there."""
        if not 1 <= days <= self._config.max_sync_days:
            raise InvalidInputError(f"days must be between 1 and {self._config.max_sync_days}, got {days}")
        now = self._clock()

        def scan(conn: sqlite3.Connection) -> tuple[trades.TradesScan, dict[str, str]]:
            found = trades.closed_trades(conn, now - days * SECONDS_PER_DAY, now + CLOCK_SKEW_S)
            found.trades.sort(key=lambda t: t.closed_ts)
            return found, store.recorded_ids(conn)

        # Read on a connection of its own, then learnt in steps, each a short write: as one write, a sync of
        # 200,000 rows held the journal's lock 6 s, and every other writer (another gateway's update, the agent
        # itself) failed past its 5 s busy timeout meanwhile (a review).
        try:
            found, recorded = await asyncio.to_thread(self._read, scan)
        except trades.TradesTableError as exc:  # the journal's fault, not the request's: a 422 blamed the caller
            raise ConflictError(f"cannot sync: {exc} in {self._db_path}; it needs {trades.NEEDED}") from None
        rows = found.trades
        skipped, taken = Counter(found.skipped), set[int]()
        imported = already = 0
        for first in range(0, len(rows), SYNC_STEP):
            step = _SyncStep(rows[first : first + SYNC_STEP], recorded, taken, now, self._config.half_life_days)
            added, known = await self._write(step.run)
            imported, already = imported + added, already + known
            skipped += step.skipped
        names = sorted(await asyncio.to_thread(self._read, self._states))
        return SyncReport(days, imported, dict(skipped), names, already)

    async def all_stats(self, method: Method = DEFAULT_METHOD) -> list[StrategyStats]:
        """Every strategy with its posterior at this moment and its weight by `method`. The weighting runs in
        the worker thread with the read: Thompson's and P&L's draws take 50-120 ms for 40 strategies, which on the
        event loop held every other request (sentiment, price) as long."""
        return await self._weigh(method)

    async def _weigh(self, method: Method, also: str | None = None) -> list[StrategyStats]:
        """`stats_from` the journal's states now, in a worker thread, one at a time; `also`: a strategy given the
        prior where it has no state (events without state: a journal restored in part)."""

        def weigh() -> list[StrategyStats]:
            states = self._read(self._states)
            if also is not None and also not in states:
                states[also] = Evidence(ref_ts=self._clock())
            return self.stats_from(states, method, self._clock())

        async with self._weighing:
            return await asyncio.to_thread(weigh)

    async def event_count(self) -> int:
        return await asyncio.to_thread(self._read, store.count_events)

    def stats_from(self, states: dict[str, Evidence], method: Method, now: float) -> list[StrategyStats]:
        """Pure: posteriors at `now` and weights (`strategy_weights`, which `investiq backtest` replays too)."""
        c = self._config
        names, posts, weights = strategy_weights(
            states, method, now, prior=c.prior, half_life_days=c.half_life_days, rules=c.rules, seed=c.seed
        )
        return [
            StrategyStats(n, states[n], p, float(w), is_proven(p, c.rules, method))
            for n, p, w in zip(names, posts, weights, strict=True)
        ]

    def _states(self, conn: sqlite3.Connection) -> dict[str, Evidence]:
        return store.load_states(conn, self._config.half_life_days)

    @property
    def half_life_days(self) -> float:
        return self._config.half_life_days

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._writer.run(job)
        except InvalidInputError:
            raise
        except (sqlite3.Error, RuntimeError, JournalError) as exc:  # the writer saw it: damage is noted there
            raise JournalUnavailableError(f"the journal could not record the change: {exc}") from exc

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = connect(self._db_path, self._busy_timeout_ms, readonly=True)
        except (RuntimeError, JournalError) as exc:  # moved away or replaced: it was a 500, /health too (a review)
            self._writer.saw(exc)  # damaged, as a read found it
            raise JournalUnavailableError(str(exc)) from exc
        try:
            return query(conn)
        except sqlite3.Error as exc:
            self._writer.saw(exc)  # a damaged file makes the journal unwritable, readiness 503
            raise JournalUnavailableError(f"the journal could not be read: {exc}") from exc
        finally:
            conn.close()


SYNC_STEP = 2_000  # rows of the agent's table learnt from in one write (~60 ms of the journal's lock)


class _SyncStep:
    """One write of `BayesianService.sync`: `rows` (in closing order) learnt from, those already recorded counted.
    Shared between the steps of one sync: `recorded` (trade id -> strategy, as read before the first and recorded
    by this sync; an id not in it is looked up, as others may have recorded it since) and `taken` (the events
    without an id that rows have been recognised as, and those this sync recorded: two like rows are two trades,
    whichever steps they fall in)."""

    def __init__(
        self,
        rows: list[trades.ClosedTrade],
        recorded: dict[str, str],
        taken: set[int],
        now: float,
        half_life_days: float,
    ) -> None:
        self.rows, self.recorded, self.taken = rows, recorded, taken
        self.now, self.half_life_days = now, half_life_days
        self.skipped: Counter[str] = Counter()

    def owner(self, conn: sqlite3.Connection, trade_id: str) -> str | None:
        """The strategy a trade id is recorded for, if it is: by this sync's reading, else in the journal now (an
        update, or another gateway's sync, since: its attach_id made this one fail on the unique id, a review)."""
        if trade_id not in self.recorded and (event := store.recorded(conn, trade_id)) is not None:
            self.recorded[trade_id] = event.strategy_name
        return self.recorded.get(trade_id)

    def run(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """(trades learnt, rows already recorded)."""
        unidentified = store.WithoutId(conn, by_strategy(self.rows), self.taken)
        new: list[store.TradeEvent] = []
        already = 0
        for t in self.rows:  # a P&L beyond MAX_ABS_PNL was left out by the scan
            ts = t.closed_ts  # as sent, as an update records it: so that either recognises the other
            if t.trade_id is not None:
                owner = self.owner(conn, t.trade_id)
                if owner is not None:
                    if owner == t.strategy_name:
                        already += 1
                    else:
                        self.skipped["trade id recorded for another strategy"] += 1
                    continue
                self.recorded[t.trade_id] = t.strategy_name  # a second row with the id is the same trade
                if (event_id := unidentified.take(t.strategy_name, ts, t.profit_loss)) is not None:
                    store.attach_id(conn, event_id, t.trade_id)  # an update without a trade_id told of it
                    already += 1
                    continue
            elif unidentified.take(t.strategy_name, ts, t.profit_loss) is not None:
                already += 1
                continue
            new.append(store.TradeEvent(t.strategy_name, None, t.profit_loss, ts, "sync", t.trade_id, self.now))
        states = store.load_states(conn, self.half_life_days)
        touched: set[str] = set()
        learnt = 0
        for event in new:
            event_id = store.insert_event(conn, event)
            if event_id is None:  # not reached: ids were looked up above, in this transaction
                continue
            learnt += 1
            self.taken.add(event_id)
            start = states.get(event.strategy_name) or Evidence(ref_ts=event.closed_ts)
            states[event.strategy_name] = observe(
                start, event.closed_ts, None, event.profit_loss, self.half_life_days
            )
            touched.add(event.strategy_name)
        for name in touched:
            store.save_state(conn, name, states[name], self.now, self.half_life_days)
        return learnt, already


def by_strategy(rows: list[trades.ClosedTrade]) -> store.Rows:
    """The close times of rows (in closing order) by strategy."""
    out: dict[str, list[float]] = {}
    for t in rows:
        out.setdefault(t.strategy_name, []).append(t.closed_ts)
    return out


def changed_outcome(before: store.TradeEvent, retry: TradeOutcome) -> str | None:
    """What a retry of a recorded trade says otherwise ("profit_loss 42.5; this update says -100"), or None when
    it tells the same outcome: the same P&L where both give one (`same_pnl_value`), the same win or loss (as
    given, or profit_loss > 0, the rule every trade is learnt by), and the same closed_at (to SAME_CLOSE_S)
    where both give one: a trade first sent at a wrong time (a 1970 default) keeps its decayed weight, and a
    corrected retry was acknowledged as if it had been learnt (a review). A trade recorded without closed_at was
    stamped when it came (closed_ts = received_ts): any time a retry gives is its own."""
    given = not store.close_unstated(before.source, before.closed_ts, before.received_ts)
    if given and retry.closed_ts is not None and abs(before.closed_ts - retry.closed_ts) > store.SAME_CLOSE_S:
        return f"closed_at {timestamps.iso(before.closed_ts)}; this update says {timestamps.iso(retry.closed_ts)}"
    was_pnl, now_pnl = before.profit_loss, retry.profit_loss
    if was_pnl is not None and now_pnl is not None and not store.same_pnl_value(was_pnl, now_pnl):
        return f"profit_loss {was_pnl!r}; this update says {now_pnl!r}"
    if was_pnl is None and now_pnl is not None:  # acknowledged as a retry, its P&L was dropped (a walkthrough)
        return (
            f"no profit_loss (learnt from won alone); this update says {now_pnl!r}, which cannot be added to a "
            "trade already learnt: send the P&L with the trade's first update"
        )

    def won(event: store.TradeEvent | TradeOutcome) -> bool | None:
        if event.won is not None:
            return event.won
        return None if event.profit_loss is None else event.profit_loss > 0

    was, now = won(before), won(retry)
    if was is not None and now is not None and was != now:
        return f"won {was}; this update says won {now}"
    return None
