"""SQL of the Bayesian tables: the event log (source of truth) and the folded state per strategy.

Events are only ever added: an update or a sync never deletes one (a trade_id is recorded once). A state is
read for one forgetting half-life: one folded with another (the setting changed) is replayed from its events.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from investiq.core.bayes.posterior import Evidence, observe
from investiq.core.errors import JournalUnavailableError
from investiq.core.journal import timestamps
from investiq.core.journal.connection import JournalError, connect
from investiq.core.journal.timestamps import iso
from investiq.core.journal.writer import JournalWriter
from investiq.core.names import one_spelling

_STATE_FIELDS = [f.name for f in fields(Evidence)]
# A trade's close times this close are one (a table of whole seconds, an update's milliseconds): a retry by id
# (gateway `changed_outcome`), a sync's row against a trade recorded without an id (`WithoutId`)
SAME_CLOSE_S = 1.0
_SCATTER = _STATE_FIELDS.index("pnl_scatter")


@dataclass(frozen=True)
class TradeEvent:
    strategy_name: str
    won: bool | None
    profit_loss: float | None
    closed_ts: float
    source: str  # 'update' or 'sync'
    trade_id: str | None
    received_ts: float


def close_unstated(source: str, closed_ts: float, received_ts: float | None) -> bool:
    """Whether a recorded trade was sent without its close time: an update stamped with when it came (closed_ts =
    received_ts, to a millisecond: received_at is ISO text)."""
    return source == "update" and received_ts is not None and abs(closed_ts - received_ts) <= 1e-3


def insert_event(conn: sqlite3.Connection, event: TradeEvent) -> int | None:
    """Record the trade; its event id, or None when its trade_id was already recorded (a retry or a synced
    trade)."""
    cursor = conn.execute(
        "INSERT INTO bayesian_events (strategy_name, won, profit_loss, closed_at, closed_ts, source, "
        "trade_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trade_id) DO NOTHING",
        (
            event.strategy_name,
            None if event.won is None else int(event.won),
            event.profit_loss,
            iso(event.closed_ts),
            event.closed_ts,
            event.source,
            event.trade_id,
            iso(event.received_ts),
        ),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


# What a state row is read as: Evidence's fields, the sum w x^2 that the release before schema 9 kept instead of
# the scatter (pnl_s2: still written, for such a gateway still running on the journal), and the half-life it was
# folded with.
_READ = f"{', '.join(_STATE_FIELDS)}, pnl_s2, half_life_days"


def load_state(conn: sqlite3.Connection, strategy_name: str, half_life_days: float) -> Evidence | None:
    """The strategy's evidence for this half-life; None without state."""
    row = conn.execute(
        f"SELECT {_READ} FROM bayesian_state WHERE strategy_name = ?",
        (strategy_name,),
    ).fetchone()
    return None if row is None else _for_half_life(conn, strategy_name, tuple(row), half_life_days)


def load_states(conn: sqlite3.Connection, half_life_days: float) -> dict[str, Evidence]:
    """Every strategy's evidence for this half-life."""
    rows = conn.execute(f"SELECT strategy_name, {_READ} FROM bayesian_state ORDER BY strategy_name").fetchall()
    return {row[0]: _for_half_life(conn, row[0], tuple(row)[1:], half_life_days) for row in rows}


def _for_half_life(
    conn: sqlite3.Connection, strategy_name: str, row: tuple[object, ...], half_life_days: float
) -> Evidence:
    """A state row (`_READ`) as evidence for `half_life_days`: as stored when folded with it, else replayed from
    the strategy's events (as stored when it has none: a journal restored in part). A row without a scatter was
    written by a gateway of the release before schema 9: its scatter comes from its sums, and it is replayed."""
    *values, s2, folded_with = row
    unscattered = values[_SCATTER] is None
    if unscattered:
        values[_SCATTER] = 0.0
    stored = Evidence(*values)  # type: ignore[arg-type]
    if unscattered:
        stored = replace(stored, pnl_scatter=_scatter_of(stored, float(s2)))  # type: ignore[arg-type]
        folded_with = None
    if folded_with == half_life_days:
        return stored
    return replay(conn, strategy_name, half_life_days) or stored


def _scatter_of(ev: Evidence, s2: float) -> float:
    """sum w (x - mean)^2 from the sums a state of the release before schema 9 kept (as migration 9 does)."""
    return max(s2 - ev.pnl_s1 * ev.pnl_s1 / ev.pnl_w, 0.0) if ev.pnl_w > 0 else 0.0


def folded_otherwise(conn: sqlite3.Connection, half_life_days: float) -> list[str]:
    """The strategies whose state was folded with another half-life than `half_life_days` (or none recorded), or
    written without a scatter (a gateway of the release before schema 9)."""
    rows = conn.execute(
        "SELECT strategy_name FROM bayesian_state "
        "WHERE half_life_days IS NULL OR half_life_days != ? OR pnl_scatter IS NULL",
        (half_life_days,),
    )
    return [str(name) for (name,) in rows]


# Replays of one strategy at start before its state is left for reads to replay, when trades keep coming in while
# it is replayed (each replay is saved only if no trade came in meanwhile).
REFOLD_TRIES = 3
Write = Callable[[Callable[[sqlite3.Connection], bool]], bool]


def refold(conn: sqlite3.Connection, half_life_days: float, now_ts: float, write: Write | None = None) -> int:
    """Store every strategy's state folded with `half_life_days` where it was folded with another (a replay of its
    events): read with another, every read replayed them (0.8 s per read at 50,000 events, a review). Returns the
    strategies refolded; one without events keeps its state (a journal restored in part).

    Each is replayed on `conn` and saved by `write`, which runs a job in a write transaction of its own (the
    writer's), if the strategy still has the events replayed: one write transaction replaying every strategy held
    the write lock for seconds at start (a review). `write` None saves on `conn`, which then is in a write
    transaction already."""
    save = write or (lambda job: job(conn))
    names = folded_otherwise(conn, half_life_days)
    return sum(_refold_one(conn, name, half_life_days, now_ts, save) for name in names)


def refold_in_steps(
    path: Path, writer: JournalWriter, half_life_days: float, now_ts: float, busy_timeout_ms: int
) -> int:
    """The gateway's start: `refold` replaying on a read-only connection of its own, saving through `writer`.
    JournalUnavailableError when the journal cannot be read or written (reads replay meanwhile)."""
    try:
        with closing(connect(path, busy_timeout_ms, readonly=True)) as reader:
            return refold(reader, half_life_days, now_ts, lambda job: writer.submit(job).result())
    except (sqlite3.Error, JournalError) as exc:
        raise JournalUnavailableError(f"the journal could not be refolded: {exc}") from exc


def _refold_one(conn: sqlite3.Connection, name: str, half_life_days: float, now_ts: float, save: Write) -> bool:
    for _ in range(REFOLD_TRIES):
        evidence, count = _replayed(conn, name, half_life_days)
        if evidence is None:
            return False
        if save(_save_if_unchanged(name, evidence, count, now_ts, half_life_days)):
            return True
    return False  # still folded otherwise: reads replay it until the next start


def _save_if_unchanged(
    name: str, evidence: Evidence, count: int, now_ts: float, half_life_days: float
) -> Callable[[sqlite3.Connection], bool]:
    """A write job saving the strategy's replayed evidence if it has `count` events still (events are only ever
    added); False when a trade came in since the replay, whose update saved a state that this one would undo."""

    def job(conn: sqlite3.Connection) -> bool:
        now = conn.execute("SELECT count(*) FROM bayesian_events WHERE strategy_name = ?", (name,)).fetchone()[0]
        if now != count:
            return False
        save_state(conn, name, evidence, now_ts, half_life_days)
        return True

    return job


def replay(conn: sqlite3.Connection, strategy_name: str, half_life_days: float) -> Evidence | None:
    """The strategy's evidence folded from its recorded trades with this half-life; None when it has none.
    Folding is order-free (posterior.observe), so this is what the trades gave one at a time."""
    return _replayed(conn, strategy_name, half_life_days)[0]


def _replayed(conn: sqlite3.Connection, strategy_name: str, half_life_days: float) -> tuple[Evidence | None, int]:
    """`replay`, and how many events it folded: read by one statement, so from one snapshot of the journal."""
    rows = conn.execute(
        "SELECT won, profit_loss, closed_ts FROM bayesian_events WHERE strategy_name = ? ORDER BY id",
        (strategy_name,),
    )
    evidence: Evidence | None = None
    count = 0
    for won, pnl, ts in rows:
        start = evidence or Evidence(ref_ts=float(ts))
        evidence = observe(start, float(ts), None if won is None else bool(won), pnl, half_life_days)
        count += 1
    return evidence, count


def save_state(
    conn: sqlite3.Connection, strategy_name: str, ev: Evidence, now_ts: float, half_life_days: float
) -> None:
    """Store the strategy's evidence, folded with `half_life_days`, and its sum w x^2 (pnl_s2) for a gateway of
    the release before schema 9 still running on the journal."""
    values = asdict(ev)
    s2 = ev.pnl_scatter + (ev.pnl_s1 * ev.pnl_s1 / ev.pnl_w if ev.pnl_w > 0 else 0.0)
    conn.execute(
        f"INSERT OR REPLACE INTO bayesian_state (strategy_name, {', '.join(_STATE_FIELDS)}, pnl_s2, updated_at, "
        f"half_life_days) VALUES (?, {', '.join('?' for _ in _STATE_FIELDS)}, ?, ?, ?)",
        (strategy_name, *(values[name] for name in _STATE_FIELDS), s2, iso(now_ts), half_life_days),
    )


def recorded(conn: sqlite3.Connection, trade_id: str) -> TradeEvent | None:
    """The trade recorded under this id (received_ts 0 where received_at cannot be read), or None if none was.
    Ids are NFC-normalised since 2026-12-05; one recorded before, sent decomposed (NFD), is found too."""
    row = conn.execute(
        "SELECT strategy_name, won, profit_loss, closed_ts, source, received_at FROM bayesian_events "
        "WHERE trade_id IN (?, ?) ORDER BY id LIMIT 1",
        (trade_id, unicodedata.normalize("NFD", trade_id)),
    ).fetchone()
    if row is None:
        return None
    name, won, pnl, closed_ts, source, received_at = row
    received = timestamps.parse(received_at) or 0.0
    won_ = None if won is None else bool(won)
    return TradeEvent(str(name), won_, pnl, float(closed_ts), source, trade_id, received)


def posted(conn: sqlite3.Connection) -> int:
    """How many trades were posted to /bayesian/update (not synced from the trades table); 0 in a database
    without the Bayesian tables (an agent's own, never opened by the gateway)."""
    try:
        return int(conn.execute("SELECT count(*) FROM bayesian_events WHERE source = 'update'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def recorded_ids(conn: sqlite3.Connection) -> dict[str, str]:
    """trade_id -> strategy of every recorded trade that has an id, the id in its one spelling (`one_spelling`:
    ids recorded before 2026-12-05 were kept as sent, a decomposed one among them)."""
    rows = conn.execute(
        "SELECT trade_id, strategy_name FROM bayesian_events WHERE trade_id IS NOT NULL ORDER BY id"
    )
    recorded: dict[str, str] = {}
    for trade_id, name in rows:
        recorded.setdefault(one_spelling(str(trade_id)), str(name))
    return recorded


def same_pnl_value(a: float, b: float) -> bool:
    """One P&L written two ways: to 1e-9 relative, and 1e-9 absolute near 0 (a breakeven (1.3 - 1.2) x 10 - 1 is
    8.9e-16, which no relative tolerance matches to 0.0)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


Rows = Mapping[str, list[float]]  # strategy -> the close times of a sync's rows, in closing order


class WithoutId:
    """The trades recorded without an id (an update that gave none, or a sync of a row without one): how a sync
    recognises them in the agent's table, where there is nothing else to go by than the strategy, the close time
    and the outcome. Each recorded trade is recognised once (`take`). An update that gave no close time either
    was recorded as closed when it came, after its row closed: it is recognised only within SAME_CLOSE_S of it."""

    def __init__(self, conn: sqlite3.Connection, rows: Rows, taken: set[int] | None = None) -> None:
        """Those that `rows` (a step of a sync) may be; `taken`: events not to recognise again (shared by the
        steps of one sync)."""
        # strategy -> [(closed_ts, event id, P&L or None, won or None)], in closing order
        self._by_name: dict[str, list[tuple[float, int, float | None, bool | None]]] = defaultdict(list)
        self._taken = set() if taken is None else taken
        for name, closes in rows.items():
            found = conn.execute(  # by the (strategy, close) index: `trade_id IS NULL` read every such event
                "SELECT id, closed_ts, profit_loss, won FROM bayesian_events INDEXED BY bayesian_events_strategy "
                "WHERE strategy_name = ? AND closed_ts BETWEEN ? AND ? AND trade_id IS NULL "
                "ORDER BY closed_ts, id",
                (name, closes[0] - SAME_CLOSE_S, closes[-1] + SAME_CLOSE_S),
            )
            for event_id, ts, pnl, won in found:
                if pnl is not None or won is not None:
                    self._by_name[name].append((float(ts), int(event_id), pnl, None if won is None else bool(won)))

    def take(self, strategy_name: str, closed_ts: float, profit_loss: float) -> int | None:
        """The id of the event that a row (strategy, close, P&L) of the agent's table was recorded as, or None: one
        closed within SAME_CLOSE_S with the same P&L (`same_pnl_value`), else an update that gave only the outcome
        (won as profit_loss > 0, the rule every trade is learnt by); the nearest in time first. As a retry by id
        is matched (gateway `changed_outcome`): matched exactly, an update's 10:00:00.400 against the table's
        whole second, or a P&L of -1 against the table's (1.2 - 1.3) x 10, was learnt a second time (a review).
        An event taken is not taken again."""
        events = self._by_name.get(strategy_name, [])
        start = bisect.bisect_left(events, (closed_ts - SAME_CLOSE_S,))
        stop = bisect.bisect_right(events, (closed_ts + SAME_CLOSE_S, math.inf))
        near = [e for e in events[start:stop] if e[1] not in self._taken]
        same_pnl = [e for e in near if e[2] is not None and same_pnl_value(e[2], profit_loss)]
        same_outcome = [e for e in near if e[2] is None and e[3] == (profit_loss > 0)]
        for found in (same_pnl, same_outcome):
            if found:
                event_id = min(found, key=lambda e: (abs(e[0] - closed_ts), e[1]))[1]
                self._taken.add(event_id)
                return event_id
        return None


def synced(
    conn: sqlite3.Connection, strategy_name: str, closed_ts: float, profit_loss: float | None, won: bool | None
) -> bool:
    """Whether a sync learnt a row of the agent's table that an update without a trade_id tells of again: one of
    the strategy closed within SAME_CLOSE_S with the same P&L (given only the outcome, with that outcome), as a
    sync recognises such an update (`WithoutId`). The sync ran first: the update was counted a second time (a
    review: 3,464 trades learnt of 3,000 under load)."""
    found = conn.execute(
        "SELECT profit_loss FROM bayesian_events INDEXED BY bayesian_events_strategy "
        "WHERE strategy_name = ? AND closed_ts BETWEEN ? AND ? AND source = 'sync'",
        (strategy_name, closed_ts - SAME_CLOSE_S, closed_ts + SAME_CLOSE_S),
    )
    for (pnl,) in found:
        if pnl is not None and (same_pnl_value(pnl, profit_loss) if profit_loss is not None else (pnl > 0) == won):
            return True
    return False


def attach_id(conn: sqlite3.Connection, event_id: int, trade_id: str) -> None:
    """Give a trade recorded without an id the id its row in the agent's table has, so that an update sending that
    id later is a retry of it, not a new trade."""
    conn.execute("UPDATE bayesian_events SET trade_id = ? WHERE id = ? AND trade_id IS NULL", (trade_id, event_id))


def events_until(conn: sqlite3.Connection, until_ts: float) -> list[sqlite3.Row]:
    """Every recorded trade closed by `until_ts` (strategy_name, won, profit_loss, closed_ts), in closing order:
    what a replay of the weights day by day folds (`investiq report`)."""
    return conn.execute(
        "SELECT strategy_name, won, profit_loss, closed_ts FROM bayesian_events WHERE closed_ts <= ? "
        "ORDER BY closed_ts, id",
        (until_ts,),
    ).fetchall()


def count_events(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM bayesian_events").fetchone()[0])
