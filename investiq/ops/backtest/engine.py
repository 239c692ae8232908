"""Walk-forward allocation: the weight of every trade from the trades closed before it was decided.

At each decision time d (a trade's `decided_ts`), the trades closed strictly before d are folded with
`observe` into per-strategy Evidence and weighted by `strategy_weights`, the function GET
/bayesian/weights serves: the same posterior, forgetting, floor, cap and minimum evidence. A variant is
an allocation method (equal, posterior mean, Thompson) at a half-life (0: no forgetting), optionally
behind entry filters.

Sizing (one rule for every source): a trade taken at its strategy's weight w (K strategies) has size
K * w, and contributes size * P&L. Equal weights are size 1 for every trade; a filter's refusal is size
0. A refused trade is not taken, so nobody learns its outcome: it never enters the evidence.

Entry filters judge a trade at its decision time, and may read news up to the stamp of the bar whose close
fills it (`Trade.fill_bar_ts`; the decision time when it filled then). A trade whose entry time is unknown (an
agent's trade without opened_at, decided at its close) is let through every filter without being judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from gateway.services.bayesian import BayesConfig
from investiq.core.bayes.allocation import METHODS, Method
from investiq.core.bayes.posterior import Evidence, observe
from investiq.core.bayes.weights import strategy_weights
from investiq.ops.backtest.trades import Trade

Allocation = Literal["equal"] | Method


class EntryFilter(Protocol):
    """Whether an entry of `symbol` decided at `decided_at` (UTC) may be taken, from data up to then only; news
    (published at a time, not read off bars) up to `fill_bar_at`, the stamp of the bar whose close fills the
    entry, when given (None: it filled at `decided_at`)."""

    @property
    def name(self) -> str: ...

    def allows(self, symbol: str, decided_at: pd.Timestamp, fill_bar_at: pd.Timestamp | None = None) -> bool: ...


@dataclass(frozen=True)
class Variant:
    allocation: Allocation
    half_life_days: float = 0.0  # ignored by equal
    filters: tuple[str, ...] = ()  # names of the entry filters in front of it

    @property
    def label(self) -> str:
        if self.allocation == "equal":
            base = "equal"
        else:
            memory = f"half-life {self.half_life_days:g}d" if self.half_life_days > 0 else "no forgetting"
            base = f"{self.allocation} ({memory})"
        return " + ".join([base, *self.filters])


@dataclass(frozen=True)
class Run:
    variant: Variant
    sizes: NDArray[np.float64]  # (n,) per trade: K * weight at its decision; 0 when a filter refused it
    decision_ts: NDArray[np.float64]  # (d,) distinct decision times, ascending
    weights: NDArray[np.float64]  # (d, K) weights at each decision, strategies in sorted order


def variants(half_life_days: float) -> list[Variant]:
    """Equal, then posterior mean, Thompson and P&L, each at the configured half-life and without forgetting."""
    memories = [half_life_days, 0.0] if half_life_days > 0 else [0.0]
    return [Variant("equal")] + [Variant(a, h) for a in METHODS for h in memories]


def verdicts(trades: Sequence[Trade], entry_filter: EntryFilter) -> NDArray[np.bool_]:
    """(n,) whether the filter allows each trade's entry; asked once per trade whose entry time is known (filters
    count their answers), the others allowed unasked."""

    def at(ts: float | None) -> pd.Timestamp | None:
        return None if ts is None else pd.Timestamp(ts, unit="s", tz="UTC")

    return np.array(
        [
            entry_filter.allows(t.symbol, pd.Timestamp(t.decided_ts, unit="s", tz="UTC"), at(t.fill_bar_ts))
            if t.entry_known
            else True
            for t in trades
        ],
        dtype=bool,
    )


def walk_forward(
    trades: Sequence[Trade],
    variant: Variant,
    config: BayesConfig,
    allowed: NDArray[np.bool_] | None = None,
) -> Run:
    """Sizes and weights of `variant` for `trades` (sorted by decided_ts); `allowed` (n,) masks refused entries.

    `config` is the served Bayesian configuration (prior, rules, seed); the variant sets the half-life.
    Cost: one `observe` per trade and one weighting per distinct decision time."""
    names = sorted({t.strategy for t in trades})
    k = len(names)
    index = np.array([names.index(t.strategy) for t in trades], dtype=np.int64)
    taken = np.ones(len(trades), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    decided = np.array([t.decided_ts for t in trades], dtype=np.float64)
    if np.any(np.diff(decided) < 0):
        raise ValueError("trades must be sorted by decided_ts")
    times = np.unique(decided)
    if variant.allocation == "equal":
        weights = np.full((len(times), k), 1.0 / k)
    else:
        served = replace(config, half_life_days=variant.half_life_days)
        weights = _bayesian(trades, taken, names, times, variant, served)
    per_trade = weights[np.searchsorted(times, decided)]  # (n, K): the weights at each trade's decision
    sizes = np.where(taken, k * per_trade[np.arange(len(trades)), index], 0.0)
    return Run(variant, sizes, times, weights)


def _bayesian(
    trades: Sequence[Trade],
    taken: NDArray[np.bool_],
    names: list[str],
    times: NDArray[np.float64],
    variant: Variant,
    config: BayesConfig,
) -> NDArray[np.float64]:
    method = variant.allocation
    if method == "equal":
        raise ValueError("equal weights learn nothing")
    learnt = sorted((t.closed_ts, i) for i, t in enumerate(trades) if taken[i])
    origin = learnt[0][0] if learnt else 0.0  # every close is at or after it: nothing is back-dated
    states = {n: Evidence(ref_ts=origin) for n in names}
    out = np.empty((len(times), len(names)))
    j = 0
    for row, now in enumerate(times):
        while j < len(learnt) and learnt[j][0] < now:  # closed strictly before the decision
            t = trades[learnt[j][1]]
            states[t.strategy] = observe(states[t.strategy], t.closed_ts, None, t.pnl, config.half_life_days)
            j += 1
        _, _, out[row] = strategy_weights(
            states,
            method,
            float(now),
            prior=config.prior,
            half_life_days=config.half_life_days,
            rules=config.rules,
            seed=config.seed,
        )
    return out
