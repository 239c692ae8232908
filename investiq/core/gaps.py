"""Gaps in the bars (nights, weekends, holidays) and the intervals of forecast paths that cross them. Pure maths.

The graph's intervals widen with the steps (sigma sqrt(h), conformal offsets per step pooled over every
origin), not with the hours a path spans: on intraday bars a path across a night spans far more risk than one
within a session, so the pooled intervals were too narrow across nights and too wide within sessions (hourly
stock bars, 80 % intervals: 92 % covered from a session's first bar, 55 % from its last). What fixes it is known
from the bar times alone:

- `gap_before`: a gap precedes a bar spaced more than GAP times the median spacing from the one before;
- `since_gap`: where an origin sits, the bars since the last gap (0: the first bar of a session);
- `crossings`: how many gaps the path from an origin to each step crosses;
- `ahead_table`: what training saw: for each place in a session, the gaps its paths crossed (the most common
  pattern). A forecast from a window whose bar times are known looks its place up there (`GapIntervals.crossed`);
- `fit_factors`: per number of gaps crossed and step, the factor on the served quantiles' distances from the
  median that minimises their pinball loss on the validation windows (an exact weighted quantile); cells with
  fewer than MIN_CELL windows keep 1, the pooled intervals;
- `widen`: the quantiles with those factors applied, the median unchanged.

A market without gaps (crypto), or a window without bar times (closes sent with a request), is served the pooled
intervals as before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

GAP = 1.5  # bars further apart than this many times their median spacing: a night, a weekend, a holiday
MIN_SEEN = 5  # training origins a place in a session needs before its pattern of gaps is trusted
MIN_CELL = 20  # validation windows a factor (gaps crossed, step) is fitted on; fewer keep 1 (at 20, Normal
# targets: the factor within 17 % (one sd) of the truth; a night's first step on the default 15m bars of three
# symbols has about 27)
FACTOR_RANGE = (0.1, 10.0)  # a fitted factor is kept within this range


def gap_before(times: Any) -> NDArray[np.bool_]:
    """[bars]: whether a gap (GAP) precedes each bar; the first bar has none."""
    stamps = pd.DatetimeIndex(times).as_unit("ns").asi8
    if stamps.size < 3:
        return np.zeros(stamps.size, dtype=bool)
    spacing = np.diff(stamps)
    return np.concatenate([[False], spacing > GAP * np.median(spacing)])


def crossings(gap: NDArray[np.bool_], origins: NDArray[np.int64], h: int) -> NDArray[np.int64]:
    """[n, H]: how many gaps the path from each origin to each step crosses (origins + H must index bars)."""
    steps = np.asarray(origins, dtype=np.int64)[:, None] + np.arange(1, h + 1)[None, :]
    return np.cumsum(gap[steps], axis=1)


def since_gap(gap: NDArray[np.bool_], origins: NDArray[np.int64], context: int) -> NDArray[np.int64]:
    """[n]: bars from the last gap at or before each origin to it (0: the origin opens a session); -1 where no gap
    lies within the `context` bars up to it, as a window of that many bars would show."""
    last = np.maximum.accumulate(np.where(gap, np.arange(gap.size), -1))  # [bars] the latest gap up to each bar
    o = np.asarray(origins, dtype=np.int64)
    place = o - last[o]
    return np.where((last[o] >= 0) & (place <= context - 2), place, -1)


def ahead_table(places: NDArray[np.int64], crossed: NDArray[np.int64]) -> dict[int, tuple[int, ...]]:
    """The most common pattern of gaps crossed ([H]) per place in a session (`since_gap`), among places seen at
    least MIN_SEEN times; {} for bars without gaps."""
    seen: dict[int, Counter[tuple[int, ...]]] = {}
    for place, row in zip(places.tolist(), crossed.tolist(), strict=True):
        if place >= 0:
            seen.setdefault(place, Counter())[tuple(row)] += 1
    return {
        place: counts.most_common(1)[0][0] for place, counts in sorted(seen.items()) if counts.total() >= MIN_SEEN
    }


def lookup(table: dict[int, tuple[int, ...]], places: NDArray[np.int64], h: int) -> NDArray[np.int64]:
    """[n, H]: the gaps each origin's path is expected to cross (`ahead_table`), -1 in rows of unknown places."""
    unknown = (-1,) * h
    return np.array([table.get(int(p), unknown) for p in places], dtype=np.int64).reshape(len(places), h)


def fit_factors(
    target: NDArray[np.float64],
    z: NDArray[np.float64],
    median: int,
    levels: NDArray[np.float64],
    crossed: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(factors [J, H], windows [J, H]) for J = the most gaps crossed + 1: per number of gaps crossed and step, the
    factor f on the quantiles' distances from the median (z [n, H, K], targets [n, H], in any one unit per window
    and step) that minimises the pinball loss of z_m + f (z_k - z_m). Rows of `crossed` [n, H] at -1 are left out.

    The loss of one quantile is |d| rho(r - f) with d = z_k - z_m and r = (target - z_m) / d, at its level where
    d > 0 and at one less its level where d < 0; the sum over quantiles is least at the weighted quantile of r
    (weights |d|) at sum(|d| level) / sum(|d|). Cells of fewer than MIN_CELL windows keep 1."""
    j_max = int(crossed.max(initial=-1))
    factors = np.ones((j_max + 1, target.shape[1]))
    counts = np.zeros((j_max + 1, target.shape[1]), dtype=np.int64)
    others = np.arange(z.shape[-1]) != median
    d = z[..., others] - z[..., median : median + 1]  # [n, H, K - 1]
    r = (target[..., None] - z[..., median : median + 1]) / np.where(d == 0, 1.0, d)
    tau = np.where(d > 0, levels[others], 1 - levels[others])
    weight = np.abs(d)
    for j in range(j_max + 1):
        for step in range(target.shape[1]):
            rows = crossed[:, step] == j
            counts[j, step] = int(rows.sum())
            if counts[j, step] < MIN_CELL:
                continue
            w, x = weight[rows, step].reshape(-1), r[rows, step].reshape(-1)
            if not w.sum() > 0:
                continue
            order = np.argsort(x)
            share = np.cumsum(w[order]) / w.sum()
            at = float((w * tau[rows, step].reshape(-1)).sum() / w.sum())
            factors[j, step] = float(np.clip(x[order][np.searchsorted(share, at)], *FACTOR_RANGE))
    return factors, counts


def widen(
    median: NDArray[np.floating[Any]], quantiles: NDArray[np.floating[Any]], factors: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Quantile closes [..., H, K] with their log distances from the median closes [..., H] times factors
    [..., H]."""
    m = np.asarray(median, dtype=np.float64)[..., None]
    q = np.asarray(quantiles, dtype=np.float64)
    return np.asarray(m * np.exp(np.log(q / m) * np.asarray(factors, dtype=np.float64)[..., None]))


@dataclass(frozen=True)
class GapIntervals:
    """What calibration recorded of the gaps (artifact.json, calibration["gaps"]): training's patterns of gaps
    ahead (`ahead_table`) and the fitted factors per gaps crossed and step (`fit_factors`)."""

    ahead: dict[int, tuple[int, ...]]
    factors: NDArray[np.float64]  # [J, H]

    @classmethod
    def from_calibration(cls, calibration: dict[str, Any]) -> GapIntervals | None:
        """The record in an artifact's calibration, or None (no gaps in the training bars, an older artifact)."""
        record = calibration.get("gaps")
        if not record or not record.get("ahead"):
            return None
        ahead = {int(k): tuple(int(j) for j in v) for k, v in record["ahead"].items()}
        return cls(ahead, np.asarray(record["factors"], dtype=np.float64))

    def record(self, windows: NDArray[np.int64]) -> dict[str, Any]:
        """The JSON form, with the validation windows each factor was fitted on."""
        return {
            "ahead": {str(k): list(v) for k, v in self.ahead.items()},
            "factors": np.round(self.factors, 4).tolist(),
            "windows": windows.tolist(),
        }

    def for_places(self, places: NDArray[np.int64]) -> NDArray[np.float64]:
        """[n, H]: the factors for origins at these places in their sessions (1 where the place, or the number of
        gaps ahead, is unknown)."""
        crossed = lookup(self.ahead, places, self.factors.shape[1])
        known = (crossed >= 0) & (crossed < len(self.factors))
        steps = np.broadcast_to(np.arange(self.factors.shape[1]), crossed.shape)
        return np.where(known, self.factors[np.where(known, crossed, 0), steps], 1.0)

    def for_window(self, times: Any) -> NDArray[np.float64] | None:
        """[H]: the factors for a forecast from the last of these bar times (a window's), or None where the window
        shows no gap or its place was not seen in training."""
        gap = gap_before(times)
        place = since_gap(gap, np.array([gap.size - 1]), gap.size)
        if place[0] < 0 or int(place[0]) not in self.ahead:
            return None
        factors: NDArray[np.float64] = self.for_places(place)[0]
        return factors


def as_served(
    calibration: dict[str, Any],
    times: Any,
    origins: NDArray[np.int64],
    context: int,
    median: NDArray[np.floating[Any]],
    quantiles: NDArray[np.floating[Any]],
) -> NDArray[np.float64]:
    """The graph's quantiles [n, H, K] from windows of `context` bars ending at `origins` of a series with these
    bar times, as the gateway serves them: with the factors an artifact's calibration recorded, where it did."""
    gaps = GapIntervals.from_calibration(calibration)
    if gaps is None:
        return np.asarray(quantiles, dtype=np.float64)
    return widen(median, quantiles, gaps.for_places(since_gap(gap_before(times), origins, context)))
