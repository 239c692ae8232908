"""Entry filters in front of a variant, and how their refusals act on the trades.

An entry filter judges an entry of a symbol at its decision time, from data up to then only (news up to the
stamp of the bar whose close fills it). Every filter is asked at most once per (symbol, decision time, fill bar):
`Judged` remembers its answers, so the variants, the filter sets and the strategies that share an entry (two rules
entering the same symbol on the same bar) share one verdict, and the filter's own counts are of distinct entries.

How a refusal acts depends on what is replayed:

- the stand-in strategies (signals per bar): the filter gates entry *signals*. A refused signal at bar t is no
  entry; the strategy stays flat and may enter at a later bar whose signal holds and is allowed, as a live agent
  would (`strategies.round_trips` with a gate). A filtered variant so has its own trades.
- the agent's journal trades (no signals): a refused trade is deleted (`verdicts`, a mask over the recorded
  trades); what the agent would have done instead is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from investiq.ops.backtest.trades import Trade

# Whether an entry of (symbol, decided_ts, fill_bar_ts) may be taken, epoch seconds; fill_bar_ts None: it filled at
# its decision.
Gate = Callable[[str, float, float | None], bool]


class EntryFilter(Protocol):
    """Whether an entry of `symbol` decided at `decided_at` (UTC) may be taken, from data up to then only; news
    (published at a time, not read off bars) up to `fill_bar_at`, the stamp of the bar whose close fills the
    entry, when given (None: it filled at `decided_at`)."""

    @property
    def name(self) -> str: ...

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool: ...


def _utc(ts: float) -> pd.Timestamp:
    """The bar time whose epoch seconds `ts` are, to the microsecond: a float holds a stamp of today to about
    0.2 µs, and `23:59:59.999` came back 72 ns off, which the price filter's exact lookup took for a bar without a
    forecast (every such entry let in unjudged, a review). Bars finer than a microsecond are not expected."""
    return pd.Timestamp(round(ts * 1e6), unit="us", tz="UTC")


class Judged:
    """`entry_filter` asked at most once per (symbol, decision time, fill bar): later questions get the answer
    it gave (its counts stay those of distinct entries)."""

    def __init__(self, entry_filter: EntryFilter) -> None:
        self.filter = entry_filter
        self.answers: dict[tuple[str, float, float | None], bool] = {}

    @property
    def name(self) -> str:
        return self.filter.name

    def allows(self, symbol: str, decided_ts: float, fill_bar_ts: float | None = None) -> bool:
        key = (symbol, decided_ts, fill_bar_ts)
        if key not in self.answers:
            fill_bar_at = None if fill_bar_ts is None else _utc(fill_bar_ts)
            self.answers[key] = self.filter.allows(symbol, _utc(decided_ts), fill_bar_at)
        return self.answers[key]


def gate(judges: Sequence[Judged]) -> Gate:
    """An entry allowed by every one of `judges` (asked in order; one that refuses ends the asking)."""

    def allows(symbol: str, decided_ts: float, fill_bar_ts: float | None) -> bool:
        return all(j.allows(symbol, decided_ts, fill_bar_ts) for j in judges)

    return allows


def verdicts(trades: Sequence[Trade], judge: Judged | EntryFilter) -> NDArray[np.bool_]:
    """(n,) whether `judge` allows each recorded trade's entry (the journal's mask: a refused trade is deleted). A
    trade whose entry time is unknown (an agent's trade without opened_at) is allowed unasked: news up to its close
    may postdate its entry."""
    asked = judge if isinstance(judge, Judged) else Judged(judge)
    return np.array(
        [asked.allows(t.symbol, t.decided_ts, t.fill_bar_ts) if t.entry_known else True for t in trades],
        dtype=bool,
    )
