"""Every allocation variant behind every filter set, walked forward, with its figures, its differences from equal
weights and the verdicts on the original design's claims.

Each filter set leaves the variants behind it a `Book` of trades (gating.py): without filters, the trades given;
behind filters, for the stand-in strategies the trades of the entry signals they allow (`replay` with a gate: a
refused signal is no entry, a later allowed one may be), for the agent's journal the recorded trades with the
refused ones deleted. Every filter is asked at most once per (symbol, decision) over all of it.

What the claims compare is less than what each variant traded: a journal trade whose entry time is unknown is sized
1 in every variant (engine.py) and left out of the differences (`compared`), and a variant with fewer than
min_trades trades taken is judged on nothing ("not tested: only n trades")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray
from tqdm import tqdm

from gateway.wiring import bayes_config
from investiq.core.cpu import usable_cores
from investiq.core.errors import DataError
from investiq.core.settings import Settings
from investiq.ops.backtest.baseline import BuyAndHold, buy_and_hold
from investiq.ops.backtest.claims import ClaimCheck, claims, family, held_together
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.daily import annualisation_note, day_grid
from investiq.ops.backtest.engine import Run, Variant, variants, walk_forward
from investiq.ops.backtest.gating import EntryFilter, Gate, Judged, gate, verdicts
from investiq.ops.backtest.intervals import TAIL, Basis, too_few_note
from investiq.ops.backtest.stats import Difference, VariantStats, difference, variant_stats
from investiq.ops.backtest.trades import Trade

# The stand-in strategies' trades with their entry signals gated (strategies.strategy_trades with a gate).
Replay = Callable[[Gate], list[Trade]]
F = TypeVar("F")

# In the verdict of a Bayesian variant with a single strategy to weigh (report.summary matches it).
ONE_STRATEGY = "there is one strategy"


@dataclass(frozen=True)
class Book:
    """What the variants behind `filters` allocate between: `trades` (sorted by decided_ts) and `taken` (n,),
    False where a filter deleted one of the journal's trades."""

    filters: tuple[Judged, ...]
    trades: list[Trade]
    taken: NDArray[np.bool_]


@dataclass
class Analysis:
    trades: list[Trade]  # without filters (each run holds its own: `Run.trades`)
    runs: list[Run]
    stats: list[VariantStats]
    differences: list[Difference]
    claims: list[ClaimCheck]
    filters: dict[str, str]  # name -> note (what decided, how often it refused)
    days: pd.DatetimeIndex
    notes: list[str] = field(default_factory=list)
    # the passive baseline over the same days (bar sources; None for a journal: no prices between trades)
    buy_and_hold: BuyAndHold | None = None


def filter_sets(filters: Sequence[F]) -> list[tuple[F, ...]]:
    """No filter, each filter alone, and all together when there are several."""
    sets: list[tuple[F, ...]] = [(), *((f,) for f in filters)]
    return [*sets, tuple(filters)] if len(filters) > 1 else sets


def book(trades: list[Trade], judges: tuple[Judged, ...], replay: Replay | None) -> Book:
    """The trades behind `judges`: all of `trades` without one; with `replay` (the stand-in strategies), the
    trades of the entry signals every judge allows; else (the journal, no signals) `trades` less those any judge
    refuses."""
    if not judges:
        return Book(judges, trades, np.ones(len(trades), dtype=bool))
    if replay is not None:
        gated = replay(gate(judges))
        return Book(judges, gated, np.ones(len(gated), dtype=bool))
    return Book(judges, trades, np.logical_and.reduce([verdicts(trades, j) for j in judges]))


J = TypeVar("J")
R = TypeVar("R")


class _Stopped(Exception):
    """A variant's walk left at its next decision: another failed, or the user pressed Ctrl-C."""


def _in_threads(jobs: Sequence[J], walk: Callable[[J, Callable[[int], object]], R], bar: tqdm[Any]) -> list[R]:
    """`walk` of every job, in order, a thread per usable core: the weighing is numpy and SciPy, which let go of
    the GIL, and each weighing seeds its own generator, so the runs are the same in any order (42 -> 28.5 s for 600
    trades of 12 strategies on 2 cores). The bar moves by decision, not by variant (one of 40 strategies' took
    minutes, unsaid). On an error or Ctrl-C the other walks stop at their next decision, not at their end."""
    lock, stop = threading.Lock(), threading.Event()

    def tick(n: int) -> None:
        if stop.is_set():
            raise _Stopped
        with lock:
            bar.update(n)

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(jobs), usable_cores())))
    futures = [pool.submit(walk, job, tick) for job in jobs]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for failed in (f for f in done if f.exception() is not None):
            failed.result()  # raises it now, not after the walks before it in order
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def analyse(
    trades: list[Trade],
    filters: Sequence[EntryFilter],
    settings: Settings,
    config: BacktestConfig,
    progress: bool = True,
    replay: Replay | None = None,
    closes: Mapping[str, pd.Series] | None = None,
) -> Analysis:
    """Every variant behind every filter set, its figures, its differences from equal weights and the claims.
    `replay`: how the stand-in strategies trade behind a gate (None: `trades` are the journal's, which have no
    entry signals: a refused one is deleted). `closes`: the bars' closes (UTC-indexed), for the buy-and-hold
    baseline over the same days (baseline.py); None: no baseline."""
    served = bayes_config(settings)  # the gateway's, its seed (bayes_seed) included: the weights it would serve
    judges = [Judged(f) for f in filters]
    books = [book(trades, chosen, replay) for chosen in filter_sets(judges)]
    for f in filters:
        _check_judged(f, trades)
    # the stand-in strategies run from the first bar; a journal's strategies are known from their first trade
    strategies = sorted({t.strategy for b in books for t in b.trades}) if replay is not None else []
    jobs = [(b, v) for b in books for v in variants(settings.bayes_half_life_days)]
    decisions = sum(len({t.decided_ts for t in chosen.trades}) for chosen, _ in jobs)

    def walked(job: tuple[Book, Variant], tick: Callable[[int], object]) -> Run:
        chosen, variant = job
        named = replace(variant, filters=tuple(j.name for j in chosen.filters))
        return walk_forward(chosen.trades, named, served, chosen.taken, strategies, tick)

    with tqdm(total=decisions, desc="walk-forward", unit="decision", disable=None if progress else True) as bar:
        runs = _in_threads(jobs, walked, bar)
    days = day_grid([t for b in books for t in b.trades])  # one calendar for every variant: pairs compare on it
    equal = runs[0]
    # gross notional traded relative to equal weights': sizes are K x weight, and the strategies trade at different
    # rates, so a weighting that favours one that trades rarely trades less in all (sizing left as served)
    notional = float(equal.sizes.sum())
    stats = [
        replace(
            variant_stats(r.variant.label, r.trades, r.sizes, days, config),
            exposure=float(r.sizes.sum()) / notional if notional > 0 else float("nan"),
        )
        for r in runs
    ]
    reference, reference_sizes = compared(equal)
    differences = [
        difference(r.variant.label, *compared(r), reference_sizes, days, config, reference, taken=_taken(r))
        for r in runs[1:]
    ]
    half_life = served.half_life_days
    headline = [(r, d) for r, d in zip(runs[1:], differences, strict=True) if _is_headline(r.variant, half_life)]
    notes = {f.name: str(getattr(f, "note", "")) + _counts(f) for f in filters}
    # a filter that changed no trade of its book: the variants behind it test nothing of it
    idle = {b.filters: idle_filters(b, books, trades, replay) for b in books}
    of_run = [b.filters for b, _ in jobs]
    stats_of = {id(r): st for r, st in zip(runs, stats, strict=True)}
    why = {
        r.variant.label: _untested(r, idle[of_run[runs.index(r)]])
        or _too_few_trades(r, config.min_trades)
        or _unmoved(r, stats_of[id(r)])
        for r, _ in headline
    }
    checks = [c for r, d in headline for c in claims(d, why[r.variant.label])]
    if (tested := family(checks)) > 1:  # each claim's interval again, wide enough to hold with the others
        judged = {c.label for c in checks if not c.verdict.startswith(("not tested", "undefined"))}
        strict = {
            r.variant.label: difference(
                r.variant.label, *compared(r), reference_sizes, days, config, reference, _taken(r), TAIL / tested
            )
            for r, _ in headline
            if r.variant.label in judged
        }
        checks = held_together(checks, strict, why)
    warnings = [unknown_entry_note(trades, bool(filters)), *thin_data_notes(len(reference), days, config)]
    hold = buy_and_hold(closes, days, (equal.trades, equal.sizes), config) if closes else None
    return Analysis(
        trades,
        runs,
        stats,
        differences,
        checks,
        notes,
        days,
        [*filter(None, warnings), annualisation_note(days)],
        hold,
    )


def compared(run: Run) -> tuple[Sequence[Trade], NDArray[np.float64]]:
    """The trades of `run` that the differences from equal weights and the claims compare, and their sizes: those
    whose entry time is known. A journal trade without one is sized 1 in every variant (engine.py), so it would
    only dilute every difference toward 0, and what it would have been sized at its real entry is unknown."""
    known = np.array([t.entry_known for t in run.trades], dtype=bool)
    if known.all():
        return run.trades, run.sizes  # the same list for the variants without filters: compared as such
    return [t for t, k in zip(run.trades, known, strict=True) if k], run.sizes[known]


def _taken(run: Run) -> NDArray[np.bool_] | None:
    """Which of `compared(run)`'s trades its book took (None: every one of size > 0)."""
    if run.taken is None:
        return None
    known = np.array([t.entry_known for t in run.trades], dtype=bool)
    taken: NDArray[np.bool_] = np.asarray(run.taken, dtype=bool)[known]
    return taken


def unknown_entry_note(trades: Sequence[Trade], filtered: bool) -> str:
    """What was done with the trades whose entry time is unknown, for report.md and report.json ("" without)."""
    unknown = sum(not t.entry_known for t in trades)
    if not unknown:
        return ""
    unjudged = "; no entry filter judged them" if filtered else ""
    return (
        f"{unknown} of the {len(trades)} trades have no readable opened_at (or one after their close), so their "
        "entry time is unknown: each is sized 1 (the equal share) in every variant, since a weight at its close "
        "would rest on trades that closed after its real entry (look-ahead), and they are left out of the "
        f"differences from equal weights and the claims (each variant's own figures include them){unjudged}"
    )


def thin_data_notes(trades: int, days: pd.DatetimeIndex, config: BacktestConfig) -> list[str]:
    """Warnings when the `trades` the claims compare without filters, or the daily P&L's `days`, are too few
    bootstrap blocks to judge anything on (intervals.MIN_BLOCKS)."""
    return [
        too_few_note(
            Basis(trades, config.block_trades, "trades"),
            "win rates and the differences in win rate, average win and P&L per trade get no interval, and the "
            "win-rate and average-win claims are not tested",
        ),
        too_few_note(
            Basis(len(days), config.block_days, "days"),
            "win rates and the differences in win rate, average win, P&L per trade (resampled by decision day), "
            "total return and Sharpe get no interval, and no claim is tested; annual return and Sharpe scale so "
            "short a window to a year",
        ),
    ]


def idle_filters(chosen: Book, books: Sequence[Book], trades: list[Trade], replay: Replay | None) -> list[str]:
    """The filters of `chosen` without which its book would be the same: the same trades, the same taken. Asked of
    each book, not of a filter's answers over all of them: behind another filter, a filter may refuse entries
    that exist only there (the other moved them to later bars), and still change nothing on its own."""
    known = {b.filters: b for b in books}
    idle = []
    for j in chosen.filters:
        rest = tuple(k for k in chosen.filters if k is not j)
        other = known.get(rest) or book(trades, rest, replay)
        if other.trades == chosen.trades and np.array_equal(other.taken, chosen.taken):
            idle.append(j.name)
    return idle


def _is_headline(variant: Variant, half_life: float) -> bool:
    """Judged against the claims: every Bayesian variant without filters; behind filters, the served allocation
    (posterior mean at the configured half-life) and equal weights (what the filters do on their own)."""
    if not variant.filters:
        return variant.allocation != "equal"
    return variant.allocation == "equal" or (variant.allocation == "mean" and variant.half_life_days == half_life)


def _untested(run: Run, idle: Sequence[str]) -> str:
    """Why `run` tests nothing of its filters ("" when it does): they let none of its entries through, so it made
    no trade; or one of them, in `idle`, changed no trade of its book, so it traded exactly as without that filter,
    and any difference from equal weights is the rest's (judged on its own)."""
    variant = run.variant
    base = variant.label.split(" + ")[0]
    if variant.filters and not np.any(run.sizes > 0):
        behind = "them" if len(variant.filters) > 1 else "it"
        return f"{' and '.join(variant.filters)} let no entry through, so {base} behind {behind} made no trade"
    names = [name for name in variant.filters if name in idle]
    if not names:
        return ""
    return (
        f"{' and '.join(names)} refused no entry (it let every one of them in), so this variant traded exactly as "
        f"{base}{' behind the other filters' if len(names) < len(variant.filters) else ''} did"
    )


def _too_few_trades(run: Run, min_trades: int) -> str:
    """Why `run` is judged on nothing ("" when it is not): it took fewer than `min_trades` of the trades the claims
    compare. Before, only the unfiltered trades were counted (run.py) and only a filter that let nothing through
    was caught here: a variant behind a filter that let one entry in read "contradicted" (a review)."""
    taken = int(np.count_nonzero(compared(run)[1] > 0))
    if taken >= min_trades:
        return ""
    known = " with a known entry time" if any(not t.entry_known for t in run.trades) else ""
    behind = f" behind {' and '.join(run.variant.filters)}" if run.variant.filters else ""
    plural = "s" if taken != 1 else ""
    return f"only {taken} trade{plural}{known}{behind}, at least {min_trades} needed to judge anything"


def _unmoved(run: Run, stats: VariantStats) -> str:
    """Why a Bayesian `run` tests nothing of the claims ("" when it does): its weights never left the equal share,
    so it traded exactly as equal weights did (behind filters: as equal weights behind them), and its differences
    say nothing for or against learning. With a single strategy its weight is always 1: said so, since no amount
    of evidence or half-life would change it."""
    variant = run.variant
    if variant.allocation == "equal" or stats.resized > 0 or not np.any(run.sizes > 0):
        return ""
    twin = " + ".join(["equal", *variant.filters])  # behind filters, its differences are theirs alone
    if len(run.strategies) == 1:
        return (
            f"{ONE_STRATEGY} ({run.strategies[0]}), so its weight is always 1 and it traded exactly as "
            f"{twin if variant.filters else 'equal weights'} did: weighting needs two strategies or more"
        )
    return (
        "its weights never left the equal share (no strategy ever had bayes_min_trades of effective evidence at a "
        f"decision), so it traded exactly as {twin if variant.filters else 'equal weights'} did"
    )


def _check_judged(f: EntryFilter, trades: Sequence[Trade]) -> None:
    """DataError when `f` had something to say about none of the entries (no headline of a traded symbol in any
    entry's lookback, say): every variant behind it would equal its twin without it, and the claims about it
    would be verdicts on a filter that never saw its input."""
    counts: Any = getattr(f, "counts", None)
    if counts is None or counts.allowed + counts.refused > 0 or not trades:
        return
    symbols = ", ".join(sorted({t.symbol for t in trades}))
    first, last = (
        pd.Timestamp(min(t.decided_ts for t in trades), unit="s"),
        pd.Timestamp(max(t.decided_ts for t in trades), unit="s"),
    )
    raise DataError(
        f"the filter {f.name} had nothing to judge for any of the {len(trades)} entries ({symbols}, decided "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d}); {getattr(f, 'note', '')}: give it input for these symbols "
        "and dates"
    )


def _counts(f: EntryFilter) -> str:
    counts: Any = getattr(f, "counts", None)
    if counts is None:
        return ""
    return (
        f" (entries allowed {counts.allowed}, refused {counts.refused}, without a forecast {counts.no_forecast}; "
        "each symbol and decision time asked once)"
    )
