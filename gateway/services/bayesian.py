"""Strategy weights learnt from closed trades, with state in the journal.

Writes (update, sync) run as jobs in the journal writer and return once committed; reads open
their own read-only connection, so weights always come from what is durable. Nothing is cached in
memory: after a restart the same state gives the same weights.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from investiq.core.bayes.allocation import AllocationRules, Method, allocate, is_proven
from investiq.core.bayes.posterior import SECONDS_PER_DAY, Evidence, Posterior, Prior, observe, posterior
from investiq.core.errors import InvalidInputError, JournalUnavailableError
from investiq.core.journal import bayesian as store
from investiq.core.journal import connect, trades
from investiq.core.journal.writer import JournalWriter

T = TypeVar("T")
CLOCK_SKEW_S = 300.0  # a closed_at this far ahead of our clock is accepted as "now"
# The posterior sums squared P&L: past ~1e154 they overflow, and one such trade would leave state that no
# later request can read. No single trade makes 1e15 in any currency.
MAX_ABS_PNL = 1e15


@dataclass(frozen=True)
class BayesConfig:
    prior: Prior = field(default_factory=Prior)
    half_life_days: float = 30.0
    rules: AllocationRules = field(default_factory=AllocationRules)
    seed: int = 0
    max_sync_days: int = 3650


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


@dataclass(frozen=True)
class SyncReport:
    days: int
    imported: int
    skipped: dict[str, int]
    strategies: list[str]


class BayesianService:
    def __init__(
        self,
        writer: JournalWriter,
        db_path: Path,
        config: BayesConfig,
        *,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = writer
        self._db_path = db_path
        self._config = config
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock

    async def update(self, trade: TradeOutcome) -> tuple[bool, StrategyStats]:
        """Learn from one closed trade; (counted, stats). counted is False for a repeated trade_id."""
        now = self._clock()
        closed_ts = now if trade.closed_ts is None else trade.closed_ts
        if closed_ts > now + CLOCK_SKEW_S:
            raise InvalidInputError(f"closed_at {closed_ts!r} is in the future (now is {now!r})")
        if trade.profit_loss is not None and abs(trade.profit_loss) > MAX_ABS_PNL:
            raise InvalidInputError(f"profit_loss {trade.profit_loss!r} is beyond ±{MAX_ABS_PNL:g}")
        closed_ts = min(closed_ts, now)
        half_life = self._config.half_life_days
        event = store.TradeEvent(
            trade.strategy_name, trade.won, trade.profit_loss, closed_ts, "update", trade.trade_id, now
        )

        def job(conn: sqlite3.Connection) -> tuple[bool, Evidence]:
            current = store.load_state(conn, trade.strategy_name) or Evidence(ref_ts=closed_ts)
            if not store.insert_event(conn, event):
                return False, current
            folded = observe(current, closed_ts, trade.won, trade.profit_loss, half_life)
            store.save_state(conn, trade.strategy_name, folded, now)
            return True, folded

        counted, _ = await self._write(job)
        stats = {s.strategy_name: s for s in await self.all_stats("mean")}
        return counted, stats[trade.strategy_name]

    async def sync(self, days: int) -> SyncReport:
        """Rebuild every posterior from the trades closed in the last `days` days (idempotent)."""
        if not 1 <= days <= self._config.max_sync_days:
            raise InvalidInputError(f"days must be between 1 and {self._config.max_sync_days}, got {days}")
        now = self._clock()
        half_life = self._config.half_life_days

        def job(conn: sqlite3.Connection) -> SyncReport:
            try:
                scan = trades.closed_trades(conn, now - days * SECONDS_PER_DAY, now + CLOCK_SKEW_S)
            except trades.TradesTableError as exc:
                raise InvalidInputError(f"cannot sync: {exc}") from None
            store.clear(conn)
            folded: dict[str, Evidence] = {}
            for t in scan.trades:
                if abs(t.profit_loss) > MAX_ABS_PNL:
                    scan.skipped[f"profit_loss beyond ±{MAX_ABS_PNL:g}"] += 1
                    continue
                ts = min(t.closed_ts, now)
                event = store.TradeEvent(t.strategy_name, None, t.profit_loss, ts, "sync", t.trade_id, now)
                if not store.insert_event(conn, event):
                    scan.skipped["duplicate trade id"] += 1
                    continue
                start = folded.get(t.strategy_name) or Evidence(ref_ts=ts)
                folded[t.strategy_name] = observe(start, ts, None, t.profit_loss, half_life)
            for name, ev in folded.items():
                store.save_state(conn, name, ev, now)
            imported = sum(ev.wins + ev.losses for ev in folded.values())
            return SyncReport(days, imported, dict(scan.skipped), sorted(folded))

        return await self._write(job)

    async def all_stats(self, method: Method = "mean") -> list[StrategyStats]:
        """Every strategy with its posterior at this moment and its weight by `method`."""
        states = await asyncio.to_thread(self._read, store.load_states)
        return self.stats_from(states, method, self._clock())

    async def event_count(self) -> int:
        return await asyncio.to_thread(self._read, store.count_events)

    def stats_from(self, states: dict[str, Evidence], method: Method, now: float) -> list[StrategyStats]:
        """Pure: posteriors at `now` and weights; the seeded generator makes Thompson repeatable."""
        names = sorted(states)
        half_life = self._config.half_life_days
        posts = [posterior(self._config.prior, states[n], now, half_life) for n in names]
        rng = np.random.default_rng(self._config.seed)
        weights = allocate(posts, method, self._config.rules, rng)
        return [StrategyStats(n, states[n], p, float(w)) for n, p, w in zip(names, posts, weights, strict=True)]

    @property
    def half_life_days(self) -> float:
        return self._config.half_life_days

    def is_proven(self, stats: StrategyStats) -> bool:
        return is_proven(stats.posterior, self._config.rules)

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._writer.run(job)
        except InvalidInputError:
            raise
        except (sqlite3.Error, RuntimeError) as exc:
            raise JournalUnavailableError(f"the journal could not record the change: {exc}") from exc

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = connect(self._db_path, self._busy_timeout_ms, readonly=True)
        except RuntimeError as exc:
            raise JournalUnavailableError(str(exc)) from exc
        try:
            return query(conn)
        except sqlite3.Error as exc:
            raise JournalUnavailableError(f"the journal could not be read: {exc}") from exc
        finally:
            conn.close()


def finite_or_none(value: float) -> float | None:
    """JSON has no inf: an unbounded figure (e.g. variance with a <= 1) is reported as null."""
    return value if math.isfinite(value) else None
