"""Stock splits left in a window of closes: the one thing a forecast cannot tell from a crash.

A caller that sends its own closes (`/price/predict` with `prices`) may send them as traded, not adjusted for a
split: a 2-for-1 split then reads as a fall of 50% in one bar, and the forecast, its intervals and its volatility
are made from that move. The gateway serves the forecast as asked and names the suspicious bar in the response's
`warnings`; it never changes the closes it was sent.

A bar is suspect when its one-bar move is all three of:
- large: at least a 3-for-2 split's (a factor of 1.4 either way);
- extreme for this series: over `EXTREME` robust standard deviations (1.4826 x the median absolute deviation) of
  the window's other one-bar log returns, so a volatile series' ordinary moves are not taken for splits;
- near a split ratio (`RATIOS`, forward or reverse): within a twentieth in log terms, or three of those
  standard deviations if the series moves more than that in a bar.
An index (a Yahoo symbol starting with "^": the VIX, the S&P 500) never splits and is not warned about (the
caller's part: gateway/services/price.py); the VIX's real 17.31 -> 37.32 read as a 1-for-2 reverse split.
A real fall of exactly half in one bar matches too: the warning says the move looks like a split, not that it
is one. A move that is large and extreme, near no ratio and beyond x50 either way (`UNITS`: x75, x200, /500) is
warned about as what it more likely is, closes in two units or a bad print; until 2026-12-06 such a window, and a
x100 one (cents for dollars: the ratios stopped at 50), was served without a word, its 1-day 90 % interval -46 % to
+172 % (a quant's audit).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Forward split ratios (new shares per old share) seen in practice; reverse splits are their inverses. The
# training data's report (investiq/core/bars.py) reads the same ones.
RATIOS = (1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 15, 20, 25, 30, 40, 50, 100)
# A split moves the unadjusted price by its ratio times the day's own move: a 2:1 split on a +6 % day is x0.53.
# A move within this factor of a ratio is near it (log 1.08 = 0.077: a 2-for-1 split's bar may fall by 46-54 %).
# Until 2026-12-05 the gateway allowed 0.05 and the training data's report 1.08: 2:1 splits on +-6 % days were
# missed here in 200 of 200 (a review).
SPLIT_MOVE = 1.08
SMALLEST = math.log(1.4)  # a one-bar move below this factor is never taken for a split
EXTREME = 10.0  # robust standard deviations of the other one-bar moves
TOLERANCE = math.log(SPLIT_MOVE)
MIN_RETURNS = 20  # fewer one-bar moves give no scale to judge by
# A large, extreme one-bar move beyond this factor either way that is near no ratio is warned about as closes in
# two units or a bad print (a real share's close moves x50 in one bar about never; a warning changes no forecast)
UNITS = math.log(50)
MAX_WARNINGS = 5  # bars named one by one; the rest are counted (128 closes each x2.968 the last got 127 of ~240 B)

_LOG_RATIOS = np.log(np.array(RATIOS))


def never_splits(symbol: str) -> bool:
    """An index (Yahoo's "^" symbols) has no shares to split: its closes stand as they are, and the VIX's spikes
    read as reverse splits."""
    return symbol.startswith("^")


def _ratio_name(factor: float) -> str:
    """ "2-for-1", "3-for-2", "1-for-10 reverse" for a price divided by `factor` (< 1: a reverse split)."""
    if factor < 1:
        return f"1-for-{_number(1 / factor)} reverse"
    if factor == 1.5:
        return "3-for-2"
    if factor == 2.5:
        return "5-for-2"
    return f"{_number(factor)}-for-1"


def _number(x: float) -> str:
    return f"{x:g}"


def suspected_splits(closes: NDArray[np.floating[Any]], offset: int = 0) -> list[str]:
    """One warning per bar of `closes` (finite, > 0, oldest first) whose move from the bar before looks like a
    split (module docstring). `offset`: the index of closes[0] in the caller's own list, so that the warning
    names the close the caller sent."""
    values = np.asarray(closes, dtype=np.float64).reshape(-1)
    returns = np.diff(np.log(values))
    if returns.size < MIN_RETURNS:
        return []
    warnings = []
    for t in np.flatnonzero(np.abs(returns) >= SMALLEST):
        others = np.delete(returns, t)
        scale = 1.4826 * float(np.median(np.abs(others - np.median(others))))
        move = float(returns[t])
        if abs(move) <= EXTREME * scale:
            continue
        # a forward split divides the price by the ratio: the bar falls by log(ratio)
        distance = np.abs(-move - np.concatenate([_LOG_RATIOS, -_LOG_RATIOS]))
        nearest = int(np.argmin(distance))
        near = distance[nearest] <= max(TOLERANCE, 3 * scale)
        if not near and abs(move) <= UNITS:
            continue
        i = offset + int(t) + 1
        usual = (
            f"{abs(move) / scale:.0f} times this series' usual one-bar move"
            if scale
            else "where no other bar moves"
        )
        ratio = f"prices[{i}] / prices[{i - 1}] = {math.exp(move):.4g}"
        said = f"{ratio}: a move of {math.expm1(move):+.1%} in one bar, {usual}"
        if not near:
            warnings.append(
                f"{said}, beyond any split's; the forecast takes it for a real move: if the closes before "
                f"prices[{i}] are in another unit or one is a bad print, send them corrected"
            )
            continue
        factor = float(RATIOS[nearest % len(RATIOS)] ** (1 if nearest < len(RATIOS) else -1))
        warnings.append(
            f"{said}, near a {_ratio_name(factor)} split; the forecast takes it for a real move: if it is a "
            f"split, send closes adjusted for it (every close before prices[{i}] times {1 / factor:g})"
        )
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"and {more} more one-bar moves like these after the first five"]
    return warnings
