"""Every allocation variant behind every filter set, walked forward over the same trades, with its figures,
its differences from equal weights and the verdicts on the original design's claims."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
from tqdm import tqdm

from gateway.wiring import bayes_config
from investiq.core.errors import DataError
from investiq.core.settings import Settings
from investiq.ops.backtest.config import BacktestConfig
from investiq.ops.backtest.engine import EntryFilter, Run, Variant, variants, verdicts, walk_forward
from investiq.ops.backtest.stats import (
    ClaimCheck,
    Difference,
    VariantStats,
    annualisation_note,
    claims,
    day_grid,
    difference,
    variant_stats,
)
from investiq.ops.backtest.trades import Trade


@dataclass
class Analysis:
    trades: list[Trade]
    runs: list[Run]
    stats: list[VariantStats]
    differences: list[Difference]
    claims: list[ClaimCheck]
    filters: dict[str, str]  # name -> note (what decided, how often it refused)
    days: pd.DatetimeIndex
    notes: list[str] = field(default_factory=list)


def filter_sets(filters: Sequence[EntryFilter]) -> list[tuple[EntryFilter, ...]]:
    """No filter, each filter alone, and all together when there are several."""
    sets: list[tuple[EntryFilter, ...]] = [(), *((f,) for f in filters)]
    return [*sets, tuple(filters)] if len(filters) > 1 else sets


def analyse(
    trades: list[Trade],
    filters: Sequence[EntryFilter],
    settings: Settings,
    config: BacktestConfig,
    progress: bool = True,
) -> Analysis:
    """Every variant behind every filter set, its figures, its differences from equal weights and the claims."""
    served = replace(bayes_config(settings), seed=config.seed)
    allowed = {id(f): verdicts(trades, f) for f in filters}
    for f in filters:
        _check_judged(f, trades)
    jobs = [(s, v) for s in filter_sets(filters) for v in variants(settings.bayes_half_life_days)]
    runs = []
    for chosen, variant in tqdm(jobs, desc="walk-forward", unit="variant", disable=not progress):
        mask = np.ones(len(trades), dtype=bool)
        for f in chosen:
            mask &= allowed[id(f)]
        runs.append(walk_forward(trades, replace(variant, filters=tuple(f.name for f in chosen)), served, mask))
    days = day_grid(trades)
    equal = runs[0].sizes
    stats = [variant_stats(r.variant.label, trades, r.sizes, days, config) for r in runs]
    differences = [difference(r.variant.label, trades, r.sizes, equal, days, config) for r in runs[1:]]
    half_life = served.half_life_days
    headline = [(r, d) for r, d in zip(runs[1:], differences, strict=True) if _is_headline(r.variant, half_life)]
    notes = {f.name: str(getattr(f, "note", "")) + _counts(f) for f in filters}
    # a filter that refused no entry changed no trade: the variants behind it test nothing of it
    idle = [f.name for f in filters if allowed[id(f)].all()]
    checks = [c for r, d in headline for c in claims(d, _untested(r.variant, idle))]
    return Analysis(trades, runs, stats, differences, checks, notes, days, [annualisation_note(days)])


def _is_headline(variant: Variant, half_life: float) -> bool:
    """Judged against the claims: every Bayesian variant without filters; behind filters, the served allocation
    (posterior mean at the configured half-life) and equal weights (what the filters do on their own)."""
    if not variant.filters:
        return variant.allocation != "equal"
    return variant.allocation == "equal" or (variant.allocation == "mean" and variant.half_life_days == half_life)


def _untested(variant: Variant, idle: Sequence[str]) -> str:
    """Why `variant` tests nothing of its filters ("" when it does): one of them, in `idle`, refused no entry,
    so it traded exactly as without that filter, and any difference from equal weights is the rest's (judged
    on its own)."""
    names = [name for name in variant.filters if name in idle]
    if not names:
        return ""
    base = variant.label.split(" + ")[0]
    return (
        f"{' and '.join(names)} refused no entry (it let every one of them in), so this variant traded exactly as "
        f"{base}{' behind the other filters' if len(names) < len(variant.filters) else ''} did"
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
        f" (entries allowed {counts.allowed}, refused {counts.refused}, without a forecast {counts.no_forecast})"
    )
