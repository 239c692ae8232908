"""Live skill of the price forecasts, from the journal's resolved rows: pure maths, no I/O.

A forecast from the bar at time t for H bars ahead overlaps every other forecast from within H bars of it (their
outcomes share moves), so outcomes are not independent draws. Rows are therefore summed into buckets of origin
time one horizon long (per symbol, and across symbols for the pooled figures, since SPX and NASDAQ on one day are
one observation, not two), and intervals come from a block bootstrap over the buckets: blocks of at least two (a
forecast near a bucket's end overlaps the next one), growing as the cube root of the buckets, and the expanded
percentile interval, which widens for few blocks. A horizon's bar time is shorter than the time its H bars really
take where the market has nights and weekends (`span_seconds`, which the resolver records: 12 daily bars of a
stock take ~17 days, 1.4 buckets; `Skill.span` says it), so the ten buckets judging needs are fewer real horizons
there: seven on daily stock bars. In simulated journals with weekends and nights (harness/skill_periods.py) the
95% intervals held the hit rate and MAE ratio 88-98% of the time all the same; blocks stretched to hold a
horizon's real span did no better (89% at 120 hourly bars, where two-bucket blocks held 95%), and a grid of the
real span itself (tried on 2026-12-05) moved with every forecast, put a 15-minute session in one bucket, and one
halted symbol's span cut a pooled record from 33 buckets to 6 (reviews). On
fewer than MIN_BUCKETS buckets with evidence for it (ten horizons, the retrain gate's minimum too) a figure has
no interval: with 2 buckets every resample is the same, and a zero-width interval called a model with real
skill significantly worse than the random walk. In simulated journals with a known answer (3 correlated
symbols, calls persisting over many bars) the 95% intervals held the true hit rate and MAE ratio 86-99% of
the time at 12 to 88 buckets.

A forecast asked again for the same bar (an agent polling) is journaled again, but counted once: one
forecast is (model version, symbol, last bar, horizon).

Per row, the sums a resolved forecast adds are `Outcome.row`'s (investiq/core/skill_outcomes.py).

`SkillBook` keeps these sums per (model version, symbol, slice of origin time); adding a row is O(1), so the
gateway feeds it only the rows resolved since its last look and never rescans the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from investiq.core.forecast_stats import MIN_BLOCKS, bootstrap_interval, expanded_tail
from investiq.core.skill_outcomes import COLUMN, Outcome, OutcomeKey

BLOCK = 2  # the fewest buckets per bootstrap block
DAY_SECONDS = 86_400.0  # the longest slice of a horizon a skill window counts whole (`slice_seconds`)
MAX_SPAN = 10.0  # at most this many horizons' bar time per horizon: a halt of months does not stretch every period
MIN_BUCKETS = MIN_BLOCKS  # the fewest buckets with evidence a figure gets an interval on: horizons, as the gate
REPS = 1000
FAMILY_DRAWS = 50  # replicates beyond each end of a Bonferroni interval, at least (`SkillBook.mae_ratio`)
MAX_REPS = 200_000
POOLED = "*"  # the symbol key of figures pooled over symbols


@dataclass(frozen=True)
class Figure:
    """An estimate with its 95% interval; None when there is no evidence for it."""

    value: float | None
    ci95: tuple[float, float] | None
    n: int  # resolved forecasts it rests on
    periods: int = 0  # horizon periods with evidence for it: an interval needs MIN_BUCKETS


@dataclass(frozen=True)
class Skill:
    n: int  # resolved forecasts
    buckets: int  # non-overlapping horizon periods they fall in (the effective sample)
    hit_rate: Figure  # over the directional calls (its n); none for a model that calls none (the random walk)
    always_up_rate: Figure  # the hit rate of "always up" over the same forecasts (the calls)
    brier: Figure
    brier_skill: Figure  # 1 - Brier / Brier of the base rate the model serves without skill
    coverage80: Figure
    coverage90: Figure
    mae_ratio: Figure  # MAE of the forecast at the horizon / the random walk's, scale-free
    first: float | None  # POSIX origin time of the earliest forecast counted
    last: float | None
    coverage80_gaps_ahead: Figure  # coverage80 over the forecasts whose intervals were fitted to the gaps ahead
    coverage90_gaps_ahead: Figure
    # hit rate - always-up's over the same calls, its interval paired (both from the same resampled periods)
    edge_over_always_up: Figure
    # 1 - Brier / a coin's (0.25): a P(up) that is its base scores 0 in brier_skill by construction, however far
    # off the base is; against a coin it shows (0.555 served where 17 % rose: an operator's walkthrough)
    brier_skill_vs_coin: Figure
    # buckets (a horizon's bar time) a horizon really took, on average over the forecasts that recorded it: 1.4 on
    # daily stock bars (weekends), ~5 on hourly; None where none did (resolved before schema 8)
    span: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def block_length(buckets: int) -> int:
    """Buckets per bootstrap block: BLOCK, growing as the cube root of the sample (the usual rate for block
    bootstraps) so that calls which persist over several horizons stay inside a block."""
    return max(BLOCK, int(buckets ** (1 / 3) + 0.5))


def wilson(share: float, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a share observed over n independent trials."""
    z2 = 1.959964**2
    centre, spread = share + z2 / (2 * n), 1.959964 * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n)), min(1.0, (centre + spread) / (1 + z2 / n))


def _figure(
    sums: NDArray[np.float64],
    num: str,
    den: str,
    count: str,
    seed: int,
    skill: bool = False,
    share: bool = False,
    tail: float = 0.025,
    reps: int = REPS,
    block: int | None = None,
) -> Figure:
    """sum(num) / sum(den) over the buckets (1 - that when `skill`), with a block-bootstrap interval;
    `count` is the column that counts the forecasts it rests on. A `share` (a rate in [0, 1]) gets an interval no
    narrower than Wilson's on those forecasts, as if each were independent: where every period had the same
    outcome (15 periods that all rose) the bootstrap has nothing to resample and said 1.0 [1.0, 1.0] (a review);
    elsewhere the bootstrap's is the wider (forecasts of one period share their outcomes)."""
    i, j = COLUMN[num], COLUMN[den]
    n = int(sums[:, COLUMN[count]].sum())
    periods = int(np.count_nonzero(sums[:, j]))
    if float(sums[:, j].sum()) <= 0 or n == 0:
        return Figure(None, None, n, periods)

    def statistic(m: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = m[..., 0] / m[..., 1]
        return np.asarray(1 - r if skill else r, dtype=np.float64)

    pair = sums[:, [i, j]]
    if periods < MIN_BUCKETS:  # too few periods with evidence for this figure: no interval
        value = float(statistic(pair.sum(axis=0)))
        return Figure(value, None, n, periods)
    value, ci = bootstrap_interval(
        [pair], statistic, block=block or block_length(len(pair)), reps=reps, seed=seed, expanded=True, tail=tail
    )
    if not all(map(math.isfinite, ci)):
        return Figure(value, None, n, periods)
    if share:
        floor = wilson(value, n)
        ci = (min(ci[0], floor[0]), max(ci[1], floor[1]))
    return Figure(value, (ci[0], ci[1]), n, periods)


def _edge(sums: NDArray[np.float64], seed: int, block: int | None = None) -> Figure:
    """hit rate - always-up's over the same calls, paired. Only a "down" call differs from always-up's (+1 where
    the close did not rise, -1 where it did), so the difference is (down / calls) (2 q - 1), q the down calls' hit
    rate: its interval is no narrower than that with Wilson's interval of q on the down calls, as if each were
    independent (15 down calls that all missed gave -1 [-1, -1]; a review). With no down call it is 0 exactly."""
    figure = _figure(sums, "edge", "calls", "calls", seed, block=block)
    down, calls = float(sums[:, COLUMN["down_calls"]].sum()), float(sums[:, COLUMN["calls"]].sum())
    if figure.ci95 is None or down == 0:
        return figure
    right = (float(sums[:, COLUMN["edge"]].sum()) + down) / 2  # the down calls the move bore out
    low, high = wilson(right / down, round(down))
    ci = (min(figure.ci95[0], down / calls * (2 * low - 1)), max(figure.ci95[1], down / calls * (2 * high - 1)))
    return Figure(figure.value, ci, figure.n, figure.periods)


GAPS_AHEAD = ("n_gaps_ahead", "n_gaps_ahead")  # the denominator and count of the gaps-ahead coverage


def summarise(
    buckets: dict[int, NDArray[np.float64]],
    times: dict[int, tuple[float, float]],
    seed: int = 0,
    span: float | None = None,
) -> Skill:
    """Skill over the given buckets (bucket index -> column sums), in time order; `span`: buckets a horizon really
    took, on average (None: not recorded)."""
    keys = sorted(buckets)
    if not keys:
        empty = Figure(None, None, 0)
        return Skill(
            0, 0, empty, empty, empty, empty, empty, empty, empty, None, None, empty, empty, empty, empty, span
        )
    sums = np.stack([buckets[k] for k in keys])
    block = block_length(len(keys))
    fig = partial(_figure, block=block)
    return Skill(
        n=int(sums[:, COLUMN["n"]].sum()),
        buckets=len(keys),
        hit_rate=fig(sums, "hits", "calls", "calls", seed, share=True),
        always_up_rate=fig(sums, "call_ups", "calls", "calls", seed, share=True),
        brier=fig(sums, "brier", "n_probability", "n_probability", seed),
        brier_skill=fig(sums, "brier", "brier_base", "n_probability", seed, skill=True),
        coverage80=fig(sums, "cover80", "n_intervals", "n_intervals", seed, share=True),
        coverage90=fig(sums, "cover90", "n_intervals", "n_intervals", seed, share=True),
        mae_ratio=fig(sums, "error", "error_random_walk", "n", seed),
        first=min(times[k][0] for k in keys),
        last=max(times[k][1] for k in keys),
        coverage80_gaps_ahead=fig(sums, "cover80_gaps_ahead", *GAPS_AHEAD, seed, share=True),
        coverage90_gaps_ahead=fig(sums, "cover90_gaps_ahead", *GAPS_AHEAD, seed, share=True),
        edge_over_always_up=_edge(sums, seed, block),
        brier_skill_vs_coin=fig(sums, "brier", "brier_coin", "n_probability", seed, skill=True),
        span=None if span is None else round(span, 4),
    )


def slice_seconds(horizon: float) -> float:
    """The longest part of `horizon` seconds that divides it and is at most a day: what a skill window's edge is
    exact to (`SkillBook`)."""
    return horizon / math.ceil(horizon / DAY_SECONDS)


class SkillBook:
    """Column sums per (model version, symbol, slice of origin time); symbol POOLED holds all symbols. A slice is
    the longest part of a horizon's bar time (horizon_steps x interval) that divides it and is at most a day
    (`slice_seconds`): one day of daily forecasts 12 bars ahead, a whole horizon of 15-minute bars 12 ahead.
    Figures group the slices in buckets one horizon long, versions of other horizons in buckets of the longest
    horizon, by time. A window holds the slices wholly within it, so nothing from before its start: a bucket
    counted whole by its last forecast brought up to a horizon from before it (a "30d" window held 33 days of
    daily forecasts 12 bars ahead, 40 where 34 were due: a review), and sums per origin time cost 5x the memory
    and 10x the time of a report on 200,000 forecasts of 15-minute bars (a review of that fix). Beside the sums,
    the spans of the forecasts that recorded one (`Skill.span`)."""

    def __init__(self) -> None:
        # per (version, symbol) and slice: the column sums, [sum of span / horizon, forecasts that recorded one],
        # and the first and last origin time in it
        self._sums: dict[tuple[str, str], dict[int, NDArray[np.float64]]] = defaultdict(dict)
        self._spans: dict[tuple[str, str], dict[int, NDArray[np.float64]]] = defaultdict(dict)
        self._times: dict[tuple[str, str], dict[int, tuple[float, float]]] = defaultdict(dict)
        self._arrays: dict[tuple[str, str], tuple[NDArray[np.float64], ...]] = {}  # `_array`
        self._horizons: dict[str, float] = {}  # version -> its horizon's bar time in seconds
        self._seen: set[OutcomeKey] = set()
        self.unscorable = 0  # forecasts left out because they cannot be scored (`Outcome.scorable`), each once
        self._unscorable_seen: set[OutcomeKey] = set()

    def add(self, outcomes: Iterable[Outcome]) -> set[str]:
        """Count the outcomes in (not those that cannot be scored: `unscorable` counts them); return the model
        versions whose figures changed."""
        changed = set()
        for o in outcomes:
            if not o.scorable:  # counted once a forecast, as the others (polls of it across a hole: a review)
                # and not where another poll of it scored: one forecast read scored and unscorable (a review)
                self.unscorable += o.key not in self._unscorable_seen and o.key not in self._seen
                self._unscorable_seen.add(o.key)
                continue
            if o.key in self._seen:  # the same forecast asked again: one piece of evidence
                continue
            if o.outcome_ts is not None and o.origin_key in self._seen:
                # asked again after an upgrade: the earlier row, resolved before schema 8, has no outcome_ts, and
                # both counted (an audit of upgrades: 24 forecasts a version read 48). Rows come in the order they
                # were resolved, so the older row is the one seen first.
                continue
            self._seen.add(o.key)
            if o.key in self._unscorable_seen:  # a poll of it that could not be scored came first
                self.unscorable -= 1
            horizon = max(o.horizon_seconds, 1.0)
            self._horizons[o.model_version] = horizon
            origin, row = o.origin_ts, o.row()
            piece = math.floor(origin / slice_seconds(horizon))
            took = o.span_seconds  # [span in buckets, 1] where the forecast recorded it, else [0, 0]
            unknown = took is None or not math.isfinite(took)
            span = (
                np.zeros(2)
                if took is None or unknown
                else np.array([min(max(took / horizon, 1.0), MAX_SPAN), 1.0])
            )
            for symbol in (o.symbol, POOLED):
                key = (o.model_version, symbol)
                sums, spans, times = self._sums[key], self._spans[key], self._times[key]
                sums[piece] = sums[piece] + row if piece in sums else row.copy()
                spans[piece] = spans[piece] + span if piece in spans else span
                lo, hi = times.get(piece, (origin, origin))
                times[piece] = (min(lo, origin), max(hi, origin))
                self._arrays.pop(key, None)
            changed.add(o.model_version)
        return changed

    @property
    def forecasts(self) -> int:
        """Distinct forecasts counted (one asked again for its bar is one)."""
        return len(self._seen)

    def groups(self) -> list[tuple[str, str]]:
        return sorted(self._sums)

    def skill(
        self,
        version: str | None,
        symbol: str = POOLED,
        since_ts: float | None = None,
        until_ts: float | None = None,
        seed: int = 0,
    ) -> Skill:
        """Figures of `version` (None: every version's forecasts together) for `symbol` (POOLED: all), over the
        forecasts from origins at or after since_ts and before until_ts (None: no bound; exact to a slice of a
        day at most, whole slices only), with the real span of those forecasts' horizons (`Skill.span`)."""
        sums, times, span = self._periods(version, symbol, since_ts, until_ts)
        return summarise(sums, times, seed, span)

    def mae_ratio(self, version: str, symbol: str, since_ts: float | None, tail: float, seed: int = 0) -> Figure:
        """The MAE ratio of `skill` with `tail` in each tail of its interval (0.025 / k: one of k figures judged
        together, Bonferroni), from enough replicates that its ends rest on FAMILY_DRAWS of them or more: the
        expanded percentile interval's tail at few blocks is far smaller than `tail` (0.00029 for 0.025 / 6 at 11
        blocks), and at 4,000 replicates an end was one draw, which seed decided (a review: 13 of 20 seeds)."""
        sums, _, _ = self._periods(version, symbol, since_ts, None)
        if not sums:
            return Figure(None, None, 0)
        stacked = np.stack([sums[k] for k in sorted(sums)])
        block = block_length(len(stacked))
        drawn = expanded_tail(-(-len(stacked) // block), tail)
        reps = min(MAX_REPS, max(REPS, math.ceil(FAMILY_DRAWS / drawn)))
        return _figure(stacked, "error", "error_random_walk", "n", seed, tail=tail, reps=reps, block=block)

    def _array(self, key: tuple[str, str]) -> tuple[NDArray[np.float64], ...]:
        """`key`'s slices in time order: their first and last origin times, column sums and spans, as arrays
        (made again after an add to the key)."""
        if key not in self._arrays:
            pieces = sorted(self._sums[key])
            times = self._times[key]
            self._arrays[key] = (
                np.array([times[p][0] for p in pieces], dtype=np.float64),
                np.array([times[p][1] for p in pieces], dtype=np.float64),
                np.stack([self._sums[key][p] for p in pieces]),
                np.stack([self._spans[key][p] for p in pieces]),
            )
        return self._arrays[key]

    def _periods(
        self, version: str | None, symbol: str, since_ts: float | None, until_ts: float | None
    ) -> tuple[dict[int, NDArray[np.float64]], dict[int, tuple[float, float]], float | None]:
        """Column sums and origin times per bucket (`skill`) of the slices wholly within [since_ts, until_ts),
        and how many buckets a horizon really spans, on average over those that recorded it (None where none
        did)."""
        keys = [(v, s) for v, s in self._sums if s == symbol and version in (None, v)]
        period = max((self._horizons[v] for v, _ in keys), default=1.0)  # the longest version's, if several
        picked, span_sum = [], np.zeros(2)  # span_sum: [sum of span in buckets, forecasts that recorded one]
        for key in keys:
            first, last, rows, spans = self._array(key)
            lo = 0 if since_ts is None else int(np.searchsorted(first, since_ts, side="left"))
            hi = len(last) if until_ts is None else int(np.searchsorted(last, until_ts, side="left"))
            hi = max(hi, lo)
            picked.append((first[lo:hi], last[lo:hi], rows[lo:hi]))
            span_sum += spans[lo:hi].sum(axis=0) * [self._horizons[key[0]] / period, 1.0]
        sums: dict[int, NDArray[np.float64]] = {}
        times: dict[int, tuple[float, float]] = {}
        if sum(len(f) for f, _, _ in picked):
            first = np.concatenate([f for f, _, _ in picked])
            last = np.concatenate([t for _, t, _ in picked])
            rows = np.concatenate([r for _, _, r in picked])
            buckets = np.floor(first / period).astype(np.int64)  # a slice lies in one bucket of its horizon
            order = np.argsort(buckets, kind="stable")
            buckets, first, last, rows = buckets[order], first[order], last[order], rows[order]
            keys_at, starts = np.unique(buckets, return_index=True)
            totals = np.add.reduceat(rows, starts, axis=0)
            ends = np.append(starts[1:], len(buckets))
            for k, start, end, total in zip(keys_at.tolist(), starts, ends, totals, strict=True):
                sums[k], times[k] = total, (float(first[start:end].min()), float(last[start:end].max()))
        return sums, times, float(span_sum[0] / span_sum[1]) if span_sum[1] else None

    def recent_since(self, version: str, periods: int, forecasts: int) -> float | None:
        """Where `version`'s shortest recent record with the evidence to judge begins: the first origin time from
        which its forecasts (pooled over symbols) fill `periods` buckets and number `forecasts` (a `since_ts` for
        `skill`); None while its whole record has less. Days do not measure evidence: 90 days of daily forecasts 12
        bars ahead hold 8 periods, too few, and health judged such a model on its whole history, where two good
        years hid three bad months (MAE ratio 0.96 over all, 1.40 over the 90 days: a review)."""
        sums, times, _ = self._periods(version, POOLED, None, None)
        counted = n = 0
        for bucket in sorted(sums, reverse=True):
            counted, n = counted + 1, n + int(sums[bucket][COLUMN["n"]])
            if counted >= periods and n >= forecasts:
                return times[bucket][0]  # `skill` counts the forecasts from that bucket's first origin on
        return None

    def span(self, version: str | None, symbol: str = POOLED) -> float | None:
        """How many buckets (horizon_steps x interval) one horizon really takes, on average over the resolved
        forecasts that recorded it (None where none did; 1 on round-the-clock bars); pooled over symbols, over all
        their forecasts."""
        return self._periods(version, symbol, None, None)[2]


def family_worse(
    book: SkillBook,
    snapshot: dict[tuple[str, str], dict[str, Skill]],
    version: str,
    window: str,
    since: float | None,
) -> dict[str, list[float]]:
    """The symbols whose MAE ratio's interval lies wholly above 1 with all k symbols that have one in the
    window judged together (Bonferroni: each interval at 1 - 0.05 / k), [ratio, low, high] each: among 20
    symbols of a model no worse than the random walk, one in 20 is 'significantly worse' at 95% by chance,
    so a single symbol at 95% does not degrade health; one at this level does. `snapshot`: (version, symbol) ->
    window -> Skill, of `book`'s rows since `since`. One implementation for /price/health and `investiq report`."""
    judged = {
        symbol: windows[window]
        for (v, symbol), windows in snapshot.items()
        if v == version and symbol != POOLED and window in windows and windows[window].mae_ratio.ci95
    }
    out = {}
    for symbol, skill in judged.items():
        ci = skill.mae_ratio.ci95
        if ci is None or ci[0] <= 1:  # not even at 95 %: not at the family's level either
            continue
        family = book.mae_ratio(version, symbol, since, tail=0.025 / len(judged))
        if family.ci95 is not None and family.ci95[0] > 1 and family.value is not None:
            out[symbol] = [round(family.value, 4), round(family.ci95[0], 4), round(family.ci95[1], 4)]
    return out
