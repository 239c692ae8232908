"""Walk-forward allocation: the weight of every trade from the trades closed before it was decided.

At each decision time d (a trade's `decided_ts`), the trades closed strictly before d are folded with
`observe` into per-strategy Evidence and weighted by `strategy_weights`, the function GET
/bayesian/weights serves: the same posterior, forgetting, floor, cap and minimum evidence. A variant is
an allocation method (equal, posterior mean, Thompson) at a half-life (0: no forgetting), optionally
behind entry filters.

Sizing (one rule for every source): a trade taken at its strategy's weight w (K strategies) has size
K * w, and contributes size * P&L. Equal weights are size 1 for every trade. K and the weights are those of the
strategies known at the decision: the stand-in strategies from the first bar, a journal's strategy from its first
decision. Weighed with every strategy of the whole journal, a strategy that first traded months later resized the
trades before it (an unproven one keeps 1/K, the cap and floor are shares of the whole): look-ahead, which made a
quant's journal with a late third strategy gain 3.9x what it gained without it. Behind entry filters a variant
allocates between the trades they let it take (gating.py): for the stand-in strategies the trades of the
allowed entry signals, for the agent's journal the recorded trades, a refused one sized 0. A trade not taken
is an outcome nobody learns: it never enters the evidence.

A journal trade whose entry time is unknown (no readable opened_at: `Trade.entry_known` False) is decided at its
close, and a weight there would rest on trades that closed after its real entry: look-ahead (a review's journal
sized one 1.20 that its real entry would have sized 1.00). It is sized 1, the equal share, in every variant, and
its outcome still enters the evidence from its close on (known then, as it was to the agent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gateway.services.bayesian import BayesConfig
from investiq.core.bayes.allocation import METHODS, Method
from investiq.core.bayes.posterior import Evidence, observe
from investiq.core.bayes.weights import strategy_weights
from investiq.ops.backtest.trades import Trade

Allocation = Literal["equal"] | Method


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
    trades: Sequence[Trade]  # what it allocated between: its own trades behind its filters (gating.py)
    # (n,) per trade: K * weight at its decision; 0 when a filter deleted it; 1 when its entry time is unknown
    sizes: NDArray[np.float64]
    decision_ts: NDArray[np.float64]  # (d,) distinct decision times, ascending
    weights: NDArray[np.float64]  # (d, K) weights at each decision, strategies as in `strategies`; 0 before known
    strategies: tuple[str, ...]  # the K strategies, sorted: the weights' columns
    # (n,) the trades its book took: False where a filter deleted one (sized 0); None: every trade of `trades`
    taken: NDArray[np.bool_] | None = None
    # (d, K) whether each strategy was known at each decision (weighed, its share of K); None: every one, always
    known: NDArray[np.bool_] | None = None


def variants(half_life_days: float) -> list[Variant]:
    """Equal, then posterior mean, Thompson and P&L, each at the configured half-life and without forgetting."""
    memories = [half_life_days, 0.0] if half_life_days > 0 else [0.0]
    return [Variant("equal")] + [Variant(a, h) for a in METHODS for h in memories]


def walk_forward(
    trades: Sequence[Trade],
    variant: Variant,
    config: BayesConfig,
    allowed: NDArray[np.bool_] | None = None,
    strategies: Sequence[str] = (),
    tick: Callable[[int], object] = lambda _: None,
) -> Run:
    """Sizes and weights of `variant` for `trades` (sorted by decided_ts); `allowed` (n,) masks deleted trades
    (the journal's refused entries). `strategies`: those known from the first decision (the stand-in strategies: a
    filter may have left one of them without a trade, and it keeps its share); any other strategy of `trades` is
    known from its first decision there, deleted or not (the agent ran it), and weighed from then on.

    `config` is the served Bayesian configuration (prior, rules, seed); the variant sets the half-life.
    Cost: one `observe` per trade and one weighting per distinct decision time; `tick(n)` is told each n done
    (a progress bar: 40 strategies weigh for minutes)."""
    names = sorted({*strategies, *(t.strategy for t in trades)})
    if not names:
        raise ValueError("nothing to weigh: no trade and no strategy")
    k = len(names)
    index = np.array([names.index(t.strategy) for t in trades], dtype=np.int64)
    taken = np.ones(len(trades), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    decided = np.array([t.decided_ts for t in trades], dtype=np.float64)
    if np.any(np.diff(decided) < 0):
        raise ValueError("trades must be sorted by decided_ts")
    times = np.unique(decided)
    first = np.full(k, -np.inf)  # when each strategy is known: from the start, or at its first decision
    for name in set(names) - set(strategies):
        first[names.index(name)] = decided[index == names.index(name)][0]
    known = first[None, :] <= times[:, None]  # (d, K)
    if variant.allocation == "equal":
        weights = known / known.sum(axis=1, keepdims=True)
        tick(len(times))
    else:
        served = replace(config, half_life_days=variant.half_life_days)
        weights = _bayesian(trades, taken, names, times, known, variant, served, tick)
    at = np.searchsorted(times, decided)  # each trade's decision row
    weighted = known[at].sum(axis=1) * weights[at, index]
    entered = np.array([t.entry_known for t in trades], dtype=bool)
    sizes = np.where(taken, np.where(entered, weighted, 1.0), 0.0)  # entry unknown: the equal share (module doc)
    return Run(variant, trades, sizes, times, weights, tuple(names), taken, known)


def _bayesian(
    trades: Sequence[Trade],
    taken: NDArray[np.bool_],
    names: list[str],
    times: NDArray[np.float64],
    known: NDArray[np.bool_],
    variant: Variant,
    config: BayesConfig,
    tick: Callable[[int], object],
) -> NDArray[np.float64]:
    method = variant.allocation
    if method == "equal":
        raise ValueError("equal weights learn nothing")
    learnt = sorted((t.closed_ts, i) for i, t in enumerate(trades) if taken[i])
    origin = learnt[0][0] if learnt else 0.0  # every close is at or after it: nothing is back-dated
    states = {n: Evidence(ref_ts=origin) for n in names}
    out = np.zeros((len(times), len(names)))
    j, asked = 0, -1  # asked: how many trades the last computed row had learnt
    for row, now in enumerate(times):
        weighed = [n for n, yes in zip(names, known[row], strict=True) if yes]
        tick(1)
        while j < len(learnt) and learnt[j][0] < now:  # closed strictly before the decision
            t = trades[learnt[j][1]]
            states[t.strategy] = observe(states[t.strategy], t.closed_ts, None, t.pnl, config.half_life_days)
            j += 1
        if j == asked and config.half_life_days <= 0 and (known[row] == known[row - 1]).all():
            # nothing learnt since, and nothing forgotten: the same weights (Thompson's draws are seeded); 40
            # strategies of 1,000 trades took 50-95 s a variant, every decision asked again (a quant's review)
            out[row] = out[row - 1]
            continue
        asked = j
        _, _, out[row, known[row]] = strategy_weights(
            {n: states[n] for n in weighed},
            method,
            float(now),
            prior=config.prior,
            half_life_days=config.half_life_days,
            rules=config.rules,
            seed=config.seed,
        )
    return out
