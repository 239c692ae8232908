"""Gaps in the bars (nights, weekends, holidays) and the intervals of forecast paths that cross them. Pure maths.

The graph's intervals widen with the steps (sigma sqrt(h), conformal offsets per step pooled over every
origin), not with the hours a path spans: on intraday bars a path across a night spans far more risk than one
within a session, so the pooled intervals were too narrow across nights and too wide within sessions (hourly
stock bars, 80 % intervals: 92 % covered from a session's first bar, 55 % from its last). What fixes it is known
from the bar times of the window alone, so that it holds for any symbol and market:

- `gap_before`: a gap precedes a bar spaced more than GAP times the usual spacing from the one before, and at
  least GAP_EXTRA more (a few missing intraday bars are not a night);
- `ahead`: from a window's gaps, its session length (the most common number of bars between them) and its place
  in the session (bars since the last gap), the gaps its path will cross by each step; unknown (-1) where the
  window shows no regular sessions (crypto, round the clock, whose gaps are holes in the data);
- `fit_gaps`: the factors on the quantiles' distances from the median for j gaps crossed by step h and level. The
  cell of the most validation windows at each step (within a session, intraday) gets its own (`cell_factors`,
  exact; one per level on MIN_LEVELS windows), as does any other whose paths cross MIN_CELL different gaps (one per
  level across MIN_LEVELS gaps, else one on the commonest cell's shape); a thinner one (every night's cell on 60
  days of 15m bars: about 6 nights of validation) the one-parameter model's (`model_factors`): a gap adds the
  variance of rho bars, so the anchor's factors times sqrt(v[j, h] / v[anchor]), v[j, h] = h - j + j rho, rho
  fitted on every window;
- `widen`: the quantiles with those factors applied, the median unchanged.

A window without regular sessions, or without bar times (closes sent with a request), is served the pooled
intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

GAP = 1.5  # bars further apart than this many times their usual spacing: a night, a weekend, a holiday ...
GAP_EXTRA = pd.Timedelta(hours=2)  # ... and at least this much more: a few missing 15m or 1h bars are not a night
MIN_SESSIONS = 3  # session lengths (between gaps) a window must show before its sessions are trusted
MIN_CROSSING = 20  # validation windows whose path crosses a gap that a gap's variance is fitted on
MIN_CELL = 20  # different gaps a cell's paths must cross (windows within a session) for a factor of its own
MIN_LEVELS = 200  # ... and for a factor per quantile level (else one on the anchor's: `cell_factors`)
FACTOR_RANGE = (0.1, 10.0)  # a cell's factor is kept within this range
RHO_GRID = np.geomspace(0.25, 400.0, 97)  # a gap's variance in bars' variances: a 15m bar's night is ~10-40


_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _spacing(times: Any) -> NDArray[np.float64]:
    """Nanoseconds between consecutive bar times, in the times' own resolution first: bar times sent before 1677
    (pandas gives them in seconds or microseconds) are beyond a nanosecond index, and so may be their spacing (in
    int64 nanoseconds, 292 years wrapped round to a negative one): in floats."""
    index = pd.DatetimeIndex(times)
    spacing: NDArray[np.float64] = np.diff(index.asi8).astype(np.float64) * _NS_PER_UNIT[index.unit]
    return spacing


def usual_spacing(times: Any) -> float:
    """Seconds between bars, their median (0 for fewer than two bars)."""
    spacing = _spacing(times)
    return float(np.median(spacing)) / 1e9 if spacing.size else 0.0


def gap_before(times: Any) -> NDArray[np.bool_]:
    """[bars]: whether a gap (GAP, GAP_EXTRA) precedes each bar; the first bar has none."""
    spacing = _spacing(times)
    if spacing.size < 2:
        return np.zeros(spacing.size + 1, dtype=bool)
    usual = float(np.median(spacing))
    return np.concatenate([[False], spacing > max(GAP * usual, usual + GAP_EXTRA.value)])


def crossings(gap: NDArray[np.bool_], origins: NDArray[np.int64], h: int) -> NDArray[np.int64]:
    """[n, H]: how many gaps the path from each origin to each step really crosses (origins + H index bars)."""
    steps = np.asarray(origins, dtype=np.int64)[:, None] + np.arange(1, h + 1)[None, :]
    return np.cumsum(gap[steps], axis=1)


def ahead(gap: NDArray[np.bool_], origins: NDArray[np.int64], context: int, h: int) -> NDArray[np.int64]:
    """[n, H]: the gaps each origin's path is expected to cross by each step, from what its window of `context`
    bars shows (the gaps between its bars): the session length L, the most common number of bars between its
    gaps, held by at least half of MIN_SESSIONS or more of them, and the origin's place p, bars since the last
    gap; a gap then falls before steps L - p, 2L - p, ... Rows of -1 where the window shows no regular sessions,
    or the origin sits past a usual session's end."""
    at = np.flatnonzero(gap)
    out = np.full((len(origins), h), -1, dtype=np.int64)
    steps = np.arange(1, h + 1)
    for row, o in enumerate(np.asarray(origins, dtype=np.int64)):
        seen = at[np.searchsorted(at, o - context + 2) : np.searchsorted(at, o, side="right")]
        lengths = np.diff(seen)
        if lengths.size < MIN_SESSIONS:
            continue
        counts = np.bincount(lengths)
        usual = int(np.argmax(counts))
        place = int(o - seen[-1])
        if 2 * counts[usual] >= lengths.size and place < usual:
            out[row] = (place + steps) // usual
    return out


def window_ahead(times: Any, origins: NDArray[np.int64], context: int, h: int) -> NDArray[np.int64]:
    """`ahead` for each origin as the gateway sees it: from the bar times of its own window of `context` bars
    alone, their usual spacing included (`gap_before` of the window, not of the whole series, whose median
    spacing may take in bars after the origin, or a stretch of another spacing far from it)."""
    index = pd.DatetimeIndex(times)
    out = np.empty((len(origins), h), dtype=np.int64)
    for row, o in enumerate(np.asarray(origins, dtype=np.int64)):
        gap = gap_before(index[max(0, int(o) - context + 1) : int(o) + 1])
        out[row] = ahead(gap, np.array([gap.size - 1]), gap.size, h)[0]
    return out


def first_gaps(times: Any, gap: NDArray[np.bool_], origins: NDArray[np.int64], h: int) -> NDArray[np.int64]:
    """[n, H]: the time (ns) of the bar after the first gap the path from each origin crosses by each step, -1
    where it crosses none: which night (or weekend) a path's move shares with every other path across it."""
    stamps = pd.DatetimeIndex(times).as_unit("ns").asi8
    steps = np.asarray(origins, dtype=np.int64)[:, None] + np.arange(1, h + 1)[None, :]
    crossed = np.logical_or.accumulate(gap[steps], axis=1)
    first = steps[np.arange(len(steps)), np.argmax(gap[steps], axis=1)]  # where none: ignored below
    return np.where(crossed, stamps[first][:, None], -1)


def model_factors(rho: float, anchor: NDArray[np.float64], at: NDArray[np.int64]) -> NDArray[np.float64]:
    """[H + 1, H, K]: the factors for j gaps crossed by step h from the anchor's, anchor[h] [K] for at[h] gaps by
    step h: anchor[h] sqrt(v[j, h] / v[at[h], h]), v[j, h] = h - j + j rho a path's variance in bars' variances (a
    gap adds rho bars'). Where j > h (no path crosses more gaps than it has steps), 1."""
    if anchor.ndim != 2:
        raise ValueError(f"the anchor's factors are [H, K], got shape {anchor.shape}")
    h = anchor.shape[0]
    j = np.arange(h + 1)[:, None]
    steps = np.arange(1, h + 1)[None, :]
    v = np.where(j <= steps, steps - j + j * rho, 1.0)
    base = (steps - at + at * rho)[0]
    scale = np.sqrt(v / base)[..., None]
    return np.asarray(np.where((j <= steps)[..., None], anchor * scale, 1.0), dtype=np.float64)


def _pinball(target: NDArray[np.float64], quantiles: NDArray[np.float64], levels: NDArray[np.float64]) -> float:
    miss = target[..., None] - quantiles
    return float(np.maximum(levels * miss, (levels - 1) * miss).mean())


def _least_loss(
    target: NDArray[np.float64], z: NDArray[np.float64], median: int, levels: NDArray[np.float64], at: list[int]
) -> float:
    """The factor f on the distances from the median of the quantiles at positions `at` (z [n, K] and targets [n]
    of one cell) that minimises their pinball loss, z_m + f (z_k - z_m), exactly: one quantile's loss is |d| rho(r
    - f) with d = z_k - z_m and r = (target - z_m) / d, at its level where d > 0 and at one less its level where d
    < 0, so the sum is least at the weighted quantile of r (weights |d|) at sum(|d| level) / sum(|d|). 1 where
    every d is 0."""
    d = (z[:, at] - z[:, median : median + 1]).reshape(-1)
    r = np.repeat(target - z[:, median], len(at)) / np.where(d == 0, 1.0, d)
    tau = np.where(d > 0, np.tile(levels[at], len(z)), 1 - np.tile(levels[at], len(z)))
    w = np.abs(d)
    if not w.sum() > 0:
        return 1.0
    order = np.argsort(r)
    share = np.cumsum(w[order]) / w.sum()
    at_share = float((w * tau).sum() / w.sum())
    if at_share > 0.5:
        # the side coverage rests on: the conformal rank, (n + 1) / n of the plain quantile's, n the windows'
        # effective count under their weights (the pairs' over the levels fitted together), as the graph's pooled
        # offsets are ranked. The plain quantile, fitted on the very windows the pooled offsets were, covered up to
        # 0.6 points below nominal on data with no gap effect at all (a review: 79.7 % of 80, 90.0 % of 90, random
        # walks of business days)
        n = float(w.sum() ** 2 / (w**2).sum()) / len(at)
        at_share = min(at_share * (n + 1) / n, 1.0)
    return float(np.clip(r[order][min(int(np.searchsorted(share, at_share)), len(r) - 1)], *FACTOR_RANGE))


def cell_factors(
    target: NDArray[np.float64],
    z: NDArray[np.float64],
    median: int,
    levels: NDArray[np.float64],
    shape: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """[K]: the factors on the quantiles' distances from the median in one cell (z [n, K] and targets [n]) that
    minimise the pinball loss (`_least_loss`): each level's own, or with a `shape` [K] one factor g on it, g shape.

    Per level: the graph's quantiles are pooled over every kind of path, a mixture of scales whose shape is not any
    one cell's, so one factor for every level kept the mixture's shape in each cell (US 15m bars simulated as
    `harness/gap_intervals.py` makes them, six symbols over a year, a night's move 9 bars': 50 % intervals covered
    37 % of the paths across a night). On a few dozen nights a factor per level is noise (a review's simulation,
    every window across a night sharing its move: out-of-sample pinball loss across nights 1.2 % worse on 25 nights
    than one factor), so a cell of less evidence than MIN_LEVELS takes the shape of its step's commonest cell
    (paths of every kind are sums of the same bars' moves, of other scales) and fits one factor on it."""
    others = [k for k in range(z.shape[-1]) if k != median]
    if shape is None:
        out = np.ones(z.shape[-1])
        out[others] = [_least_loss(target, z, median, levels, [k]) for k in others]
        return out
    centre = z[:, median : median + 1]
    return shape * _least_loss(target, centre + shape * (z - centre), median, levels, others)


def fit_gaps(
    target: NDArray[np.float64],
    z: NDArray[np.float64],
    median: int,
    levels: NDArray[np.float64],
    crossed: NDArray[np.int64],
    events: NDArray[np.int64],
) -> tuple[float, NDArray[np.float64], NDArray[np.int64]] | None:
    """(rho, factors [H + 1, H, K], windows [H + 1, H]) from the served quantiles z [n, H, K] (z_m + f (z_k - z_m),
    in any one unit per window and step) and targets [n, H] of the windows whose gaps ahead are known (`ahead`:
    rows of `crossed` without -1) and whose targets are finite; windows: how many crossed j gaps by step h.

    At each step the cell of the most windows (within a session, on intraday bars) is the anchor: it gets the
    factors that minimise its own pinball loss at each level (`cell_factors`). Every other cell (j gaps by step h)
    gets its own too where its windows cross MIN_CELL different gaps or more (`events` [n, H], `first_gaps`: the
    paths across one night share its move, and symbols share their nights, so windows are not independent
    evidence); else the model's, the anchor's times sqrt(v[j, h] / v[anchor]) (`model_factors`), rho chosen on
    RHO_GRID for the least pinball loss over every window and step. Own factors keep what the window's volatility
    misses at each place in a session (it is lowest at a session's end, just before a night's move). None with
    fewer than MIN_CROSSING windows crossing a gap (nothing to fit a gap's variance on)."""
    h = target.shape[1]
    rows = (crossed >= 0).all(axis=1) & np.isfinite(target).all(axis=1) & np.isfinite(z).all(axis=(1, 2))
    target, z, crossed, events = target[rows], z[rows], crossed[rows], events[rows]
    counts = np.stack([(crossed == j).sum(axis=0) for j in range(h + 1)])  # [H + 1, H]
    if int((crossed[:, -1] > 0).sum()) < MIN_CROSSING:
        return None
    at = np.argmax(counts, axis=0)  # [H] the anchor's gaps crossed per step

    def evidence(j: int, step: int) -> int:  # windows within a session; different gaps crossed
        cell = crossed[:, step] == j
        return len(np.unique(events[cell, step])) if j > 0 else int(cell.sum())

    def own(j: int, step: int, shape: NDArray[np.float64] | None) -> NDArray[np.float64]:
        cell = crossed[:, step] == j
        thin = evidence(j, step) < MIN_LEVELS
        return cell_factors(target[cell, step], z[cell, step], median, levels, shape if thin else None)

    flat = np.ones(z.shape[-1])
    anchor = np.stack([own(int(at[step]), step, flat) for step in range(h)])  # [H, K]
    centre = z[..., median : median + 1]
    steps = np.broadcast_to(np.arange(h), crossed.shape)

    def loss(rho: float) -> float:
        f = model_factors(rho, anchor, at)[crossed, steps]
        return _pinball(target, centre + f * (z - centre), levels)

    rho = float(RHO_GRID[int(np.argmin([loss(r) for r in RHO_GRID]))])
    factors = model_factors(rho, anchor, at)
    for j, step in zip(*np.nonzero(counts > 0), strict=True):
        if j != at[step] and evidence(int(j), int(step)) >= MIN_CELL:
            factors[j, step] = own(int(j), int(step), anchor[step] / anchor[step].mean())
    return rho, factors, counts


def widen(
    last: NDArray[np.floating[Any]] | float,
    median: NDArray[np.floating[Any]],
    quantiles: NDArray[np.floating[Any]],
    factors: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Quantile closes [..., H, K] with their log distances from the median closes [..., H] times factors
    [..., H, K] (or [..., H, 1]: one for every level), each kept on its side of the last close [...] (at it, if it
    was there): the graph held them to P(up), a quantile above the last close for P(up)
    (investiq/core/patchtst.py), and widening around the median must not carry one across. Sorted along the levels
    (factors per level could cross two neighbours; sorting keeps each on its side), unless one is NaN."""
    m = np.asarray(median, dtype=np.float64)[..., None]
    q = np.asarray(quantiles, dtype=np.float64)
    wide = m * np.exp(np.log(q / m) * np.asarray(factors, dtype=np.float64))
    at = np.asarray(last, dtype=np.float64)[..., None, None]
    on_it = np.where(q == at, at, wide)  # a NaN stays NaN, for WindowForecast.problem to refuse
    kept = np.where(q > at, np.maximum(wide, at), np.where(q < at, np.minimum(wide, at), on_it))
    return np.asarray(np.where(np.isnan(kept).any(axis=-1, keepdims=True), kept, np.sort(kept, axis=-1)))


@dataclass(frozen=True)
class GapIntervals:
    """What calibration recorded of the gaps (artifact.json, calibration["gaps"]): a gap's variance in bars'
    variances and the factors per gaps crossed, step and level (`fit_gaps`)."""

    rho: float
    factors: NDArray[np.float64]  # [H + 1, H, K], or [H + 1, H, 1] from an artifact of one factor for every level

    def __post_init__(self) -> None:
        if self.factors.ndim == 2:  # recorded before factors per level
            object.__setattr__(self, "factors", self.factors[..., None])
        if self.factors.ndim != 3 or self.factors.shape[0] != self.factors.shape[1] + 1:
            raise ValueError(f"gap factors are [H + 1, H, K], got shape {self.factors.shape}")

    @classmethod
    def from_calibration(cls, calibration: dict[str, Any]) -> GapIntervals | None:
        """The record in an artifact's calibration, or None (no sessions in the training bars, older artifacts)."""
        record = calibration.get("gaps")
        if not record or not record.get("factors"):
            return None
        factors = np.asarray(record["factors"], dtype=np.float64)
        if factors.ndim not in (2, 3) or factors.shape[0] != factors.shape[1] + 1:
            return None
        return cls(float(record["rho"]), factors)

    def record(self, windows: NDArray[np.int64]) -> dict[str, Any]:
        """The JSON form, with how many validation windows crossed j gaps by step h."""
        return {"rho": self.rho, "factors": np.round(self.factors, 4).tolist(), "windows": windows.tolist()}

    def for_crossed(self, crossed: NDArray[np.int64]) -> NDArray[np.float64]:
        """[n, H, K]: the factors for paths expected to cross `crossed` [n, H] gaps (1 in rows of -1: unknown)."""
        known = crossed >= 0
        steps = np.broadcast_to(np.arange(self.factors.shape[1]), crossed.shape)
        return np.where(known[..., None], self.factors[np.where(known, crossed, 0), steps], 1.0)

    def for_window(self, times: Any) -> NDArray[np.float64] | None:
        """[H, K]: the factors for a forecast from the last of a window's bar times, or None where the window shows
        no regular sessions (`ahead`)."""
        size = len(times)
        crossed = window_ahead(times, np.array([size - 1]), size, self.factors.shape[1])
        if crossed[0, 0] < 0:
            return None
        factors: NDArray[np.float64] = self.for_crossed(crossed)[0]
        return factors


def as_served(
    calibration: dict[str, Any],
    times: Any,
    origins: NDArray[np.int64],
    context: int,
    last: NDArray[np.floating[Any]],
    median: NDArray[np.floating[Any]],
    quantiles: NDArray[np.floating[Any]],
) -> NDArray[np.float64]:
    """The graph's quantiles [n, H, K] from windows of `context` bars ending at `origins` (their last closes [n])
    of a series with these bar times, as the gateway serves them: with the factors an artifact's calibration
    recorded, where it did."""
    gaps = GapIntervals.from_calibration(calibration)
    if gaps is None:
        return np.asarray(quantiles, dtype=np.float64)
    crossed = window_ahead(times, origins, context, gaps.factors.shape[1])
    return widen(last, median, quantiles, gaps.for_crossed(crossed))
